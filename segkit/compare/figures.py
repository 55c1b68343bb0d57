"""Figures (matplotlib, Agg backend) for comparisons, evaluation and benchmarks, sized for a paper.

Every function takes plain data, draws one figure and saves it atomically as PNG.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from segkit.compare.stats import mean_std
from segkit.data.palette import colorize
from segkit.io import atomic_write_bytes

STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
}


def save_png(fig: plt.Figure, path: Path, bbox: str | None = "tight") -> Path:
    """Save ``fig`` as PNG atomically and close it (``bbox=None`` keeps the figure's size)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches=bbox)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def _colors(n: int) -> list:
    return [plt.get_cmap("tab10")(i % 10) for i in range(n)]


def bar_chart(
    names: Sequence[str],
    panels: Mapping[str, Sequence[Sequence[float]]],
    path: Path,
) -> Path:
    """One panel per metric: mean over seeds as a bar, ± std as an error bar, each seed as a dot.

    Args:
        names: upsamplers, in plotting order.
        panels: metric title -> per-upsampler lists of per-seed values.
    """
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.0), squeeze=False)
        colors = _colors(len(names))
        x = np.arange(len(names))
        for ax, (title, per_name) in zip(axes[0], panels.items(), strict=True):
            means, stds = zip(*(mean_std(v) for v in per_name), strict=True)
            ax.bar(x, means, yerr=stds, color=colors, capsize=4, width=0.65, alpha=0.85)
            for i, values in enumerate(per_name):
                jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
                ax.scatter(x[i] + np.asarray(jitter), values, s=10, color="black", zorder=3)
            values = [x for v in per_name for x in v if math.isfinite(x)]
            if values:
                lo, hi = min(values), max(values)
                pad = max(0.02, 0.15 * (hi - lo))
                ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
            ax.set_xticks(x, names, rotation=30, ha="right")
            ax.set_title(title)
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle("Mean ± std over seeds (dots: single seeds)", fontsize=9)
        fig.tight_layout()
        return save_png(fig, path)


def difference_plot(
    names: Sequence[str], intervals: Sequence[tuple[float, float, float]], baseline: str, path: Path
) -> Path:
    """Forest plot of each upsampler's mIoU difference to the baseline with its 95% interval."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.8, 0.45 * len(names) + 1.0))
        y = np.arange(len(names))[::-1]
        for yi, (est, lo, hi), color in zip(y, intervals, _colors(len(names)), strict=True):
            ax.errorbar(est, yi, xerr=[[est - lo], [hi - est]], fmt="o", color=color, capsize=4)
        ax.axvline(0.0, color="grey", lw=1, ls="--")
        ax.set_yticks(y, names)
        ax.set_xlabel(f"mIoU difference to {baseline} (paired bootstrap 95% interval)")
        ax.grid(axis="x", alpha=0.3)
        return save_png(fig, path)


def class_heatmap(
    classes: Sequence[str], names: Sequence[str], iou: np.ndarray, path: Path, title: str
) -> Path:
    """Class x upsampler heatmap of IoU (``iou`` shaped (classes, upsamplers)), values printed."""
    with plt.rc_context(STYLE):
        height = 0.28 * len(classes) + 1.2
        fig, ax = plt.subplots(figsize=(1.0 * len(names) + 2.6, height))
        image = ax.imshow(iou, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        for (i, j), value in np.ndenumerate(iou):
            if math.isfinite(value):
                color = "black" if value > 0.6 else "white"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6.5, color=color)
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="IoU")
        ax.set_title(title)
        ax.spines[:].set_visible(False)
        return save_png(fig, path)


def training_curves(
    curves: Mapping[str, Sequence[Mapping[str, Sequence[float]]]],
    keys: Mapping[str, str],
    path: Path,
) -> Path:
    """Per-upsampler mean curve over seeds with the min-max band, one panel per logged key.

    Args:
        curves: upsampler -> list (one per seed) of ``{"epoch": [...], key: [...]}``.
        keys: logged key -> panel title.
    """
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 2.8), squeeze=False)
        for ax, (key, title) in zip(axes[0], keys.items(), strict=True):
            for (name, runs), color in zip(curves.items(), _colors(len(curves)), strict=True):
                series = [
                    (np.asarray(r["epoch"]) + 1, np.asarray(r.get(key, []), dtype=float))
                    for r in runs
                    if r.get("epoch")
                ]
                length = min((len(e) for e, _ in series), default=0)
                if length == 0:
                    continue
                epochs = series[0][0][:length]
                values = np.stack([v[:length] for _, v in series])
                keep = np.isfinite(values).all(axis=0)
                if not keep.any():
                    continue
                ax.plot(epochs[keep], values.mean(0)[keep], color=color, label=name, lw=1.5)
                if len(series) > 1:
                    ax.fill_between(
                        epochs[keep],
                        values.min(0)[keep],
                        values.max(0)[keep],
                        color=color,
                        alpha=0.15,
                    )
            ax.set_xlabel("epoch")
            ax.set_title(title)
            ax.grid(alpha=0.3)
        axes[0][-1].legend(fontsize=7, frameon=False)
        fig.tight_layout()
        return save_png(fig, path)


def qualitative_grid(
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    predictions: Mapping[str, Sequence[np.ndarray]],
    path: Path,
    captions: Sequence[str] | None = None,
) -> Path:
    """Rows: the same val images; columns: image, ground truth, then each upsampler's prediction."""
    columns = ["image", "ground truth", *predictions]
    rows = len(images)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            rows, len(columns), figsize=(1.6 * len(columns), 1.6 * rows + 0.3), squeeze=False
        )
        for r in range(rows):
            cells = [images[r], colorize(truths[r])]
            cells += [colorize(predictions[name][r]) for name in predictions]
            for c, cell in enumerate(cells):
                ax = axes[r][c]
                ax.imshow(cell, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.spines[:].set_visible(False)
                if r == 0:
                    ax.set_title(columns[c], fontsize=8)
            if captions is not None:
                axes[r][0].set_ylabel(captions[r], fontsize=6)
        fig.tight_layout(pad=0.3)
        return save_png(fig, path)


def confusion_heatmap(confmat: np.ndarray, classes: Sequence[str], path: Path) -> Path:
    """Row-normalised confusion matrix (rows: ground truth, columns: prediction) with class names."""
    confmat = np.asarray(confmat, dtype=np.float64)
    rows = confmat.sum(axis=1, keepdims=True)
    share = np.divide(confmat, rows, out=np.zeros_like(confmat), where=rows > 0)
    n = len(classes)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(0.32 * n + 2.4, 0.32 * n + 1.6))
        image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(n), classes, fontsize=7)
        ax.set_xlabel("prediction")
        ax.set_ylabel("ground truth")
        if n <= 25:
            for (i, j), value in np.ndenumerate(share):
                if value >= 0.005:
                    color = "white" if value > 0.6 else "black"
                    ax.text(
                        j,
                        i,
                        f"{100 * value:.0f}",
                        ha="center",
                        va="center",
                        fontsize=5.5,
                        color=color,
                    )
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="share of the row's pixels")
        ax.set_title("Confusion matrix (row-normalised, %)")
        ax.spines[:].set_visible(False)
        return save_png(fig, path)
