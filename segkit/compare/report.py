"""The comparison report: ``summary.csv``, ``report.md`` and its figures, from a set of runs.

Scores are each run's final validation (``metrics.json`` ``final``, the last epoch), not the best
epoch, so choosing the epoch on the val set does not flatter any upsampler.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segkit import figures
from segkit.compare.runs import CompareError, Run
from segkit.compare.stats import Interval, mean_std, paired_bootstrap
from segkit.io import COST_KEYS, atomic_write_text

# summary.csv: mean and std over seeds of these final val scores
SCORES = {"mIoU": "mIoU", "boundary_mIoU": "boundary mIoU", "pixel_acc": "pixel accuracy"}
FIGURES = {
    "bars": "bars.png",
    "difference": "difference.png",
    "heatmap": "class_iou.png",
    "curves": "curves.png",
    "qualitative": "qualitative.png",
}


@dataclass
class Row:
    """One upsampler's line of the summary."""

    upsampler: str
    runs: list[Run]
    interval: Interval | None = None

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
        return row


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


def _share(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


def _fmt(mean: float, std: float, digits: int = 3) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _markdown(rows: list[Row], baseline: str, source: str, figure_files: dict[str, str]) -> str:
    head = (
        "| upsampler | runs | mIoU | boundary mIoU | pixel acc. | Δ mIoU vs "
        f"{baseline} [95% CI] | params (M) | GFLOPs/img | train img/s | checkerboard init → "
        "final |"
    )
    lines = [
        "# Upsampler comparison",
        "",
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
) -> Path:
    """Write ``summary.csv``, the PNG figures and ``report.md`` into ``out_dir``.

    Args:
        runs: finished runs (:func:`segkit.compare.runs.find_runs` or ``wandb_runs``).
        baseline: upsampler the differences are taken against (default: ``nearest`` if present,
            else the first).
        replicates: bootstrap replicates.
        source: where the runs came from, for the report's header.
        order: preferred upsampler order (the registry's).

    Returns:
        The path of ``report.md``.

    Raises:
        CompareError: an unknown baseline, or ambiguous runs.
    """
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
    return atomic_write_text(out_dir / "report.md", _markdown(rows, baseline, source, made))
