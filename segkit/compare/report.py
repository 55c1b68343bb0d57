"""The comparison report: ``summary.csv``, ``report.md`` and its figures, from a set of runs.

Scores are each run's final validation (``metrics.json`` ``final``, the last epoch), not the best
epoch, so choosing the epoch on the val set does not flatter any upsampler. Each run is checked for
convergence (its val mIoU flat over the last steps) and stalls (far below its sibling seeds); each
upsampler's difference to the baseline gets a paired t-test over seeds, its minimal detectable
difference and the seeds a chosen difference would need (:mod:`segkit.compare.stats`).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segkit.compare import figures
from segkit.compare.runs import CompareError, Run
from segkit.compare.stats import (
    Convergence,
    Interval,
    SeedTest,
    Stall,
    convergence,
    mean_std,
    min_detectable_difference,
    paired_bootstrap,
    paired_seed_test,
    pooled_sd,
    seeds_needed,
    stalls,
)
from segkit.io import atomic_write_text
from segkit.training.record import COST_KEYS

# summary.csv: mean and std over seeds of these final val scores
SCORES = {"mIoU": "mIoU", "boundary_mIoU": "boundary mIoU", "pixel_acc": "pixel accuracy"}
# ... and for these a paired t-test over seeds against the baseline, its power and seeds needed
TESTED = ("mIoU", "boundary_mIoU")
STATUSES = ("converged", "climbing", "falling", "unknown")
FIGURES = {
    "bars": "bars.png",
    "difference": "difference.png",
    "heatmap": "class_iou.png",
    "curves": "curves.png",
    "qualitative": "qualitative.png",
}


@dataclass
class Settings:
    """The statistics' parameters (``segkit-compare`` options of the same names).

    Attributes:
        alpha: level of the paired t-test over seeds (two-sided).
        power: probability of detecting the minimal detectable difference.
        target_diff: the mIoU difference whose seeds-needed is reported.
        window: fraction of a run's steps at its end examined for convergence.
        flat_tol: largest |drift| of val mIoU over that window counted as converged.
        stall_gap: a run more than this below the median of its sibling seeds is stalled.
        stall_floor: a run whose final mIoU is below this is stalled (None: no floor).
    """

    alpha: float = 0.05
    power: float = 0.8
    target_diff: float = 0.01
    window: float = 0.2
    flat_tol: float = 0.01
    stall_gap: float = 0.05
    stall_floor: float | None = None

    def check(self) -> None:
        """Raises CompareError for values outside their range."""
        bad = []
        if not 0 < self.alpha < 1:
            bad.append(f"alpha {self.alpha} (needs 0 < alpha < 1)")
        if not 0 < self.power < 1:
            bad.append(f"--power {self.power} (needs 0 < power < 1)")
        if not self.target_diff > 0:
            bad.append(f"--target-diff {self.target_diff} (needs > 0)")
        if not 0 < self.window <= 1:
            bad.append(f"--window {self.window} (needs 0 < window <= 1)")
        if not self.flat_tol >= 0:
            bad.append(f"--flat-tol {self.flat_tol} (needs >= 0)")
        if not self.stall_gap >= 0:
            bad.append(f"--stall-gap {self.stall_gap} (needs >= 0)")
        if bad:
            raise CompareError("bad statistics settings: " + "; ".join(bad))


@dataclass
class RunStatus:
    """A run's convergence and stall checks."""

    run: Run
    convergence: Convergence
    stall: Stall


