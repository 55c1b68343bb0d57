"""Installable and extensible: the wheel runs outside the clone, a user's config folder joins the
search path, and a third-party package adds an upsampler and an encoder through entry points.

The wheel tests install segkit into a fresh virtual environment that sees this environment's
dependencies (torch, Lightning, ...) through a ``.pth`` line but not its editable segkit: ``.pth``
files of a directory that a ``.pth`` line adds are not processed, so the editable finder stays off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

from segkit.compare.analysis import group_runs
from segkit.compare.runs import Run
from segkit.errors import ConfigError
from segkit.models import UPSAMPLERS, build_model, registry
from segkit.models.encoders import get_encoder_class
from segkit.models.fcn import plugin_packages
from segkit.models.upsamplers import get_upsampler_class
from segkit.training.checkpoint import CheckpointError, load_task
from segkit.training.checks import check_train_config
from segkit.training.task import SegTask

from .conftest import REPO, compose_train, tiny_overrides

# a plugin as docs/plugins.md describes it: an upsampler to the Upsampler contract, and an encoder
PLUGIN = '''"""A segkit plugin: a scaled nearest upsampler and a VGG encoder under another name."""

import torch
import torch.nn.functional as F
from torch import nn

from segkit.models.blocks import Skip
from segkit.models.encoders import VGGEncoder
from segkit.models.upsamplers import Upsampler


class MineUp(Upsampler):
    """Nearest 2x upsampling times a learned per-channel gain."""

    def __init__(self, channels: int, gain: float = 1.0) -> None:
        super().__init__(channels)
        self.gain = nn.Parameter(torch.full((1, channels, 1, 1), float(gain)))

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (B, C, 2h, 2w)
        out = out[..., : skip.size[0], : skip.size[1]]  # a ceil grid's extra row, column
        dh, dw = skip.size[0] - out.shape[-2], skip.size[1] - out.shape[-1]
        return F.pad(out, (0, dw, 0, dh), mode="replicate") * self.gain  # (B, C, H, W)


class MineEncoder(VGGEncoder):
    """segkit's VGG encoder, registered as mine_vgg."""
