"""VOC-protocol metrics against a hand-computed confusion matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from segkit.metrics import (
    BoundaryIoU,
    SegMetrics,
    boundary_band,
    boundary_width,
    image_confusions,
    scores_from_confusion,
)

# 4 classes; class 3 is absent from truth and prediction; one void (255) pixel.
TARGET = torch.tensor([[[0, 0, 1], [1, 255, 2]]])
PREDS = torch.tensor([[[0, 1, 1], [1, 3, 0]]])  # the void pixel's prediction (3) must not count
# rows = truth, columns = prediction, by hand:
CONFMAT = [
    [1, 1, 0, 0],  # truth 0: one right, one predicted as 1
    [0, 2, 0, 0],  # truth 1: both right
    [1, 0, 0, 0],  # truth 2: predicted as 0
    [0, 0, 0, 0],  # class 3: absent
]


def test_confusion_matrix_ignores_void() -> None:
    metric = SegMetrics(4)
    metric.update(PREDS, TARGET)
    assert metric.confmat.tolist() == CONFMAT


def test_scores_by_hand() -> None:
    metric = SegMetrics(4, class_names=["bg", "a", "b", "c"])
    metric.update(PREDS, TARGET)
    scores = metric.compute()
    iou = scores["IoU"].tolist()
    # IoU = TP / (TP + FP + FN): class 0: 1 / (1 + 1 + 1); class 1: 2 / (2 + 1 + 0); class 2: 0 / 1
    assert math.isclose(iou[0], 1 / 3) and math.isclose(iou[1], 2 / 3) and iou[2] == 0.0
    assert math.isnan(iou[3])  # zero union: left out of the mean, not counted as 0 or 1
    assert math.isclose(float(scores["mIoU"]), (1 / 3 + 2 / 3 + 0) / 3)
    assert math.isclose(float(scores["pixel_acc"]), 3 / 5)
    assert math.isclose(float(scores["mean_acc"]), (1 / 2 + 1 + 0) / 3)
    named = metric.named_scores("val/")
    assert math.isclose(named["val/IoU/a"], 2 / 3) and math.isnan(named["val/IoU/c"])


def test_logits_are_argmaxed() -> None:
    metric = SegMetrics(4)
    logits = torch.nn.functional.one_hot(PREDS, 4).permute(0, 3, 1, 2).float()  # (1, 4, 2, 3)
    metric.update(logits, TARGET)
    assert metric.confmat.tolist() == CONFMAT


def test_dataset_level_not_mean_of_images() -> None:
    # Image 1: a big object predicted perfectly; image 2: a tiny object missed.
    metric = SegMetrics(2)
    metric.update(torch.ones(1, 10, 10, dtype=torch.long), torch.ones(1, 10, 10, dtype=torch.long))
    t2 = torch.zeros(1, 10, 10, dtype=torch.long)
    t2[0, 0, 0] = 1
    metric.update(torch.zeros(1, 10, 10, dtype=torch.long), t2)
    iou = metric.compute()["IoU"]
    # one matrix over both: class 1 has TP 100, FN 1 -> 100/101 (a per-image mean would give 0.5)
    assert math.isclose(float(iou[1]), 100 / 101)
    assert math.isclose(float(iou[0]), 99 / 100)


def test_empty_matrix_gives_nan_not_error() -> None:
    scores = scores_from_confusion(torch.zeros(3, 3, dtype=torch.long))
    assert math.isnan(float(scores["mIoU"])) and math.isnan(float(scores["pixel_acc"]))


# ---- Boundary IoU -------------------------------------------------------------------------------


def _reference_band(mask: np.ndarray, width: int) -> np.ndarray:
    """The paper's reference: mask minus its erosion (3x3, ``width`` times, zero border)."""
    eroded = ndimage.binary_erosion(mask, np.ones((3, 3)), iterations=width, border_value=0)
    return mask & ~eroded


def test_boundary_band_matches_reference_erosion() -> None:
    rng = np.random.default_rng(0)
    masks = ndimage.binary_opening(rng.random((6, 40, 33)) > 0.4)
    for width in (1, 2, 5):
        got = boundary_band(torch.from_numpy(masks), width).numpy()
        want = np.stack([_reference_band(m, width) for m in masks])
        assert (got == want).all(), width


def test_boundary_iou_by_hand() -> None:
    # A 4x4 square and the same square one pixel to the right; bands of width 1 are the 12-pixel
    # rings. They share 6 pixels (the top and bottom rows at columns 3-5): IoU = 6 / 18.
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, 2:6, 2:6] = 1
    preds = torch.zeros_like(target)
    preds[0, 2:6, 3:7] = 1
    metric = BoundaryIoU(2, width=1)
    metric.update(preds, target)
    assert metric.union[1] == 18 and metric.intersection[1] == 6
    assert metric.compute()["IoU"][1].item() == pytest.approx(1 / 3)


