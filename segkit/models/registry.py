"""Name -> class lookup shared by the encoder and upsampler registries, plugins included.

A third-party package adds an upsampler or an encoder under a name through a Python entry point
in the group ``segkit.upsamplers`` or ``segkit.encoders`` (docs/plugins.md)::

    [project.entry-points."segkit.upsamplers"]
    mine = "segkit_mine:MineUp"

The entry points of a kind are listed at its first lookup (their modules are not imported) and
merged after the built-ins; a plugin's module is imported when its name is first used.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TypeVar

T = TypeVar("T", bound=type)


def group(kind: str) -> str:
    """The entry-point group of a kind: ``segkit.upsamplers``, ``segkit.encoders``."""
    return f"segkit.{kind}s"


def _package(ep: EntryPoint) -> str:
    """``name==version`` of the distribution that declares ``ep``."""
    dist = ep.dist
    return f"{dist.name}=={dist.version}" if dist is not None else f"(module {ep.module})"


@cache
def _entry_points(kind: str) -> dict[str, EntryPoint]:
    """Plugin name -> entry point, over every installed distribution (cached per process)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group(kind)):
        if ep.name in found and found[ep.name].value != ep.value:
            raise ValueError(
                f"the packages {_package(found[ep.name])} and {_package(ep)} both register the "
                f"{kind} {ep.name!r} (entry points {group(kind)}); uninstall one of them"
            )
        found[ep.name] = ep
    return found


def plugins(registry: Mapping[str, type], kind: str) -> dict[str, EntryPoint]:
    """The installed plugins of a kind, by name; a name clashing with a built-in is an error.

    Raises:
        ValueError: a plugin named like a built-in, or two packages registering one name.
    """
    found = _entry_points(kind)
    for name, ep in found.items():
        if name in registry:
            raise ValueError(
                f"the package {_package(ep)} registers the {kind} {name!r} (entry points "
                f"{group(kind)}), a name of segkit's built-in {kind}; rename it in that package"
            )
    return found


def plugin_package(kind: str, name: str) -> str | None:
    """``name==version`` of the installed package registering ``name`` as a plugin, else None."""
    ep = _entry_points(kind).get(name)
    return _package(ep) if ep is not None else None


@cache
def _load(ep: EntryPoint, kind: str) -> type:
    """Import a plugin's class (once)."""
    try:
        cls = ep.load()
    except Exception as err:  # the plugin's own import error, in one line
        raise ValueError(
            f"the {kind} {ep.name!r} of the package {_package(ep)} failed to import "
            f"({ep.value}: {type(err).__name__}: {err})"
        ) from None
    if not isinstance(cls, type):
        raise ValueError(
            f"the {kind} {ep.name!r} of the package {_package(ep)} is {ep.value}, not a class"
        )
    return cls


def lookup(registry: Mapping[str, T], name: str | T, kind: str, key: str) -> T:
    """Resolve a registry name (built-in, then plugin), or pass a class through.

    Args:
        registry: short stable names -> built-in classes.
        name: a registered name or a class.
        kind: what the registry holds, for the message and the entry-point group (``"encoder"``).
        key: the config key that names it, for the message (``"model.encoder.name"``).

    Raises:
        ValueError: for an unknown name, listing the valid ones (built-ins first, then plugins);
            or a plugin that clashes with a built-in or does not import.
    """
    if isinstance(name, type):
        return name
    found = plugins(registry, kind)
    if name in registry:
        return registry[name]
    if name not in found:
        valid = [*registry, *found]
        raise ValueError(f"unknown {kind} {name!r} ({key}); valid: {', '.join(valid)}")
    return _load(found[name], kind)