@dataclass
class Row:
    """One upsampler's line of the summary."""

    upsampler: str
    runs: list[Run]
    interval: Interval | None = None
    statuses: list[RunStatus] = field(default_factory=list)
    tests: dict[str, SeedTest] = field(default_factory=dict)  # per TESTED key, not the baseline's
    needed: dict[str, float] = field(default_factory=dict)  # seeds needed per TESTED key
    verdict: str = "inconclusive"

    def count(self, status: str) -> int:
        if status == "stalled":
            return sum(s.stall.stalled for s in self.statuses)
        return sum(s.convergence.status == status for s in self.statuses)

    def values(self, key: str) -> list[float]:
        return [r.score(key) for r in self.runs]

    def cost(self, key: str) -> float:
        values = [r.metrics.get(key) for r in self.runs if r.metrics.get(key) is not None]
        return mean_std(values)[0] if values else math.nan

    def as_csv(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "upsampler": self.upsampler,
            "runs": len(self.runs),
            "seeds": " ".join(str(r.seed) for r in self.runs),
        }
        for key in SCORES:
            row[f"{key}_mean"], row[f"{key}_std"] = mean_std(self.values(key))
        for key in COST_KEYS:
            row[key] = self.cost(key)
        iv = self.interval
        row["delta_mIoU"] = iv.estimate if iv else math.nan
        row["delta_mIoU_low"] = iv.low if iv else math.nan
        row["delta_mIoU_high"] = iv.high if iv else math.nan
        for status in (*STATUSES, "stalled"):
            row[f"runs_{status}"] = self.count(status)
        row["stalled_runs"] = " ".join(s.run.name for s in self.statuses if s.stall.stalled)
        first = self.tests.get(TESTED[0])
        row["seed_pairs"] = first.n if first else len(self.runs)
        for key in TESTED:
            t = self.tests.get(key)
            row[f"{key}_seed_diff"] = t.mean if t else math.nan
            row[f"{key}_seed_diff_sd"] = t.sd if t else math.nan
            row[f"{key}_t_low"] = t.low if t else math.nan
            row[f"{key}_t_high"] = t.high if t else math.nan
            row[f"{key}_p"] = t.p if t else math.nan
            row[f"{key}_mdd"] = t.mdd if t else math.nan
            row[f"{key}_seeds_needed"] = _needed_csv(self.needed.get(key, math.nan))
        row["verdict"] = self.verdict
        return row


def _needed_csv(n: float) -> int | str | float:
    if math.isnan(n):
        return math.nan
    return int(n) if math.isfinite(n) else ">1000"


def group_runs(runs: Sequence[Run], order: Sequence[str] = ()) -> dict[str, list[Run]]:
    """Runs by upsampler (registry order first, then by name), each list sorted by seed.

    Raises:
        CompareError: two runs share an upsampler and a seed (ambiguous pairing).
    """
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.upsampler].append(run)
    for name, members in groups.items():
        seeds = [r.seed for r in members]
        if len(set(seeds)) != len(seeds):
            dup = sorted({s for s in seeds if seeds.count(s) > 1})
            where = ", ".join(r.name for r in members if r.seed in dup)
            raise CompareError(
                f"upsampler {name} has several runs with seed {dup}: {where}; compare one sweep at a time"
            )
        members.sort(key=lambda r: r.seed)
    rank = {name: i for i, name in enumerate(order)}
    return {k: groups[k] for k in sorted(groups, key=lambda k: (rank.get(k, len(rank)), k))}


def bootstrap_rows(rows: list[Row], baseline: str, replicates: int, seed: int = 0) -> None:
    """Fill each row's paired-bootstrap interval against ``baseline`` (seeds both sides have).

    Raises:
        CompareError: runs whose per-image confusions differ in shape from the baseline's (other
            val images or classes, e.g. a run with ``trainer.limit_val_batches``).
    """
    cache: dict[str, np.ndarray | None] = {}

    def confusions(run: Run) -> np.ndarray | None:
        if run.name not in cache:
            records = run.load_records()
            cache[run.name] = None if records is None else records.get("confusions")
        return cache[run.name]

    base = {r.seed: r for r in next(row for row in rows if row.upsampler == baseline).runs}
    for row in rows:
        cand, ref = [], []
        for run in row.runs:
            if run.seed not in base:
                continue
            c, b = confusions(run), confusions(base[run.seed])
            if c is None or b is None:
                continue
            if c.shape != b.shape:
                raise CompareError(
                    f"{run.name} and {base[run.seed].name} were validated on different images or "
                    f"classes (per-image confusions {c.shape} vs {b.shape}); compare like with like"
                )
            cand.append(c)
            ref.append(b)
        if cand:
            row.interval = paired_bootstrap(cand, ref, replicates=replicates, seed=seed)


