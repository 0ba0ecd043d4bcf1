"""The workshop app: watch customers stay or leave as firms move up and down the service ladder.

Started by ``retention-sim app`` (a Solara server on 127.0.0.1:8765 by default); in Jupyter, show
`Page` in a cell. Split like a Mesa example:

- `sim.app.model`: the settings and presets, the watched market, the comparison model
  (`WorkshopModel`, a `mesa.Model`) and the `Controller` that plays it;
- `sim.app.figures`: plots, dots and hand-outs from a frozen `View` of the model;
- `sim.app.page`: the Solara components and their CSS.

What does not live here: the rules (`sim.rules`), the engines (`sim.model`, `sim.population`),
the figures of results folders (`sim.plots`).
"""

from __future__ import annotations

import os

os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")  # before solara is imported

from sim.app.figures import (
    dots_figure,
    figure_png,
    handout_caption,
    handout_csv,
    handout_png,
    handout_stem,
    ladder_table,
    plots_figure,
)
from sim.app.model import *  # noqa: F403
from sim.app.model import __all__ as _model_names
from sim.app.page import Page, WorkshopApp, settings_from_url

__all__ = [
    *_model_names,
    "Page",
    "WorkshopApp",
    "dots_figure",
    "figure_png",
    "handout_caption",
    "handout_csv",
    "handout_png",
    "handout_stem",
    "ladder_table",
    "plots_figure",
    "settings_from_url",
]
