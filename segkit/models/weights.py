"""Pretrained encoder weights: torchvision names read from the torch hub cache, or local files.

Nothing here downloads. A torchvision weights name (``IMAGENET1K_V1``,
``VGG16_BN_Weights.IMAGENET1K_V1``, ``DEFAULT``, ...) is looked up in the file torchvision itself
would have cached, ``torch.hub.get_dir()/checkpoints/<file name of the weights URL>``; when that
file is absent the error names the path and the fix. torchvision is imported only to resolve
names, so ``segkit.models`` imports only torch.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

_PATH_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".tar"}


def torchvision_weights_path(arch: str, name: str) -> tuple[str, Path]:
    """Where torchvision caches the weights ``name`` of ``arch``.

    Args:
        arch: torchvision model name, e.g. ``resnet50``.
        name: a member of the model's weights enum, bare (``IMAGENET1K_V2``, ``DEFAULT``) or
            qualified (``ResNet50_Weights.IMAGENET1K_V2``).

    Returns:
        The qualified name of the resolved weights and the cache file it would be read from.

    Raises:
        ValueError: a name of another model's enum, or an unknown member (listing the valid ones).
    """
    from torchvision.models import get_model_weights  # lazily: only weights names need it

    enum = get_model_weights(arch)
    enum_name, _, member = name.rpartition(".")
    if enum_name and enum_name != enum.__name__:
        raise ValueError(
            f"weights {name!r} are not for {arch}; it takes {enum.__name__}.<member> "
            f"with member one of {', '.join(enum.__members__)}"
        )
    if member not in enum.__members__:
        raise ValueError(
            f"unknown weights {name!r} for {arch} (model.encoder.weights); valid: "
            f"{', '.join(enum.__members__)}, or a local state-dict file"
        )
    weights = enum[member]  # DEFAULT is an alias of the recommended member
    filename = os.path.basename(urlparse(weights.url).path)  # as torch.hub names its cache file
    return f"{enum.__name__}.{weights.name}", Path(torch.hub.get_dir()) / "checkpoints" / filename


def _looks_like_path(spec: str) -> bool:
    return (
        "/" in spec
        or os.sep in spec
        or spec.startswith("~")
        or (Path(spec).suffix.lower() in _PATH_SUFFIXES)
    )


def resolve_weights_file(spec: str | os.PathLike, arch: str | None, label: str) -> Path:
    """The file that the ``weights`` spec of encoder ``label`` refers to; never downloads.

    Args:
        spec: a local file path, or a torchvision weights name of ``arch``.
        arch: the torchvision model the encoder mirrors, or None if it mirrors none.
        label: the encoder's registry name, for messages.

    Raises:
        FileNotFoundError: a local path that does not exist, or weights missing from the cache.
        ValueError: a weights name for an encoder without a torchvision counterpart, or a bad name.
    """
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if isinstance(spec, os.PathLike) or _looks_like_path(str(spec)):
        raise FileNotFoundError(
            f"weights file {str(path)!r} for encoder {label!r} does not exist "
            "(model.encoder.weights); pass an existing state-dict file or a torchvision weights name"
        )
    if arch is None:
        raise ValueError(
            f"encoder {label!r} has no torchvision counterpart, so weights {spec!r} cannot be a "
            "torchvision name; pass a local state-dict file, or use vgg16_bn/resnet18/resnet50"
        )
    qualified, cached = torchvision_weights_path(arch, str(spec))
    if not cached.is_file():
        raise FileNotFoundError(
            f"{qualified} for encoder {label!r} are not in the torch hub cache, expected at "
            f"{cached} (segkit never downloads); fix: on a machine with internet run python -c "
            f"\"import torchvision; torchvision.models.{arch}(weights='{qualified}')\" and copy "
            "the cached file to that path (or point TORCH_HOME at a cache holding it), or set "
            "model.encoder.weights to a local state-dict file"
        )
    return cached


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    """Load a state dict (or a checkpoint holding one under ``state_dict``) onto the CPU."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)  # no arbitrary pickles
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"cannot read weights {str(path)!r} as a state dict ({first}); save one with "
            "torch.save(model.state_dict(), path)"
        ) from err
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]  # a Lightning checkpoint
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"weights {str(path)!r} hold no state dict (a mapping of name -> tensor)")
    return obj


def _select(expected: list[str], state: Mapping[str, torch.Tensor]) -> dict | None:
    """Our keys found in ``state`` under one common prefix ('', 'encoder.', 'net.encoder.', ...).

    ``num_batches_tracked`` is optional: checkpoints older than PyTorch 0.4, such as torchvision's
    original ImageNet files, lack it.
    """
    required = [k for k in expected if not k.endswith("num_batches_tracked")]
    first = required[0]
    prefixes = {
        k[: len(k) - len(first)]
        for k in state
        if k == first or (k.endswith(first) and k[-len(first) - 1] == ".")
    }
    for prefix in sorted(prefixes, key=len):
        if all(prefix + k in state for k in required):
            return {k: state[prefix + k] for k in expected if prefix + k in state}
    return None


def load_encoder_weights(encoder: nn.Module, spec: str | os.PathLike, label: str) -> None:
    """Load pretrained weights into ``encoder`` in place.

    ``spec`` is a torchvision weights name (resolved in the hub cache, see
    :func:`torchvision_weights_path`) or a local file holding a torchvision-format state dict of
    the encoder's ``torchvision_arch``, an encoder state dict of ours, or a whole segkit model or
    Lightning checkpoint (its encoder's tensors are picked out by prefix).

    Args:
        encoder: the encoder to fill.
        spec: weights name or file.
        label: the encoder's registry name, for messages.

    Raises:
        FileNotFoundError: missing file or cache entry (the message names the path and the fix).
        ValueError: unreadable file, or tensors that do not fit the encoder.
    """
    arch = getattr(encoder, "torchvision_arch", None)
    path = resolve_weights_file(spec, arch, label)
    state = _read_state_dict(path)
    expected = list(encoder.state_dict())
    selected = _select(expected, state)
    convert = getattr(encoder, "convert_torchvision_state_dict", None)
    if selected is None and convert is not None:
        selected = _select(expected, convert(state))
    if selected is None:
        source = f"a torchvision {arch} state dict or " if arch else ""
        raise ValueError(
            f"weights {str(path)!r} do not fit encoder {label!r}: expected {source}a segkit "
            f"encoder/model state dict with keys like {expected[0]!r}, got keys like "
            f"{next(iter(state), '<none>')!r}"
        )
    own = encoder.state_dict()
    for key, value in selected.items():
        if value.shape != own[key].shape:
            raise ValueError(
                f"weights {str(path)!r} do not fit encoder {label!r}: {key} has shape "
                f"{tuple(value.shape)}, the encoder {tuple(own[key].shape)}"
            )
    for key in expected:  # absent only for num_batches_tracked, see _select
        selected.setdefault(key, own[key])
    encoder.load_state_dict(selected, strict=True)
