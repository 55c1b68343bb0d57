"""Lightning callbacks that keep what a comparison of runs needs.

- :class:`ValRecords`: per-image confusion matrices of the latest validation (for bootstrap
  intervals paired by image), the predictions on a fixed set of val images (the same images in every
  run, for side-by-side figures), both written to ``val_records.npz``; and, when a W&B logger is
  attached, those images with ground-truth and predicted masks plus a per-class IoU table.

Measuring callbacks (training speed, checkerboard share) are in :mod:`segkit.measure.callbacks`;
the ``last.ckpt`` writer in :mod:`segkit.training.run_state`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn

from segkit.compare.records import write_records
from segkit.data.palette import VOID_INDEX
from segkit.data.sampling import sample_indices
from segkit.metrics import image_confusions


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
