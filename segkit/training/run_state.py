"""How a run survives a kill: ``checkpoints/last.ckpt``, when it is written, and what it adds.

:class:`LastCheckpoint` writes the whole training state to ``<output_dir>/checkpoints/last.ckpt``
(:func:`last_checkpoint`, the one place that path is built) after every validation and training
epoch, so a SIGKILL loses at most that much, and on SIGTERM (SLURM's notice before preemption or a
time limit) at a batch boundary where resuming is exact. Besides Lightning's own state (weights,
optimizer, LR schedule, loop progress, callback states, the task's scores and the data module's
position: ``SegDataModule.state_dict``) it saves the run state Lightning does not keep: the Python,
NumPy and torch RNG states, restored on resume, and the W&B run id, reused by ``segkit.training.resume``.

:class:`RunState` adds that run state to every full checkpoint of the run. What reads it back:
``segkit.training.resume`` (which checkpoint, the logs that go on from it).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint

RNG_KEY, WANDB_ID_KEY = "segkit_rng", "segkit_wandb_id"  # checkpoint keys of the run state


def last_checkpoint(output_dir: str | Path) -> Path:
    """Where a run keeps its latest state: written at every validation and on SIGTERM."""
    return Path(output_dir) / "checkpoints" / "last.ckpt"


def rng_states() -> dict[str, Any]:
    """Python, NumPy and torch (CPU, and CUDA when in use) RNG states as weights-only-safe data."""
    numpy_state = np.random.get_state(legacy=False)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                  "pos": int(numpy_state["state"]["pos"]),
                  "has_gauss": int(numpy_state["has_gauss"]),
                  "gauss": float(numpy_state["gauss"])},
        "torch": torch.get_rng_state(),
    }  # fmt: skip
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_states` returned."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = states["numpy"]
    np.random.set_state(
        {"bit_generator": "MT19937",
         "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
         "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]}
    )  # fmt: skip
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class LastCheckpoint(Checkpoint):
    """Keep ``last.ckpt`` current: after every validation and epoch, and on SIGTERM.

    What ``resume=auto`` continues from. Lightning's ``ModelCheckpoint(save_last=True)`` rewrites
    its last checkpoint only when it saved a top-k one, i.e. when the monitored score improved, so
    a run killed after a plateau would go back to its last improvement. Being a ``Checkpoint``, this
    runs after ``ModelCheckpoint`` (Lightning moves checkpoint callbacks to the end), so the state it
    saves includes the best score just recorded.

    SIGTERM: Lightning turns the signal into a ``SIGTERMException`` at the next batch boundary; the
    whole training state is saved there. The stop is held back where resuming could not be exact:
    during validation (Lightning would stop mid-validation, and a resumed run skips that
    validation), until the epoch's end-of-epoch logging is done, and in the middle of a gradient
    accumulation (the accumulated gradients are not in checkpoints). Holding it back means clearing
    and re-setting Lightning's private ``trainer._signal_connector.received_sigterm``. Any other
    exception saves nothing: a run that failed (e.g. on a NaN loss) must not overwrite good
    checkpoints.

    Args:
        output_dir: the run folder (the checkpoint is :func:`last_checkpoint` of it).
    """

    def __init__(self, output_dir: str | Path) -> None:
        self.path = last_checkpoint(output_dir)
        self.saved: Path | None = None  # set when SIGTERM saved
        self.held = False  # a SIGTERM received and not yet let through
        self._saved_step = -1

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.sanity_checking or trainer.global_step == self._saved_step:
            return
        trainer.save_checkpoint(self.path, weights_only=False)
        self._saved_step = trainer.global_step

    def _hold(self, trainer: L.Trainer) -> None:
        connector = trainer._signal_connector
        if connector.received_sigterm:
            connector.received_sigterm = False
            self.held = True

    def _release(self, trainer: L.Trainer) -> None:
        if self.held:
            trainer._signal_connector.received_sigterm = True
            self.held = False

    def _fitting(self, trainer: L.Trainer) -> bool:
        return trainer.state.fn == "fit" and not trainer.sanity_checking

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._fitting(trainer):
            self._hold(trainer)

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if self._fitting(trainer):
            self._hold(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._fitting(trainer):
            self._save(trainer)
            self._hold(trainer)
            self._release(trainer)  # Lightning stops at its next check, after the epoch's end

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:  # fmt: skip
        accumulating = (batch_idx + 1) % trainer.accumulate_grad_batches != 0
        if accumulating and batch_idx + 1 < trainer.num_training_batches:
            self._hold(trainer)
        else:
            self._release(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)  # an epoch without validation (check_val_every_n_epoch > 1)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:  # fmt: skip
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path, weights_only=False)
            self.saved = self.path


class RunState(L.Callback):
    """The run state Lightning does not keep, in every full checkpoint of the run: the RNG states
    (restored when a fit resumes from it) and the W&B run id (reused by ``segkit.training.resume``).

    Added to every training run, with or without :class:`LastCheckpoint`, so a run started from
    ``ckpt_path=<file>`` continues its random streams even with checkpointing off.
    """

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:  # fmt: skip
        # a resumed run continues every random stream where this one stopped, and its W&B run
        checkpoint[RNG_KEY] = rng_states()
        from lightning.pytorch.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                checkpoint[WANDB_ID_KEY] = logger.version

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:  # fmt: skip
        if RNG_KEY in checkpoint:
            set_rng_states(checkpoint[RNG_KEY])
