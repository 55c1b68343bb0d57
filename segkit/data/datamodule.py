"""The LightningDataModule: one VOC-layout reader for real VOC and the synthetic default alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from segkit.data.palette import VOID_INDEX
from segkit.data.sampling import ResumableSampler, ShardedEvalSampler
from segkit.data.settings import check_batch_fits, check_data_options
from segkit.data.synthetic import SyntheticSpec, ensure_synthetic
from segkit.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transforms, train_transforms
from segkit.data.voc import VOCSegmentation, resolve_voc_dir
from segkit.errors import ConfigError, ResumeError


def pad_collate(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack samples of different sizes: pad bottom/right to the largest, image with 0, mask with 255.

    Padded pixels are void, so they count in neither the loss nor the confusion matrix; the third
    element, each mask's own ``(height, width)``, lets Boundary IoU score every image at its own
    size (:meth:`segkit.metrics.BoundaryIoU.update`), so no score depends on the batch size.
    """
    h = max(img.shape[-2] for img, _ in batch)
    w = max(img.shape[-1] for img, _ in batch)
    images, masks = [], []
    for img, mask in batch:
        dh, dw = h - img.shape[-2], w - img.shape[-1]
        images.append(F.pad(img, (0, dw, 0, dh), value=0.0))  # (3, H_max, W_max)
        masks.append(F.pad(mask, (0, dw, 0, dh), value=VOID_INDEX))  # (H_max, W_max)
    sizes = torch.tensor([list(mask.shape[-2:]) for _, mask in batch])  # (B, 2)
    # (B, 3, H_max, W_max), (B, H_max, W_max), (B, 2)
    return torch.stack(images), torch.stack(masks), sizes


