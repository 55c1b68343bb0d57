"""VOC 2012 + SBD preparation, offline from miniature archives built from the real samples.

The miniature VOC tar has the official layout (VOCdevkit/VOC2012/...) with 6 train and 6 val ids
plus 4 images that only SBD annotates; the miniature benchmark.tgz holds generated
``cls/<id>.mat`` files (GTcls.Segmentation) and SBD's train/val lists, overlapping VOC train
(deduplicated) and VOC val (subtracted). Downloads are tested against a loopback HTTP server.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from segkit.data import prepare
from segkit.data.archives import Archive, PrepareError, download, fetch_archive
from segkit.data.extract import safe_extract
from segkit.data.palette import voc_palette
from segkit.data.prepare import (
    MARKER,
    SBD,
    VOC_TRAINVAL,
    load_sbd_mask,
    prepare_voc,
    trainaug_ids,
)

REPO = Path(__file__).resolve().parents[1]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _read_ids(path: Path) -> list[str]:
    return path.read_text().split()


@dataclass
class Mini:
    """The miniature archives and what preparing them must give."""

    archives: Path
    checksums: dict[str, str]
    voc_train: list[str]
    voc_val: list[str]
    sbd_train: list[str]
    sbd_val: list[str]
    sbd_only: list[str]
    sbd_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    voc_masks: Path = Path()

    @property
    def trainaug(self) -> list[str]:
        return sorted(set(self.voc_train) | set(self.sbd_only))


@pytest.fixture(scope="module")
def mini(voc_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Mini:
    voc = voc_samples / "VOCdevkit" / "VOC2012"
    train = _read_ids(voc / "ImageSets" / "Segmentation" / "train.txt")
    val = _read_ids(voc / "ImageSets" / "Segmentation" / "val.txt")
    voc_train, voc_val, sbd_only = train[:6], val[:6], train[6:8] + val[6:8]
    stage = tmp_path_factory.mktemp("mini_stage")

    # VOC tar: JPEGImages holds more images than the segmentation lists (as the real one does).
    dev = stage / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation", "Annotations"):
        (dev / sub).mkdir(parents=True)
    for i in voc_train + voc_val + sbd_only:
        shutil.copyfile(voc / "JPEGImages" / f"{i}.jpg", dev / "JPEGImages" / f"{i}.jpg")
    for i in voc_train + voc_val:
        shutil.copyfile(
            voc / "SegmentationClass" / f"{i}.png", dev / "SegmentationClass" / f"{i}.png"
        )
    lists = dev / "ImageSets" / "Segmentation"
    (lists / "train.txt").write_text("\n".join(voc_train) + "\n")
    (lists / "val.txt").write_text("\n".join(voc_val) + "\n")
    (lists / "trainval.txt").write_text("\n".join(voc_train + voc_val) + "\n")
    (dev / "Annotations" / f"{voc_train[0]}.xml").write_text("<annotation/>")  # not extracted

    # SBD: overlaps VOC train (kept once) and VOC val (subtracted), like the real lists.
    sbd_train = [voc_train[0], voc_train[1], voc_val[0], sbd_only[0], sbd_only[1]]
    sbd_val = [voc_val[1], sbd_only[2], sbd_only[3]]
    dataset = stage / "benchmark_RELEASE" / "dataset"
    (dataset / "cls").mkdir(parents=True)
    (dataset / "img").mkdir()
    arrays = {}
    rng = np.random.default_rng(0)
    for i in sbd_train + sbd_val:
        with Image.open(voc / "SegmentationClass" / f"{i}.png") as m:
            label = np.array(m)
        # SBD masks have no void band; a few random classes make each differ from VOC's mask.
        label[label == 255] = 0
        label[: label.shape[0] // 4, : label.shape[1] // 4] = rng.integers(1, 21)
        arrays[i] = label
        savemat(
            dataset / "cls" / f"{i}.mat",
            {"GTcls": {"Segmentation": label, "CategoriesPresent": np.unique(label)[1:]}},
        )
        (dataset / "img" / f"{i}.jpg").write_bytes(b"not extracted")
    (dataset / "train.txt").write_text("\n".join(sbd_train) + "\n")
    (dataset / "val.txt").write_text("\n".join(sbd_val) + "\n")

    archives = tmp_path_factory.mktemp("archives")
    with tarfile.open(archives / VOC_TRAINVAL.name, "w") as tar:
        tar.add(stage / "VOCdevkit", arcname="VOCdevkit")
    with tarfile.open(archives / SBD.name, "w:gz") as tar:
        tar.add(stage / "benchmark_RELEASE", arcname="benchmark_RELEASE")
    return Mini(
        archives=archives,
        checksums={a.name: _md5(archives / a.name) for a in (VOC_TRAINVAL, SBD)},
        voc_train=voc_train,
        voc_val=voc_val,
        sbd_train=sbd_train,
        sbd_val=sbd_val,
        sbd_only=sbd_only,
        sbd_arrays=arrays,
        voc_masks=voc / "SegmentationClass",
    )


def _prepare(mini: Mini, root: Path, archives: Path | None = None, **kwargs) -> dict:
    return prepare_voc(
        root,
        archives or mini.archives,
        download=False,
        checksums=mini.checksums,
        verbose=False,
        **kwargs,
    )


def _leftovers(root: Path) -> list[Path]:
    return sorted(root.parent.glob(f".{root.name}.tmp-*"))


def _copy_archives(mini: Mini, dest: Path) -> Path:
    dest.mkdir()
    for a in (VOC_TRAINVAL, SBD):
        shutil.copyfile(mini.archives / a.name, dest / a.name)
    return dest


@pytest.fixture(scope="module")
def prepared(mini: Mini, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("prepared") / "voc"
    return root, _prepare(mini, root)


# ---------------------------------------------------------------- the full preparation


def test_counts_lists_and_trainaug_arithmetic(mini: Mini, prepared: tuple[Path, dict]) -> None:
    root, summary = prepared
    assert summary == {
        "root": str(root),
        "counts": {"train": 6, "val": 6, "trainaug": 10},
        "official": False,
        "skipped": False,
    }
    lists = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation"
    assert _read_ids(lists / "train.txt") == mini.voc_train
    assert _read_ids(lists / "val.txt") == mini.voc_val
    # VOC train + SBD train + SBD val - VOC val: the two SBD ids of VOC val are gone, the two
    # of VOC train appear once.
    assert _read_ids(lists / "trainaug.txt") == mini.trainaug
    assert not set(mini.trainaug) & set(mini.voc_val)
    marker = json.loads((root / MARKER).read_text())
    assert marker["counts"] == summary["counts"]
    assert marker["sbd_counts"] == {"train": 5, "val": 3}
    assert marker["archives"] == mini.checksums
    assert _leftovers(root) == []


def test_layout_has_only_what_segmentation_needs(mini: Mini, prepared: tuple[Path, dict]) -> None:
    root, _ = prepared
    assert sorted(p.name for p in root.iterdir()) == ["VOCdevkit", MARKER]
    voc = root / "VOCdevkit" / "VOC2012"
    assert sorted(p.name for p in voc.iterdir()) == [
        "ImageSets",
        "JPEGImages",
        "SegmentationClass",
        "SegmentationClassAug",
    ]
    assert len(list((voc / "JPEGImages").glob("*.jpg"))) == 16
    aug = {p.stem for p in (voc / "SegmentationClassAug").glob("*.png")}
    assert aug == set(mini.voc_train + mini.voc_val + mini.sbd_only)


def test_sbd_masks_are_voc_palette_pngs_of_the_mat_arrays(
    mini: Mini, prepared: tuple[Path, dict]
) -> None:
    aug = prepared[0] / "VOCdevkit" / "VOC2012" / "SegmentationClassAug"
    palette = voc_palette().flatten().tolist()
    for i in mini.sbd_only:
        with Image.open(aug / f"{i}.png") as m:
            assert m.mode == "P"
            assert m.getpalette() == palette
            np.testing.assert_array_equal(np.array(m), mini.sbd_arrays[i])
    # An id that both annotate keeps VOC's mask (with its void band), byte for byte.
    for i in (mini.voc_train[0], mini.voc_train[1]):
        assert (aug / f"{i}.png").read_bytes() == (mini.voc_masks / f"{i}.png").read_bytes()


def test_second_run_is_a_noop(
    mini: Mini, prepared: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root, _ = prepared
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    # No archives at all: a finished preparation must not even look for them.
    summary = prepare_voc(root, tmp_path / "nowhere", download=False, verbose=True)
    assert summary["skipped"] is True
    assert summary["counts"] == {"train": 6, "val": 6, "trainaug": 10}
    assert "already prepared" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_interrupted_run_leaves_no_half_state(
    mini: Mini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "voc"
    save = prepare.save_palette_mask
    calls = []

    def save_then_interrupt(label: np.ndarray, path: Path) -> None:
        calls.append(path)
        if len(calls) == 2:  # midway: one SBD mask written, VOC already extracted
            raise KeyboardInterrupt
        save(label, path)

    monkeypatch.setattr(prepare, "save_palette_mask", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _prepare(mini, root)
    assert len(calls) == 2
    assert not root.exists()
    assert _leftovers(root) == []
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(prepare, "save_palette_mask", save)
    assert _prepare(mini, root)["counts"]["trainaug"] == 10  # and the next run completes


def test_stale_temp_folder_of_a_killed_run_is_removed(mini: Mini, tmp_path: Path) -> None:
    root = tmp_path / "voc"
    stale = tmp_path / ".voc.tmp-999999999-abc"  # no such process
    (stale / "VOCdevkit").mkdir(parents=True)
    _prepare(mini, root)
    assert not stale.exists()
    assert (root / MARKER).is_file()
    assert root.stat().st_mode & 0o777 == 0o777 & ~_umask()  # not mkdtemp's private 0700


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_root_without_marker_is_not_overwritten(mini: Mini, tmp_path: Path) -> None:
    root = tmp_path / "voc"
    (root / "VOCdevkit").mkdir(parents=True)
    with pytest.raises(PrepareError, match=re.escape(f"{root} exists")) as info:
        _prepare(mini, root)
    assert f"rm -r {root}" in str(info.value)
    assert list(root.iterdir()) == [root / "VOCdevkit"]


# ---------------------------------------------------------------- bad archives


def test_corrupt_archive_names_file_and_checksums(mini: Mini, tmp_path: Path) -> None:
    archives = _copy_archives(mini, tmp_path / "archives")
    with (archives / SBD.name).open("ab") as f:
        f.write(b"\0")
    root = tmp_path / "voc"
    with pytest.raises(PrepareError) as info:
        _prepare(mini, root, archives)
    message = str(info.value)
    assert "\n" not in message
    assert str(archives / SBD.name) in message
    assert mini.checksums[SBD.name] in message and _md5(archives / SBD.name) in message
    assert "delete it" in message and "--archives" in message
    assert not root.exists() and _leftovers(root) == []


def test_official_checksums_reject_miniature_archives(mini: Mini, tmp_path: Path) -> None:
    with pytest.raises(PrepareError, match=f"{VOC_TRAINVAL.name}.*expected {VOC_TRAINVAL.md5}"):
        prepare_voc(tmp_path / "voc", mini.archives, download=False, verbose=False)


@pytest.mark.parametrize("missing", [VOC_TRAINVAL, SBD], ids=["voc", "sbd"])
def test_missing_archive_names_file_and_url(mini: Mini, tmp_path: Path, missing: Archive) -> None:
    archives = _copy_archives(mini, tmp_path / "archives")
    (archives / missing.name).unlink()
    root = tmp_path / "voc"
    with pytest.raises(PrepareError) as info:
        _prepare(mini, root, archives)
    message = str(info.value)
    assert "\n" not in message
    assert str(archives / missing.name) in message and missing.url in message
    assert not root.exists() and _leftovers(root) == []


def _tar_with(path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../evil.txt"),
        tarfile.TarInfo("VOCdevkit/../../evil.txt"),
        tarfile.TarInfo("/tmp/segkit-evil.txt"),
        _symlink("VOCdevkit/VOC2012/JPEGImages/link.jpg", "/etc/passwd"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink"],
)
def test_unsafe_member_is_refused(tmp_path: Path, member: tarfile.TarInfo) -> None:
    name = member.name
    archive = _tar_with(tmp_path / "evil.tar", member)
    dest = tmp_path / "out" / "dest"
    with pytest.raises(PrepareError, match="refusing member") as info:
        safe_extract(archive, dest, prepare.VOC_MEMBERS, verbose=False)
    assert repr(name) in str(info.value) and str(archive) in str(info.value)
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/segkit-evil.txt").exists()
    assert [p for p in dest.rglob("*") if not p.is_dir()] == []


def test_unsafe_member_stops_the_preparation(mini: Mini, tmp_path: Path) -> None:
    archives = _copy_archives(mini, tmp_path / "archives")
    voc_tar = archives / VOC_TRAINVAL.name
    with tarfile.open(voc_tar, "a") as tar:
        info = tarfile.TarInfo("VOCdevkit/VOC2012/JPEGImages/../../../../escaped.jpg")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    root = tmp_path / "voc"
    checksums = {**mini.checksums, VOC_TRAINVAL.name: _md5(voc_tar)}
    with pytest.raises(PrepareError, match="refusing member .*escaped.jpg"):
        prepare_voc(root, archives, download=False, checksums=checksums, verbose=False)
    assert not root.exists() and _leftovers(root) == []
    assert not list(tmp_path.parent.glob("escaped.jpg"))


# ---------------------------------------------------------------- pieces


def test_trainaug_arithmetic() -> None:
    assert trainaug_ids(["b", "a"], ["v", "w"], ["a", "c", "v"], ["d", "w", "c"]) == [
        "a",
        "b",
        "c",
        "d",
    ]


def test_bad_sbd_mat_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "2008_000001.mat"
    savemat(path, {"GTcls": {"Segmentation": np.full((4, 5), 30, dtype=np.uint8)}})
    with pytest.raises(PrepareError, match=f"{path} holds"):
        load_sbd_mask(path)
    savemat(path, {"other": np.zeros(3)})
    with pytest.raises(PrepareError, match=f"cannot read GTcls.Segmentation from {path}"):
        load_sbd_mask(path)


# ---------------------------------------------------------------- download (loopback only)


@dataclass
class Server:
    url: str
    payload: bytes
    ranges: list[str | None]
    honour_range: bool = True
    cut_after: int | None = None  # close the connection after this many body bytes


@pytest.fixture
def server() -> Iterator[Server]:
    """A loopback HTTP server of one file that honours (or, if told, ignores) ``Range``."""
    state = Server("", np.random.default_rng(1).bytes(300_000), [])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            header = self.headers.get("Range")
            state.ranges.append(header)
            data, start = state.payload, 0
            if header and state.honour_range:
                start = int(header.removeprefix("bytes=").rstrip("-"))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            end = len(data) if state.cut_after is None else start + state.cut_after
            self.wfile.write(data[start:end])

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/file.bin"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_download_resumes_from_part_file(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(server.payload[:100_000])
    md5 = hashlib.md5(server.payload).hexdigest()
    assert download(server.url, dest, md5, verbose=False) == dest
    assert server.ranges == ["bytes=100000-"]
    assert dest.read_bytes() == server.payload
    assert not (tmp_path / "file.bin.part").exists()


def test_download_cut_midway_then_resumed(server: Server, tmp_path: Path) -> None:
    dest, md5 = tmp_path / "file.bin", hashlib.md5(server.payload).hexdigest()
    server.cut_after = 120_000
    with pytest.raises(PrepareError, match="run again to resume") as info:
        download(server.url, dest, md5, verbose=False, timeout=5)
    assert server.url in str(info.value) and not dest.exists()
    assert (tmp_path / "file.bin.part").read_bytes() == server.payload[:120_000]
    server.cut_after = None
    download(server.url, dest, md5, verbose=False)
    assert server.ranges == [None, "bytes=120000-"]
    assert dest.read_bytes() == server.payload


def test_download_restarts_when_server_ignores_range(server: Server, tmp_path: Path) -> None:
    server.honour_range = False
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(b"stale bytes from elsewhere")
    download(server.url, dest, hashlib.md5(server.payload).hexdigest(), verbose=False)
    assert dest.read_bytes() == server.payload


def test_download_of_complete_part_file(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    (tmp_path / "file.bin.part").write_bytes(server.payload)  # interrupted just before the rename
    download(server.url, dest, hashlib.md5(server.payload).hexdigest(), verbose=False)
    assert server.ranges == ["bytes=300000-"]  # answered 416
    assert dest.read_bytes() == server.payload


def test_download_md5_mismatch(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    with pytest.raises(PrepareError, match=r"file\.bin .* has md5 .* expected 0{32}") as info:
        download(server.url, dest, "0" * 32, verbose=False)
    assert server.url in str(info.value)
    assert not dest.exists() and not (tmp_path / "file.bin.part").exists()


def test_download_network_error_names_url_and_fix(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/benchmark.tgz"
    with pytest.raises(PrepareError) as info:
        download(url, tmp_path / "benchmark.tgz", verbose=False, timeout=5)
    message = str(info.value)
    assert url in message and "--archives DIR" in message and "\n" not in message


def test_fetch_archive_downloads_once(server: Server, tmp_path: Path) -> None:
    archive = Archive("file.bin", server.url, hashlib.md5(server.payload).hexdigest())
    path = fetch_archive(archive, tmp_path, verbose=False)
    assert path.read_bytes() == server.payload and server.ranges == [None]
    assert fetch_archive(archive, tmp_path, verbose=False) == path  # verified, not fetched again
    assert len(server.ranges) == 1
    with pytest.raises(PrepareError, match="not found; download"):
        fetch_archive(archive, tmp_path / "empty", allow_download=False, verbose=False)


# ---------------------------------------------------------------- the CLI


def _cli():
    spec = importlib.util.spec_from_file_location(
        "prepare_voc_cli", REPO / "scripts" / "prepare_voc.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_one_line_errors(mini: Mini, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main = _cli().main
    root = tmp_path / "voc"
    # The miniature archives fail the official checksums: a clear error, no traceback.
    # (Lines before the error are progress bars, here the md5 check's.)
    assert main(["--root", str(root), "--archives", str(mini.archives)]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("error: ") and VOC_TRAINVAL.name in last and "md5" in last
    assert main(["--root", str(root), "--archives", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert str(tmp_path / "none" / VOC_TRAINVAL.name) in err
    assert not root.exists()
