"""Statistics of a comparison: per-upsampler summaries, a paired bootstrap of mIoU differences,
convergence and stall checks of single runs, and the power of a comparison over seeds.

Just over ~300 lines: each formula with its reference and a worked docstring, pure numpy/scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


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


# ---------------------------------------------------------------------------------------------
# Convergence and stalls of single runs


@dataclass
class Convergence:
    """Whether a run's val mIoU was still moving at the end of training.

    Attributes:
        status: ``converged`` (|drift| <= tolerance), ``climbing``, ``falling`` or ``unknown``
            (too few validations in the window to fit a line).
        drift: the least-squares line's predicted mIoU change across the window (slope x window
            length in steps); NaN when unknown.
        points: validations inside the window.
        reason: why the status is ``unknown``, else empty.
    """

    status: str
    drift: float
    points: int
    reason: str = ""


def convergence(
    steps: Sequence[float],
    values: Sequence[float],
    total_steps: float | None = None,
    window: float = 0.2,
    flat_tol: float = 0.01,
    min_points: int = 3,
) -> Convergence:
    """Fit a line to the val scores of the last ``window`` fraction of a run's training steps.

    The window is ``[total - window * total, total]`` with ``total`` the run's length in steps
    (``total_steps``, or the last step given when larger or absent), so it holds the final
    validation. Its drift, slope x ``window * total``, is the mIoU change the line predicts across
    the window: ``converged`` when ``|drift| <= flat_tol``, else ``climbing`` or ``falling``.

    Args:
        steps: training step of each validation.
        values: the val score at each step (non-finite ones are ignored).
        total_steps: the run's number of training steps.
        window: fraction of the run's steps at its end that is examined.
        flat_tol: largest |drift| still counted as flat.
        min_points: fewest validations in the window to fit a line.
    """
    if not 0 < window <= 1:
        raise ValueError(f"window must be in (0, 1], got {window}")
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    total = max([float(total_steps or 0.0), *x.tolist()], default=0.0)
    if total <= 0 or x.size == 0:
        return Convergence("unknown", math.nan, 0, "no validation scores by step in its log")
    length = window * total
    inside = x >= total - length - 1e-9 * total
    points = int(inside.sum())
    share = f"{window:.0%}"
    if points < min_points or np.unique(x[inside]).size < 2:
        return Convergence(
            "unknown",
            math.nan,
            points,
            f"too few validations in the last {share} of steps (needs {min_points}): "
            "validate more often, e.g. trainer.val_check_interval",
        )
    fit = stats.linregress(x[inside], y[inside])
    drift = float(fit.slope) * length
    if abs(drift) <= flat_tol:
        status = "converged"
    else:
        status = "climbing" if drift > 0 else "falling"
    return Convergence(status, drift, points)


@dataclass
class Stall:
    """Whether a run ended far below its sibling seeds (or below a floor).

    Attributes:
        stalled: flagged.
        gap: median final score of the other seeds minus this run's (NaN when not decidable).
        reason: why it was flagged, or why the gap test was not decidable; empty otherwise.
    """

    stalled: bool
    gap: float
    reason: str = ""


def stalls(
    finals: Sequence[float], gap: float = 0.05, floor: float | None = None, min_others: int = 2
) -> list[Stall]:
    """Flag the seeds of one upsampler whose final score fell behind the others.

    Run ``i`` is stalled when its final score lies more than ``gap`` below the median final score
    of the other runs (decidable with at least ``min_others`` other finite scores), or below
    ``floor`` when one is given.
    """
    x = np.asarray(finals, dtype=np.float64)
    out = []
    for i, value in enumerate(x):
        reasons = []
        others = np.delete(x, i)
        others = others[np.isfinite(others)]
        if not math.isfinite(value):
            out.append(Stall(False, math.nan, "no final score"))
            continue
        below = math.nan
        if others.size >= min_others:
            below = float(np.median(others)) - float(value)
            if below > gap:
                reasons.append(f"{below:.3f} below the median of the other seeds (gap > {gap:g})")
        if floor is not None and value < floor:
            reasons.append(f"below the floor {floor:g}")
        if reasons:
            out.append(Stall(True, below, "; ".join(reasons)))
        elif others.size < min_others:
            out.append(Stall(False, below, f"fewer than {min_others} other seeds: not decidable"))
        else:
            out.append(Stall(False, below))
    return out


# ---------------------------------------------------------------------------------------------
# Power of a comparison over seeds (paired t-test)


def t_multiplier(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """``t_{1-alpha/2, n-1} + t_{power, n-1}``: standard errors between 0 and a detectable mean."""
    if n < 2:
        return math.nan
    return float(stats.t.ppf(1.0 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1))


def min_detectable_difference(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference a two-sided paired t-test over ``n`` seeds at level
    ``alpha`` detects with probability ``power``, for per-seed differences of standard deviation
    ``sd``: ``(t_{1-alpha/2, n-1} + t_{power, n-1}) * sd / sqrt(n)`` (the usual central-t
    approximation). NaN for ``n < 2`` or an unknown ``sd``."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    return t_multiplier(n, alpha, power) * sd / math.sqrt(n)


def seeds_needed(
    sd: float, target: float, alpha: float = 0.05, power: float = 0.8, cap: int = 1000
) -> float:
    """The smallest ``n >= 2`` whose :func:`min_detectable_difference` is at most ``target``.

    Returns:
        ``n``; ``math.inf`` when more than ``cap`` seeds would be needed; NaN for an unknown ``sd``.
    """
    if target <= 0:
        raise ValueError(f"target difference must be > 0, got {target}")
    if not math.isfinite(sd):
        return math.nan
    n = np.arange(2, cap + 1)
    mdd = (stats.t.ppf(1.0 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd / np.sqrt(n)
    ok = np.nonzero(mdd <= target)[0]
    return float(n[ok[0]]) if ok.size else math.inf


def pooled_sd(groups: Sequence[tuple[int, float]]) -> tuple[float, int]:
    """Pooled standard deviation of groups ``(n, sd)`` with ``n >= 2``, and its degrees of freedom
    ``sum(n - 1)``: ``sqrt(sum((n - 1) sd^2) / sum(n - 1))``. NaN with none."""
    usable = [(n, sd) for n, sd in groups if n >= 2 and math.isfinite(sd)]
    dof = sum(n - 1 for n, _ in usable)
    if dof == 0:
        return math.nan, 0
    return math.sqrt(sum((n - 1) * sd**2 for n, sd in usable) / dof), dof


@dataclass
class SeedTest:
    """A paired t-test over seeds of per-seed differences (candidate - baseline).

    Attributes:
        n: seed pairs.
        mean: mean difference.
        sd: standard deviation of the differences (ddof 1).
        low, high: the ``1 - alpha`` confidence interval of the mean difference.
        p: two-sided p-value (1 when every difference is 0, 0 when they are equal and non-zero,
            equal meaning an sd below 1e-12, i.e. rounding).
        mdd: :func:`min_detectable_difference` at these seeds.
        reason: why the numbers are NaN, else empty.
    """

    n: int
    mean: float
    sd: float
    low: float
    high: float
    p: float
    mdd: float
    reason: str = ""


def paired_seed_test(
    candidate: Sequence[float], baseline: Sequence[float], alpha: float = 0.05, power: float = 0.8
) -> SeedTest:
    """Paired t-test and minimal detectable difference of ``candidate[s] - baseline[s]``.

    Pairs where either score is not finite are dropped.
    """
    c = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if c.shape != b.shape:
        raise ValueError(f"paired scores differ in length: {c.shape} vs {b.shape}")
    both = np.isfinite(c) & np.isfinite(b)
    c, b = c[both], b[both]
    d = c - b
    n = int(d.size)
    if n < 2:
        mean = float(d[0]) if n else math.nan
        reason = f"{n} seed pair{'s' if n != 1 else ''}: the spread over seeds needs at least 2"
        return SeedTest(n, mean, math.nan, math.nan, math.nan, math.nan, math.nan, reason)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd <= 1e-12 * max(1.0, abs(mean)):  # equal differences up to rounding: no spread
        sd = 0.0
    se = sd / math.sqrt(n)
    half = float(stats.t.ppf(1.0 - alpha / 2, n - 1)) * se
    if se > 0:
        p = float(stats.ttest_rel(c, b).pvalue)
    else:  # no spread: the t statistic is 0/0 (no difference) or infinite
        p = 1.0 if mean == 0 else 0.0
    return SeedTest(
        n, mean, sd, mean - half, mean + half, p, min_detectable_difference(sd, n, alpha, power)
    )
