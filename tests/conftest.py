"""Shared fixtures: the real VOC samples, a tiny synthetic set, and Hydra config composition."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from segkit.cli import CONFIG_DIR
from segkit.data.synthetic import SyntheticSpec, ensure_synthetic

REPO = Path(__file__).resolve().parents[1]
VOC_SAMPLES = Path(os.environ.get("SEGKIT_VOC_SAMPLES", REPO.parent / "shared" / "voc2012-samples"))

TINY_SPEC = {"num_train": 24, "num_val": 6, "image_size": 48, "min_radius": 6.0, "max_radius": 14.0}


@pytest.fixture(scope="session")
def voc_samples() -> Path:
    """The real VOC 2012 samples beside the repository (skipped without them, failing under CI)."""
    if not (VOC_SAMPLES / "VOCdevkit").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the real VOC samples are missing at {VOC_SAMPLES}")
        pytest.skip(f"real VOC samples not found at {VOC_SAMPLES} (../shared/voc2012-samples)")
    return VOC_SAMPLES


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic dataset (24 train / 6 val images of 48x48) in the VOC layout."""
    root = tmp_path_factory.mktemp("data") / "synthetic"
    return ensure_synthetic(root, SyntheticSpec(**TINY_SPEC))


def tiny_overrides(root: Path) -> list[str]:
    """Overrides that shrink the default recipe to seconds on the tiny set."""
    spec = ",".join(f"{k}:{v}" for k, v in TINY_SPEC.items())
    return [
        f"data.root={root}",
        f"data.synthetic={{{spec}}}",
        "data.crop_size=48",
        "data.base_size=48",
        "data.batch_size=8",
        "data.val_batch_size=3",
        "data.num_workers=0",
        "model.encoder.widths=[8,16,32]",
        "callbacks=none",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1",
    ]


def compose_train(overrides: list[str], output_dir: Path | None = None) -> DictConfig:
    """Compose the train config as the CLI would, with hydra.* resolvable and outputs in output_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in the CLI, where the job's config has no hydra node
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
            cfg.paths.log_dir = str(output_dir)
    return cfg
