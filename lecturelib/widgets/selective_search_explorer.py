"""Explorers for lesson 03: selective search, from pixels to proposals.

Three drawing functions (plain values in, a dict out; tested without Jupyter), each wrapped in
ipywidgets controls by :class:`~lecturelib.widgets.Explorer`:

- :func:`draw_felzenszwalb` — the initial regions of Felzenszwalb's segmentation for a threshold
  ``k``, a smoothing ``sigma`` and a minimum region size: region borders over the photo, and
  each region painted in its mean colour;
- :func:`draw_grouping` — Algorithm 1 replayed: the regions after ``step`` merges (mean colours),
  the two regions merged at that step outlined, and the box set so far (every region created up
  to now); toggles switch each similarity on or off and a menu picks the colour space;
- :func:`draw_proposals` — the top-N proposals of selective search on an image, each ground-truth
  box with its best proposal (green when IoU ≥ 0.5), and the recall; a menu picks the ranking.

Selective search takes a while on a photo, so the explorers keep what they computed in a
``cache`` dict (one per explorer) and a slider only redraws.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from .. import viz
from ..ops import box_iou
from ..selective_search import (COLOUR_SPACES, Hierarchy, hierarchical_grouping,
                                initial_regions, selective_search, to_colour_space)
from ..selective_search.colour import as_rgb_image
from ..selective_search.similarity import (SIMILARITIES, colour_similarity, fill_similarity,
                                           size_similarity, texture_similarity)
from ..selective_search.strategies import DISPLAY_NAMES, RANKINGS, check_ranking
from ._explorer import Explorer, figure_axes

__all__ = ["draw_felzenszwalb", "felzenszwalb_explorer", "draw_grouping", "grouping_explorer",
           "draw_proposals", "proposals_explorer", "mean_colour_image", "region_borders"]

MERGING = (viz.ORANGE, viz.SKY_BLUE)  # the two regions being merged
MERGED = viz.VERMILLION               # their union's box


# ------------------------------------------------------------------------------------------
# Helpers: paint regions
# ------------------------------------------------------------------------------------------
def mean_colour_image(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``uint8[H, W, 3]``: every pixel painted with the mean colour of its region."""
    flat = labels.reshape(-1)
    ids, inverse = np.unique(flat, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
    out = np.empty((len(ids), 3))
    for c in range(3):
        out[:, c] = np.bincount(inverse, image[..., c].reshape(-1), len(ids)) / counts
    return out[inverse].reshape(image.shape).round().astype(np.uint8)


def region_borders(labels: np.ndarray) -> np.ndarray:
    """``Bool[H, W]``: pixels whose right or lower neighbour is in another region."""
    border = np.zeros(labels.shape, bool)
    border[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    border[:-1, :] |= labels[1:, :] != labels[:-1, :]
    return border


def _overlay(ax, mask, colour, alpha=1.0):
    rgba = np.zeros(mask.shape + (4,))
    rgba[mask] = (*to_rgb(colour), alpha)
    ax.imshow(rgba, interpolation="nearest")


def _two_panels(fig):
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.02, wspace=0.05)
    return fig.subplots(1, 2)


# ------------------------------------------------------------------------------------------
# 1. Felzenszwalb's initial regions
# ------------------------------------------------------------------------------------------
def draw_felzenszwalb(image, k: float = 100, sigma: float = 0.8, min_size: int = 50,
                      colour_space: str = "rgb", fig: Figure | None = None) -> dict:
    """Segment ``image`` (``uint8[H, W, 3]``) and draw the borders and the mean-colour regions.

    Returns ``labels`` (``Int32[H, W]``), ``n_regions``, ``readout`` and ``figure``.
    """
    rgb = as_rgb_image(image)
    labels = initial_regions(to_colour_space(rgb, colour_space), k, sigma, min_size)
    n = int(labels.max()) + 1
    fig, (left, right) = figure_axes(fig, "felzenszwalb", _two_panels, (10, 4.5))
    viz.show_image(rgb, left, "region borders")
    _overlay(left, region_borders(labels), "#FFFF00")
    viz.show_image(mean_colour_image(rgb, labels), right, "each region in its mean colour")
    fig.suptitle(f"Felzenszwalb in {DISPLAY_NAMES[colour_space.lower()]}: k = {k:g}, "
                 f"σ = {sigma:g}, min_size = {min_size}: {n} regions")
    sizes = np.bincount(labels.reshape(-1))
    readout = (f"<b>{n}</b> regions; median size {int(np.median(sizes))} px, largest "
               f"{int(sizes.max())} px ({sizes.max() / labels.size:.0%} of the image). "
               f"Larger k → fewer, larger regions; min_size merges away the crumbs.")
    return {"labels": labels, "n_regions": n, "readout": readout, "figure": fig}


def felzenszwalb_explorer(image, k: float = 100, sigma: float = 0.8,
                          min_size: int = 50) -> Explorer:
    """Sliders for ``k``, ``sigma`` and ``min_size``, and a colour-space menu, over one image."""
    controls = {
        "k": widgets.IntSlider(value=int(k), min=10, max=1000, step=10, description="k",
                               continuous_update=False),
        "sigma": widgets.FloatSlider(value=sigma, min=0.0, max=3.0, step=0.1,
                                     description="σ", continuous_update=False),
        "min_size": widgets.IntSlider(value=int(min_size), min=1, max=500, step=1,
                                      description="min_size", continuous_update=False),
        "colour_space": widgets.Dropdown(options=list(COLOUR_SPACES), value="rgb",
                                         description="colour space"),
    }
    return Explorer(draw_felzenszwalb, controls, fixed={"image": as_rgb_image(image)},
                    figsize=(10, 4.6), title="Felzenszwalb's initial regions")


# ------------------------------------------------------------------------------------------
# 2. Hierarchical grouping, replayed
# ------------------------------------------------------------------------------------------
def _hierarchy(image, colour_space, k, names, cache) -> Hierarchy:
    key = ("hierarchy", colour_space, k, names)
    if cache is None or key not in cache:
        value = hierarchical_grouping(image, colour_space, k, names)
        if cache is None:
            return value
        cache[key] = value
    return cache[key]


def similarity_terms(h: Hierarchy, i: int, j: int) -> dict:
    """The four similarities of regions ``i`` and ``j`` of ``h`` (``None`` for a measure whose
    histograms the strategy did not compute)."""
    size = float(h.image_size)
    return {
        "colour": float(colour_similarity(h.colour[i], h.colour[j])) if h.colour.shape[1] else None,
        "texture": (float(texture_similarity(h.texture[i], h.texture[j]))
                    if h.texture.shape[1] else None),
        "size": float(size_similarity(h.sizes[i], h.sizes[j], size)),
        "fill": float(fill_similarity(h.boxes[i], h.boxes[j], h.sizes[i], h.sizes[j], size)),
    }


def draw_grouping(image, step: int | None = None, colour: bool = True, texture: bool = True,
                  size: bool = True, fill: bool = True, colour_space: str = "hsv",
                  k: float = 100, cache: dict | None = None, fig: Figure | None = None) -> dict:
    """Draw hierarchical grouping after ``step`` merges (all of them when ``None``).

    Left: the regions at that moment in their mean colours, the two regions merged by step
    ``step`` outlined (orange and blue) with their union's box. Right: the box set so far —
    every initial region's box (faint, dashed) and every merged region's box (solid), the newest
    thick. Returns ``hierarchy``, ``step``, ``merged`` (``(i, j, t)`` or ``None``),
    ``terms`` (the similarities of that pair), ``n_boxes``, ``readout`` and ``figure``.
    """
    rgb = as_rgb_image(image)
    names = tuple(n for n, on in zip(SIMILARITIES, (colour, texture, size, fill)) if on)
    fig, (left, right) = figure_axes(fig, "grouping", _two_panels, (10, 4.8))
    if not names:
        for ax in (left, right):
            viz.show_image(rgb, ax)
        fig.suptitle("switch on at least one similarity")
        return {"hierarchy": None, "step": 0, "merged": None, "terms": None, "n_boxes": 0,
                "readout": "Switch on at least one similarity: s(r_i, r_j) would be 0 for "
                           "every pair, and there would be nothing to rank.", "figure": fig}
    h = _hierarchy(rgb, colour_space, k, names, cache)
    n, last = h.n_initial, len(h.merges)
    step = last if step is None else max(0, min(int(step), last))
    labels = h.labels_at(step)
    viz.show_image(mean_colour_image(rgb, labels), left)
    _overlay(left, region_borders(labels), "#FFFFFF", 0.6)
    merged = None
    terms = None
    if step > 0:
        i, j = (int(r) for r in h.merges[step - 1])
        t = n + step - 1
        merged = (i, j, t)
        parts = h.labels_at(step - 1)
        for region, colour_ in zip((i, j), MERGING):
            _overlay(left, parts == region, colour_, 0.55)
        viz.draw_boxes(left, h.boxes[[i, j]], color=list(MERGING), style="dashed", linewidth=1.5)
        viz.draw_boxes(left, h.boxes[[t]], color=MERGED, linewidth=2.5, captions=[f"r{t}"])
        terms = similarity_terms(h, i, j)
    left.set_title(f"regions after {step} of {last} merges ({n - step} left)")

    viz.show_image(rgb, right)
    created = n + step
    viz.draw_boxes(right, h.boxes[:n], color="#FFFFFF", style="dashed", linewidth=0.6,
                   alpha=0.5)
    if step > 0:
        viz.draw_boxes(right, h.boxes[n:created - 1], color=viz.KEPT, linewidth=1.0, alpha=0.8)
        viz.draw_boxes(right, h.boxes[[created - 1]], color=MERGED, linewidth=3)
    right.set_title(f"box set: {created} boxes ({n} initial + {step} merged)")
    fig.suptitle(f"Hierarchical grouping in {DISPLAY_NAMES[h.colour_space]}, k = {k:g}, "
                 f"s = {'+'.join(x[0].upper() for x in names)}")
    readout = _describe_merge(h, step, merged, terms, names)
    return {"hierarchy": h, "step": step, "merged": merged, "terms": terms,
            "n_boxes": created, "readout": readout, "figure": fig}


def _describe_merge(h, step, merged, terms, names) -> str:
    if merged is None:
        return (f"Step 0: {h.n_initial} initial regions and their {h.n_initial} boxes. Each "
                f"step merges the most similar neighbouring pair.")
    i, j, t = merged
    parts = " + ".join(f"{name} {terms[name]:.3f}" for name in names)
    return (f"Step {step}: r{i} ({h.sizes[i]} px) ∪ r{j} ({h.sizes[j]} px) → r{t} "
            f"({h.sizes[t]} px); s = {parts} = <b>{h.merge_similarities[step - 1]:.3f}</b>, "
            f"the highest among the pairs of neighbours at that moment.")


def grouping_explorer(image, colour_space: str = "hsv", k: float = 100,
                      step: int | None = None) -> Explorer:
    """A merge-step slider, one toggle per similarity and a colour-space menu over ``image``."""
    rgb = as_rgb_image(image)
    cache: dict = {}
    first = _hierarchy(rgb, colour_space, k, SIMILARITIES, cache)
    last = len(first.merges)
    controls = {
        "step": widgets.IntSlider(value=last // 2 if step is None else step, min=0, max=last,
                                  description="merge step", continuous_update=True),
        "colour_space": widgets.Dropdown(options=list(COLOUR_SPACES), value=colour_space,
                                         description="colour space"),
        "colour": widgets.ToggleButton(value=True, description="colour"),
        "texture": widgets.ToggleButton(value=True, description="texture"),
        "size": widgets.ToggleButton(value=True, description="size"),
        "fill": widgets.ToggleButton(value=True, description="fill"),
    }

    def keep_step_in_range(ctrls, changed):
        # a new colour space segments differently: the number of merges changes with it
        names = tuple(n for n in SIMILARITIES if ctrls[n].value) or SIMILARITIES
        merges = len(_hierarchy(rgb, ctrls["colour_space"].value, k, names, cache).merges)
        ctrls["step"].max = merges
        ctrls["step"].value = min(ctrls["step"].value, merges)

    return Explorer(draw_grouping, controls, fixed={"image": rgb, "k": k, "cache": cache},
                    figsize=(10, 5.0), columns=2, title="Algorithm 1, merge by merge",
                    constrain=keep_step_in_range)


# ------------------------------------------------------------------------------------------
# 3. Proposals
# ------------------------------------------------------------------------------------------
def _proposals(image, mode, cache, key, ranking="paper"):
    if cache is None:
        return selective_search(image, mode, ranking=ranking)
    if (key, mode) not in cache:                      # one search per image; orders are cheap
        cache[(key, mode)] = selective_search(image, mode, return_result=True)
    if (key, mode, ranking) not in cache:
        cache[(key, mode, ranking)] = cache[(key, mode)].ranked(ranking)
    return cache[(key, mode, ranking)]


def draw_proposals(image, top_n: int = 100, gt_boxes=None, mode: str = "fast",
                   proposals=None, cache: dict | None = None, key=None,
                   fig: Figure | None = None, ax=None, ranking: str = "paper") -> dict:
    """The first ``top_n`` proposals of ``image`` (dashed, as "before" boxes in ``viz``) and, if
    ``gt_boxes`` (``[G, 4]``) are given, each ground truth (yellow) with its best proposal among
    them (solid green when IoU ≥ 0.5, red otherwise).

    ``ranking``: the order of the proposals (``selective_search``'s ``ranking``).
    ``proposals`` (``[P, 4]``, ranked) skips the search; ``ax`` draws on given axes instead of
    on ``fig``. Returns ``proposals``, ``top_n``,
    ``best_iou`` (``Float[G]``), ``recall`` (IoU ≥ 0.5; ``None`` without ground truth),
    ``readout`` and ``figure``.
    """
    rgb = as_rgb_image(image)
    if proposals is None:
        proposals = _proposals(rgb, mode, cache, key, ranking)
    proposals = np.asarray(proposals, np.float32).reshape(-1, 4)
    top_n = max(0, min(int(top_n), len(proposals)))
    shown = proposals[:top_n]
    if ax is None:
        fig = fig if fig is not None else Figure(figsize=(6, 6))
        fig.subplots_adjust(left=0.02, right=0.98, top=0.92, bottom=0.02)
        ax = fig.add_subplot()
    viz.show_image(rgb, ax)
    viz.draw_boxes(ax, shown, color=viz.SKY_BLUE, style="dashed", linewidth=0.8,
                   alpha=0.6 if top_n > 50 else 0.9)
    best_iou, recall = None, None
    if gt_boxes is not None:
        gt = torch.as_tensor(np.asarray(gt_boxes, np.float64)).reshape(-1, 4)
        if top_n and len(gt):
            iou = box_iou(torch.from_numpy(shown).double(), gt)
            best_iou, best = iou.max(dim=0)
            best_iou = best_iou.numpy()
            hits = best_iou >= 0.5
            viz.draw_boxes(ax, shown[best.numpy()],
                           color=[viz.POSITIVE if h else viz.NEGATIVE for h in hits],
                           linewidth=2.2, captions=[f"{v:.2f}" for v in best_iou])
        else:
            best_iou = np.zeros(len(gt))
        viz.draw_boxes(ax, gt, color=viz.GROUND_TRUTH, linewidth=1.5, captions=[""] * len(gt))
        recall = float((best_iou >= 0.5).mean()) if len(gt) else None
    title = (f"all {top_n} proposals ({mode}" if top_n == len(proposals) and top_n else
             f"top {top_n} of {len(proposals)} proposals ({mode}")
    title += ")" if ranking == "paper" else f", {ranking} order)"
    if recall is not None:
        title += f": recall@0.5 = {recall:.2f}"
    ax.set_title(title)
    readout = ((f"Showing all {top_n} boxes" if top_n == len(proposals) and top_n else
                f"Showing the {top_n} best-ranked of {len(proposals)} boxes")
               + ("." if ranking == "paper" else f" ({ranking} order).")
               + ("" if recall is None else
                  f" {int(round(recall * len(best_iou)))} of {len(best_iou)} objects have a "
                  f"proposal with IoU ≥ 0.5 among them (best IoU per object: "
                  f"{', '.join(f'{v:.2f}' for v in best_iou)})."))
    return {"proposals": proposals, "top_n": top_n, "best_iou": best_iou, "recall": recall,
            "readout": readout, "figure": ax.figure}


def proposals_explorer(images: dict, mode: str = "fast", top_n: int = 100,
                       ranking: str = "paper") -> Explorer:
    """A top-N slider, an image menu and a ranking menu (the paper's, OpenCV's ``level``,
    ``persistence``: the same boxes in another order). ``images`` maps a name to ``image`` or
    to ``(image, gt_boxes)``; each image is searched once, when it is first shown."""
    check_ranking(ranking)
    if not isinstance(images, dict) or not images:
        raise ValueError("images must be a non-empty dict {name: image or (image, gt_boxes)}")
    items = {name: (value if isinstance(value, tuple) else (value, None))
             for name, value in images.items()}
    cache: dict = {}

    def draw(name, top_n, ranking, fig):
        image, gt = items[name]
        return draw_proposals(image, top_n, gt, mode, cache=cache, key=name, fig=fig,
                              ranking=ranking)

    def up_to_the_proposals(c, changed):
        # the slider ends at this image's number of proposals (the search is cached, so this
        # costs one search per image, the one the drawing needs anyway): "top N 715" can't show
        # while an image has 370
        image, _ = items[c["name"].value]
        found = _proposals(as_rgb_image(image), mode, cache, c["name"].value, c["ranking"].value)
        c["top_n"].max = max(len(found), 1)          # lowering max lowers the value with it

    controls = {
        "name": widgets.Dropdown(options=list(items), description="image"),
        "top_n": widgets.IntSlider(value=top_n, min=1, max=max(int(top_n), 1), step=1,
                                   description="top N", continuous_update=False),
        "ranking": widgets.Dropdown(options=list(RANKINGS), value=ranking, description="ranking"),
    }
    return Explorer(draw, controls, figsize=(6, 6.2), title=f"Selective search ({mode}): top N",
                    constrain=up_to_the_proposals)
