"""Encoders: image -> (deepest feature map, one Skip record per 2x downsampling, shallow first).

What an encoder declares for ``build_model`` and the decoder:

- ``skip_channels``: channels of each Skip's feature, shallow to deep (0 for a level that never
  has a feature); ``out_channels``: channels of the deepest map.
- ``has_max_pooling`` (class attribute): every downsampling is a 2x2/2 max pool that can record
  indices, which upsamplers with ``needs_indices`` require.
- ``torchvision_arch`` (class attribute, optional): the torchvision model whose weights load into
  it, with ``convert_torchvision_state_dict`` mapping that model's keys to the encoder's.
- constructor keywords ``return_indices`` and ``return_features``, set by ``build_model``.

Pretrained weights (``weights=``) are resolved by :mod:`segkit.models.weights`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from segkit.errors import ConfigError
from segkit.models.blocks import ConvNormAct, Encoder, Skip, tracing
from segkit.models.registry import lookup
from segkit.models.resnet import ResNet18Encoder, ResNet50Encoder
from segkit.models.weights import load_encoder_weights
from segkit.options import ABSENT, is_int, show


class VGGEncoder(nn.Module):
    """VGG-style encoder (the SegNet / DeconvNet / FCN family).

    Each stage is ``convs_per_stage`` ConvNormAct blocks followed by a 2x2/2 max pool. Before
    pooling, the stage records a :class:`Skip` with its size and, on request, the pooling indices
    and the pre-pooling feature map.

    Args:
        widths: output channels of each stage, shallow to deep.
        convs_per_stage: ConvNormAct blocks per stage (an int for all, or one per stage).
        in_channels: image channels.
        conv_bias: give the convolutions a bias (torchvision's VGG-BN layout has one).
        return_indices: record max-pooling indices (set by ``build_model`` from the upsampler).
        return_features: record pre-pooling features (set by ``build_model`` from the fusion).
    """

    has_max_pooling = True
    torchvision_arch: str | None = None

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """``widths``: integers >= 1; ``convs_per_stage``: an integer >= 1 or one per stage."""
        widths = options.get("widths", ABSENT)
        if widths is not ABSENT and (
            not isinstance(widths, list | tuple)
            or not widths
            or not all(is_int(w) and w >= 1 for w in widths)
        ):
            raise ConfigError(
                f"model.encoder.widths={show(widths)} must be a non-empty list of integers >= 1 "
                "(one per stage); set e.g. model.encoder.widths=[16,32,64,128,256]"
            )
        convs = options.get("convs_per_stage", ABSENT)
        if convs is not ABSENT:
            stages = len(widths) if isinstance(widths, list | tuple) else None
            each = convs if isinstance(convs, list | tuple) else [convs]
            if not all(is_int(c) and c >= 1 for c in each) or (
                isinstance(convs, list | tuple) and stages is not None and len(convs) != stages
            ):
                raise ConfigError(
                    f"model.encoder.convs_per_stage={show(convs)} must be an integer >= 1 or one "
                    f"per stage ({stages} stages); set e.g. model.encoder.convs_per_stage=2"
                )

    @classmethod
    def min_input_size(cls, options: Mapping[str, Any]) -> int:
        """``2 ** stages``: every stage halves the input with a 2x2/2 max pool."""
        widths = options.get("widths", inspect.signature(cls).parameters["widths"].default)
        return 2 ** len(widths)

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128, 256),
        convs_per_stage: int | Sequence[int] = 2,
        in_channels: int = 3,
        conv_bias: bool = False,
        return_indices: bool = False,
        return_features: bool = False,
    ) -> None:
        super().__init__()
        self.check_options({"widths": list(widths), "convs_per_stage": convs_per_stage})
        widths = [int(w) for w in widths]
        convs = (
            [int(convs_per_stage)] * len(widths)
            if isinstance(convs_per_stage, int)
            else [int(c) for c in convs_per_stage]
        )
        self.skip_channels = list(widths)  # each stage's pre-pooling feature
        self.out_channels = widths[-1]  # pooling keeps the last stage's channels
        self.convs_per_stage = convs
        self.return_indices = return_indices
        self.return_features = return_features
        stages = []
        for width, n in zip(widths, convs, strict=True):
            blocks = [
                ConvNormAct(in_channels if i == 0 else width, width, bias=conv_bias)
                for i in range(n)
            ]
            stages.append(nn.Sequential(*blocks))
            in_channels = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[Skip]]:
        """Encode ``x`` (B, 3, H, W); return the deepest map and the stages' skips, shallow first."""
        min_size = 2 ** len(self.stages)
        if not tracing() and min(x.shape[-2:]) < min_size:
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


class VGG16BNEncoder(VGGEncoder):
    """VGG16-BN laid out like torchvision's ``vgg16_bn().features``, so ImageNet weights load.

    Five stages of 2, 2, 3, 3, 3 biased 3x3 convolutions (64, 128, 256, 512, 512 channels) with
    BatchNorm and ReLU, each ending in a 2x2/2 max pool: the SegNet / DeconvNet encoder. The
    deepest map equals ``torchvision.models.vgg16_bn().features(x)`` under the mapped weights.

    Args:
        in_channels: image channels (3 for ImageNet weights).
        return_indices, return_features: as in :class:`VGGEncoder`.
    """

    torchvision_arch = "vgg16_bn"
    WIDTHS = (64, 128, 256, 512, 512)
    CONVS = (2, 2, 3, 3, 3)

    @classmethod
    def min_input_size(cls, options: Mapping[str, Any]) -> int:
        return 2 ** len(cls.WIDTHS)

    def __init__(
        self, in_channels: int = 3, return_indices: bool = False, return_features: bool = False
    ) -> None:
        super().__init__(
            self.WIDTHS,
            self.CONVS,
            in_channels,
            conv_bias=True,  # torchvision's layout, so its weights load
            return_indices=return_indices,
            return_features=return_features,
        )

    @classmethod
    def torchvision_key_map(cls) -> dict[str, str]:
        """Module prefixes of torchvision's ``vgg16_bn`` (``features.<i>``) -> ours.

        torchvision numbers ``features`` flat: per conv a Conv2d, BatchNorm2d and ReLU (3
        entries), per stage one MaxPool2d; ours nests ``stages.<s>.<j>.{0: conv, 1: norm}``.
        """
        mapping, i = {}, 0
        for s, n in enumerate(cls.CONVS):
            for j in range(n):
                mapping[f"features.{i}"] = f"stages.{s}.{j}.0"
                mapping[f"features.{i + 1}"] = f"stages.{s}.{j}.1"
                i += 3  # conv, norm, relu
            i += 1  # the stage's max pool, which has no state
        return mapping

    @classmethod
    def convert_torchvision_state_dict(
        cls, state_dict: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Rename a torchvision ``vgg16_bn`` state dict to ours, dropping the classifier.

        Accepts the whole model's keys (``features.0.weight``, ...) or those of its ``features``
        alone (``0.weight``, ...).
        """
        mapping = cls.torchvision_key_map()
        out = {}
        for key, value in state_dict.items():
            module, _, param = key.rpartition(".")
            module = module if module.startswith("features.") else f"features.{module}"
            if module in mapping:
                out[f"{mapping[module]}.{param}"] = value
        return out


ENCODERS: dict[str, type[Encoder]] = {
    "vgg": VGGEncoder,
    "vgg16_bn": VGG16BNEncoder,
    "resnet18": ResNet18Encoder,
    "resnet50": ResNet50Encoder,
}


def get_encoder_class(name: str | type[nn.Module]) -> type[nn.Module]:
    """Resolve an encoder registry name (or pass a class through); unknown names list the valid."""
    return lookup(ENCODERS, name, "encoder", "model.encoder.name")


def check_encoder_options(name: str | type[nn.Module], options: Mapping[str, Any]) -> None:
    """Check ``model.encoder``'s options: keys the constructor takes, then the class's own rules.

    Args:
        name: registry name or class.
        options: constructor keywords, without ``name`` and ``weights``.

    Raises:
        ConfigError: options the constructor lacks (listing the valid ones), or bad values.
        ValueError: an unknown name, listing the valid ones.
    """
    cls = get_encoder_class(name)
    label = name if isinstance(name, str) else cls.__name__
    params = inspect.signature(cls).parameters
    unknown = sorted(set(options) - set(params))
    # Switching model.encoder.name keeps the other keys of the config node; say which to drop.
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        valid = [p for p in params if p not in ("return_indices", "return_features")]
        raise ConfigError(
            f"encoder {label!r} takes no option {', '.join(unknown)} (model.encoder); "
            f"valid: {', '.join(['name', 'weights', *valid])}; switch encoders with "
            f"model/encoder={label}"
        )
    cls.check_options(options)


def create_encoder(
    name: str | type[nn.Module], weights: str | None = None, **kwargs: Any
) -> nn.Module:
    """Build an encoder from its registry name (or class) and keyword arguments.

    Args:
        name: registry name or class.
        weights: None (random initialisation), a torchvision weights name such as
            ``IMAGENET1K_V1`` or ``VGG16_BN_Weights.IMAGENET1K_V1`` (read from the torch hub
            cache, never downloaded), or a local state-dict file; see
            :func:`segkit.models.weights.load_encoder_weights`.
        **kwargs: constructor arguments of the encoder.

    Returns:
        The encoder.

    Raises:
        ValueError: for an unknown name, listing the valid ones, or unusable weights.
        FileNotFoundError: weights that are neither in the cache nor on disk.
    """
    cls = get_encoder_class(name)
    label = name if isinstance(name, str) else cls.__name__
    check_encoder_options(name, kwargs)
    encoder = cls(**kwargs)
    if weights is not None:
        load_encoder_weights(encoder, weights, label)
    return encoder
