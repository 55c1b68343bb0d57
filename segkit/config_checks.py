"""Cheap checks of the composed train config: bad values fail in one line before any real work.

``segkit-train`` calls :func:`validate_train_config` first thing in ``run()``, so a typo costs a
second instead of a model build, a Trainer start and a failed first step. Nothing heavy runs: no
network is built, Lightning is not imported, and the dataset is touched only by a few file checks
(the devkit layout, the two split lists and their files' presence, the first training mask
against the class list).

Every failure of a config value is a :class:`ConfigError` with one line that names the key, the
bad value and the fix. Types and ranges are checked first and need no torch. Names are then checked
against the registries themselves (importing ``segkit.models``, hence torch, which the run needs
next anyway) and the upsampler/encoder pairing by the model builder's own check, so no list of
names is copied here (the optimizer and schedule names come from ``segkit.schedule``).

Deliberately not rejected (see ``docs/errors.md``): a ``data.crop_size`` larger than the rescaled
images (``base_size * scale_range``), since the training crop pads images with 0 and masks with
void (255), which neither the loss nor the metrics count; and ``trainer.devices`` / strategy
combinations, which the launch checks in ``segkit.cli.train`` own.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from segkit.errors import ConfigError
from segkit.schedule import OPTIMIZERS, SCHEDULES

# data.class_names may name one of these built-in lists (segkit.data.datamodule)
BUILTIN_CLASS_LISTS = ("voc", "synthetic")
SEED_MAX = 2**32 - 1  # numpy's seed range, which Lightning's seed_everything enforces

_ABSENT = object()


def show(value: Any) -> str:
    """``value`` as it would be typed in an override: strings quoted, ``null``, ``true``, ``[a,b]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple | ListConfig):
        return "[" + ",".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping | DictConfig):
        return "{" + ",".join(f"{k}:{show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _kind(value: Any) -> str:
    names = {bool: "a boolean", str: "a string", float: "a float", int: "an integer"}
    if value is None:
        return "null"
    if isinstance(value, list | tuple | ListConfig):
        return "a list"
    if isinstance(value, Mapping | DictConfig):
        return "a mapping"
    return names.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _get(cfg: DictConfig, key: str) -> Any:
    """The resolved value at ``key`` (plain lists and dicts), or ``_ABSENT``."""
    try:
        value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True)
    except MissingMandatoryValue:
        raise ConfigError(
            f"{key} is not set (???); set it on the command line: {key}=..."
        ) from None
    except OmegaConfBaseException as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(f"{key} cannot be resolved ({first}); fix its interpolation") from None
    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    return value


