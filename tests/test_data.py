"""Tests for lecturelib.data: bundled photos, synthetic scenes, the Dataset and COCO export."""
import hashlib
import socket
import sys
import time

import numpy as np
import pytest
import torch
import torchvision

from lecturelib.data import (
    CLASSES,
    PHOTO_BOXES,
    PHOTOS,
    SyntheticShapes,
    collate_fn,
    load_photo,
    make_scene,
    mask_to_rle,
    photo_boxes,
    save_coco,
    scene_seed,
    to_coco,
)
from lecturelib.data import photos as photos_module


def digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def val_scenes():
    """The whole default val split as numpy (128 scenes), generated once for several tests."""
    ds = SyntheticShapes("val")
    return [ds.scene(i) for i in range(len(ds))]


# ----------------------------------------------------------------------------- photos
@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("lecturelib.data tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_every_photo_is_uint8_rgb_without_network(no_network):
    pooch_before = "pooch" in sys.modules
    photos_module._load_cached.cache_clear()
    for name in PHOTOS:
        img = load_photo(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        assert min(img.shape[:2]) >= 128, name
        assert img.max() > img.min(), name  # not a blank image
    assert ("pooch" in sys.modules) == pooch_before  # the downloader was never imported


def test_photos_named_in_the_brief_are_there():
    wanted = {"astronaut", "coffee", "chelsea", "rocket", "coins", "hubble_deep_field",
              "camera", "horse", "china", "flower"}
    assert wanted <= set(PHOTOS)


def test_boxed_photos_have_valid_boxes_inside_the_photo():
    assert set(PHOTO_BOXES) <= set(PHOTOS) and len(photo_boxes("coins")) == 24
    for name in PHOTO_BOXES:
        boxes, (h, w) = photo_boxes(name), load_photo(name).shape[:2]
        assert boxes.dtype == np.float32 and boxes.shape == (len(PHOTO_BOXES[name]), 4)
        assert (boxes[:, 2:] > boxes[:, :2]).all() and (boxes[:, :2] >= 0).all()
        assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all(), name
    with pytest.raises(ValueError, match="chelsea"):
        photo_boxes("chelsea")


def test_greyscale_photo_becomes_three_equal_channels():
    cam = load_photo("camera")
    assert np.array_equal(cam[..., 0], cam[..., 1]) and np.array_equal(cam[..., 1], cam[..., 2])


def test_sklearn_photos_match_load_sample_image():
    from sklearn.datasets import load_sample_image

    for name in ("china", "flower"):
        assert np.array_equal(load_photo(name), load_sample_image(name + ".jpg"))


def test_load_photo_returns_a_private_copy():
    a = load_photo("coffee")
    a[:] = 0
    assert load_photo("coffee").any()


def test_unknown_photo_lists_the_valid_names():
    with pytest.raises(ValueError, match="astronaut") as info:
        load_photo("lena")
    assert "chelsea" in str(info.value) and "china" in str(info.value)


# ----------------------------------------------------------------------------- scenes
def test_same_seed_same_bytes_and_different_index_differs():
    a_img, a = make_scene(scene_seed(3, "train", 5))
    b_img, b = make_scene(scene_seed(3, "train", 5))
    assert digest(a_img, a["boxes"], a["labels"], a["masks"]) == digest(
        b_img, b["boxes"], b["labels"], b["masks"]
    )
    c_img, _ = make_scene(scene_seed(3, "train", 6))
    d_img, _ = make_scene(scene_seed(4, "train", 5))
    assert not np.array_equal(a_img, c_img) and not np.array_equal(a_img, d_img)
    # Two separately built datasets agree item by item.
    x, tx = SyntheticShapes("test", seed=1)[7]
    y, ty = SyntheticShapes("test", seed=1)[7]
    assert torch.equal(x, y) and torch.equal(tx["masks"], ty["masks"])


def test_splits_are_disjoint_and_prefix_stable():
    seen = {}
    for split in ("train", "val", "test"):
        ds = SyntheticShapes(split, num_images=128)
        seen[split] = {digest(ds.scene(i)[0]) for i in range(len(ds))}
        assert len(seen[split]) == 128  # no repeats inside a split either
    assert not seen["train"] & seen["val"]
    assert not seen["train"] & seen["test"]
    assert not seen["val"] & seen["test"]
    # A shorter split is a prefix of the longer one.
    short, full = SyntheticShapes("val", num_images=3), SyntheticShapes("val")
    assert torch.equal(short[2][0], full[2][0])


def test_scene_invariants(val_scenes):
    counts = set()
    for image, target in val_scenes:
        boxes, labels, masks = target["boxes"], target["labels"], target["masks"]
        n = len(labels)
        counts.add(n)
        assert 1 <= n <= 6
        assert image.dtype == np.uint8 and image.shape == (128, 128, 3)
        assert boxes.dtype == np.float32 and boxes.shape == (n, 4)
        assert labels.dtype == np.int64 and set(labels.tolist()) <= {1, 2, 3}
        assert masks.dtype == np.uint8 and masks.shape == (n, 128, 128)
        assert set(np.unique(masks).tolist()) <= {0, 1}
        assert masks.sum(0).max() <= 1, "masks overlap: occlusion not removed"
        assert (masks.reshape(n, -1).sum(1) >= 40).all(), "an instance is (almost) invisible"
        for box, mask in zip(boxes, masks):
            ys, xs = np.nonzero(mask)
            # Pixel-edge convention: x2 = last column + 1, y2 = last row + 1.
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert counts == {1, 2, 3, 4, 5, 6}
    labels = np.concatenate([t["labels"] for _, t in val_scenes])
    assert set(labels.tolist()) == {1, 2, 3}


def test_boxes_are_masks_to_boxes_plus_one(val_scenes):
    """torchvision.ops.masks_to_boxes returns the last pixel's index; ours its right edge."""
    for _, target in val_scenes[:32]:
        masks = torch.from_numpy(target["masks"])
        expected = torchvision.ops.masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])
        assert torch.equal(torch.from_numpy(target["boxes"]), expected)


