"""Fetch dataset archives: resumable, md5-verified downloads, and the progress bars and messages
of a preparation (safe extraction: :mod:`segkit.data.extract`).

Generic over archives (nothing here knows about VOC); :mod:`segkit.data.prepare` uses it for
Pascal VOC 2012 and SBD. Every failure is a :class:`PrepareError` whose one-line message names the
file or URL and the fix. Long steps show rich progress bars on stderr.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from segkit.errors import PrepareError

CHUNK = 1 << 20  # bytes per read and write


@dataclass(frozen=True)
class Archive:
    """One published archive: file name, download URL and official md5."""

    name: str
    url: str
    md5: str


# ---------------------------------------------------------------- progress and messages


def _console(verbose: bool) -> Console:
    return Console(stderr=True, quiet=not verbose)


def byte_progress(verbose: bool) -> Progress:
    """A rich progress bar over bytes, on stderr; inert when ``verbose`` is False."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=_console(verbose),
        disable=not verbose,
    )


def count_progress(verbose: bool) -> Progress:
    """A rich progress bar over items (done/total), on stderr; inert when ``verbose`` is False."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_console(verbose),
        disable=not verbose,
    )


def say(verbose: bool, message: str) -> None:
    """Print one line on stderr unless ``verbose`` is False."""
    # markup off: paths may hold [brackets] that rich would read as style tags
    _console(verbose).print(message, markup=False, highlight=False)


# ---------------------------------------------------------------- archives: checksum, download


def md5sum(path: str | os.PathLike, verbose: bool = False) -> str:
    """Return the hex md5 of a file, reading it in 1 MiB chunks.

    Args:
        path: the file.
        verbose: show a progress bar (worth it for the multi-GB archives).

    Returns:
        The 32-character lowercase hex digest.
    """
    path = Path(path)
    digest = hashlib.md5()
    with byte_progress(verbose) as progress, path.open("rb") as f:
        task = progress.add_task(f"md5 {path.name}", total=path.stat().st_size)
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            progress.advance(task, len(chunk))
    return digest.hexdigest()


def _check_md5(path: Path, expected: str, actual: str) -> None:
    if actual != expected.lower():
        raise PrepareError(
            f"{path} is corrupt or not the expected file: md5 {actual}, expected {expected}; "
            f"delete it and run again to re-download, or pass the right file with --archives DIR"
        )


def _network_error(url: str, dest: Path, reason: object) -> PrepareError:
    return PrepareError(
        f"could not download {url} ({reason}); download it by hand into a folder as {dest.name} "
        f"and pass --archives DIR"
    )


def download(
    url: str,
    dest: str | os.PathLike,
    md5: str | None = None,
    *,
    verbose: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial download, and verify its md5.

    Bytes go to ``<dest>.part`` first; a rerun after an interruption asks the server for the rest
    with an HTTP ``Range`` header (and starts over if the server ignores it). The part file is
    renamed to ``dest`` only once complete and verified, so ``dest`` is never a partial file.

    Args:
        url: where to fetch from (http or https).
        dest: the final file path; its folder is created.
        md5: expected hex md5, or None to skip verification.
        verbose: show a progress bar.
        timeout: seconds to wait on the connection before giving up.

    Returns:
        ``dest`` as a Path.

    Raises:
        PrepareError: network failure (naming the URL; the part file is kept for resuming) or md5
            mismatch (naming the file; the part file is deleted, since resuming it cannot help).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    digest = hashlib.md5()
    if offset:
        # Hash the bytes already there now, so the new bytes can be hashed as they stream in.
        with part.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        # 416: nothing left past ``offset``, i.e. the part file is already whole.
        if not (err.code == 416 and offset):
            raise _network_error(url, dest, f"HTTP {err.code} {err.reason}") from None
        response = None
    except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
        raise _network_error(url, dest, getattr(err, "reason", err)) from None
    if response is not None:
        with response:
            if response.status != 206:  # the server sent the whole file: start over
                offset, digest = 0, hashlib.md5()
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length else None
            with byte_progress(verbose) as progress, part.open("ab" if offset else "wb") as f:
                task = progress.add_task(f"download {dest.name}", total=total, completed=offset)
                while True:
                    # Only the read is the network's fault; a failed write (a full disk) is not.
                    try:
                        chunk = response.read(CHUNK)
                    except (OSError, http.client.HTTPException) as err:  # reset, timeout
                        raise _network_error(url, dest, f"{err}; run again to resume") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    digest.update(chunk)
                    offset += len(chunk)
                    progress.advance(task, len(chunk))
        # http.client ends a read early without raising when the server hangs up: a short file
        # is a network failure to resume, not a corrupt download to delete.
        if total is not None and offset < total:
            raise _network_error(
                url, dest, f"connection closed after {offset} of {total} bytes; run again to resume"
            )
    if md5 is not None:
        actual = digest.hexdigest()
        if actual != md5.lower():
            part.unlink()
            raise PrepareError(
                f"downloaded {dest.name} from {url} has md5 {actual}, expected {md5}; deleted it, "
                f"run again to re-download, or download it by hand and pass --archives DIR"
            )
    os.replace(part, dest)
    return dest


def fetch_archive(
    archive: Archive,
    archives_dir: str | os.PathLike,
    md5: str | None = None,
    *,
    allow_download: bool = True,
    verbose: bool = True,
) -> Path:
    """Return the verified path of ``archive`` in ``archives_dir``, downloading it if missing.

    Args:
        archive: which archive (name, URL, official md5).
        archives_dir: folder holding (or to receive) the archive file.
        md5: expected md5 (default: the official one), e.g. that of a miniature test archive.
        allow_download: fetch a missing archive from its URL; when False a missing file is an error.
        verbose: show progress bars.

    Returns:
        The archive's path, whose md5 matched.

    Raises:
        PrepareError: missing (with downloads off), corrupt, or not downloadable; naming the file.
    """
    md5 = md5 or archive.md5
    path = Path(archives_dir) / archive.name
    if path.is_file():
        _check_md5(path, md5, md5sum(path, verbose))
        return path
    if not allow_download:
        raise PrepareError(missing_message(path, archive))
    say(verbose, f"downloading {archive.url} -> {path}")
    return download(archive.url, path, md5, verbose=verbose)


def missing_message(path: Path, archive: Archive) -> str:
    """The one-line error for an archive missing at ``path``: where to get it, where to put it."""
    return (
        f"archive {path} not found; download {archive.url} into {path.parent} "
        f"(or pass --archives DIR with the folder that holds {archive.name})"
    )
