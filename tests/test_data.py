"""The VOC-layout reader (on the real samples), the synthetic generator, transforms and loaders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segkit.data import synthetic
from segkit.data.datamodule import SegDataModule, pad_collate
from segkit.data.palette import voc_palette
from segkit.data.synthetic import CLASS_NAMES, SyntheticSpec, ensure_synthetic, generate_sample
from segkit.data.transforms import eval_transforms, train_transforms
from segkit.data.voc import VOC_CLASSES, VOCSegmentation, resolve_voc_dir

# ---------------------------------------------------------------- real VOC samples


def test_reader_on_all_real_masks(voc_samples: Path) -> None:
    dataset = VOCSegmentation(voc_samples, "trainval")
    assert len(dataset) == 676
    sizes = set()
    for i in range(len(dataset)):
        image, mask = dataset.load(i)
        assert image.dtype == torch.uint8 and image.shape[0] == 3
        assert mask.dtype == torch.int64 and mask.shape == image.shape[1:]
        values = set(torch.bincount(mask.flatten(), minlength=256).nonzero().flatten().tolist())
        assert values <= set(range(21)) | {255}, (dataset.ids[i], values)
        assert 255 in values  # every VOC mask has a void border
        sizes.add(tuple(mask.shape))
    assert len(sizes) > 100  # original sizes, not resized (137 distinct in the samples)


def test_reader_splits_and_palette_indices(voc_samples: Path) -> None:
    assert len(VOCSegmentation(voc_samples, "train")) == 330
    assert len(VOCSegmentation(voc_samples, "val")) == 346
    # palette indices are class indices: the raw PNG values equal what the reader returns
    dataset = VOCSegmentation(voc_samples, "val")
    raw = np.asarray(Image.open(dataset.mask_path(0)))
    assert np.array_equal(dataset.load(0)[1].numpy(), raw)
    assert (
        Image.open(dataset.mask_path(0)).getpalette()[:63] == voc_palette()[:21].flatten().tolist()
    )


def test_reader_accepts_the_voc2012_folder_itself(voc_samples: Path) -> None:
    assert resolve_voc_dir(voc_samples / "VOCdevkit" / "VOC2012") == resolve_voc_dir(voc_samples)


def test_reader_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=f"no VOC devkit layout under {tmp_path}.*data.root"
    ):
        VOCSegmentation(tmp_path)
    lists = tmp_path / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("")
    with pytest.raises(FileNotFoundError, match="val.txt not found; available splits: train"):
        VOCSegmentation(tmp_path, "val")
    with pytest.raises(ValueError, match="train.txt is empty"):
        VOCSegmentation(tmp_path, "train")


def test_eval_keeps_original_size_and_val_loader_pads_with_void(voc_samples: Path) -> None:
    dm = SegDataModule(str(voc_samples), val_batch_size=2, num_workers=0)
    dm.setup("validate")
    image0, mask0 = dm.val_set[0]
    raw = Image.open(dm.val_set.image_path(0))
    assert image0.shape[-2:] == (raw.height, raw.width) == mask0.shape
    images, masks, sizes = next(iter(dm.val_dataloader()))
    h1, w1 = dm.val_set[1][1].shape
    assert images.shape[-2:] == (max(raw.height, h1), max(raw.width, w1))
    assert sizes.tolist() == [[raw.height, raw.width], [h1, w1]]  # each image's own size
    assert (masks[0, raw.height :, :] == 255).all() and (masks[0, :, raw.width :] == 255).all()
    assert dm.class_names == VOC_CLASSES


# ---------------------------------------------------------------- transforms


def test_train_transform_crops_pads_with_void_and_keeps_labels() -> None:
    from torchvision import tv_tensors

    image = tv_tensors.Image(torch.randint(0, 256, (3, 20, 30), dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.randint(0, 5, (20, 30)))
    tf = train_transforms(crop_size=40, base_size=20, scale_range=(0.5, 1.5), hflip=0.5)
    for _ in range(5):
        out_image, out_mask = tf(image, mask)
        assert out_image.shape == (3, 40, 40) and out_image.dtype == torch.float32
        assert out_mask.shape == (40, 40) and out_mask.dtype == torch.int64
        assert set(out_mask.unique().tolist()) <= {0, 1, 2, 3, 4, 255}  # nearest, never blended
        assert (out_mask == 255).any()  # the 20-30 px image needed padding up to 40


def test_eval_transform_normalises_only() -> None:
    from torchvision import tv_tensors

    image = tv_tensors.Image(torch.full((3, 5, 7), 255, dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.zeros(5, 7, dtype=torch.long))
    out, out_mask = eval_transforms(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(image, mask)
    assert torch.allclose(out, torch.ones(3, 5, 7)) and torch.equal(out_mask, mask)


def test_val_size_resizes_the_image_only_and_scores_at_the_original_size() -> None:
    from torchvision import tv_tensors

    from segkit.training.task import SegTask

    image = tv_tensors.Image(torch.randint(0, 256, (3, 60, 90), dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.randint(0, 3, (60, 90)))
    out_image, out_mask = eval_transforms(size=30)(image, mask)
    assert out_image.shape == (3, 30, 45)  # shorter side 30, aspect kept
    assert out_mask.shape == (60, 90) and torch.equal(out_mask, mask)  # the mask is untouched
    # the task upsamples the logits back and scores every original pixel
    task = SegTask(3, model={"encoder": {"name": "vgg", "widths": [4, 8]}})
    out = task.validation_step((out_image[None], out_mask[None]), 0)
    assert out["preds"].shape == (1, 60, 90)
    assert int(task.val_metrics.confmat.sum()) == 60 * 90
    with pytest.raises(ValueError, match="data.val_size needs data.val_batch_size=1"):
        SegDataModule(".", val_size=256, val_batch_size=4)
    with pytest.raises(ValueError, match="data.val_size must be >= 1"):
        eval_transforms(size=0)


def test_pad_collate() -> None:
    batch = [
        (torch.ones(3, 2, 3), torch.zeros(2, 3, dtype=torch.long)),
        (torch.ones(3, 4, 1), torch.ones(4, 1, dtype=torch.long)),
    ]
    images, masks, sizes = pad_collate(batch)
    assert images.shape == (2, 3, 4, 3) and masks.shape == (2, 4, 3)
    assert sizes.tolist() == [[2, 3], [4, 1]]
    assert (
        masks[0, 2:].eq(255).all()
        and masks[1, :, 1:].eq(255).all()
        and images[1, :, :, 1:].eq(0).all()
    )


# ---------------------------------------------------------------- synthetic set


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def test_synthetic_is_deterministic_and_complete(tmp_path: Path) -> None:
    spec = SyntheticSpec(num_train=40, num_val=10, image_size=64, min_radius=8, max_radius=16)
    a, b = ensure_synthetic(tmp_path / "a", spec), ensure_synthetic(tmp_path / "b", spec)
    assert _digest(a) == _digest(b)
    other = ensure_synthetic(tmp_path / "c", SyntheticSpec(**{**spec.__dict__, "seed": 1}))
    assert _digest(a) != _digest(other)
    train = VOCSegmentation(a, "train")
    assert len(train) == 40 and len(VOCSegmentation(a, "val")) == 10
    assert len(VOCSegmentation(a, "trainval")) == 50
    seen = set()
    for i in range(len(train)):
        image, mask = train.load(i)
        assert image.shape == (3, 64, 64)
        seen |= set(mask.unique().tolist())
    assert seen == set(range(21)) | {255}  # all 21 classes, and void
    with Image.open(train.mask_path(0)) as m, Image.open(train.image_path(0)) as im:
        assert m.mode == "P" and m.getpalette()[:63] == voc_palette()[:21].flatten().tolist()
        assert im.format == "JPEG"
    assert len(CLASS_NAMES) == 21 and CLASS_NAMES[0] == "background"


def test_synthetic_void_band_straddles_every_outline() -> None:
    spec = SyntheticSpec(image_size=96)
    for i in range(20):
        _, label = generate_sample(spec, np.random.default_rng(i))
        valid = label != 255
        # no two neighbouring labelled pixels belong to different classes: void lies between them
        for a, b in ((label[1:], label[:-1]), (label[:, 1:], label[:, :-1])):
            va = valid[1:] if a.shape[0] < label.shape[0] else valid[:, 1:]
            vb = valid[:-1] if a.shape[0] < label.shape[0] else valid[:, :-1]
            assert not ((a != b) & va & vb).any()
        void = ~valid
        assert 0.02 < void.mean() < 0.25


def test_void_band_is_two_pixels_across_a_straight_outline() -> None:
    label = np.zeros((10, 10), dtype=np.uint8)
    label[3:8, 3:8] = 4  # a 5x5 square
    band = synthetic._void_band(label)
    assert band[5].tolist() == [0, 0, 1, 1, 0, 0, 0, 1, 1, 0]  # one pixel each side of each edge
    assert band[0].sum() == 0 and not band[5, 5]  # far outside and the interior stay labelled


def test_synthetic_objects_are_not_colour_separable() -> None:
    # The five shapes of a family share one hue range: colour tells the family, never the class.
    spec = SyntheticSpec()
    angles: dict[str, list[complex]] = {}
    for i in range(60):
        image, label = generate_sample(spec, np.random.default_rng(i))
        hue = np.asarray(image.convert("HSV"), dtype=np.float64)[..., 0] * (2 * np.pi / 256)
        for cls in np.unique(label):
            if 0 < cls < 21 and (label == cls).sum() > 30:
                angles.setdefault(CLASS_NAMES[cls], []).append(
                    np.exp(1j * hue[label == cls]).mean()
                )
    for family in synthetic.FAMILIES:
        means = [
            np.mean(angles[f"{family}_{s}"]) for s in synthetic.SHAPES if f"{family}_{s}" in angles
        ]
        assert len(means) >= 4
        spread = max(abs(np.degrees(np.angle(a / b))) for a in means for b in means)
        assert spread < 10, (family, spread)  # degrees of hue between the family's shapes


def test_synthetic_interrupted_run_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = synthetic.generate_sample

    def failing(spec, rng):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(spec, rng)

    monkeypatch.setattr(synthetic, "generate_sample", failing)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic(
            tmp_path / "syn",
            SyntheticSpec(num_train=8, num_val=2, image_size=32, min_radius=4, max_radius=8),
        )
    assert list(tmp_path.iterdir()) == []  # neither the root nor a temporary folder


def test_synthetic_reuses_and_refuses(tmp_path: Path) -> None:
    spec = SyntheticSpec(num_train=2, num_val=1, image_size=32, min_radius=4, max_radius=8)
    root = ensure_synthetic(tmp_path / "syn", spec)
    stamp = (root / synthetic.MARKER).stat().st_mtime_ns
    ensure_synthetic(root, spec)  # finished copy: reused, not rewritten
    assert (root / synthetic.MARKER).stat().st_mtime_ns == stamp
    # other parameters (or an older generator): regenerated in place, nothing else left behind
    other = SyntheticSpec(num_train=3, num_val=1, image_size=32, min_radius=4, max_radius=8)
    ensure_synthetic(root, other)
    assert synthetic.is_complete(root, other) and len(VOCSegmentation(root, "train")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]
    # a folder segkit did not write is never replaced
    foreign = tmp_path / "mine"
    foreign.mkdir()
    with pytest.raises(FileExistsError, match=f"{foreign} exists but is not a synthetic.*rm -r"):
        ensure_synthetic(foreign, spec)


@pytest.mark.parametrize(
    ("key", "value"), [("num_train", 0), ("max_objects", 1), ("min_radius", 1.0)]
)
def test_synthetic_spec_validation_names_the_key(key: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"data.synthetic.{key}"):
        SyntheticSpec(**{key: value})
