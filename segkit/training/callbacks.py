"""Lightning callbacks that keep what a comparison of runs needs.

- :class:`ValRecords`: per-image confusion matrices of the latest validation (for bootstrap
  intervals paired by image), the predictions on a fixed set of val images (the same images in every
  run, for side-by-side figures), both written to ``val_records.npz``; and, when a W&B logger is
  attached, those images with ground-truth and predicted masks plus a per-class IoU table.
- :class:`TrainSpeed`: training images per second (median over steps, data loading included).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.utilities import rank_zero_warn

from segkit.compare.records import write_records
from segkit.data.palette import VOID_INDEX
from segkit.metrics import image_confusions


def sample_indices(num_items: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(num_items)``: the same set in every run."""
    if num_items <= 0 or count <= 0:
        return []
    count = min(count, num_items)
    return sorted({round(i * (num_items - 1) / max(1, count - 1)) for i in range(count)})


def _wandb_loggers(trainer: L.Trainer) -> list[Any]:
    from lightning.pytorch.loggers import WandbLogger

    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


class ValRecords(L.Callback):
    """Record per-image confusion matrices and fixed sample predictions from validation.

    Needs the task's ``validation_step`` to return ``{"preds": (B, H, W)}`` and an unshuffled val
    loader over ``trainer.datamodule.val_set`` (a :class:`segkit.data.voc.VOCSegmentation`).

    Args:
        output_dir: where ``val_records.npz`` is written when fitting ends (rank zero only).
        num_images: how many val images to keep predictions of (spread over the split).
        log_every_n_epochs: W&B image/table logging cadence, in validation epochs (0: only at
            the end of fitting).
    """

    def __init__(
        self, output_dir: str | Path, num_images: int = 8, log_every_n_epochs: int = 1
    ) -> None:
        if num_images < 0 or log_every_n_epochs < 0:
            raise ValueError(
                "callbacks.val_records: num_images and log_every_n_epochs must be >= 0"
            )
        self.output_dir = Path(output_dir)
        self.num_images, self.log_every_n_epochs = num_images, log_every_n_epochs
        self.indices: list[int] = []
        self._offset = 0
        self._confusions: list[torch.Tensor] = []
        self._preds: dict[int, np.ndarray] = {}
        self.confusions: torch.Tensor | None = None  # (N, C, C) of the latest validation
        self.preds: dict[int, np.ndarray] = {}  # val index -> (H, W) uint8 prediction
        self._validations = 0
        self.enabled = True

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.enabled = trainer.world_size == 1
        if not self.enabled:  # each rank sees a strided, padded share: indices would not match
            rank_zero_warn("ValRecords records a single process only; disabled under DDP")

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # spread over the images this validation will see (all, unless limit_val_batches cuts it)
        seen = len(trainer.datamodule.val_set)
        batches, loader = trainer.num_val_batches, trainer.val_dataloaders
        if batches and isinstance(batches[0], int) and getattr(loader, "batch_size", None):
            seen = min(seen, batches[0] * loader.batch_size)
        self.indices = sample_indices(seen, self.num_images)
        self._offset, self._confusions, self._preds = 0, [], {}

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self.enabled:
            return
        preds, masks = outputs["preds"], batch[1]
        num_classes = pl_module.hparams.num_classes
        self._confusions.append(image_confusions(preds, masks, num_classes).cpu())
        for i in range(masks.shape[0]):
            index = self._offset + i
            if index in self.indices:
                self._preds[index] = preds[i].to(torch.uint8).cpu().numpy()
        self._offset += masks.shape[0]

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # after the task's on_validation_epoch_end, so its last_scores are this validation's
        if trainer.sanity_checking or not self.enabled:
            return
        self.confusions = torch.cat(self._confusions) if self._confusions else None
        self.preds = dict(self._preds)
        self._validations += 1
        every = self.log_every_n_epochs
        if every and self._validations % every == 0:
            self._log_wandb(trainer, pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.preds and self.confusions is None:
            return  # no validation ran
        if not (self.log_every_n_epochs and self._validations % self.log_every_n_epochs == 0):
            self._log_wandb(trainer, pl_module)  # the final state is always logged
        if trainer.is_global_zero:
            self.write(trainer, pl_module)

    def samples(self, trainer: L.Trainer) -> list[dict[str, Any]]:
        """The recorded predictions with their image, mask and id, cropped to the image's size."""
        dataset = trainer.datamodule.val_set
        out = []
        for index in sorted(self.preds):
            image, mask = dataset.load(index)  # (3, H, W) uint8, (H, W) int64
            h, w = mask.shape
            out.append(
                {
                    "index": index,
                    "id": dataset.ids[index],
                    "image": image.permute(1, 2, 0).numpy(),
                    "mask": mask.numpy().astype(np.uint8),
                    "pred": self.preds[index][:h, :w],
                }
            )
        return out

    def write(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Path:
        """Write ``val_records.npz`` atomically: confusions, class names, samples."""
        confusions = None if self.confusions is None else self.confusions.numpy()
        return write_records(
            self.output_dir,
            pl_module.hparams.class_names,
            trainer.current_epoch,
            confusions,
            self.samples(trainer),
        )

    def _log_wandb(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loggers = _wandb_loggers(trainer)
        if not loggers or not trainer.is_global_zero:
            return
        import wandb

        names = list(pl_module.hparams.class_names)
        labels = {i: name for i, name in enumerate(names)} | {VOID_INDEX: "void"}
        images = [
            wandb.Image(
                s["image"],
                caption=str(s["id"]),
                masks={
                    "ground_truth": {"mask_data": s["mask"], "class_labels": labels},
                    "prediction": {"mask_data": s["pred"], "class_labels": labels},
                },
            )
            for s in self.samples(trainer)
        ]
        scores = pl_module.last_scores
        table = wandb.Table(
            columns=["class", "IoU", "boundary_IoU"],
            data=[
                [n, scores.get(f"val/IoU/{n}"), scores.get(f"val/boundary_IoU/{n}")] for n in names
            ],
        )
        payload = {"val/per_class": table, "trainer/global_step": trainer.global_step}
        if images:
            payload["val/predictions"] = images
        for logger in loggers:
            logger.experiment.log(payload)


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


class LastCheckpoint(Checkpoint):
    """Write the whole training state to ``last.ckpt`` after every validation and training epoch.

    What ``resume=auto`` continues from. Lightning's ``ModelCheckpoint(save_last=True)`` rewrites
    its last checkpoint only when it saved a top-k one, i.e. when the monitored score improved, so
    a run killed after a plateau would go back to its last improvement. Being a ``Checkpoint``, this
    runs after ``ModelCheckpoint`` (Lightning moves checkpoint callbacks to the end), so the state it
    saves includes the best score just recorded.

    Args:
        dirpath: the checkpoint folder.
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.path = Path(dirpath) / "last.ckpt"
        self._saved_step = -1

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.sanity_checking or trainer.global_step == self._saved_step:
            return
        trainer.save_checkpoint(self.path, weights_only=False)
        self._saved_step = trainer.global_step

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)  # an epoch without validation (check_val_every_n_epoch > 1)


class SigtermCheckpoint(Checkpoint):
    """On SIGTERM (SLURM's notice before preemption or a time limit), save a resumable checkpoint.

    Lightning turns the signal into a ``SIGTERMException`` at the next batch boundary; this saves
    the whole training state there, to ``last.ckpt`` beside the other checkpoints, so that
    ``resume=auto`` continues from it exactly. The stop is held back where resuming could not be
    exact: during validation (Lightning would stop mid-validation, and a resumed run skips that
    validation), until the epoch's end-of-epoch logging is done, and in the middle of a gradient
    accumulation (the accumulated gradients are not in checkpoints). Any other exception saves
    nothing: a run that failed (e.g. on a NaN loss) must not overwrite good checkpoints.

    Args:
        dirpath: the checkpoint folder.
        filename: file name without extension.
    """

    def __init__(self, dirpath: str | Path, filename: str = "last") -> None:
        self.path = Path(dirpath) / f"{filename}.ckpt"
        self.saved: Path | None = None
        self.held = False

    def _hold(self, trainer: L.Trainer) -> None:
        connector = trainer._signal_connector
        if connector.received_sigterm:
            connector.received_sigterm = False
            self.held = True

    def _release(self, trainer: L.Trainer) -> None:
        if self.held:
            trainer._signal_connector.received_sigterm = True
            self.held = False

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._hold(trainer)

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._hold(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._hold(trainer)
            self._release(trainer)  # Lightning stops at its next check, after the epoch's end

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:  # fmt: skip
        accumulating = (batch_idx + 1) % trainer.accumulate_grad_batches != 0
        if accumulating and batch_idx + 1 < trainer.num_training_batches:
            self._hold(trainer)
        else:
            self._release(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:  # fmt: skip
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path, weights_only=False)
            self.saved = self.path


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
