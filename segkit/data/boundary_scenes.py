"""Scenes for the upsampler benchmark: *what* an object is is easy, *where its boundary lies* is hard.

``data.synthetic.style=boundaries`` (``experiment=upsampler_benchmark``). A pixel's class is its
object's hue family (6 families 60 degrees apart, every object saturated, the background
low-saturation), so recognition needs no more than a few pixels of context and is learned in the
first few hundred steps for every seed. What is left to learn is geometry that a decoder must bring
back from the bottleneck (1/4 of the image in the protocol's 2-stage encoder):

- ``star``: 5-9 pointed stars (sharp corners, spikes a few pixels wide at their base);
- ``ring``: annuli with 2-4 px walls (holes, thin parts);
- ``bars``: 1.5-3 px wide straight strokes (thin parts crossing whole pooling cells);
- ``dots``: clusters of 3-6 discs of radius 1.5-3.5 px (small objects, close neighbours);
- ``split``: a disc cut by a random chord into two different classes (a boundary between two
  objects, not against background);
- ``holes``: a disc or square with 2-4 small holes.

Labels are the rendered masks themselves, with no void band, so every pixel of every thin part is
scored; images are rendered from them with a light blur, sensor noise and a fine texture.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from segkit.data.drawing import hsv_to_rgb, shape_polygons, texture

HUES = {"red": 0.0, "yellow": 60.0, "green": 120.0, "cyan": 180.0, "blue": 240.0, "magenta": 300.0}
CLASS_NAMES: tuple[str, ...] = ("background", *HUES)
KINDS = ("star", "ring", "bars", "dots", "split", "holes")


def _canvas(n: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("L", (n, n), 0)
    return img, ImageDraw.Draw(img)


def _disc(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill: int) -> None:
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)


def _object(kind: str, n: int, rng: np.random.Generator, scale: float) -> list[np.ndarray]:
    """Boolean masks of one object: one mask, or two for ``split`` (two classes)."""
    img, draw = _canvas(n)
    cx, cy = rng.uniform(0.12 * n, 0.88 * n, size=2)
    r = float(rng.uniform(6.0, 15.0)) * scale
    angle = float(rng.uniform(0, 2 * math.pi))
    if kind == "star":
        points = int(rng.integers(5, 10))
        inner = r * float(rng.uniform(0.3, 0.55))
        poly = [
            (
                cx + (r if k % 2 == 0 else inner) * math.cos(angle + k * math.pi / points),
                cy + (r if k % 2 == 0 else inner) * math.sin(angle + k * math.pi / points),
            )
            for k in range(2 * points)
        ]
        draw.polygon(poly, fill=1)
    elif kind == "ring":
        wall = float(rng.uniform(2.0, 4.0)) * scale
        _disc(draw, cx, cy, r, 1)
        _disc(draw, cx, cy, max(r - wall, 1.0), 0)
    elif kind == "bars":
        for _ in range(int(rng.integers(1, 4))):
            length = float(rng.uniform(1.5, 3.0)) * r
            a = float(rng.uniform(0, math.pi))
            dx, dy = 0.5 * length * math.cos(a), 0.5 * length * math.sin(a)
            ox, oy = cx + rng.uniform(-r, r) * 0.5, cy + rng.uniform(-r, r) * 0.5
            width = max(1, round(float(rng.uniform(1.5, 3.0)) * scale))
            draw.line((ox - dx, oy - dy, ox + dx, oy + dy), fill=1, width=width)
    elif kind == "dots":
        for _ in range(int(rng.integers(3, 7))):
            ox, oy = cx + rng.uniform(-r, r), cy + rng.uniform(-r, r)
            _disc(draw, ox, oy, float(rng.uniform(1.5, 3.5)) * scale, 1)
    elif kind == "split":
        _disc(draw, cx, cy, r, 1)
        first = np.asarray(img, dtype=bool)
        yy, xx = np.mgrid[0:n, 0:n]
        offset = float(rng.uniform(-0.5, 0.5)) * r
        side = (xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle) > offset
        return [first & side, first & ~side]
    elif kind == "holes":
        if rng.random() < 0.5:
            _disc(draw, cx, cy, r, 1)
        else:
            draw.polygon(shape_polygons("square", cx, cy, r, angle)[0], fill=1)
        for _ in range(int(rng.integers(2, 5))):
            ox, oy = cx + rng.uniform(-0.5, 0.5) * r, cy + rng.uniform(-0.5, 0.5) * r
            _disc(draw, ox, oy, float(rng.uniform(1.0, 2.5)) * scale, 0)
    else:
        raise ValueError(kind)
    return [np.asarray(img, dtype=bool)]


def generate_boundary_sample(
    image_size: int, min_objects: int, max_objects: int, rng: np.random.Generator
) -> tuple[Image.Image, np.ndarray]:
    """Draw one benchmark scene: the RGB image and its label map (class indices, no void)."""
    n = image_size
    scale = n / 64.0  # sizes are designed at 64 px; larger images scale every length
    bg_hue = rng.uniform(0, 360) + 40 * texture(rng, n, 16)
    bg_sat = np.clip(rng.uniform(0.0, 0.25) + 0.08 * texture(rng, n, 12), 0, 1)
    bg_val = np.clip(rng.uniform(0.3, 0.85) + 0.2 * texture(rng, n, 8), 0, 1)
    rgb = hsv_to_rgb(bg_hue, bg_sat, bg_val)  # (n, n, 3)
    label = np.zeros((n, n), dtype=np.uint8)
    names = list(HUES)
    for _ in range(int(rng.integers(min_objects, max_objects + 1))):
        kind = KINDS[int(rng.integers(len(KINDS)))]
        masks = _object(kind, n, rng, scale)
        classes = rng.choice(len(names), size=len(masks), replace=False) + 1
        for mask, cls in zip(masks, classes, strict=True):
            hue = HUES[names[int(cls) - 1]] + rng.uniform(-10, 10)
            sat, val = rng.uniform(0.6, 0.95), rng.uniform(0.6, 0.95)
            tex = texture(rng, n, float(rng.uniform(2, 6)))
            colour = hsv_to_rgb(
                np.full((n, n), hue), np.full((n, n), sat), np.clip(val + 0.12 * tex, 0, 1)
            )
            rgb[mask] = colour[mask]  # later objects occlude earlier ones
            label[mask] = int(cls)
    rgb = rgb + rng.normal(0, 0.03, rgb.shape)
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")
    return image.filter(ImageFilter.GaussianBlur(0.5)), label