def _plain(value: Any) -> Any:
    """OmegaConf containers (as Hydra passes them) to plain lists and dicts."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


class SegDataModule(L.LightningDataModule):
    """Train/val loaders over a VOC-layout root.

    Args:
        root: folder holding ``VOCdevkit/VOC2012`` (real VOC, or where the synthetic set goes).
        train_split, val_split: list names under ``ImageSets/Segmentation``.
        mask_dir: mask folder beside ``JPEGImages`` (``SegmentationClassAug`` for SBD-augmented).
        class_names: class names, index order; ``"voc"`` or ``"synthetic"`` pick the built-in lists.
        synthetic: generation parameters (:class:`SyntheticSpec` fields); when given, the synthetic
            set is written to ``root`` in ``prepare_data`` if not there yet.
        batch_size: training batch size (per device).
        val_batch_size: validation batch size; images of different sizes are padded with void.
        val_size: shorter side validation images are resized to before the network (logits are
            upsampled back and scored at the original size); ``None`` keeps the original size.
            Needs ``val_batch_size`` 1, as images and masks then differ in size.
        num_workers: loader worker processes.
        in_memory: decode every image and mask once at setup and serve them from memory.
        crop_size, base_size, scale_range, hflip, mean, std: the training preset
            (:func:`segkit.data.transforms.train_transforms`).
        seed: seed of the training order and augmentation, which are functions of
            ``(seed, epoch, index)`` alone (:mod:`segkit.data.sampling`); checkpoints record the
            epoch and batch reached, so a resumed run continues with exactly the same samples.
    """

    def __init__(
        self,
        root: str,
        train_split: str = "train",
        val_split: str = "val",
        mask_dir: str = "SegmentationClass",
        class_names: str | Sequence[str] = "voc",
        synthetic: Mapping[str, Any] | None = None,
        batch_size: int = 16,
        val_batch_size: int = 1,
        val_size: int | None = None,
        num_workers: int = 2,
        crop_size: int = 512,
        base_size: int = 520,
        scale_range: Sequence[float] = (0.5, 2.0),
        hflip: float = 0.5,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        seed: int = 0,
        in_memory: bool = False,
    ) -> None:
        super().__init__()
        # Stored in checkpoints (datamodule_hyper_parameters) as plain data, so segkit-eval can
        # rebuild exactly this validation from a checkpoint alone.
        root = str(Path(root).resolve())
        class_names, synthetic, scale_range, mean, std = (
            _plain(v) for v in (class_names, synthetic, scale_range, mean, std)
        )
        spec, class_names = check_data_options(
            {
                "root": root, "train_split": train_split, "val_split": val_split,
                "mask_dir": mask_dir, "class_names": class_names, "synthetic": synthetic,
                "batch_size": batch_size, "val_batch_size": val_batch_size, "val_size": val_size,
                "num_workers": num_workers, "crop_size": crop_size, "base_size": base_size,
                "scale_range": scale_range, "hflip": hflip, "mean": mean, "std": std,
                "in_memory": in_memory,
            }
        )  # fmt: skip
        class_names = [str(name) for name in class_names]
        self.save_hyperparameters()
        self.root = Path(root)
        self.train_split, self.val_split, self.mask_dir = train_split, val_split, mask_dir
        self.class_names = tuple(class_names)
        self.synthetic: SyntheticSpec | None = spec
        self.batch_size, self.val_batch_size, self.num_workers = (
            batch_size,
            val_batch_size,
            num_workers,
        )
        self.train_tf = train_transforms(crop_size, base_size, scale_range, hflip, mean, std)
        self.eval_tf = eval_transforms(mean, std, val_size)
        self.seed = int(seed)
        self.in_memory = bool(in_memory)
        self.train_set: VOCSegmentation | None = None
        self.val_set: VOCSegmentation | None = None
        self._resume_at: tuple[int, int] | None = None  # (epoch, batch) from a checkpoint
        self._train_sampler: ResumableSampler | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def prepare_data(self) -> None:
        if self.synthetic is not None:
            ensure_synthetic(self.root, self.synthetic)
        else:
            resolve_voc_dir(self.root)  # fail early, with the fix, when the root is wrong

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._dataset(self.train_split, self.train_tf)
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = self._dataset(self.val_split, self.eval_tf)

    def _dataset(self, split: str, transforms: Callable) -> VOCSegmentation:
        return VOCSegmentation(
            self.root, split, transforms, self.mask_dir, self.num_classes, self.in_memory
        )

    def _shard(self) -> tuple[int, int]:
        """(rank, world size) of this process; (0, 1) outside a distributed run."""
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup('fit') first"
        rank, world_size = self._shard()
        check_batch_fits(self.batch_size, len(self.train_set), self.train_split, world_size)
        sampler = ResumableSampler(
            len(self.train_set), self.seed, self.batch_size, True, rank, world_size
        )
        # a resumed run's first epoch continues where the checkpoint was taken (this loader is
        # also built once to count steps; any later rebuild is for a later epoch)
        if self._resume_at is not None and self.trainer.current_epoch <= self._resume_at[0]:
            sampler.resume_at(*self._resume_at)
        self._train_sampler = sampler
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        """Validation in dataset order, each image on exactly one rank (no padding duplicates)."""
        assert self.val_set is not None, "call setup('validate') first"
        rank, world_size = self._shard()
        if len(self.val_set) < world_size:  # a rank without images would wait in the metric sync
            raise ConfigError(
                f"{len(self.val_set)} val images for {world_size} processes; every process needs "
                "at least one: use fewer trainer.devices (or a larger val split)"
            )
        return DataLoader(
            self.val_set,
            batch_size=self.val_batch_size,
            sampler=ShardedEvalSampler(len(self.val_set), rank, world_size),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=pad_collate,
        )

    def _order(self) -> dict[str, int]:
        """What fixes the training order: a resume must keep these to continue exactly."""
        return {"seed": self.seed, "batch_size": self.batch_size, "world_size": self._shard()[1]}

    def state_dict(self) -> dict[str, int]:
        """Where training stands, saved in checkpoints: the epoch and batch to continue from."""
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return {}
        # the epoch the sampler is in (Lightning's epoch counter has already moved on when a
        # checkpoint is taken after an epoch's end-of-epoch hooks)
        sampler = self._train_sampler
        epoch = sampler.epoch if sampler is not None else trainer.current_epoch
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= trainer.num_training_batches:  # the epoch's training is over
            epoch, done = epoch + 1, 0
        return {"resume_epoch": epoch, "resume_batch": done, **self._order()}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        if "resume_epoch" not in state_dict:
            return
        changed = {
            k: (state_dict[k], v) for k, v in self._order().items() if state_dict.get(k, v) != v
        }
        if changed:
            what = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())
            raise ResumeError(
                f"the checkpoint's run trained with other settings ({what}); resume with the "
                "original seed, data.batch_size and number of processes, or start a new run"
            )
        self._resume_at = (int(state_dict["resume_epoch"]), int(state_dict["resume_batch"]))
