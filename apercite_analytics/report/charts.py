"""Small PNG charts of a KPI over the period, the previous period faint behind it.

PNG because mail clients render neither SVG nor scripts. matplotlib (Agg, no display) is the
field standard and installs beside bonobo2's pins; it is in the `report` extra, and a missing one
is one line saying how to install it. One figure is drawn and reused for every chart: creating a
figure costs more than drawing a sparkline.
"""

from __future__ import annotations

import io
import math

from apercite_analytics.errors import ConfigError
from apercite_analytics.report.digest import KpiResult

INSTALL_HINT = "charts need matplotlib: pip install 'apercite-analytics[report]'"
SIZE = (2.6, 0.8)  # inches at 100 dpi: 260 x 80 pixels, readable in a phone's column
COLOURS = {"good": "#1a7f37", "bad": "#cf222e", "flat": "#0969da"}
PREVIOUS = "#afb8c1"


class Charts:
    """Draws `KpiResult` charts as PNG bytes."""

    def __init__(self) -> None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            from matplotlib.figure import Figure
        except ImportError:
            raise ConfigError(INSTALL_HINT) from None
        self.figure = Figure(figsize=SIZE, dpi=100)
        self.axes = self.figure.add_axes((0.01, 0.04, 0.98, 0.92))

    def png(self, result: KpiResult) -> bytes:
        axes = self.axes
        axes.clear()
        axes.set_axis_off()
        current = [math.nan if v is None else v for v in result.points]
        previous = [math.nan if v is None else v for v in result.previous_points][: len(current)]
        colour = COLOURS[result.verdict] if result.change is not None else COLOURS["flat"]
        if result.kpi.chart == "bar":
            axes.bar(range(len(previous)), previous, width=0.8, color=PREVIOUS, alpha=0.5)
            axes.bar(range(len(current)), current, width=0.5, color=colour)
        else:
            axes.plot(range(len(previous)), previous, color=PREVIOUS, linewidth=1.2, alpha=0.8)
            axes.plot(range(len(current)), current, color=colour, linewidth=1.8, marker="o" * (len(current) < 3))
        axes.set_xlim(-0.6, max(len(current), 1) - 0.4)
        finite = [v for v in current + previous if not math.isnan(v)]
        if finite:
            low, high = min(finite + [0.0]), max(finite + [0.0])
            axes.set_ylim(low - 0.05 * (high - low or 1), high + 0.08 * (high - low or 1))
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", transparent=False, facecolor="white")
        return buffer.getvalue()
