"""Lightning callbacks that measure a run (reported in ``metrics.json`` and by ``segkit-compare``).

- :class:`TrainSpeed`: training images per second (median over steps, data loading included).
- :class:`CheckerboardProbe`: the checkerboard share of the logits on fixed val images, at
  initialisation and after fitting (:mod:`segkit.measure.checkerboard`).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import lightning as L
import numpy as np
import torch

from segkit.data.sampling import sample_indices


class TrainSpeed(L.Callback):
    """Training throughput: batch size over the median time between consecutive training steps.

    Intervals span data loading, forward, backward and the optimizer step; the first step of each
    epoch (worker start-up, the validation before it) is left out.

    Args:
        synchronize: wait for the GPU at each step end, so an interval is the step's own work
            (for benchmarks; it removes CPU/GPU overlap, so leave it off in training).
    """

    def __init__(self, synchronize: bool = False) -> None:
        self.synchronize = synchronize
        self.intervals: list[float] = []
        self.batch_size = 0
        self._last: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = None

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.synchronize and pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        now = time.perf_counter()
        if self._last is not None:
            self.intervals.append(now - self._last)
        self._last = now
        self.batch_size = int(batch[0].shape[0])

    @property
    def images_per_s(self) -> float | None:
        if not self.intervals:
            return None
        return self.batch_size / statistics.median(self.intervals)


class CheckerboardProbe(L.Callback):
    """The checkerboard share of the network's logits on fixed val images, before and after fitting.

    Logits of ``num_images`` val images spread over the set (the same in every run) are measured
    with :func:`segkit.measure.checkerboard.checkerboard_share` when fitting starts (the initialisation) and
    when it ends. Kept as ``init`` / ``final``, logged as ``checkerboard/init`` and
    ``checkerboard/final``; saved in checkpoints, so a resumed run keeps its initial value.

    Args:
        num_images: val images measured.
    """

    def __init__(self, num_images: int = 8) -> None:
        self.num_images = num_images
        self.init: float | None = None
        self.final: float | None = None

    @torch.no_grad()
    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> float | None:
        from segkit.measure.checkerboard import checkerboard_share

        datamodule = trainer.datamodule
        dataset = getattr(datamodule, "val_set", None)
        if dataset is None or len(dataset) == 0:
            return None
        was_training = pl_module.training
        pl_module.eval()
        power_share = []
        for index in sample_indices(len(dataset), self.num_images):
            image, _ = dataset[index]
            logits = pl_module(image[None].to(pl_module.device))  # (1, C, H, W)
            power_share.append(checkerboard_share(logits))
        pl_module.train(was_training)
        return float(np.mean(power_share))

    def _log(self, trainer: L.Trainer, name: str, value: float | None) -> None:
        if value is not None:
            for logger in trainer.loggers:
                logger.log_metrics({f"checkerboard/{name}": value}, step=trainer.global_step)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.init is None:  # not when resuming: the checkpoint holds it
            trainer.datamodule.setup("validate")
            self.init = self.measure(trainer, pl_module)
            self._log(trainer, "init", self.init)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.final = self.measure(trainer, pl_module)
        self._log(trainer, "final", self.final)

    def state_dict(self) -> dict[str, Any]:
        return {"init": self.init}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.init = state_dict.get("init")
