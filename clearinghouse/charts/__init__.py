"""Every chart in the product, drawn by one charting library (matplotlib, SVG backend).

The console, the portal and the workbench call these functions and put ``chart.svg`` and
``chart.table`` on the page (``charts/_chart.html`` does both). The package imports no app
of ours; matplotlib is imported on the first chart a process draws, not when it starts.
"""

from clearinghouse.charts.drawing import (
    PALETTE,
    Chart,
    Series,
    Table,
    bars_with_intervals,
    grouped_bars,
    lines_with_band,
    stacked_bars,
    step_lines,
)

__all__ = [
    "PALETTE",
    "Chart",
    "Series",
    "Table",
    "bars_with_intervals",
    "grouped_bars",
    "lines_with_band",
    "stacked_bars",
    "step_lines",
]
