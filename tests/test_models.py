"""The network: exact output sizes, index wiring, fusion options, clear build errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segkit.models import UPSAMPLERS, build_model
from segkit.models.blocks import Skip

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
    assert all((s.indices is not None) == (upsampler == "max_unpool") for s in skips)
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

    def __init__(self, return_indices: bool = False, return_features: bool = False) -> None:
        super().__init__()
        self.stage_channels = [3]

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
