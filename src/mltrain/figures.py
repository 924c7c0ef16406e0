"""Markdown tables and matplotlib figures for reports: plain helpers every kind's report parts draw with
(matplotlib optional; report.py assembles the report)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .outputs import write_output
from .textutil import fmt


def pyplot():
    """matplotlib's pyplot on the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def md_table(columns: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def series(folds: list[dict], symbol: str, key: str) -> tuple[list, np.ndarray]:
    """One prediction key of a symbol over every fold's validation block, oldest first."""
    dates, values = [], []
    for fold in folds:
        pred = fold["predictions"].get(symbol)  # a symbol with a shorter history joins later folds only
        if pred is not None and pred.get(key) is not None:
            dates += pred["dates"]
            values += pred[key]
    return dates, np.asarray(values, dtype=float)


def shade_runs(ax, x, labels, names, colors: dict, title: str) -> None:
    """Shade one span per run of equal labels (adjacent runs meet without gaps), with a legend."""
    from matplotlib.patches import Patch

    edges = np.append(x, x[-1] + np.timedelta64(1, "D"))
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            ax.axvspan(edges[start], edges[i], color=colors[names[labels[start]]], alpha=0.25, lw=0)
            start = i
    ax.legend(handles=[Patch(color=colors[n], alpha=0.25, label=n) for n in names], ncol=4, fontsize=8)
    ax.set_title(title)


# ---------------------------------------------------------------- figures readable at a glance


def _is_date_axis(axis) -> bool:
    from matplotlib import dates

    return isinstance(axis.get_major_locator(), dates.DateLocator) or isinstance(
        axis.get_major_formatter(), (dates.AutoDateFormatter, dates.ConciseDateFormatter, dates.DateFormatter)
    )


def thousands(value: float, _position: object = None) -> str:
    """Axis tick text: 125,000 rather than 1.25 x 10^5; small values keep their decimals."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def readable(fig) -> None:
    """Concise date labels on date axes and plain numbers with thousands separators on value axes (linear or
    log), for every axis of a figure; call before saving."""
    from matplotlib import dates, ticker

    for ax in fig.get_axes():
        if _is_date_axis(ax.xaxis):
            locator = dates.AutoDateLocator(minticks=3, maxticks=8)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
        if ax.images:  # a matrix: its axes are categories
            continue
        low, high = ax.get_ylim()
        if ax.get_yscale() == "log" and 0 < low and high / low < 10:
            # under a decade a log axis has one labelled tick at most: label evenly spaced prices instead
            ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=5))
            ax.yaxis.set_minor_locator(ticker.NullLocator())
        if max(abs(low), abs(high)) >= 1000:
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(thousands))
            if ax.get_yscale() == "log":
                ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def annotate_matrix(ax, image, matrix) -> None:
    """Write each cell's count in black on light cells and white on dark ones (relative luminance)."""
    matrix = np.asarray(matrix)
    for (i, j), value in np.ndenumerate(matrix):
        r, g, b, _ = image.cmap(image.norm(value))
        luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
        ax.text(
            j,
            i,
            fmt(value.item() if hasattr(value, "item") else value),
            ha="center",
            va="center",
            color="black" if luminance > 0.5 else "white",
        )


def save_figure(fig, path: Path, plt) -> None:
    """readable(), tight layout, PNG at one resolution for every report figure, figure closed."""
    readable(fig)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_output(path, buffer.getvalue(), "--report")  # atomic; a FIFO planted there is never renamed over
