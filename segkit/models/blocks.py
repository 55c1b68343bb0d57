"""Building blocks shared by encoders and decoders."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class Skip(NamedTuple):
    """What an encoder stage hands to the decoder block that mirrors it.

    Attributes:
        size: spatial size ``(H, W)`` of the stage's feature map *before* pooling; the upsampler of
            the mirroring decoder block must output exactly this size.
        indices: max-pooling indices of shape ``(B, C, H//2, W//2)``, or None when the encoder was
            not asked for them (see ``needs_indices`` on the upsamplers).
        feature: the pre-pooling feature map ``(B, C, H, W)`` for skip fusion, or None when the
            decoder does not fuse skips.
    """

    size: tuple[int, int]
    indices: torch.Tensor | None = None
    feature: torch.Tensor | None = None


class ConvNormAct(nn.Sequential):
    """3x3 convolution (no bias), BatchNorm, ReLU: the unit of every encoder and decoder stage."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
