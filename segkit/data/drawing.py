"""Drawing helpers shared by the synthetic data generators (``synthetic``, ``boundary_scenes``)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV (h in degrees, s and v in [0, 1]) to RGB in [0, 1], last axis RGB."""
    h = (h % 360.0) / 60.0
    c = v * s
    x = c * (1 - np.abs(h % 2 - 1))
    m = v - c
    zeros = np.zeros_like(h)
    sector = np.floor(h).astype(int) % 6
    choices = [
        np.stack(t, -1)
        for t in (
            (c, x, zeros),
            (x, c, zeros),
            (zeros, c, x),
            (zeros, x, c),
            (x, zeros, c),
            (c, zeros, x),
        )
    ]
    rgb = np.select([sector[..., None] == k for k in range(6)], choices)
    return rgb + m[..., None]


def shape_polygons(shape: str, cx: float, cy: float, r: float, angle: float) -> list[list[tuple]]:
    """Polygon(s) of a shape centred at (cx, cy) with circumradius r, rotated by angle (radians)."""

    def rotated(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        ca, sa = math.cos(angle), math.sin(angle)
        return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in points]

    if shape == "square":
        s = r / math.sqrt(2)
        return [rotated([(-s, -s), (s, -s), (s, s), (-s, s)])]
    if shape == "triangle":
        return [
            rotated(
                [
                    (r * math.cos(a), r * math.sin(a))
                    for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)
                ]
            )
        ]
    if shape == "cross":
        w = 0.2 * r  # half arm width: arms are 0.4 r wide, thin next to the 2 r span
        return [
            rotated([(-r, -w), (r, -w), (r, w), (-r, w)]),
            rotated([(-w, -r), (w, -r), (w, r), (-w, r)]),
        ]
    raise ValueError(shape)


def texture(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Smooth random field in [-1, 1]: upsampled white noise (bilinear) of cell ``scale`` px."""
    cells = max(2, int(size / scale) + 2)
    noise = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    field = np.asarray(noise.resize((size, size), Image.BILINEAR), dtype=np.float32) / 127.5 - 1
    return field