def check_runs(rows: list[Row], settings: Settings) -> None:
    """Fill each row's per-run convergence (val mIoU by step) and stall (final mIoU) checks."""
    for row in rows:
        found = stalls(row.values("mIoU"), settings.stall_gap, settings.stall_floor)
        row.statuses = [
            RunStatus(
                run,
                convergence(
                    run.val_steps.get("step", []),
                    run.val_steps.get("val/mIoU", []),
                    run.total_steps,
                    settings.window,
                    settings.flat_tol,
                ),
                stall,
            )
            for run, stall in zip(row.runs, found, strict=True)
        ]


def seed_test_rows(rows: list[Row], baseline: str, settings: Settings) -> None:
    """Fill each row's paired t-tests over seeds against ``baseline``, seeds needed and verdict.

    Call after :func:`bootstrap_rows`: the verdict needs both the t interval and the bootstrap one.
    """
    base = {r.seed: r for r in next(row for row in rows if row.upsampler == baseline).runs}
    for row in rows:
        if row.upsampler == baseline:
            row.verdict = "baseline"
            continue
        pairs = [(run, base[run.seed]) for run in row.runs if run.seed in base]
        for key in TESTED:
            test = paired_seed_test(
                [c.score(key) for c, _ in pairs],
                [b.score(key) for _, b in pairs],
                settings.alpha,
                settings.power,
            )
            row.tests[key] = test
            row.needed[key] = seeds_needed(
                test.sd, settings.target_diff, settings.alpha, settings.power
            )
        t, iv = row.tests["mIoU"], row.interval
        row.verdict = "inconclusive"
        if iv is not None and math.isfinite(t.low):
            if t.low > 0 and iv.low > 0:
                row.verdict = "better"
            elif t.high < 0 and iv.high < 0:
                row.verdict = "worse"


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
    for key, title in (("mIoU", "mIoU"), ("boundary_mIoU", "Boundary mIoU")):
        sd, dof = pooled_sd([(r.tests[key].n, r.tests[key].sd) for r in tested if key in r.tests])
        n = max((r.tests[key].n for r in tested if key in r.tests), default=0)
        if dof == 0:
            summary.append(f"{title}: not estimable (fewer than 2 seed pairs)")
            continue
        mdd = min_detectable_difference(sd, n, settings.alpha, settings.power)
        needed = seeds_needed(sd, target, settings.alpha, settings.power)
        summary.append(
            f"{title}: pooled sd of the per-seed differences {sd:.4f} ({dof} degrees of freedom, "
            f"{len(tested)} upsamplers), minimal detectable difference at {n} seeds {mdd:.4f}, "
            f"seeds needed to detect {target:g}: {_needed(needed)}"
        )
    if tested:
        lines += [
            f"Pooled over the upsamplers compared with {baseline} (paired t-test over seeds, "
            f"alpha {alpha}, {power} power): " + "; ".join(summary) + ".",
            "",
        ]
    worst = {}
    for key in TESTED:
        stds = [(mean_std(r.values(key))[1], r.upsampler) for r in rows]
        stds = [(v, name) for v, name in stds if math.isfinite(v)]
        worst[key] = max(stds) if stds else (math.nan, "n/a")
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
        c = row.as_csv()
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


def _markdown(
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
        c = row.as_csv()
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


def _write_csv(rows: list[Row], path: Path) -> Path:
    records = [row.as_csv() for row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in record.items()})
    return atomic_write_text(path, buffer.getvalue())


