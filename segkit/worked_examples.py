"""The worked examples of docs/upsampling.md, computed by segkit's own modules.

Each function returns the numbers a figure of ``scripts/figures.py`` draws, so the tests can check
exactly what the figures show: a 4x4 map pooled and restored by the fixed upsamplers, the 1D
transpose convolution written out, and a convolution as a matrix next to its transpose.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segkit.models import Skip, create_upsampler

# The 4x4 map of the pooling figure: each 2x2 cell has a distinct maximum in a different corner.
EXAMPLE_MAP = torch.tensor(
    [[1.0, 5, 2, 0],
     [3, 4, 8, 6],
     [7, 9, 1, 2],
     [0, 6, 3, 4]]
)  # fmt: skip


def pool_and_restore(x: torch.Tensor = EXAMPLE_MAP) -> dict[str, torch.Tensor]:
    """2x2/2 max pooling of ``x`` (H, W), as an encoder stage does, then each fixed restoration.

    Returns:
        ``input``, ``pooled`` (H/2, W/2), ``argmax`` (H/2, W/2) flat indices into ``x``, and the
        ``nearest``, ``bed_of_nails`` and ``max_unpool`` outputs (H, W) of segkit's upsamplers.
    """
    pooled, indices = F.max_pool2d(x[None, None], 2, 2, return_indices=True)  # (1, 1, H/2, W/2)
    skip = Skip(tuple(x.shape), indices, None)
    out = {"input": x, "pooled": pooled[0, 0], "argmax": indices[0, 0]}
    for name in ("nearest", "bed_of_nails", "max_unpool"):
        with torch.no_grad():
            out[name] = create_upsampler(name, 1)(pooled, skip)[0, 0]  # (H, W)
    return out


def transpose_conv_1d(
    inputs: torch.Tensor, kernel: torch.Tensor, stride: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1D transpose convolution of ``inputs`` (n,) with ``kernel`` (k,) at ``stride``.

    Returns:
        The output ``((n - 1) * stride + k,)`` and the contributions ``(n, len)``: row ``i`` is
        ``inputs[i] * kernel`` placed at offset ``i * stride``; the output is their column sum
        (where the copies overlap, they add).
    """
    out = F.conv_transpose1d(inputs[None, None], kernel[None, None], stride=stride)[0, 0]
    parts = torch.zeros(len(inputs), len(out))
    for i, value in enumerate(inputs):
        parts[i, i * stride : i * stride + len(kernel)] = value * kernel
    return out, parts


def conv_matrix(kernel: torch.Tensor, length: int, stride: int = 1) -> torch.Tensor:
    """The matrix X with ``X @ x == conv1d(x, kernel, stride)`` for inputs of ``length``.

    Built by applying ``F.conv1d`` to each unit vector (column ``j`` is the response to input
    ``j``), so it is the library's convolution, not a re-implementation.

    Returns:
        ``(out_length, length)``; its transpose maps the convolution's output space back to the
        input space, which is what ``F.conv_transpose1d`` computes.
    """
    eye = torch.eye(length)[:, None, :]  # (length, 1, length): one unit input per row
    columns = F.conv1d(eye, kernel[None, None], stride=stride)[:, 0, :]  # (length, out_length)
    return columns.T  # (out_length, length)


def predictions_of_runs(
    run_dirs: list, index: int = 0
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """One val image through the trained network of each run (``<run>/checkpoints/last.ckpt``).

    The image and its validation preset come from the checkpoint's own DataModule settings.

    Args:
        run_dirs: run folders of ``segkit-train`` (each with ``metrics.json`` and checkpoints).
        index: which val image.

    Returns:
        The image ``(H, W, 3)`` uint8, its ground truth ``(H, W)`` and ``{upsampler: prediction}``.
    """
    from pathlib import Path

    from segkit.data.datamodule import SegDataModule
    from segkit.training.checkpoint import load_task
    from segkit.training.record import RunRecord
    from segkit.training.run_state import last_checkpoint

    image = truth = None
    predictions: dict[str, torch.Tensor] = {}
    for run_dir in run_dirs:
        task, checkpoint = load_task(last_checkpoint(run_dir))
        datamodule = SegDataModule(**checkpoint["datamodule_hyper_parameters"])
        datamodule.setup("validate")
        assert datamodule.val_set is not None
        normalised, mask = datamodule.val_set[index]
        if image is None:
            raw, _ = datamodule.val_set.load(index)
            image, truth = raw.permute(1, 2, 0), mask  # (H, W, 3), (H, W)
        with torch.no_grad():
            logits = task.infer(normalised[None], size=tuple(mask.shape))  # (1, C, H, W)
        name = RunRecord.read(Path(run_dir) / RunRecord.FILE).upsampler
        predictions[name] = logits.argmax(1)[0]
    assert image is not None and truth is not None, "no runs given"
    return image, truth, predictions
