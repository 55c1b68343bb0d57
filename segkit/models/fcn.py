"""The network: encoder -> decoder -> 1x1 head, and build_model from plain data."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from segkit.errors import ConfigError
from segkit.models.decoder import Decoder, check_decoder_options
from segkit.models.encoders import (
    ENCODERS,
    check_encoder_options,
    create_encoder,
    get_encoder_class,
)
from segkit.models.registry import plugin_package
from segkit.models.upsamplers import UPSAMPLERS, check_upsampler_options, get_upsampler_class
from segkit.models.weights import resolve_weights_file
from segkit.options import ABSENT, is_int, kind, show, wrap


class FCN(nn.Module):
    """Encoder-decoder FCN whose logits have exactly the input's spatial size."""

    def __init__(self, encoder: nn.Module, decoder: Decoder, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.head = nn.Conv2d(decoder.out_channels, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep, skips = self.encoder(x)  # (B, C_deep, H/2^S, W/2^S), S skips
        x = self.decoder(deep, skips)  # (B, C_0, H, W)
        return self.head(x)  # (B, num_classes, H, W)


def _name_and_kwargs(spec: str | Mapping[str, Any] | type, key: str) -> tuple[Any, dict]:
    if isinstance(spec, str | type):
        return spec, {}
    spec = dict(spec)
    if "name" not in spec:
        raise ValueError(f"{key} needs a 'name' entry, got {spec}")
    return spec.pop("name"), spec


def check_pairing(upsampler: str | type, encoder: str | type) -> bool:
    """Whether ``upsampler`` needs pooling indices; fails if ``encoder`` cannot provide them.

    Checked on the classes, so a bad combination fails before anything is built or read (the
    config checks call it too, before training).

    Args:
        upsampler: upsampler registry name or class.
        encoder: encoder registry name or class.

    Returns:
        True when the encoder must record max-pooling indices.

    Raises:
        ValueError: unknown names, or an upsampler that needs indices with an encoder that has no
            max pooling at every downsampling (naming the usable alternatives).
    """
    up_cls = get_upsampler_class(upsampler)
    needs_indices = bool(up_cls.needs_indices)
    if needs_indices and not get_encoder_class(encoder).has_max_pooling:
        up_name = upsampler if isinstance(upsampler, str) else up_cls.__name__
        enc_name = encoder if isinstance(encoder, str) else encoder.__name__
        usable = ", ".join(n for n, c in UPSAMPLERS.items() if not c.needs_indices)
        pooling = ", ".join(n for n, c in ENCODERS.items() if c.has_max_pooling)
        raise ConfigError(
            f"upsampler {up_name!r} (model.upsampler.name) needs max-pooling indices but encoder "
            f"{enc_name!r} (model.encoder.name) has no max pooling at every downsampling; choose "
            f"an upsampler without indices ({usable}) or an encoder with max pooling ({pooling})"
        )
    return needs_indices


def _model_class(key: str, name: Any, get: Any, registry: Mapping) -> type:
    """The registry's class for ``name``; not a name at all (null, a number) fails here."""
    if not isinstance(name, str | type):
        raise ConfigError(
            f"{key}={show(name)} is {kind(name)}, expected a name; valid: {', '.join(registry)}"
        )
    try:
        return get(name)
    except ValueError as err:
        raise wrap(key, name, err) from None


def check_model_options(
    model: Mapping[str, Any], input_sizes: Mapping[str, Any] | None = None
) -> None:
    """Check the ``model`` node without building the network.

    Names against the registries, options against the classes (their own rules), the pairing,
    the weights file (found, not read), and that the encoder can halve inputs of
    ``input_sizes`` (config key -> side in pixels) at every stage.

    Raises:
        ConfigError: one line naming the key, the value and the fix.
    """
    check_decoder_options(model.get("fusion", ABSENT), model.get("decoder_convs", ABSENT))
    encoder, upsampler = model.get("encoder"), model.get("upsampler")
    if not isinstance(encoder, Mapping) or not isinstance(upsampler, Mapping):
        return  # only the config tree's form ({name: ..., options}) is checked here
    enc_name, up_name = encoder.get("name"), upsampler.get("name")
    enc_cls = _model_class("model.encoder.name", enc_name, get_encoder_class, ENCODERS)
    _model_class("model.upsampler.name", up_name, get_upsampler_class, UPSAMPLERS)
    options = {k: v for k, v in encoder.items() if k not in ("name", "weights")}
    check_encoder_options(enc_name, options)
    check_upsampler_options(up_name, upsampler)
    check_pairing(up_name, enc_name)
    weights = encoder.get("weights")
    if weights is not None:
        try:  # a path or a hub-cache lookup, nothing read
            resolve_weights_file(str(weights), enc_cls.torchvision_arch, enc_name)
        except (ValueError, FileNotFoundError) as err:
            raise wrap("model.encoder.weights", weights, err) from None
    least = enc_cls.min_input_size(options)
    stages = int(math.log2(least))
    for key, size in (input_sizes or {}).items():
        if is_int(size) and size < least:
            raise ConfigError(
                f"{key}={size} is smaller than {least} px, the least that encoder {enc_name!r} with "
                f"{stages} pooling stages can halve; set {key} >= {least} or use fewer "
                "stages (model.encoder.widths)"
            )


def build_model(
    num_classes: int,
    encoder: str | Mapping[str, Any] = "vgg",
    upsampler: str | Mapping[str, Any] | type = "nearest",
    fusion: str = "none",
    decoder_convs: int = 2,
) -> FCN:
    """Build the FCN from plain data (names and numbers), as stored in checkpoints.

    Args:
        num_classes: output classes.
        encoder: registry name, or a mapping ``{name: ..., weights: ..., **kwargs}``; ``weights``
            is None, a torchvision weights name found in the torch hub cache, or a local file
            (see :func:`segkit.models.weights.load_encoder_weights`).
        upsampler: registry name or class, or a mapping ``{name: ..., **kwargs}``.
        fusion: ``none``, ``add`` or ``concat``.
        decoder_convs: ConvNormAct blocks per decoder block.

    Returns:
        The network.

    Raises:
        ValueError: unknown names, or an upsampler that needs pooling indices with an encoder
            that has no max pooling at every level (checked before anything is built).
        FileNotFoundError: encoder weights neither in the torch hub cache nor on disk.
    """
    enc_name, enc_kwargs = _name_and_kwargs(encoder, "model.encoder")
    up_name, up_kwargs = _name_and_kwargs(upsampler, "model.upsampler")
    up_cls = get_upsampler_class(up_name)
    needs_indices = check_pairing(up_name, enc_name)
    enc = create_encoder(
        enc_name, return_indices=needs_indices, return_features=fusion != "none", **enc_kwargs
    )
    # Every encoder declares skip_channels (per Skip, shallow to deep) and out_channels (deepest).
    decoder = Decoder(enc.skip_channels, enc.out_channels, up_cls, fusion, decoder_convs, up_kwargs)
    return FCN(enc, decoder, num_classes)


def plugin_packages(model: Mapping[str, Any]) -> dict[str, str]:
    """The plugins a :func:`build_model` spec names: name -> ``package==version`` providing it.

    Saved in checkpoints, so loading one without the package names what to install.
    """
    found = {}
    for part, default in (("encoder", "vgg"), ("upsampler", "nearest")):
        name, _ = _name_and_kwargs(model.get(part, default), f"model.{part}")
        package = plugin_package(part, name) if isinstance(name, str) else None
        if package is not None:
            found[name] = package
    return found
