"""Encoders: registry, torchvision layouts, exact output sizes, and offline pretrained weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from segkit.models import ENCODERS, UPSAMPLERS, build_model, create_encoder
from segkit.models.encoders import VGG16BNEncoder
from segkit.models.weights import torchvision_weights_path

NO_INDICES = [name for name, cls in UPSAMPLERS.items() if not cls.needs_indices]


def _combos() -> list[tuple[str, str, str]]:
    """Every encoder x every upsampler it supports x every fusion."""
    return [
        (enc, up, fusion)
        for enc, cls in ENCODERS.items()
        for up, up_cls in UPSAMPLERS.items()
        if cls.has_max_pooling or not up_cls.needs_indices
        for fusion in ("none", "add", "concat")
    ]


@pytest.fixture(scope="module")
def tv_vgg16_bn() -> torch.nn.Module:
    """torchvision's vgg16_bn, randomly initialised, with non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    net = torchvision.models.vgg16_bn(weights=None).eval()
    for m in net.features.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # defaults (0, 1, 1, 0) would hide a mix-up
            for t in (m.weight, m.bias, m.running_mean):
                t.data.normal_(0, 0.5)
            m.running_var.data.uniform_(0.5, 2.0)
    return net


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache; returns its checkpoints folder (not created)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert Path(torch.hub.get_dir()) == tmp_path / "hub", "torch.hub.set_dir was called elsewhere"
    return tmp_path / "hub" / "checkpoints"


def test_registry_names_and_unknown_name() -> None:
    assert {"vgg", "vgg16_bn", "resnet18", "resnet50"} <= set(ENCODERS)
    with pytest.raises(
        ValueError, match="unknown encoder 'vgg19'.*vgg, vgg16_bn, resnet18, resnet50"
    ):
        create_encoder("vgg19")


def test_options_of_another_encoder_are_named() -> None:
    # e.g. model.encoder.name=resnet18 on top of the vgg node, whose widths remain
    with pytest.raises(ValueError, match="'resnet18' takes no option convs_per_stage, widths"):
        build_model(3, encoder={"name": "resnet18", "widths": [8], "convs_per_stage": 1})


@pytest.mark.parametrize(("encoder", "upsampler", "fusion"), _combos())
def test_logits_have_the_input_size(encoder: str, upsampler: str, fusion: str) -> None:
    model = build_model(3, encoder=encoder, upsampler=upsampler, fusion=fusion)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 75, 50)).shape == (1, 3, 75, 50)  # odd, as VOC's 500x375


@pytest.mark.parametrize("upsampler", NO_INDICES)
def test_resnet_restores_odd_sizes(upsampler: str) -> None:
    model = build_model(2, encoder="resnet18", upsampler=upsampler, fusion="concat").eval()
    with torch.no_grad():
        for h, w in [(37, 29), (33, 65), (9, 17)]:  # every level rounds up somewhere
            assert model(torch.randn(1, 3, h, w)).shape == (1, 2, h, w)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_skips_cover_every_downsampling(name: str) -> None:
    enc = create_encoder(name, return_features=True)
    deep, skips = enc(torch.randn(2, 3, 75, 50))
    assert [s.size for s in skips] == [(75, 50), (38, 25), (19, 13), (10, 7), (5, 4)]
    assert deep.shape == (2, enc.out_channels, 3, 2)
    assert skips[0].feature is None and enc.skip_channels[0] == 0  # the input level is not fused
    for skip, channels in zip(skips[1:], enc.skip_channels[1:], strict=True):
        assert skip.feature is not None and skip.feature.shape[1:] == (channels, *skip.size)
    assert all(s.indices is None for s in skips)
    _, bare = create_encoder(name)(torch.randn(2, 3, 64, 64))
    assert all(s.feature is None for s in bare)


def test_resnet_add_fusion_projects_and_learns() -> None:
    model = build_model(3, encoder="resnet18", upsampler="nearest", fusion="add")
    deepest = model.decoder.blocks[0]  # layer4 (512) upsampled and added to layer3 (256)
    assert deepest.project.weight.shape == (512, 256, 1, 1)
    assert all(isinstance(b.project, torch.nn.Identity) for b in model.decoder.blocks[1:])
    model(torch.randn(2, 3, 64, 64)).square().mean().backward()
    assert deepest.project.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_max_unpool_with_resnet_fails_at_build_time(name: str) -> None:
    # Checked on the class before anything is built, so even missing weights are not looked at.
    spec = {"name": name, "weights": "no/such/file.pth"}
    with pytest.raises(ValueError, match=f"needs max-pooling indices but encoder '{name}'") as err:
        build_model(3, encoder=spec, upsampler="max_unpool")
    message = str(err.value)
    assert "\n" not in message and "no max pooling" in message and "nearest" in message


