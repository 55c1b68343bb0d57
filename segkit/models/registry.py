"""Name -> class lookup shared by the encoder and upsampler registries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T", bound=type)


def lookup(registry: Mapping[str, T], name: str | T, kind: str, key: str) -> T:
    """Resolve a registry name, or pass a class through.

    Args:
        registry: short stable names -> classes.
        name: a registered name or a class.
        kind: what the registry holds, for the message (``"encoder"``).
        key: the config key that names it, for the message (``"model.encoder.name"``).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if isinstance(name, type):
        return name
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r} ({key}); valid: {', '.join(registry)}")
    return registry[name]
