"""Whole-dataset audit (``scripts/check_dataset.py``): every listed file read and checked, with
counts, class histogram and sizes."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segkit.data.checks import DataError, read_pair
from segkit.data.palette import VOID_INDEX
from segkit.data.voc import read_split, resolve_voc_dir


@dataclass
class DatasetReport:
    """What :func:`scan_dataset` found."""

    root: Path
    split_counts: dict[str, int] = field(default_factory=dict)
    class_pixels: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=np.int64))
    sizes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def scan_dataset(
    root: str | os.PathLike,
    splits: list[str] | None = None,
    num_classes: int = 21,
    mask_dir: str = "SegmentationClass",
) -> DatasetReport:
    """Read every image and mask listed in ``splits`` (default: every list) and check them.

    Args:
        root: folder holding ``VOCdevkit`` (or the ``VOC2012`` folder).
        splits: list names; None for every ``ImageSets/Segmentation/*.txt``.
        num_classes: valid mask values are ``0..num_classes-1`` and 255.
        mask_dir: mask folder beside ``JPEGImages``.

    Returns:
        The report; each problem is one line naming the file and the fix.
    """
    voc = resolve_voc_dir(root)
    lists = voc / "ImageSets" / "Segmentation"
    splits = splits or sorted(p.stem for p in lists.glob("*.txt"))
    report = DatasetReport(Path(root))
    ids: set[str] = set()
    for split in splits:
        try:
            split_ids = read_split(voc, split)
        except (FileNotFoundError, ValueError) as err:
            report.problems.append(str(err))
            continue
        report.split_counts[split] = len(split_ids)
        ids.update(split_ids)
    for sample_id in sorted(ids):
        try:
            _, mask = read_pair(
                voc / "JPEGImages" / f"{sample_id}.jpg",
                voc / mask_dir / f"{sample_id}.png",
                num_classes,
            )
        except DataError as err:
            report.problems.append(str(err))
            continue
        report.checked += 1
        report.sizes[mask.shape[::-1]] += 1  # (W, H)
        report.class_pixels += np.bincount(mask.ravel(), minlength=256)
    return report


def void_share(report: DatasetReport) -> float:
    total = report.class_pixels.sum()
    return float(report.class_pixels[VOID_INDEX] / total) if total else float("nan")
