"""The upsampler benchmark protocol: its scenes, in-memory data, parallel-job safety and the sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from segkit.data import synthetic
from segkit.data.boundary_scenes import CLASS_NAMES, HUES, KINDS, _object
from segkit.data.datamodule import SegDataModule
from segkit.data.synthetic import SyntheticSpec, ensure_synthetic, is_complete
from tests.conftest import compose_train

BOUNDARY_SPEC = {
    "style": "boundaries", "num_train": 24, "num_val": 6, "image_size": 48,
    "min_objects": 3, "max_objects": 6, "jpeg_quality": 95,
}  # fmt: skip


@pytest.fixture(scope="module")
def boundary_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_synthetic(tmp_path_factory.mktemp("b") / "sb", SyntheticSpec(**BOUNDARY_SPEC))


def _rgb_hue(rgb: np.ndarray) -> np.ndarray:
    """Hue in degrees of (..., 3) RGB in [0, 1]."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.degrees(np.arctan2(np.sqrt(3) * (g - b), 2 * r - g - b)) % 360


def test_boundary_scenes_classes_are_hues_and_every_pixel_is_scored() -> None:
    """Recognition is easy by design: an object's class is its hue family, 60 degrees apart."""
    spec = SyntheticSpec(**{**BOUNDARY_SPEC, "image_size": 64})
    hues: dict[int, list[float]] = {}
    for i in range(40):
        image, label = synthetic._draw(spec, np.random.default_rng((0, 0, i)))
        assert label.shape == (64, 64) and label.max() < len(CLASS_NAMES)  # no void (255)
        rgb = np.asarray(image, dtype=np.float64) / 255
        for cls in range(1, len(CLASS_NAMES)):
            inside = label == cls
            if inside.sum() > 20:
                mean = np.angle(np.exp(1j * np.radians(_rgb_hue(rgb[inside]))).mean(), deg=True)
                hues.setdefault(cls, []).append(mean % 360)
    assert set(hues) == set(range(1, len(CLASS_NAMES)))
    for cls, values in hues.items():
        target = HUES[CLASS_NAMES[cls]]
        off = np.abs((np.asarray(values) - target + 180) % 360 - 180)
        assert np.median(off) < 15, (CLASS_NAMES[cls], np.median(off))


def test_boundary_scenes_have_fine_geometry() -> None:
    """Thin parts (bars <= 3 px wide), holes (rings) and two-class discs are drawn as specified."""
    rng = np.random.default_rng(7)
    bars = _object("bars", 64, rng, 1.0)[0]
    # a stroke of width <= 3 px: eroding it by a 3x3 square leaves (almost) nothing
    padded = np.pad(bars, 1)
    eroded = np.ones_like(bars)
    for dy in range(3):
        for dx in range(3):
            eroded &= padded[dy : dy + 64, dx : dx + 64]
    assert bars.sum() > 20 and eroded.sum() <= 0.1 * bars.sum()
    ring = _object("ring", 64, np.random.default_rng(3), 1.0)[0]
    ys, xs = np.nonzero(ring)
    cy, cx = round(float(ys.mean())), round(float(xs.mean()))
    assert not ring[cy, cx]  # the hole
    a, b = _object("split", 64, np.random.default_rng(5), 1.0)
    assert a.any() and b.any() and not (a & b).any()
    assert set(KINDS) == {"star", "ring", "bars", "dots", "split", "holes"}


def test_in_memory_data_equals_reading_from_disk(boundary_set: Path) -> None:
    common = dict(root=str(boundary_set), class_names="synthetic", synthetic=BOUNDARY_SPEC,
                  batch_size=4, val_batch_size=3, num_workers=0, crop_size=48, base_size=48,
                  scale_range=(1.0, 1.0))  # fmt: skip
    disk, memory = SegDataModule(**common), SegDataModule(**common, in_memory=True)
    assert list(memory.class_names) == list(CLASS_NAMES)
    for dm in (disk, memory):
        dm.prepare_data()
        dm.setup("fit")
    for i in range(len(disk.val_set)):
        (x0, y0), (x1, y1) = disk.val_set[i], memory.val_set[i]
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
    # a transform never changes the held copy
    first = memory.val_set[0][1].clone()
    memory.val_set[0][1].fill_(0)
    assert torch.equal(memory.val_set[0][1], first)


def test_parallel_job_finishing_first_is_kept(tmp_path: Path, monkeypatch) -> None:
    """Two sweep jobs writing the same set at once: the second keeps the first's copy, no error."""
    spec = SyntheticSpec(**{**BOUNDARY_SPEC, "num_train": 3, "num_val": 2})
    root = tmp_path / "sb"
    real, calls = synthetic._draw, []

    def draw(s, rng):
        if not calls:  # while this job writes, a parallel job finishes the whole set
            calls.append(1)
            monkeypatch.setattr(synthetic, "_draw", real)
            ensure_synthetic(root, spec)
            monkeypatch.setattr(synthetic, "_draw", draw)
        return real(s, rng)

    monkeypatch.setattr(synthetic, "_draw", draw)
    assert ensure_synthetic(root, spec) == root
    assert is_complete(root, spec) and calls
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".sb.tmp-")]  # no leftovers


def test_protocol_config_composes(tmp_path: Path) -> None:
    cfg = compose_train(["experiment=upsampler_benchmark"], tmp_path)
    assert cfg.model.fusion == "none" and list(cfg.model.encoder.widths) == [16, 32]
    assert cfg.data.synthetic.style == "boundaries" and cfg.data.in_memory
    assert cfg.threads == 1 and cfg.channels_last and cfg.optim.name == "adamw"
    assert cfg.task_name == "upsampler_benchmark_none"
    concat = compose_train(["experiment=upsampler_benchmark", "model.fusion=concat"], tmp_path)
    assert concat.task_name == "upsampler_benchmark_concat"


@pytest.mark.slow
def test_protocol_sweep_trains_and_reports_through_the_cli(tmp_path: Path) -> None:
    """A tiny version of the protocol: 2 upsamplers x 2 seeds in 2 parallel jobs, then the report."""
    spec = ",".join(f"{k}:{v}" for k, v in {**BOUNDARY_SPEC, "num_train": 32}.items())
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "segkit.cli.train", "experiment=upsampler_benchmark",
        "model/upsampler=nearest,max_unpool", "seed=5,6",
        f"data.root={tmp_path / 'data'}", f"data.synthetic={{{spec}}}",
        "data.batch_size=8", "data.val_batch_size=3", "trainer.max_epochs=2",
        "callbacks.checkerboard=null", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    env = {**os.environ, "SEGKIT_ROOT": str(tmp_path)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
    assert sorted((r["upsampler"], r["seed"]) for r in runs) == [
        ("max_unpool", 5), ("max_unpool", 6), ("nearest", 5), ("nearest", 6)
    ]  # fmt: skip
    assert {r["fusion"] for r in runs} == {"none"}
    # 4 batches of 8 per epoch, 2 epochs
    assert all(r["steps"] == 8 for r in runs)
    report = (sweep / "report" / "report.md").read_text()
    assert "max_unpool" in report and "nearest" in report
    summary = (sweep / "report" / "summary.csv").read_text()
    assert "mIoU_mdd" in summary
