"""Callbacks that break a training run on purpose, for the resume and error tests.

Loaded by ``segkit-train`` subprocesses (``PYTHONPATH=tests``, ``_target_: _faults.KillAtStep``)
or in-process (``_target_: tests._faults.PoisonAtStep``), e.g.
``+callbacks.killer._target_=_faults.KillAtStep +callbacks.killer.step=K``.
"""

from __future__ import annotations

import os
import signal

import lightning as L
import torch


class KillAtStep(L.Callback):
    """Send ``signal_name`` (default SIGKILL) to this process when optimisation step ``step`` starts."""

    def __init__(self, step: int, signal_name: str = "SIGKILL") -> None:
        self.step, self.signal = step, getattr(signal, signal_name)
        self.sent = False

    def on_train_batch_start(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step and not self.sent:
            self.sent = True  # SIGTERM returns here; Lightning stops at the next batch boundary
            os.kill(os.getpid(), self.signal)


class PoisonAtStep(L.Callback):
    """Set one weight of the network to NaN when optimisation step ``step`` starts."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:  # fmt: skip
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.parameters()).view(-1)[0] = float("nan")
