"""Decoder upsamplers: x (B, C, h, w) -> (B, C, *skip.size), with h = H//2 or ceil(H/2).

Contract (see DESIGN.md): built as ``Cls(channels)``; ``forward(x, skip)``; same channels in and
out; output exactly ``skip.size`` (odd sizes included); class attribute ``needs_indices`` says
whether the encoder must record max-pooling indices. Registered under short stable names.

Cell alignment: a downsampled cell (i, j) covers input rows 2i, 2i+1 and columns 2j, 2j+1; every
upsampler here maps it back onto exactly those pixels. On an odd size H there are two grids:
floor-mode max pooling (VGG) drops the last row, h = H//2, and the upsampler fills it by edge
replication (nearest) or zeros (bed-of-nails, max-unpool, the bias of transpose); a padded
stride-2 convolution (ResNet) keeps it, h = ceil(H/2), and the last cell's second row, which lies
past the edge, is cropped. Cells are never shifted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segkit.models.blocks import Skip, tracing
from segkit.models.registry import lookup


def _check_grid(x: torch.Tensor, size: tuple[int, int]) -> None:
    """Fail clearly unless ``x`` is a 2x downsampling of ``size`` (floor or ceil grid)."""
    if tracing():
        return
    for have, full in zip(x.shape[-2:], size, strict=True):
        if have not in (full // 2, (full + 1) // 2):
            raise ValueError(
                f"cannot upsample {tuple(x.shape[-2:])} by 2 to {tuple(size)}: each side must be "
                "half the target, rounded down or up"
            )


def _fit_to(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Crop or pad the bottom/right of a 2x-upsampled ``x`` to ``size``.

    Cropping removes the half cell past an odd edge (ceil grid); padding restores the odd
    row/column that floor-mode pooling dropped. Padding by zero rows is a no-op, so there is no
    branch on the sizes and exported graphs (ONNX, TorchScript) stay valid for every input size.
    """
    x = x[..., : size[0], : size[1]]  # (B, C, <= H, <= W)
    dh, dw = size[0] - x.shape[-2], size[1] - x.shape[-1]
    if mode == "constant":
        return F.pad(x, (0, dw, 0, dh))
    return F.pad(x, (0, dw, 0, dh), mode=mode)


class Upsampler(nn.Module):
    """Base class: stores ``channels``; subclasses set ``needs_indices`` and implement forward."""

    needs_indices: bool = False

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class NearestUpsample(Upsampler):
    """Nearest-neighbour: each value is copied into all four pixels of its 2x2 cell."""

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        _check_grid(x, skip.size)
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (B, C, 2h, 2w)
        return _fit_to(x, skip.size, "replicate")  # (B, C, H, W)


class BedOfNailsUpsample(Upsampler):
    """Bed of nails: each value goes to the top-left pixel of its 2x2 cell, zeros elsewhere."""

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        _check_grid(x, skip.size)
        b, c, h, w = x.shape
        out = x.new_zeros(b, c, *skip.size)  # (B, C, H, W)
        # On a ceil grid the last nail lands on row H-1 = 2(h-1), still inside the output.
        out[:, :, : 2 * h : 2, : 2 * w : 2] = x
        return out


class MaxUnpool(Upsampler):
    """Max-unpooling (SegNet): each value goes back where the encoder's max pooling found it."""

    needs_indices = True

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        if skip.indices is None:
            raise ValueError(
                "max_unpool needs the encoder's pooling indices, but the Skip has none; "
                "build the model with build_model(), which asks the encoder for them"
            )
        return F.max_unpool2d(x, skip.indices, 2, 2, output_size=skip.size)  # (B, C, H, W)


class TransposeConv(Upsampler):
    """Learned transpose convolution, stride 2, C -> C channels.

    Args:
        channels: channels in and out.
        kernel_size: 4 (default; every output pixel gets two taps per axis, as in FCN's
            upsampling layers) or 2 (non-overlapping, as in U-Net).
    """

    def __init__(self, channels: int, kernel_size: int = 4) -> None:
        super().__init__(channels)
        if kernel_size not in (2, 4):
            raise ValueError(
                f"model.upsampler.kernel_size={kernel_size}: transpose takes 2 or 4; "
                "set model.upsampler.kernel_size=4 (or 2)"
            )
        # padding k/2 - 1 keeps output pixel 2i (+1) inside cell i, so cells stay aligned.
        self.conv = nn.ConvTranspose2d(
            channels, channels, kernel_size, stride=2, padding=kernel_size // 2 - 1
        )

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        _check_grid(x, skip.size)
        # One zero row/column past the bottom/right edge makes the output 2h+2 rows: rows up to
        # 2h-1 are unchanged (a zero input adds nothing) and row 2h is what output_padding would
        # give on a floor grid (H = 2h+1). Cropping to H then serves floor, even and ceil grids
        # alike, with no size-dependent branch (so ONNX export keeps every size).
        x = self.conv(F.pad(x, (0, 1, 0, 1)))  # (B, C, 2h+2, 2w+2)
        return x[..., : skip.size[0], : skip.size[1]]  # (B, C, H, W)


UPSAMPLERS: dict[str, type[Upsampler]] = {
    "nearest": NearestUpsample,
    "bed_of_nails": BedOfNailsUpsample,
    "max_unpool": MaxUnpool,
    "transpose": TransposeConv,
}


def get_upsampler_class(name: str | type[nn.Module]) -> type[nn.Module]:
    """Resolve an upsampler registry name (or pass a class through); unknown names list the valid."""
    return lookup(UPSAMPLERS, name, "upsampler", "model.upsampler.name")


def create_upsampler(name: str | type[nn.Module], channels: int, **kwargs) -> nn.Module:
    """Build an upsampler by registry name or class for ``channels`` channels."""
    return get_upsampler_class(name)(channels, **kwargs)
