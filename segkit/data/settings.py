"""The data module's settings (``data.*``): their rules, the class lists, and cheap dataset checks.

``SegDataModule`` checks its arguments here when it is built, and ``segkit.training.checks`` calls
the same functions on the config before anything heavy runs, so each rule is written once. Types
and ranges need neither torch nor Lightning: the reader (``segkit.data.voc``) is imported only by
:func:`resolve_class_names` for the VOC list and by :func:`check_dataset`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segkit.errors import ConfigError
from segkit.options import (
    ABSENT,
    Rule,
    check_values,
    is_int,
    is_number,
    numbers,
    show,
    type_error,
    wrap,
)

DATA_RULES = {
    "batch_size": Rule("int", lambda v: v >= 1, "an integer >= 1", "16"),
    "val_batch_size": Rule("int", lambda v: v >= 1, "an integer >= 1", "1"),
    "num_workers": Rule("int", lambda v: v >= 0, "an integer >= 0", "2"),
    "crop_size": Rule("int", lambda v: v >= 1, "an integer >= 1", "512"),
    "base_size": Rule("int", lambda v: v >= 1, "an integer >= 1", "520"),
    "val_size": Rule("int", lambda v: v >= 1, "an integer >= 1 or null", "null", nullable=True),
    "hflip": Rule("number", lambda v: 0 <= v <= 1, "a probability in [0, 1]", "0.5"),
    "in_memory": Rule("bool", lambda v: True, "true or false", "false"),
}
# data.class_names may name one of these built-in lists
BUILTIN_CLASS_LISTS = ("voc", "synthetic")
_STRINGS = {
    "root": "data/voc",
    "train_split": "train",
    "val_split": "val",
    "mask_dir": "SegmentationClass",
}


def check_data_options(values: Mapping[str, Any]) -> tuple[Any, list[str] | None]:
    """Check the ``data`` node (plain values; absent keys keep their defaults).

    Returns:
        The synthetic spec (a :class:`~segkit.data.synthetic.SyntheticSpec`, or None) and the
        class list ``data.class_names`` stands for (None when absent).

    Raises:
        ConfigError: one line naming the key, the value and the fix.
    """
    check_values("data", values, DATA_RULES)
    scale = numbers("data.scale_range", values.get("scale_range", ABSENT), 2, "[0.5,2.0]")
    if scale is not None:
        lo, hi = scale
        if not 0 < lo <= hi:
            raise ConfigError(
                f"data.scale_range={show(scale)} needs 0 < min <= max; set e.g. "
                "data.scale_range=[0.5,2.0] (or [1.0,1.0] for no rescaling)"
            )
        base = values.get("base_size")
        if is_int(base) and int(lo * base) < 1:  # RandomResize's smallest shorter side
            raise ConfigError(
                f"data.scale_range={show(scale)} with data.base_size={base} rescales images to a "
                f"shorter side of {int(lo * base)} px; raise the minimum scale to >= {1 / base:.3g}"
            )
    numbers("data.mean", values.get("mean", ABSENT), 3, "[0.485,0.456,0.406]")
    std = numbers("data.std", values.get("std", ABSENT), 3, "[0.229,0.224,0.225]")
    if std is not None and min(std) <= 0:
        raise ConfigError(
            f"data.std={show(std)} divides by a value <= 0; set e.g. data.std=[0.229,0.224,0.225]"
        )
    for name, example in _STRINGS.items():
        value = values.get(name, ABSENT)
        if value is not ABSENT and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(
                f"data.{name}={show(value)} must be a non-empty string; set e.g. data.{name}={example}"
            )
    val_size, val_batch = values.get("val_size"), values.get("val_batch_size", ABSENT)
    if val_size is not None and val_batch not in (1, ABSENT):
        raise ConfigError(
            f"data.val_size needs data.val_batch_size=1, got data.val_size={val_size} with "
            f"data.val_batch_size={val_batch} (resized images and original-size masks cannot be "
            "padded together); set data.val_batch_size=1 or data.val_size=null"
        )
    spec = synthetic_spec(values.get("synthetic"))
    names = values.get("class_names", ABSENT)
    classes = None if names is ABSENT else resolve_class_names(names, spec)
    return spec, classes


def synthetic_spec(values: Any) -> Any:
    """``data.synthetic`` as a :class:`~segkit.data.synthetic.SyntheticSpec`, or None when null."""
    from dataclasses import fields

    from segkit.data.synthetic import SyntheticSpec

    if values is None or isinstance(values, SyntheticSpec):
        return values
    example = "data.synthetic.num_train=2000"
    if not isinstance(values, Mapping):
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
        checks = {"int": (is_int, "an integer"), "str": (lambda v: isinstance(v, str), "a name")}
        test, expected = checks.get(allowed, (is_number, "a number"))
        if not test(value):
            raise type_error(key, value, expected, example)
    try:
        return SyntheticSpec(**values)
    except ValueError as err:  # its own rules (>= 1, min <= max), messages naming the key
        raise wrap("data.synthetic", dict(values), err) from None


def resolve_class_names(names: Any, spec: Any = None) -> list[str]:
    """The class list ``data.class_names`` stands for: a built-in name or a list of names.

    Args:
        names: ``voc``, ``synthetic`` or a list of distinct names.
        spec: the synthetic spec, whose style picks the ``synthetic`` list (shapes when None).
    """
    fix = f"use {' or '.join(BUILTIN_CLASS_LISTS)}, or a list such as data.class_names=[background,cat]"
    if isinstance(names, str):
        if names not in BUILTIN_CLASS_LISTS:
            raise ConfigError(f"data.class_names={show(names)} is not a known class list; {fix}")
        if names == "synthetic":
            from segkit.data.synthetic import class_names

            return list(class_names(spec.style if spec is not None else "shapes"))
        from segkit.data.voc import VOC_CLASSES

        return list(VOC_CLASSES)
    if (
        not isinstance(names, list | tuple)
        or not names
        or not all(isinstance(n, str) for n in names)
    ):
        raise ConfigError(f"data.class_names={show(names)} is not a list of names; {fix}")
    names = list(names)
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(
            f"data.class_names={show(names)} repeats {', '.join(twice)}; give each class one name"
        )
    return names


def check_batch_fits(batch: Any, images: int, split: str, processes: int = 1) -> None:
    """Training drops the last incomplete batch: each process needs a batch of the split."""
    if not is_int(batch) or images // processes >= batch:
        return
    if processes == 1:
        raise ConfigError(
            f"data.batch_size={batch} is larger than the {images} images of the {split!r} split "
            f"(data.train_split), and incomplete batches are dropped, so nothing would train; "
            f"set data.batch_size <= {images}"
        )
    raise ConfigError(
        f"data.batch_size={batch} per process with {processes} processes needs "
        f"{batch * processes} training images, the split has {images}; lower data.batch_size or "
        "trainer.devices"
    )


def check_dataset(values: Mapping[str, Any], spec: Any, num_classes: int | None) -> None:
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

    root = Path(str(values["root"]))
    train_split = str(values.get("train_split", "train"))
    mask_dir = str(values.get("mask_dir", "SegmentationClass"))
    batch = values.get("batch_size")
    if spec is not None and not is_complete(root, spec):
        # written (or refused, naming the folder) when the run prepares its data
        check_batch_fits(batch, spec.num_train, train_split)
        return
    train = VOCSegmentation(root, train_split, mask_dir=mask_dir)
    VOCSegmentation(root, str(values.get("val_split", "val")), mask_dir=mask_dir)
    check_batch_fits(batch, len(train), train_split)
    read_mask(train.mask_path(0), num_classes)
