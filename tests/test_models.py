"""The network: exact output sizes, index wiring, fusion options, clear build errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segkit.models import UPSAMPLERS, build_model, create_upsampler
from segkit.models.blocks import Skip
from segkit.models.decoder import DecoderBlock, decoder_widths

SMALL = {"name": "vgg", "widths": [4, 8, 16], "convs_per_stage": 1}


@pytest.mark.parametrize("upsampler", list(UPSAMPLERS))
@pytest.mark.parametrize("fusion", ["none", "add", "concat"])
def test_logits_have_the_input_size(upsampler: str, fusion: str) -> None:
    model = build_model(5, encoder=SMALL, upsampler=upsampler, fusion=fusion)
    for h, w in [(32, 32), (75, 50), (37, 29)]:  # odd sizes, as VOC's 500x375
        assert model(torch.randn(2, 3, h, w)).shape == (2, 5, h, w)


@pytest.mark.parametrize("upsampler", list(UPSAMPLERS))
def test_encoder_records_indices_only_when_needed(upsampler: str) -> None:
    model = build_model(3, encoder=SMALL, upsampler=upsampler, fusion="none")
    _, skips = model.encoder(torch.randn(1, 3, 16, 16))
    assert [s.size for s in skips] == [(16, 16), (8, 8), (4, 4)]
    needs = UPSAMPLERS[upsampler].needs_indices
    assert needs == (upsampler in ("max_unpool", "unpool_conv"))
    assert all((s.indices is not None) == needs for s in skips)
    assert all(s.feature is None for s in skips)


def test_decoder_blocks_are_identical_across_upsamplers() -> None:
    counts = {}
    for name in UPSAMPLERS:
        model = build_model(3, encoder=SMALL, upsampler=name, fusion="concat")
        counts[name] = sum(
            p.numel() for block in model.decoder.blocks for p in block.convs.parameters()
        )
    assert len(set(counts.values())) == 1, counts


def test_upsampler_options_reach_the_module() -> None:
    model = build_model(3, encoder=SMALL, upsampler={"name": "transpose", "kernel_size": 2})
    assert model.decoder.blocks[0].upsample.conv.kernel_size == (2, 2)


def test_too_small_input_says_so() -> None:
    model = build_model(3, encoder=SMALL)  # 3 pooling stages need at least 8 px
    with pytest.raises(ValueError, match="input 4x20 is smaller than 8 px"):
        model(torch.randn(1, 3, 4, 20))
    assert model(torch.randn(1, 3, 8, 9)).shape == (1, 3, 8, 9)


class NoPoolEncoder(nn.Module):
    has_max_pooling = False
    torchvision_arch = None

    @classmethod
    def check_options(cls, options: dict) -> None:
        """No options."""

    @classmethod
    def min_input_size(cls, options: dict) -> int:
        return 2

    def __init__(self, return_indices: bool = False, return_features: bool = False) -> None:
        super().__init__()
        self.skip_channels, self.out_channels = [3], 3

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[Skip]]:
        return x[..., ::2, ::2], [Skip(tuple(x.shape[-2:]))]


def test_max_unpool_needs_an_encoder_with_max_pooling() -> None:
    with pytest.raises(ValueError, match="needs max-pooling indices.*no max pooling"):
        build_model(3, encoder=NoPoolEncoder, upsampler="max_unpool")
    build_model(3, encoder=NoPoolEncoder, upsampler="nearest")  # fine without indices


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"encoder": "resnet999"}, "unknown encoder 'resnet999'.*vgg"),
        ({"fusion": "sum"}, "unknown fusion 'sum'.*concat"),
        ({"upsampler": "bicubic"}, "unknown upsampler 'bicubic'"),
        ({"encoder": {"name": "vgg", "widths": [0, 4]}}, "widths"),
        ({"decoder_convs": 0}, "decoder_convs"),
    ],
)
def test_bad_model_config_names_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(3, **kwargs)


# Generalised decoder: skip channels may differ from x's (ResNet), or be absent.


def test_decoder_widths_mirror_vgg_and_fill_resnet_gaps() -> None:
    # VGG: block s takes C_s (its skip's width) and gives C_{s-1}; block 0 keeps C_0.
    assert decoder_widths([4, 8, 16], 16) == [(4, 4), (8, 4), (16, 8)]
    # ResNet-18: the input level has no feature (0) and takes the next level's width.
    assert decoder_widths([0, 64, 64, 128, 256], 512) == [
        (64, 64),
        (64, 64),
        (64, 64),
        (128, 64),
        (512, 128),
    ]


@pytest.mark.parametrize(
    ("fusion", "conv_in", "projected"),
    [("none", 8, False), ("add", 8, True), ("concat", 12, False)],
)
def test_decoder_block_fuses_unequal_channels(fusion: str, conv_in: int, projected: bool) -> None:
    block = DecoderBlock(8, 4, 6, "nearest", fusion)
    assert block.convs[0][0].in_channels == conv_in
    assert isinstance(block.project, nn.Conv2d) == projected
    skip = Skip((9, 7), None, torch.randn(2, 4, 9, 7))
    assert block(torch.randn(2, 8, 5, 4), skip).shape == (2, 6, 9, 7)  # ceil grid: 5x4 -> 9x7


def test_level_without_feature_is_not_fused() -> None:
    block = DecoderBlock(8, 0, 6, "nearest", "concat")
    assert block.fusion == "none" and block.convs[0][0].in_channels == 8
    assert block(torch.randn(1, 8, 4, 4), Skip((8, 8))).shape == (1, 6, 8, 8)
    with pytest.raises(ValueError, match="needs skip features"):
        DecoderBlock(8, 4, 6, "nearest", "add")(torch.randn(1, 8, 4, 4), Skip((8, 8)))


@pytest.mark.parametrize("name", [n for n, c in UPSAMPLERS.items() if not c.needs_indices])
@pytest.mark.parametrize("size", [(9, 7), (5, 2), (1, 3)])
def test_upsamplers_on_a_ceil_grid_crop_the_half_cell(name: str, size: tuple[int, int]) -> None:
    # A padded stride-2 conv (ResNet) gives ceil(H/2) cells; cell i still maps to rows 2i, 2i+1,
    # so the output is the even-size result for 2*ceil(H/2) cropped at the bottom/right.
    torch.manual_seed(0)
    up = create_upsampler(name, 2)
    x = torch.randn(1, 2, (size[0] + 1) // 2, (size[1] + 1) // 2)
    full = up(x, Skip((2 * x.shape[-2], 2 * x.shape[-1])))
    torch.testing.assert_close(up(x, Skip(size)), full[..., : size[0], : size[1]])


def test_upsampler_refuses_a_size_that_is_not_twice() -> None:
    with pytest.raises(ValueError, match=r"cannot upsample \(3, 3\) by 2 to \(9, 9\)"):
        create_upsampler("nearest", 1)(torch.zeros(1, 1, 3, 3), Skip((9, 9)))
