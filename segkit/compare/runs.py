"""Finding finished runs and reading what each left: ``metrics.json``, curves, ``val_records.npz``.

Two sources give the same :class:`Run` records: a folder of local runs (a Hydra multirun directory,
or any tree holding ``metrics.json`` files), and a W&B project read through the public API.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segkit.compare.records import RECORDS_FILE, read_records
from segkit.errors import CompareError
from segkit.training.record import COST_KEYS, RunRecord


@dataclass
class Run:
    """One finished training run.

    Attributes:
        name: where it came from (run folder or W&B run path).
        metrics: its :class:`RunRecord` as a dict, the keys of ``metrics.json`` (``final`` holds
            the last validation).
        curves: per-epoch series, ``{"epoch": [...], "train/loss_epoch": [...], "val/mIoU": [...]}``.
        records: path of its ``val_records.npz`` (per-image confusions, sample predictions).
        val_steps: every validation by training step, ``{"step": [...], "val/mIoU": [...],
            "val/boundary_mIoU": [...]}`` (several per epoch with ``trainer.val_check_interval``).
        last_step: the last training step in its log (None: no log).
    """

    name: str
    metrics: dict[str, Any]
    curves: dict[str, list[float]] = field(default_factory=dict)
    records: Path | None = None
    val_steps: dict[str, list[float]] = field(default_factory=dict)
    last_step: float | None = None

    @property
    def upsampler(self) -> str:
        return str(self.metrics["upsampler"])

    @property
    def seed(self) -> int:
        return int(self.metrics["seed"])

    def score(self, key: str) -> float:
        """A final val score (``mIoU``, ``boundary_mIoU``, ``IoU/<class>``...); NaN if absent."""
        value = self.metrics.get("final", {}).get(f"val/{key}")
        return float("nan") if value is None else float(value)

    @property
    def total_steps(self) -> float | None:
        """The run's length in training steps: ``metrics.json`` ``steps`` or the last logged step,
        whichever is larger (Lightning logs a validation at the step before the next one)."""
        known = [float(v) for v in (self.metrics.get("steps"), self.last_step) if v is not None]
        return max(known) if known else None

    def load_records(self) -> dict[str, np.ndarray] | None:
        """The arrays of its ``val_records.npz`` (:mod:`segkit.compare.records`); None if absent."""
        return read_records(self.records)


CURVE_KEYS = ("train/loss_epoch", "val/mIoU", "val/boundary_mIoU")
VAL_KEYS = ("val/mIoU", "val/boundary_mIoU")
# the training step of a logged row: Lightning's CSVLogger column; W&B rows from Lightning's
# WandbLogger carry trainer/global_step
STEP_KEYS = ("step", "trainer/global_step")


def read_log(csv_path: Path) -> list[dict[str, str | None]]:
    """The rows of a Lightning CSV log (empty cells as None)."""
    with csv_path.open(newline="") as f:
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(f)]


def read_curves(csv_path: Path) -> dict[str, list[float]]:
    """Per-epoch series from a Lightning CSV log (the last value logged in each epoch)."""
    return curves_from_rows(read_log(csv_path))


def _step(row: dict[str, Any], keys: Iterable[str]) -> float | None:
    for key in keys:
        if row.get(key) is not None:
            return float(row[key])
    return None


def val_steps_from_rows(
    rows: Iterable[dict[str, Any]], step_keys: Iterable[str] = STEP_KEYS
) -> tuple[dict[str, list[float]], float | None]:
    """Validations by training step and the last step of any row.

    Returns:
        ``({"step": [...], key: [...]}`` for :data:`VAL_KEYS`, sorted by step, one entry per step
        (the last row wins, as after a resumed run), the largest step of any row or None).
    """
    step_keys = tuple(step_keys)
    by_step: dict[float, dict[str, float]] = {}
    last = None
    for row in rows:
        step = _step(row, step_keys)
        if step is None:
            continue
        last = step if last is None else max(last, step)
        for key in VAL_KEYS:
            if row.get(key) is not None:
                by_step.setdefault(step, {})[key] = float(row[key])
    steps = sorted(by_step)
    series: dict[str, list[float]] = {"step": steps}
    for key in VAL_KEYS:
        series[key] = [by_step[s].get(key, math.nan) for s in steps]
    return series, last


def curves_from_rows(rows: Iterable[dict[str, Any]]) -> dict[str, list[float]]:
    """``{"epoch": [...], key: [...]}`` for :data:`CURVE_KEYS` from logged rows (None = not logged)."""
    by_epoch: dict[int, dict[str, float]] = {}
    for row in rows:
        if row.get("epoch") is None:
            continue
        for key in CURVE_KEYS:
            if row.get(key) is not None:
                by_epoch.setdefault(int(float(row["epoch"])), {})[key] = float(row[key])
    epochs = sorted(by_epoch)
    curves: dict[str, list[float]] = {"epoch": [float(e) for e in epochs]}
    for key in CURVE_KEYS:
        curves[key] = [by_epoch[e].get(key, math.nan) for e in epochs]
    return curves


def find_runs(root: str | Path) -> list[Run]:
    """Every run under ``root`` (each folder holding ``metrics.json``), sorted by path.

    Raises:
        CompareError: ``root`` is missing or holds no finished run.
    """
    root = Path(root)
    if not root.is_dir():
        raise CompareError(
            f"{root} is not a folder; pass a multirun folder such as logs/<task>/multiruns/<time>"
        )
    runs = []
    for path in sorted(root.rglob(RunRecord.FILE)):
        record = RunRecord.read(path)
        folder = path.parent
        csvs = sorted(folder.glob("csv/**/metrics.csv"), key=lambda p: p.stat().st_mtime)
        records = folder / RECORDS_FILE
        rows = read_log(csvs[-1]) if csvs else []
        val_steps, last_step = val_steps_from_rows(rows, ("step",))
        runs.append(
            Run(
                name=str(folder.relative_to(root)) if folder != root else folder.name,
                metrics=record.to_dict(),
                curves=curves_from_rows(rows) if csvs else {},
                records=records if records.is_file() else None,
                val_steps=val_steps if rows else {},
                last_step=last_step,
            )
        )
    if not runs:
        raise CompareError(
            f"no {RunRecord.FILE} under {root}; did the runs finish? (segkit-train writes one per run)"
        )
    return runs


def wandb_runs(path: str, group: str | None = None, download_to: Path | None = None) -> list[Run]:
    """Finished segkit runs of a W&B project ``entity/project`` through the public API (online).

    Its :class:`RunRecord` is rebuilt from each run's config and summary; the curves come from its history
    (validations by ``trainer/global_step``, which Lightning's WandbLogger logs in every row; W&B's
    own ``_step`` counts log calls, and is used, with the run's length on the same axis, only for
    runs without it) and ``val_records.npz`` is downloaded (into ``download_to``) when the run
    uploaded it.
    """
    try:
        import wandb
    except ImportError:
        raise CompareError("--wandb needs the wandb package: pip install wandb") from None
    api = wandb.Api()
    filters = {"state": "finished"} | ({"group": group} if group else {})
    runs = []
    for wrun in api.runs(path, filters=filters):
        config, summary = wrun.config, dict(wrun.summary)
        try:
            upsampler, seed = config["model"]["upsampler"]["name"], config["seed"]
        except (KeyError, TypeError):
            continue  # not a segkit-train run
        final = {k: v for k, v in summary.items() if k.startswith("val/")}
        record = RunRecord(
            upsampler=upsampler,
            seed=seed,
            encoder=config["model"]["encoder"]["name"],
            **{key: summary.get(key) for key in COST_KEYS},
            steps=summary.get("trainer/global_step"),
            final=final,
        )
        # scan_history returns only rows holding every requested key: one scan per key, with the
        # training step when the run logged it
        rows = []
        for key in CURVE_KEYS:
            scanned = list(wrun.scan_history(keys=["epoch", "trainer/global_step", key]))
            rows += scanned or list(wrun.scan_history(keys=["epoch", key]))
        curves = curves_from_rows(rows)
        if any(row.get("trainer/global_step") is not None for row in rows):
            val_steps, last_step = val_steps_from_rows(rows, ("trainer/global_step",))
        else:  # W&B's log-call counter: the run's length on that axis, not its training steps
            val_steps, last_step = val_steps_from_rows(rows, ("_step",))
            record.steps = None
        records = None
        if download_to is not None:
            try:
                target = download_to / wrun.id
                wrun.file(RECORDS_FILE).download(root=str(target), replace=True)
                records = target / RECORDS_FILE
            except Exception:  # the run did not upload its records: no image-paired bootstrap
                records = None
        runs.append(
            Run(
                name=f"{path}/{wrun.id}",
                metrics=record.to_dict(),
                curves=curves,
                records=records,
                val_steps=val_steps,
                last_step=last_step,
            )
        )
    if not runs:
        raise CompareError(
            f"no finished segkit runs in W&B project {path}" + (f" group {group}" if group else "")
        )
    return runs
