"""The lesson-03 explorers' drawing functions, without a Jupyter kernel: set values, check what
they computed and what they drew; and that the sliders redraw quickly enough."""

import matplotlib
import matplotlib.patches as mpatches
import numpy as np
import pytest

from lecturelib.data import SyntheticShapes, load_photo
from lecturelib.selective_search import hierarchical_grouping, selective_search
from lecturelib.widgets.selective_search_explorer import (
    draw_felzenszwalb, draw_grouping, draw_proposals, felzenszwalb_explorer, grouping_explorer,
    mean_colour_image, proposals_explorer, region_borders)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def photo():
    return load_photo("coffee")[::3, ::3].copy()


@pytest.fixture(scope="module")
def scene():
    return SyntheticShapes("test", num_images=4).scene(0)


def rectangles(fig):
    return [p for ax in fig.axes for p in ax.patches if isinstance(p, mpatches.Rectangle)]


def test_region_painting_helpers():
    image = np.zeros((2, 3, 3), np.uint8)
    image[:, :2] = 10
    image[0, 0] = 40
    labels = np.array([[0, 0, 1], [0, 0, 1]])
    painted = mean_colour_image(image, labels)
    assert (painted[:, :2] == 18).all() and (painted[:, 2] == 0).all()   # (40 + 3·10) / 4
    assert region_borders(labels).tolist() == [[False, True, False], [False, True, False]]


def test_draw_felzenszwalb_counts_regions_and_k_coarsens(photo):
    fine = draw_felzenszwalb(photo, k=50, sigma=0.8, min_size=20)
    coarse = draw_felzenszwalb(photo, k=500, sigma=0.8, min_size=20)
    assert coarse["n_regions"] < fine["n_regions"]
    assert fine["n_regions"] == fine["labels"].max() + 1
    assert f"{fine['n_regions']} regions" in fine["figure"]._suptitle.get_text()
    assert len(fine["figure"].axes) == 2 and "regions" in fine["readout"]
    bigger = draw_felzenszwalb(photo, k=50, sigma=0.8, min_size=200)
    assert np.bincount(bigger["labels"].ravel()).min() >= 200


def test_draw_grouping_replays_the_hierarchy(photo):
    h = hierarchical_grouping(photo, "hsv", 100, "CTSF")
    start = draw_grouping(photo, step=0, cache={})
    assert start["merged"] is None and start["n_boxes"] == h.n_initial
    assert "Step 0" in start["readout"]
    r = draw_grouping(photo, step=7, cache={})
    i, j, t = r["merged"]
    assert (i, j) == tuple(h.merges[6]) and t == h.n_initial + 6
    assert r["n_boxes"] == h.n_initial + 7
    assert sum(v for v in r["terms"].values()) == pytest.approx(h.merge_similarities[6])
    assert f"r{i}" in r["readout"] and f"{h.merge_similarities[6]:.3f}" in r["readout"]
    # left: the two parts (dashed) and their union; right: n initial + 7 merged boxes + newest
    assert len(rectangles(r["figure"])) == 3 + h.n_initial + 7
    end = draw_grouping(photo, step=None, cache={})
    assert end["step"] == len(h.merges) and len(np.unique(h.labels_at(end["step"]))) == 1


def test_draw_grouping_toggles_and_colour_space(photo):
    cache = {}
    texture_only = draw_grouping(photo, step=3, colour=False, size=False, fill=False, cache=cache)
    assert texture_only["hierarchy"].similarities == ("texture",)
    assert set(k for k, v in texture_only["terms"].items() if v is not None) >= {"texture"}
    lab = draw_grouping(photo, step=3, colour_space="lab", cache=cache)
    assert lab["hierarchy"].colour_space == "lab"
    assert len(cache) == 2                                     # both kept for the next redraw
    nothing = draw_grouping(photo, step=3, colour=False, texture=False, size=False, fill=False)
    assert nothing["hierarchy"] is None and "at least one" in nothing["readout"]


def test_draw_proposals_top_n_and_recall(scene):
    image, target = scene
    proposals = selective_search(image, "fast")
    few = draw_proposals(image, 5, target["boxes"], proposals=proposals)
    many = draw_proposals(image, len(proposals), target["boxes"], proposals=proposals)
    assert few["top_n"] == 5 and many["top_n"] == len(proposals)
    assert few["recall"] <= many["recall"] == pytest.approx(1.0)
    assert (few["best_iou"] <= many["best_iou"] + 1e-9).all()
    g = len(target["boxes"])
    assert len(rectangles(few["figure"])) == 5 + g + g          # shown, best per object, GT
    assert "recall@0.5" in few["figure"].axes[0].get_title()
    bare = draw_proposals(image, 10_000, proposals=proposals)  # no ground truth: no recall
    assert bare["recall"] is None and bare["top_n"] == len(proposals)


def test_explorers_redraw_from_their_controls(photo, scene):
    f = felzenszwalb_explorer(photo)
    n50 = f.set(k=50)["n_regions"]
    assert f.set(k=800)["n_regions"] < n50
    g = grouping_explorer(photo)
    assert g.controls["step"].max == len(g.result["hierarchy"].merges)
    g.set(colour_space="i")
    assert g.controls["step"].max == len(g.result["hierarchy"].merges)   # range follows
    assert g.set(step=2)["merged"] is not None
    p = proposals_explorer({"scene": (scene[0], scene[1]["boxes"]), "photo": photo}, top_n=20)
    assert p.result["recall"] is not None
    assert p.set(name="photo")["recall"] is None
    paper = p.set(name="scene")["proposals"]
    level = p.set(ranking="level")
    assert "level order" in level["readout"] and "level order" in level["figure"].axes[0].get_title()
    assert {tuple(b) for b in level["proposals"].tolist()} == {tuple(b) for b in paper.tolist()}
    assert np.array_equal(level["proposals"], selective_search(scene[0], "fast", ranking="level"))
    with pytest.raises(ValueError, match="images"):
        proposals_explorer({})
    # issue 20: "top N 715" while showing "370 of 370": the slider ends at the proposals' count
    n_scene, n_photo = len(paper), len(p.set(name="photo")["proposals"])
    assert p.controls["top_n"].max == n_photo
    assert p.set(top_n=n_photo + 100)["top_n"] == p.controls["top_n"].value == n_photo
    assert p.result["readout"].startswith(f"Showing all {n_photo} boxes")
    shown = p.set(name="scene")
    assert p.controls["top_n"].max == n_scene and shown["top_n"] == p.controls["top_n"].value
    assert shown["top_n"] == min(n_photo, n_scene)
    with pytest.raises(ValueError, match="ranking"):
        proposals_explorer({"scene": scene[0]}, ranking="random")


def test_sliders_answer_quickly(photo, redraw_is_live):
    """A move of the replay's step slider (its computing cached); bound in conftest."""
    g = grouping_explorer(photo)
    redraw_is_live("grouping replay", lambda k: g.set(step=1 + k % 8), g.figure.get_size_inches())
