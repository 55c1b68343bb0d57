"""Inference modes shared by validation, ``segkit-eval`` and ``segkit-predict``.

One function, :func:`infer`, turns a batch of normalised images into logits at a target size:

- ``whole``: the network on the whole image (the default; what training validates with);
- ``slide``: overlapping ``crop`` x ``crop`` windows every ``stride`` pixels, logits of overlapping
  windows averaged (mmsegmentation's ``slide`` mode), for images larger than the network should see
  at once;
- test-time augmentation on top of either: horizontal flip and a list of scales, logits resized to
  the target size and averaged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

MODES = ("whole", "slide")


@dataclass(frozen=True)
class InferenceConfig:
    """How logits are computed (``inference.*`` in the configs).

    Attributes:
        mode: ``whole`` or ``slide``.
        crop: slide window size (pixels, square).
        stride: slide step (pixels), at most ``crop``; ``None``: two thirds of ``crop``.
        flip: add the horizontally flipped image and average.
        scales: input scale factors averaged over (``[1.0]``: none).
    """

    mode: str = "whole"
    crop: int = 512
    stride: int | None = None
    flip: bool = False
    scales: Sequence[float] = field(default_factory=lambda: (1.0,))

    def __post_init__(self) -> None:
        if self.stride is None:  # frozen dataclass: set the derived default once
            object.__setattr__(self, "stride", max(1, self.crop * 2 // 3))
        if self.mode not in MODES:
            raise ValueError(f"inference.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.crop < 1 or not 1 <= self.stride <= self.crop:
            raise ValueError(
                "inference.crop and inference.stride must satisfy 1 <= stride <= crop (windows "
                f"must not leave gaps), got crop {self.crop}, stride {self.stride}"
            )
        if not self.scales or any(s <= 0 for s in self.scales):
            raise ValueError(f"inference.scales must be positive numbers, got {list(self.scales)}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> InferenceConfig:
        values = dict(values or {})
        if "scales" in values:
            values["scales"] = tuple(float(s) for s in values["scales"])
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"unknown inference option(s) {sorted(unknown)}; valid: mode, crop, stride, flip, scales"
            )
        return cls(**values)

    @property
    def is_plain(self) -> bool:
        return self.mode == "whole" and not self.flip and tuple(self.scales) == (1.0,)


def slide(
    net: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, crop: int, stride: int
) -> torch.Tensor:
    """Logits from overlapping windows, averaged where they overlap.

    Windows start every ``stride`` pixels and the last one in each direction is moved back to end
    at the border, so with ``stride <= crop`` every pixel is covered; a side shorter than ``crop``
    is one window of that side. A window covering the whole image is exactly whole-image inference.
    """
    if not 1 <= stride <= crop:
        raise ValueError(f"slide needs 1 <= stride <= crop, got stride {stride}, crop {crop}")
    _, _, h, w = images.shape
    ch, cw = min(crop, h), min(crop, w)
    rows = range(0, max(h - ch, 0) + stride, stride)
    cols = range(0, max(w - cw, 0) + stride, stride)
    logits: torch.Tensor | None = None
    counts = images.new_zeros(1, 1, h, w)
    for top in rows:
        y = min(top, h - ch)
        for left in cols:
            x = min(left, w - cw)
            out = net(images[:, :, y : y + ch, x : x + cw])
            if logits is None:
                logits = images.new_zeros(images.shape[0], out.shape[1], h, w)
            logits[:, :, y : y + ch, x : x + cw] += out
            counts[:, :, y : y + ch, x : x + cw] += 1
    assert logits is not None
    return logits / counts


def infer(
    net: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    config: InferenceConfig,
    size: Sequence[int] | None = None,
) -> torch.Tensor:
    """Logits ``(B, C, *size)`` of ``images`` ``(B, 3, H, W)`` under ``config``.

    ``size`` defaults to the input's; logits of another size are resized bilinearly to it (the
    ``data.val_size`` protocol: the network sees a resized image, every original pixel is scored).
    """
    size = tuple(size) if size is not None else tuple(images.shape[-2:])

    def once(x: torch.Tensor) -> torch.Tensor:
        if config.mode == "slide":
            return slide(net, x, config.crop, config.stride)
        return net(x)

    if config.is_plain:
        logits = once(images)
        if tuple(logits.shape[-2:]) != size:
            logits = F.interpolate(logits, size=size, mode="bilinear")
        return logits
    total: torch.Tensor | None = None
    h, w = images.shape[-2:]
    for scale in config.scales:
        x = images
        if scale != 1.0:
            x = F.interpolate(
                images,
                size=(round(h * scale), round(w * scale)),
                mode="bilinear",
                antialias=scale < 1,
            )
        views = [once(x)]
        if config.flip:
            views.append(once(x.flip(-1)).flip(-1))
        for logits in views:
            if tuple(logits.shape[-2:]) != size:
                logits = F.interpolate(logits, size=size, mode="bilinear")
            total = logits if total is None else total + logits
    assert total is not None
    return total / (len(config.scales) * (2 if config.flip else 1))


def merge_options(
    stored: Mapping[str, Any] | None, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A checkpoint's inference options updated with the given ones that are not None."""
    merged = dict(stored or {})
    merged.update({k: v for k, v in dict(given or {}).items() if v is not None})
    InferenceConfig.from_mapping(merged)  # fail early, naming the key
    return merged
