"""The upsampler contract over every registered upsampler, and golden worked examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from segkit.cli import CONFIG_DIR
from segkit.models import UPSAMPLERS, Skip, create_upsampler
from segkit.models.upsamplers import TransposeConv
from segkit.worked_examples import EXAMPLE_MAP


def _pooled(x: torch.Tensor) -> tuple[torch.Tensor, Skip]:
    """Max-pool x as an encoder stage does and return the pooled map with its Skip record."""
    pooled, indices = F.max_pool2d(x, 2, 2, return_indices=True)
    return pooled, Skip(tuple(x.shape[-2:]), indices, x)


@pytest.mark.parametrize("name", list(UPSAMPLERS))
@pytest.mark.parametrize("shape", [(2, 6, 16, 16), (1, 4, 33, 47), (1, 3, 5, 2), (3, 2, 2, 3)])
def test_contract_size_channels_gradients(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    up = create_upsampler(name, shape[1])
    x = torch.randn(*shape)
    pooled, skip = _pooled(x)
    pooled = pooled.detach().requires_grad_(True)
    out = up(pooled, skip)
    assert out.shape == (shape[0], shape[1], shape[2], shape[3])
    assert out.dtype == pooled.dtype
    out.square().sum().backward()
    assert pooled.grad is not None and torch.isfinite(pooled.grad).all()
    assert pooled.grad.abs().sum() > 0, "no gradient reaches the upsampler's input"


@pytest.mark.parametrize("name", list(UPSAMPLERS))
def test_contract_needs_indices_is_honest(name: str) -> None:
    # An upsampler that declares needs_indices=False must work from a Skip without indices (the
    # encoder will not record them); one that declares True must refuse such a Skip clearly.
    cls = UPSAMPLERS[name]
    assert isinstance(cls.needs_indices, bool)
    up = create_upsampler(name, 3)
    bare = Skip((9, 8))
    if cls.needs_indices:
        with pytest.raises(ValueError, match="indices"):
            up(torch.randn(1, 3, 4, 4), bare)
    else:
        assert up(torch.randn(1, 3, 4, 4), bare).shape == (1, 3, 9, 8)


@pytest.mark.parametrize("name", list(UPSAMPLERS))
def test_contract_parameters_learn(name: str) -> None:
    up = create_upsampler(name, 4)
    pooled, skip = _pooled(torch.randn(1, 4, 8, 8))
    up(pooled.requires_grad_(True), skip).square().sum().backward()
    for param in up.parameters():  # any parameter an upsampler has must be trained
        assert param.requires_grad and param.grad is not None and param.grad.abs().sum() > 0


def test_parameter_counts() -> None:
    counts = {
        name: sum(p.numel() for p in create_upsampler(name, 8).parameters()) for name in UPSAMPLERS
    }
    assert counts["nearest"] == counts["bed_of_nails"] == counts["max_unpool"] == 0
    assert counts["transpose"] == 8 * 8 * 4 * 4 + 8  # C x C x k x k weights + C biases
    assert counts["bilinear"] == 0
    assert counts["transpose_bilinear"] == counts["transpose"]
    assert counts["resize_conv"] == counts["unpool_conv"] == 8 * 8 * 3 * 3 + 8
    assert counts["pixel_shuffle"] == 4 * 8 * 8 * 3 * 3 + 4 * 8  # C -> 4C, then shuffled
    # carafe: 1x1 compressor C -> min(64, C), 3x3 encoder to 4 * 5 * 5 kernel weights
    assert counts["carafe"] == (8 * 8 + 8) + (8 * 100 * 3 * 3 + 100)
    assert (
        sum(p.numel() for p in create_upsampler("transpose", 8, kernel_size=2).parameters())
        == 8 * 8 * 2 * 2 + 8
    )


@pytest.mark.parametrize("name", list(UPSAMPLERS))
def test_every_registered_upsampler_has_a_config(name: str) -> None:
    assert (Path(CONFIG_DIR) / "model" / "upsampler" / f"{name}.yaml").is_file()


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown upsampler 'bicubic'.*nearest.*max_unpool"):
        create_upsampler("bicubic", 4)


def test_create_accepts_a_class() -> None:
    assert isinstance(create_upsampler(TransposeConv, 3), TransposeConv)


def test_max_unpool_without_indices_says_why() -> None:
    up = create_upsampler("max_unpool", 1)
    with pytest.raises(ValueError, match="pooling indices"):
        up(torch.zeros(1, 1, 2, 2), Skip((4, 4)))


# Worked example: a 4x4 map, 2x2/2 max pooling, then the three fixed restorations, by hand.
X = EXAMPLE_MAP  # [[1, 5, 2, 0], [3, 4, 8, 6], [7, 9, 1, 2], [0, 6, 3, 4]], drawn in the docs
POOLED = torch.tensor([[5.0, 8], [9, 4]])
EXPECTED = {
    "nearest": [[5, 5, 8, 8], [5, 5, 8, 8], [9, 9, 4, 4], [9, 9, 4, 4]],
    "bed_of_nails": [[5, 0, 8, 0], [0, 0, 0, 0], [9, 0, 4, 0], [0, 0, 0, 0]],
    "max_unpool": [[0, 5, 0, 0], [0, 0, 8, 0], [0, 9, 0, 0], [0, 0, 0, 4]],
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_golden_4x4(name: str) -> None:
    pooled, skip = _pooled(X[None, None])
    assert torch.equal(pooled[0, 0], POOLED)
    out = create_upsampler(name, 1)(pooled, skip)
    assert torch.equal(out[0, 0], torch.tensor(EXPECTED[name], dtype=torch.float32))


def test_golden_odd_size_keeps_cells_aligned() -> None:
    # 5x5: pooling drops the last row/column; restorations keep each 2x2 cell in place.
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    pooled, skip = _pooled(x)  # [[6, 8], [16, 18]]
    near = create_upsampler("nearest", 1)(pooled, skip)[0, 0]
    assert near[:4, :4].tolist() == [[6, 6, 8, 8], [6, 6, 8, 8], [16, 16, 18, 18], [16, 16, 18, 18]]
    assert near[4].tolist() == [16, 16, 18, 18, 18]  # edge replicated
    unpool = create_upsampler("max_unpool", 1)(pooled, skip)[0, 0]
    assert unpool[1, 1] == 6 and unpool[3, 3] == 18 and unpool.sum() == 6 + 8 + 16 + 18


def test_golden_transpose_1d() -> None:
    # [a, b] * [x, y, z] at stride 2 = [ax, ay, az + bx, by, bz]
    a, b, x, y, z = 2.0, 3.0, 5.0, 7.0, 11.0
    out = F.conv_transpose1d(torch.tensor([[[a, b]]]), torch.tensor([[[x, y, z]]]), stride=2)
    assert out.flatten().tolist() == [a * x, a * y, a * z + b * x, b * y, b * z]
    # at stride 1 the taps overlap twice: [ax, ay + bx, az + by, bz]
    out1 = F.conv_transpose1d(torch.tensor([[[a, b]]]), torch.tensor([[[x, y, z]]]), stride=1)
    assert out1.flatten().tolist() == [a * x, a * y + b * x, a * z + b * y, b * z]


def test_golden_transpose_module_by_hand() -> None:
    # kernel 2, stride 2: each input value spreads over its own 2x2 cell, scaled by the kernel.
    up = create_upsampler("transpose", 1, kernel_size=2)
    with torch.no_grad():
        up.conv.weight.copy_(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))
        up.conv.bias.fill_(0.5)
    x = torch.tensor([[[[1.0, 10.0], [100.0, 1000.0]]]])
    out = up(x, Skip((5, 4)))[0, 0]  # odd height: the extra row gets only the bias
    assert out.tolist() == [
        [1.5, 2.5, 10.5, 20.5],
        [3.5, 4.5, 30.5, 40.5],
        [100.5, 200.5, 1000.5, 2000.5],
        [300.5, 400.5, 3000.5, 4000.5],
        [0.5, 0.5, 0.5, 0.5],
    ]


def test_transpose_conv_is_the_transposed_convolution_matrix() -> None:
    torch.manual_seed(0)
    channels, h, w = 2, 3, 4
    up = create_upsampler("transpose", channels)
    torch.nn.init.zeros_(up.conv.bias)
    weight = up.conv.weight.detach()  # (C_in, C_out, k, k)
    size = (2 * h, 2 * w)

    # The stride-2 convolution with the same weights maps (C, 2h, 2w) -> (C, h, w): its matrix M.
    def conv(v: torch.Tensor) -> torch.Tensor:
        return F.conv2d(v.reshape(1, channels, *size), weight, stride=2, padding=1).flatten()

    matrix = torch.autograd.functional.jacobian(conv, torch.zeros(channels * size[0] * size[1]))
    assert matrix.shape == (channels * h * w, channels * size[0] * size[1])
    z = torch.randn(1, channels, h, w)
    out = up(z, Skip(size)).detach()
    torch.testing.assert_close(out.flatten(), matrix.T @ z.flatten(), rtol=1e-5, atol=1e-5)


def test_icnr_pixel_shuffle_starts_as_nearest_resize_of_its_conv() -> None:
    torch.manual_seed(0)
    up = create_upsampler("pixel_shuffle", 3)
    x = torch.randn(2, 3, 6, 7)
    base_w, base_b = up.conv.weight[::4], up.conv.bias[::4]  # the one kernel ICNR copied 4 times
    assert all(torch.equal(up.conv.weight[s::4], base_w) for s in range(4))
    want = F.interpolate(F.conv2d(x, base_w, base_b, padding=1), scale_factor=2, mode="nearest")
    torch.testing.assert_close(up(x, Skip((12, 14))), want)
    # with a 1x1 kernel resizing and convolving commute: nearest resize, then the conv
    up1 = create_upsampler("pixel_shuffle", 3, kernel_size=1)
    nearest = F.interpolate(x, scale_factor=2, mode="nearest")
    torch.testing.assert_close(
        up1(x, Skip((12, 14))), F.conv2d(nearest, up1.conv.weight[::4], up1.conv.bias[::4])
    )
    # without ICNR the four sub-pixel kernels differ (the checkerboard-prone start)
    plain = create_upsampler("pixel_shuffle", 3, icnr=False)
    assert not torch.equal(plain.conv.weight[0::4], plain.conv.weight[1::4])


def test_transpose_bilinear_starts_as_bilinear_interpolation() -> None:
    torch.manual_seed(0)
    up = create_upsampler("transpose_bilinear", 3)
    x = torch.randn(2, 3, 6, 7)
    want = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    got = up(x, Skip((12, 14)))
    # equal away from the border (there the transpose conv sees zeros, interpolation the edge)
    torch.testing.assert_close(got[..., 1:-1, 1:-1], want[..., 1:-1, 1:-1])
    # and exactly bilinear interpolation of the zero-padded input, everywhere
    padded = F.interpolate(F.pad(x, (1, 1, 1, 1)), scale_factor=2, mode="bilinear")
    torch.testing.assert_close(got, padded[..., 2:-2, 2:-2])
    assert up.conv.weight[0, 1].abs().sum() == 0  # channels start independent


def test_bilinear_and_resize_conv_keep_cells_aligned() -> None:
    x = torch.tensor([[[[0.0, 4.0]]]])  # one row, two cells
    out = create_upsampler("bilinear", 1)(x, Skip((2, 4)))[0, 0, 0]
    assert out.tolist() == [0.0, 1.0, 3.0, 4.0]  # cell centres at 0.5 and 2.5
    up = create_upsampler("resize_conv", 1)
    with torch.no_grad():
        up.conv.weight.zero_()
        up.conv.weight[0, 0, 1, 1] = 1.0  # identity kernel: resize_conv is then nearest
        up.conv.bias.zero_()
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    near = create_upsampler("nearest", 1)(x, Skip((5, 6)))
    assert torch.equal(up(x, Skip((5, 6))), near)


def test_unpool_conv_unpools_at_the_recorded_maxima_before_its_conv() -> None:
    pooled, skip = _pooled(X[None, None])
    up = create_upsampler("unpool_conv", 1)
    with torch.no_grad():
        up.conv.weight.zero_()
        up.conv.weight[0, 0, 1, 1] = 2.0
        up.conv.bias.fill_(1.0)
    want = 2 * torch.tensor(EXPECTED["max_unpool"], dtype=torch.float32) + 1
    assert torch.equal(up(pooled, skip)[0, 0], want)


def test_carafe_with_uniform_kernels_averages_the_neighbourhood() -> None:
    # zero encoder weights give uniform softmax kernels: each output pixel is then the mean of
    # the k_up x k_up neighbourhood of its source cell (zeros past the border)
    up = create_upsampler("carafe", 2, k_up=3)
    with torch.no_grad():
        up.encode.weight.zero_()
        up.encode.bias.zero_()
    x = torch.randn(1, 2, 4, 5)
    mean = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=True)  # (1, 2, 4, 5)
    want = F.interpolate(mean, scale_factor=2, mode="nearest")
    torch.testing.assert_close(up(x, Skip((8, 10))), want)
