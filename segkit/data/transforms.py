"""Paired image/mask presets on torchvision.transforms.v2 (as torchvision's segmentation references).

Masks are ``tv_tensors.Mask``: v2 resizes them with nearest interpolation and pads them with the
``fill`` given for Mask, 255 (void), so padding never counts in the loss or the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2 as T

from segkit.data.palette import VOID_INDEX

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_tensors(mean: Sequence[float], std: Sequence[float]) -> list:
    return [
        T.ToDtype(
            {tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None},
            scale=True,
        ),
        T.Normalize(mean=list(mean), std=list(std)),
    ]


def train_transforms(
    crop_size: int,
    base_size: int,
    scale_range: Sequence[float] = (0.5, 2.0),
    hflip: float = 0.5,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> T.Compose:
    """Random scale (shorter side in ``base_size * scale_range``), crop with void padding, flip.

    Args:
        crop_size: square training crop; images smaller than it are padded (image 0, mask 255).
        base_size: nominal shorter side the scale range is relative to.
        scale_range: (min, max) scale factors; (1, 1) disables rescaling.
        hflip: probability of a horizontal flip.
        mean, std: normalisation.
    """
    lo, hi = (float(s) for s in scale_range)
    if not 0 < lo <= hi:
        raise ValueError(f"data.scale_range must satisfy 0 < min <= max, got {list(scale_range)}")
    if crop_size < 1 or base_size < 1:
        raise ValueError("data.crop_size and data.base_size must be >= 1")
    ops: list = []
    if (lo, hi) != (1.0, 1.0):
        ops.append(T.RandomResize(int(lo * base_size), int(hi * base_size) + 1, antialias=True))
    ops += [
        T.RandomCrop(
            crop_size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: VOID_INDEX}
        ),
    ]
    if hflip > 0:
        ops.append(T.RandomHorizontalFlip(hflip))
    return T.Compose(ops + _to_tensors(mean, std))


class ResizeImage(T.Resize):
    """``v2.Resize`` of the image only: the mask keeps its original size, so scoring stays there."""

    _transformed_types = (tv_tensors.Image,)


def eval_transforms(
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    size: int | None = None,
) -> T.Compose:
    """Evaluation preset: the mask always stays at the image's original size.

    Args:
        mean, std: normalisation.
        size: when given, the image alone is resized so its shorter side is ``size`` (the
            network then sees the training scale) and the task upsamples the logits back to the
            mask's size before scoring, as mmsegmentation's test pipeline does. ``None`` feeds the
            image at its original size.
    """
    ops: list = []
    if size is not None:
        if size < 1:
            raise ValueError(f"data.val_size must be >= 1 or null, got {size}")
        ops.append(ResizeImage(size, antialias=True))
    return T.Compose(ops + _to_tensors(mean, std))