def _wrap(key: str, value: Any, err: Exception) -> ConfigError:
    """A ConfigError from another module's one-line error, prefixed with the key unless it names it."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ConfigError(message if key in message else f"{key}={show(value)}: {message}")


# key -> (expected type: "int" | "number" | "bool", test, what is allowed, example, null allowed)
_Rule = tuple[str, Callable[[Any], bool], str, str, bool]
_RULES: dict[str, _Rule] = {
    "seed": ("int", lambda v: 0 <= v <= SEED_MAX, f"an integer in [0, {SEED_MAX}]", "42", True),
    "channels_last": ("bool", lambda v: True, "true or false", "false", False),
    "compile": ("bool", lambda v: True, "true or false", "false", False),
    "threads": ("int", lambda v: v >= 1, "an integer >= 1 or null", "1", True),
    "data.batch_size": ("int", lambda v: v >= 1, "an integer >= 1", "16", False),
    "data.val_batch_size": ("int", lambda v: v >= 1, "an integer >= 1", "1", False),
    "data.num_workers": ("int", lambda v: v >= 0, "an integer >= 0", "2", False),
    "data.crop_size": ("int", lambda v: v >= 1, "an integer >= 1", "512", False),
    "data.base_size": ("int", lambda v: v >= 1, "an integer >= 1", "520", False),
    "data.val_size": ("int", lambda v: v >= 1, "an integer >= 1 or null", "null", True),
    "data.hflip": ("number", lambda v: 0 <= v <= 1, "a probability in [0, 1]", "0.5", False),
    "data.in_memory": ("bool", lambda v: True, "true or false", "false", False),
    "model.decoder_convs": ("int", lambda v: v >= 1, "an integer >= 1", "2", False),
    "optim.lr": ("number", lambda v: v > 0, "a number > 0", "0.01", False),
    "optim.weight_decay": ("number", lambda v: v >= 0, "a number >= 0", "0.0001", False),
    "optim.norm_weight_decay": ("number", lambda v: v >= 0, "a number >= 0", "0.0", False),
    "optim.momentum": ("number", lambda v: 0 <= v < 1, "a number in [0, 1)", "0.9", False),
    "optim.nesterov": ("bool", lambda v: True, "true or false", "false", False),
    "optim.power": ("number", lambda v: v >= 0, "a number >= 0", "0.9", False),
    "optim.warmup_steps": ("int", lambda v: v >= 0, "an integer >= 0", "50", False),
    "trainer.max_epochs": (
        "int", lambda v: v >= 1 or v == -1, "an integer >= 1, or -1 for no limit", "10", True
    ),
    "trainer.max_steps": (
        "int", lambda v: v >= 1 or v == -1, "an integer >= 1, or -1 for no limit", "-1", False
    ),
    "trainer.limit_train_batches": (
        "number",
        lambda v: v >= 1 if _is_int(v) else 0 < v <= 1,
        "an integer >= 1 (batches) or a fraction in (0, 1]",
        "1.0",
        False,
    ),
    "trainer.limit_val_batches": (
        "number",
        lambda v: v >= 0 if _is_int(v) else 0 <= v <= 1,
        "an integer >= 0 (batches) or a fraction in [0, 1]",
        "1.0",
        False,
    ),
    "loss.background_weight": ("number", lambda v: v > 0, "a number > 0", "1.0", False),
    "boundary.dilation_ratio": ("number", lambda v: v > 0, "a number > 0", "0.02", False),
    "boundary.width": ("int", lambda v: v >= 1, "an integer >= 1 or null", "null", True),
}  # fmt: skip
_TYPE_TESTS = {"int": _is_int, "number": _is_number, "bool": lambda v: isinstance(v, bool)}


def _check_scalar(cfg: DictConfig, key: str) -> None:
    """Type and range of one scalar of :data:`_RULES` (absent keys are left to their defaults)."""
    kind, test, allowed, example, nullable = _RULES[key]
    value = _get(cfg, key)
    if value is _ABSENT or (value is None and nullable):
        return
    fix = f"set e.g. {key}={example}"
    if not _TYPE_TESTS[kind](value):
        raise ConfigError(f"{key}={show(value)} is {_kind(value)}, expected {allowed}; {fix}")
    if not test(value):
        raise ConfigError(f"{key}={show(value)} is out of range, expected {allowed}; {fix}")


def _numbers(cfg: DictConfig, key: str, length: int | None, example: str) -> list | None:
    """The list of numbers at ``key`` (None when absent or null), checked for type and length."""
    value = _get(cfg, key)
    if value is _ABSENT or value is None:
        return None
    if not isinstance(value, list) or not all(_is_number(v) for v in value):
        raise ConfigError(f"{key}={show(value)} is not a list of numbers; set e.g. {key}={example}")
    if length is not None and len(value) != length:
        raise ConfigError(
            f"{key}={show(value)} has {len(value)} values, expected {length}; set e.g. {key}={example}"
        )
    return value


def _check_lists(cfg: DictConfig) -> None:
    """scale_range, mean/std, betas, encoder widths and convs per stage."""
    scale = _numbers(cfg, "data.scale_range", 2, "[0.5,2.0]")
    if scale is not None:
        lo, hi = scale
        if not 0 < lo <= hi:
            raise ConfigError(
                f"data.scale_range={show(scale)} needs 0 < min <= max; set e.g. "
                "data.scale_range=[0.5,2.0] (or [1.0,1.0] for no rescaling)"
            )
        base = _get(cfg, "data.base_size")
        if _is_int(base) and int(lo * base) < 1:  # RandomResize's smallest shorter side
            raise ConfigError(
                f"data.scale_range={show(scale)} with data.base_size={base} rescales images to a "
                f"shorter side of {int(lo * base)} px; raise the minimum scale to >= {1 / base:.3g}"
            )
    _numbers(cfg, "data.mean", 3, "[0.485,0.456,0.406]")
    std = _numbers(cfg, "data.std", 3, "[0.229,0.224,0.225]")
    if std is not None and min(std) <= 0:
        raise ConfigError(
            f"data.std={show(std)} divides by a value <= 0; set e.g. data.std=[0.229,0.224,0.225]"
        )
    betas = _numbers(cfg, "optim.betas", 2, "[0.9,0.999]")
    if betas is not None and not all(0 <= b < 1 for b in betas):
        raise ConfigError(
            f"optim.betas={show(betas)} must lie in [0, 1); set e.g. optim.betas=[0.9,0.999]"
        )
    widths = _get(cfg, "model.encoder.widths")
    if widths is not _ABSENT and (
        not isinstance(widths, list) or not widths or not all(_is_int(w) and w >= 1 for w in widths)
    ):
        raise ConfigError(
            f"model.encoder.widths={show(widths)} must be a non-empty list of integers >= 1 (one "
            "per stage); set e.g. model.encoder.widths=[16,32,64,128,256]"
        )
    convs = _get(cfg, "model.encoder.convs_per_stage")
    if convs is not _ABSENT:
        stages = len(widths) if isinstance(widths, list) else None
        each = convs if isinstance(convs, list) else [convs]
        if not all(_is_int(c) and c >= 1 for c in each) or (
            isinstance(convs, list) and stages is not None and len(convs) != stages
        ):
            raise ConfigError(
                f"model.encoder.convs_per_stage={show(convs)} must be an integer >= 1 or one per "
                f"stage ({stages} stages); set e.g. model.encoder.convs_per_stage=2"
            )


def _check_cross(cfg: DictConfig) -> None:
    """Combinations of values that are fine alone."""
    val_size, val_batch = _get(cfg, "data.val_size"), _get(cfg, "data.val_batch_size")
    if val_size not in (None, _ABSENT) and val_batch not in (1, _ABSENT):
        raise ConfigError(
            f"data.val_size={val_size} needs data.val_batch_size=1, got {val_batch} (resized images "
            "and original-size masks cannot be padded together); set data.val_batch_size=1 or "
            "data.val_size=null"
        )
    epochs, steps = _get(cfg, "trainer.max_epochs"), _get(cfg, "trainer.max_steps")
    if epochs == -1 and steps in (-1, _ABSENT):
        raise ConfigError(
            "trainer.max_epochs=-1 with trainer.max_steps=-1 never stops (and the LR schedule "
            "needs a length); set trainer.max_epochs >= 1 or trainer.max_steps >= 1"
        )
    callbacks = _get(cfg, "callbacks")
    if _get(cfg, "trainer.enable_progress_bar") is False and isinstance(callbacks, dict):
        for name, entry in callbacks.items():
            target = entry.get("_target_", "") if isinstance(entry, dict) else ""
            if target.endswith("ProgressBar"):
                raise ConfigError(
                    f"trainer.enable_progress_bar=false, but callbacks.{name} is a progress bar; "
                    f"also remove it with ~callbacks.{name} (or keep the bar)"
                )
    if _get(cfg, "optim.nesterov") is True and _get(cfg, "optim.momentum") in (0, 0.0):
        raise ConfigError(
            "optim.nesterov=true needs optim.momentum > 0, got 0; set optim.momentum=0.9 or "
            "optim.nesterov=false"
        )


def _check_strings(cfg: DictConfig) -> None:
    """The dataset's folder and list names."""
    for key, example in (
        ("data.root", "data/voc"),
        ("data.train_split", "train"),
        ("data.val_split", "val"),
        ("data.mask_dir", "SegmentationClass"),
    ):
        value = _get(cfg, key)
        if value is not _ABSENT and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(
                f"{key}={show(value)} must be a non-empty string; set e.g. {key}={example}"
            )


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


