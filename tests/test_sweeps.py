"""Sweeps: the joblib and submitit_local launchers, the compare experiment, SLURM and W&B sweep files."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, compose_train, tiny_overrides


def _sweep(tiny_synthetic: Path, root: Path, *args: str) -> list[dict]:
    env = {**os.environ, "SEGKIT_ROOT": str(root)}
    cmd = [sys.executable, "-m", "segkit.cli.train", "-m", "model/upsampler=nearest,max_unpool",
           "trainer.max_epochs=1", "logger=none", "task_name=sweep", *args,
           *tiny_overrides(tiny_synthetic)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = sorted((root / "logs" / "sweep" / "multiruns").glob("*/*/metrics.json"))
    return [json.loads(p.read_text()) for p in found]


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel_processes(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    runs = _sweep(tiny_synthetic, tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert sorted(r["upsampler"] for r in runs) == ["max_unpool", "nearest"]
    assert all(r["steps"] == 3 for r in runs)


@pytest.mark.slow
def test_submitit_local_launcher(tiny_synthetic: Path, tmp_path: Path) -> None:
    runs = _sweep(tiny_synthetic, tmp_path, "hydra/launcher=submitit_local",
                  "hydra.launcher.gpus_per_node=0", "hydra.launcher.cpus_per_task=1",
                  "hydra.launcher.timeout_min=10")  # fmt: skip
    assert sorted(r["upsampler"] for r in runs) == ["max_unpool", "nearest"]
    assert list(tmp_path.glob("logs/sweep/multiruns/*/.submitit/*/*_result.pkl"))


def test_compare_experiment_is_four_upsamplers_by_three_seeds() -> None:
    cfg = compose_train(["experiment=compare_upsamplers"])
    # compose_train drops the hydra node; read the sweep from a fresh composition
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from segkit.cli import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        full = compose(
            "train", overrides=["experiment=compare_upsamplers"], return_hydra_config=True
        )
    params = full.hydra.sweeper.params
    assert params["model/upsampler"].split(",") == [
        "nearest",
        "bed_of_nails",
        "max_unpool",
        "transpose",
    ]
    assert params["seed"].split(",") == ["42", "43", "44"]
    assert str(full.hydra.mode) == "RunMode.MULTIRUN"
    assert full.hydra.callbacks.compare._target_ == "segkit.compare.hydra.CompareOnMultirunEnd"
    assert cfg.task_name == "compare_upsamplers" and cfg.data.synthetic is not None


def test_slurm_launcher_config_composes() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from segkit.cli import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.gpus_per_node == 1 and launcher.timeout_min > 0


def test_wandb_sweep_file_calls_the_hydra_cli_with_valid_overrides() -> None:
    sweep = yaml.safe_load(
        (REPO / "segkit" / "configs" / "wandb" / "sweep_upsamplers.yaml").read_text()
    )
    assert "${args_no_hyphens}" in sweep["command"] and sweep["program"] == "segkit-train"
    names = list(sweep["parameters"])
    grid = itertools.product(*(sweep["parameters"][n]["values"] for n in names))
    combos = [dict(zip(names, values, strict=True)) for values in grid]
    assert len(combos) == 12
    for combo in combos:
        # what the agent runs: the command with the macros expanded as W&B documents them
        args = [f"{k}={v}" for k, v in combo.items()]
        command = []
        for part in sweep["command"]:
            command += {"${env}": [], "${program}": [], "${args_no_hyphens}": args}.get(
                part, [part]
            )
        cfg = compose_train(command)
        assert cfg.model.upsampler.name == combo["model/upsampler"] and cfg.seed == combo["seed"]
        assert cfg.logger.wandb.mode == "online"


@pytest.mark.slow
def test_optuna_sweeper_in_memory(tiny_synthetic: Path, tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the optuna extra (in dev)")
    env = {**os.environ, "SEGKIT_ROOT": str(tmp_path)}
    cmd = [sys.executable, "-m", "segkit.cli.train", "hparams_search=optuna_lr",
           "hydra.sweeper.n_trials=3", "trainer.max_epochs=1", "logger=none", "task_name=optuna",
           *tiny_overrides(tiny_synthetic)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((tmp_path / "logs" / "optuna" / "multiruns").iterdir())
    runs = [json.loads(p.read_text()) for p in sweep.glob("*/metrics.json")]
    assert len(runs) == 3
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    # the study maximised what the runs returned: the best value is one of theirs
    assert best["best_value"] in [r["best"]["val/mIoU"] for r in runs]
