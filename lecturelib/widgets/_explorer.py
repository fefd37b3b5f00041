"""The machinery every explorer shares: controls -> a drawing function -> one figure.

An explorer is a *drawing function* (plain values in, a dict of what it computed out, tested
without Jupyter) plus a dict of ipywidgets controls named like the function's arguments::

    Explorer(draw_iou, {"x": IntSlider(...), "pos_threshold": FloatSlider(...)}, fixed={...})

Moving a control redraws the same Matplotlib figure; ``explorer.result`` holds the last dict,
``explorer.set(x=30)`` moves controls from code (as a test or a lecturer's script does), and
``explorer.redraw_seconds`` the time of the last redraw.
"""
from __future__ import annotations

import time
from typing import Callable

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure


class Explorer:
    def __init__(self, draw: Callable[..., dict], controls: dict[str, widgets.Widget],
                 fixed: dict | None = None, figsize=(6.0, 5.0), columns: int = 2,
                 title: str | None = None):
        self.draw = draw
        self.controls = controls
        self.fixed = dict(fixed or {})
        self.figure = Figure(figsize=figsize)  # no layout engine: it costs a draw per redraw
        self.output = widgets.Output()
        self.readout = widgets.HTML()
        self.result: dict = {}
        self.redraw_seconds = 0.0
        self._holding = False
        for control in controls.values():
            if not isinstance(control, (widgets.Button, widgets.Label, widgets.HTML)):
                control.style.description_width = "initial"
            control.observe(self._on_change, names="value")
        rows = [widgets.HBox(list(controls.values())[i:i + columns])
                for i in range(0, len(controls), columns)]
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        self.widget = widgets.VBox(header + rows + [self.readout, self.output])
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
        return self.redraw()

    def redraw(self) -> dict:
        start = time.perf_counter()
        self.figure.clear()
        self.result = self.draw(**self.fixed, **self.values(), fig=self.figure)
        self.readout.value = self.result.get("readout", "")
        self.output.clear_output(wait=True)
        with self.output:
            display(self.figure)
        self.redraw_seconds = time.perf_counter() - start
        return self.result

    def _on_change(self, _change) -> None:
        if not self._holding:
            self.redraw()

    def _ipython_display_(self) -> None:
        display(self.widget)
