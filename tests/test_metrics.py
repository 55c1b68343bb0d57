"""VOC-protocol metrics against a hand-computed confusion matrix."""

from __future__ import annotations

import math

import torch

from segkit.metrics import SegMetrics, scores_from_confusion

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
