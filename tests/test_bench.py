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

from segkit.bench import conv_peak, decoder_memory, saved_tensor_bytes
from segkit.cli import CONFIG_DIR
from segkit.models import build_model

from .conftest import TINY_SPEC


@pytest.mark.slow
def test_bench_writes_every_figure(tiny_synthetic: Path, tmp_path: Path) -> None:
    from segkit.cli.bench import run

    spec = ",".join(f"{k}:{v}" for k, v in TINY_SPEC.items())
    overrides = [f"data.root={tiny_synthetic}", f"data.synthetic={{{spec}}}", "data.crop_size=48",
                 "data.base_size=48", "data.batch_size=4", "data.num_workers=0",
                 "model.encoder.widths=[8,16,32]", "upsamplers=[nearest,max_unpool]", "steps=2",
                 "warmup=2", "rounds=1", "loader_batches=2", "options.precision=[bf16-mixed]"]  # fmt: skip
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
