"""Building blocks shared by encoders and decoders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import torch
from torch import nn


class Skip(NamedTuple):
    """What an encoder level hands to the decoder block that mirrors it.

    An encoder records one Skip per 2x downsampling, shallow first.

    Attributes:
        size: spatial size ``(H, W)`` of the level *before* the downsampling; the upsampler of
            the mirroring decoder block must output exactly this size. The downsampled map has
            ``(H//2, W//2)`` (max pooling, floor mode) or ``(ceil(H/2), ceil(W/2))`` (a padded
            stride-2 convolution or pooling, as in ResNet).
        indices: max-pooling indices of shape ``(B, C, H//2, W//2)``, or None when the encoder was
            not asked for them (see ``needs_indices`` on the upsamplers).
        feature: the level's feature map ``(B, C, H, W)`` for skip fusion, or None when the
            decoder does not fuse skips or the level has no feature worth fusing (a ResNet's
            full-resolution input level; its encoder declares 0 channels for it).
    """

    size: tuple[int, int]
    indices: torch.Tensor | None = None
    feature: torch.Tensor | None = None


class ConvNormAct(nn.Sequential):
    """3x3 convolution, BatchNorm, ReLU: the unit of every encoder and decoder stage.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd kernel size; padding keeps the spatial size.
        bias: give the convolution a bias. BatchNorm's shift makes it redundant, so it is off by
            default; torchvision's VGG-BN convolutions have one, so its layout needs it to load
            ImageNet weights.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = False
    ) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def tracing() -> bool:
    """Inside torch.export / torch.compile / TorchScript, where shapes are symbolic: eager-only
    checks (friendly size errors) are skipped so exported graphs do not bake in the example size."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.jit.is_scripting()


@runtime_checkable
class Encoder(Protocol):
    """What ``build_model`` and the decoder need of an encoder (built-in or a plugin's).

    Built as ``cls(return_indices=..., return_features=..., **options)``: ``build_model`` sets the
    two flags (indices when the upsampler ``needs_indices``, features when the decoder fuses);
    ``options`` are the ``model.encoder.*`` keys. Calling it on images ``(B, 3, H, W)`` returns the
    deepest map ``(B, out_channels, h, w)`` and one :class:`Skip` per 2x downsampling, shallow
    first.

    Attributes:
        has_max_pooling: every downsampling is a 2x2/2 max pool that can record indices.
        torchvision_arch: the torchvision model whose weights load into it, or None; such an
            encoder also has ``convert_torchvision_state_dict`` (see ``segkit.models.weights``).
        skip_channels: channels of each Skip's feature, shallow to deep; 0 for a level without one.
        out_channels: channels of the deepest map.
    """

    has_max_pooling: ClassVar[bool]
    torchvision_arch: ClassVar[str | None]
    skip_channels: list[int]
    out_channels: int

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, list[Skip]]: ...

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """Fail in one line (a ``ConfigError`` naming ``model.encoder.<key>``) on a bad option."""
        ...

    @classmethod
    def min_input_size(cls, options: Mapping[str, Any]) -> int:
        """The least image side, in pixels, these options can encode."""
        ...
