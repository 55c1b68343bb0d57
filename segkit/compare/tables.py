"""The report's tables: each upsampler's ``summary.csv`` record and the text of ``report.md``.

Scores are each run's final validation (``metrics.json`` ``final``, the last epoch), not the best
epoch, so choosing the epoch on the val set does not flatter any upsampler. The statistics come
from :mod:`segkit.compare.analysis`; this module only formats them.
"""

from __future__ import annotations

import math
from typing import Any

from segkit.compare.analysis import (
    SCORES,
    STATUSES,
    TESTED,
    Row,
    RunStatus,
    Settings,
    largest_seed_std,
    pooled_power,
)
from segkit.compare.stats import mean_std
from segkit.training.record import COST_KEYS


def summary_record(row: Row) -> dict[str, Any]:
    """The numbers of ``row`` as its line of ``summary.csv`` (column name to value)."""
    out: dict[str, Any] = {
        "upsampler": row.upsampler,
        "runs": len(row.runs),
        "seeds": " ".join(str(r.seed) for r in row.runs),
    }
    for key in SCORES:
        out[f"{key}_mean"], out[f"{key}_std"] = mean_std(row.values(key))
    for key in COST_KEYS:
        out[key] = row.cost(key)
    iv = row.interval
    out["delta_mIoU"] = iv.estimate if iv else math.nan
    out["delta_mIoU_low"] = iv.low if iv else math.nan
    out["delta_mIoU_high"] = iv.high if iv else math.nan
    for status in (*STATUSES, "stalled"):
        out[f"runs_{status}"] = row.count(status)
    out["stalled_runs"] = " ".join(s.run.name for s in row.statuses if s.stall.stalled)
    first = row.tests.get(TESTED[0])
    out["seed_pairs"] = first.n if first else len(row.runs)
    for key in TESTED:
        t = row.tests.get(key)
        out[f"{key}_seed_diff"] = t.mean if t else math.nan
        out[f"{key}_seed_diff_sd"] = t.sd if t else math.nan
        out[f"{key}_t_low"] = t.low if t else math.nan
        out[f"{key}_t_high"] = t.high if t else math.nan
        out[f"{key}_p"] = t.p if t else math.nan
        out[f"{key}_mdd"] = t.mdd if t else math.nan
        out[f"{key}_seeds_needed"] = _needed_csv(row.needed.get(key, math.nan))
    out["verdict"] = row.verdict
    return out


def _needed_csv(n: float) -> int | str | float:
    if math.isnan(n):
        return math.nan
    return int(n) if math.isfinite(n) else ">1000"


