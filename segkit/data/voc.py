"""One reader for the Pascal VOC devkit layout (real VOC, SBD-augmented lists, the synthetic set).

<root>/VOCdevkit/VOC2012/JPEGImages/<id>.jpg
<root>/VOCdevkit/VOC2012/SegmentationClass/<id>.png     palette (mode P) or grey indices, 255 = void
<root>/VOCdevkit/VOC2012/ImageSets/Segmentation/<split>.txt
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from segkit.data.checks import DataError, read_pair
from segkit.data.sampling import SampleKey

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip


def resolve_voc_dir(root: str | os.PathLike) -> Path:
    """Find the ``VOC2012`` folder from ``root`` (the folder holding VOCdevkit, or VOC2012 itself).

    Raises:
        FileNotFoundError: no devkit layout under ``root``, with the fix.
    """
    root = Path(root)
    for candidate in (root / "VOCdevkit" / "VOC2012", root):
        if (candidate / "ImageSets" / "Segmentation").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no VOC devkit layout under {root} (expected {root}/VOCdevkit/VOC2012/ImageSets/Segmentation); "
        "set data.root to the folder holding VOCdevkit, or prepare VOC with `make voc`"
    )


def read_split(voc_dir: Path, split: str) -> list[str]:
    """Read the ids of ``split`` from ``ImageSets/Segmentation/<split>.txt``.

    Raises:
        FileNotFoundError / DataError: missing or empty list file, naming it.
    """
    path = voc_dir / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not path.is_file():
        have = sorted(p.stem for p in path.parent.glob("*.txt"))
        raise FileNotFoundError(
            f"split file {path} not found; available splits: {', '.join(have) or 'none'}"
        )
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(f"split file {path} is empty; list one image id per line")
    return ids


class VOCSegmentation(Dataset):
    """Image/mask pairs of one split, as ``tv_tensors.Image`` (uint8) and ``tv_tensors.Mask``.

    Args:
        root: folder holding ``VOCdevkit`` (or the ``VOC2012`` folder itself).
        split: list name under ``ImageSets/Segmentation`` (``train``, ``val``, ``trainaug``, ...).
        transforms: a paired transform ``(image, mask) -> (image, mask)``, e.g. from
            :mod:`segkit.data.transforms`.
        mask_dir: folder of the masks beside ``JPEGImages``.
        num_classes: when given, mask values outside ``0..num_classes-1`` and 255 are errors.

    Raises:
        FileNotFoundError / DataError: no devkit layout, a missing or empty split
            list, or a listed id without its image or mask — all before any sample is read.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        transforms: Callable | None = None,
        mask_dir: str = "SegmentationClass",
        num_classes: int | None = None,
        in_memory: bool = False,
    ) -> None:
        self.voc_dir = resolve_voc_dir(root)
        self.split = split
        self.ids = read_split(self.voc_dir, split)
        self.transforms = transforms
        self.image_dir = self.voc_dir / "JPEGImages"
        self.mask_dir = self.voc_dir / mask_dir
        self.num_classes = num_classes
        self._check_files_exist()
        # decoded once here (in the main process, so loader workers inherit them), then served
        # from memory: worth it for small images, where decoding costs as much as the step
        self._cache: list[tuple[tv_tensors.Image, tv_tensors.Mask]] | None = None
        if in_memory:
            self._cache = [self._read(i) for i in range(len(self.ids))]

    def _check_files_exist(self) -> None:
        """Fail before training when a listed id has no image or mask (a stat per file)."""
        images = (
            {p.stem for p in self.image_dir.glob("*.jpg")} if self.image_dir.is_dir() else set()
        )
        masks = {p.stem for p in self.mask_dir.glob("*.png")} if self.mask_dir.is_dir() else set()
        split_file = self.voc_dir / "ImageSets" / "Segmentation" / f"{self.split}.txt"
        for kind, have, folder in (
            ("image", images, self.image_dir),
            ("mask", masks, self.mask_dir),
        ):
            missing = [i for i in self.ids if i not in have]
            if missing:
                more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
                ext = "jpg" if kind == "image" else "png"
                raise DataError(
                    f"{kind} {folder / missing[0]}.{ext}{more} listed in {split_file} missing; "
                    "restore the files (re-run the preparation) or remove the ids from the list"
                )

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, index: int) -> Path:
        return self.image_dir / f"{self.ids[index]}.jpg"

    def mask_path(self, index: int) -> Path:
        return self.mask_dir / f"{self.ids[index]}.png"

    def load(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        """Sample ``index`` without transforms: image (3, H, W) uint8, mask (H, W) int64.

        Raises:
            DataError: a missing, corrupt or malformed file, naming it.
        """
        if self._cache is not None:
            image, mask = self._cache[index]
            return tv_tensors.Image(image.clone()), tv_tensors.Mask(mask.clone())
        return self._read(index)

    def _read(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        image, mask = read_pair(self.image_path(index), self.mask_path(index), self.num_classes)
        image_t = tv_tensors.Image(torch.from_numpy(image.copy()).permute(2, 0, 1))  # (3, H, W)
        mask_t = tv_tensors.Mask(torch.from_numpy(mask.astype(np.int64)))  # (H, W)
        return image_t, mask_t

    def __getitem__(self, key: int | SampleKey) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample ``key``: an index, or a :class:`SampleKey` whose seed fixes the augmentation.

        With a seed, the random transforms draw from it alone (the caller's RNG is left as it
        was), so a sample looks the same whatever worker, process or restart produces it.
        """
        if isinstance(key, SampleKey):
            index, seed = key
        else:
            index, seed = int(key), None
        image, mask = self.load(index)
        if self.transforms is None:
            return image, mask
        if seed is None:
            return self.transforms(image, mask)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transforms(image, mask)
