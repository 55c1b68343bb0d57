"""End to end: fit on tiny data, the real CLI for every upsampler, real VOC samples, checkpoints."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from segkit.models import UPSAMPLERS
from segkit.training.optim import lr_factor
from segkit.training.run import run
from segkit.training.task import SegTask

from .conftest import REPO, compose_train, tiny_overrides


def _epoch_losses(output_dir: Path) -> list[float]:
    with open(output_dir / "csv" / "metrics.csv") as f:
        return [
            float(r["train/loss_epoch"]) for r in csv.DictReader(f) if r.get("train/loss_epoch")
        ]


def test_fit_on_tiny_data_loss_falls_and_metrics_json(tiny_synthetic: Path, tmp_path: Path) -> None:
    overrides = [*tiny_overrides(tiny_synthetic), "trainer.max_epochs=8", "callbacks=default",
                 "~callbacks.progress_bar", "~callbacks.model_summary"]  # fmt: skip
    cfg = compose_train(overrides, tmp_path)
    metrics = run(cfg)
    losses = _epoch_losses(tmp_path)
    assert len(losses) == 8
    assert losses[-1] < 0.7 * losses[0], losses
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["upsampler"] == "nearest" and saved["epochs"] == 8 and saved["params"] > 0
    assert saved["final"]["val/mIoU"] == pytest.approx(metrics["final"]["val/mIoU"])
    assert saved["best"]["val/mIoU"] == max(saved["best"]["val/mIoU"], saved["final"]["val/mIoU"])
    assert saved["final"]["val/mIoU_best"] == saved["best"]["val/mIoU"]
    assert len([k for k in saved["final"] if k.startswith("val/IoU/")]) == 21
    # the checkpoint loads with no Hydra and predicts at the input size
    ckpt = Path(saved["best_checkpoint"])
    assert ckpt.is_file() and (tmp_path / "checkpoints" / "last.ckpt").is_file()
    task = SegTask.load_from_checkpoint(ckpt, map_location="cpu")
    assert task.hparams.model["upsampler"]["name"] == "nearest"
    task.eval()
    with torch.no_grad():
        assert task(torch.randn(1, 3, 37, 45)).shape == (1, 21, 37, 45)


@pytest.mark.slow
def test_cli_multirun_every_upsampler(tiny_synthetic: Path, tmp_path: Path) -> None:
    # The real CLI, as a user runs it: one -m sweep over the registry, default callbacks, no logger.
    env = {**os.environ, "SEGKIT_ROOT": str(tmp_path)}
    overrides = [o for o in tiny_overrides(tiny_synthetic) if not o.startswith("callbacks=")]
    cmd = [sys.executable, "-m", "segkit.cli.train", "-m", f"model/upsampler={','.join(UPSAMPLERS)}",
           "trainer.max_epochs=1", "logger=none", "~callbacks.progress_bar", *overrides]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweeps = list((tmp_path / "logs" / "train" / "multiruns").iterdir())
    assert len(sweeps) == 1
    found = {}
    for path in sorted(sweeps[0].glob("*/metrics.json")):
        data = json.loads(path.read_text())
        found[data["upsampler"]] = data
        assert str(path) in proc.stdout  # each run prints where its metrics are
        assert Path(data["best_checkpoint"]).is_file()
    assert set(found) == set(UPSAMPLERS)
    assert (
        found["transpose"]["params"] > found["nearest"]["params"] == found["max_unpool"]["params"]
    )


def test_cli_help_and_bad_override_fail_fast(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.train", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "model/upsampler" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.train", "model/upsampler=bicubic"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "SEGKIT_ROOT": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode != 0
    assert "bicubic" in proc.stderr and "max_unpool" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_real_voc_samples_train_and_validate_at_original_size(
    voc_samples: Path, tmp_path: Path
) -> None:
    overrides = ["data=voc", f"data.root={voc_samples}", "data.num_workers=0", "data.crop_size=64",
                 "data.base_size=64", "data.batch_size=4", "model.encoder.widths=[8,16,32]",
                 "trainer.max_epochs=1", "trainer.limit_train_batches=3", "trainer.limit_val_batches=4",
                 "callbacks=none", "trainer.enable_progress_bar=false", "model/upsampler=max_unpool", "trainer.log_every_n_steps=1"]  # fmt: skip
    cfg = compose_train(overrides, tmp_path)
    assert cfg.data.val_batch_size == 1  # each image alone, at its original size
    metrics = run(cfg)
    assert 0.0 <= metrics["final"]["val/pixel_acc"] <= 1.0
    assert set(
        k.removeprefix("val/IoU/") for k in metrics["final"] if k.startswith("val/IoU/")
    ) >= {"person", "tvmonitor"}


def test_poly_schedule_with_warmup() -> None:
    assert lr_factor(0, 100, "poly", 0.9, warmup=10) == pytest.approx(0.1)
    assert lr_factor(10, 100, "poly", 0.9, warmup=10) == pytest.approx(1.0)
    assert lr_factor(55, 100, "poly", 0.9, warmup=10) == pytest.approx(0.5**0.9)
    assert lr_factor(100, 100, "poly", 0.9, warmup=0) == 0.0
    assert lr_factor(50, 100, "cosine", 0.9, warmup=0) == pytest.approx(0.5)


def test_background_weight_and_bad_loss_config() -> None:
    task = SegTask(
        3, model={"encoder": {"name": "vgg", "widths": [4]}}, loss={"background_weight": 0.5}
    )
    assert task.class_weights.tolist() == [0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="loss.class_weights needs 3"):
        SegTask(
            3, model={"encoder": {"name": "vgg", "widths": [4]}}, loss={"class_weights": [1, 2]}
        )


def test_channels_last_option_gives_the_same_logits() -> None:
    torch.manual_seed(0)
    model = {"encoder": {"name": "vgg", "widths": [4, 8]}, "upsampler": "max_unpool"}
    plain = SegTask(3, model=model).eval()
    fast = SegTask(3, model=model, channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 21, 18)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)


def test_pretrained_encoder_weights_load_at_fit_not_at_checkpoint_load(tmp_path: Path) -> None:
    model = {"encoder": {"name": "vgg", "widths": [4, 8]}}
    source = SegTask(3, model=model)
    weights = tmp_path / "encoder.pt"
    torch.save(source.net.encoder.state_dict(), weights)
    model["encoder"]["weights"] = str(weights)
    task = SegTask(3, model=model)
    first = next(iter(source.net.encoder.state_dict()))
    assert not torch.equal(
        task.net.encoder.state_dict()[first], source.net.encoder.state_dict()[first]
    )
    task.setup("fit")
    for key, value in source.net.encoder.state_dict().items():
        assert torch.equal(task.net.encoder.state_dict()[key], value)
    weights.unlink()  # rebuilding from the saved hyperparameters must not need the file
    SegTask(**task.hparams)


@pytest.mark.slow
def test_val_records_align_predictions_with_their_images(voc_samples: Path, tmp_path: Path) -> None:
    # Real VOC images of different sizes, batched in pairs with void padding.
    overrides = ["data=voc", f"data.root={voc_samples}", "data.num_workers=0", "data.crop_size=64",
                 "data.base_size=64", "data.batch_size=4", "data.val_batch_size=2",
                 "model.encoder.widths=[8,16,32]", "trainer.max_epochs=1",
                 "trainer.limit_train_batches=2", "trainer.limit_val_batches=4", "callbacks=none",
                 "+callbacks.records._target_=segkit.training.callbacks.ValRecords",
                 f"+callbacks.records.output_dir={tmp_path}", "+callbacks.records.num_images=3",
                 "trainer.enable_progress_bar=false"]  # fmt: skip
    cfg = compose_train(overrides, tmp_path)
    metrics = run(cfg)
    with np.load(tmp_path / "val_records.npz") as z:
        records = {k: z[k] for k in z.files}
    from segkit.data.voc import VOCSegmentation
    from segkit.metrics import SegMetrics, image_confusions

    dataset = VOCSegmentation(voc_samples, "val")
    assert records["confusions"].shape == (8, 21, 21)  # 4 batches of 2 images
    assert records["sample_indices"].tolist() == [0, 4, 7]  # spread over the 8 validated
    for k, index in enumerate(records["sample_indices"]):
        image, mask = dataset.load(int(index))
        assert records["sample_ids"][k] == dataset.ids[index]
        assert np.array_equal(records[f"image_{k}"], image.permute(1, 2, 0).numpy())
        assert np.array_equal(records[f"mask_{k}"], mask.numpy())
        # the recorded prediction is the one scored for that image, cropped to its size
        pred = torch.from_numpy(records[f"pred_{k}"].astype(np.int64))[None]
        mine = image_confusions(pred, mask[None], 21)[0].numpy()
        assert np.array_equal(mine, records["confusions"][index])
    total = SegMetrics(21)
    total.confmat += torch.from_numpy(records["confusions"].sum(0))
    assert total.named_scores("val/")["val/mIoU"] == pytest.approx(metrics["final"]["val/mIoU"])
