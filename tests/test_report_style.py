"""Report figures readable at a glance (issue 16): thousands separators on price axes, concise date axes,
contrast-aware counts in the confusion matrix. The helpers are in report.py; kinds call save_figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mltrain.report import annotate_matrix, readable, save_figure, thousands

plt = pytest.importorskip("matplotlib.pyplot")


def tick_texts(fig, axis: str) -> list[str]:
    fig.canvas.draw()
    ax = fig.get_axes()[0]
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks if t.get_text()]


@pytest.mark.parametrize("scale", ["linear", "log"])
def test_price_axis_has_thousands_separators_not_powers_of_ten(scale: str):
    x = np.arange("2024-01-01", "2025-06-01", dtype="datetime64[D]")
    fig, ax = plt.subplots()
    ax.plot(x, np.linspace(40_000, 125_000, len(x)))
    ax.set_yscale(scale)
    readable(fig)
    labels = tick_texts(fig, "y")
    assert labels and all("10^" not in t and "e+" not in t and "×" not in t for t in labels), labels
    assert any("," in t for t in labels), labels
    plt.close(fig)


def test_narrow_log_price_axis_has_several_labelled_prices():
    """A 100k-125k range on a log axis holds one power of ten at most: label evenly spaced prices instead."""
    x = np.arange("2025-05-01", "2025-10-01", dtype="datetime64[D]")
    fig, ax = plt.subplots()
    ax.plot(x, np.linspace(101_000, 124_000, len(x)))
    ax.set_yscale("log")
    readable(fig)
    labels = tick_texts(fig, "y")
    assert len(labels) >= 3 and all("," in t for t in labels), labels
    plt.close(fig)


def test_date_axis_is_concise():
    from matplotlib.dates import ConciseDateFormatter

    x = np.arange("2023-01-01", "2026-01-01", dtype="datetime64[D]")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(x, np.ones(len(x)))
    readable(fig)
    assert isinstance(ax.xaxis.get_major_formatter(), ConciseDateFormatter)
    labels = tick_texts(fig, "x")
    assert 3 <= len(labels) <= 9 and all(len(t) <= 7 for t in labels), labels  # "2024", "Jul": no collisions
    plt.close(fig)


def test_thousands():
    assert thousands(125000.0) == "125,000" and thousands(0.25) == "0.25" and thousands(3) == "3"


def test_confusion_counts_are_dark_on_light_cells_and_light_on_dark_ones(tmp_path: Path):
    matrix = np.array([[0, 50], [5, 100]])
    fig, ax = plt.subplots()
    annotate_matrix(ax, ax.imshow(matrix, cmap="Blues"), matrix)
    colors = {t.get_text(): t.get_color() for t in ax.texts}
    assert colors["0"] == "black" and colors["100"] == "white"
    save_figure(fig, tmp_path / "m.png", plt)
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