def test_boundary_iou_perfect_shift_and_void() -> None:
    target = torch.zeros(2, 96, 96, dtype=torch.long)
    target[:, 18:78, 18:78] = 1  # a large object
    perfect = BoundaryIoU(2)  # default: 2% of the diagonal = 3 px here
    perfect.update(target.clone(), target)
    assert perfect.compute()["mIoU"].item() == 1.0

    shifted = torch.roll(target, shifts=1, dims=2)
    boundary, region = BoundaryIoU(2), SegMetrics(2)
    boundary.update(shifted, target)
    region.update(shifted, target)
    lost_boundary = 1 - boundary.compute()["mIoU"].item()
    lost_region = 1 - region.compute()["mIoU"].item()
    assert lost_region < 0.03  # a one-pixel shift barely moves mIoU...
    assert lost_boundary > 5 * lost_region  # ...but costs boundary IoU several times as much

    # a wrong prediction under void does not count (a void block in the background, predicted
    # as the object, would otherwise add a whole object contour there)
    with_void = target.clone()
    with_void[:, 0:10, 84:94] = 255
    preds = target.clone()
    preds[:, 0:10, 84:94] = 1
    masked = BoundaryIoU(2)
    masked.update(preds, with_void)
    assert masked.compute()["mIoU"].item() == 1.0
    unmasked = BoundaryIoU(2)
    unmasked.update(preds, target)  # the same prediction, scored without the void
    assert unmasked.compute()["mIoU"].item() < 0.95


def test_per_image_confusions_sum_to_the_dataset_matrix() -> None:
    rng = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (5, 9, 7), generator=rng)
    target[:, 0] = 255
    preds = torch.randint(0, 4, (5, 9, 7), generator=rng)
    per_image = image_confusions(preds, target, 4)
    metric = SegMetrics(4)
    metric.update(preds, target)
    assert per_image.shape == (5, 4, 4)
    assert torch.equal(per_image.sum(0), metric.confmat)
    single = SegMetrics(4)
    single.update(preds[2:3], target[2:3])
    assert torch.equal(per_image[2], single.confmat)


def test_boundary_width_and_bad_settings() -> None:
    assert boundary_width(300, 400, 0.02) == 10
    assert boundary_width(10, 10, 0.02) == 1  # never below one pixel
    with pytest.raises(ValueError, match="width"):
        BoundaryIoU(3, width=0)


def test_boundary_iou_ignores_where_the_prediction_ends_inside_void() -> None:
    # VOC style: an object ringed by a 4-pixel void band. A prediction right on every scored pixel
    # scores 1 however far into the void it reaches; wrong on scored pixels, it loses.
    target = torch.zeros(1, 64, 64, dtype=torch.long)
    target[0, 16:48, 16:48] = 255
    target[0, 20:44, 20:44] = 1
    for reach in (0, 1, 2, 3, 4):
        preds = torch.zeros_like(target)
        preds[0, 20 - reach : 44 + reach, 20 - reach : 44 + reach] = 1
        metric = BoundaryIoU(2, width=3)
        metric.update(preds, target)
        assert metric.compute()["mIoU"].item() == 1.0, reach
    shrunk = torch.zeros_like(target)
    shrunk[0, 21:43, 21:43] = 1  # one scored pixel short on every side
    metric = BoundaryIoU(2, width=3)
    metric.update(shrunk, target)
    assert metric.compute()["mIoU"].item() < 0.9


def test_boundary_iou_equals_the_per_class_reference_on_random_label_maps() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        labels = ndimage.median_filter(rng.integers(0, 5, size=(3, 30, 41)), size=(1, 5, 5))
        target = torch.from_numpy(labels)
        preds = torch.from_numpy(
            ndimage.median_filter(rng.integers(0, 5, size=(3, 30, 41)), size=(1, 5, 5))
        )
        target[:, :2] = 255  # void, which takes the prediction's label before the bands
        metric = BoundaryIoU(5, width=2)
        metric.update(preds, target)
        valid = (target != 255).numpy()
        truth = np.where(valid, target.numpy(), preds.numpy())
        for c in range(5):
            gt = np.stack([_reference_band(m, 2) for m in truth == c]) & valid
            pr = np.stack([_reference_band(m, 2) for m in preds.numpy() == c]) & valid
            assert metric.intersection[c] == (gt & pr).sum()
            assert metric.union[c] == (gt | pr).sum()
