"""Prepare Pascal VOC 2012 + SBD (the ``trainaug`` set) from the official archives.

Over ~300 lines on purpose: one preparation whose steps (extract, convert SBD's masks, check,
list, mark) share the archives' layout constants defined here.

Inputs, downloaded (with resume and md5 verification) or taken from a folder the user fills by hand:

    VOCtrainval_11-May-2012.tar   VOC 2012 trainval (2.0 GB)
    benchmark.tgz                 Semantic Boundaries Dataset, SBD (1.4 GB)

Result, in the devkit layout that :mod:`segkit.data.voc` reads:

    <root>/VOCdevkit/VOC2012/JPEGImages/<id>.jpg
    <root>/VOCdevkit/VOC2012/SegmentationClass/<id>.png       VOC's own masks (train + val)
    <root>/VOCdevkit/VOC2012/SegmentationObject/<id>.png
    <root>/VOCdevkit/VOC2012/SegmentationClassAug/<id>.png    VOC masks + SBD masks as palette PNGs
    <root>/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval,trainaug}.txt
    <root>/segkit_voc.json                                    marker: counts and archive checksums

``trainaug`` = VOC train + SBD train + SBD val - VOC val: 10,582 ids on the full data. Where an id
has both a VOC and an SBD mask, the VOC mask wins (finer, with a void border).

The whole result is built in a temporary sibling folder, the marker written into it, and the folder
renamed to ``<root>`` in one step (:func:`segkit.io.staged_dir`): ``<root>`` exists only when the
preparation finished, and a run interrupted anywhere before that leaves neither ``<root>`` nor the
temporary folder. Partial downloads (``<name>.part`` in the archives folder) are kept on purpose, so the next run resumes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from segkit.data.archives import (
    Archive,
    PrepareError,
    count_progress,
    fetch_archive,
    missing_message,
    say,
)
from segkit.data.extract import safe_extract
from segkit.data.palette import VOID_INDEX, voc_palette
from segkit.io import staged_dir, stale_stages, umask

__all__ = [
    "ARCHIVES",
    "OFFICIAL_COUNTS",
    "OFFICIAL_MD5",
    "SBD",
    "VOC_TRAINVAL",
    "PrepareError",
    "default_archives_dir",
    "load_sbd_mask",
    "prepare_voc",
    "read_marker",
    "save_palette_mask",
    "trainaug_ids",
]

VOC_TRAINVAL = Archive(
    "VOCtrainval_11-May-2012.tar",
    "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
    "6cd6e144f989b92b3379bac3b3de84fd",
)
SBD = Archive(
    "benchmark.tgz",
    "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/"
    "benchmark.tgz",
    "82b4d87ceb2ed10f6038a1cba92111cb",
)
ARCHIVES: tuple[Archive, ...] = (VOC_TRAINVAL, SBD)
OFFICIAL_MD5: dict[str, str] = {a.name: a.md5 for a in ARCHIVES}
OFFICIAL_COUNTS: dict[str, int] = {"train": 1464, "val": 1449, "trainaug": 10582}
MARKER = "segkit_voc.json"
FORMAT_VERSION = 1
NUM_CLASSES = 21

VOC_PREFIX = "VOCdevkit/VOC2012/"
# Only what segmentation needs: the tar also holds ~17k detection annotations and layout lists.
VOC_MEMBERS = tuple(
    VOC_PREFIX + sub
    for sub in (
        "JPEGImages/",
        "SegmentationClass/",
        "SegmentationObject/",
        "ImageSets/Segmentation/",
    )
)
SBD_DATASET = "benchmark_RELEASE/dataset/"
# SBD's images are VOC 2011 images, already in VOC 2012's JPEGImages: only the labels are needed.
SBD_MEMBERS = (SBD_DATASET + "cls/", SBD_DATASET + "train.txt", SBD_DATASET + "val.txt")

# ---------------------------------------------------------------- masks and split lists


def load_sbd_mask(mat_path: str | os.PathLike) -> np.ndarray:
    """Read an SBD ``cls/<id>.mat`` file's ``GTcls.Segmentation`` as a ``(H, W)`` uint8 array.

    Raises:
        PrepareError: unreadable file, no ``GTcls.Segmentation``, or values outside 0..20 and 255.
    """
    from scipy.io import loadmat  # lazy: scipy is only needed for preparation

    mat_path = Path(mat_path)
    try:
        mat = loadmat(mat_path, squeeze_me=True, struct_as_record=False)
        label = np.asarray(mat["GTcls"].Segmentation)
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
        raise PrepareError(
            f"cannot read GTcls.Segmentation from {mat_path} ({err}); the SBD archive is damaged"
        ) from None
    values = np.unique(label)
    if label.ndim != 2 or not np.isin(values, [*range(NUM_CLASSES), VOID_INDEX]).all():
        raise PrepareError(
            f"{mat_path} holds a {label.shape} array with values {values.tolist()[:8]}, expected "
            f"an (H, W) map of 0..{NUM_CLASSES - 1} and {VOID_INDEX}; the SBD archive is damaged"
        )
    return label.astype(np.uint8)


def save_palette_mask(label: np.ndarray, path: str | os.PathLike) -> None:
    """Save a ``(H, W)`` uint8 label map as a palette (mode P) PNG with the VOC colour map."""
    mask = Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8), mode="P")
    mask.putpalette(voc_palette().flatten().tolist())
    mask.save(path)


def trainaug_ids(
    voc_train: Iterable[str],
    voc_val: Iterable[str],
    sbd_train: Iterable[str],
    sbd_val: Iterable[str],
) -> list[str]:
    """The ``trainaug`` ids: VOC train + SBD train + SBD val - VOC val, deduplicated and sorted.

    VOC val is subtracted because SBD's lists include images of VOC 2012 val: training on them
    would leak the evaluation set.
    """
    return sorted((set(voc_train) | set(sbd_train) | set(sbd_val)) - set(voc_val))


def _read_ids(path: Path, archive: Path) -> list[str]:
    if not path.is_file():
        raise PrepareError(
            f"{archive} has no {path.name} where expected ({path}); it is not the official archive"
        )
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _write_ids(path: Path, ids: Iterable[str]) -> None:
    path.write_text("".join(f"{i}\n" for i in ids))


def _build_aug_masks(
    voc_dir: Path, sbd_dir: Path, sbd_ids: list[str], sbd_archive: Path, verbose: bool
) -> None:
    """Fill ``SegmentationClassAug``: VOC's PNGs as they are, SBD's .mat for every other id."""
    aug = voc_dir / "SegmentationClassAug"
    aug.mkdir()
    voc_masks = sorted((voc_dir / "SegmentationClass").glob("*.png"))
    for png in voc_masks:
        shutil.copyfile(png, aug / png.name)
    have = {p.stem for p in voc_masks}
    todo = [i for i in sbd_ids if i not in have]
    with count_progress(verbose) as progress:
        task = progress.add_task("convert SBD .mat -> png", total=len(todo))
        for sample_id in todo:
            mat = sbd_dir / "cls" / f"{sample_id}.mat"
            if not mat.is_file():
                raise PrepareError(
                    f"{sbd_archive} lists {sample_id} but has no {SBD_DATASET}cls/{sample_id}.mat; "
                    f"the archive is damaged or not the official one"
                )
            label = load_sbd_mask(mat)
            jpg = voc_dir / "JPEGImages" / f"{sample_id}.jpg"
            if jpg.is_file():
                with Image.open(jpg) as im:  # reads the header only
                    if im.size != (label.shape[1], label.shape[0]):
                        raise PrepareError(
                            f"{mat} is {label.shape[1]}x{label.shape[0]} but {jpg.name} is "
                            f"{im.size[0]}x{im.size[1]}; the archives do not belong together"
                        )
            save_palette_mask(label, aug / f"{sample_id}.png")
            progress.advance(task)


def _build(
    tmp: Path, voc_tar: Path, sbd_tgz: Path, md5: Mapping[str, str], official: bool, verbose: bool
) -> dict:
    """Extract, convert and write the lists under ``tmp``; return the marker's content."""
    safe_extract(voc_tar, tmp, VOC_MEMBERS, verbose=verbose)
    voc_dir = tmp / VOC_PREFIX
    lists = voc_dir / "ImageSets" / "Segmentation"
    voc_train = _read_ids(lists / "train.txt", voc_tar)
    voc_val = _read_ids(lists / "val.txt", voc_tar)

    scratch = tmp / "_sbd"
    safe_extract(sbd_tgz, scratch, SBD_MEMBERS, verbose=verbose)
    sbd_dir = scratch / SBD_DATASET
    sbd_train = _read_ids(sbd_dir / "train.txt", sbd_tgz)
    sbd_val = _read_ids(sbd_dir / "val.txt", sbd_tgz)
    _build_aug_masks(voc_dir, sbd_dir, sorted(set(sbd_train) | set(sbd_val)), sbd_tgz, verbose)
    shutil.rmtree(scratch)

    aug = trainaug_ids(voc_train, voc_val, sbd_train, sbd_val)
    # Every listed id must load later: check now, while the archive can still be named.
    for sample_id in aug:
        if not (voc_dir / "JPEGImages" / f"{sample_id}.jpg").is_file():
            raise PrepareError(
                f"trainaug id {sample_id} has no image JPEGImages/{sample_id}.jpg in {voc_tar}; "
                f"the archives do not belong together"
            )
        if not (voc_dir / "SegmentationClassAug" / f"{sample_id}.png").is_file():
            raise PrepareError(
                f"trainaug id {sample_id} (VOC train) has no mask SegmentationClass/"
                f"{sample_id}.png in {voc_tar}; the archive is damaged or not the official one"
            )
    _write_ids(lists / "trainaug.txt", aug)

    counts = {"train": len(voc_train), "val": len(voc_val), "trainaug": len(aug)}
    if official and counts != OFFICIAL_COUNTS:
        raise PrepareError(
            f"the official archives gave split sizes {counts}, expected {OFFICIAL_COUNTS}; "
            f"this is a bug in segkit.data.prepare, please report it"
        )
    return {
        "format_version": FORMAT_VERSION,
        "counts": counts,
        "sbd_counts": {"train": len(sbd_train), "val": len(sbd_val)},
        "official": official,
        "archives": {p.name: md5[p.name] for p in (voc_tar, sbd_tgz)},
    }


