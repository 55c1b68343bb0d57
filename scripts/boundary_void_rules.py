"""Boundary IoU of reference predictions on a VOC-layout split, under both void rules.

    .venv/bin/python scripts/boundary_void_rules.py ../shared/voc2012-samples
    .venv/bin/python scripts/boundary_void_rules.py data/voc --split val --batch-sizes 1 3 4

Builds predictions from the ground truth itself, so no network is involved: ``perfect`` is right
on every scored pixel (void predicted as the nearest scored pixel's label, or as background), and
``shifted`` is the ground truth (void as background) moved right by ``--shift`` pixels. Scores them
with :class:`segkit.metrics.BoundaryIoU` (``boundary.void_rule`` fill and authors) in padded
batches of each ``--batch-sizes``, as validation does, and prints Boundary mIoU and mIoU: the
Boundary IoU is the same for every batch size, and only the authors' rule marks the perfect
prediction down (its contours lie inside VOC's void rings).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from segkit.data.datamodule import pad_collate
from segkit.data.voc import resolve_voc_dir
from segkit.metrics import IGNORE_INDEX, VOID_RULES, BoundaryIoU, SegMetrics


def nearest_label(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every void pixel given the label of the nearest scored pixel."""
    index = ndimage.distance_transform_edt(
        mask == IGNORE_INDEX, return_distances=False, return_indices=True
    )
    return mask[tuple(index)]


def predictions(shift: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Reference predictions, each a function of the ground-truth mask."""

    def background(mask: np.ndarray) -> np.ndarray:
        return np.where(mask == IGNORE_INDEX, 0, mask)

    return {
        "perfect, void -> nearest label": nearest_label,
        "perfect, void -> background": background,
        f"shifted {shift} px right": lambda mask: np.roll(background(mask), shift, axis=1),
    }


def score(
    masks: list[torch.Tensor], preds: list[torch.Tensor], num_classes: int, batch_size: int
) -> dict[str, float]:
    """Boundary mIoU under each void rule and mIoU, in padded batches of ``batch_size``."""
    boundary = {rule: BoundaryIoU(num_classes, void_rule=rule) for rule in VOID_RULES}
    region = SegMetrics(num_classes)
    for start in range(0, len(masks), batch_size):
        chunk = slice(start, start + batch_size)
        _, target, sizes = pad_collate([(m[None], m) for m in masks[chunk]])
        _, pred, _ = pad_collate([(p[None], p) for p in preds[chunk]])
        pred = torch.where(pred == IGNORE_INDEX, 0, pred)  # what a network outputs on padding
        region.update(pred, target)
        for metric in boundary.values():
            metric.update(pred, target, sizes)
    out = {f"boundary mIoU ({rule})": float(m.compute()["mIoU"]) for rule, m in boundary.items()}
    out["mIoU"] = float(region.compute()["mIoU"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder holding VOCdevkit/VOC2012")
    parser.add_argument("--split", default="val")
    parser.add_argument("--num-classes", type=int, default=21)
    parser.add_argument("--shift", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args(argv)

    voc = resolve_voc_dir(args.root)
    ids = (voc / "ImageSets" / "Segmentation" / f"{args.split}.txt").read_text().split()
    masks = [np.array(Image.open(voc / "SegmentationClass" / f"{i}.png"), np.int64) for i in ids]
    print(f"{len(masks)} masks of {voc} ({args.split})")
    for name, make in predictions(args.shift).items():
        preds = [torch.from_numpy(make(m)) for m in masks]
        target = [torch.from_numpy(m) for m in masks]
        for batch_size in args.batch_sizes:
            scores = score(target, preds, args.num_classes, batch_size)
            shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
            print(f"{name}, batch {batch_size}: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