def _check_paths(cfg: DictConfig) -> None:
    """The run's output folder, and the synthetic set's folder when it is still to be written."""
    output_dir = _get(cfg, "paths.output_dir")
    if isinstance(output_dir, str):
        check_writable_dir(
            "paths.output_dir",
            Path(output_dir),
            "choose another folder with paths.log_dir=... or hydra.run.dir=...",
        )
    root, synthetic = _get(cfg, "data.root"), _get(cfg, "data.synthetic")
    if isinstance(root, str) and isinstance(synthetic, dict) and not Path(root).exists():
        # the synthetic set is written there on first use
        check_writable_dir(
            "data.root",
            Path(root),
            "choose another folder with data.root=... or paths.data_dir=...",
        )


def _check_synthetic(cfg: DictConfig) -> Any:
    """``data.synthetic`` as a :class:`~segkit.data.synthetic.SyntheticSpec`, or None."""
    from dataclasses import fields

    from segkit.data.synthetic import SyntheticSpec

    values = _get(cfg, "data.synthetic")
    if values is _ABSENT or values is None:
        return None
    example = "data.synthetic.num_train=2000"
    if not isinstance(values, dict):
        raise ConfigError(
            f"data.synthetic={show(values)} must be a mapping of generator settings or null; "
            f"set e.g. {example}"
        )
    types = {f.name: f.type for f in fields(SyntheticSpec)}
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigError(
            f"data.synthetic has no setting {', '.join(unknown)}; valid: {', '.join(types)}"
        )
    for name, value in values.items():
        key, allowed = f"data.synthetic.{name}", types[name]
        checks = {"int": (_is_int, "an integer"), "str": (lambda v: isinstance(v, str), "a name")}
        test, expected = checks.get(allowed, (_is_number, "a number"))
        if not test(value):
            raise ConfigError(
                f"{key}={show(value)} is {_kind(value)}, expected {expected}; set e.g. {example}"
            )
    try:
        return SyntheticSpec(**values)
    except ValueError as err:  # its own rules (>= 1, min <= max), messages naming the key
        raise _wrap("data.synthetic", values, err) from None


