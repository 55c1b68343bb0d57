"""Dataset checks with one-line messages that name the file and the fix.

Used by the reader on every sample it loads and by ``scripts/check_dataset.py`` over a whole root.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segkit.data.palette import VOID_INDEX
from segkit.errors import DataError


def read_image(path: Path) -> np.ndarray:
    """Decode an RGB image fully (truncation shows only on full decode).

    Returns:
        ``(H, W, 3)`` uint8 array.

    Raises:
        DataError: missing, unreadable, corrupt or truncated file.
    """
    if not path.is_file():
        raise DataError(f"image {path} is missing; restore it or remove its id from the split list")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(
            f"image {path} is corrupt or truncated ({err}); re-extract the dataset or remove its id"
        ) from None


def read_mask(path: Path, num_classes: int | None = None) -> np.ndarray:
    """Decode a palette (P) or grey (L) mask whose pixel values are class indices.

    Args:
        path: the PNG.
        num_classes: when given, values must be in ``0..num_classes-1`` or 255 (void).

    Returns:
        ``(H, W)`` uint8 array.

    Raises:
        DataError: missing, corrupt, not index-valued, or holding out-of-range values.
    """
    if not path.is_file():
        raise DataError(f"mask {path} is missing; restore it or remove its id from the split list")
    try:
        with Image.open(path) as m:
            mode = m.mode
            mask = np.asarray(m) if mode in ("P", "L") else None
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError(
            f"mask {path} is corrupt or truncated ({err}); re-extract the dataset or remove its id"
        ) from None
    if mask is None:
        raise DataError(
            f"mask {path} has mode {mode}; masks must hold class indices as palette (P) or grey (L) "
            "PNGs, not colours (convert colour masks with the VOC palette)"
        )
    if num_classes is not None:
        labelled = mask[mask != VOID_INDEX]
        if labelled.size and int(labelled.max()) >= num_classes:
            bad = sorted(set(np.unique(labelled).tolist()) - set(range(num_classes)))
            raise DataError(
                f"mask {path} holds values {bad[:5]} outside 0..{num_classes - 1} and {VOID_INDEX}; "
                "fix the mask or set the dataset's class list (data.class_names)"
            )
    return mask


def read_pair(
    image_path: Path, mask_path: Path, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check one image/mask pair (same size)."""
    image, mask = read_image(image_path), read_mask(mask_path, num_classes)
    if mask.shape != image.shape[:2]:
        raise DataError(
            f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image {image_path.name} is "
            f"{image.shape[1]}x{image.shape[0]}; masks must have their image's size"
        )
    return image, mask
