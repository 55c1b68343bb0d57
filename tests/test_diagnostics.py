"""The checkerboard measure on synthetic maps, on the upsamplers it is meant to tell apart, and
in a training run's metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from segkit.measure.checkerboard import checkerboard_share
from segkit.models import Skip, create_upsampler
from segkit.training.run import run

from .conftest import compose_train, tiny_overrides

ROW, COL = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")


def test_a_pure_checkerboard_scores_one_and_smooth_maps_about_zero() -> None:
    checker = (-1.0) ** (ROW + COL)
    assert checkerboard_share(checker) == pytest.approx(1.0)
    stripes = (-1.0) ** ROW  # rows alternate: the (pi, 0) bin alone
    assert checkerboard_share(stripes) == pytest.approx(1.0)
    blob = torch.exp(-((ROW - 16) ** 2 + (COL - 12) ** 2) / 60)
    ramp = ROW / 31 + COL / 62
    assert checkerboard_share(blob) < 1e-4 and checkerboard_share(ramp) < 0.01
    assert checkerboard_share(torch.ones(3, 32, 32)) == 0.0  # constant: nothing but the mean
    # half-strength checkerboard on a smooth map: a share between the two
    mixed = checkerboard_share(blob + 0.1 * checker)
    assert 0.1 < mixed < 0.99


def test_white_noise_spreads_its_energy_over_all_bins() -> None:
    torch.manual_seed(0)
    share = checkerboard_share(torch.randn(8, 64, 64))
    assert share == pytest.approx(3 / (64 * 64), rel=0.5)  # 3 of 64*64 bins


def test_odd_sizes_are_cropped_and_tiny_maps_refused() -> None:
    odd = (-1.0) ** (torch.arange(33.0)[:, None] + torch.arange(31.0))
    assert checkerboard_share(odd) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="smaller than stride"):
        checkerboard_share(torch.zeros(1, 1))


def test_the_measure_separates_bed_of_nails_from_nearest_on_relu_features() -> None:
    torch.manual_seed(0)
    x = torch.relu(torch.randn(2, 8, 32, 32))  # non-negative, as after ReLU
    pooled, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    skip = Skip((32, 32), indices, x)
    share = {
        name: checkerboard_share(create_upsampler(name, 8)(pooled, skip))
        for name in ("nearest", "bilinear", "bed_of_nails", "pixel_shuffle", "transpose_bilinear")
    }
    assert share["bed_of_nails"] > 0.5  # every other pixel zero: a strong stride-2 pattern
    assert share["nearest"] < 1e-12  # the 2x2 box filter has a zero at the stride frequency
    assert share["pixel_shuffle"] < 1e-12  # ICNR: nearest resize of a conv at initialisation
    assert share["bilinear"] < 0.01 and share["transpose_bilinear"] < 0.01
    # the same sub-pixel convolution without ICNR starts with a checkerboard
    torch.manual_seed(0)
    plain = create_upsampler("pixel_shuffle", 8, icnr=False)
    assert checkerboard_share(plain(pooled, skip)) > 0.3


def test_training_records_the_share_at_init_and_after(tiny_synthetic: Path, tmp_path: Path) -> None:
    overrides = [o for o in tiny_overrides(tiny_synthetic) if o != "callbacks=none"]
    cfg = compose_train([*overrides, "~callbacks.progress_bar", "~callbacks.model_summary",
                         "model/upsampler=bed_of_nails", "trainer.max_epochs=1"], tmp_path)  # fmt: skip
    metrics = run(cfg)
    written = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("checkerboard_init", "checkerboard_final"):
        assert written[key] == metrics[key]
    assert 0.0 <= metrics["checkerboard_final"] <= 1.0
    assert 0.0 < metrics["checkerboard_init"] <= 1.0
    assert metrics["checkerboard_init"] != metrics["checkerboard_final"]  # training changed it
    logged = (tmp_path / "csv" / "metrics.csv").read_text()
    assert "checkerboard/init" in logged and "checkerboard/final" in logged