def test_small_and_medium_objects_both_occur(val_scenes):
    areas = np.concatenate([t["masks"].reshape(len(t["labels"]), -1).sum(1) for _, t in val_scenes])
    small, medium = (areas < 32**2).mean(), ((areas >= 32**2) & (areas < 96**2)).mean()
    print(f"\nval: {len(areas)} instances, {small:.0%} small, {medium:.0%} medium")
    assert small > 0.2 and medium > 0.2


def test_occlusion_happens(val_scenes):
    # Some boxes overlap: later shapes do cover parts of earlier ones.
    overlaps = sum(
        int((torchvision.ops.box_iou(torch.from_numpy(t["boxes"]), torch.from_numpy(t["boxes"]))
             .fill_diagonal_(0) > 0).any())
        for _, t in val_scenes
    )
    assert overlaps > len(val_scenes) // 4


def test_objects_stand_out_and_backgrounds_are_not_flat(val_scenes):
    contrasts, textures = [], []
    for image, target in val_scenes:
        image = image.astype(np.float32)
        objects = target["masks"].any(0)
        textures.append(image[~objects].std(0).mean())
        for mask in target["masks"].astype(bool):
            y0, x0, y1, x1 = *np.argwhere(mask).min(0), *np.argwhere(mask).max(0)
            around = np.zeros_like(mask)
            around[max(y0 - 3, 0) : y1 + 4, max(x0 - 3, 0) : x1 + 4] = True
            around &= ~objects
            if around.sum() >= 10:
                contrasts.append(np.linalg.norm(image[mask].mean(0) - image[around].mean(0)))
    assert np.median(contrasts) > 80
    assert np.percentile(textures, 10) > 8  # background pixels vary (photos, gradients, noise)


def test_other_sizes_and_bad_arguments():
    for size in (64, 200):
        image, target = make_scene([0, 0, 1], size=size)
        assert image.shape == (size, size, 3) and target["masks"].shape[1:] == (size, size)
        assert (target["boxes"][:, 2:] <= size).all() and (target["boxes"][:, :2] >= 0).all()
    with pytest.raises(ValueError):
        SyntheticShapes("training")
    with pytest.raises(ValueError):
        scene_seed(0, "dev", 0)
    with pytest.raises(IndexError):
        SyntheticShapes("val", num_images=2)[2]


