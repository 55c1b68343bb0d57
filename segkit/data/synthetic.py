"""The embedded default dataset: synthetic scenes written to disk in the VOC devkit layout.

21 classes, like VOC: background plus 20 object classes = 5 shapes x 4 colour families. A pixel's
colour gives at most its family, never its class: the shape, seen through spatial context, decides.
Boundaries carry the difficulty: rings (holes, thin walls), crosses (thin arms), squares and
triangles (sharp corners), occlusion between objects, and a 2 px void (255) band straddling every
outline between different labels, as VOC's annotations have.

Each image is generated from ``numpy.random.default_rng((seed, split, index))``: the dataset is a
pure function of its parameters. It is written into a temporary sibling folder and renamed into
place at the end, with a ``segkit_synthetic.json`` marker recording the parameters, so an
interrupted run never leaves half a dataset and a finished one is reused.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from segkit.data.boundary_scenes import CLASS_NAMES as BOUNDARY_CLASSES
from segkit.data.boundary_scenes import generate_boundary_sample
from segkit.data.drawing import hsv_to_rgb, shape_polygons, texture
from segkit.data.palette import VOID_INDEX, voc_palette
from segkit.io import staged_dir

SHAPES = ("disc", "square", "triangle", "ring", "cross")
FAMILIES = {  # hue centre (degrees) of each colour family
    "red": 0.0,
    "green": 120.0,
    "blue": 230.0,
    "yellow": 55.0,
}
CLASS_NAMES: tuple[str, ...] = (
    "background",
    *(f"{family}_{shape}" for family in FAMILIES for shape in SHAPES),
)
STYLES = ("shapes", "boundaries")
MARKER = "segkit_synthetic.json"
FORMAT_VERSION = 2


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters that fully determine the synthetic dataset."""

    num_train: int = 2000
    num_val: int = 400
    image_size: int = 96
    min_objects: int = 2
    max_objects: int = 5
    min_radius: float = 10.0
    max_radius: float = 22.0
    seed: int = 0
    jpeg_quality: int = 90
    # "shapes": the default set's 20 shape x colour classes; "boundaries": the upsampler
    # benchmark's scenes (segkit.data.boundary_scenes), classes by hue, fine geometry
    style: str = "shapes"

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(
                f"data.synthetic.style must be one of {', '.join(STYLES)}, got {self.style!r}"
            )
        for key in ("num_train", "num_val", "image_size", "min_objects", "jpeg_quality"):
            if getattr(self, key) < 1:
                raise ValueError(f"data.synthetic.{key} must be >= 1, got {getattr(self, key)}")
        if self.max_objects < self.min_objects:
            raise ValueError("data.synthetic.max_objects must be >= data.synthetic.min_objects")
        if not 2 <= self.min_radius <= self.max_radius:
            raise ValueError(
                "data.synthetic.min_radius and max_radius need 2 <= min_radius <= max_radius"
            )


def _object_mask(size: int, shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Boolean ``(size, size)`` mask of one object centred at (cx, cy) with circumradius r."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    if shape in ("disc", "ring"):
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=1)
        if shape == "ring":
            hole = 0.55 * r
            draw.ellipse((cx - hole, cy - hole, cx + hole, cy + hole), fill=0)
    else:
        for poly in shape_polygons(shape, cx, cy, r, angle):
            draw.polygon(poly, fill=1)
    return np.asarray(mask, dtype=bool)