# ---------------------------------------------------------------- the whole preparation


def read_marker(root: str | os.PathLike) -> dict | None:
    """The marker of a finished preparation under ``root``, or None when there is none."""
    marker = Path(root) / MARKER
    try:
        data = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("format_version") == FORMAT_VERSION else None


def default_archives_dir(root: str | os.PathLike) -> Path:
    """Where downloads go when no archives folder is given: ``downloads/`` beside ``root``."""
    return Path(root).parent / "downloads"


def prepare_voc(
    root: str | os.PathLike = "data/voc",
    archives_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    checksums: Mapping[str, str] | None = None,
    verbose: bool = True,
) -> dict:
    """Prepare Pascal VOC 2012 + SBD under ``root``, unless a finished preparation is there.

    Args:
        root: destination; ends up holding ``VOCdevkit/VOC2012`` and the marker file.
        archives_dir: folder with (or to receive) the two archives; default ``downloads/``
            beside ``root``.
        download: fetch missing archives from their URLs; when False they must be in
            ``archives_dir``.
        checksums: expected md5 per archive file name, overriding the official ones (tests pass
            those of miniature archives). The split sizes are asserted (1,464 / 1,449 / 10,582)
            only when both checksums are the official ones; otherwise they are just reported.
        verbose: progress bars and messages on stderr.

    Returns:
        ``{"root": str, "counts": {"train": n, "val": n, "trainaug": n}, "official": bool,
        "skipped": bool}``; ``skipped`` is True when ``root`` was already prepared.

    Raises:
        PrepareError: a missing, corrupt or undownloadable archive, an unsafe archive member,
            or a ``root`` that exists without a finished preparation; the message names the file
            and the fix.
    """
    root = Path(root)
    marker = read_marker(root)
    if marker is not None:
        say(verbose, f"{root} is already prepared ({MARKER} present); nothing to do")
        return _summary(root, marker, skipped=True)
    if root.exists():
        raise PrepareError(
            f"{root} exists but holds no finished preparation (no valid {MARKER}); "
            f"remove it (rm -r {root}) or choose another --root"
        )
    expected = {**OFFICIAL_MD5, **(checksums or {})}
    official = all(expected[a.name].lower() == a.md5 for a in ARCHIVES)
    archives_dir = Path(archives_dir) if archives_dir is not None else default_archives_dir(root)
    if not download:
        # Fail in a second on a missing archive, not after checksumming the other 2 GB one.
        for archive in ARCHIVES:
            if not (archives_dir / archive.name).is_file():
                raise PrepareError(missing_message(archives_dir / archive.name, archive))
    voc_tar, sbd_tgz = (
        fetch_archive(a, archives_dir, expected[a.name], allow_download=download, verbose=verbose)
        for a in ARCHIVES
    )

    root.parent.mkdir(parents=True, exist_ok=True)
    for path in stale_stages(root):
        say(verbose, f"removing {path}, left by an earlier run that was killed")
        shutil.rmtree(path, ignore_errors=True)
    with staged_dir(root) as tmp:
        marker = _build(tmp, voc_tar, sbd_tgz, expected, official, verbose)
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        tmp.chmod(0o777 & ~umask())  # the usual permissions, not mkdtemp's private 0700
    counts = marker["counts"]
    say(
        verbose,
        f"prepared {root}: train {counts['train']}, val {counts['val']}, "
        f"trainaug {counts['trainaug']}" + ("" if official else " (not the official archives)"),
    )
    return _summary(root, marker, skipped=False)


def _summary(root: Path, marker: dict, skipped: bool) -> dict:
    return {
        "root": str(root),
        "counts": dict(marker["counts"]),
        "official": bool(marker.get("official")),
        "skipped": skipped,
    }
