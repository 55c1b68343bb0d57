"""The comparison report: ``summary.csv``, ``report.md`` and its figures, from a set of runs.

The statistics are :mod:`segkit.compare.analysis`'s, the tables' text :mod:`segkit.compare.tables`'s
and the figures :mod:`segkit.compare.figures`'s; this module writes the files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segkit.compare import figures
from segkit.compare.analysis import SCORES, Row, Settings, analyse
from segkit.compare.records import sample_array, sample_ids
from segkit.compare.runs import Run
from segkit.compare.tables import report_markdown, summary_record
from segkit.io import atomic_write_text

FIGURES = {
    "bars": "bars.png",
    "difference": "difference.png",
    "heatmap": "class_iou.png",
    "curves": "curves.png",
    "qualitative": "qualitative.png",
}


def _write_csv(rows: list[Row], path: Path) -> Path:
    records = [summary_record(row) for row in rows]
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
            if rec is not None and sample_ids(rec):
                records[row.upsampler] = rec
                break
    if not records:
        return None
    ids = {name: sample_ids(rec) for name, rec in records.items()}
    names = list(records)
    common = [i for i in ids[names[0]] if all(i in ids[name] for name in names)]
    if not common:
        return None

    def cells(name: str, key: str) -> list[np.ndarray]:
        return [sample_array(records[name], key, ids[name].index(i)) for i in common]

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
    out_dir = Path(out_dir)
    rows, baseline = analyse(runs, baseline, replicates, order, settings)
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
        out_dir / "report.md", report_markdown(rows, baseline, source, made, settings)
    )
