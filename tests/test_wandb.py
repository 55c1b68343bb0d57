"""W&B: an offline run through the real CLI, read back from its run files; W&B absent or off."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, tiny_overrides

pytest.importorskip("wandb", reason="wandb is a declared dependency; installed by make install")


def _inspect(run_dir: Path) -> dict:
    """The run's state, summary and config, read offline from its .wandb file by wandb's own CLI."""
    wandb_cli = shutil.which("wandb", path=str(Path(sys.executable).parent)) or "wandb"
    proc = subprocess.run(
        [wandb_cli, "leet", "inspect", "--summary", "--json", str(run_dir)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_offline_run_holds_metrics_config_table_and_images(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SEGKIT_ROOT": str(tmp_path),
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    }
    overrides = [o for o in tiny_overrides(tiny_synthetic) if not o.startswith("callbacks=")]
    cmd = [sys.executable, "-m", "segkit.cli.train", "-m", "model/upsampler=max_unpool,transpose",
           "logger=wandb", "trainer.max_epochs=2", "callbacks.val_records.log_every_n_epochs=1",
           "callbacks.val_records.num_images=3", "~callbacks.progress_bar",
           "~callbacks.model_summary", "task_name=wandb_check", *overrides]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dirs = sorted(
        (tmp_path / "logs" / "wandb_check" / "multiruns").glob("*/*/wandb/offline-run-*")
    )
    assert len(run_dirs) == 2, "wandb.finish() between multirun jobs: one run each"

    seen = {}
    for run_dir in run_dirs:
        info = _inspect(run_dir)
        metrics = json.loads((run_dir.parents[1] / "metrics.json").read_text())
        summary, config = info["summary"], info["config"]
        assert info["state"] == "finished" and info["project"] == "segkit"
        # metrics: the same final mIoU as metrics.json
        assert float(summary["val/mIoU"]) == pytest.approx(metrics["final"]["val/mIoU"])
        assert "val/boundary_mIoU" in summary
        # the resolved config, as a plain nested dict
        assert config["model"]["upsampler"]["name"] == metrics["upsampler"]
        assert config["seed"] == 42 and config["task_name"] == "wandb_check"
        # group, tags and job type from the config
        assert set(info["tags"]) == {metrics["upsampler"], "vgg", "synthetic"}
        # the per-class table and the images with their masks
        table_ref = summary["val/per_class"]
        assert table_ref["_type"] == "table-file"
        table = json.loads((run_dir / "files" / table_ref["path"]).read_text())
        assert table["columns"] == ["class", "IoU", "boundary_IoU"]
        final = {k: math.nan if v is None else v for k, v in metrics["final"].items()}  # JSON null
        for name, iou, biou in table["data"]:  # this validation's scores, not the previous one's
            assert iou == pytest.approx(final[f"val/IoU/{name}"], nan_ok=True)
            assert biou == pytest.approx(final[f"val/boundary_IoU/{name}"], nan_ok=True)
        images = summary["val/predictions"]
        assert images["count"] == 3 and {"ground_truth", "prediction"} <= set(
            images["all_masks"][0]
        )
        media = list(run_dir.glob("files/media/images/**/*.png"))
        assert len(media) >= 3 * 2 * 2  # 3 images x 2 validations (+ masks)
        # costs and the val records, for segkit-compare --wandb
        assert summary["params"] == metrics["params"] and summary["gflops"] == metrics["gflops"]
        assert (run_dir / "files" / "val_records.npz").is_file()
        seen[metrics["upsampler"]] = info["run_id"]
    assert set(seen) == {"max_unpool", "transpose"} and len(set(seen.values())) == 2


def test_wandb_missing_or_disabled(tiny_synthetic: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SEGKIT_ROOT": str(tmp_path)}
    overrides = [*tiny_overrides(tiny_synthetic), "trainer.max_epochs=1", "logger=wandb"]
    # W&B not installed: one line naming the package and the alternatives, before any training
    code = (
        "import sys; sys.modules['wandb'] = None; sys.argv = ['segkit-train', *sys.argv[1:]];"
        "from segkit.cli.train import main; main()"
    )
    proc = subprocess.run([sys.executable, "-c", code, *overrides], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode != 0
    assert (
        "segkit-train: error: logger=wandb needs the wandb package: pip install 'wandb'"
        in proc.stderr
    )
    assert "Traceback" not in proc.stderr and "logger=csv" in proc.stderr
    # W&B disabled by its own switch: the run trains and writes its metrics, no run files
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.train", *overrides, "hydra.run.dir=" + str(tmp_path / "off")],
        cwd=REPO, env={**env, "WANDB_MODE": "disabled"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "off" / "metrics.json").is_file()
    assert not list((tmp_path / "off").glob("wandb/offline-run-*"))


@pytest.mark.slow
def test_a_resumed_run_continues_the_same_wandb_run(tiny_synthetic: Path, tmp_path: Path) -> None:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "PYTHONPATH": str(REPO / "tests")}  # fmt: skip
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "segkit.cli.train", *tiny_overrides(tiny_synthetic),
           "logger=wandb", "trainer.max_epochs=2", f"hydra.run.dir={run}"]  # fmt: skip
    kill = ["+callbacks.killer._target_=_faults.KillAtStep", "+callbacks.killer.step=4",
            "+callbacks.killer.signal_name=SIGTERM"]  # fmt: skip
    stopped = subprocess.run([*cmd, *kill], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=600)  # fmt: skip
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    resumed = subprocess.run([*cmd, "resume=auto"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    first, second = sorted((run / "wandb").glob("offline-run-*"))
    run_id = first.name.rsplit("-", 1)[-1]
    assert second.name.rsplit("-", 1)[-1] == run_id  # the same run, continued
    info = _inspect(second)
    assert info["state"] == "finished"
    metrics = json.loads((run / "metrics.json").read_text())
    assert float(info["summary"]["val/mIoU"]) == pytest.approx(metrics["final"]["val/mIoU"])
