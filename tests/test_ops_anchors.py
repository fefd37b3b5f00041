"""Anchors against torchvision's AnchorGenerator (one feature level) and the plain loops."""
import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

from lecturelib import ops
from lecturelib.ops.reference import make_anchors_reference


def torchvision_anchors(feature_size, image_size, sizes, ratios):
    generator = AnchorGenerator((tuple(sizes),), (tuple(ratios),))
    images = ImageList(torch.zeros(1, 3, *image_size), [image_size])
    return generator(images, [torch.zeros(1, 8, *feature_size)])[0]


@pytest.mark.parametrize("feature_size, image_size, sizes, ratios", [
    ((32, 32), (128, 128), (16, 32, 64), (0.5, 1.0, 2.0)),
    ((5, 7), (80, 56), (32,), (0.5, 1.0, 2.0)),        # stride (16, 8): not square
    ((3, 4), (48, 64), (33, 45, 7), (0.25, 1.0, 3.0)),  # odd sizes: halves round to even
    ((1, 1), (16, 16), (128, 256, 512), (0.5, 1.0, 2.0)),
    ((4, 6), (64, 96), (20.5,), (0.7, 1.3)),
])
def test_make_anchors_equals_torchvision_anchor_generator(feature_size, image_size, sizes, ratios):
    stride = (image_size[0] // feature_size[0], image_size[1] // feature_size[1])
    expected = torchvision_anchors(feature_size, image_size, sizes, ratios)
    ours = ops.make_anchors(feature_size, stride, sizes, ratios)
    assert ours.shape == (feature_size[0] * feature_size[1] * len(sizes) * len(ratios), 4)
    assert torch.equal(ours, expected)
    assert torch.equal(make_anchors_reference(feature_size, stride, sizes, ratios), expected)


def test_anchor_shapes_order_and_rounding():
    # ARCHITECTURE.md's hand case: size 32, ratios 0.5, 1, 2 -> three boxes of about 32² pixels
    cell = ops.make_anchors(1, 16, [32], [0.5, 1.0, 2.0])
    assert cell.tolist() == [[-23, -11, 23, 11], [-16, -16, 16, 16], [-11, -23, 11, 23]]
    w, h = cell[:, 2] - cell[:, 0], cell[:, 3] - cell[:, 1]
    assert torch.allclose(h / w, torch.tensor([0.5, 1.0, 2.0]), rtol=0.05)   # ratio is h / w
    # ratio-major, then size; cells row-major
    a = ops.make_anchors((2, 3), 10, [8, 16], [1.0, 4.0])
    assert a.shape == (2 * 3 * 4, 4)
    centres = (a[:, :2] + a[:, 2:]) / 2
    assert centres[4].tolist() == [10.0, 0.0] and centres[12].tolist() == [0.0, 10.0]
    assert (a[1, 2] - a[1, 0]).item() == 16 and (a[2, 3] - a[2, 1]).item() == 16   # size 8, r 4
    assert ops.make_anchors(1, 1, [33], [1.0]).tolist() == [[-16, -16, 16, 16]]    # 16.5 -> 16
    # centred=True moves every anchor by half a stride
    shifted = ops.make_anchors((2, 3), (10, 20), [8], [1.0], centred=True)
    plain = ops.make_anchors((2, 3), (10, 20), [8], [1.0])
    assert torch.equal(shifted - plain, torch.tensor([10.0, 5.0, 10.0, 5.0]).expand(6, 4))
    assert torch.equal(make_anchors_reference((2, 3), (10, 20), [8], [1.0], centred=True), shifted)


@pytest.mark.parametrize("kwargs, name", [
    (dict(feature_size=(0, 4)), "feature_size"), (dict(feature_size=(2, 2.5)), "feature_size"),
    (dict(stride=0), "stride"), (dict(stride=(4, -1)), "stride"), (dict(stride=4.0), "stride"),
    (dict(sizes=[]), "sizes"), (dict(sizes=[32, 0]), "sizes"),
    (dict(sizes=[float("nan")]), "sizes"), (dict(aspect_ratios=[]), "aspect_ratios"),
    (dict(aspect_ratios=[-1.0]), "aspect_ratios"), (dict(aspect_ratios=[float("inf")]),
                                                    "aspect_ratios"),
    (dict(aspect_ratios="wide"), "aspect_ratios"),
])
def test_make_anchors_rejects_bad_arguments(kwargs, name):
    args = dict(feature_size=(2, 2), stride=4, sizes=[16], aspect_ratios=[1.0], **{})
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        ops.make_anchors(**args)
