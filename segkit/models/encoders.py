"""Encoders: image -> (deepest feature map, one Skip record per stage).

Every encoder exposes ``stage_channels`` (channels of each stage's output, shallow to deep) and
``has_max_pooling``; ``build_model`` reads the latter to check upsamplers that need pooling indices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segkit.models.blocks import ConvNormAct, Skip


class VGGEncoder(nn.Module):
    """VGG-style encoder (the SegNet / DeconvNet / FCN family).

    Each stage is ``convs_per_stage`` ConvNormAct blocks followed by a 2x2/2 max pool. Before
    pooling, the stage records a :class:`Skip` with its size and, on request, the pooling indices
    and the pre-pooling feature map.

    Args:
        widths: output channels of each stage, shallow to deep.
        convs_per_stage: ConvNormAct blocks per stage (an int for all, or one per stage).
        in_channels: image channels.
        return_indices: record max-pooling indices (set by ``build_model`` from the upsampler).
        return_features: record pre-pooling features (set by ``build_model`` from the fusion).
    """

    has_max_pooling = True

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128, 256),
        convs_per_stage: int | Sequence[int] = 2,
        in_channels: int = 3,
        return_indices: bool = False,
        return_features: bool = False,
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) <= 0:
            raise ValueError(f"model.encoder.widths must be positive integers, got {widths}")
        convs = (
            [int(convs_per_stage)] * len(widths)
            if isinstance(convs_per_stage, int)
            else [int(c) for c in convs_per_stage]
        )
        if len(convs) != len(widths) or min(convs) < 1:
            raise ValueError(
                f"model.encoder.convs_per_stage must be >= 1 per stage ({len(widths)} stages), got {convs}"
            )
        self.stage_channels = widths
        self.return_indices = return_indices
        self.return_features = return_features
        stages = []
        for width, n in zip(widths, convs, strict=True):
            blocks = [ConvNormAct(in_channels if i == 0 else width, width) for i in range(n)]
            stages.append(nn.Sequential(*blocks))
            in_channels = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[Skip]]:
        """Encode ``x`` (B, 3, H, W); return the deepest map and the stages' skips, shallow first."""
        min_size = 2 ** len(self.stages)
        if min(x.shape[-2:]) < min_size:
            raise ValueError(
                f"input {x.shape[-2]}x{x.shape[-1]} is smaller than {min_size} px, the least that "
                f"{len(self.stages)} pooling stages can halve; use larger inputs or fewer stages"
            )
        skips = []
        for stage in self.stages:
            x = stage(x)  # (B, C_s, H_s, W_s)
            size = (x.shape[-2], x.shape[-1])
            feature = x if self.return_features else None
            if self.return_indices:
                x, indices = F.max_pool2d(x, 2, 2, return_indices=True)  # (B, C_s, H_s//2, W_s//2)
            else:
                x, indices = F.max_pool2d(x, 2, 2), None  # (B, C_s, H_s//2, W_s//2)
            skips.append(Skip(size, indices, feature))
        return x, skips


ENCODERS: dict[str, type[nn.Module]] = {"vgg": VGGEncoder}


def create_encoder(name: str | type[nn.Module], **kwargs) -> nn.Module:
    """Build an encoder from its registry name (or class) and keyword arguments.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if isinstance(name, type):
        return name(**kwargs)
    if name not in ENCODERS:
        raise ValueError(
            f"unknown encoder {name!r} (model.encoder.name); valid: {', '.join(sorted(ENCODERS))}"
        )
    return ENCODERS[name](**kwargs)
