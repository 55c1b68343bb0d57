"""Pascal VOC protocol metrics from one dataset-level confusion matrix.

Over ~300 lines on purpose: the VOC scores and Boundary IoU share the confusion-matrix code and
the void handling, and are read together.

As the official devkit computes them: a single confusion matrix accumulated over the whole split at
each image's original resolution, ground-truth void (255) pixels ignored, IoU_c = TP / (TP+FP+FN).
mIoU is the mean over classes whose union (TP+FP+FN) is non-zero; whenever every class occurs
(as on the full VOC val set) this equals the devkit's mean over all classes. The confusion matrix
is a torchmetrics state with sum reduction, so it is synchronised across DDP processes.

Boundary IoU (Cheng et al., CVPR 2021) scores only the band of pixels within ``d`` of each class
region's contour, where upsamplers differ most; it is accumulated over the dataset like mIoU. Each
image is scored at its own size (its band width from its own diagonal, its own border a contour),
so padded batches give exactly the scores of one image at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.classification import MulticlassConfusionMatrix

from segkit.errors import ConfigError
from segkit.options import ABSENT, Rule, check_values, show

IGNORE_INDEX = 255
# How Boundary IoU treats ground-truth void (see :class:`BoundaryIoU`): ``fill``, void takes the
# predicted label; ``authors``, the rule of the Boundary IoU authors' panoptic evaluator.
VOID_RULES = ("fill", "authors")
BOUNDARY_RULES = {
    "dilation_ratio": Rule("number", lambda v: v > 0, "a number > 0", "0.02"),
    "width": Rule("int", lambda v: v >= 1, "an integer >= 1 or null", "null", nullable=True),
}


def check_boundary_options(values: Mapping[str, Any]) -> None:
    """Check the ``boundary`` node (Boundary IoU's band and void rule); absent keys are fine."""
    check_values("boundary", values, BOUNDARY_RULES)
    rule = values.get("void_rule", ABSENT)
    if rule is not ABSENT and rule not in VOID_RULES:
        raise ConfigError(
            f"unknown void rule {show(rule)} (boundary.void_rule); valid: {', '.join(VOID_RULES)}"
        )


def scores_from_confusion(confmat: torch.Tensor) -> dict[str, torch.Tensor]:
    """VOC scores from a confusion matrix whose rows are ground truth and columns prediction.

    Args:
        confmat: ``(C, C)`` counts.

    Returns:
        ``IoU`` (C,) with NaN for classes of zero union, ``mIoU``, ``fwIoU`` (frequency-weighted
        IoU, as pytorch-semseg reports it: each class's IoU weighted by its share of the
        ground-truth pixels), ``pixel_acc``, ``mean_acc`` (mean recall over classes present in the
        ground truth), and ``present`` (C,) bool.
    """
    confmat = confmat.double()
    tp = confmat.diag()
    gt = confmat.sum(dim=1)  # TP + FN per class
    pred = confmat.sum(dim=0)  # TP + FP per class
    union = gt + pred - tp
    present = union > 0
    iou = torch.where(present, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    has_gt = gt > 0
    acc = torch.where(has_gt, tp / gt.clamp(min=1), torch.full_like(tp, float("nan")))
    total = confmat.sum()
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    freq = gt / total if total > 0 else torch.zeros_like(gt)  # a class with gt > 0 has union > 0
    return {
        "IoU": iou,
        "mIoU": iou[present].mean() if present.any() else nan,
        "fwIoU": (freq[has_gt] * iou[has_gt]).sum() if has_gt.any() else nan,
        "pixel_acc": tp.sum() / total if total > 0 else nan,
        "mean_acc": acc[has_gt].mean() if has_gt.any() else nan,
        "present": present,
    }


class SegMetrics(MulticlassConfusionMatrix):
    """Dataset-level confusion matrix whose ``compute()`` returns the VOC scores.

    ``update(preds, target)`` takes predicted labels ``(B, H, W)`` (or logits ``(B, C, H, W)``)
    and targets ``(B, H, W)`` with void = ``ignore_index``.

    Args:
        num_classes: number of classes.
        class_names: names for the per-class entries of :meth:`named_scores`.
        ignore_index: ground-truth value excluded everywhere (void).
    """

    full_state_update = False

    def __init__(
        self,
        num_classes: int,
        class_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        **kwargs,
    ) -> None:
        # validate_args=False: no per-batch value checks (they would cost more than the update).
        super().__init__(num_classes, ignore_index=ignore_index, validate_args=False, **kwargs)
        self.class_names = list(class_names or (str(i) for i in range(num_classes)))
        if len(self.class_names) != num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {num_classes} classes")

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Scores plus ``confmat``: under DDP, summed over processes (``self.confmat`` holds only
        this process's counts again once ``compute`` returns)."""
        return {**scores_from_confusion(self.confmat), "confmat": self.confmat.clone()}

    def named_scores(
        self, prefix: str = "", scores: dict[str, torch.Tensor] | None = None
    ) -> dict[str, float]:
        """Flat ``{prefix + name: value}``: mIoU, fwIoU, pixel_acc, mean_acc, pixels, ``IoU/<class>``.

        Args:
            prefix: prepended to every name, e.g. ``"val/"``.
            scores: what :meth:`compute` returned (computed now when not given).
        """
        scores = self.compute() if scores is None else scores
        out = {f"{prefix}{k}": float(scores[k]) for k in ("mIoU", "fwIoU", "pixel_acc", "mean_acc")}
        out[f"{prefix}pixels"] = int(scores["confmat"].sum())  # non-void pixels scored
        for name, value in zip(self.class_names, scores["IoU"].tolist(), strict=True):
            out[f"{prefix}IoU/{name}"] = value
        return out


def image_confusions(
    preds: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """One confusion matrix per image (rows truth, columns prediction), void excluded.

    Args:
        preds: ``(B, H, W)`` predicted labels.
        target: ``(B, H, W)`` labels with void = ``ignore_index``.

    Returns:
        ``(B, C, C)`` int64 counts; their sum over images is the dataset confusion matrix.
    """
    b = target.shape[0]
    valid = target != ignore_index
    image = torch.arange(b, device=target.device).view(b, 1, 1).expand_as(target)
    index = (image * num_classes + target) * num_classes + preds
    counts = torch.bincount(index[valid], minlength=b * num_classes * num_classes)
    return counts.view(b, num_classes, num_classes)


def boundary_band(masks: torch.Tensor, width: int) -> torch.Tensor:
    """Pixels of each mask within ``width`` (chessboard distance) of its contour.

    As the reference implementation: the mask minus its erosion by a ``(2w+1)`` square, with
    pixels outside the image counting as outside the mask (so the image border is a contour).

    Args:
        masks: ``(N, H, W)`` bool.
        width: band width in pixels, >= 1.

    Returns:
        ``(N, H, W)`` bool.
    """
    outside = (~masks).float().unsqueeze(1)  # (N, 1, H, W)
    # Erosion of the mask = dilation of its complement; separable for a square element.
    outside = F.pad(outside, (width, width, width, width), value=1.0)
    k = 2 * width + 1
    grown = F.max_pool2d(F.max_pool2d(outside, (1, k), stride=1), (k, 1), stride=1)
    return masks & (grown.squeeze(1) > 0)


def label_boundary(labels: torch.Tensor, width: int) -> torch.Tensor:
    """Pixels of a label map within ``width`` (chessboard distance) of another label or the border.

    For every class c this is :func:`boundary_band` of ``labels == c`` restricted to that class's
    pixels, computed for all classes at once from the window maximum and minimum of the labels.

    Args:
        labels: ``(B, H, W)`` integer labels (>= 0).
        width: band width in pixels, >= 1.

    Returns:
        ``(B, H, W)`` bool.
    """
    x = labels.float().unsqueeze(1)  # (B, 1, H, W); exact for labels below 2**24
    k = 2 * width + 1

    def window_max(t: torch.Tensor, outside: float) -> torch.Tensor:
        t = F.pad(t, (width, width, width, width), value=outside)
        return F.max_pool2d(F.max_pool2d(t, (1, k), stride=1), (k, 1), stride=1)

    high = window_max(x, -1.0)
    low = -window_max(-x, 1.0)  # the border counts as label -1: a window crossing it differs
    return ((high != x) | (low != x)).squeeze(1)


def boundary_width(height: int, width: int, ratio: float) -> int:
    """The band width of the paper's protocol: ``ratio`` of the image diagonal, at least 1 px."""
    return max(1, round(ratio * math.hypot(height, width)))


class BoundaryIoU(Metric):
    """Dataset-level Boundary IoU per class, for semantic segmentation.

    For each image and class c, ``G`` and ``P`` are the bands of the ground-truth and predicted
    regions of c within ``d`` of their contours (the image border counts as a contour);
    intersections ``|G & P|`` and unions are summed over the dataset, and ``IoU_c`` is their ratio.
    The mean is taken over classes with a non-zero union, as mIoU.

    Each image is scored at its own size: ``d`` comes from its own diagonal, and its own border
    is a contour, whatever padding a batch adds (pass ``sizes`` to :meth:`update`), so the scores
    do not depend on the batch size.

    Ground-truth void is treated by ``void_rule``:

    - ``fill`` (segkit's default): void takes the predicted label in the ground truth before the
      bands are drawn, so void neither adds contours nor moves them; the union is ``|G | P|`` on
      scored pixels. A prediction right on every scored pixel scores 1.
    - ``authors``: the rule of the Boundary IoU authors' panoptic evaluator (boundary-iou-api,
      ``coco_panoptic_api/evaluation.py``): ``G`` is drawn against void (void is another region,
      so a class next to void has a contour there), and the union is ``|G| + |P| - |G & P|`` less
      the pixels of ``P`` on void. On VOC, whose objects are ringed by void, a prediction right on
      every scored pixel then scores well below 1, since its contours lie inside the void ring.

    Args:
        num_classes: number of classes.
        dilation_ratio: ``d`` as a fraction of each image's diagonal (the paper: 0.02).
        width: a fixed ``d`` in pixels instead (overrides ``dilation_ratio``).
        void_rule: ``fill`` or ``authors`` (:data:`VOID_RULES`).
        ignore_index: void label.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(
        self,
        num_classes: int,
        dilation_ratio: float = 0.02,
        width: int | None = None,
        void_rule: str = "fill",
        ignore_index: int = IGNORE_INDEX,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        check_boundary_options(
            {"dilation_ratio": dilation_ratio, "width": width, "void_rule": void_rule}
        )
        self.num_classes, self.dilation_ratio, self.width = num_classes, dilation_ratio, width
        self.void_rule, self.ignore_index = void_rule, ignore_index
        zeros = torch.zeros(num_classes, dtype=torch.int64)
        self.add_state("intersection", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("union", default=zeros.clone(), dist_reduce_fx="sum")

    def band_width(self, height: int, width: int) -> int:
        """``d`` for an image of ``height`` x ``width`` pixels."""
        return self.width or boundary_width(height, width, self.dilation_ratio)

    def update(
        self,
        preds: torch.Tensor,
        target: torch.Tensor,
        sizes: torch.Tensor | Sequence[Sequence[int]] | None = None,
    ) -> None:
        """Add a batch: ``preds`` and ``target`` ``(B, H, W)`` labels (void in ``target``).

        Args:
            preds: predicted labels.
            target: ground-truth labels.
            sizes: ``(B, 2)`` each image's own height and width, at the top left of its padded
                maps (what :func:`segkit.data.datamodule.pad_collate` returns); ``None``: every
                image fills the whole ``H x W``. Pixels outside an image are not scored.
        """
        b, h, w = target.shape
        if sizes is None:
            extents = [(h, w)] * b
        else:
            extents = [(int(y), int(x)) for y, x in torch.as_tensor(sizes).tolist()]
            if len(extents) != b or not all(1 <= y <= h and 1 <= x <= w for y, x in extents):
                raise ValueError(f"sizes {extents} do not fit {b} label maps of {h}x{w}")
        # Images of one size share d and are scored in one pass (the whole batch, unpadded).
        groups: dict[tuple[int, int], list[int]] = {}
        for i, extent in enumerate(extents):
            groups.setdefault(extent, []).append(i)
        for (height, width), index in groups.items():
            if len(index) < b:
                rows = torch.tensor(index, device=target.device)
                p, t = preds.index_select(0, rows), target.index_select(0, rows)
            else:
                p, t = preds, target
            p, t = p[:, :height, :width], t[:, :height, :width]  # (N, height, width)
            self._add(p, t, self.band_width(height, width))

    def _add(self, preds: torch.Tensor, target: torch.Tensor, d: int) -> None:
        """Count the bands of images ``(N, H, W)`` that are exactly ``H x W``, with width ``d``."""
        valid = target != self.ignore_index  # (N, H, W)
        if self.void_rule == "fill":
            # Void carries no contour: there the truth takes the prediction's label, so a band
            # only differs where the prediction differs on scored pixels.
            truth = torch.where(valid, target, preds)
        else:
            # The authors' rule: void is a region of its own, whose edge is a contour of the
            # classes next to it; the predicted band's pixels on void leave the union (below).
            truth = target
        # A pixel is in the band of its own class (and of no other) exactly when a different label
        # or the image border lies within d of it, so one pass per label map serves every class.
        gt = label_boundary(truth, d) & valid
        pr = label_boundary(preds, d) & valid  # without the predicted band's pixels on void
        c = self.num_classes
        both = gt & pr & (truth == preds)
        inter = torch.bincount(truth[both].clamp(max=c), minlength=c + 1)[:c]
        gt_count = torch.bincount(truth[gt].clamp(max=c), minlength=c + 1)[:c]
        pr_count = torch.bincount(preds[pr].clamp(max=c), minlength=c + 1)[:c]
        self.intersection += inter
        self.union += gt_count + pr_count - inter

    def compute(self) -> dict[str, torch.Tensor]:
        """``IoU`` (C,) with NaN where the union is empty, and their mean ``mIoU``."""
        union = self.union.double()
        present = union > 0
        iou = torch.where(present, self.intersection.double() / union.clamp(min=1), torch.nan)
        mean = iou[present].mean() if present.any() else torch.tensor(torch.nan)
        return {"IoU": iou, "mIoU": mean}
