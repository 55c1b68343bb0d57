"""Every option of every config group composes, and the objects it names instantiate."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from segkit.cli import CONFIG_DIR
from segkit.data.synthetic import class_names as synthetic_classes
from segkit.models import UPSAMPLERS, build_model
from segkit.training.run import instantiate_all as _instantiate_all

from .conftest import compose_train

GROUPS = ["data", "model", "model/encoder", "model/upsampler", "optim", "trainer", "logger", "callbacks", "paths",
          "experiment", "hparams_search", "debug"]  # fmt: skip


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


CASES = [(g, o) for g in GROUPS for o in _options(g)]


def test_every_group_has_options() -> None:
    assert all(_options(g) for g in GROUPS)
    assert set(_options("model/upsampler")) == set(UPSAMPLERS)


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_group_option_composes(group: str, option: str, tmp_path: Path) -> None:
    cfg = compose_train([f"{group}={option}"], tmp_path)
    plain = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert plain["paths"]["output_dir"] == str(tmp_path)
    # the network builds from the plain model config, as inside the task
    # (pretrained weights are loaded by the task when fitting starts, see test_train)
    model_cfg = {**plain["model"], "encoder": {**plain["model"]["encoder"], "weights": None}}
    build_model(21, **model_cfg)
    # the objects the config names instantiate (the trainer only where the machine has the device)
    datamodule = instantiate(cfg.data)
    style = (plain["data"].get("synthetic") or {}).get("style", "shapes")
    assert datamodule.num_classes == len(synthetic_classes(style))  # 21 for VOC and shapes
    for obj in _instantiate_all(cfg.get("callbacks")) + _instantiate_all(cfg.get("logger")):
        assert obj is not None
    if (
        plain["trainer"].get("accelerator") in ("auto", "cpu")
        and plain["trainer"].get("strategy", "auto") == "auto"
    ):
        trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
        assert trainer.max_epochs == plain["trainer"]["max_epochs"]


def test_upsampler_override_switches_the_network(tmp_path: Path) -> None:
    for name in UPSAMPLERS:
        cfg = compose_train([f"model/upsampler={name}"], tmp_path)
        model = build_model(21, **OmegaConf.to_container(cfg.model, resolve=True))
        assert type(model.decoder.blocks[0].upsample) is UPSAMPLERS[name]


def test_unknown_upsampler_override_lists_the_options(tmp_path: Path) -> None:
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="nearest"):
        compose_train(["model/upsampler=bicubic"], tmp_path)


@pytest.mark.parametrize("tool", ["train", "eval", "predict", "export", "bench"])
def test_each_tool_has_its_own_help_and_run_dir_check(tool: str) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(tool, overrides=[], return_hydra_config=True)
    assert cfg.hydra.help.app_name == f"segkit-{tool}"
    assert cfg.hydra.help.header.startswith(f"segkit-{tool}")
    assert cfg.hydra.callbacks.run_dir_check._target_ == "segkit.cli.rundir.RunDirCheck"
