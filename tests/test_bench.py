"""segkit-bench on tiny settings: every figure present, finite and consistent."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from segkit.cli import CONFIG_DIR
from segkit.measure.harness import (
    conv_peak,
    decoder_memory,
    run_schedule,
    run_seconds,
    saved_tensor_bytes,
    sweep_values,
    sweep_wall_seconds,
)
from segkit.models import build_model

from .conftest import TINY_SPEC


@pytest.mark.slow
def test_bench_writes_every_figure(tiny_synthetic: Path, tmp_path: Path) -> None:
    from segkit.cli.bench import run

    spec = ",".join(f"{k}:{v}" for k, v in TINY_SPEC.items())
    overrides = [f"data.root={tiny_synthetic}", f"data.synthetic={{{spec}}}", "data.crop_size=48",
                 "data.base_size=48", "data.batch_size=4", "data.num_workers=0",
                 "model.encoder.widths=[8,16,32]", "upsamplers=[nearest,max_unpool]", "steps=2",
                 "warmup=2", "rounds=1", "loader_batches=2", "options.precision=[bf16-mixed]",
                 "protocol.steps=2", "protocol.overrides=['data.val_batch_size=50']"]  # fmt: skip
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("bench", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = str(tmp_path)
    result = run(cfg)
    saved = json.loads((tmp_path / "bench.json").read_text())
    for key in ("lightning_overhead_ratio", "conv_peak_fraction", "loader_to_step_ratio",
                "metric_share_of_step", "help_seconds"):  # fmt: skip
        assert math.isfinite(saved[key]) and saved[key] > 0, key
    rows = {r["upsampler"]: r for r in saved["rows"]}
    assert set(rows) == {"nearest", "max_unpool"}
    assert rows["max_unpool"]["index_bytes"] > 0 == rows["nearest"]["index_bytes"]
    assert rows["nearest"]["params"] == rows["max_unpool"]["params"]
    # indices of the three pooling stages of a 4 x 48 x 48 batch, int64: exactly these bytes
    assert rows["max_unpool"]["index_bytes"] == 8 * 4 * (8 * 24 * 24 + 16 * 12 * 12 + 32 * 6 * 6)
    for r in rows.values():
        assert r["gflop_per_step"] > 0 and r["decoder_saved_bytes"] > 0
        assert 0 < r["conv_peak_fraction"] < 5 and r["peak_memory_bytes"] > 0
        assert r["lightning_step_s"] > 0 and r["bare_step_s"] > 0
    assert [o["option"] for o in saved["options"]] == ["channels_last", "precision=bf16-mixed"]
    md = (tmp_path / "bench.md").read_text()
    assert "| nearest |" in md and "Lightning step / bare loop" in md
    assert (tmp_path / "bench.png").stat().st_size > 10_000
    assert result["rows"][0]["upsampler"] == "nearest"
    # the protocol estimate: experiment=upsampler_benchmark at its own settings, val batch 50
    p = saved["protocol"]
    assert p["experiment"] == "upsampler_benchmark"
    assert (p["runs"], p["jobs"], p["threads"]) == (30, 2, 1)
    assert (p["batch_size"], p["image_size"], p["widths"]) == (16, 48, [16, 32])
    assert (p["steps_per_run"], p["validations_per_run"], p["val_batches"]) == (750, 12, 10)
    assert p["cpu_count"] >= 1 and len(p["sweep_upsamplers_not_measured"]) == 8
    assert sorted((r["upsampler"], r["fusion"]) for r in p["rows"]) == [
        ("max_unpool", "concat"), ("max_unpool", "none"), ("nearest", "concat"), ("nearest", "none")
    ]  # fmt: skip
    for fusion in ("none", "concat"):
        rows = [r for r in p["rows"] if r["fusion"] == fusion]
        for r in rows:
            assert r["step_ms"] > 0 and r["val_batch_ms"] > 0
            assert r["run_s"] == pytest.approx(
                p["startup_s"] + p["steps_per_run"] * r["step_ms"] / 1000
                + p["validations_per_run"] * p["val_batches"] * r["val_batch_ms"] / 1000
            )  # fmt: skip
        # 30 runs, the 8 unmeasured upsamplers counted as the mean of the 2 measured, 2 at a time
        wall_s = p["runs"] * sum(r["run_s"] for r in rows) / len(rows) / p["jobs"]
        assert saved["protocol_wall_min"][fusion] == pytest.approx(wall_s / 60)
        assert saved["protocol_runs_per_hour"][fusion] == pytest.approx(p["runs"] / wall_s * 3600)
        assert saved["protocol_runs_per_hour"][fusion] > 0
    assert "| max_unpool | concat |" in md and "runs/hour with fusion=concat" in md
    # two one-thread jobs share a CPU: the step timed alone is optimistic, and the output says so
    assert ("optimistic" in md) == (p["device"] == "cpu")


def test_protocol_schedule_and_sweep_size() -> None:
    # experiment=upsampler_benchmark: 3 epochs of 2000 // 16 = 125 steps, validated every 31 steps
    assert run_schedule(2000, 16, 3, -1, 0.25) == {
        "steps": 375, "batches_per_epoch": 125, "validations": 12
    }  # fmt: skip
    assert run_schedule(2000, 16, 3, -1, 0.5)["validations"] == 6
    # 4 batches of 8 per epoch, validated every half epoch: steps 2, 4, 6, 8 (tests/test_protocol.py)
    assert run_schedule(32, 8, 2, -1, 0.5)["validations"] == 4
    # max_steps sooner than the epochs; an int val_check_interval counts steps
    assert run_schedule(2000, 16, 3, 100, 0.5) == {
        "steps": 100, "batches_per_epoch": 125, "validations": 1
    }  # fmt: skip
    assert run_schedule(2000, 16, 2, -1, 50)["validations"] == 4
    assert run_schedule(2000, 16, 4, -1, 1.0, check_val_every_n_epoch=2)["validations"] == 2
    sweep = sweep_values({"model/upsampler": "nearest,carafe", "seed": "1,2,3", "lr": "range(0,4)",
                          "fixed": 7})  # fmt: skip
    assert sweep["seed"] == ["1", "2", "3"] and sweep["fixed"] == ["7"]
    assert [len(v) for v in sweep.values()] == [2, 3, 4, 1]
    assert run_seconds(15, 375, 0.1, 6, 5, 0.2) == pytest.approx(15 + 37.5 + 6.0)
    # 2 upsamplers x 3 seeds, 2 jobs: (3 x 60 + 3 x 120) / 2; one not measured counts as the mean
    assert sweep_wall_seconds({"a": 60, "b": 120}, ["a", "b"], 6, 2) == pytest.approx(270)
    assert sweep_wall_seconds({"a": 60, "b": 120}, ["a", "b", "c"], 9, 1) == pytest.approx(810)


def test_saved_tensor_accounting_and_conv_peak() -> None:
    # a linear layer saves its input (for the weight gradient) and its weight (for the input's):
    # with both excluded as already alive, nothing new; with neither, exactly their bytes
    layer = torch.nn.Linear(256, 8, bias=False)
    x = torch.randn(32, 256, requires_grad=True)
    counter: dict[str, int] = {}
    with saved_tensor_bytes(counter):
        layer(x)
    assert counter["bytes"] == x.nbytes + layer.weight.nbytes
    counter = {}
    with saved_tensor_bytes(counter, exclude=[x, layer.weight]):
        layer(x)
    assert counter.get("bytes", 0) == 0
    net = build_model(3, encoder={"name": "vgg", "widths": [4, 8]}, upsampler="max_unpool")
    mem = decoder_memory(net, torch.randn(2, 3, 32, 32))
    # the indices of two pooling stages (int64): 2*4*16*16 + 2*8*8*8 elements
    assert mem["index_bytes"] == 8 * (2 * 4 * 16 * 16 + 2 * 8 * 8 * 8)
    assert mem["decoder_saved_bytes"] > 0
    peak = conv_peak(torch.device("cpu"), repeats=1)
    assert peak["gflop"] == pytest.approx(3 * 2 * 8 * 64 * 64 * 9 * 128 * 128 / 1e9, rel=0.01)
