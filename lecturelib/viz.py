"""One drawing vocabulary for every lesson (after Matterport's ``visualize.py``).

- :func:`show_image` — a tensor ``Float[3, H, W]`` in [0, 1] or an array ``uint8[H, W, 3]``;
- :func:`draw_boxes` — boxes ``(x1, y1, x2, y2)`` with class colours, captions and a line style:
  dashed = before (proposals, anchors, suppressed), solid = after (refined, kept);
- :func:`draw_masks` — instance masks as translucent colour;
- :func:`display_instances` — image + masks + boxes + captions of a target or a prediction dict;
- :func:`draw_grid` — a cell grid (feature map cells, RoI bins, pixels).

Every function draws on a Matplotlib ``Axes`` you pass (or a new one) and returns it, so a lesson
composes them and a test can count what was drawn. Bad input (NaN or inverted boxes, labels,
scores, colours, captions or masks not one per box) is a ``ValueError`` naming the argument,
never a half-drawn figure.
"""
from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import matplotlib.patches as mpatches
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure

from .ops._validate import check_boxes, check_number

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
        x = x.detach().cpu()
        x = (x.float() if x.dtype == torch.bfloat16 else x).numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a tensor, an array or a list, got "
                         f"{type(x).__name__}") from error


def _numbers(x, name: str) -> np.ndarray:
    """``x`` as a float64 array of finite numbers."""
    array = _as_array(x, name)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _check_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """``[N, 4]`` (or ``[..., 4]``, e.g. one box ``[4]``) of finite ``(x1, y1, x2, y2)``, x2 >= x1,
    y2 >= y1 -> Float64[N, 4]."""
    array = _as_array(boxes, name)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    if array.size == 0:
        return np.zeros((0, 4))
    if array.ndim == 0 or array.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [N, 4] as (x1, y1, x2, y2), "
                         f"got shape {array.shape}")
    array = array.reshape(-1, 4).astype(np.float64)
    check_boxes(torch.from_numpy(array), name)
    return array


def _per_box(values, n: int, name: str, boxes_name: str = "boxes", numbers: bool = True):
    """One entry per box: labels, scores, captions, colours, masks."""
    array = _numbers(values, name).reshape(-1) if numbers else list(values)
    if len(array) != n:
        raise ValueError(f"{name} has {len(array)} entries but {boxes_name} has {n}; "
                         "they must match one to one")
    return array


def _check_labels(labels, n: int, class_names=None, name: str = "labels",
                  boxes_name: str = "boxes") -> np.ndarray:
    labels = _per_box(labels, n, name, boxes_name)
    if (labels != np.round(labels)).any():
        raise ValueError(f"{name} must hold whole class numbers, got {labels.tolist()}")
    if class_names is not None and len(labels) and (labels.min() < 0
                                                    or labels.max() >= len(class_names)):
        raise ValueError(f"{name} must index class_names (0..{len(class_names) - 1}), got "
                         f"{labels.astype(np.int64).tolist()}")
    return labels.astype(np.int64)


def _is_one_color(color) -> bool:
    """A colour name, or one RGB(A) tuple of numbers (not a list of colours)."""
    return color is None or isinstance(color, str) or (
        isinstance(color, (tuple, list, np.ndarray)) and len(color) in (3, 4)
        and all(isinstance(c, Real) and not isinstance(c, bool) for c in color))


def draw_boxes(ax: Axes | None, boxes, labels=None, scores=None, class_names=None, *,
               color=None, style: str = "solid", linewidth: float = 2.0, alpha: float = 1.0,
               captions=None, fill: bool = False) -> Axes:
    """Draw ``boxes`` ``[N, 4]`` as rectangles.

    Colour: ``color`` (one for all, or one per box) or else the class colour of ``labels``.
    Caption: ``captions`` if given, else "class score" from ``labels`` / ``scores``.
    ``style``: "solid" (after), "dashed" (before), "dotted".
    """
    boxes = _check_boxes(boxes)
    n = len(boxes)
    labels = None if labels is None else _check_labels(labels, n, class_names)
    scores = None if scores is None else _per_box(scores, n, "scores")
    captions = None if captions is None else _per_box(captions, n, "captions", numbers=False)
    if style not in LINESTYLES:
        raise ValueError(f"style must be one of {tuple(LINESTYLES)}, got {style!r}")
    colors = ([color] * n if _is_one_color(color)
              else _per_box(color, n, "color", numbers=False))
    ax = new_axes(ax)
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
    masks = _numbers(masks, "masks")
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape [N, H, W] or [N, 1, H, W], got {masks.shape}")
    labels = None if labels is None else _check_labels(labels, len(masks), None, "labels", "masks")
    threshold = check_number(threshold, "threshold")
    alpha = check_number(alpha, "alpha", minimum=0, maximum=1, expected="a number in [0, 1]")
    ax = new_axes(ax)
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
    (``boxes``, ``labels``, optional ``scores`` and ``masks``, one per box)."""
    if not isinstance(instances, Mapping) or "boxes" not in instances:
        raise ValueError("instances must be a dict with 'boxes' (and 'labels', optional 'scores' "
                         f"and 'masks'), got {type(instances).__name__}"
                         + (f" with keys {sorted(instances)}" if isinstance(instances, Mapping)
                            else ""))
    boxes = _check_boxes(instances["boxes"], "instances['boxes']")
    n = len(boxes)
    labels = instances.get("labels")
    labels = (np.ones(n, np.int64) if labels is None
              else _check_labels(labels, n, class_names, "instances['labels']",
                             "instances['boxes']"))
    scores = instances.get("scores")
    keep = np.ones(n, bool)
    if scores is not None:
        scores = _per_box(scores, n, "instances['scores']", "instances['boxes']")
        keep = scores >= check_number(score_threshold, "score_threshold")
    masks = instances.get("masks") if show_masks else None
    if masks is not None:
        masks = _as_array(masks, "instances['masks']")
        if masks.ndim not in (3, 4) or len(masks) != n:
            raise ValueError(f"instances['masks'] must have shape [{n}, H, W] or [{n}, 1, H, W] "
                             f"(one per box), got {masks.shape}")
    ax = show_image(image, ax, title)
    if masks is not None:
        draw_masks(ax, masks[keep], labels[keep])
    draw_boxes(ax, boxes[keep], labels[keep], None if scores is None else scores[keep],
               class_names, style=style)
    return ax


def draw_grid(ax: Axes | None, height: int, width: int, origin=(0.0, 0.0), cell: float = 1.0,
              color: str = "#666666", linewidth: float = 0.5, **kwargs) -> Axes:
    """Lines of a ``height × width`` grid of square cells starting at ``origin`` (x, y)."""
    height = check_number(height, "height", minimum=0, integer=True, expected="an int >= 0 (cells)")
    width = check_number(width, "width", minimum=0, integer=True, expected="an int >= 0 (cells)")
    cell = check_number(cell, "cell", positive=True, expected="a finite number > 0")
    if isinstance(origin, str) or np.shape(origin) != (2,):
        raise ValueError(f"origin must be (x, y), got {origin!r}")
    x0, y0 = (check_number(v, f"origin[{i}]") for i, v in enumerate(origin))
    ax = new_axes(ax)
    for r in range(height + 1):
        ax.plot([x0, x0 + width * cell], [y0 + r * cell] * 2, color=color, lw=linewidth, **kwargs)
    for c in range(width + 1):
        ax.plot([x0 + c * cell] * 2, [y0, y0 + height * cell], color=color, lw=linewidth, **kwargs)
    return ax
