"""The upsampler contract over every registered upsampler, and golden worked examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from segkit.cli import CONFIG_DIR
from segkit.models import UPSAMPLERS, Skip, create_upsampler
from segkit.models.upsamplers import TransposeConv


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


def test_parameter_counts_of_the_four() -> None:
    counts = {
        name: sum(p.numel() for p in create_upsampler(name, 8).parameters()) for name in UPSAMPLERS
    }
    assert counts["nearest"] == counts["bed_of_nails"] == counts["max_unpool"] == 0
    assert counts["transpose"] == 8 * 8 * 4 * 4 + 8  # C x C x k x k weights + C biases
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
X = torch.tensor(
    [[1.0, 5, 2, 0],
     [3, 4, 8, 6],
     [7, 9, 1, 2],
     [0, 6, 3, 4]]
)  # fmt: skip
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
