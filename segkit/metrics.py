"""Pascal VOC protocol metrics from one dataset-level confusion matrix.

As the official devkit computes them: a single confusion matrix accumulated over the whole split at
each image's original resolution, ground-truth void (255) pixels ignored, IoU_c = TP / (TP+FP+FN).
mIoU is the mean over classes whose union (TP+FP+FN) is non-zero; whenever every class occurs
(as on the full VOC val set) this equals the devkit's mean over all classes. The confusion matrix
is a torchmetrics state with sum reduction, so it is synchronised across DDP processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics.classification import MulticlassConfusionMatrix

IGNORE_INDEX = 255


def scores_from_confusion(confmat: torch.Tensor) -> dict[str, torch.Tensor]:
    """VOC scores from a confusion matrix whose rows are ground truth and columns prediction.

    Args:
        confmat: ``(C, C)`` counts.

    Returns:
        ``IoU`` (C,) with NaN for classes of zero union, ``mIoU``, ``pixel_acc``, ``mean_acc``
        (mean recall over classes present in the ground truth), and ``present`` (C,) bool.
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
    return {
        "IoU": iou,
        "mIoU": iou[present].mean() if present.any() else nan,
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
        return scores_from_confusion(self.confmat)

    def named_scores(self, prefix: str = "") -> dict[str, float]:
        """Flat ``{prefix + name: value}``: mIoU, pixel_acc, mean_acc, pixels, ``IoU/<class>``."""
        scores = self.compute()
        out = {f"{prefix}{k}": float(scores[k]) for k in ("mIoU", "pixel_acc", "mean_acc")}
        out[f"{prefix}pixels"] = int(self.confmat.sum())  # non-void pixels scored
        for name, value in zip(self.class_names, scores["IoU"].tolist(), strict=True):
            out[f"{prefix}IoU/{name}"] = value
        return out
