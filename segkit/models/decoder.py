"""Decoder: one DecoderBlock per encoder stage, deepest first."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segkit.models.blocks import ConvNormAct, Skip
from segkit.models.upsamplers import create_upsampler

FUSIONS = ("none", "add", "concat")


class DecoderBlock(nn.Module):
    """Upsampler(x, skip) -> optional fusion with skip.feature -> ConvNormAct blocks.

    The conv blocks are the same whatever the upsampler, so comparing upsamplers isolates the
    upsampling operation.

    Args:
        in_channels: channels of ``x`` and of the skip feature (the mirrored encoder stage).
        out_channels: channels after the conv blocks.
        upsampler: registry name or class.
        fusion: ``none``, ``add`` or ``concat`` with the encoder's pre-pooling feature.
        num_convs: ConvNormAct blocks after upsampling.
        upsampler_kwargs: extra arguments of the upsampler.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        upsampler: str | type[nn.Module] = "nearest",
        fusion: str = "none",
        num_convs: int = 2,
        upsampler_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(
                f"unknown fusion {fusion!r} (model.fusion); valid: {', '.join(FUSIONS)}"
            )
        if num_convs < 1:
            raise ValueError(f"model.decoder_convs must be >= 1, got {num_convs}")
        self.fusion = fusion
        self.upsample = create_upsampler(upsampler, in_channels, **(upsampler_kwargs or {}))
        conv_in = 2 * in_channels if fusion == "concat" else in_channels
        self.convs = nn.Sequential(
            *[
                ConvNormAct(conv_in if i == 0 else out_channels, out_channels)
                for i in range(num_convs)
            ]
        )

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        x = self.upsample(x, skip)  # (B, C_in, H, W)
        if self.fusion != "none":
            if skip.feature is None:
                raise ValueError(f"fusion={self.fusion!r} needs skip features from the encoder")
            if self.fusion == "add":
                x = x + skip.feature  # (B, C_in, H, W)
            else:
                x = torch.cat([x, skip.feature], dim=1)  # (B, 2 * C_in, H, W)
        return self.convs(x)  # (B, C_out, H, W)


class Decoder(nn.Module):
    """Mirror of the encoder: block s upsamples with stage s's skip, from C_s to C_{s-1} channels.

    Args:
        stage_channels: the encoder's stage channels, shallow to deep.
        upsampler, fusion, num_convs, upsampler_kwargs: as in :class:`DecoderBlock`.
    """

    def __init__(
        self,
        stage_channels: Sequence[int],
        upsampler: str | type[nn.Module] = "nearest",
        fusion: str = "none",
        num_convs: int = 2,
        upsampler_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        chans = list(stage_channels)
        # Deepest first; the last block keeps the first stage's width for the head.
        outs = [chans[0], *chans[:-1]]
        self.blocks = nn.ModuleList(
            DecoderBlock(c_in, c_out, upsampler, fusion, num_convs, upsampler_kwargs)
            for c_in, c_out in zip(reversed(chans), reversed(outs), strict=True)
        )
        self.out_channels = chans[0]

    def forward(self, x: torch.Tensor, skips: Sequence[Skip]) -> torch.Tensor:
        for block, skip in zip(self.blocks, reversed(skips), strict=True):
            x = block(x, skip)  # (B, C_{s-1}, H_s, W_s)
        return x
