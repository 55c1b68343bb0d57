"""segkit-eval, segkit-predict and segkit-export through their real CLIs, on a trained checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segkit.data.palette import voc_palette
from segkit.export import export
from segkit.models import UPSAMPLERS, build_model

from .conftest import REPO, tiny_overrides


def _cli(module: str, *args: str, root: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEGKIT_ROOT": str(root)}
    return subprocess.run([sys.executable, "-m", f"segkit.cli.{module}", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tiny_synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained through segkit-train; returns its run folder."""
    root = tmp_path_factory.mktemp("trained")
    overrides = [o for o in tiny_overrides(tiny_synthetic) if not o.startswith("callbacks=")]
    proc = _cli("train", *overrides, "trainer.max_epochs=3", "logger=csv",
                "~callbacks.progress_bar", "~callbacks.model_summary", "model/upsampler=max_unpool",
                f"hydra.run.dir={root / 'run'}", root=root)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "run"


@pytest.mark.slow
def test_eval_reports_exactly_the_training_metrics_of_the_checkpoint(
    trained: Path, tmp_path: Path
) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    best = Path(metrics["best_checkpoint"])
    proc = _cli("evaluate", f"ckpt_path={best}", f"hydra.run.dir={tmp_path}", root=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "eval.json").read_text())
    logged = {k: v for k, v in metrics["best"].items() if k not in ("epoch", "val/mIoU_best")}
    assert result["scores"] == logged  # equality, key by key, not approximately
    assert "mIoU" in proc.stdout and "background" in proc.stdout  # the Rich table
    confusion = np.array(result["confusion"])
    assert confusion.sum() == logged["val/pixels"]
    with Image.open(tmp_path / "confusion.png") as im:
        assert im.width > 300 and np.asarray(im.convert("L")).std() > 10
    # another inference mode runs and says so
    proc = _cli("evaluate", f"ckpt_path={best}", "inference.flip=true", f"hydra.run.dir={tmp_path / 'tta'}",
                root=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    tta = json.loads((tmp_path / "tta" / "eval.json").read_text())
    assert (
        tta["inference"] == {"flip": True} and tta["scores"]["val/pixels"] == logged["val/pixels"]
    )
    # the Boundary IoU settings are recorded; the authors' void rule replaces only that key
    assert metrics["boundary"] == result["boundary"] == {
        "dilation_ratio": 0.02, "width": None, "void_rule": "fill"
    }  # fmt: skip
    assert "val/fwIoU" in logged
    proc = _cli("evaluate", f"ckpt_path={best}", "+boundary.void_rule=authors",
                f"hydra.run.dir={tmp_path / 'authors'}", root=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    authors = json.loads((tmp_path / "authors" / "eval.json").read_text())
    assert authors["boundary"] == {**result["boundary"], "void_rule": "authors"}
    assert authors["scores"]["val/mIoU"] == logged["val/mIoU"]


@pytest.mark.slow
def test_eval_records_the_checkpoints_training_run(trained: Path, tmp_path: Path) -> None:
    """eval.json names the run the checkpoint came from, read through its metrics.json."""
    last = trained / "checkpoints" / "last.ckpt"
    proc = _cli("evaluate", f"ckpt_path={last}", f"hydra.run.dir={tmp_path}", root=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "eval.json").read_text())
    metrics = json.loads((trained / "metrics.json").read_text())
    run = result["training_run"]
    assert run["metrics"] == str((trained / "metrics.json").resolve())
    assert (run["upsampler"], run["seed"]) == ("max_unpool", metrics["seed"])
    assert run["final"] == metrics["final"]
    # the last checkpoint holds the state of the last validation: the same scores
    logged = {k: v for k, v in metrics["final"].items() if k not in ("epoch", "val/mIoU_best")}
    assert result["scores"] == logged


def test_eval_errors_are_one_line(tmp_path: Path) -> None:
    proc = _cli(
        "evaluate",
        f"ckpt_path={tmp_path / 'none.ckpt'}",
        f"hydra.run.dir={tmp_path}",
        root=tmp_path,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "segkit-eval: error: checkpoint" in proc.stderr and "does not exist" in proc.stderr


@pytest.mark.slow
def test_predict_on_real_images_writes_palette_masks_and_overlays(
    trained: Path, voc_samples: Path, tmp_path: Path
) -> None:
    jpegs = voc_samples / "VOCdevkit" / "VOC2012" / "JPEGImages"
    folder = tmp_path / "in"
    folder.mkdir()
    names = sorted(p.name for p in jpegs.glob("*.jpg"))[:3]
    for name in names:
        shutil.copy(jpegs / name, folder / name)
    (folder / "broken.jpg").write_bytes((jpegs / names[0]).read_bytes()[:2000])  # truncated
    ckpt = trained / "checkpoints" / "last.ckpt"
    out = tmp_path / "out"
    proc = _cli("predict", f"ckpt_path={ckpt}", f"input={folder}", f"output={out}",
                f"hydra.run.dir={tmp_path / 'run'}", root=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "broken.jpg" in proc.stdout and "3 written" in proc.stdout and "1 skipped" in proc.stdout
    palette = voc_palette().reshape(-1).tolist()
    for name in names:
        stem = Path(name).stem
        with Image.open(folder / name) as im:
            size = im.size
        with Image.open(out / "masks" / f"{stem}.png") as mask:
            assert mask.mode == "P" and mask.size == size
            assert mask.getpalette()[: 3 * 21] == palette[: 3 * 21]
            assert np.asarray(mask).max() < 21
        with Image.open(out / "overlays" / f"{stem}.png") as overlay:
            assert overlay.width >= size[0] and np.asarray(overlay.convert("L")).std() > 10
    assert not (out / "masks" / "broken.png").exists()
    assert not list(out.rglob("*.tmp"))  # nothing half-written


@pytest.mark.slow
@pytest.mark.parametrize("upsampler", list(UPSAMPLERS))
def test_onnx_export_matches_pytorch(upsampler: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the export extra (installed with dev)")
    torch.manual_seed(0)
    net = build_model(5, encoder={"name": "vgg", "widths": [4, 8, 16]}, upsampler=upsampler)
    net.eval()
    out = tmp_path / f"{upsampler}.onnx"
    result = export(net, out, "onnx", opset=18, check_sizes=[(64, 96), (75, 53)], atol=1e-4)
    assert out.is_file() and result["inputs"] == [[2, 3, 64, 96], [2, 3, 75, 53]]
    assert max(result["max_abs_diff"]) <= 1e-4
    # and independently: onnxruntime on a third size, batch 1
    import onnxruntime as ort

    x = torch.randn(1, 3, 41, 60)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        assert np.abs(got - net(x).numpy()).max() <= 1e-4


@pytest.mark.slow
def test_export_cli_on_a_checkpoint(trained: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the export extra (installed with dev)")
    ckpt = trained / "checkpoints" / "last.ckpt"
    target = tmp_path / "model.onnx"
    proc = _cli("export", f"ckpt_path={ckpt}", f"output={target}", f"hydra.run.dir={tmp_path / 'run'}",
                root=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert target.is_file() and "max abs diff to PyTorch 64x96" in proc.stdout
    # TorchScript: max_unpool does not trace; the error says so and writes nothing
    ts = tmp_path / "model.ts.pt"
    proc = _cli("export", f"ckpt_path={ckpt}", "format=torchscript", f"output={ts}",
                f"hydra.run.dir={tmp_path / 'run2'}", root=tmp_path)  # fmt: skip
    assert (
        proc.returncode != 0
        and "segkit-export: error:" in proc.stderr
        and "use format=onnx" in proc.stderr
    )
    assert not ts.exists() and not list(tmp_path.glob(".model.ts.pt.*"))


def test_torchscript_export_of_a_traceable_network(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_model(5, encoder={"name": "vgg", "widths": [4, 8]}, upsampler="transpose").eval()
    result = export(net, tmp_path / "net.ts.pt", "torchscript", check_sizes=[(32, 48), (37, 29)])
    assert max(result["max_abs_diff"]) <= 1e-5
    loaded = torch.jit.load(str(tmp_path / "net.ts.pt"))
    x = torch.randn(1, 3, 45, 31)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=1e-5)
