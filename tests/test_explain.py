"""The numbers the upsampling figures draw (segkit.worked_examples), and scripts/figures.py writing them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from segkit import worked_examples as explain

from .conftest import REPO


def test_pool_and_restore_puts_values_where_each_method_says() -> None:
    out = explain.pool_and_restore()
    x = explain.EXAMPLE_MAP
    assert out["pooled"].tolist() == [[5, 8], [9, 4]]
    for i in range(2):
        for j in range(2):
            cell = (slice(2 * i, 2 * i + 2), slice(2 * j, 2 * j + 2))
            value = out["pooled"][i, j]
            # nearest fills the cell; bed of nails puts the value top-left, zeros elsewhere
            assert (out["nearest"][cell] == value).all()
            assert out["bed_of_nails"][2 * i, 2 * j] == value
            assert out["bed_of_nails"][cell].sum() == value
            # max-unpool puts it back at the recorded argmax, which holds it in the input
            flat = int(out["argmax"][i, j])
            r, c = divmod(flat, x.shape[1])
            assert out["max_unpool"][r, c] == value == x[r, c]
            assert out["max_unpool"][cell].sum() == value
    # the example is worth drawing: no maximum sits top-left, so every max-unpool value lands
    # elsewhere than bed of nails puts it
    corners = {(int(f) // 4 % 2, int(f) % 4 % 2) for f in out["argmax"].flatten()}
    assert (0, 0) not in corners and len(corners) == 3
    assert ((out["max_unpool"] != 0) & (out["bed_of_nails"] != 0)).sum() == 0


def test_transpose_conv_1d_is_overlapping_copies_of_the_filter() -> None:
    a, b, x, y, z = 2.0, 3.0, 5.0, 7.0, 11.0
    inputs, kernel = torch.tensor([a, b]), torch.tensor([x, y, z])
    out2, parts2 = explain.transpose_conv_1d(inputs, kernel, stride=2)
    assert out2.tolist() == [a * x, a * y, a * z + b * x, b * y, b * z]  # 5 long
    assert torch.equal(parts2.sum(0), out2)
    assert parts2[1].tolist() == [0, 0, b * x, b * y, b * z]
    out1, parts1 = explain.transpose_conv_1d(inputs, kernel, stride=1)
    assert out1.tolist() == [a * x, a * y + b * x, a * z + b * y, b * z]  # 4 long
    assert torch.equal(parts1.sum(0), out1)


def test_conv_matrix_and_its_transpose_are_the_library_convolutions() -> None:
    kernel = torch.tensor([5.0, 7.0, 11.0])
    matrix = explain.conv_matrix(kernel, 4)
    assert matrix.tolist() == [[5, 7, 11, 0], [0, 5, 7, 11]]
    x = torch.tensor([1.0, -1.0, 2.0, 0.5])
    assert torch.equal(matrix @ x, F.conv1d(x[None, None], kernel[None, None])[0, 0])
    y = torch.tensor([1.0, -2.0])
    assert torch.equal(matrix.T @ y, F.conv_transpose1d(y[None, None], kernel[None, None])[0, 0])
    # with stride 2 as well: X^T is the stride-2 transpose convolution
    strided = explain.conv_matrix(kernel, 5, stride=2)  # (2, 5)
    assert torch.equal(
        strided.T @ y, F.conv_transpose1d(y[None, None], kernel[None, None], stride=2)[0, 0]
    )


def test_make_figures_writes_the_worked_examples(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/figures.py", "--out", str(tmp_path), "--runs", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(d) skipped: no trained runs" in proc.stderr  # an empty --runs folder
    for name in ("pooling.png", "transpose_1d.png", "conv_matrix.png"):
        with Image.open(tmp_path / name) as im:
            assert im.width > 500 and np.asarray(im.convert("L")).std() > 10