def _void_band(label: np.ndarray) -> np.ndarray:
    """Pixels with a different label among their 8 neighbours: a 2 px band straddling each outline."""
    padded = np.pad(label, 1, mode="edge")
    h, w = label.shape
    band = np.zeros(label.shape, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            band |= padded[dy : dy + h, dx : dx + w] != label
    return band


def generate_sample(
    spec: SyntheticSpec, rng: np.random.Generator
) -> tuple[Image.Image, np.ndarray]:
    """Draw one scene: returns the RGB image and the label map (class indices, 255 = void)."""
    n = spec.image_size
    # Background: low-saturation colour of any hue with a smooth texture, so neither brightness
    # nor texture alone separates it from objects.
    bg_hue = rng.uniform(0, 360) + 60 * texture(rng, n, 24)
    bg_sat = np.clip(rng.uniform(0.05, 0.35) + 0.15 * texture(rng, n, 16), 0, 1)
    bg_val = np.clip(rng.uniform(0.3, 0.8) + 0.25 * texture(rng, n, 12), 0, 1)
    rgb = hsv_to_rgb(bg_hue, bg_sat, bg_val)  # (n, n, 3)
    label = np.zeros((n, n), dtype=np.uint8)
    for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
        cls = int(rng.integers(1, len(CLASS_NAMES)))
        family, shape = CLASS_NAMES[cls].split("_")
        r = float(rng.uniform(spec.min_radius, spec.max_radius))
        cx, cy = rng.uniform(0.15 * n, 0.85 * n, size=2)
        mask = _object_mask(n, shape, float(cx), float(cy), r, float(rng.uniform(0, 2 * math.pi)))
        # Each object its own colour: family hue +- 12 degrees, varied saturation and brightness,
        # a fine brightness texture. Painted in order, so later objects occlude earlier ones.
        hue = FAMILIES[family] + rng.uniform(-12, 12)
        sat, val = rng.uniform(0.55, 0.95), rng.uniform(0.55, 0.95)
        tex = texture(rng, n, rng.uniform(3, 8))
        colour = hsv_to_rgb(
            np.full((n, n), hue), np.full((n, n), sat), np.clip(val + 0.15 * tex, 0, 1)
        )
        rgb[mask] = colour[mask]
        label[mask] = cls
    rgb = rgb + rng.normal(0, 0.03, rgb.shape)  # sensor noise
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")
    image = image.filter(ImageFilter.GaussianBlur(0.6))  # soft edges, as a camera gives
    label[_void_band(label)] = VOID_INDEX
    return image, label


def _save_mask(label: np.ndarray, path: Path) -> None:
    mask = Image.fromarray(label, mode="P")
    mask.putpalette(voc_palette().flatten().tolist())
    mask.save(path)


def class_names(style: str = "shapes") -> tuple[str, ...]:
    """The class list of a synthetic style (index order)."""
    if style == "boundaries":
        return BOUNDARY_CLASSES
    return CLASS_NAMES


def _marker(spec: SyntheticSpec) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "classes": list(class_names(spec.style)),
        **asdict(spec),
    }


def _draw(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[Image.Image, np.ndarray]:
    if spec.style == "boundaries":
        return generate_boundary_sample(spec.image_size, spec.min_objects, spec.max_objects, rng)
    return generate_sample(spec, rng)


def is_complete(root: Path, spec: SyntheticSpec) -> bool:
    """True when ``root`` holds a finished dataset generated from exactly ``spec``."""
    marker = Path(root) / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()) == _marker(spec)
    except json.JSONDecodeError:
        return False


def ensure_synthetic(root: str | os.PathLike, spec: SyntheticSpec | None = None) -> Path:
    """Write the synthetic dataset to ``root`` unless a finished copy of the same spec is there.

    A synthetic set written with other parameters (or by an older generator) is replaced; the
    old copy is removed only once the new one is complete.

    Args:
        root: dataset root; the devkit layout goes under ``root/VOCdevkit/VOC2012``.
        spec: generation parameters (defaults when None).

    Returns:
        ``root`` as a Path.

    Raises:
        FileExistsError: ``root`` exists but is not a synthetic set written by segkit (no
            marker); the message names the folder.
    """
    spec = spec or SyntheticSpec()
    root = Path(root)
    if is_complete(root, spec):
        return root
    if root.exists() and not (root / MARKER).is_file():
        raise FileExistsError(
            f"{root} exists but is not a synthetic dataset written by segkit (no {MARKER}); "
            f"remove it (rm -r {root}) or point data.root elsewhere"
        )
    with staged_dir(root, done=lambda: is_complete(root, spec), replace=True) as tmp:
        voc = tmp / "VOCdevkit" / "VOC2012"
        for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
            (voc / sub).mkdir(parents=True)
        for split_index, (split, count) in enumerate(
            (("train", spec.num_train), ("val", spec.num_val))
        ):
            ids = []
            for i in range(count):
                rng = np.random.default_rng((spec.seed, split_index, i))
                image, label = _draw(spec, rng)
                sample_id = f"{split}_{i:06d}"
                # the benchmark's thin parts keep full colour resolution (no 4:2:0 chroma)
                chroma = {"subsampling": 0} if spec.style == "boundaries" else {}
                image.save(
                    voc / "JPEGImages" / f"{sample_id}.jpg", quality=spec.jpeg_quality, **chroma
                )
                _save_mask(label, voc / "SegmentationClass" / f"{sample_id}.png")
                ids.append(sample_id)
            (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        lists = voc / "ImageSets" / "Segmentation"
        (lists / "trainval.txt").write_text(
            (lists / "train.txt").read_text() + (lists / "val.txt").read_text()
        )
        (tmp / MARKER).write_text(json.dumps(_marker(spec), indent=2) + "\n")
    return root