def _class_names(cfg: DictConfig) -> list[str] | None:
    """The class list ``data.class_names`` stands for (None when absent)."""
    names = _get(cfg, "data.class_names")
    if names is _ABSENT:
        return None
    fix = f"use {' or '.join(BUILTIN_CLASS_LISTS)}, or a list such as data.class_names=[background,cat]"
    if isinstance(names, str):
        if names not in BUILTIN_CLASS_LISTS:
            raise ConfigError(f"data.class_names={show(names)} is not a known class list; {fix}")
        if names == "synthetic":
            from segkit.data.synthetic import class_names

            synthetic = _get(cfg, "data.synthetic")
            style = synthetic.get("style", "shapes") if isinstance(synthetic, dict) else "shapes"
            return list(class_names(style))
        from segkit.data.voc import VOC_CLASSES

        return list(VOC_CLASSES)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"data.class_names={show(names)} is not a list of names; {fix}")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(
            f"data.class_names={show(names)} repeats {', '.join(twice)}; give each class one name"
        )
    return names


def _check_classes(cfg: DictConfig, num_classes: int | None) -> None:
    """``loss.class_weights``: one weight >= 0 per class of ``data.class_names``."""
    weights = _get(cfg, "loss.class_weights")
    if weights is _ABSENT or weights is None or num_classes is None:
        return
    n = num_classes
    if not isinstance(weights, list) or len(weights) != n:
        got = f"{len(weights)} values" if isinstance(weights, list) else _kind(weights)
        raise ConfigError(
            f"loss.class_weights={show(weights)} has {got}, expected {n} numbers >= 0 (one per "
            f"class of data.class_names); list {n} weights or set loss.class_weights=null"
        )
    if not all(_is_number(w) and w >= 0 for w in weights):
        raise ConfigError(
            f"loss.class_weights={show(weights)} holds a value that is not a number >= 0; "
            "give each class a weight >= 0"
        )


