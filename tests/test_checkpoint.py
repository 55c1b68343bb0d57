"""Checkpoint loading: weights-only, with one-line errors for unsafe, foreign and mismatched files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from segkit.training.checkpoint import CheckpointError, load_task, read_checkpoint
from segkit.training.task import SegTask

MODEL = {"encoder": {"name": "vgg", "widths": [4, 8]}, "upsampler": "max_unpool"}


def _checkpoint(task: SegTask) -> dict:
    return {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams), "epoch": 3}


class Payload:
    """Unpickling this calls ``Path.touch`` on a marker file: it would run code if loaded unsafely."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.ckpt"
    ckpt = _checkpoint(SegTask(3, model=MODEL))
    ckpt["callbacks"] = {"payload": Payload(marker)}
    torch.save(ckpt, evil)
    # the payload is real: an unsafe load runs it
    probe = tmp_path / "probe.pkl"
    probe.write_bytes(pickle.dumps(Payload(tmp_path / "probe-ran")))
    pickle.loads(probe.read_bytes())
    assert (tmp_path / "probe-ran").exists()

    with pytest.raises(CheckpointError, match=r"refused .*evil\.ckpt.*not loaded") as info:
        load_task(evil)
    assert "\n" not in str(info.value)
    assert not marker.exists(), "the checkpoint's code ran"


def test_checkpoint_round_trip_and_errors(tmp_path: Path) -> None:
    task = SegTask(3, model=MODEL)
    good = tmp_path / "good.ckpt"
    torch.save(_checkpoint(task), good)
    loaded, ckpt = load_task(good)
    assert ckpt["epoch"] == 3 and not loaded.training
    for key, value in task.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)

    with pytest.raises(CheckpointError, match="does not exist; pass ckpt_path="):
        read_checkpoint(tmp_path / "missing.ckpt")
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.ckpt is not a PyTorch checkpoint"):
        read_checkpoint(text)
    plain = tmp_path / "weights.pt"
    torch.save(task.net.state_dict(), plain)  # a bare state dict: PyTorch, but not segkit's
    with pytest.raises(CheckpointError, match="weights.pt is a PyTorch file .* but not a segkit"):
        read_checkpoint(plain)
    other = _checkpoint(task)
    other["hyper_parameters"]["model"] = {
        **MODEL,
        "upsampler": "transpose",
    }  # weights of max_unpool
    mismatched = tmp_path / "other.ckpt"
    torch.save(other, mismatched)
    with pytest.raises(
        CheckpointError, match=r"different architecture .*vgg \+ transpose.*missing"
    ):
        load_task(mismatched)


def test_checkpoint_without_training_state_keys_still_loads(tmp_path: Path) -> None:
    """Checkpoints written before the train-loss mean was saved load with the same weights."""
    task = SegTask(3, model=MODEL)
    ckpt = _checkpoint(task)
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    assert len(ckpt["state_dict"]) < len(task.state_dict())  # something was really left out
    torch.save(ckpt, tmp_path / "old.ckpt")
    loaded, _ = load_task(tmp_path / "old.ckpt")
    for name, tensor in task.net.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[name], tensor)
