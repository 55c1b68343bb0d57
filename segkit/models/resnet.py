"""ResNet encoders: adapters over torchvision's ResNet-18/50 that record a Skip per downsampling.

torchvision is imported inside the constructor, so ``segkit.models`` itself imports only torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from segkit.models.blocks import Skip

# Channels of (stem, layer1, layer2, layer3, layer4) per architecture.
_CHANNELS = {"resnet18": (64, 64, 128, 256, 512), "resnet50": (64, 256, 512, 1024, 2048)}


class ResNetEncoder(nn.Module):
    """torchvision ResNet without its classifier, as a segkit encoder.

    A ResNet halves the resolution five times: the 7x7/2 stem convolution, the 3x3/2 max pool,
    and the first (strided) blocks of layer2, layer3 and layer4. Each records a Skip with the size
    it restores to and, on request, the feature at that size:

    ======  ================  ===================  ====================
    Skip    size              feature              channels (18 / 50)
    ======  ================  ===================  ====================
    0       input H x W       none (RGB is not     0
                              worth fusing)
    1       H/2               stem output          64 / 64
    2       H/4               layer1 output        64 / 256
    3       H/8               layer2 output        128 / 512
    4       H/16              layer3 output        256 / 1024
    ======  ================  ===================  ====================

    The deepest map is layer4's, at H/32 (512 / 2048 channels). Every downsampling is padded, so
    sizes round up (ceil(H/2)); the upsamplers crop the half cell past an odd edge. There is no
    max pooling at every level, so ``has_max_pooling`` is False and ``max_unpool`` is refused by
    ``build_model``. Submodules keep torchvision's names, so its state dict loads as is (minus
    ``fc``).

    Args:
        return_indices: must be False: a ResNet records no pooling indices.
        return_features: record each level's feature (set by ``build_model`` from the fusion).
    """

    has_max_pooling = False
    torchvision_arch = "resnet18"  # set by each subclass

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """A ResNet has no options besides ``weights`` (refused by name before this)."""

    @classmethod
    def min_input_size(cls, options: Mapping[str, Any]) -> int:
        """1: padded stride-2 layers round sizes up, so any input encodes."""
        return 1

    def __init__(self, return_indices: bool = False, return_features: bool = False) -> None:
        super().__init__()
        if return_indices:
            raise ValueError(
                f"encoder {self.torchvision_arch!r} downsamples with strided convolutions and "
                "records no pooling indices; use an upsampler without needs_indices"
            )
        import torchvision  # lazily: only the ResNet adapters need it

        net = getattr(torchvision.models, self.torchvision_arch)(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        channels = _CHANNELS[self.torchvision_arch]
        self.skip_channels = [0, *channels[:-1]]
        self.out_channels = channels[-1]
        self.return_features = return_features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[Skip]]:
        """Encode ``x`` (B, 3, H, W); return layer4's map and five skips, shallow first."""
        keep = self.return_features
        skips = [Skip((x.shape[-2], x.shape[-1]))]  # input level: restored, never fused
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 64, ceil(H/2), ceil(W/2))
        skips.append(Skip((x.shape[-2], x.shape[-1]), None, x if keep else None))
        x = self.layer1(self.maxpool(x))  # (B, C_1, H/4, W/4), sizes rounded up
        skips.append(Skip((x.shape[-2], x.shape[-1]), None, x if keep else None))
        x = self.layer2(x)  # (B, C_2, H/8, W/8)
        skips.append(Skip((x.shape[-2], x.shape[-1]), None, x if keep else None))
        x = self.layer3(x)  # (B, C_3, H/16, W/16)
        skips.append(Skip((x.shape[-2], x.shape[-1]), None, x if keep else None))
        x = self.layer4(x)  # (B, C_4, H/32, W/32)
        return x, skips

    @classmethod
    def convert_torchvision_state_dict(
        cls, state_dict: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """torchvision's ResNet state dict -> ours: the same names, without the classifier."""
        return {k: v for k, v in state_dict.items() if not k.startswith("fc.")}


class ResNet18Encoder(ResNetEncoder):
    """ResNet-18 encoder (BasicBlocks; skip channels 64, 64, 128, 256; deepest 512)."""

    torchvision_arch = "resnet18"


class ResNet50Encoder(ResNetEncoder):
    """ResNet-50 encoder (Bottlenecks; skip channels 64, 256, 512, 1024; deepest 2048)."""

    torchvision_arch = "resnet50"