def _check_model(cfg: DictConfig) -> None:
    """Names against the registries, options against the classes, and the pairing."""
    from segkit.models.decoder import FUSIONS
    from segkit.models.encoders import ENCODERS, check_encoder_options, get_encoder_class
    from segkit.models.fcn import check_pairing
    from segkit.models.upsamplers import UPSAMPLERS, get_upsampler_class

    encoder, upsampler = _get(cfg, "model.encoder"), _get(cfg, "model.upsampler")
    fusion = _get(cfg, "model.fusion")
    if fusion is not _ABSENT and fusion not in FUSIONS:
        raise ConfigError(
            f"unknown fusion {show(fusion)} (model.fusion); valid: {', '.join(FUSIONS)}"
        )
    if not isinstance(encoder, dict) or not isinstance(upsampler, dict):
        return  # only the config tree's form ({name: ..., options}) is checked here
    enc_name, up_name = encoder.get("name"), upsampler.get("name")
    enc_cls = _lookup("model.encoder.name", enc_name, get_encoder_class, ENCODERS)
    up_cls = _lookup("model.upsampler.name", up_name, get_upsampler_class, UPSAMPLERS)
    enc_options = {k: v for k, v in encoder.items() if k not in ("name", "weights")}
    try:
        check_encoder_options(str(enc_name), enc_options)
    except ValueError as err:
        # typically model.encoder.name=... keeping another encoder's options; the group switch
        # replaces the whole node
        raise ConfigError(f"{err}; switch encoders with model/encoder={enc_name}") from None
    _check_upsampler_options(str(up_name), up_cls, upsampler)
    deterministic = _get(cfg, "trainer.deterministic")
    if deterministic is True and up_cls.needs_indices:
        # PyTorch has no deterministic max_unpool2d kernel, on CPU either: it raises at the first
        # forward under torch.use_deterministic_algorithms(True)
        raise ConfigError(
            f"deterministic=true with model.upsampler.name={up_name}: PyTorch's max_unpool2d has "
            "no deterministic implementation and raises; use deterministic=warn (CPU runs are "
            "still repeatable: each pooled value has its own target index)"
        )
    try:
        check_pairing(str(up_name), str(enc_name))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    weights = encoder.get("weights")
    if weights is not None:
        from segkit.models.weights import resolve_weights_file

        try:  # a path or a hub-cache lookup, nothing read
            resolve_weights_file(str(weights), getattr(enc_cls, "torchvision_arch", None), enc_name)
        except (ValueError, FileNotFoundError) as err:
            raise _wrap("model.encoder.weights", weights, err) from None
    _check_input_size(cfg, str(enc_name), enc_cls, enc_options)


def _lookup(key: str, name: Any, get: Callable[[str], type], registry: Mapping) -> type:
    """The registry's class for ``name``, with the registry's own message for unknown names."""
    if not isinstance(name, str):  # null, a number, a list: not a name at all
        raise ConfigError(
            f"{key}={show(name)} is {_kind(name)}, expected a name; valid: {', '.join(registry)}"
        )
    try:
        return get(name)
    except ValueError as err:
        raise _wrap(key, name, err) from None


def _check_upsampler_options(name: str, cls: type, options: dict[str, Any]) -> None:
    """Unknown options, then the class's own value checks on a 1-channel instance (no network)."""
    kwargs = {k: v for k, v in options.items() if k != "name"}
    params = [p for p in inspect.signature(cls).parameters if p != "channels"]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(
            f"upsampler {name!r} takes no option {', '.join(unknown)} (model.upsampler); "
            f"valid: {', '.join(['name', *params])}"
        )
    try:
        cls(1, **kwargs)
    except (TypeError, ValueError) as err:
        raise _wrap("model.upsampler", options, err) from None


def _check_input_size(cfg: DictConfig, name: str, cls: type, options: dict[str, Any]) -> None:
    """Inputs a max-pooling (VGG-family) encoder can halve at every stage: >= 2**stages px.

    Training crops have exactly ``data.crop_size``; validation images ``data.val_size`` (or the
    synthetic ``image_size``). A smaller input would fail at the first step, after the model build.
    """
    if not getattr(cls, "has_max_pooling", False):
        return  # strided convolutions round sizes up and take any input
    widths = options.get("widths", getattr(cls, "WIDTHS", None))
    if widths is None:
        widths = inspect.signature(cls).parameters["widths"].default
    least = 2 ** len(widths)
    for key in ("data.crop_size", "data.val_size", "data.synthetic.image_size"):
        size = _get(cfg, key)
        if _is_int(size) and size < least:
            raise ConfigError(
                f"{key}={size} is smaller than {least} px, the least that encoder {name!r} with "
                f"{len(widths)} pooling stages can halve; set {key} >= {least} or use fewer "
                "stages (model.encoder.widths)"
            )


