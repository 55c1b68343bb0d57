"""The comparison: a real sweep through the CLI, then the report; its statistics by construction."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segkit.compare.report import write_report
from segkit.compare.runs import CompareError, Run, find_runs
from segkit.compare.stats import mean_std, miou_from_confusions, paired_bootstrap
from segkit.models import UPSAMPLERS

from .conftest import REPO, tiny_overrides

FOUR = ("nearest", "bed_of_nails", "max_unpool", "transpose")


def _png_is_a_picture(path: Path) -> None:
    assert path.is_file(), path
    with Image.open(path) as im:
        assert im.width >= 300 and im.height >= 200, (path, im.size)
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    assert pixels.std() > 10, f"{path} is nearly blank"


@pytest.fixture(scope="module")
def sweep(tiny_synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """experiment=compare_upsamplers shrunk to tiny data: 4 upsamplers x 2 seeds, 2 epochs each."""
    root = tmp_path_factory.mktemp("compare")
    overrides = [o for o in tiny_overrides(tiny_synthetic) if not o.startswith("callbacks=")]
    cmd = [sys.executable, "-m", "segkit.cli.train", "experiment=compare_upsamplers", "seed=1,2",
           "trainer.max_epochs=2", "~callbacks.progress_bar", "~callbacks.model_summary",
           "hydra.callbacks.compare.replicates=200", *overrides]  # fmt: skip
    env = {**os.environ, "SEGKIT_ROOT": str(root)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweeps = list((root / "logs" / "compare_upsamplers" / "multiruns").iterdir())
    assert len(sweeps) == 1
    assert "comparison of 8 runs" in proc.stdout
    return sweeps[0]


@pytest.mark.slow
def test_compare_upsamplers_sweep_and_report(sweep: Path, tmp_path: Path) -> None:
    # the sweep wrote its own report through the Hydra callback...
    assert (sweep / "report" / "report.md").is_file()
    # ...and segkit-compare, the CLI, writes the same table anywhere
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.compare", str(sweep), "--out", str(out),
         "--replicates", "300"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

    per_run = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))]
    assert sorted((m["upsampler"], m["seed"]) for m in per_run) == sorted(
        (u, s) for u in FOUR for s in (1, 2)
    )
    with open(out / "summary.csv") as f:
        rows = {r["upsampler"]: r for r in csv.DictReader(f)}
    assert list(rows) == [u for u in UPSAMPLERS if u in FOUR]  # registry order
    for name, row in rows.items():
        mine = [m for m in per_run if m["upsampler"] == name]
        assert int(row["runs"]) == 2
        for key in ("mIoU", "boundary_mIoU", "pixel_acc"):
            mean, std = mean_std([m["final"][f"val/{key}"] for m in mine])
            assert float(row[f"{key}_mean"]) == mean and float(row[f"{key}_std"]) == std
        assert float(row["params"]) == mine[0]["params"]
        assert float(row["gflops"]) == mine[0]["gflops"] > 0
        assert float(row["train_images_per_s"]) > 0
        for key in ("checkerboard_init", "checkerboard_final"):
            assert float(row[key]) == pytest.approx(mean_std([m[key] for m in mine])[0])
            assert 0.0 <= float(row[key]) <= 1.0
    # bed of nails starts with a strong stride-2 pattern in its logits; nearest cannot have one
    assert float(rows["bed_of_nails"]["checkerboard_init"]) > float(
        rows["nearest"]["checkerboard_init"]
    )
    # paired bootstrap against nearest: zero for nearest itself, an interval around the others
    assert float(rows["nearest"]["delta_mIoU"]) == 0.0
    for name in FOUR[1:]:
        est, lo, hi = (
            float(rows[name][k]) for k in ("delta_mIoU", "delta_mIoU_low", "delta_mIoU_high")
        )
        assert math.isfinite(est) and lo <= est <= hi and lo < hi
    report = (out / "report.md").read_text()
    for name in FOUR:
        assert f"| {name} |" in report
    assert "checkerboard init → final |" in report
    for png in ("bars.png", "difference.png", "class_iou.png", "curves.png", "qualitative.png"):
        _png_is_a_picture(out / png)
        assert f"]({png})" in report


def test_paired_bootstrap_by_construction() -> None:
    rng = np.random.default_rng(0)
    base = [rng.integers(0, 50, size=(30, 3, 3)) for _ in range(3)]  # 3 seeds, 30 images
    same = paired_bootstrap(base, base, replicates=300)
    assert same.estimate == same.low == same.high == 0.0  # identical runs: exactly no difference
    # a candidate with 40 more correct pixels of every class in every image wins under every draw
    better = [b + 40 * np.eye(3, dtype=np.int64)[None] for b in base]
    iv = paired_bootstrap(better, base, replicates=300)
    full = np.mean(
        [
            miou_from_confusions(c.sum(0)) - miou_from_confusions(b.sum(0))
            for c, b in zip(better, base, strict=True)
        ]
    )
    assert iv.estimate == pytest.approx(full)
    assert 0 < iv.low <= iv.estimate <= iv.high
    assert (iv.seeds, iv.images, iv.replicates) == (3, 30, 300)
    with pytest.raises(ValueError, match="shape"):
        paired_bootstrap([base[0]], [base[0][:10]])


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="no metrics.json"):
        find_runs(tmp_path)
    runs = [
        Run(f"r{i}", {"upsampler": "nearest", "seed": 1, "final": {"val/mIoU": 0.5}})
        for i in range(2)
    ]
    with pytest.raises(CompareError, match="several runs with seed"):
        write_report(runs, tmp_path / "out")
    runs = [Run("a", {"upsampler": "nearest", "seed": 1, "final": {"val/mIoU": 0.5}})]
    with pytest.raises(
        CompareError, match="--baseline transpose has no runs here; upsamplers found: nearest"
    ):
        write_report(runs, tmp_path / "out", baseline="transpose")
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.compare", str(tmp_path / "missing")],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("segkit-compare: error:") and "Traceback" not in proc.stderr


def test_wandb_source_maps_runs_like_local_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The W&B public API needs a server; a stand-in with its interface checks segkit's mapping.
    wandb = pytest.importorskip("wandb")
    confusions = np.arange(2 * 3 * 3).reshape(2, 3, 3)

    class File:
        def download(self, root: str, replace: bool) -> None:
            Path(root).mkdir(parents=True, exist_ok=True)
            np.savez(Path(root) / "val_records.npz", confusions=confusions)

    class FakeRun:
        def __init__(self, rid: str, upsampler: str | None) -> None:
            self.id = rid
            self.config = {
                "seed": 7,
                "model": {"upsampler": {"name": upsampler}, "encoder": {"name": "vgg"}},
            }
            if upsampler is None:
                self.config = {"lr": 1}  # some other project's run: skipped
            self.summary = {"val/mIoU": 0.5, "val/boundary_mIoU": 0.25, "params": 10, "gflops": 1.5,
                            "trainer/global_step": 20}  # fmt: skip

        def scan_history(self, keys: list[str]) -> list[dict]:
            # Lightning's WandbLogger logs trainer/global_step in every row; validation twice an epoch
            rows = [{"epoch": 0, "val/mIoU": 0.3}, {"epoch": 0, "val/mIoU": 0.4},
                    {"epoch": 0, "train/loss_epoch": 2.0}, {"epoch": 1, "val/mIoU": 0.45},
                    {"epoch": 1, "val/mIoU": 0.5}, {"epoch": 1, "train/loss_epoch": 1.0}]  # fmt: skip
            for i, row in enumerate(rows):
                row["trainer/global_step"] = [4, 9, 9, 14, 19, 19][i]
                row["_step"] = i
            return [r for r in rows if set(keys) <= set(r)]  # as W&B: rows holding every key

        def file(self, name: str) -> File:
            assert name == "val_records.npz"
            return File()

    class Api:
        def runs(self, path: str, filters: dict) -> list[FakeRun]:
            assert path == "team/segkit" and filters == {"state": "finished", "group": "cmp"}
            return [FakeRun("a1", "nearest"), FakeRun("b2", None)]

    monkeypatch.setattr(wandb, "Api", Api)
    from segkit.compare.runs import wandb_runs

    runs = wandb_runs("team/segkit", "cmp", download_to=tmp_path)
    assert len(runs) == 1
    run = runs[0]
    assert (run.upsampler, run.seed, run.score("mIoU"), run.score("boundary_mIoU")) == (
        "nearest",
        7,
        0.5,
        0.25,
    )
    assert run.metrics["gflops"] == 1.5 and run.curves["val/mIoU"] == [0.4, 0.5]
    assert run.curves["train/loss_epoch"] == [2.0, 1.0]
    # every validation by training step (for the convergence check), the run's length
    assert run.val_steps["step"] == [4.0, 9.0, 14.0, 19.0]
    assert run.val_steps["val/mIoU"] == [0.3, 0.4, 0.45, 0.5]
    assert run.total_steps == 20
    assert np.array_equal(run.load_records()["confusions"], confusions)


def test_beats_background_script(tmp_path: Path) -> None:
    script = REPO / "scripts" / "beats_background.py"
    rng = np.random.default_rng(1)
    truth = rng.integers(1, 200, size=(40, 3))  # ground-truth pixels per image and class
    perfect = np.zeros((40, 3, 3), dtype=np.int64)
    perfect[:, [0, 1, 2], [0, 1, 2]] = truth
    background = np.zeros_like(perfect)
    background[:, :, 0] = truth
    for confusions, code in ((perfect, 0), (background, 1)):
        run = tmp_path / f"run{code}"
        run.mkdir()
        np.savez(run / "val_records.npz", confusions=confusions)
        proc = subprocess.run([sys.executable, str(script), str(run), "--replicates", "500"],
                              capture_output=True, text=True, cwd=REPO)  # fmt: skip
        assert proc.returncode == code, proc.stdout + proc.stderr
        bg = miou_from_confusions(background.sum(0))
        assert f"all-background mIoU {bg:.4f}" in proc.stdout
