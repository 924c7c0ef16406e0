"""Per-epoch progress text: one plain line per epoch with elapsed time and an upper-bound ETA.

The core writes these lines to the job log; the face (cli/render.py) shows them or a live table.
"""

from __future__ import annotations

import time

from .train import EpochRecord


class EpochLines:
    """Counts epochs over the symbols of a run and formats one line per epoch record."""

    def __init__(self, *, symbols: list[str], epochs: int, metric_name: str):
        self.symbols, self.epochs, self.metric_name = symbols, epochs, metric_name
        self.total = len(symbols) * epochs
        self.current: str | None = None
        self.done = 0
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def eta(self) -> float:
        return self.elapsed() / max(self.done, 1) * max(self.total - self.done, 0)

    def advance(self, symbol: str) -> None:
        # a symbol that stopped early gives its epochs back
        if symbol != self.current and symbol in self.symbols:
            self.current = symbol
            self.total = self.done + (len(self.symbols) - self.symbols.index(symbol)) * self.epochs
        self.done += 1

    def line(self, symbol: str, record: EpochRecord) -> str:
        marker = " *" if record.improved else ""
        return (
            f"{symbol} epoch {record.epoch}/{record.epochs} train_loss={record.train_loss:.4f} "
            f"selection_loss={record.selection_loss:.4f} {self.metric_name}={record.metric:.4f}{marker} "
            f"samples/s={record.samples_per_second:.0f} elapsed={self.elapsed():.1f}s "
            f"eta<={self.eta():.1f}s (early stopping may end sooner)"
        )
