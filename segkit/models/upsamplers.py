"""Decoder upsamplers: x (B, C, h, w) -> (B, C, *skip.size), with h = H//2 or ceil(H/2).

Over ~300 lines on purpose: the ten operators sit side by side (20-40 lines each, sharing
``_check_grid`` and ``_fit_to``), so a reader compares them in one file; the registry and the
option check close it.

Contract (see docs/architecture.md): built as ``Cls(channels)``; ``forward(x, skip)``; same channels in and
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

import inspect
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from segkit.errors import ConfigError
from segkit.models.blocks import Skip, tracing
from segkit.models.registry import lookup
from segkit.options import wrap


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


class BilinearUpsample(Upsampler):
    """Fixed bilinear interpolation (``align_corners=False``): cell centres stay in place."""

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        _check_grid(x, skip.size)
        # scale 2, not size=skip.size: on an odd size that would stretch the grid by H/h != 2
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return _fit_to(x, skip.size, "replicate")  # (B, C, H, W)


class ResizeConv(Upsampler):
    """Nearest-neighbour resize, then a learned 3x3 convolution (Odena et al. 2016).

    Every output pixel is computed by the same kernel, so no stride pattern can appear: the
    remedy Odena et al. give for the checkerboard artefacts of transpose convolution.
    """

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__(channels)
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        _check_grid(x, skip.size)
        x = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))  # (B, C, 2h, 2w)
        # fitted after the conv, so a ceil grid is exactly the even-size result cropped
        return _fit_to(x, skip.size, "replicate")  # (B, C, H, W)


def icnr_(weight: torch.Tensor, scale: int = 2) -> torch.Tensor:
    """ICNR initialisation (Aitken et al. 2017) of a sub-pixel convolution's weight, in place.

    ``weight`` is ``(C * scale**2, C_in, k, k)``. One kernel ``(C, C_in, k, k)`` is drawn (Kaiming
    uniform, as ``nn.Conv2d``) and copied to the ``scale**2`` sub-pixel positions of each output
    channel, so that at initialisation pixel shuffle gives the nearest-neighbour resize of that
    kernel's convolution: no checkerboard to unlearn.
    """
    out_channels = weight.shape[0] // scale**2
    base = torch.empty(out_channels, *weight.shape[1:], dtype=weight.dtype, device=weight.device)
    nn.init.kaiming_uniform_(base, a=5**0.5)
    with torch.no_grad():
        # pixel_shuffle reads output channel c's sub-pixel s from input channel c * scale**2 + s
        weight.copy_(base.repeat_interleave(scale**2, dim=0))
    return weight


class PixelShuffleUpsample(Upsampler):
    """Sub-pixel convolution (Shi et al. 2016): a conv to 4C channels, then pixel shuffle.

    The convolution runs at the low resolution; its weight is ICNR-initialised (:func:`icnr_`).

    Args:
        channels: channels in and out.
        kernel_size: of the sub-pixel convolution (3, as ESPCN's last layer).
        icnr: initialise with ICNR (default) rather than independently per sub-pixel.
    """

    def __init__(self, channels: int, kernel_size: int = 3, icnr: bool = True) -> None:
        super().__init__(channels)
        self.conv = nn.Conv2d(channels, 4 * channels, kernel_size, padding=kernel_size // 2)
        if icnr:
            icnr_(self.conv.weight)
            with torch.no_grad():  # one bias per output channel, shared by its 4 sub-pixels
                self.conv.bias.copy_(self.conv.bias[::4].repeat_interleave(4))
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        _check_grid(x, skip.size)
        x = self.shuffle(self.conv(x))  # (B, 4C, h, w) -> (B, C, 2h, 2w)
        return _fit_to(x, skip.size, "replicate")  # (B, C, H, W)


def bilinear_kernel(size: int = 4) -> torch.Tensor:
    """The ``(size, size)`` kernel with which a stride-``size // 2`` transpose convolution
    interpolates bilinearly (FCN's upsampling initialisation)."""
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(size, dtype=torch.float32) - centre).abs() / factor  # (size,)
    return taps[:, None] * taps[None, :]  # (size, size)


class TransposeBilinear(TransposeConv):
    """Transpose convolution (kernel 4, stride 2) initialised to bilinear interpolation, as FCN.

    Each channel starts as its own bilinear upsampler (zero cross-channel weights and bias), then
    learns. Away from the border it equals ``F.interpolate(mode="bilinear")`` at initialisation;
    at the border the transpose convolution sees zeros past the edge where interpolation repeats
    the edge value.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, kernel_size=4)
        with torch.no_grad():
            self.conv.weight.zero_()
            for c in range(channels):
                self.conv.weight[c, c] = bilinear_kernel(4)
            self.conv.bias.zero_()


class UnpoolConv(MaxUnpool):
    """Max-unpooling followed by a learned 3x3 convolution (DeconvNet, Noh et al. 2015).

    Unpooling puts each value back at its recorded maximum; the convolution then densifies the
    sparse map, which DeconvNet does with its deconvolution layers.
    """

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__(channels)
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        return self.conv(super().forward(x, skip))  # (B, C, H, W)


class CARAFE(Upsampler):
    """Content-aware reassembly of features (Wang et al. 2019), in plain PyTorch.

    For each output pixel a ``k_up x k_up`` kernel is predicted from the content around its source
    cell (softmax-normalised), and the output is that kernel's weighted sum of the input's
    neighbourhood of the source cell.

    Args:
        channels: channels in and out.
        compressed: channels of the 1x1 compressor the kernels are predicted from (paper: 64).
        k_up: reassembly kernel size (paper: 5).
        k_enc: kernel size of the content encoder (paper: 3).
    """

    def __init__(self, channels: int, compressed: int = 64, k_up: int = 5, k_enc: int = 3) -> None:
        super().__init__(channels)
        compressed = min(compressed, channels)
        self.k_up = k_up
        self.compress = nn.Conv2d(channels, compressed, 1)
        self.encode = nn.Conv2d(compressed, 4 * k_up * k_up, k_enc, padding=k_enc // 2)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor, skip: Skip) -> torch.Tensor:
        _check_grid(x, skip.size)
        b, c, h, w = x.shape
        k2 = self.k_up * self.k_up
        # kernel channel k * 4 + s belongs to output sub-pixel s = 2i + j of each source cell (the
        # pixel-shuffle order), so the kernels stay at the low resolution: (B, k2, 4, h * w)
        kernels = self.encode(self.compress(x)).reshape(b, k2, 4, h * w).softmax(dim=1)
        # every pixel's k_up x k_up neighbourhood, at the low resolution: (B, C, k2, h * w)
        patches = F.unfold(x, self.k_up, padding=self.k_up // 2).reshape(b, c, k2, h * w)
        # each cell's four kernels reassemble the same neighbourhood, one output pixel each; a
        # batched matrix product, never materialising the neighbourhoods at the high resolution
        out = torch.einsum("bckn,bksn->bcsn", patches, kernels)  # (B, C, 4, h * w)
        out = self.shuffle(out.reshape(b, c * 4, h, w))  # (B, C, 2h, 2w)
        return _fit_to(out, skip.size, "replicate")  # (B, C, H, W)


UPSAMPLERS: dict[str, type[Upsampler]] = {
    "nearest": NearestUpsample,
    "bed_of_nails": BedOfNailsUpsample,
    "max_unpool": MaxUnpool,
    "transpose": TransposeConv,
    "bilinear": BilinearUpsample,
    "resize_conv": ResizeConv,
    "pixel_shuffle": PixelShuffleUpsample,
    "transpose_bilinear": TransposeBilinear,
    "unpool_conv": UnpoolConv,
    "carafe": CARAFE,
}


def get_upsampler_class(name: str | type[nn.Module]) -> type[nn.Module]:
    """Resolve an upsampler registry name (or pass a class through); unknown names list the valid."""
    return lookup(UPSAMPLERS, name, "upsampler", "model.upsampler.name")


def check_upsampler_options(name: str | type[nn.Module], options: Mapping[str, Any]) -> type:
    """Check ``model.upsampler``'s options and return the class.

    Unknown keys are refused first, then the class's own value checks run on a 1-channel instance
    (no network is built; a constructor must stay cheap at ``channels=1`` and raise ``ValueError``
    or ``TypeError`` for bad options).
    """
    cls = get_upsampler_class(name)
    label = name if isinstance(name, str) else cls.__name__
    kwargs = {k: v for k, v in options.items() if k != "name"}
    params = [p for p in inspect.signature(cls).parameters if p != "channels"]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(
            f"upsampler {label!r} takes no option {', '.join(unknown)} (model.upsampler); "
            f"valid: {', '.join(['name', *params])}"
        )
    try:
        cls(1, **kwargs)
    except (TypeError, ValueError) as err:
        raise wrap("model.upsampler", dict(options), err) from None
    return cls


def create_upsampler(name: str | type[nn.Module], channels: int, **kwargs) -> nn.Module:
    """Build an upsampler by registry name or class for ``channels`` channels."""
    return get_upsampler_class(name)(channels, **kwargs)
