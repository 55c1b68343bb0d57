"""Continuing an interrupted run: which checkpoint, and the logs that go on from it.

The training state itself travels in the checkpoint (weights, optimizer, LR schedule, loop
progress, RNG states in :meth:`SegTask.on_save_checkpoint`, the epoch and batch reached in
:meth:`SegDataModule.state_dict`); this module finds the checkpoint and trims the CSV log back to
it, so that the resumed run's log reads as if it had never stopped.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from segkit.errors import ResumeError
from segkit.training.checkpoint import CheckpointError


def last_checkpoint(output_dir: str | Path) -> Path:
    """Where a run keeps its latest state: written at every validation and on SIGTERM."""
    return Path(output_dir) / "checkpoints" / "last.ckpt"


def resolve_resume(output_dir: str | Path, resume: str | None, ckpt_path: str | None) -> str | None:
    """The checkpoint to resume from: ``ckpt_path`` (a file, or ``last``) or ``resume=auto``.

    ``last`` and ``auto`` mean ``<output_dir>/checkpoints/last.ckpt``; ``auto`` starts the run
    afresh when there is none yet, so one command serves a first start and every requeue (with a
    fixed ``hydra.run.dir``).

    Raises:
        CheckpointError: ``ckpt_path=last`` with no such file.
        ResumeError: an unknown ``resume`` value, or both keys set.
    """
    if resume not in (None, "auto"):
        raise ResumeError(f"resume={resume}: use resume=auto, or ckpt_path=<file> or last")
    if resume and ckpt_path:
        raise ResumeError(f"resume=auto and ckpt_path={ckpt_path} both set; keep one of them")
    last = last_checkpoint(output_dir)
    if ckpt_path == "last":
        if not last.is_file():
            raise CheckpointError(
                f"ckpt_path=last: no {last}; point hydra.run.dir at the run to continue, "
                "or use resume=auto to start afresh when there is no checkpoint"
            )
        return str(last)
    if resume == "auto":
        return str(last) if last.is_file() else None
    return ckpt_path


def csv_rows_until(path: Path, step: int) -> list[dict[str, Any]]:
    """Rows of a Lightning ``metrics.csv`` logged before global step ``step`` (empty cells dropped).

    What an interrupted run logged after its checkpoint is left out: the resumed run logs it again.
    """
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = [{k: v for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]
    return [row for row in rows if int(row.get("step", 0)) < step]