def _check_optim(cfg: DictConfig) -> None:
    """Optimizer and schedule names (the lists segkit.training.task accepts)."""
    for key, kind, valid in (
        ("optim.name", "optimizer", OPTIMIZERS),
        ("optim.schedule", "schedule", SCHEDULES),
    ):
        value = _get(cfg, key)
        if value is not _ABSENT and value not in valid:
            raise ConfigError(f"unknown {kind} {show(value)} ({key}); valid: {', '.join(valid)}")


def check_void_rule(cfg: DictConfig) -> None:
    """``boundary.void_rule`` is one of Boundary IoU's void rules (``segkit.metrics.VOID_RULES``).

    Also used by ``segkit-eval``, whose config may set it.
    """
    value = _get(cfg, "boundary.void_rule")
    if value is _ABSENT:
        return
    from segkit.metrics import VOID_RULES

    if value not in VOID_RULES:
        raise ConfigError(
            f"unknown void rule {show(value)} (boundary.void_rule); valid: {', '.join(VOID_RULES)}"
        )


def _check_inference(cfg: DictConfig) -> None:
    """``inference.*``, in case a train config sets it (training validates with whole images)."""
    values = _get(cfg, "inference")
    if values is _ABSENT or values is None:
        return
    from segkit.inference import InferenceConfig

    try:
        InferenceConfig.from_mapping({k: v for k, v in dict(values).items() if v is not None})
    except (TypeError, ValueError) as err:
        raise _wrap("inference", values, err) from None


def _check_batch_fits(cfg: DictConfig, images: int, split: str) -> None:
    """Training drops the last incomplete batch, so a batch larger than the split trains nothing."""
    batch = _get(cfg, "data.batch_size")
    if _is_int(batch) and batch > images:
        raise ConfigError(
            f"data.batch_size={batch} is larger than the {images} images of the {split!r} split "
            f"(data.train_split), and incomplete batches are dropped, so nothing would train; "
            f"set data.batch_size <= {images}"
        )


def _check_dataset(cfg: DictConfig, spec: Any, num_classes: int | None) -> None:
    """Cheap file checks with the dataset reader's own code and messages.

    Opening a split checks the devkit layout, the split list and that every listed image and mask
    exists (directory listings, no file read). Then the training split must hold one batch, and the
    first training mask must fit the class list: the reader checks every mask as it loads it, and
    this catches the usual mistake, a class list that does not fit the dataset, before the model
    is built.
    """
    from segkit.data.checks import read_mask
    from segkit.data.synthetic import is_complete
    from segkit.data.voc import VOCSegmentation

    root = Path(str(_get(cfg, "data.root")))
    train_split, mask_dir = str(_get(cfg, "data.train_split")), str(_get(cfg, "data.mask_dir"))
    if spec is not None and not is_complete(root, spec):
        # written (or refused, naming the folder) when the run prepares its data
        _check_batch_fits(cfg, spec.num_train, train_split)
        return
    train = VOCSegmentation(root, train_split, mask_dir=mask_dir)
    VOCSegmentation(root, str(_get(cfg, "data.val_split")), mask_dir=mask_dir)
    _check_batch_fits(cfg, len(train), train_split)
    read_mask(train.mask_path(0), num_classes)


def validate_train_config(cfg: DictConfig) -> None:
    """Check the composed ``train`` config cheaply, before anything heavy runs.

    Args:
        cfg: the config as ``segkit.cli.train.run`` receives it (Hydra's node removed).

    Raises:
        ConfigError: a value of the wrong type or out of range, an unknown name, an impossible
            combination, or an output folder that cannot be written; one line naming the key,
            the value and the fix.
        FileNotFoundError, DataError: from the dataset reader's own checks (no devkit layout under
            ``data.root``, a missing or empty split list, listed files missing, a first training
            mask that is unreadable or outside the class list), with the reader's messages.
    """
    for key in _RULES:
        _check_scalar(cfg, key)
    _check_lists(cfg)
    _check_strings(cfg)
    _check_cross(cfg)
    _check_optim(cfg)
    check_void_rule(cfg)
    _check_paths(cfg)
    spec = _check_synthetic(cfg)
    class_names = _class_names(cfg)
    num_classes = len(class_names) if class_names is not None else None
    _check_classes(cfg, num_classes)
    _check_model(cfg)
    _check_inference(cfg)
    if _get(cfg, "data.root") is not _ABSENT:
        _check_dataset(cfg, spec, num_classes)
