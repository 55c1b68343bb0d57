"""Checking option values: the one-line messages every part of segkit uses for its own settings.

Each part that consumes settings declares its rules beside the code that uses them (the data
module in ``segkit.data.settings``, the optimizer in ``segkit.training.optim``, the loss in
``segkit.training.loss``, the model's classes, Boundary IoU) and checks them when it is built.
``segkit.training.checks`` asks each part to check its config node before anything heavy runs, so
a typo costs a second. This module holds only the shared machinery; it imports the standard
library and ``segkit.errors``, so checks of types and ranges need neither torch nor Lightning.

A message names the full config key, the value as it would be typed in an override, what is
allowed and an example: ``data.batch_size='abc' is a string, expected an integer >= 1; set e.g.
data.batch_size=16``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segkit.errors import ConfigError

ABSENT: Any = object()  # a key the node does not have (left to the consumer's default)


def show(value: Any) -> str:
    """``value`` as it would be typed in an override: strings quoted, ``null``, ``true``, ``[a,b]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{show(v)}" for k, v in value.items()) + "}"
    return str(value)


def kind(value: Any) -> str:
    """What ``value`` is, for a message: ``a string``, ``an integer``, ``a list``, ``null``."""
    names = {bool: "a boolean", str: "a string", float: "a float", int: "an integer"}
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return names.get(type(value), type(value).__name__)


def is_int(value: Any) -> bool:
    """An integer that is not a boolean (True is an int to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite integer or float (no booleans)."""
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "int": is_int,
    "number": is_number,
    "bool": lambda v: isinstance(v, bool),
}


@dataclass(frozen=True)
class Rule:
    """The type and range of one scalar setting.

    Attributes:
        type: ``int``, ``number`` or ``bool``.
        test: the range test, on a value of the right type.
        allowed: what is allowed, for the message (``an integer >= 1``).
        example: a valid value, for the fix (``16``).
        nullable: null means "the default behaviour" and is accepted.
    """

    type: str
    test: Callable[[Any], bool]
    allowed: str
    example: str
    nullable: bool = False


def type_error(key: str, value: Any, expected: str, example: str) -> ConfigError:
    """``<key>=<value> is a string, expected <expected>; set e.g. <example>``."""
    return ConfigError(
        f"{key}={show(value)} is {kind(value)}, expected {expected}; set e.g. {example}"
    )


def check_value(key: str, value: Any, rule: Rule) -> None:
    """Fail in one line when ``value`` (at config key ``key``) breaks ``rule``; absent is fine."""
    if value is ABSENT or (value is None and rule.nullable):
        return
    example = f"{key}={rule.example}"
    if not _TYPE_TESTS[rule.type](value):
        raise type_error(key, value, rule.allowed, example)
    if not rule.test(value):
        raise ConfigError(
            f"{key}={show(value)} is out of range, expected {rule.allowed}; set e.g. {example}"
        )


def check_values(prefix: str, values: Mapping[str, Any], rules: Mapping[str, Rule]) -> None:
    """Check each value of ``values`` that has a rule; keys are named ``<prefix>.<name>``."""
    for name, rule in rules.items():
        key = f"{prefix}.{name}" if prefix else name
        check_value(key, values.get(name, ABSENT), rule)


def numbers(key: str, value: Any, length: int | None, example: str) -> list | None:
    """``value`` as a list of numbers (None when absent or null), checked for type and length."""
    if value is ABSENT or value is None:
        return None
    if not isinstance(value, list | tuple) or not all(is_number(v) for v in value):
        raise ConfigError(f"{key}={show(value)} is not a list of numbers; set e.g. {key}={example}")
    if length is not None and len(value) != length:
        raise ConfigError(
            f"{key}={show(value)} has {len(value)} values, expected {length}; set e.g. {key}={example}"
        )
    return list(value)


def wrap(key: str, value: Any, err: Exception) -> ConfigError:
    """A ConfigError from another check's one-line error, prefixed with the key unless it names it."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ConfigError(message if key in message else f"{key}={show(value)}: {message}")


def check_writable_dir(key: str, path: Path, choose: str) -> None:
    """``path`` is a folder, or can be made as one, and segkit can write there.

    Args:
        key: the config key that sets ``path``, for the message.
        path: the folder.
        choose: how to pick another folder (the fix).
    """
    path = path.expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{key}={path} is a file, not a folder; {choose}")
    existing = path
    while not existing.exists():  # the nearest parent that exists decides whether mkdir works
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{key}={path} cannot be created because {existing} is a file; {choose}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{key}={path} is not writable ({existing} denies writing); {choose}, "
            f"or make {existing} writable"
        )
