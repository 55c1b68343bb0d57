"""Continuing an interrupted run: which checkpoint, and the logs that go on from it.

The training state itself travels in the checkpoint (weights, optimizer, LR schedule, loop
progress, the RNG states and W&B id of :mod:`segkit.training.run_state`, the epoch and batch
reached in :meth:`SegDataModule.state_dict`); this module finds the checkpoint, reads it, and, when
the run goes on in its own folder, continues its logs: the same W&B run, and the CSV log trimmed
back to the checkpoint, so that the resumed run's log reads as if it had never stopped. A
checkpoint from elsewhere only starts the run from that state.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from segkit.errors import ResumeError
from segkit.training.checkpoint import CheckpointError, read_checkpoint
from segkit.training.run_state import WANDB_ID_KEY, last_checkpoint


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


@dataclass
class Resume:
    """Where a run starts: afresh (``ckpt_path`` None) or from a checkpoint.

    Attributes:
        ckpt_path: the checkpoint for ``Trainer.fit``, or None.
        checkpoint: its contents, read weights-only (empty when starting afresh).
        same_run: the checkpoint lies in the run's own folder: its logs continue too.
    """

    ckpt_path: str | None = None
    checkpoint: dict[str, Any] = field(default_factory=dict)
    same_run: bool = False

    @classmethod
    def from_config(cls, cfg: DictConfig) -> Resume:
        """From ``resume``, ``ckpt_path`` and ``paths.output_dir``, reading the checkpoint.

        Raises:
            CheckpointError, ResumeError: see :func:`resolve_resume` and ``read_checkpoint``.
        """
        output_dir = cfg.paths.output_dir
        ckpt_path = resolve_resume(output_dir, cfg.get("resume"), cfg.get("ckpt_path"))
        if not ckpt_path:
            return cls()
        # weights-only, one-line errors, before any training
        checkpoint = read_checkpoint(ckpt_path)
        same_run = Path(ckpt_path).resolve().is_relative_to(Path(output_dir).resolve())
        return cls(ckpt_path, checkpoint, same_run)

    def reuse_wandb_run(self, logger_cfg: DictConfig) -> None:
        """Point ``logger.wandb`` at the interrupted run's W&B run (same run only), not a new one."""
        wandb_id = self.checkpoint.get(WANDB_ID_KEY)
        if self.same_run and wandb_id and "wandb" in logger_cfg:
            with open_dict(logger_cfg):
                logger_cfg.wandb.id = wandb_id
                logger_cfg.wandb.resume = "allow"

    def continue_csv_logs(self, loggers: list[Any]) -> None:
        """Give each ``CSVLogger`` the rows logged before the checkpoint (same run, rank zero)."""
        from lightning.pytorch.loggers import CSVLogger
        from lightning.pytorch.utilities.rank_zero import rank_zero_only

        if not self.same_run or rank_zero_only.rank != 0:
            return
        for logger in loggers:
            if isinstance(logger, CSVLogger):
                path = Path(logger.log_dir) / "metrics.csv"
                kept = csv_rows_until(path, self.checkpoint["global_step"])
                logger.experiment.metrics[:0] = kept  # the file is rewritten with them on next save


def csv_rows_until(path: Path, step: int) -> list[dict[str, Any]]:
    """Rows of a Lightning ``metrics.csv`` logged before global step ``step`` (empty cells dropped).

    What an interrupted run logged after its checkpoint is left out: the resumed run logs it again.
    """
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = [{k: v for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]
    return [row for row in rows if int(row.get("step", 0)) < step]
