"""One drawing vocabulary for every lesson (after Matterport's ``visualize.py``).

- :func:`show_image` — a tensor ``Float[3, H, W]`` in [0, 1] or an array ``uint8[H, W, 3]``;
- :func:`draw_boxes` — boxes ``(x1, y1, x2, y2)`` with class colours, captions and a line style:
  dashed = before (proposals, anchors, suppressed), solid = after (refined, kept);
- :func:`draw_masks` — instance masks as translucent colour;
- :func:`display_instances` — image + masks + boxes + captions of a target or a prediction dict;
- :func:`draw_grid` — a cell grid (feature map cells, RoI bins, pixels).

Every function draws on a Matplotlib ``Axes`` you pass (or a new one) and returns it, so a lesson
composes them and a test can count what was drawn.
"""
from __future__ import annotations

import matplotlib.patches as mpatches
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure

# Colour-blind-friendly (Okabe–Ito), by name: every lesson and explorer draws with these.
GREY, ORANGE, SKY_BLUE, GREEN = "#999999", "#E69F00", "#56B4E9", "#009E73"
PURPLE, BLUE, VERMILLION, YELLOW, BLACK = "#CC79A7", "#0072B2", "#D55E00", "#F0E442", "#000000"
ERROR = "#b30000"          # an impossible configuration, an empty bin
# Class k uses PALETTE[k % len], background is grey.
PALETTE = (GREY, ORANGE, SKY_BLUE, GREEN, PURPLE, BLUE, VERMILLION, YELLOW, BLACK)
KEPT, SUPPRESSED, GROUND_TRUTH = GREEN, GREY, YELLOW
POSITIVE, NEGATIVE, IGNORED = GREEN, VERMILLION, GREY
LINESTYLES = {"solid": "-", "dashed": "--", "dotted": ":"}


def tint(colour: str, amount: float) -> str:
    """``colour`` mixed with white: 0 keeps it, 1 is white (light fills behind dark lines)."""
    rgb = np.array(to_rgb(colour))
    return to_hex(rgb + (1 - rgb) * amount)


def class_color(label: int) -> str:
    """The colour of class ``label`` (0 = background)."""
    return PALETTE[int(label) % len(PALETTE)]


def new_axes(ax: Axes | None = None, figsize=(5, 5)) -> Axes:
    """``ax`` itself, or the axes of a new figure (a ``Figure`` not managed by pyplot, so that
    nothing is shown twice in a notebook)."""
    if ax is not None:
        return ax
    return Figure(figsize=figsize).add_subplot()


