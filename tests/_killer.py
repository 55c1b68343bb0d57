"""A callback for the resume tests: the training process kills itself with a real signal at a step.

Loaded by the ``segkit-train`` subprocesses of ``test_resume.py`` (``PYTHONPATH=tests``) with
``+callbacks.killer._target_=_killer.KillAtStep +callbacks.killer.step=K``.
"""

from __future__ import annotations

import os
import signal

import lightning as L


class KillAtStep(L.Callback):
    """Send ``signal`` (default SIGKILL) to this process when optimisation step ``step`` starts."""

    def __init__(self, step: int, signal_name: str = "SIGKILL") -> None:
        self.step, self.signal = step, getattr(signal, signal_name)
        self.sent = False

    def on_train_batch_start(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.step and not self.sent:
            self.sent = True  # SIGTERM returns here; Lightning stops at the next batch boundary
            os.kill(os.getpid(), self.signal)