def test_generation_speed():
    make_scene([0, 0, 0])  # warm the photo cache
    n = 100
    start = time.perf_counter()
    for i in range(n):
        make_scene([0, 0, i])
    ms = (time.perf_counter() - start) / n * 1e3
    print(f"\nmake_scene at 128 px: {ms:.2f} ms per scene")
    assert ms < 100  # generous: a sanity bound, not a benchmark


# ----------------------------------------------------------------------------- Dataset
def test_dataset_item_is_torchvision_shaped():
    ds = SyntheticShapes("train", num_images=8, image_size=96)
    assert len(ds) == 8 and ds.classes == CLASSES == ("background", "circle", "square", "triangle")
    assert len(SyntheticShapes("train")) == 512 and len(SyntheticShapes("test")) == 128
    image, target = ds[5]
    assert image.dtype == torch.float32 and image.shape == (3, 96, 96)
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert target["boxes"].dtype == torch.float32 and target["labels"].dtype == torch.int64
    assert target["masks"].dtype == torch.uint8 and target["image_id"] == 5
    np_image, np_target = ds.scene(5)
    assert torch.equal(image, torch.from_numpy(np_image).permute(2, 0, 1).float() / 255)
    assert np.array_equal(target["masks"].numpy(), np_target["masks"])


def test_collate_fn_with_dataloader():
    ds = SyntheticShapes("val", num_images=6)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_fn)
    images, targets = next(iter(loader))
    assert len(images) == len(targets) == 4
    assert [t["image_id"] for t in targets] == [0, 1, 2, 3]


def test_transforms_are_applied():
    flip = lambda img, tgt: (img.flip(-1), tgt)  # noqa: E731
    plain = SyntheticShapes("val", 2)[1][0]
    flipped = SyntheticShapes("val", 2, transforms=flip)[1][0]
    assert torch.equal(plain.flip(-1), flipped)


# ----------------------------------------------------------------------------- COCO
# pycocotools' decode trips numpy 2's copy-keyword deprecation; that is theirs, not ours.
quiet_pycocotools = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@quiet_pycocotools
def test_mask_to_rle_matches_pycocotools_on_edge_cases():
    mask_utils = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(0)
    cases = [np.zeros((5, 7)), np.ones((5, 7)), rng.random((6, 4)) > 0.5, np.eye(4)]
    cases[0][0, 0] = 1  # starts with a 1: counts must begin with 0
    for mask in cases:
        rle = mask_to_rle(mask.astype(np.uint8))
        assert sum(rle["counts"]) == mask.size and rle["size"] == list(mask.shape)
        decoded = mask_utils.decode(mask_utils.frPyObjects(rle, *mask.shape))
        assert np.array_equal(decoded, mask.astype(np.uint8))


@quiet_pycocotools
def test_coco_export_round_trips_through_pycocotools(tmp_path):
    coco_module = pytest.importorskip("pycocotools.coco")
    ds = SyntheticShapes("val", num_images=24)
    data = to_coco(ds)
    coco = coco_module.COCO()
    coco.dataset = data
    coco.createIndex()
    assert sorted(coco.getCatIds()) == [1, 2, 3]
    assert [c["name"] for c in coco.loadCats([1, 2, 3])] == list(CLASSES[1:])
    assert min(a["id"] for a in data["annotations"]) == 1
    for index in range(len(ds)):
        _, target = ds.scene(index)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[index]))
        assert len(anns) == len(target["labels"])
        for ann, box, label, mask in zip(anns, target["boxes"], target["labels"], target["masks"]):
            assert np.array_equal(coco.annToMask(ann), mask)
            assert ann["area"] == int(mask.sum()) and ann["iscrowd"] == 0
            assert ann["category_id"] == label
            x, y, w, h = ann["bbox"]
            assert [x, y, x + w, y + h] == box.tolist()
    # And through a JSON file.
    path = tmp_path / "val.json"
    save_coco(ds, str(path))
    from_file = coco_module.COCO(str(path))
    assert len(from_file.getAnnIds()) == len(data["annotations"])
