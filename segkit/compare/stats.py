"""Statistics of a comparison: per-upsampler summaries and a paired bootstrap of mIoU differences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value) of the finite values."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


def miou_from_confusions(confmats: np.ndarray) -> np.ndarray:
    """VOC mIoU of each ``(..., C, C)`` confusion matrix (mean over classes with a non-zero union)."""
    confmats = confmats.astype(np.float64)
    tp = np.diagonal(confmats, axis1=-2, axis2=-1)
    union = confmats.sum(axis=-1) + confmats.sum(axis=-2) - tp
    present = union > 0
    iou = np.where(present, tp / np.maximum(union, 1), 0.0)
    return iou.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


@dataclass
class Interval:
    """A difference (candidate - baseline) with its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float
    replicates: int
    seeds: int
    images: int


def paired_bootstrap(
    candidate: Sequence[np.ndarray],
    baseline: Sequence[np.ndarray],
    replicates: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Bootstrap interval of the mIoU difference between two upsamplers, paired by seed and image.

    ``candidate[s]`` and ``baseline[s]`` are the per-image confusion matrices ``(N, C, C)`` of the
    runs with the same training seed ``s`` on the same N val images. Each replicate resamples the
    val images (the same draw for every run, so images stay paired) and the seeds (pairs kept
    together), recomputes each run's dataset-level mIoU from the resampled images and averages the
    per-seed differences. The estimate is that mean difference on the full data.

    Raises:
        ValueError: no seeds, or runs that disagree on the val images or classes.
    """
    if len(candidate) != len(baseline) or not candidate:
        raise ValueError("paired bootstrap needs the same, non-zero number of seeds on both sides")
    shapes = {c.shape for c in (*candidate, *baseline)}
    if len(shapes) != 1:
        raise ValueError(f"per-image confusions differ in shape across runs: {sorted(shapes)}")
    cand = np.stack(candidate).astype(np.float64)  # (S, N, C, C)
    base = np.stack(baseline).astype(np.float64)
    s, n, c, _ = cand.shape
    estimate = float(np.mean(miou_from_confusions(cand.sum(1)) - miou_from_confusions(base.sum(1))))
    rng = np.random.default_rng(seed)
    # image weights: how often each image is drawn in each replicate, (R, N)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(np.float64)
    diffs = np.empty((replicates, s))
    for k in range(s):  # (R, N) @ (N, C*C) -> the resampled dataset confusion of each replicate
        cm_c = (weights @ cand[k].reshape(n, c * c)).reshape(replicates, c, c)
        cm_b = (weights @ base[k].reshape(n, c * c)).reshape(replicates, c, c)
        diffs[:, k] = miou_from_confusions(cm_c) - miou_from_confusions(cm_b)
    seed_draws = rng.integers(0, s, size=(replicates, s))
    means = np.take_along_axis(diffs, seed_draws, axis=1).mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(estimate, float(low), float(high), replicates, s, n)
