"""The LightningModule: network from plain hyperparameters, loss, optimisation, VOC metrics, logging."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from segkit.errors import NonFiniteLossError
from segkit.inference import InferenceConfig, infer
from segkit.metrics import IGNORE_INDEX, BoundaryIoU, SegMetrics
from segkit.models import build_model
from segkit.models.fcn import plugin_packages
from segkit.models.weights import load_encoder_weights
from segkit.training.loss import class_weights
from segkit.training.optim import build_optimizer


class SegTask(L.LightningModule):
    """Semantic segmentation with an encoder-decoder FCN.

    Every argument is plain data (names, numbers, lists), saved as hyperparameters, so
    ``SegTask.load_from_checkpoint(path)`` rebuilds the network without Hydra.

    Args:
        num_classes: output classes.
        class_names: names for per-class metrics (``val/IoU/<name>``).
        model: keyword arguments of :func:`segkit.models.build_model` (without ``num_classes``).
        optim: ``name`` (sgd | adamw), ``lr``, ``weight_decay``, ``momentum`` (sgd), ``betas``
            (adamw), ``schedule`` (poly | cosine | constant), ``power``, ``warmup_steps``,
            ``norm_weight_decay`` (weight decay of norm layers and biases).
        loss: ``background_weight`` (class 0's cross-entropy weight, others 1) or
            ``class_weights`` (one per class; overrides it).
        ignore_index: void label, shared by padding, the loss and the metrics.
        boundary: Boundary IoU settings, ``dilation_ratio`` (of the image diagonal, default 0.02)
            or ``width`` (pixels), and ``void_rule`` (``fill``, the default, or ``authors``;
            :class:`segkit.metrics.BoundaryIoU`); logged as ``val/boundary_mIoU``.
        inference: how validation computes logits (:class:`segkit.inference.InferenceConfig`:
            ``mode`` whole | slide, ``crop``, ``stride``, ``flip``, ``scales``); default whole image.
        channels_last: run the network in channels-last memory format (meant for GPUs).
        compile: ``torch.compile`` the network in place (state-dict keys unchanged).
    """

    def __init__(
        self,
        num_classes: int,
        class_names: Sequence[str] | None = None,
        model: Mapping[str, Any] | None = None,
        optim: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        ignore_index: int = IGNORE_INDEX,
        boundary: Mapping[str, Any] | None = None,
        inference: Mapping[str, Any] | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        class_names = (
            list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
        )
        model, optim, loss = dict(model or {}), dict(optim or {}), dict(loss or {})
        boundary = {"dilation_ratio": 0.02, "width": None, "void_rule": "fill", **(boundary or {})}
        self.save_hyperparameters(
            {"num_classes": num_classes, "class_names": class_names, "model": model, "optim": optim,
             "loss": loss, "ignore_index": ignore_index, "boundary": boundary,
             "inference": dict(inference or {}),
             "channels_last": channels_last, "compile": compile}
        )  # fmt: skip
        # Pretrained encoder weights are loaded when fitting starts (setup), not here, so that
        # load_from_checkpoint rebuilds the network without needing the weights file again.
        encoder = model.get("encoder", "vgg")
        encoder = {"name": encoder} if isinstance(encoder, str) else dict(encoder)
        self.encoder_weights = encoder.pop("weights", None)
        self.net = build_model(num_classes, **{**model, "encoder": encoder})
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        if compile:
            self.net.compile()
        self.ignore_index = ignore_index
        self.inference = InferenceConfig.from_mapping(inference)
        self.register_buffer("class_weights", class_weights(num_classes, loss), persistent=False)
        # the epoch's mean training loss; its running sums are saved in checkpoints (persistent),
        # so a run resumed mid-epoch logs the same train/loss_epoch as one that never stopped
        self.train_loss_mean = MeanMetric()
        self.train_loss_mean.persistent(True)
        self.val_metrics = SegMetrics(num_classes, class_names, ignore_index)
        self.val_boundary = BoundaryIoU(num_classes, ignore_index=ignore_index, **boundary)
        self.last_scores: dict[str, float] = {}  # val scores of the latest epoch
        self.last_confmat: torch.Tensor | None = None  # its dataset confusion matrix
        self.best_scores: dict[str, float] = {}  # val scores of the epoch with the best mIoU

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.encoder_weights is not None:
            name = self.hparams.model["encoder"]["name"]
            load_encoder_weights(self.net.encoder, self.encoder_weights, name)
            self.encoder_weights = None  # once; a resumed checkpoint then overwrites them anyway

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.contiguous(memory_format=self.memory_format))  # (B, C, H, W)

    def infer(self, images: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Logits at ``size`` (default the input's) under this task's inference settings."""
        return infer(self, images, self.inference, size=size)

    def compute_loss(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Weighted cross-entropy of logits ``(B, C, H, W)`` against masks ``(B, H, W)``, void ignored."""
        return F.cross_entropy(
            logits, masks, weight=self.class_weights, ignore_index=self.ignore_index
        )

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        images, masks = batch
        loss = self.compute_loss(self(images), masks)
        finite = bool(torch.isfinite(loss))
        if self._trainer is not None and self.trainer.world_size > 1:
            # every rank stops together (one alone would leave the others in the all-reduce)
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            # before the optimizer step and before any checkpoint of this step: the checkpoints on
            # disk stay those of the last good validation
            lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self._trainer else float("nan")
            value = loss.item() if not torch.isfinite(loss) else "not finite on another process"
            raise NonFiniteLossError(
                f"training loss is {value} at step {self.global_step} (epoch "
                f"{self.current_epoch}, batch {batch_idx}), lr {lr:.3g}: lower optim.lr or add "
                "optim.warmup_steps, and check the data (scripts/check_dataset.py); the "
                "checkpoints already saved were left as they were"
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=images.shape[0])
        self.train_loss_mean.update(loss.detach(), weight=images.shape[0])
        self.log("train/loss_epoch", self.train_loss_mean, on_step=False, on_epoch=True)
        return loss

    def validation_step(
        self, batch: Sequence[torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        """Score a batch; returns ``preds`` (B, H, W) for callbacks (e.g. :class:`ValRecords`).

        ``batch`` is ``(images, masks)``, or ``(images, masks, sizes)`` from
        :func:`segkit.data.datamodule.pad_collate`: each image's own size inside the padded batch.
        """
        images, masks = batch[0], batch[1]
        sizes = batch[2] if len(batch) > 2 else None
        # at the masks' size: with data.val_size the network saw a resized image
        logits = self.infer(images, size=masks.shape[-2:])  # (B, C, H, W)
        self.log(
            "val/loss",
            self.compute_loss(logits, masks),
            on_epoch=True,
            batch_size=images.shape[0],
            sync_dist=True,
        )
        preds = logits.argmax(dim=1)
        self.val_metrics.update(preds, masks)
        self.val_boundary.update(preds, masks, sizes)
        return {"preds": preds}

    def on_validation_epoch_end(self) -> None:
        computed = self.val_metrics.compute()  # summed over DDP processes
        scores = self.val_metrics.named_scores("val/", computed)
        boundary = self.val_boundary.compute()
        scores["val/boundary_mIoU"] = float(boundary["mIoU"])
        for name, value in zip(self.hparams.class_names, boundary["IoU"].tolist(), strict=True):
            scores[f"val/boundary_IoU/{name}"] = value
        self.last_confmat = computed["confmat"].detach().cpu()  # (C, C), rows truth
        self.val_metrics.reset()
        self.val_boundary.reset()
        if self.trainer.sanity_checking:
            return
        scores["epoch"] = self.current_epoch
        if not self.best_scores or scores["val/mIoU"] > self.best_scores["val/mIoU"]:
            self.best_scores = dict(scores)
        scores["val/mIoU_best"] = self.best_scores["val/mIoU"]
        self.last_scores = scores
        self.log("val/mIoU", scores["val/mIoU"], prog_bar=True)
        self.log_dict({k: v for k, v in scores.items() if k not in ("epoch", "val/mIoU")})

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the task's own state; the run's (RNG states, W&B id) is segkit.training.run_state's
        checkpoint["segkit_best_scores"] = self.best_scores
        checkpoint["segkit_last_scores"] = self.last_scores
        # segkit-eval validates at the precision training validated at (exactly the same scores)
        checkpoint["segkit_precision"] = str(self.trainer.precision)
        # the packages of plugin encoders/upsamplers, named when a load finds them missing
        checkpoint["segkit_plugins"] = plugin_packages(self.hparams.model)
        loop = self.trainer.fit_loop.epoch_loop
        if loop.batch_progress.current.processed >= self.trainer.num_training_batches:
            # the epoch's training is over (its mean is logged just after this save): a run
            # resumed from here starts the next epoch, with an empty mean
            for name in ("mean_value", "weight"):
                key = f"train_loss_mean.{name}"
                checkpoint["state_dict"][key] = torch.zeros_like(checkpoint["state_dict"][key])
        elif self.trainer.world_size > 1:
            # mid-epoch under DDP: every rank will load these sums, so store the mean over ranks
            # (summed again at compute, they give every rank's contribution once)
            for name in ("mean_value", "weight"):
                key = f"train_loss_mean.{name}"
                total = self.trainer.strategy.reduce(checkpoint["state_dict"][key], reduce_op="sum")
                checkpoint["state_dict"][key] = total / self.trainer.world_size

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.best_scores = checkpoint.get("segkit_best_scores", {})
        self.last_scores = checkpoint.get("segkit_last_scores", {})

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer, scheduler = self.build_optimizer(int(self.trainer.estimated_stepping_batches))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def build_optimizer(
        self, total: int
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        """The optimizer and per-step LR schedule of ``optim`` for a run of ``total`` steps."""
        return build_optimizer(self.net, self.hparams.optim, total)
