"""Finding finished runs and reading what each left: ``metrics.json``, curves, ``val_records.npz``.

Two sources give the same :class:`Run` records: a folder of local runs (a Hydra multirun directory,
or any tree holding ``metrics.json`` files), and a W&B project read through the public API.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segkit.errors import CompareError
from segkit.io import COST_KEYS, RECORDS_FILE

METRICS_FILE = "metrics.json"


@dataclass
class Run:
    """One finished training run.

    Attributes:
        name: where it came from (run folder or W&B run path).
        metrics: the contents of its ``metrics.json`` (``final`` holds the last validation).
        curves: per-epoch series, ``{"epoch": [...], "train/loss_epoch": [...], "val/mIoU": [...]}``.
        records: path of its ``val_records.npz`` (per-image confusions, sample predictions).
    """

    name: str
    metrics: dict[str, Any]
    curves: dict[str, list[float]] = field(default_factory=dict)
    records: Path | None = None

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

    def load_records(self) -> dict[str, np.ndarray] | None:
        if self.records is None or not self.records.is_file():
            return None
        with np.load(self.records) as z:
            return {k: z[k] for k in z.files}


CURVE_KEYS = ("train/loss_epoch", "val/mIoU", "val/boundary_mIoU")


def read_curves(csv_path: Path) -> dict[str, list[float]]:
    """Per-epoch series from a Lightning CSV log (the last value logged in each epoch)."""
    with csv_path.open(newline="") as f:
        rows = [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(f)]
    return curves_from_rows(rows)


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
    for path in sorted(root.rglob(METRICS_FILE)):
        try:
            metrics = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CompareError(
                f"{path} is not readable JSON ({err}); delete it or re-run that job"
            ) from None
        if not {"upsampler", "seed", "final"} <= metrics.keys():
            raise CompareError(
                f"{path} is not a segkit-train metrics.json (no upsampler/seed/final)"
            )
        folder = path.parent
        csvs = sorted(folder.glob("csv/**/metrics.csv"), key=lambda p: p.stat().st_mtime)
        records = folder / RECORDS_FILE
        runs.append(
            Run(
                name=str(folder.relative_to(root)) if folder != root else folder.name,
                metrics=metrics,
                curves=read_curves(csvs[-1]) if csvs else {},
                records=records if records.is_file() else None,
            )
        )
    if not runs:
        raise CompareError(
            f"no {METRICS_FILE} under {root}; did the runs finish? (segkit-train writes one per run)"
        )
    return runs


def wandb_runs(path: str, group: str | None = None, download_to: Path | None = None) -> list[Run]:
    """Finished segkit runs of a W&B project ``entity/project`` through the public API (online).

    ``metrics.json`` is rebuilt from each run's config and summary; the curves come from its history
    and ``val_records.npz`` is downloaded (into ``download_to``) when the run uploaded it.
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
        metrics = {
            "upsampler": upsampler,
            "seed": seed,
            "encoder": config["model"]["encoder"]["name"],
            **{key: summary.get(key) for key in COST_KEYS},
            "final": final,
        }
        # scan_history returns only rows holding every requested key: one scan per key
        rows = [row for key in CURVE_KEYS for row in wrun.scan_history(keys=["epoch", key])]
        curves = curves_from_rows(rows)
        records = None
        if download_to is not None:
            try:
                target = download_to / wrun.id
                wrun.file(RECORDS_FILE).download(root=str(target), replace=True)
                records = target / RECORDS_FILE
            except Exception:  # the run did not upload its records: no image-paired bootstrap
                records = None
        runs.append(Run(name=f"{path}/{wrun.id}", metrics=metrics, curves=curves, records=records))
    if not runs:
        raise CompareError(
            f"no finished segkit runs in W&B project {path}" + (f" group {group}" if group else "")
        )
    return runs