def _share(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _num(value: float, digits: int = 4, sign: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _needed(n: float) -> str:
    if math.isnan(n):
        return "n/a"
    return str(int(n)) if math.isfinite(n) else ">1000"


def _who(status: RunStatus) -> str:
    return f"`{status.run.name}` ({status.run.upsampler} seed {status.run.seed}"


def _alerts(rows: list[Row], settings: Settings) -> list[str]:
    """The loud lines at the top: runs that did not converge, stalled, or could not be checked."""
    statuses = [s for row in rows for s in row.statuses]
    total = len(statuses)
    window = f"{settings.window:.0%}"
    lines = []
    moving = [s for s in statuses if s.convergence.status in ("climbing", "falling")]
    if moving:
        lines.append(
            f"**⚠ {len(moving)} of {total} runs did not converge** (val mIoU moved more than "
            f"{settings.flat_tol:g} across the last {window} of their steps): "
            + ", ".join(
                f"{_who(s)}, {s.convergence.status}, drift {s.convergence.drift:+.4f})"
                for s in moving
            )
        )
    stalled = [s for s in statuses if s.stall.stalled]
    if stalled:
        lines.append(
            f"**⚠ {len(stalled)} of {total} runs stalled** (the means and stds below include "
            "them): "
            + ", ".join(
                f"{_who(s)}: mIoU {_num(s.run.score('mIoU'), 3)}, boundary mIoU "
                f"{_num(s.run.score('boundary_mIoU'), 3)}; {s.stall.reason})"
                for s in stalled
            )
        )
    unknown = [s for s in statuses if s.convergence.status == "unknown"]
    if unknown:
        reasons = sorted({s.convergence.reason for s in unknown})
        lines.append(
            f"**{len(unknown)} of {total} runs could not be checked for convergence**: "
            + "; ".join(reasons)
            + "."
        )
    return [line for pair in zip(lines, [""] * len(lines), strict=True) for line in pair]


def _power(rows: list[Row], baseline: str, settings: Settings) -> list[str]:
    """The power table and its paragraph."""
    tested = [row for row in rows if row.upsampler != baseline]
    power, alpha, target = f"{settings.power:.0%}", f"{settings.alpha:g}", settings.target_diff
    level = f"{1 - settings.alpha:.0%}"
    lines = ["## Power", ""]
    summary = []
    pooled = pooled_power(rows, baseline, settings)
    for key, title in (("mIoU", "mIoU"), ("boundary_mIoU", "Boundary mIoU")):
        p = pooled[key]
        if p is None:
            summary.append(f"{title}: not estimable (fewer than 2 seed pairs)")
            continue
        summary.append(
            f"{title}: pooled sd of the per-seed differences {p.sd:.4f} ({p.dof} degrees of "
            f"freedom, {len(tested)} upsamplers), minimal detectable difference at {p.n} seeds "
            f"{p.mdd:.4f}, seeds needed to detect {target:g}: {_needed(p.needed)}"
        )
    if tested:
        lines += [
            f"Pooled over the upsamplers compared with {baseline} (paired t-test over seeds, "
            f"alpha {alpha}, {power} power): " + "; ".join(summary) + ".",
            "",
        ]
    worst = largest_seed_std(rows)
    lines += [
        f"Largest seed std: mIoU {_num(worst['mIoU'][0])} ({worst['mIoU'][1]}), Boundary mIoU "
        f"{_num(worst['boundary_mIoU'][0])} ({worst['boundary_mIoU'][1]}).",
        "",
    ]
    head = (
        "| upsampler | seed std mIoU | seed std boundary | Δ mIoU over seeds "
        f"[{level} t CI] | p | MDD mIoU | MDD boundary | seeds for Δ {target:g} (mIoU / "
        "boundary) | runs converged / climbing / falling / unknown / stalled | verdict |"
    )
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        c = summary_record(row)
        counts = " / ".join(str(row.count(s)) for s in (*STATUSES, "stalled"))
        if row.upsampler == baseline:
            cells = ["baseline", "", "", "", ""]
        else:
            t, b = row.tests["mIoU"], row.tests["boundary_mIoU"]
            ci = (
                f"{t.mean:+.4f} [{t.low:+.4f}, {t.high:+.4f}]"
                if math.isfinite(t.low)
                else f"{_num(t.mean, sign=True)} ({t.reason})"
            )
            cells = [
                ci,
                _num(t.p),
                _num(t.mdd),
                _num(b.mdd),
                f"{_needed(row.needed['mIoU'])} / {_needed(row.needed['boundary_mIoU'])}",
            ]
        lines.append(
            f"| {row.upsampler} | {_num(c['mIoU_std'])} | {_num(c['boundary_mIoU_std'])} | "
            + " | ".join(cells)
            + f" | {counts} | {row.verdict} |"
        )
    lines += [
        "",
        f"MDD, the minimal detectable difference: the smallest true difference a paired t-test "
        f"over seeds at alpha {alpha} would detect with {power} power, "
        f"(t(1 - {alpha}/2, n - 1) + t({settings.power:g}, n - 1)) · sd(d) / √n, with d the "
        "per-seed differences to the baseline over the n seeds both have (the usual central-t "
        f"approximation). Seeds needed: the smallest n whose MDD is at most {target:g}, taking "
        "the observed sd(d) as the truth (itself a noisy estimate with few seeds). p: the paired "
        "t-test's two-sided p-value. Verdict: better / worse only when the t interval over seeds "
        "and the bootstrap interval both exclude 0 on the same side, else inconclusive, a valid "
        "result. Seed std: the standard deviation (ddof 1) of the final scores over seeds.",
        "",
        "Notes: the bootstrap resamples val images and seeds; with 3 seeds there are only 10 "
        "distinct seed resamples, so it underestimates the spread between seeds, which the t "
        "interval (n - 1 degrees of freedom) accounts for. Means and stds are over all runs, "
        "stalled ones included. A run converged when the least-squares line through its val mIoU "
        f"over the last {settings.window:.0%} of its training steps moves by at most "
        f"{settings.flat_tol:g} across them (at least 3 validations there); it stalled when its "
        f"final mIoU lies more than {settings.stall_gap:g} below the median of its upsampler's "
        "other seeds (at least 2)"
        + (f" or below {settings.stall_floor:g}." if settings.stall_floor is not None else "."),
    ]
    return lines


def _runs_table(rows: list[Row], settings: Settings) -> list[str]:
    head = (
        "| run | upsampler | seed | mIoU | boundary mIoU | val mIoU over the last "
        f"{settings.window:.0%} of steps | stalled |"
    )
    lines = ["## Runs", "", head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        for s in row.statuses:
            conv = s.convergence
            moved = (
                f"{conv.status} (drift {conv.drift:+.4f}, {conv.points} validations)"
                if conv.status != "unknown"
                else f"unknown ({conv.points} validations)"
            )
            if s.stall.stalled:
                stall = f"**stalled**: {s.stall.reason}"
            else:
                stall = "no" if not s.stall.reason else f"n/a ({s.stall.reason})"
            lines.append(
                f"| `{s.run.name}` | {row.upsampler} | {s.run.seed} | "
                f"{_num(s.run.score('mIoU'))} | {_num(s.run.score('boundary_mIoU'))} | {moved} | "
                f"{stall} |"
            )
    return lines


def report_markdown(
    rows: list[Row],
    baseline: str,
    source: str,
    figure_files: dict[str, str],
    settings: Settings | None = None,
) -> str:
    settings = settings or Settings()
    head = (
        "| upsampler | runs | mIoU | boundary mIoU | pixel acc. | Δ mIoU vs "
        f"{baseline} [95% CI] | params (M) | GFLOPs/img | train img/s | checkerboard init → "
        "final |"
    )
    lines = [
        "# Upsampler comparison",
        "",
        *_alerts(rows, settings),
        f"Source: `{source}`. Final-epoch validation scores, mean ± std over seeds. Δ mIoU: the "
        "mean per-seed difference to the baseline with a paired bootstrap 95% interval "
        "(val images and seeds resampled, pairs kept). With few seeds the seed resampling is "
        "coarse: wide intervals mean the seeds disagree. Checkerboard: the share of the logits' "
        "spectral energy at the stride-2 frequencies (1 for a pure checkerboard, about 0 for "
        "smooth maps) on 8 fixed val images, at initialisation and after training.",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for row in rows:
        c = summary_record(row)
        iv = row.interval
        if row.upsampler == baseline:
            delta = "baseline"
        elif iv is None:
            delta = "n/a (no val_records.npz)"
        else:
            delta = f"{iv.estimate:+.4f} [{iv.low:+.4f}, {iv.high:+.4f}]"
        params = c["params"] / 1e6 if math.isfinite(c["params"]) else math.nan
        lines.append(
            f"| {row.upsampler} | {c['runs']} | {_fmt(c['mIoU_mean'], c['mIoU_std'])} | "
            f"{_fmt(c['boundary_mIoU_mean'], c['boundary_mIoU_std'])} | "
            f"{_fmt(c['pixel_acc_mean'], c['pixel_acc_std'])} | {delta} | {params:.3f} | "
            f"{c['gflops']:.3f} | {c['train_images_per_s']:.1f} | "
            f"{_share(c['checkerboard_init'])} → {_share(c['checkerboard_final'])} |"
        )
    lines += ["", *_power(rows, baseline, settings), "", *_runs_table(rows, settings)]
    captions = {
        "bars": "Scores per upsampler",
        "difference": f"mIoU difference to {baseline}",
        "heatmap": "Per-class IoU (mean over seeds)",
        "curves": "Training curves (mean over seeds, band: min-max)",
        "qualitative": "The same val images through each upsampler (first seed)",
    }
    for key, file in figure_files.items():
        lines += ["", f"## {captions[key]}", "", f"![{captions[key]}]({file})"]
    return "\n".join(lines) + "\n"
