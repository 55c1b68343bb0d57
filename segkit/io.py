"""Small file helpers: writes that never leave half a file or half a folder behind."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def umask() -> int:
    """The process's file-creation mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode open() would have given
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it the file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(value: Any) -> Any:
    """NaN/inf become null (strict JSON); tensors and numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Atomically write ``data`` as strict, indented JSON."""
    return atomic_write_text(path, json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n")


def _staging_prefix(final: str | os.PathLike) -> str:
    """The name prefix of :func:`staged_dir`'s temporary folders beside ``final``; the id of the
    process building it follows, then a random suffix."""
    return f".{Path(final).name}.tmp-"


def stale_stages(final: str | os.PathLike) -> list[Path]:
    """Temporary folders of :func:`staged_dir` beside ``final`` left by processes that were killed
    outright (SIGKILL, power loss): the folder name carries its process id, and a folder whose
    process still runs is being built."""
    final = Path(final)
    prefix = _staging_prefix(final)
    stale = []
    for path in final.parent.glob(f"{prefix}*"):
        pid_text = path.name[len(prefix) :].split("-", 1)[0]
        if not (pid_text.isdigit() and _pid_alive(int(pid_text))):
            stale.append(path)
    return stale


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def staged_dir(
    final: str | os.PathLike, done: Callable[[], bool] | None = None, replace: bool = False
) -> Iterator[Path]:
    """Build a folder in a temporary sibling of ``final``, then rename it into place.

    The block fills the yielded folder and writes its marker last: the rename is then the single
    step that makes a finished ``final`` appear. The sibling is on the same file system, so the
    rename is atomic. On any exception (KeyboardInterrupt and SystemExit too) the folder is removed.

    Args:
        final: the folder to create.
        done: tells whether ``final`` is already whole (another process, such as a parallel sweep
            job, finished it first): the new copy is then discarded.
        replace: an existing ``final`` is swapped out for the new one, and only once the new one is
            whole; without it, renaming over an existing non-empty ``final`` fails (OSError).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_staging_prefix(final)}{os.getpid()}-", dir=final.parent))
    try:
        yield tmp
        if done is not None and done():
            shutil.rmtree(tmp, ignore_errors=True)
        elif replace and final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, final)
            except OSError:  # a parallel job renamed its identical copy into place meanwhile
                if done is None or not done():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
