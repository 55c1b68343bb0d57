"""Every row of docs/errors.md: the malformed input is made, and the exact message is checked.

The expected messages are read from the table itself, so the documentation and the code cannot
drift apart. ``<tmp>`` in the table stands for the test's temporary folder.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segkit.data.checks import DataError
from segkit.data.datamodule import SegDataModule
from segkit.data.palette import voc_palette
from segkit.data.synthetic import ensure_synthetic
from segkit.data.voc import VOCSegmentation
from segkit.errors import (
    ConfigError,
    LaunchError,
    MissingDependency,
    NonFiniteLossError,
    ResumeError,
)
from segkit.export import ExportError, export
from segkit.inference import InferenceConfig
from segkit.training.checkpoint import CheckpointError, load_task, read_checkpoint
from segkit.training.launch import check_logger_packages
from segkit.training.run import run
from segkit.training.task import SegTask

from .conftest import REPO, compose_train, tiny_overrides

DOC = REPO / "docs" / "errors.md"
# | E01 | area | input | raised as | `` message `` |
ROW = re.compile(r"^\| (E\d{2}) \|[^|]*\|[^|]*\| `?([\w ]+?)`? \| `` (.+) `` \|$")
TMP = "<tmp>"


def doc_rows() -> dict[str, tuple[str, str]]:
    """Row id -> (raised as, exact message) from the table in docs/errors.md."""
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            assert match[1] not in rows, f"row id {match[1]} appears twice"
            rows[match[1]] = (match[2], match[3])
    return rows


@dataclass
class Ctx:
    """What a case needs: its temporary folder, the tiny synthetic set, monkeypatch."""

    tmp: Path
    tiny: Path
    monkeypatch: pytest.MonkeyPatch


Case = Callable[[Ctx], tuple[str, str]]
CASES: dict[str, Case] = {}


def case(row: str) -> Callable[[Case], Case]:
    """Register the decorated function as the case of table row ``row``."""

    def register(fn: Case) -> Case:
        assert row not in CASES, row
        CASES[row] = fn
        return fn

    return register


def _raised(errors: type | tuple[type, ...], fn: Callable[[], object]) -> tuple[str, str]:
    with pytest.raises(errors) as info:
        fn()
    return type(info.value).__name__, str(info.value)


def _train(ctx: Ctx, *overrides: str, errors: type | tuple[type, ...] = ConfigError) -> tuple:
    """``segkit.training.run.run`` on the tiny recipe plus ``overrides``; the error it raises."""
    base = tiny_overrides(ctx.tiny)
    if any(o.startswith("data=") for o in overrides):  # another dataset: none of the tiny keys
        base = [o for o in base if not o.startswith("data.")]
    if any("resnet" in o for o in overrides):  # the VGG widths are no option of a ResNet
        base = [o for o in base if not o.startswith("model.encoder.widths")]
    cfg = compose_train([*base, *overrides], ctx.tmp / "out")
    return _raised(errors, lambda: run(cfg))


def _hydra(ctx: Ctx, *overrides: str) -> tuple[str, str]:
    """The first line Hydra prints for an override it rejects (before segkit's ``run``)."""
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.train", *overrides],
        cwd=REPO, env={**os.environ, "SEGKIT_ROOT": str(ctx.tmp)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    return "Hydra", proc.stderr.strip().splitlines()[0]


# --- a tiny dataset in the VOC devkit layout -------------------------------------------------


def _save_mask(mask: np.ndarray, path: Path) -> None:
    image = Image.fromarray(mask, mode="P")
    image.putpalette(voc_palette().flatten().tolist())  # without one PIL may renumber the values
    image.save(path)


def _voc(ctx: Ctx) -> Path:
    """<tmp>/voc with images a, b (16x16 JPEG) and palette masks holding classes 0 and 5."""
    voc = ctx.tmp / "voc" / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True)
    for name in ("a", "b"):
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(voc / "JPEGImages" / f"{name}.jpg")
        mask = np.zeros((16, 16), np.uint8)
        mask[4:12, 4:12] = 5
        _save_mask(mask, voc / "SegmentationClass" / f"{name}.png")
    for split in ("train", "val"):
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("a\nb\n")
    return ctx.tmp / "voc"


def _voc_file(ctx: Ctx, sub: str) -> Path:
    """Path ``sub`` under the VOC2012 folder of a freshly written tiny devkit."""
    return _voc(ctx) / "VOCdevkit" / "VOC2012" / sub


def _load_first(root: Path) -> tuple[str, str]:
    return _raised(DataError, lambda: VOCSegmentation(root, "train", num_classes=21).load(0))


def _voc_args(ctx: Ctx, *more: str) -> tuple[str, ...]:
    return ("data=voc", f"data.root={_voc(ctx)}", "data.batch_size=2", *more)


# --- data -----------------------------------------------------------------------------------


@case("E01")
def _(ctx: Ctx) -> tuple[str, str]:
    return _train(ctx, "data=voc", f"data.root={ctx.tmp / 'nope'}", errors=FileNotFoundError)


@case("E02")
def _(ctx: Ctx) -> tuple[str, str]:
    return _train(ctx, *_voc_args(ctx, "data.train_split=trainaug"), errors=FileNotFoundError)


@case("E03")
def _(ctx: Ctx) -> tuple[str, str]:
    split = _voc_file(ctx, "ImageSets/Segmentation/train.txt")
    split.write_text("\n")
    return _raised(DataError, lambda: VOCSegmentation(ctx.tmp / "voc", "train"))


@case("E04")
def _(ctx: Ctx) -> tuple[str, str]:
    _voc_file(ctx, "JPEGImages/a.jpg").unlink()
    return _raised(DataError, lambda: VOCSegmentation(ctx.tmp / "voc", "train"))


@case("E05")
def _(ctx: Ctx) -> tuple[str, str]:
    masks = _voc_file(ctx, "SegmentationClass")
    for name in ("a", "b"):
        (masks / f"{name}.png").unlink()
    return _raised(DataError, lambda: VOCSegmentation(ctx.tmp / "voc", "train"))


@case("E06")
def _(ctx: Ctx) -> tuple[str, str]:
    _voc_file(ctx, "JPEGImages/a.jpg").write_bytes(b"not an image at all" * 10)
    return _load_first(ctx.tmp / "voc")


@case("E07")
def _(ctx: Ctx) -> tuple[str, str]:
    mask = _voc_file(ctx, "SegmentationClass/a.png")
    Image.open(mask).convert("RGB").save(mask)
    return _load_first(ctx.tmp / "voc")


@case("E08")
def _(ctx: Ctx) -> tuple[str, str]:
    mask = _voc_file(ctx, "SegmentationClass/a.png")
    _save_mask(np.zeros((16, 19), np.uint8), mask)
    return _load_first(ctx.tmp / "voc")


@case("E09")
def _(ctx: Ctx) -> tuple[str, str]:
    # two classes for masks that hold class 5: found by the config checks in the first mask
    return _train(ctx, *_voc_args(ctx, "data.class_names=[background,cat]"), errors=DataError)


@case("E10")
def _(ctx: Ctx) -> tuple[str, str]:
    (ctx.tmp / "photos").mkdir()
    return _raised(FileExistsError, lambda: ensure_synthetic(ctx.tmp / "photos"))


@case("E11")
def _(ctx: Ctx) -> tuple[str, str]:
    return _train(ctx, "data=voc", f"data.root={_voc(ctx)}", errors=ConfigError)


# --- config values ----------------------------------------------------------------------------


def _config_case(row: str, *overrides: str) -> None:
    """Row ``row``: the tiny recipe with ``overrides`` fails the config checks in ``run``."""
    case(row)(lambda ctx: _train(ctx, *overrides))


_config_case("E12", "data.batch_size=abc")
_config_case("E13", "data.batch_size=true")
_config_case("E14", "optim.lr=fast")
_config_case("E15", "data.batch_size=0")
_config_case("E16", "data.val_batch_size=-1")
_config_case("E17", "data.crop_size=0")
_config_case("E18", "data.crop_size=4")
_config_case("E19", "data.scale_range=[2.0,0.5]")
_config_case("E20", "optim.lr=-0.1")
_config_case("E21", "data.num_workers=-1")
_config_case("E22", "trainer.max_epochs=-1", "trainer.max_steps=-1")
_config_case("E23", "model.encoder.widths=[8,0]")
_config_case("E24", "data.val_size=32")
_config_case("E25", "data.val_size=0", "data.val_batch_size=1")
_config_case("E26", "model.upsampler.name=bicubic")
_config_case("E27", "model.encoder.name=vgg19")
_config_case("E28", "model.fusion=sum")
_config_case("E29", "optim.name=rmsprop")
_config_case("E30", "optim.schedule=step")
_config_case("E31", "model/upsampler=max_unpool", "model/encoder=resnet18")
_config_case("E32", "model/upsampler=transpose", "model.upsampler.kernel_size=3")
_config_case("E33", "model.encoder.name=resnet18")
_config_case("E34", "loss.class_weights=[0.3,1.0]")
_config_case("E35", "data.class_names=voc2012")
_config_case("E63", "boundary.void_rule=panoptic")
_config_case("E64", "threads=0")
_config_case("E65", "data.synthetic.style=stripes")
_config_case("E66", "data.in_memory=maybe")


@case("E36")
def _(ctx: Ctx) -> tuple[str, str]:
    return _hydra(ctx, "model/upsampler=bicubic")


@case("E37")
def _(ctx: Ctx) -> tuple[str, str]:
    return _hydra(ctx, "data.batch_sz=8")


@case("E38")
def _(ctx: Ctx) -> tuple[str, str]:
    config = {"mode": "slide", "crop": 64, "stride": 100}  # segkit-eval inference.*
    return _raised(ValueError, lambda: InferenceConfig.from_mapping(config))


# --- checkpoints ------------------------------------------------------------------------------

MODEL = {"encoder": {"name": "vgg", "widths": [4]}, "upsampler": "max_unpool"}


def _checkpoint(task: SegTask) -> dict:
    return {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}


class Payload:
    """Unpickling this would call ``Path.touch``: code a weights-only load must not run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@case("E39")
def _(ctx: Ctx) -> tuple[str, str]:
    return _raised(CheckpointError, lambda: read_checkpoint(ctx.tmp / "missing.ckpt"))


@case("E40")
def _(ctx: Ctx) -> tuple[str, str]:
    (ctx.tmp / "notes.ckpt").write_text("not a checkpoint")
    return _raised(CheckpointError, lambda: read_checkpoint(ctx.tmp / "notes.ckpt"))


@case("E41")
def _(ctx: Ctx) -> tuple[str, str]:
    checkpoint = _checkpoint(SegTask(3, model=MODEL))
    checkpoint["callbacks"] = {"payload": Payload(ctx.tmp / "code-ran")}
    torch.save(checkpoint, ctx.tmp / "evil.ckpt")
    result = _raised(CheckpointError, lambda: read_checkpoint(ctx.tmp / "evil.ckpt"))
    assert not (ctx.tmp / "code-ran").exists()
    return result


@case("E42")
def _(ctx: Ctx) -> tuple[str, str]:
    torch.save(SegTask(3, model=MODEL).net.state_dict(), ctx.tmp / "weights.pt")
    return _raised(CheckpointError, lambda: read_checkpoint(ctx.tmp / "weights.pt"))


@case("E43")
def _(ctx: Ctx) -> tuple[str, str]:
    checkpoint = _checkpoint(SegTask(3, model=MODEL))
    checkpoint["hyper_parameters"]["model"] = {**MODEL, "upsampler": "transpose"}
    torch.save(checkpoint, ctx.tmp / "other.ckpt")
    return _raised(CheckpointError, lambda: load_task(ctx.tmp / "other.ckpt"))


@case("E67")
def _(ctx: Ctx) -> tuple[str, str]:
    checkpoint = _checkpoint(SegTask(3, model=MODEL))
    checkpoint["hyper_parameters"]["model"] = {**MODEL, "upsampler": {"name": "mine"}}
    checkpoint["segkit_plugins"] = {"mine": "segkit-mine==0.1.0"}  # as a run with the plugin saves
    torch.save(checkpoint, ctx.tmp / "plugin.ckpt")
    return _raised(CheckpointError, lambda: load_task(ctx.tmp / "plugin.ckpt"))


# --- environment ------------------------------------------------------------------------------


def _missing_logger(ctx: Ctx, logger: str, module: str) -> tuple[str, str]:
    ctx.monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    cfg = compose_train([f"logger={logger}"], ctx.tmp)
    return _raised(MissingDependency, lambda: check_logger_packages(cfg))


@case("E44")
def _(ctx: Ctx) -> tuple[str, str]:
    return _missing_logger(ctx, "wandb", "wandb")


@case("E45")
def _(ctx: Ctx) -> tuple[str, str]:
    return _missing_logger(ctx, "tensorboard", "tensorboard")


def _missing_onnx(ctx: Ctx, module: str) -> tuple[str, str]:
    ctx.monkeypatch.setitem(sys.modules, module, None)
    result = _raised(ExportError, lambda: export(torch.nn.Identity(), ctx.tmp / "model.onnx"))
    assert not list(ctx.tmp.iterdir()), "nothing is written"
    return result


@case("E46")
def _(ctx: Ctx) -> tuple[str, str]:
    return _missing_onnx(ctx, "onnxscript")


@case("E47")
def _(ctx: Ctx) -> tuple[str, str]:
    return _missing_onnx(ctx, "onnxruntime")


@case("E48")
def _(ctx: Ctx) -> tuple[str, str]:
    (ctx.tmp / "logs").write_text("a file where the runs should go")
    cfg = compose_train(tiny_overrides(ctx.tiny), ctx.tmp / "logs")
    return _raised(ConfigError, lambda: run(cfg))


@case("E49")
def _(ctx: Ctx) -> tuple[str, str]:
    locked = ctx.tmp / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes anywhere: give the folder the answer a user would get
        access = os.access
        ctx.monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: Path(p) != locked and access(p, mode, **kw)
        )
    cfg = compose_train(tiny_overrides(ctx.tiny), locked / "run")
    return _raised(ConfigError, lambda: run(cfg))


@case("E50")
def _(ctx: Ctx) -> tuple[str, str]:
    return _train(ctx, f"model.encoder.weights={ctx.tmp / 'vgg.pth'}")


# --- the tests --------------------------------------------------------------------------------


# --- training, launch and resume -------------------------------------------------------------


@case("E51")
def _(ctx: Ctx) -> tuple[str, str]:
    # a weight turns NaN at step 4, after epoch 0's checkpoints (24 images in batches of 8)
    base = [o for o in tiny_overrides(ctx.tiny) if o != "callbacks=none"]
    cfg = compose_train([*base, "~callbacks.progress_bar", "~callbacks.model_summary",
                         "+callbacks.poison._target_=tests._faults.PoisonAtStep",
                         "+callbacks.poison.step=4"], ctx.tmp / "out")  # fmt: skip
    checkpoints = ctx.tmp / "out" / "checkpoints"
    result = _raised(NonFiniteLossError, lambda: run(cfg))
    # nothing was saved over the good epoch's checkpoints
    saved = sorted(p.name for p in checkpoints.iterdir())
    assert saved == ["epoch000-mIoU" + saved[0][13:], "last.ckpt"] and saved[0].endswith(".ckpt")
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert last["global_step"] == 3
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())
    return result


@case("E52")
def _(ctx: Ctx) -> tuple[str, str]:
    return _cli_line(ctx, "trainer=ddp", "trainer.accelerator=cpu",
                     "trainer.sync_batchnorm=false", "seed=1,2",
                     f"hydra.sweep.dir={ctx.tmp / 'sweep'}", kind="LaunchError", multirun=True)  # fmt: skip


@case("E53")
def _(ctx: Ctx) -> tuple[str, str]:
    return _train(ctx, "trainer=ddp", "trainer.accelerator=cpu", errors=LaunchError)


@case("E54")
def _(ctx: Ctx) -> tuple[str, str]:
    return _train(ctx, "ckpt_path=last", errors=CheckpointError)


@case("E55")
def _(ctx: Ctx) -> tuple[str, str]:
    return _train(ctx, "resume=yes", errors=ResumeError)


@case("E56")
def _(ctx: Ctx) -> tuple[str, str]:
    return _train(ctx, "resume=auto", f"ckpt_path={ctx.tmp / 'a.ckpt'}", errors=ResumeError)


@case("E57")
def _(ctx: Ctx) -> tuple[str, str]:
    (ctx.tmp / "taken").write_text("a file where the run folder should go")
    return _cli_line(ctx, f"hydra.run.dir={ctx.tmp / 'taken'}", kind="RunDirCheck")


@case("E58")
def _(ctx: Ctx) -> tuple[str, str]:
    # the tiny recipe has no progress bar; the default callbacks bring one
    base = [o for o in tiny_overrides(ctx.tiny) if o != "callbacks=none"]
    cfg = compose_train(base, ctx.tmp / "out")
    return _raised(ConfigError, lambda: run(cfg))


@case("E59")
def _(ctx: Ctx) -> tuple[str, str]:
    return _train(ctx, "deterministic=true", "model/upsampler=max_unpool")


def _two_processes(ctx: Ctx, **data: object) -> SegDataModule:
    """The tiny DataModule as rank 0 of 2 processes would build it."""
    dm = SegDataModule(str(ctx.tiny), class_names="synthetic", num_workers=0, **data)
    dm.setup("fit")
    ctx.monkeypatch.setattr(dm, "_shard", lambda: (0, 2))
    return dm


@case("E60")
def _(ctx: Ctx) -> tuple[str, str]:
    dm = _two_processes(ctx, batch_size=16)  # 24 train images: 12 per process
    return _raised(ConfigError, dm.train_dataloader)


@case("E61")
def _(ctx: Ctx) -> tuple[str, str]:
    dm = _two_processes(ctx)
    dm.val_set.ids = dm.val_set.ids[:1]  # one val image for two processes
    return _raised(ConfigError, dm.val_dataloader)


@case("E62")
def _(ctx: Ctx) -> tuple[str, str]:
    dm = SegDataModule(str(ctx.tiny), class_names="synthetic", batch_size=4, seed=7)
    state = {"resume_epoch": 2, "resume_batch": 1, "seed": 7, "batch_size": 8, "world_size": 1}
    return _raised(ResumeError, lambda: dm.load_state_dict(state))


def _cli_line(ctx: Ctx, *overrides: str, kind: str, multirun: bool = False) -> tuple[str, str]:
    """The one line ``segkit-train`` prints (without its ``segkit-train: error:`` prefix)."""
    flags = ["-m"] if multirun else []
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.train", *flags, *tiny_overrides(ctx.tiny), *overrides],
        cwd=ctx.tmp, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segkit-train: error: "), proc.stderr[-2000:]
    return kind, lines[0].removeprefix("segkit-train: error: ")


@pytest.mark.parametrize("row", sorted(CASES))
def test_message_is_the_documented_one(
    row: str, tmp_path: Path, tiny_synthetic: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, message = CASES[row](Ctx(tmp_path, tiny_synthetic, monkeypatch))
    assert "\n" not in message and "|" not in message
    assert (kind, message.replace(str(tmp_path), TMP)) == doc_rows()[row]


def test_every_row_has_a_case_and_every_case_a_row() -> None:
    rows = doc_rows()
    assert len(rows) >= 24
    assert sorted(rows) == sorted(CASES)


@pytest.mark.parametrize(
    ("overrides", "row"),
    [
        (["data.batch_size=abc"], "E12"),
        (["model/upsampler=max_unpool", "model/encoder=resnet18"], "E31"),
    ],
)
def test_segkit_train_prints_one_line_and_exits_non_zero(
    overrides: list[str], row: str, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.train", *overrides],
        cwd=REPO, env={**os.environ, "SEGKIT_ROOT": str(tmp_path)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [f"segkit-train: error: {doc_rows()[row][1]}"]
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("metrics.json"))


def test_validation_runs_before_anything_heavy(tiny_synthetic: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from tests.conftest import compose_train, tiny_overrides\n"
        "from segkit.training.checks import check_train_config\n"
        f"cfg = compose_train(tiny_overrides(__import__('pathlib').Path({str(tiny_synthetic)!r})))\n"
        "with __import__('omegaconf').open_dict(cfg): cfg.data.batch_size = 'abc'\n"
        "try:\n    check_train_config(cfg)\nexcept ValueError:\n    pass\n"
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "SEGKIT_ROOT": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"  # a type error needs neither


def test_pickle_payload_is_real(tmp_path: Path) -> None:
    """The payload of E41 does run code when unpickled unsafely, so its refusal means something."""
    pickle.loads(pickle.dumps(Payload(tmp_path / "ran")))
    assert (tmp_path / "ran").exists()
