"""The run record: what ``segkit-train`` writes to a run's ``metrics.json``, and its reader.

:class:`RunRecord` is the one definition of the file's keys. ``segkit.training.run`` writes it
(rank zero, atomically); ``segkit.compare.runs``, ``segkit.evaluation``,
``segkit.worked_examples`` and ``scripts/figures.py`` read it through :meth:`RunRecord.read`,
which checks the keys every reader needs. Imports only the standard
library and segkit's error and file helpers, so comparing runs loads neither torch nor Lightning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from segkit.errors import CompareError
from segkit.io import write_json

# per-run numbers besides the val scores, in metrics.json and the W&B summary, that segkit-compare
# reports: cost, and the checkerboard share of the logits (segkit.measure.checkerboard)
COST_KEYS = ("params", "gflops", "train_images_per_s", "checkerboard_init", "checkerboard_final")


@dataclass(kw_only=True)
class RunRecord:
    """One finished training run, as ``metrics.json`` holds it (keys in this order).

    Only ``upsampler``, ``seed`` and ``final`` are required when reading (a record rebuilt from a
    W&B run has fewer keys); the others default to None.

    Attributes:
        task_name: the Hydra task name (``logs/<task_name>/...``).
        upsampler, encoder, fusion: the network's names.
        dataset: the data root, resolved.
        seed: the seed used (drawn when ``seed=null``).
        params, gflops, gflops_input, train_images_per_s, checkerboard_init, checkerboard_final:
            cost and diagnostics (:data:`COST_KEYS`); GFLOPs are of one ``gflops_input``-sized image.
        epochs, steps, wall_time_s: how long it trained.
        boundary: the Boundary IoU settings (band width and void rule).
        final, best: val scores of the last validation and of the best ``val/mIoU`` one.
        best_checkpoint: the best-score checkpoint's path (None without ``ModelCheckpoint``).
        output_dir: the run folder.
    """

    FILE: ClassVar[str] = "metrics.json"
    REQUIRED: ClassVar[tuple[str, ...]] = ("upsampler", "seed", "final")

    task_name: str | None = None
    upsampler: str
    encoder: str | None = None
    fusion: str | None = None
    dataset: str | None = None
    seed: int
    params: int | None = None
    gflops: float | None = None
    gflops_input: list[int] | None = None
    train_images_per_s: float | None = None
    checkerboard_init: float | None = None
    checkerboard_final: float | None = None
    epochs: int | None = None
    steps: int | None = None
    wall_time_s: float | None = None
    boundary: dict[str, Any] | None = None
    final: dict[str, Any]
    best: dict[str, Any] | None = None
    best_checkpoint: str | None = None
    output_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as ``metrics.json`` holds it (the values themselves, not copies)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def write(self, folder: str | Path) -> Path:
        """Write ``<folder>/metrics.json`` atomically, as strict JSON; returns its path."""
        return write_json(Path(folder) / self.FILE, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """The record of ``data``'s known keys (others are ignored); needs :attr:`REQUIRED`."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def read(cls, path: str | Path) -> RunRecord:
        """Read a ``metrics.json``.

        Raises:
            CompareError: unreadable or invalid JSON, or a file without the required keys.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise CompareError(
                f"{path} is not readable JSON ({err}); delete it or re-run that job"
            ) from None
        if not isinstance(data, dict) or not set(cls.REQUIRED) <= data.keys():
            raise CompareError(
                f"{path} is not a segkit-train metrics.json (no upsampler/seed/final)"
            )
        return cls.from_dict(data)
