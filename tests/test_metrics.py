"""VOC-protocol metrics against a hand-computed confusion matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from segkit.data.datamodule import pad_collate
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


def test_frequency_weighted_iou_by_hand() -> None:
    # CONFMAT: ground-truth pixels per class (row sums) 2, 2, 1, 0 of 5, so the frequencies are
    # 0.4, 0.4, 0.2 (class 3, absent, has weight 0); IoU 1/3, 2/3, 0:
    # fwIoU = 0.4 * 1/3 + 0.4 * 2/3 + 0.2 * 0 = 0.4
    scores = scores_from_confusion(torch.tensor(CONFMAT))
    assert math.isclose(float(scores["fwIoU"]), 0.4)
    metric = SegMetrics(4)
    metric.update(PREDS, TARGET)
    assert math.isclose(metric.named_scores("val/")["val/fwIoU"], 0.4)
    assert math.isnan(float(scores_from_confusion(torch.zeros(3, 3))["fwIoU"]))


# Label maps of unequal sizes (band widths 1 to 3 px at 2% of the diagonal), VOC-style void rings
# on some, a void last row on one (real void at the border: not padding).
SIZES = [(120, 90), (64, 48), (30, 40), (97, 130), (50, 70), (130, 97), (41, 23)]


def _unequal_maps() -> list[tuple[torch.Tensor, torch.Tensor]]:
    rng = np.random.default_rng(7)
    pairs = []
    for i, (h, w) in enumerate(SIZES):
        cells = rng.integers(0, 4, size=(h // 10 + 1, w // 10 + 1))
        truth = np.kron(cells, np.ones((10, 10), dtype=np.int64))[:h, :w]
        if i % 2 == 0:  # void where two labels meet, as VOC rings its objects
            edge = ndimage.maximum_filter(truth, 3) != ndimage.minimum_filter(truth, 3)
            truth = np.where(edge, 255, truth)
        if i == 3:
            truth[-1] = 255
        # a prediction shifted by 2 px, wrong along the right and bottom borders
        pred = np.roll(np.where(truth == 255, 0, truth), 2, axis=1)
        pred[:, -2:] = (pred[:, -2:] + 1) % 4
        pred[-1] = 3
        pairs.append((torch.from_numpy(pred), torch.from_numpy(truth)))
    return pairs


def _scored_in_batches(pairs, batch_size: int, with_sizes: bool = True, **kwargs) -> BoundaryIoU:
    metric = BoundaryIoU(4, **kwargs)
    rng = torch.Generator().manual_seed(batch_size)
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        # the real collate pads the masks with void; the predictions there are whatever the
        # network outputs on padding (random labels here), which must not count
        _, masks, sizes = pad_collate([(torch.zeros(3, *t.shape), t) for _, t in chunk])
        preds = torch.randint(0, 4, masks.shape, generator=rng)
        for i, (p, _) in enumerate(chunk):
            preds[i, : p.shape[0], : p.shape[1]] = p
        metric.update(preds, masks, sizes if with_sizes else None)
    return metric


@pytest.mark.parametrize("void_rule", ["fill", "authors"])
@pytest.mark.parametrize("settings", [{}, {"width": 2}])
def test_boundary_iou_does_not_depend_on_the_batch_size(void_rule: str, settings: dict) -> None:
    pairs = _unequal_maps()
    alone = BoundaryIoU(4, void_rule=void_rule, **settings)
    for p, t in pairs:  # one unpadded image at a time
        alone.update(p[None], t[None])
    assert alone.union.sum() > 0 and 0 < alone.compute()["mIoU"] < 1
    for batch_size in (1, 3, 4):
        metric = _scored_in_batches(pairs, batch_size, void_rule=void_rule, **settings)
        assert torch.equal(metric.intersection, alone.intersection), batch_size
        assert torch.equal(metric.union, alone.union), batch_size
    if "width" not in settings:  # without the sizes, d would come from the padded size
        unsized = _scored_in_batches(pairs, 4, with_sizes=False, void_rule=void_rule)
        assert not torch.equal(unsized.union, alone.union)


def test_boundary_iou_sizes_must_fit() -> None:
    metric = BoundaryIoU(2)
    maps = torch.zeros(2, 5, 6, dtype=torch.long)
    with pytest.raises(ValueError, match="do not fit"):
        metric.update(maps, maps, torch.tensor([[5, 6], [6, 6]]))
    with pytest.raises(ValueError, match="boundary.void_rule"):
        BoundaryIoU(2, void_rule="panoptic")


def test_boundary_iou_authors_void_rule_by_hand() -> None:
    # d = 1; V = void (255). Class 1 is the 3x3 block at rows 1-3, columns 1-3, with a void column
    # to its right; the prediction is right on every scored pixel and takes the void column as 1.
    #   target          prediction
    #   0 0 0 0 0 0 0   0 0 0 0 0 0 0
    #   0 1 1 1 V 0 0   0 1 1 1 1 0 0
    #   0 1 1 1 V 0 0   0 1 1 1 1 0 0
    #   0 1 1 1 V 0 0   0 1 1 1 1 0 0
    #   0 0 0 0 0 0 0   0 0 0 0 0 0 0
    v = 255
    target = torch.tensor(
        [[[0, 0, 0, 0, 0, 0, 0],
          [0, 1, 1, 1, v, 0, 0],
          [0, 1, 1, 1, v, 0, 0],
          [0, 1, 1, 1, v, 0, 0],
          [0, 0, 0, 0, 0, 0, 0]]]
    )  # fmt: skip
    preds = torch.where(target == v, 1, target)
    # Authors' rule, class 1: G = the 3x3 block less its centre (void is not class 1, so column 3
    # is a contour too): 8 px. P = the 3x4 block less its 2 interior pixels (2,2), (2,3): 10 px,
    # 3 of them on void (column 4). G & P = G less (2,3), interior to P: 7 px.
    # union = |G| + |P| - |G & P| - |P on void| = 8 + 10 - 7 - 3 = 8; IoU = 7/8.
    # Class 0: all 23 pixels of 0 touch the border or columns 4 (void / class 1) in both maps, so
    # G = P = G & P = 23 px, none on void: union 23, IoU 1.
    authors = BoundaryIoU(2, width=1, void_rule="authors")
    authors.update(preds, target)
    assert authors.intersection.tolist() == [23, 7] and authors.union.tolist() == [23, 8]
    assert authors.compute()["mIoU"].item() == pytest.approx((1 + 7 / 8) / 2)
    # Fill rule: the void column takes the prediction's label 1, so the truth equals the
    # prediction; its band, restricted to scored pixels, is 10 - 3 = 7 px for class 1: IoU 1.
    fill = BoundaryIoU(2, width=1)
    fill.update(preds, target)
    assert fill.intersection.tolist() == [23, 7] and fill.union.tolist() == [23, 7]


def test_boundary_iou_authors_rule_equals_the_reference_formula_on_random_label_maps() -> None:
    # The authors' panoptic evaluator: per class, G and P are mask_to_boundary of the binary masks
    # (void is outside every class), union = |G| + |P| - |G & P| - |P on void|.
    rng = np.random.default_rng(5)
    for _ in range(4):
        target = ndimage.median_filter(rng.integers(0, 5, size=(3, 30, 41)), size=(1, 5, 5))
        preds = ndimage.median_filter(rng.integers(0, 5, size=(3, 30, 41)), size=(1, 5, 5))
        target[:, :3] = 255
        target[:, 10:14, 20:25] = 255
        metric = BoundaryIoU(5, width=2, void_rule="authors")
        metric.update(torch.from_numpy(preds), torch.from_numpy(target))
        void = target == 255
        for c in range(5):
            gt = np.stack([_reference_band(m, 2) for m in target == c])
            pr = np.stack([_reference_band(m, 2) for m in preds == c])
            inter = (gt & pr).sum()
            assert metric.intersection[c] == inter
            assert metric.union[c] == gt.sum() + pr.sum() - inter - (pr & void).sum()


def test_a_prediction_right_on_every_scored_pixel_scores_1_only_under_the_fill_rule() -> None:
    # VOC style: objects ringed by a 4-pixel void band; the prediction is right on every scored
    # pixel and reaches 2 px into the void.
    target = torch.zeros(2, 64, 80, dtype=torch.long)
    target[:, 12:52, 14:60] = 255
    target[:, 16:48, 18:56] = 1
    target[1, 20:44, 30:44] = 2
    preds = torch.where(target == 255, 0, target)
    preds[:, 14:50, 16:58] = torch.where(target[:, 14:50, 16:58] == 2, 2, 1)
    fill = BoundaryIoU(3)
    fill.update(preds, target)
    assert fill.compute()["mIoU"].item() == 1.0
    authors = BoundaryIoU(3, void_rule="authors")
    authors.update(preds, target)
    assert authors.compute()["mIoU"].item() < 0.9
