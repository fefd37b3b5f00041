"""nms / batched_nms against torchvision on every path."""
import numpy as np
import pytest
import torch
import torchvision

from lecturelib import ops

from full_size import on_device, size  # tests/full_size.py: the GPU check's switch

BACKENDS = ["reference", "cpu", "triton"]


def detections(n, seed, clusters=5, image=200.0):
    """Detector-like output: boxes jittered around a few objects, random scores."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(clusters, 2, generator=g) * image
    sizes = torch.rand(clusters, 2, generator=g) * 60 + 10
    k = torch.randint(0, clusters, (n,), generator=g)
    c = centres[k] + torch.randn(n, 2, generator=g) * 6
    s = sizes[k] * (1 + 0.2 * torch.randn(n, 2, generator=g)).clamp(min=0.3)
    boxes = torch.cat([c - s / 2, c + s / 2], dim=1)
    return boxes, torch.rand(n, generator=g)


def without_ties(scores):
    """The same order with every score distinct (a tie goes to the lower index). Thousands of
    float32 random scores tie now and then, and torchvision orders equal scores as its sort
    happens to (differently on CPU and CUDA, and between its batched_nms strategies); ties have
    their own test."""
    rank = torch.empty(len(scores), dtype=torch.long, device=scores.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    rank[order] = torch.arange(len(scores), device=scores.device)   # 0: the highest score
    return (len(scores) - rank).to(scores.dtype) / (len(scores) + 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_random_equals_torchvision(backend, seed, threshold):
    n, clusters, image = size(backend, (120, 5, 200.0), (6000, 150, 1500.0))
    boxes, scores = detections(n, seed, clusters, image)
    boxes, scores = on_device(backend, boxes, without_ties(scores))
    keep = ops.nms(boxes, scores, threshold, backend=backend)
    assert keep.dtype == torch.int64
    assert torch.equal(keep, torchvision.ops.nms(boxes, scores, threshold))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nms_ties_keep_the_lower_index_first(backend):
    boxes = torch.tensor([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10], [1, 1, 11, 11.]])
    boxes, scores = on_device(backend, boxes, torch.full((4,), 0.5))
    keep = ops.nms(boxes, scores, 0.5, backend=backend)
    # against torchvision on the CPU: its CUDA sort need not keep tied scores in index order
    assert keep.tolist() == [0, 1] == torchvision.ops.nms(boxes.cpu(), scores.cpu(), 0.5).tolist()
    n = size(backend, 100, 3000)
    many, tied = on_device(backend, detections(n, 11)[0], torch.full((n,), 0.25))
    assert torch.equal(ops.nms(many, tied, 0.5, backend=backend).cpu(),
                       torchvision.ops.nms(many.cpu(), tied.cpu(), 0.5))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nms_threshold_is_strict(backend):
    # IoU exactly 0.5: kept at threshold 0.5 ("equal is kept"), suppressed just below.
    boxes, scores = on_device(backend, torch.tensor([[0, 0, 10, 10], [0, 0, 10, 5.]]),
                              torch.tensor([0.9, 0.8]))
    assert ops.nms(boxes, scores, 0.5, backend=backend).tolist() == [0, 1]
    assert ops.nms(boxes, scores, 0.49, backend=backend).tolist() == [0]
    # IoU 1/3 is 0.33333334 in float32, just above the double 1/3: torchvision suppresses.
    third = on_device(backend, torch.tensor([[0, 0, 2, 1], [1, 0, 3, 1.]]))
    for thr in (1 / 3, 0.3333333, 0.33333334):
        assert torch.equal(ops.nms(third, scores, thr, backend=backend),
                           torchvision.ops.nms(third, scores, thr)), thr


@pytest.mark.parametrize("backend", BACKENDS)
def test_nms_edge_sizes(backend):
    empty = ops.nms(*on_device(backend, torch.zeros(0, 4), torch.zeros(0)), 0.5, backend=backend)
    assert empty.dtype == torch.int64 and empty.numel() == 0
    assert ops.nms(*on_device(backend, torch.tensor([[1, 2, 3, 4.]]), torch.tensor([0.1])), 0.5,
                   backend=backend).tolist() == [0]
    same, scores = on_device(backend, torch.tensor([[1, 1, 5, 5.]]).repeat(7, 1), torch.arange(7.0))
    assert ops.nms(same, scores, 0.99, backend=backend).tolist() == [6]
    assert ops.nms(same, scores, 1.0, backend=backend).tolist() == [6, 5, 4, 3, 2, 1, 0]
    boxes, scores = on_device(backend, *detections(60, 3))
    assert ops.nms(boxes, scores, 0.0, backend=backend).tolist() == \
        torchvision.ops.nms(boxes, scores, 0.0).tolist()
    # zero-area boxes never overlap anything (IoU 0): all kept, as in torchvision
    points = on_device(backend, torch.tensor([[3, 3, 3, 3.]]).repeat(4, 1))
    assert torch.equal(ops.nms(points, scores[:4], 0.5, backend=backend),
                       torchvision.ops.nms(points, scores[:4], 0.5))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_nms_dtypes(backend, dtype):
    """float64 as torchvision; float16/bfloat16 (which torchvision's CPU NMS refuses) are computed
    in float32: the same answer as torchvision on the upcast boxes."""
    boxes, scores = detections(80, 4)
    boxes, scores = on_device(backend, boxes.to(dtype), scores.to(dtype))
    expected = torchvision.ops.nms(boxes.float() if dtype != torch.float64 else boxes,
                                   scores.float() if dtype != torch.float64 else scores, 0.5)
    assert torch.equal(ops.nms(boxes, scores, 0.5, backend=backend), expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(4))
def test_batched_nms_is_per_class_nms(backend, seed):
    n, classes = size(backend, (150, 4), (6000, 20))
    boxes, scores = detections(n, 20 + seed, clusters=size(backend, 5, 150),
                               image=size(backend, 200.0, 1500.0))
    scores = without_ties(scores)
    idxs = torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))
    boxes, scores, idxs = on_device(backend, boxes, scores, idxs)
    keep = ops.batched_nms(boxes, scores, idxs, 0.5, backend=backend)
    # independent reference: torchvision's NMS on each class alone, merged by score
    parts = [torch.nonzero(idxs == c)[:, 0] for c in idxs.unique()]
    merged = torch.cat([p[torchvision.ops.nms(boxes[p], scores[p], 0.5)] for p in parts])
    merged = merged[torch.sort(scores[merged], descending=True, stable=True).indices]
    assert torch.equal(keep, merged)
    assert torch.equal(keep, torchvision.ops.batched_nms(boxes, scores, idxs, 0.5))


def test_cpu_path_large_equals_torchvision():
    boxes, scores = detections(3000, 99, clusters=40, image=800)
    assert torch.equal(ops.nms(boxes, scores, 0.5), torchvision.ops.nms(boxes, scores, 0.5))
    idxs = torch.from_numpy(np.random.default_rng(0).integers(0, 10, 3000))
    assert torch.equal(ops.batched_nms(boxes, scores, idxs, 0.6),
                       torchvision.ops.batched_nms(boxes, scores, idxs, 0.6))
