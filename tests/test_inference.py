"""Inference modes: sliding window and test-time augmentation against whole-image inference."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segkit.inference import InferenceConfig, infer, merge_options, slide
from segkit.models import build_model


def _net(upsampler: str = "nearest", seed: int = 0) -> nn.Module:
    """A small FCN in eval mode whose norm layers have non-trivial statistics (fresh ones make an
    untrained network's eval output nearly constant, which would make every check below trivial)."""
    torch.manual_seed(seed)
    net = build_model(4, encoder={"name": "vgg", "widths": [4, 8, 16]}, upsampler=upsampler)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0.0, 0.2)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
    return net.eval()


@torch.no_grad()
def test_a_window_covering_the_image_is_whole_image_inference() -> None:
    net = _net()
    x = torch.randn(2, 3, 40, 56)
    whole = net(x)
    assert whole.std() > 0.05  # a network whose output depends on its input
    for crop in (56, 64, 100):  # the window covers the image (larger crops are clipped to it)
        assert torch.equal(slide(net, x, crop, stride=17), whole)
        cfg = InferenceConfig(mode="slide", crop=crop, stride=crop)
        assert torch.equal(infer(net, x, cfg), whole)


@torch.no_grad()
def test_sliding_windows_cover_every_pixel_and_average_overlaps() -> None:
    # With a per-pixel network the windows' logits are the same wherever a pixel is seen, so the
    # average of overlapping windows must equal whole-image inference exactly.
    net = nn.Conv2d(3, 5, kernel_size=1)
    x = torch.randn(1, 3, 37, 50)
    out = slide(net, x, crop=16, stride=11)
    torch.testing.assert_close(out, net(x), rtol=0, atol=1e-6)
    counts = slide(lambda t: torch.ones_like(t[:, :1]), x, crop=16, stride=11)
    assert torch.equal(counts, torch.ones(1, 1, 37, 50))  # averaged: every pixel weight 1


def test_sliding_windows_leave_no_gap_for_any_geometry() -> None:
    ones = lambda t: torch.ones_like(t[:, :1])  # noqa: E731 - the average of ones is 1 where covered
    for h in (1, 7, 16, 17, 37, 64):
        for w in (5, 16, 33):
            x = torch.zeros(1, 3, h, w)
            for crop in (1, 4, 16, 40):
                for stride in {1, max(1, crop // 2), crop}:
                    out = slide(ones, x, crop, stride)
                    assert torch.equal(out, torch.ones(1, 1, h, w)), (h, w, crop, stride)
    with pytest.raises(ValueError, match="stride <= crop"):
        slide(ones, torch.zeros(1, 3, 37, 37), crop=16, stride=20)  # would leave rows 16-19 out


def _symmetrise(net: nn.Module) -> nn.Module:
    """Make every convolution kernel left-right symmetric: the network becomes flip-equivariant."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                module.weight.copy_((module.weight + module.weight.flip(-1)) / 2)
    return net


@torch.no_grad()
def test_flip_tta_of_a_flip_equivariant_network_equals_plain_inference() -> None:
    net = _symmetrise(_net("nearest"))
    x = torch.randn(2, 3, 32, 48)  # even widths: the 2x2 pooling windows map onto themselves
    plain = net(x)
    torch.testing.assert_close(net(x.flip(-1)).flip(-1), plain, rtol=0, atol=1e-5)  # equivariant
    tta = infer(net, x, InferenceConfig(flip=True))
    torch.testing.assert_close(tta, plain, rtol=0, atol=1e-5)
    # an ordinary network is not equivariant, and flip TTA then differs from plain inference
    other = _net("nearest")
    assert not torch.allclose(infer(other, x, InferenceConfig(flip=True)), other(x), atol=1e-4)


@torch.no_grad()
def test_multi_scale_tta_returns_logits_at_the_requested_size() -> None:
    net = _net()
    x = torch.randn(1, 3, 33, 47)
    out = infer(net, x, InferenceConfig(scales=(0.5, 1.0, 1.5), flip=True))
    assert out.shape == (1, 4, 33, 47)
    only_one = infer(net, x, InferenceConfig(scales=(1.0,), flip=False))
    assert torch.equal(only_one, net(x))
    # a per-pixel network on a constant image gives the same logits at every scale: TTA = plain
    pixelwise = nn.Conv2d(3, 4, kernel_size=1)
    flat = torch.ones(1, 3, 33, 47) * torch.tensor([0.3, -1.0, 2.0]).view(1, 3, 1, 1)
    tta = infer(pixelwise, flat, InferenceConfig(scales=(0.5, 1.0, 1.5), flip=True))
    torch.testing.assert_close(tta, pixelwise(flat), rtol=0, atol=1e-6)
    resized = infer(net, x, InferenceConfig(), size=(66, 94))  # data.val_size: back to original
    assert resized.shape == (1, 4, 66, 94)


def test_bad_inference_options_name_the_key() -> None:
    with pytest.raises(ValueError, match="inference.mode must be one of whole, slide"):
        InferenceConfig(mode="tiles")
    with pytest.raises(ValueError, match="inference.crop and inference.stride"):
        InferenceConfig(mode="slide", crop=0)
    with pytest.raises(ValueError, match="1 <= stride <= crop"):
        InferenceConfig(mode="slide", crop=16, stride=20)
    with pytest.raises(ValueError, match="inference.scales"):
        InferenceConfig(scales=(1.0, -2.0))
    with pytest.raises(ValueError, match="unknown inference option"):
        InferenceConfig.from_mapping({"mode": "whole", "window": 3})
    assert merge_options({"mode": "slide", "crop": 64}, {"crop": 32, "stride": None}) == {
        "mode": "slide",
        "crop": 32,
    }
