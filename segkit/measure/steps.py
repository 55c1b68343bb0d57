"""Training steps to time for ``segkit-bench``: a task with a bare-step closure, and Lightning's
step against the bare loop on the same batches."""

from __future__ import annotations

import time
from typing import Any

from omegaconf import DictConfig, OmegaConf


class _FixedBatches:
    """A map-style dataset yielding the same batch ``length`` times (``batch_size=None`` loader)."""

    def __init__(self, batch: tuple[Any, Any], length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        return self.batch


def lightning_vs_bare(task, batch, device, steps: int, warmup: int, rounds: int) -> dict[str, Any]:
    """Median step time of ``Trainer.fit`` and of a bare loop on the same batches, interleaved."""
    import lightning as L
    from torch.utils.data import DataLoader

    from segkit.measure.callbacks import TrainSpeed
    from segkit.measure.harness import bare_step, median, sync

    n = steps + warmup
    loader = DataLoader(_FixedBatches(batch, n), batch_size=None)
    lightning, bare = [], []
    for round_ in range(rounds + 1):  # round 0 warms both paths up and is not counted
        # as the bare loop, each interval ends when the step's work is done (GPU synchronised)
        timer = TrainSpeed(synchronize=True)
        trainer = L.Trainer(
            accelerator=device.type, devices=1, max_steps=n, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            limit_val_batches=0, callbacks=[timer],
        )  # fmt: skip
        task.train()
        trainer.fit(task, train_dataloaders=loader)
        lightning.append(median(timer.intervals[max(warmup - 1, 0) :]))

        task.to(device).train()
        optimizer, scheduler = task.build_optimizer(10**6)
        times, last = [], None
        for images, masks in loader:
            bare_step(
                task, optimizer, scheduler, task.compute_loss, (images.to(device), masks.to(device))
            )
            sync(device)
            now = time.perf_counter()
            if last is not None:
                times.append(now - last)
            last = now
        bare.append(median(times[max(warmup - 1, 0) :]))
        if round_ == 0:
            lightning.pop()
            bare.pop()
    ratios = [a / b for a, b in zip(lightning, bare, strict=True)]
    return {"lightning_step_s": median(lightning), "bare_step_s": median(bare),
            "lightning_overhead_ratio": median(ratios), "ratios": ratios}  # fmt: skip


def bench_task(cfg: DictConfig, datamodule, batch, device, model: dict[str, Any] | None = None,
                precision: str | None = None, **options: Any):  # fmt: skip
    """The task of ``cfg`` (or ``model``) on ``device`` and a closure running one bare training
    step on ``batch`` (under autocast for a mixed ``precision``)."""
    import torch

    from segkit.measure.harness import bare_step
    from segkit.training.task import SegTask

    task = SegTask(
        num_classes=datamodule.num_classes, class_names=list(datamodule.class_names),
        model=model or OmegaConf.to_container(cfg.model, resolve=True),
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        loss=OmegaConf.to_container(cfg.loss, resolve=True), **options,
    ).to(device)  # fmt: skip
    images, masks = batch[0].to(device), batch[1].to(device)
    optimizer, scheduler = task.build_optimizer(10**6)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision or "")

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            bare_step(task, optimizer, scheduler, task.compute_loss, (images, masks))

    return task, step
