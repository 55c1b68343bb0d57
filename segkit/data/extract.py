"""Safe tar extraction: member names checked, regular files and folders only, with progress.

Generic over archives; :mod:`segkit.data.prepare` uses it for Pascal VOC 2012 and SBD. Every
failure is a :class:`PrepareError` whose one-line message names the archive and the fix.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO

from rich.progress import Progress, TaskID

from segkit.data.archives import CHUNK, byte_progress
from segkit.errors import PrepareError


class _CountingReader:
    """File wrapper that reports bytes read, so a streamed (gzip) tar shows honest progress."""

    def __init__(self, f: IO[bytes], progress: Progress, task: TaskID) -> None:
        self._f, self._progress, self._task = f, progress, task

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._progress.advance(self._task, len(data))
        return data


def _member_target(dest: Path, name: str, archive: Path) -> tuple[str, Path]:
    """Normalised member name and its path under ``dest``; refuses names that would escape it."""
    posix = PurePosixPath(name)
    if posix.is_absolute() or ".." in posix.parts:
        raise PrepareError(
            f"refusing member {name!r} of {archive}: it would be written outside {dest}; "
            f"the archive is damaged or not the official one, get a fresh copy"
        )
    parts = [p for p in posix.parts if p != "."]
    return "/".join(parts), dest.joinpath(*parts)


def _selected(name: str, select: tuple[str, ...] | None) -> bool:
    """Whether ``name`` is in ``select``: exact names, or folders given with a trailing ``/``."""
    if select is None:
        return True
    return any(
        (name.startswith(s) or name == s[:-1]) if s.endswith("/") else name == s for s in select
    )


def safe_extract(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    select: Iterable[str] | None = None,
    *,
    verbose: bool = True,
) -> int:
    """Extract regular files and folders of a tar (any compression) under ``dest``, safely.

    Every member name is checked, selected or not: an absolute name or one with ``..`` is refused,
    since no honest archive has one. Only regular files and folders are written, by this function
    rather than ``tarfile``'s extract, so no links, devices, owners or permissions come from the
    archive; a selected link or special file is refused.

    Args:
        archive: the tar file (``.tar``, ``.tgz``, ...), read once as a stream.
        dest: destination folder (created).
        select: member names or folder prefixes (ending in ``/``) to extract; None for all.
        verbose: show a progress bar over the archive's bytes.

    Returns:
        The number of files written.

    Raises:
        PrepareError: an unsafe member, or an unreadable archive; naming the archive.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    chosen = tuple(select) if select is not None else None
    written = 0
    with byte_progress(verbose) as progress, archive.open("rb") as raw:
        task = progress.add_task(f"extract {archive.name}", total=archive.stat().st_size)
        try:
            # Stream mode ("r|*"): one sequential pass, even through gzip, no member index needed.
            reader = _CountingReader(raw, progress, task)
            with tarfile.open(fileobj=reader, mode="r|*") as tar:
                for member in tar:
                    name, target = _member_target(dest, member.name, archive)
                    if not name or not _selected(name, chosen):
                        continue
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                    elif member.isfile():
                        target.parent.mkdir(parents=True, exist_ok=True)
                        source = tar.extractfile(member)
                        assert source is not None  # regular files always have data
                        with source, target.open("wb") as out:
                            shutil.copyfileobj(source, out, CHUNK)
                        written += 1
                    else:
                        raise PrepareError(
                            f"refusing member {member.name!r} of {archive}: links and special "
                            f"files are not extracted; get a fresh copy of the official archive"
                        )
        # Only reading errors: a write error (a full disk) is no reason to delete the archive.
        except (tarfile.TarError, EOFError) as err:
            raise PrepareError(
                f"cannot read archive {archive} ({err}); delete it and download it again"
            ) from None
    return written
