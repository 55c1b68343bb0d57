"""CPU DDP (gloo, 2 processes): every val image counted once, rank-0-only outputs, launch checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from torch.utils.data import DistributedSampler

from segkit.data.sampling import ResumableSampler, ShardedEvalSampler, sample_seed
from segkit.data.synthetic import SyntheticSpec, ensure_synthetic
from tests.conftest import TINY_SPEC, tiny_overrides

ODD_VAL = 7  # not divisible by 2 processes, nor by the val batch of 2


def _cli(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"segkit.cli.{name}", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def odd_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("odd") / "synthetic"
    return ensure_synthetic(root, SyntheticSpec(**{**TINY_SPEC, "num_val": ODD_VAL}))


def _overrides(data: Path) -> list[str]:
    spec = ",".join(f"{k}:{v}" for k, v in {**TINY_SPEC, "num_val": ODD_VAL}.items())
    return [
        *(o for o in tiny_overrides(data) if not o.startswith("data.synthetic=")),
        f"data.synthetic={{{spec}}}",
        "data.val_batch_size=2",
    ]


def test_eval_shards_cover_every_image_once_unlike_distributed_sampler_padding() -> None:
    shards = [list(ShardedEvalSampler(ODD_VAL, rank, 2)) for rank in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(ODD_VAL))
    assert [len(ShardedEvalSampler(ODD_VAL, rank, 2)) for rank in range(2)] == [4, 3]
    # what Lightning's default would do: pad to 8 by repeating an image, which then counts twice
    padded = [list(DistributedSampler(range(ODD_VAL), 2, r, shuffle=False)) for r in range(2)]
    assert len(padded[0] + padded[1]) == 8


def test_training_shards_are_disjoint_equal_and_reshuffled_each_epoch() -> None:
    shards = [ResumableSampler(25, seed=3, batch_size=4, rank=r, world_size=2) for r in range(2)]
    first = [[key.index for key in s] for s in shards]
    assert len(first[0]) == len(first[1]) == 12 and not set(first[0]) & set(first[1])
    for s in shards:
        s.set_epoch(1)
    assert [[key.index for key in s] for s in shards] != first
    # a sample's augmentation seed changes with the epoch and the run seed
    assert len({sample_seed(s, e, 5) for s in (3, 4) for e in (0, 1)}) == 4


@pytest.mark.slow
def test_ddp_train_then_ddp_eval_equals_single_process_confusion(
    odd_data: Path, tmp_path: Path
) -> None:
    run = tmp_path / "train"
    proc = _cli(
        "train",
        *_overrides(odd_data),
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.sync_batchnorm=false",
        "trainer.max_epochs=1",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    # rank 0 alone writes: one metrics file, one log, the checkpoints; no second run folder
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["final"]["val/pixels"] == ODD_VAL * 48 * 48 - _void_pixels(odd_data)
    assert sorted(p.name for p in (run / "checkpoints").iterdir())[-1] == "last.ckpt"
    assert len(list(run.glob("csv/metrics.csv"))) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["train"]

    ckpt = run / "checkpoints" / "last.ckpt"
    results = {}
    for name, extra in {"single": [], "ddp": ["devices=2", "strategy=ddp"]}.items():
        out = tmp_path / name
        proc = _cli(
            "evaluate", f"ckpt_path={ckpt}", "accelerator=cpu", "num_workers=0",
            f"hydra.run.dir={out}", *extra, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-4000:]
        results[name] = json.loads((out / "eval.json").read_text())
    single, ddp = results["single"], results["ddp"]
    assert (single["processes"], ddp["processes"]) == (1, 2)
    assert ddp["confusion"] == single["confusion"]  # exactly, every image once
    assert ddp["scores"] == single["scores"]  # Boundary IoU included
    assert sum(map(sum, single["confusion"])) == metrics["final"]["val/pixels"]

    # and the DDP run resumes under DDP: one more epoch from its last.ckpt, one CSV log continued
    proc = _cli(
        "train", *_overrides(odd_data), "trainer=ddp", "trainer.accelerator=cpu",
        "trainer.sync_batchnorm=false", "trainer.max_epochs=2", "resume=auto",
        f"hydra.run.dir={run}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    resumed = json.loads((run / "metrics.json").read_text())
    assert resumed["epochs"] == 2 and resumed["steps"] == 2 * metrics["steps"]
    rows = (run / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    epochs = [
        r.split(",")[header.index("epoch")]
        for r in rows[1:]
        if r.split(",")[header.index("val/mIoU")]
    ]
    assert epochs == ["0", "1"]


def _void_pixels(root: Path) -> int:
    import numpy as np
    from PIL import Image

    voc = root / "VOCdevkit" / "VOC2012"
    ids = (voc / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    return sum(
        int((np.array(Image.open(voc / "SegmentationClass" / f"{i}.png")) == 255).sum())
        for i in ids
    )