'''
ENTRY_POINTS = {
    "segkit.upsamplers": {"mine": "segkit_mine:MineUp"},
    "segkit.encoders": {"mine_vgg": "segkit_mine:MineEncoder"},
}
PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "segkit-mine"
version = "0.1.0"

[tool.setuptools]
py-modules = ["segkit_mine"]
"""
TRAIN = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "logger=csv"]


def _fake_dist(root: Path, name: str, entry_points: dict[str, dict[str, str]]) -> Path:
    """An installed distribution as importlib.metadata finds it: ``<name>.dist-info`` + module."""
    info = root / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
            for group, eps in entry_points.items()
        )
    )
    (root / "segkit_mine.py").write_text(PLUGIN)
    return root


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch):
    """Entry points listed afresh for the test (and again after it)."""
    registry._entry_points.cache_clear()
    registry._load.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    sys.modules.pop("segkit_mine", None)
    registry._entry_points.cache_clear()
    registry._load.cache_clear()


def test_plugins_resolve_by_name_after_the_builtins(fresh_registry, tmp_path: Path) -> None:
    fresh_registry.syspath_prepend(str(_fake_dist(tmp_path, "segkit-mine", ENTRY_POINTS)))
    up, enc = get_upsampler_class("mine"), get_encoder_class("mine_vgg")
    assert (up.__name__, enc.__name__) == ("MineUp", "MineEncoder")
    assert get_upsampler_class("nearest") is UPSAMPLERS["nearest"]
    with pytest.raises(ValueError) as info:
        get_upsampler_class("bicubic")
    assert str(info.value).endswith(f"valid: {', '.join(UPSAMPLERS)}, mine")
    model = {"encoder": {"name": "mine_vgg", "widths": [4, 8]}, "upsampler": {"name": "mine"}}
    assert plugin_packages(model) == {
        "mine": "segkit-mine==0.1.0",
        "mine_vgg": "segkit-mine==0.1.0",
    }
    assert plugin_packages({"upsampler": "nearest"}) == {}
    net = build_model(3, model["encoder"], {"name": "mine", "gain": 0.5}, fusion="concat")
    assert net(torch.rand(1, 3, 13, 11)).shape == (1, 3, 13, 11)  # odd sizes, floor grid


def test_the_comparison_orders_plugin_runs_after_the_builtins() -> None:
    names = ("mine", "nearest", "carafe", "another")
    runs = [Run(name=n, metrics={"upsampler": n, "seed": 1}) for n in names]
    assert list(group_runs(runs, list(UPSAMPLERS))) == ["nearest", "carafe", "another", "mine"]


def test_config_checks_accept_a_plugin_by_name(
    fresh_registry, tmp_path: Path, tiny_synthetic: Path
) -> None:
    fresh_registry.syspath_prepend(str(_fake_dist(tmp_path, "segkit-mine", ENTRY_POINTS)))
    base = [*tiny_overrides(tiny_synthetic), "model.upsampler.name=mine"]
    check_train_config(compose_train([*base, "+model.upsampler.gain=0.5"], tmp_path / "a"))
    with pytest.raises(ConfigError, match=r"upsampler 'mine' takes no option colour"):
        check_train_config(compose_train([*base, "+model.upsampler.colour=1"], tmp_path / "b"))


def test_a_plugin_named_like_a_builtin_is_one_line_naming_the_package(
    fresh_registry, tmp_path: Path
) -> None:
    eps = {"segkit.upsamplers": {"nearest": "segkit_mine:MineUp"}}
    fresh_registry.syspath_prepend(str(_fake_dist(tmp_path, "segkit-clash", eps)))
    with pytest.raises(ValueError) as info:
        get_upsampler_class("nearest")
    assert str(info.value) == (
        "the package segkit-clash==0.1.0 registers the upsampler 'nearest' (entry points "
        "segkit.upsamplers), a name of segkit's built-in upsampler; rename it in that package"
    )


def test_a_checkpoint_loads_while_its_plugin_is_installed(fresh_registry, tmp_path: Path) -> None:
    fresh_registry.syspath_prepend(str(_fake_dist(tmp_path, "segkit-mine", ENTRY_POINTS)))
    model = {"encoder": {"name": "vgg", "widths": [4]}, "upsampler": {"name": "mine", "gain": 2.0}}
    task = SegTask(3, model=model)
    checkpoint = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}
    checkpoint["segkit_plugins"] = plugin_packages(model)
    torch.save(checkpoint, tmp_path / "plugin.ckpt")
    loaded, _ = load_task(tmp_path / "plugin.ckpt")
    assert type(loaded.net.decoder.blocks[0].upsample).__name__ == "MineUp"
    fresh_registry.undo()  # the package is gone
    registry._entry_points.cache_clear()
    with pytest.raises(CheckpointError, match=r"pip install segkit-mine==0\.1\.0$"):
        load_task(tmp_path / "plugin.ckpt")


def _user_configs(root: Path, upsampler: str) -> Path:
    """A user's config folder: experiment/mine.yaml choosing model/upsampler/mine.yaml."""
    (root / "experiment").mkdir(parents=True)
    (root / "model" / "upsampler").mkdir(parents=True)
    (root / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model/upsampler: mine\ntask_name: mine\n"
    )
    (root / "model" / "upsampler" / "mine.yaml").write_text(upsampler)
    return root


def test_a_user_config_folder_joins_the_search_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configs = _user_configs(tmp_path / "configs", "name: resize_conv\nkernel_size: 1\n")
    monkeypatch.setenv("SEGKIT_CONFIG_PATH", str(configs))
    cfg = compose_train(["experiment=mine"])
    assert (cfg.task_name, dict(cfg.model.upsampler)) == (
        "mine",
        {"name": "resize_conv", "kernel_size": 1},
    )
    assert cfg.model.encoder.name == "vgg"  # segkit's own options are still there


def _metrics(root: Path) -> dict:
    found = list(root.rglob("metrics.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


@pytest.mark.slow
def test_segkit_train_with_config_dir(tiny_synthetic: Path, tmp_path: Path) -> None:
    configs = _user_configs(tmp_path / "configs", "name: resize_conv\nkernel_size: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.train", "--config-dir", str(configs), "experiment=mine",
         *TRAIN, *tiny_overrides(tiny_synthetic)],
        cwd=REPO, env={**os.environ, "SEGKIT_ROOT": str(tmp_path)},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _metrics(tmp_path / "logs" / "mine")["upsampler"] == "resize_conv"


# --- the wheel, installed outside the clone ---------------------------------------------------


class Venv:
    """A fresh virtual environment holding segkit's wheel, on this environment's dependencies."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "venv" / "bin"
        self.python = self.bin / "python"
        # no PYTHONPATH: nothing of the clone may leak in
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def pip(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "pip", "--python", str(self.python), "--no-input",
               "--disable-pip-version-check", *args]  # fmt: skip
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]

    def run(self, tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / tool), *args], cwd=cwd, env=self.env,
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """segkit's wheel (built from a copy of the sources) installed into a fresh venv."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(REPO / "segkit", src / "segkit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-input",
         "-q", "-w", str(root / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (root / "dist").glob("segkit-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    env = Venv(root)
    site = subprocess.run(
        [str(env.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=env.env,
    ).stdout.strip()
    Path(site, "shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env.pip("install", "--no-deps", str(wheel))
    return env


@pytest.mark.slow
def test_the_wheel_trains_outside_the_clone(
    venv: Venv, tiny_synthetic: Path, tmp_path: Path
) -> None:
    where = subprocess.run(
        [str(venv.python), "-c", "import segkit.cli; print(segkit.__file__); print(segkit.cli.CONFIG_DIR)"],
        cwd=tmp_path, env=venv.env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert all(Path(p).is_relative_to(venv.root / "venv") for p in where), where
    assert Path(where[1], "model", "upsampler", "carafe.yaml").is_file()
    proc = venv.run("segkit-train", *TRAIN, *tiny_overrides(tiny_synthetic), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = _metrics(tmp_path / "logs")  # relative to the folder it started in
    assert metrics["upsampler"] == "nearest" and metrics["steps"] == 2


@pytest.mark.slow
def test_a_plugin_package_trains_by_name_and_round_trips_through_a_checkpoint(
    venv: Venv, tiny_synthetic: Path, tmp_path: Path
) -> None:
    plugin = tmp_path / "segkit-mine"
    plugin.mkdir()
    (plugin / "segkit_mine.py").write_text(PLUGIN)
    entry_points = "".join(
        f'\n[project.entry-points."{group}"]\n' + "".join(f'{k} = "{v}"\n' for k, v in eps.items())
        for group, eps in ENTRY_POINTS.items()
    )
    (plugin / "pyproject.toml").write_text(PYPROJECT + entry_points)
    venv.pip("install", "--no-deps", "--no-build-isolation", str(plugin))
    run_dir = tmp_path / "run"
    proc = venv.run(
        "segkit-train", *TRAIN, *tiny_overrides(tiny_synthetic), "model.upsampler.name=mine",
        "+model.upsampler.gain=0.5", "model.encoder.name=mine_vgg", f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (_metrics(run_dir)["upsampler"], _metrics(run_dir)["encoder"]) == ("mine", "mine_vgg")
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert saved["segkit_plugins"] == {
        "mine": "segkit-mine==0.1.0",
        "mine_vgg": "segkit-mine==0.1.0",
    }
    exported = venv.run("segkit-export", f"ckpt_path={ckpt}", "format=torchscript", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (run_dir / "checkpoints" / "last.ts.pt").is_file()

    venv.pip("uninstall", "-y", "segkit-mine")
    failed = venv.run("segkit-eval", f"ckpt_path={ckpt}", cwd=tmp_path)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr[-3000:]
    assert failed.stderr.strip().splitlines() == [
        f"segkit-eval: error: {ckpt} was trained with the encoder 'mine_vgg' (model.encoder.name) "
        "of the package segkit-mine==0.1.0, which is not installed; pip install segkit-mine==0.1.0"
    ]
