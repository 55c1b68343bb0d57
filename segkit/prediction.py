"""Segmenting image files with a checkpoint (``segkit-predict``): palette masks and overlays.

For each image: ``<output>/masks/<name>.png``, class indices at the image's own size in a VOC-palette
PNG, and ``<output>/overlays/<name>.png``, the image blended with the coloured mask and a legend of
the classes present. Images are normalised (and resized, if the checkpoint validated with
``data.val_size``) as in the checkpoint's validation. Unreadable files are reported and skipped.
"""

from __future__ import annotations

import glob
import io
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def find_inputs(spec: str) -> list[Path]:
    """Image files named by ``spec``: one file, every image in a folder, or a glob pattern."""
    path = Path(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = [p for p in sorted(path.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        files = [Path(p) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).is_file()]
    if not files:
        raise FileNotFoundError(
            f"input={spec} names no image file (a file, a folder of {'/'.join(IMAGE_SUFFIXES)} "
            "images, or a quoted glob such as 'images/*.jpg')"
        )
    return files


def palette_png(mask, path: Path) -> None:
    """Write class indices ``(H, W)`` uint8 as a palette PNG with the VOC colours, atomically."""
    from PIL import Image

    from segkit.data.palette import voc_palette
    from segkit.io import atomic_write_bytes

    image = Image.fromarray(mask, mode="P")
    image.putpalette(voc_palette().reshape(-1).tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def overlay_png(image, mask, names: list[str], alpha: float, path: Path) -> None:
    """The image blended with the coloured mask (objects only), a legend of the classes present."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch

    from segkit.compare.figures import save_png
    from segkit.data.palette import VOID_INDEX, colorize, voc_palette

    # background (0) and void stay untinted, so the photo shows through where nothing was found
    tint = ((mask > 0) & (mask != VOID_INDEX))[..., None]
    blend = np.where(tint, (1 - alpha) * image + alpha * colorize(mask), image).astype(np.uint8)
    h, w = mask.shape
    fig = plt.figure(figsize=(w / 100 + 1.6, h / 100), dpi=100)
    ax = fig.add_axes((0, 0, w / (w + 160), 1))
    ax.imshow(blend)
    ax.axis("off")
    palette = voc_palette() / 255.0
    present = [int(c) for c in np.unique(mask)]
    handles = [
        Patch(color=palette[c], label=names[c] if c < len(names) else str(c)) for c in present
    ]
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    save_png(fig, path, bbox=None)


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Predict every input; return ``{"written": [...], "skipped": {file: reason}}``."""
    import numpy as np
    import torch
    from rich.progress import Progress
    from torchvision import tv_tensors

    from segkit.data.checks import DataError, read_image
    from segkit.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transforms
    from segkit.inference import merge_options
    from segkit.training.checkpoint import load_task, read_checkpoint

    if not 0.0 <= cfg.alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {cfg.alpha}")
    files = find_inputs(str(cfg.input))
    checkpoint = read_checkpoint(cfg.ckpt_path)
    data = checkpoint.get("datamodule_hyper_parameters") or {}
    # the validation preset the checkpoint was trained with (normalisation, val_size resize)
    preset = eval_transforms(
        data.get("mean", IMAGENET_MEAN), data.get("std", IMAGENET_STD), data.get("val_size")
    )
    options = merge_options(
        checkpoint["hyper_parameters"].get("inference"), OmegaConf.to_container(cfg.inference)
    )
    task, _ = load_task(cfg.ckpt_path, inference=options)
    gpu = cfg.accelerator in ("gpu", "cuda") or (
        cfg.accelerator == "auto" and torch.cuda.is_available()
    )
    device = torch.device("cuda" if gpu else "cpu")
    task.to(device)
    names = list(task.hparams.class_names)
    out = Path(cfg.output)
    stems = [f.stem for f in files]  # a.jpg and a.png are kept apart as a_jpg and a_png
    outputs = [f.stem if stems.count(f.stem) == 1 else f"{f.stem}_{f.suffix[1:]}" for f in files]
    written, skipped = [], {}
    with Progress() as progress, torch.inference_mode():
        bar = progress.add_task("predicting", total=len(files))
        for file, stem in zip(files, outputs, strict=True):
            progress.advance(bar)
            try:
                array = read_image(file)  # (H, W, 3) uint8, fully decoded
            except DataError as err:
                skipped[str(file)] = str(err)
                progress.console.print(f"[yellow]skipped[/yellow] {err}", soft_wrap=True)
                continue
            image = tv_tensors.Image(torch.from_numpy(array.copy()).permute(2, 0, 1))
            x = preset(image)[None].to(device)  # (1, 3, h, w), as validation feeds it
            logits = task.infer(x, size=array.shape[:2])  # (1, C, H, W): the image's size
            mask = logits.argmax(1)[0].to(torch.uint8).cpu().numpy()
            palette_png(mask, out / "masks" / f"{stem}.png")
            overlay = out / "overlays" / f"{stem}.png"
            overlay_png(array.astype(np.float32), mask, names, float(cfg.alpha), overlay)
            written.append(str(file))
    print(f"segkit-predict: {len(written)} written to {out}, {len(skipped)} skipped")
    if not written:
        raise DataError(f"no input could be read ({len(skipped)} skipped); see the lines above")
    return {"written": written, "skipped": skipped}
