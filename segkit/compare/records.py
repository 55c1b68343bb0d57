"""``val_records.npz``: a run's per-image confusions and sample predictions of its last validation.

Training writes it (:class:`segkit.training.callbacks.ValRecords`); ``segkit-compare`` and
``scripts/beats_background.py`` read it. Arrays: ``class_names``, ``epoch``, ``confusions``
``(N, C, C)`` int64 (absent when no confusion was recorded), ``sample_ids``, ``sample_indices``,
and per sample ``k``: ``image_k`` ``(H, W, 3)`` uint8, ``mask_k`` and ``pred_k`` ``(H, W)`` uint8.
Pure numpy: reading it needs neither torch nor Lightning.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segkit.io import atomic_write_bytes

RECORDS_FILE = "val_records.npz"
SAMPLE_KEYS = ("image", "mask", "pred")


def write_records(
    output_dir: str | Path,
    class_names: Sequence[str],
    epoch: int,
    confusions: np.ndarray | None,
    samples: Sequence[Mapping[str, Any]],
) -> Path:
    """Write ``<output_dir>/val_records.npz`` atomically (a temporary file, then a rename).

    Args:
        confusions: per-image confusion matrices ``(N, C, C)``, or None.
        samples: dicts with ``id``, ``index`` and the arrays of :data:`SAMPLE_KEYS`.
    """
    arrays: dict[str, np.ndarray] = {
        "class_names": np.array(class_names),
        "epoch": np.array(epoch),
    }
    if confusions is not None:
        arrays["confusions"] = np.asarray(confusions).astype(np.int64)
    arrays["sample_ids"] = np.array([s["id"] for s in samples])
    arrays["sample_indices"] = np.array([s["index"] for s in samples], dtype=np.int64)
    for k, s in enumerate(samples):
        for key in SAMPLE_KEYS:
            arrays[f"{key}_{k}"] = s[key]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return atomic_write_bytes(Path(output_dir) / RECORDS_FILE, buffer.getvalue())


def read_records(path: Path | None) -> dict[str, np.ndarray] | None:
    """Every array of a ``val_records.npz`` file; None when ``path`` is None or not a file."""
    if path is None or not path.is_file():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def sample_ids(records: Mapping[str, np.ndarray]) -> list[str]:
    """The ids of the recorded sample images, in their order (``k`` of ``image_k``)."""
    return [str(i) for i in records.get("sample_ids", [])]


def sample_array(records: Mapping[str, np.ndarray], key: str, k: int) -> np.ndarray:
    """The ``key`` (one of :data:`SAMPLE_KEYS`) array of the ``k``-th recorded sample."""
    return records[f"{key}_{k}"]
