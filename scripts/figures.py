"""Draw the figures of docs/upsampling.md from segkit's own modules (``make figures``).

    python scripts/figures.py                       # into docs/figures/upsampling/
    python scripts/figures.py --runs logs/compare_all_upsamplers/multiruns/<time>
    python scripts/figures.py --out /tmp/figs --image 3

(a) ``pooling.png``: a 4x4 map, its 2x2 max pooling, and the nearest, bed-of-nails and max-unpool
restorations, values in the cells; (b) ``transpose_1d.png``: the 1D transpose convolution of
[a, b] with [x, y, z] at stride 2 and 1, overlaps summed; (c) ``conv_matrix.png``: a convolution
as a matrix X next to X transposed, checked against the library's transpose convolution;
(d) ``upsamplers_val.png``: one val image through the trained network of every run in ``--runs``
(default: the newest sweep of ``experiment=compare_all_upsamplers``, else of
``compare_upsamplers``). Every number drawn comes from :mod:`segkit.worked_examples`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from segkit import worked_examples
from segkit.compare.figures import STYLE, qualitative_grid, save_png
from segkit.models import UPSAMPLERS
from segkit.training.record import RunRecord
from segkit.training.run_state import last_checkpoint

REPO = Path(__file__).resolve().parents[1]
SWEEPS = ("compare_all_upsamplers", "compare_upsamplers")
# the worked 1D example: input [a, b] and filter [x, y, z] (the values of tests/test_upsamplers.py)
A_B = torch.tensor([2.0, 3.0])
XYZ = torch.tensor([5.0, 7.0, 11.0])


def _grid(ax: plt.Axes, values: np.ndarray, title: str, marks: np.ndarray | None = None) -> None:
    """A matrix as coloured cells with its values written in them (``marks``: cells to outline)."""
    ax.imshow(values, cmap="Blues", vmin=0, vmax=max(1.0, float(np.abs(values).max())) * 1.3)
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=9)
        if marks is not None and marks[r, c]:
            ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=2, ec="crimson"))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)
    ax.set_title(title, fontsize=9)


def pooling_figure(path: Path) -> Path:
    """(a) the 4x4 map, its pooling and the three fixed restorations."""
    out = {k: v.numpy() for k, v in worked_examples.pool_and_restore().items()}
    argmax = np.zeros(out["input"].shape, dtype=bool)
    argmax.flat[out["argmax"].ravel()] = True
    panels = [("input (maxima outlined)", out["input"], argmax), ("2x2 max pool", out["pooled"], None),
              ("nearest", out["nearest"], None), ("bed of nails", out["bed_of_nails"], None),
              ("max unpool (indices)", out["max_unpool"], argmax)]  # fmt: skip
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(2.0 * len(panels), 2.3))
        for ax, (title, values, marks) in zip(axes, panels, strict=True):
            _grid(ax, values, title, marks)
        return save_png(fig, path)


def transpose_figure(path: Path) -> Path:
    """(b) the copies of the filter, one per input value, and their sum, at strides 2 and 1."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(8.5, 2.2), gridspec_kw={"width_ratios": [5, 4]})
        for ax, stride in zip(axes, (2, 1), strict=True):
            out, parts = worked_examples.transpose_conv_1d(A_B, XYZ, stride)
            table = np.vstack([parts.numpy(), out.numpy()[None]])  # (inputs + 1, length)
            _grid(ax, table, f"stride {stride}: output {len(out)} long")
            ax.set_yticks(range(len(table)), [f"a={A_B[0]:g} x filter", f"b={A_B[1]:g} x filter",
                                              "sum (output)"])  # fmt: skip
            ax.axhline(len(parts) - 0.5, color="black", lw=1)
        fig.suptitle(
            f"transpose convolution of [a, b] with [x, y, z] = {XYZ.tolist()}", fontsize=9, y=1.08
        )
        return save_png(fig, path)


def conv_matrix_figure(path: Path) -> Path:
    """(c) X of a 3-tap, stride-1 convolution on 4 inputs, X transposed, and the check."""
    matrix = worked_examples.conv_matrix(XYZ, 4)  # (2, 4)
    y = torch.tensor([1.0, -2.0])
    via_matrix = matrix.T @ y
    via_library = torch.nn.functional.conv_transpose1d(y[None, None], XYZ[None, None])[0, 0]
    assert torch.equal(via_matrix, via_library), (via_matrix, via_library)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(6.5, 2.8), gridspec_kw={"width_ratios": [4, 2.4]})
        _grid(axes[0], matrix.numpy(), "X: conv1d(x, [x, y, z]) = X x")
        _grid(axes[1], matrix.T.numpy(), "X transposed")
        fig.text(0.5, -0.04, f"X^T {y.tolist()} = {via_matrix.tolist()} = conv_transpose1d "
                 f"{via_library.tolist()}", ha="center", fontsize=9)  # fmt: skip
        return save_png(fig, path)


def find_runs(runs: Path | None) -> list[Path]:
    """Run folders of a sweep (``--runs``, else the newest comparison sweep under logs/)."""
    if runs is None:
        sweeps = sorted(
            (d for name in SWEEPS for d in (REPO / "logs" / name / "multiruns").glob("*")),
            key=lambda d: d.stat().st_mtime,
        )
        if not sweeps:
            return []
        runs = sweeps[-1]
    # one run per upsampler: the lowest seed
    chosen: dict[str, tuple[int, Path]] = {}
    for path in runs.glob(f"*/{RunRecord.FILE}"):
        record = RunRecord.read(path)
        if last_checkpoint(path.parent).is_file():
            seed, name = int(record.seed), str(record.upsampler)
            if name not in chosen or seed < chosen[name][0]:
                chosen[name] = (seed, path.parent)
    return [chosen[n][1] for n in UPSAMPLERS if n in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "upsampling")
    parser.add_argument("--runs", type=Path, default=None, help="a sweep folder for figure (d)")
    parser.add_argument("--image", type=int, default=0, help="val image index of figure (d)")
    args = parser.parse_args(argv)
    written = [
        pooling_figure(args.out / "pooling.png"),
        transpose_figure(args.out / "transpose_1d.png"),
        conv_matrix_figure(args.out / "conv_matrix.png"),
    ]
    runs = find_runs(args.runs)
    if runs:
        image, truth, preds = worked_examples.predictions_of_runs(runs, args.image)
        written.append(
            qualitative_grid(
                [image.numpy()],
                [truth.numpy()],
                {k: [v.numpy()] for k, v in preds.items()},
                args.out / "upsamplers_val.png",
            )
        )
    else:
        where = args.runs or f"logs/{{{','.join(SWEEPS)}}}/multiruns"
        print(f"figures: (d) skipped: no trained runs in {where}; run segkit-train "
              "experiment=compare_all_upsamplers, or pass --runs <sweep folder>", file=sys.stderr)  # fmt: skip
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
