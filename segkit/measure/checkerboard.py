"""Checkerboard artefacts, measured: the share of a map's spectral energy at the stride frequencies.

An upsampler of stride ``s`` that treats the ``s x s`` positions of a cell differently (bed of
nails, an uneven transpose-convolution overlap) leaves a pattern that repeats every ``s`` pixels:
energy at the frequencies ``k / s`` cycles per pixel (Odena et al. 2016, "Deconvolution and
Checkerboard Artifacts"). For stride 2 these are the Nyquist bins ``(0, pi)``, ``(pi, 0)`` and
``(pi, pi)``. The share of the (mean-removed) energy in those bins is 1 for a pure checkerboard,
and near 0 for smooth maps or white noise (3 bins of ``H * W``).
"""

from __future__ import annotations

import torch


def checkerboard_share(maps: torch.Tensor, stride: int = 2) -> float:
    """Share of the spectral energy of ``maps`` at the frequencies of a period-``stride`` pattern.

    Args:
        maps: ``(..., H, W)`` feature or logit maps; energies are summed over the leading
            dimensions (images, channels), so strong channels weigh more.
        stride: the upsampling stride whose pattern is measured.

    Returns:
        ``sum of power at bins (i * H / stride, j * W / stride), (i, j) != (0, 0)`` over the total
        power, each map's mean removed first; 0.0 for constant maps. Maps are cropped to a multiple
        of ``stride`` so that those bins exist.
    """
    h, w = (maps.shape[-2] // stride) * stride, (maps.shape[-1] // stride) * stride
    if h == 0 or w == 0:
        raise ValueError(f"maps of size {tuple(maps.shape[-2:])} are smaller than stride {stride}")
    x = maps[..., :h, :w].detach().double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().square().reshape(-1, h, w).sum(dim=0)  # (H, W)
    total = float(power.sum())
    if total == 0.0:
        return 0.0
    at_stride = float(power[:: h // stride, :: w // stride].sum())  # DC is 0 after the mean
    return at_stride / total