def _qualitative(rows: list[Row], path: Path) -> Path | None:
    """Grid of the first-seed run of each upsampler, on the image ids they all recorded."""
    records = {}
    for row in rows:
        for run in row.runs:
            rec = run.load_records()
            if rec is not None and len(rec.get("sample_ids", [])):
                records[row.upsampler] = rec
                break
    if not records:
        return None
    ids = {name: [str(i) for i in rec["sample_ids"]] for name, rec in records.items()}
    names = list(records)
    common = [i for i in ids[names[0]] if all(i in ids[name] for name in names)]
    if not common:
        return None

    def cells(name: str, key: str) -> list[np.ndarray]:
        return [records[name][f"{key}_{ids[name].index(i)}"] for i in common]

    images, truths = cells(names[0], "image"), cells(names[0], "mask")
    predictions = {name: cells(name, "pred") for name in names}
    return figures.qualitative_grid(images, truths, predictions, path, captions=common)


def write_report(
    runs: Sequence[Run],
    out_dir: str | Path,
    baseline: str | None = None,
    replicates: int = 2000,
    source: str = "",
    order: Sequence[str] = (),
    settings: Settings | None = None,
) -> Path:
    """Write ``summary.csv``, the PNG figures and ``report.md`` into ``out_dir``.

    Args:
        runs: finished runs (:func:`segkit.compare.runs.find_runs` or ``wandb_runs``).
        baseline: upsampler the differences are taken against (default: ``nearest`` if present,
            else the first).
        replicates: bootstrap replicates.
        source: where the runs came from, for the report's header.
        order: preferred upsampler order (the registry's).
        settings: the convergence, stall and power parameters (default :class:`Settings`).

    Returns:
        The path of ``report.md``.

    Raises:
        CompareError: an unknown baseline, ambiguous runs, or settings out of range.
    """
    settings = settings or Settings()
    settings.check()
    out_dir = Path(out_dir)
    groups = group_runs(runs, order)
    if baseline is None:
        baseline = "nearest" if "nearest" in groups else next(iter(groups))
    if baseline not in groups:
        raise CompareError(
            f"--baseline {baseline} has no runs here; upsamplers found: {', '.join(groups)}"
        )
    rows = [Row(name, members) for name, members in groups.items()]
    bootstrap_rows(rows, baseline, replicates)
    check_runs(rows, settings)
    seed_test_rows(rows, baseline, settings)
    _write_csv(rows, out_dir / "summary.csv")

    names = [row.upsampler for row in rows]
    made: dict[str, str] = {}
    panels = {title: [row.values(key) for row in rows] for key, title in SCORES.items()}
    made["bars"] = figures.bar_chart(names, panels, out_dir / FIGURES["bars"]).name
    intervals = [row for row in rows if row.interval is not None and row.upsampler != baseline]
    if intervals:
        made["difference"] = figures.difference_plot(
            [r.upsampler for r in intervals],
            [(r.interval.estimate, r.interval.low, r.interval.high) for r in intervals],
            baseline,
            out_dir / FIGURES["difference"],
        ).name
    classes = [
        k[len("val/IoU/") :] for k in rows[0].runs[0].metrics["final"] if k.startswith("val/IoU/")
    ]
    if classes:
        iou = np.array(
            [[np.nanmean(row.values(f"IoU/{c}")) for row in rows] for c in classes], dtype=float
        )
        made["heatmap"] = figures.class_heatmap(
            classes, names, iou, out_dir / FIGURES["heatmap"], "Per-class IoU"
        ).name
    curves = {row.upsampler: [r.curves for r in row.runs if r.curves] for row in rows}
    if any(curves.values()):
        keys = {"train/loss_epoch": "training loss", "val/mIoU": "val mIoU"}
        made["curves"] = figures.training_curves(curves, keys, out_dir / FIGURES["curves"]).name
    grid = _qualitative(rows, out_dir / FIGURES["qualitative"])
    if grid is not None:
        made["qualitative"] = grid.name
    return atomic_write_text(
        out_dir / "report.md", _markdown(rows, baseline, source, made, settings)
    )