def test_vgg16_bn_key_map_covers_every_conv_and_norm(tv_vgg16_bn: torch.nn.Module) -> None:
    mapping = VGG16BNEncoder.torchvision_key_map()
    layers = [f"features.{i}" for i, m in enumerate(tv_vgg16_bn.features) if list(m.parameters())]
    assert sorted(mapping) == sorted(layers) and len(mapping) == 2 * 13  # 13 convs, 13 norms
    ours = VGG16BNEncoder()
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in tv_vgg16_bn.features.parameters()
    )


def test_vgg16_bn_matches_torchvision_features(tv_vgg16_bn: torch.nn.Module) -> None:
    ours = VGG16BNEncoder().eval()
    ours.load_state_dict(VGG16BNEncoder.convert_torchvision_state_dict(tv_vgg16_bn.state_dict()))
    # the features module's own keys (0.weight, ...) map the same way
    only_features = VGG16BNEncoder.convert_torchvision_state_dict(tv_vgg16_bn.features.state_dict())
    assert only_features.keys() == ours.state_dict().keys()
    with torch.no_grad():
        for h, w in [(64, 64), (75, 50)]:
            x = torch.randn(1, 3, h, w)
            torch.testing.assert_close(ours(x)[0], tv_vgg16_bn.features(x))


def test_weights_none_is_random_init() -> None:
    enc = create_encoder("resnet18", weights=None)
    assert enc.conv1.weight.std() > 0


def test_weights_from_a_local_torchvision_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    tv = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(tv.state_dict(), path)
    model = build_model(3, encoder={"name": "resnet18", "weights": str(path)}).eval()
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        expected = tv.layer4(
            tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x)))))))
        )
        torch.testing.assert_close(model.encoder(x)[0], expected)


def test_weights_from_a_segkit_model_file(tmp_path: Path) -> None:
    spec = {"name": "vgg", "widths": [4, 8, 16], "convs_per_stage": 1}
    trained = build_model(3, encoder=spec, fusion="concat")
    path = tmp_path / "model.pt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in trained.state_dict().items()}}, path)
    loaded = build_model(3, encoder={**spec, "weights": str(path)}, fusion="concat")
    for key, value in trained.encoder.state_dict().items():
        assert torch.equal(loaded.encoder.state_dict()[key], value), key


@pytest.mark.parametrize(
    ("encoder", "name"),
    [("vgg16_bn", "VGG16_BN_Weights.IMAGENET1K_V1"), ("resnet18", "IMAGENET1K_V1")],
)
def test_weights_name_reads_the_hub_cache(
    encoder: str, name: str, torch_home: Path, tv_vgg16_bn: torch.nn.Module
) -> None:
    tv = tv_vgg16_bn if encoder == "vgg16_bn" else torchvision.models.resnet18(weights=None)
    state = tv.state_dict()
    if encoder == "vgg16_bn":  # the classifier is 120M parameters: keep one tensor of it
        state = {k: v for k, v in state.items() if k.startswith("features.")}
        state["classifier.6.bias"] = tv.classifier[6].bias
    # torchvision's ImageNet files predate BatchNorm's num_batches_tracked
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    _, path = torchvision_weights_path(encoder, name)
    assert path.parent == torch_home
    torch_home.mkdir(parents=True)
    torch.save(state, path)
    enc = create_encoder(encoder, weights=name)
    convert = type(enc).convert_torchvision_state_dict
    for key, value in convert(state).items():
        assert torch.equal(enc.state_dict()[key], value), key


def test_missing_cache_names_the_path_and_the_fix(torch_home: Path) -> None:
    spec = {"name": "resnet50", "weights": "ResNet50_Weights.IMAGENET1K_V2"}
    with pytest.raises(FileNotFoundError) as err:
        build_model(3, encoder=spec)
    message = str(err.value)
    assert str(torch_home / "resnet50-11ad3fa6.pth") in message
    assert "internet" in message and "local state-dict file" in message and "\n" not in message


@pytest.mark.parametrize(
    ("encoder", "weights", "error", "message"),
    [
        ("resnet50", "ResNet18_Weights.IMAGENET1K_V1", ValueError, "not for resnet50"),
        ("resnet18", "IMAGENET9K", ValueError, "unknown weights 'IMAGENET9K'.*IMAGENET1K_V1"),
        ("vgg", "IMAGENET1K_V1", ValueError, "'vgg' has no torchvision counterpart"),
        ("resnet18", "no/such/file.pth", FileNotFoundError, "no/such/file.pth.*does not exist"),
    ],
)
def test_bad_weights_say_why(encoder: str, weights: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        create_encoder(encoder, weights=weights)


def test_weights_of_another_backbone_do_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "small.pt"
    torch.save(create_encoder("vgg", widths=[4, 8]).state_dict(), path)
    with pytest.raises(ValueError, match="do not fit encoder 'vgg'.*shape"):
        create_encoder("vgg", widths=[4, 16], weights=path)
    with pytest.raises(ValueError, match="do not fit encoder 'vgg16_bn'.*torchvision vgg16_bn"):
        create_encoder("vgg16_bn", weights=path)
