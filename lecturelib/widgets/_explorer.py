"""The machinery every explorer shares: controls -> a drawing function -> one figure.

An explorer is a *drawing function* (plain values in, a dict of what it computed out, tested
without Jupyter) plus a dict of ipywidgets controls named like the function's arguments::

    Explorer(draw_iou, {"x": FloatSlider(...), "high_threshold": FloatSlider(...)}, fixed={...})

Moving a control redraws the same Matplotlib figure and sends it to the notebook as one PNG
(no second "tight" layout pass, so a slider answers at once), as the value of an ipywidgets
``Image``. Not through an ``Output`` widget: headless executors (nbconvert, nbclient, papermill,
nbgrader, Voilà) stand in for an Output widget by talking to the kernel while they wait for the
cell's reply, and now and then notice the reply only when the cell times out
(jupyter/nbclient#312): an explorer cell then took minutes instead of a second. ``explorer.result`` holds the
last dict, ``explorer.set(x=30)`` moves controls from code (as a test or a lecturer's script
does), ``explorer.redraw_seconds`` times the last redraw. ``constrain(controls, changed)`` may
adjust controls (their ranges, say) before each redraw; ``changed`` names the control the user
just moved (``None`` at the start or after ``set``).
"""
from __future__ import annotations

import io
import time
from typing import Callable

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure

EXPLORER_DPI = 80   # sharp enough on a projector, quick to render


def figure_axes(fig: Figure | None, name: str, make: Callable[[Figure], list],
                figsize=(6.0, 5.0), dpi: float | None = None) -> tuple[Figure, list]:
    """The figure of a drawing function and its axes, ready to draw on.

    ``fig`` None: a new :class:`Figure` (not pyplot's, so a notebook shows nothing twice: show
    it by making it a cell's value or with ``display``) with axes from ``make(fig)``. A figure this function laid out before under the same ``name``
    keeps its axes (and figure legends) and only loses what was drawn on them: creating axes is
    the slowest part of a redraw, and sliders redraw often. Any other figure is cleared and laid
    out anew.
    """
    if fig is None:
        fig = Figure(figsize=figsize, dpi=dpi)
    name_and_axes = getattr(fig, "_lecturelib_layout", None)
    if name_and_axes and name_and_axes[0] == name and \
            all(ax in fig.axes for ax in name_and_axes[1]):
        for ax in name_and_axes[1]:
            for artist in [*ax.images, *ax.patches, *ax.collections, *ax.texts, *ax.lines]:
                artist.remove()
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        return fig, name_and_axes[1]
    fig.clear()
    axes = list(make(fig))
    fig._lecturelib_layout = (name, axes)
    return fig, axes


def render_png(fig: Figure) -> bytes:
    """The figure as PNG bytes: what an explorer sends to the notebook on every redraw.

    zlib level 1, not Pillow's 6: about 30 ms less per redraw of a two-panel figure for a
    PNG about 10 % larger, which the notebook receives from a local kernel.
    """
    png = io.BytesIO()
    fig.savefig(png, format="png", pil_kwargs={"compress_level": 1})
    return png.getvalue()


def iou_threshold_controls(positive_iou: float, negative_iou: float):
    """The two sliders of a labelling rule ("positive if IoU ≥", "negative if IoU <") and the
    constraint that keeps negative ≤ positive (the slider moved last wins). Returns
    ``(controls, constrain)`` for :class:`Explorer`."""
    controls = {
        "positive_iou": widgets.FloatSlider(value=positive_iou, min=0.05, max=1.0, step=0.05,
                                            description="positive if IoU ≥"),
        "negative_iou": widgets.FloatSlider(value=negative_iou, min=0.0, max=1.0, step=0.05,
                                            description="negative if IoU <"),
    }

    def keep_order(c, changed):
        if c["negative_iou"].value > c["positive_iou"].value:
            if changed == "negative_iou":
                c["positive_iou"].value = c["negative_iou"].value
            else:
                c["negative_iou"].value = c["positive_iou"].value
    return controls, keep_order


class Explorer:
    def __init__(self, draw: Callable[..., dict], controls: dict[str, widgets.Widget],
                 fixed: dict | None = None, figsize=(6.0, 5.0), columns: int = 2,
                 title: str | None = None, clear: bool = True,
                 constrain: Callable[[dict, str | None], None] | None = None, side_panel: bool = False):
        self.draw = draw
        self.controls = controls
        self.fixed = dict(fixed or {})
        self.clear = clear
        self.constrain = constrain
        self.figure = Figure(figsize=figsize, dpi=EXPLORER_DPI)  # no layout engine: one pass
        self.image = widgets.Image(format="png")
        self.readout = widgets.HTML()
        self.result: dict = {}
        self.redraw_seconds = 0.0
        self._holding = False
        for control in controls.values():
            if not isinstance(control, (widgets.Button, widgets.Label, widgets.HTML)) \
                    and not control.style.description_width:
                control.style.description_width = "initial"
            control.observe(self._on_change, names="value")
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        if side_panel:
            panel = widgets.VBox(header + list(controls.values()),
                                 layout=widgets.Layout(width="300px"))
            self.widget = widgets.VBox([widgets.HBox([panel, self.image]), self.readout])
        else:
            rows = [widgets.HBox(list(controls.values())[i:i + columns])
                    for i in range(0, len(controls), columns)]
            self.widget = widgets.VBox(header + rows + [self.readout, self.image])
        self._apply_constraints()
        self.redraw()

    def values(self) -> dict:
        """The controls' current values, by argument name."""
        return {name: c.value for name, c in self.controls.items() if hasattr(c, "value")}

    def set(self, **values) -> dict:
        """Move several controls at once (one redraw); returns the new result."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; "
                             f"this explorer has {sorted(self.controls)}")
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self._apply_constraints()
        return self.redraw()

    def redraw(self) -> dict:
        start = time.perf_counter()
        if self.clear:
            self.figure.clear()
        self.result = self.draw(**self.fixed, **self.values(), fig=self.figure)
        self.readout.value = self.result.get("readout", "")
        self.image.value = render_png(self.figure)
        self.redraw_seconds = time.perf_counter() - start
        return self.result

    def _apply_constraints(self, changed: str | None = None) -> None:
        if self.constrain is None:
            return
        holding, self._holding = self._holding, True
        try:
            self.constrain(self.controls, changed)
        finally:
            self._holding = holding

    def _on_change(self, change) -> None:
        if not self._holding:
            moved = next((n for n, c in self.controls.items() if c is change["owner"]), None)
            self._apply_constraints(moved)
            self.redraw()

    def _ipython_display_(self) -> None:
        display(self.widget)
