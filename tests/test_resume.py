"""Exact resume: real ``segkit-train`` processes killed by SIGKILL or SIGTERM, then resumed.

Every case compares against one uninterrupted run of the same seed: the final weights, optimizer
state and val metrics must be equal bit for bit (CPU, ``deterministic=true``).
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segkit.training.checkpoint import AtomicCheckpointIO
from tests.conftest import tiny_overrides

TESTS = Path(__file__).resolve().parent
EPOCHS, BATCHES = 3, 3  # 24 train images in batches of 8
KILL_STEPS = random.Random(2026).sample(range(1, EPOCHS * BATCHES), 3)  # "random steps", fixed


def _overrides(data: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        *tiny_overrides(data),
        # the real checkpoint callback (best by val/mIoU + last), without the display ones
        "callbacks=default",
        "~callbacks.progress_bar",
        "~callbacks.model_summary",
        "~callbacks.val_records",
        f"trainer.max_epochs={EPOCHS}",
        "deterministic=true",
        "seed=7",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def _train(data: Path, run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "PYTHONHASHSEED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "segkit.cli.train", *_overrides(data, run_dir, *extra)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _kill_at(step: int, signal_name: str = "SIGKILL") -> list[str]:
    return [
        "+callbacks.killer._target_=_faults.KillAtStep",
        f"+callbacks.killer.step={step}",
        f"+callbacks.killer.signal_name={signal_name}",
    ]


def _outcome(run_dir: Path) -> dict:
    """What must not depend on interruptions: weights, optimizer state, scores, best checkpoint."""
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    best = Path(metrics["best_checkpoint"])
    return {
        "state_dict": last["state_dict"],
        "optimizer": last["optimizer_states"][0]["state"],
        "lr": last["lr_schedulers"][0]["last_epoch"],
        "step": last["global_step"],
        "final": metrics["final"],
        "best": metrics["best"],
        "best_checkpoint": best.name,
        "best_state_dict": torch.load(best, weights_only=True)["state_dict"],
        "log": list(csv.DictReader((run_dir / "csv" / "metrics.csv").open(newline=""))),
    }


def _assert_identical(got: dict, want: dict) -> None:
    assert got["step"] == want["step"] == EPOCHS * BATCHES
    assert got["lr"] == want["lr"]
    assert got["final"] == want["final"]  # every val metric, exactly
    assert got["best"] == want["best"]
    assert got["best_checkpoint"] == want["best_checkpoint"]
    # the CSV log goes on from the checkpoint: every row as an uninterrupted run writes it
    assert got["log"] == want["log"]
    for key in ("state_dict", "best_state_dict"):
        assert got[key].keys() == want[key].keys()
        for name, tensor in want[key].items():
            assert torch.equal(got[key][name], tensor), f"{key}[{name}] differs"
    for index, state in want["optimizer"].items():
        for name, tensor in state.items():
            assert torch.equal(got["optimizer"][index][name], tensor), f"optimizer {index}.{name}"


@pytest.fixture(scope="module")
def reference(tiny_synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    run_dir = tmp_path_factory.mktemp("reference")
    result = _train(tiny_synthetic, run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return _outcome(run_dir)


def test_same_seed_gives_bit_identical_runs(
    tiny_synthetic: Path, reference: dict, tmp_path: Path
) -> None:
    result = _train(tiny_synthetic, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_identical(_outcome(tmp_path), reference)
    # and training moved: the equality is not between two untouched states
    losses = [float(row["train/loss"]) for row in reference["log"] if row["train/loss"]]
    assert len(losses) == EPOCHS * BATCHES and losses[-1] < losses[0]


@pytest.mark.parametrize("step", KILL_STEPS)
def test_sigkill_at_a_random_step_then_resume_is_bit_identical(
    tiny_synthetic: Path, reference: dict, tmp_path: Path, step: int
) -> None:
    killed = _train(tiny_synthetic, tmp_path, *_kill_at(step))
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (tmp_path / "metrics.json").exists()
    # the same command, resumed; loader workers change nothing (augmentation is per-sample seeded)
    workers = "data.num_workers=2" if step == KILL_STEPS[0] else "data.num_workers=0"
    resumed = _train(tiny_synthetic, tmp_path, "resume=auto", workers)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_identical(_outcome(tmp_path), reference)


@pytest.mark.parametrize(
    ("step", "stopped_at", "position"),
    [
        (BATCHES + 1, BATCHES + 2, (1, 2)),  # mid-epoch: stops at the next batch boundary
        # in the epoch's last batch: Lightning would stop inside the validation that follows;
        # held until the epoch (validation, logging, checkpoints) is over
        (2 * BATCHES - 1, 2 * BATCHES, (2, 0)),
    ],
)
def test_sigterm_saves_a_resumable_checkpoint(
    tiny_synthetic: Path,
    reference: dict,
    tmp_path: Path,
    step: int,
    stopped_at: int,
    position: tuple[int, int],
) -> None:
    stopped = _train(tiny_synthetic, tmp_path, *_kill_at(step, "SIGTERM"))
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert f"segkit-train: stopped by SIGTERM at step {stopped_at}; saved {last}" in stopped.stderr
    assert "resume=auto" in stopped.stderr
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == stopped_at  # the step in flight finished, then it saved
    state = checkpoint["SegDataModule"]
    assert (state["resume_epoch"], state["resume_batch"]) == position
    assert (state["seed"], state["batch_size"], state["world_size"]) == (7, 8, 1)
    resumed = _train(tiny_synthetic, tmp_path, "resume=auto")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_identical(_outcome(tmp_path), reference)


def test_sigterm_waits_for_the_end_of_a_gradient_accumulation(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    accumulate = ("trainer.accumulate_grad_batches=2",)
    result = _train(tiny_synthetic, tmp_path / "ref", *accumulate)
    assert result.returncode == 0, result.stderr[-3000:]
    want = _outcome(tmp_path / "ref")
    run = tmp_path / "run"
    # batch 0 of epoch 1 starts an accumulation of two batches: the stop waits for batch 1
    stopped = _train(tiny_synthetic, run, *accumulate, *_kill_at(2, "SIGTERM"))
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert (
        torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["SegDataModule"][
            "resume_batch"
        ]
        == 2
    )
    resumed = _train(tiny_synthetic, run, *accumulate, "resume=auto")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got = _outcome(run)
    for key in ("final", "best", "log", "step"):
        assert got[key] == want[key], key
    for name, tensor in want["state_dict"].items():
        assert torch.equal(got["state_dict"][name], tensor), name


def test_last_checkpoint_follows_training_when_the_score_stops_improving(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    # monitoring the best-so far score with mode=min: only epoch 0 ever "improves"
    result = _train(tiny_synthetic, tmp_path, "callbacks.model_checkpoint.monitor=val/mIoU_best",
                    "callbacks.model_checkpoint.mode=min")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names[0].startswith("epoch000") and names[1:] == ["last.ckpt"]
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == EPOCHS * BATCHES  # the final state, not the last improvement


def test_atomic_checkpoint_write_keeps_the_previous_file_when_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": torch.tensor(1)}, path)

    def killed_before_rename(*args: object) -> None:
        raise KeyboardInterrupt  # what a kill between writing and renaming looks like here

    monkeypatch.setattr(os, "replace", killed_before_rename)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left
