"""The Pascal VOC colour map (palette index -> RGB), as the devkit's VOClabelcolormap builds it."""

from __future__ import annotations

import numpy as np

VOID_INDEX = 255


def voc_palette(n: int = 256) -> np.ndarray:
    """Return the VOC colour map as a ``(n, 3)`` uint8 array (index 255 is void, light beige)."""
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def colorize(mask: np.ndarray) -> np.ndarray:
    """Class-index mask ``(H, W)`` -> ``(H, W, 3)`` RGB with the VOC colours (void light beige)."""
    return voc_palette()[np.asarray(mask, dtype=np.uint8)]