def to_numpy_image(image) -> np.ndarray:
    """``Float[3, H, W]`` tensor in [0, 1], or ``[H, W(, 3)]`` array -> ``[H, W(, 3)]`` array."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = image.permute(1, 2, 0)
        image = image.squeeze(-1).numpy() if image.shape[-1] == 1 else image.numpy()
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be [3, H, W], [H, W, 3] or [H, W], got shape {image.shape}")
    return image


def show_image(image, ax: Axes | None = None, title: str | None = None, **imshow_kwargs) -> Axes:
    """Show an image without ticks; greyscale in grey."""
    ax = new_axes(ax)
    image = to_numpy_image(image)
    if image.ndim == 2:
        imshow_kwargs.setdefault("cmap", "gray")
    ax.imshow(image, **imshow_kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def _as_array(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def draw_boxes(ax: Axes | None, boxes, labels=None, scores=None, class_names=None, *,
               color=None, style: str = "solid", linewidth: float = 2.0, alpha: float = 1.0,
               captions=None, fill: bool = False) -> Axes:
    """Draw ``boxes`` ``[N, 4]`` as rectangles.

    Colour: ``color`` (one for all, or one per box) or else the class colour of ``labels``.
    Caption: ``captions`` if given, else "class score" from ``labels`` / ``scores``.
    ``style``: "solid" (after), "dashed" (before), "dotted".
    """
    ax = new_axes(ax)
    boxes = _as_array(boxes, "boxes").reshape(-1, 4)
    n = len(boxes)
    labels = None if labels is None else _as_array(labels, "labels").reshape(-1)
    scores = None if scores is None else _as_array(scores, "scores").reshape(-1)
    if style not in LINESTYLES:
        raise ValueError(f"style must be one of {tuple(LINESTYLES)}, got {style!r}")
    colors = ([color] * n if color is None or isinstance(color, str) else list(color))
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        c = colors[i] or (class_color(labels[i]) if labels is not None else PALETTE[1])
        ax.add_patch(mpatches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=fill, edgecolor=c,
                                        facecolor=c if fill else "none", alpha=alpha,
                                        linewidth=linewidth, linestyle=LINESTYLES[style]))
        text = _caption(i, labels, scores, class_names, captions)
        if text:
            ax.text(x1, y1, text, color="white", fontsize=8, va="bottom", alpha=alpha,
                    bbox=dict(facecolor=c, edgecolor="none", pad=1, alpha=0.8 * alpha))
    return ax


def _caption(i, labels, scores, class_names, captions) -> str:
    if captions is not None:
        return str(captions[i])
    parts = []
    if labels is not None:
        k = int(labels[i])
        parts.append(class_names[k] if class_names is not None else str(k))
    if scores is not None:
        parts.append(f"{float(scores[i]):.2f}")
    return " ".join(parts)


def draw_masks(ax: Axes | None, masks, labels=None, alpha: float = 0.45,
               threshold: float = 0.5) -> Axes:
    """Overlay instance masks ``[N, H, W]`` (or ``[N, 1, H, W]`` probabilities) in class colours."""
    ax = new_axes(ax)
    masks = _as_array(masks, "masks")
    if masks.ndim == 4:
        masks = masks[:, 0]
    labels = None if labels is None else _as_array(labels, "labels").reshape(-1)
    if len(masks) == 0:
        return ax
    overlay = np.zeros(masks.shape[1:] + (4,))
    for i, m in enumerate(masks):
        rgb = mpatches.Patch(color=class_color(labels[i]) if labels is not None
                             else PALETTE[1 + i % (len(PALETTE) - 1)]).get_facecolor()[:3]
        overlay[m > threshold] = (*rgb, alpha)
    ax.imshow(overlay, interpolation="nearest")
    return ax


def display_instances(image, instances: dict, class_names=None, ax: Axes | None = None,
                      score_threshold: float = 0.0, title: str | None = None,
                      style: str = "solid", show_masks: bool = True) -> Axes:
    """Image + masks + boxes + captions for a torchvision-style target or prediction dict
    (``boxes``, ``labels``, optional ``scores`` and ``masks``)."""
    ax = show_image(image, ax, title)
    scores = instances.get("scores")
    keep = np.ones(len(instances["boxes"]), bool)
    if scores is not None:
        keep = _as_array(scores, "scores") >= score_threshold
    labels = _as_array(instances.get("labels", np.ones(len(keep), int)), "labels")[keep]
    if show_masks and instances.get("masks") is not None:
        draw_masks(ax, _as_array(instances["masks"], "masks")[keep], labels)
    draw_boxes(ax, _as_array(instances["boxes"], "boxes")[keep], labels,
               None if scores is None else _as_array(scores, "scores")[keep], class_names,
               style=style)
    return ax


def draw_grid(ax: Axes | None, height: int, width: int, origin=(0.0, 0.0), cell: float = 1.0,
              color: str = "#666666", linewidth: float = 0.5, **kwargs) -> Axes:
    """Lines of a ``height × width`` grid of square cells starting at ``origin`` (x, y)."""
    ax = new_axes(ax)
    x0, y0 = origin
    for r in range(height + 1):
        ax.plot([x0, x0 + width * cell], [y0 + r * cell] * 2, color=color, lw=linewidth, **kwargs)
    for c in range(width + 1):
        ax.plot([x0 + c * cell] * 2, [y0, y0 + height * cell], color=color, lw=linewidth, **kwargs)
    return ax
