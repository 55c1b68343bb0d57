"""Decoder: one DecoderBlock per encoder Skip, deepest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from segkit.errors import ConfigError
from segkit.models.blocks import ConvNormAct, Skip
from segkit.models.upsamplers import create_upsampler
from segkit.options import ABSENT, Rule, check_value, show

FUSIONS = ("none", "add", "concat")
DECODER_CONVS = Rule("int", lambda v: v >= 1, "an integer >= 1", "2")


def check_decoder_options(fusion: Any = ABSENT, decoder_convs: Any = ABSENT) -> None:
    """``model.fusion`` is one of :data:`FUSIONS`; ``model.decoder_convs`` an integer >= 1."""
    if fusion is not ABSENT and fusion not in FUSIONS:
        raise ConfigError(
            f"unknown fusion {show(fusion)} (model.fusion); valid: {', '.join(FUSIONS)}"
        )
    check_value("model.decoder_convs", decoder_convs, DECODER_CONVS)


class DecoderBlock(nn.Module):
    """Upsampler(x, skip) -> optional fusion with skip.feature -> ConvNormAct blocks.

    The conv blocks are the same whatever the upsampler, so comparing upsamplers isolates the
    upsampling operation.

    Fusion: ``add`` sums the skip feature into the upsampled ``x``; when their channels differ
    (the deepest level of a ResNet) a 1x1 convolution first projects the skip feature to
    ``in_channels``, as FCN's score layers project its pool features. ``concat`` stacks them,
    giving ``in_channels + skip_channels`` channels to the first conv. A level with
    ``skip_channels == 0`` (no feature, e.g. a ResNet's input level) is not fused.

    Args:
        in_channels: channels of ``x`` (the upsampler keeps them).
        skip_channels: channels of ``skip.feature``, or 0 for a level without a feature.
        out_channels: channels after the conv blocks.
        upsampler: registry name or class.
        fusion: ``none``, ``add`` or ``concat`` with the encoder's feature at this level.
        num_convs: ConvNormAct blocks after upsampling.
        upsampler_kwargs: extra arguments of the upsampler.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        upsampler: str | type[nn.Module] = "nearest",
        fusion: str = "none",
        num_convs: int = 2,
        upsampler_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        check_decoder_options(fusion, num_convs)
        # A level without a feature is left unfused whatever the model-wide fusion says.
        self.fusion = fusion if skip_channels > 0 else "none"
        self.upsample = create_upsampler(upsampler, in_channels, **(upsampler_kwargs or {}))
        # Only add with unequal widths needs a projection; VGG levels never do, so VGG models keep
        # their parameters (and state-dict keys) whatever the fusion.
        self.project: nn.Module = (
            nn.Conv2d(skip_channels, in_channels, kernel_size=1, bias=False)
            if self.fusion == "add" and skip_channels != in_channels
            else nn.Identity()
        )
        conv_in = in_channels + skip_channels if self.fusion == "concat" else in_channels
        self.convs = nn.Sequential(
            *[
                ConvNormAct(conv_in if i == 0 else out_channels, out_channels)
                for i in range(num_convs)
            ]
        )

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        """Upsample ``x`` (B, C_in, h, w) to ``skip.size``, fuse, convolve to (B, C_out, H, W)."""
        x = self.upsample(x, skip)  # (B, C_in, H, W)
        if self.fusion != "none":
            if skip.feature is None:
                raise ValueError(f"fusion={self.fusion!r} needs skip features from the encoder")
            if self.fusion == "add":
                x = x + self.project(skip.feature)  # (B, C_in, H, W)
            else:
                x = torch.cat([x, skip.feature], dim=1)  # (B, C_in + C_skip, H, W)
        return self.convs(x)  # (B, C_out, H, W)


def decoder_widths(skip_channels: Sequence[int], in_channels: int) -> list[tuple[int, int]]:
    """``(in, out)`` channels of each decoder block, shallow to deep.

    Block s outputs the width of level s-1 (block 0 keeps level 0's), so the next block's input
    matches the skip it fuses and a VGG decoder mirrors its encoder. A level without a feature
    (0 channels) takes the width of the next deeper level.

    Args:
        skip_channels: channels of each Skip's feature, shallow to deep (0 where it has none).
        in_channels: channels of the encoder's deepest map.

    Returns:
        One ``(in_channels, out_channels)`` pair per block.
    """
    widths = [int(c) for c in skip_channels]
    if not widths or min(widths) < 0 or in_channels <= 0:
        raise ValueError(
            f"encoder must declare >= 1 skip and non-negative channels, got {widths} -> {in_channels}"
        )
    for s in reversed(range(len(widths))):
        if widths[s] == 0:
            widths[s] = widths[s + 1] if s + 1 < len(widths) else in_channels
    outs = [widths[0], *widths[:-1]]
    ins = [*outs[1:], in_channels]  # block s takes block s+1's output; the deepest the encoder's
    return list(zip(ins, outs, strict=True))


class Decoder(nn.Module):
    """Mirror of the encoder: block s upsamples to Skip s's size, deepest block first.

    Args:
        skip_channels: channels of each Skip's feature, shallow to deep (0 where it has none).
        in_channels: channels of the encoder's deepest map.
        upsampler, fusion, num_convs, upsampler_kwargs: as in :class:`DecoderBlock`.
    """

    def __init__(
        self,
        skip_channels: Sequence[int],
        in_channels: int,
        upsampler: str | type[nn.Module] = "nearest",
        fusion: str = "none",
        num_convs: int = 2,
        upsampler_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        pairs = decoder_widths(skip_channels, in_channels)
        # Stored deepest first, the order forward runs them in (and the order of the state dict).
        self.blocks = nn.ModuleList(
            DecoderBlock(c_in, c_skip, c_out, upsampler, fusion, num_convs, upsampler_kwargs)
            for (c_in, c_out), c_skip in zip(reversed(pairs), reversed(skip_channels), strict=True)
        )
        self.out_channels = pairs[0][1]

    def forward(self, x: torch.Tensor, skips: Sequence[Skip]) -> torch.Tensor:
        """Decode the deepest map ``x`` with the encoder's skips (shallow first) to full size."""
        if len(skips) != len(self.blocks):
            raise ValueError(f"decoder has {len(self.blocks)} blocks but got {len(skips)} skips")
        for block, skip in zip(self.blocks, reversed(skips), strict=True):
            x = block(x, skip)  # (B, C_{s-1}, H_s, W_s)
        return x
