"""Every malformed-data case gets a one-line error naming the offending file, before training."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segkit.data.checks import DataError
from segkit.data.voc import VOCSegmentation

from .conftest import REPO

SCRIPT = REPO / "scripts" / "check_dataset.py"


@pytest.fixture
def small_copy(voc_samples: Path, tmp_path: Path) -> Path:
    """Six real val samples copied into a temporary devkit layout (never into the repository)."""
    src = voc_samples / "VOCdevkit" / "VOC2012"
    dst = tmp_path / "voc" / "VOCdevkit" / "VOC2012"
    ids = (src / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[:6]
    for sub, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png")):
        (dst / sub).mkdir(parents=True)
        for i in ids:
            shutil.copy(src / sub / f"{i}.{ext}", dst / sub / f"{i}.{ext}")
    (dst / "ImageSets" / "Segmentation").mkdir(parents=True)
    (dst / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(ids) + "\n")
    return tmp_path / "voc"


def _voc(root: Path) -> Path:
    return root / "VOCdevkit" / "VOC2012"


def _first(root: Path, sub: str, ext: str) -> Path:
    ids = (_voc(root) / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    return _voc(root) / sub / f"{ids[0]}.{ext}"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"not an image at all" * 10)


def _mask_rgb(path: Path) -> None:
    Image.open(path).convert("RGB").save(path)


def _mask_resized(path: Path) -> None:
    m = Image.open(path)
    m.resize((m.width + 3, m.height)).save(path)


def _mask_out_of_range(path: Path) -> None:
    m = Image.open(path)
    arr = np.asarray(m).copy()
    arr[0, 0] = 30
    out = Image.fromarray(arr, mode="P")
    out.putpalette(m.getpalette())
    out.save(path)


# (what is broken, which file, how, the words the message must hold)
LOAD_CASES: list[tuple[str, str, str, Callable[[Path], None], str]] = [
    ("corrupt jpeg", "JPEGImages", "jpg", _garbage, "corrupt or truncated"),
    ("truncated jpeg", "JPEGImages", "jpg", _truncate, "corrupt or truncated"),
    ("truncated png", "SegmentationClass", "png", _truncate, "corrupt or truncated"),
    ("colour mask", "SegmentationClass", "png", _mask_rgb, "has mode RGB"),
    ("mask size", "SegmentationClass", "png", _mask_resized, "but its image"),
    ("mask values", "SegmentationClass", "png", _mask_out_of_range, r"values \[30\] outside 0..20"),
]


@pytest.mark.parametrize(
    ("case", "sub", "ext", "breaker", "words"), LOAD_CASES, ids=[c[0] for c in LOAD_CASES]
)
def test_malformed_sample_names_the_file(small_copy: Path, case, sub, ext, breaker, words) -> None:
    path = _first(small_copy, sub, ext)
    breaker(path)
    dataset = VOCSegmentation(small_copy, "val", num_classes=21)
    with pytest.raises(DataError, match=words) as info:
        dataset.load(0)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


@pytest.mark.parametrize(("sub", "ext"), [("JPEGImages", "jpg"), ("SegmentationClass", "png")])
def test_missing_file_fails_when_the_dataset_is_built(small_copy: Path, sub: str, ext: str) -> None:
    path = _first(small_copy, sub, ext)
    path.unlink()
    with pytest.raises(DataError, match="listed in .*val.txt missing") as info:
        VOCSegmentation(small_copy, "val")  # before any sample is read
    assert str(path) in str(info.value)


def test_missing_root_names_the_prepare_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nope'}.*make voc"):
        VOCSegmentation(tmp_path / "nope", "val")


def test_check_dataset_reports_the_real_samples(voc_samples: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(voc_samples)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    assert "train │ 330" in out and "val │ 346" in out and "trainval │ 676" in out
    assert "person" in out and "no problems found" in out


def test_check_dataset_flags_a_broken_copy(small_copy: Path) -> None:
    _garbage(_first(small_copy, "JPEGImages", "jpg"))
    _mask_out_of_range(
        _voc(small_copy)
        / "SegmentationClass"
        / (sorted((_voc(small_copy) / "SegmentationClass").iterdir())[-1].name)
    )
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(small_copy)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "2 problem(s)" in proc.stdout
    assert str(_first(small_copy, "JPEGImages", "jpg")) in proc.stdout.replace("\n", "")


def test_cli_data_error_is_one_line(small_copy: Path, tmp_path: Path) -> None:
    _first(small_copy, "SegmentationClass", "png").unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "segkit.cli.train", "data=voc", f"data.root={small_copy}", "data.train_split=val", "logger=none"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "SEGKIT_ROOT": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("segkit-train: error: mask ") and "missing" in last


def test_atomic_writes_get_the_usual_file_mode(tmp_path: Path) -> None:
    import os

    from segkit.io import atomic_write_text, umask

    path = atomic_write_text(tmp_path / "out.json", "{}")
    assert path.read_text() == "{}"
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask()  # not mkstemp's private 0600
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
