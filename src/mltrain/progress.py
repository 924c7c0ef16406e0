"""Per-epoch progress: a Rich live table in a terminal, one plain flushed line per epoch otherwise."""
from __future__ import annotations

import time
from typing import IO

from .train import EpochRecord


class Progress:
    """Observes epoch records; it never decides anything about training."""

    def __init__(self, stream: IO[str], *, symbols: list[str], epochs: int, metric_name: str, live: bool,
                 quiet: bool, log: IO[str] | None = None):
        self.stream, self.symbols, self.epochs, self.metric_name = stream, symbols, epochs, metric_name
        self.total = len(symbols) * epochs
        self.current: str | None = None
        self.live_enabled, self.quiet, self.log = live and not quiet, quiet, log
        self.done = 0
        self.start = time.perf_counter()
        self._live = None
        self._rows: list[tuple] = []

    def __enter__(self) -> "Progress":
        if self.live_enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(), console=Console(file=self.stream), refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def _eta(self, record: EpochRecord) -> float:
        elapsed = time.perf_counter() - self.start
        return elapsed / max(self.done, 1) * max(self.total - self.done, 0)

    def line(self, symbol: str, record: EpochRecord) -> str:
        marker = " *" if record.improved else ""
        return (f"{symbol} epoch {record.epoch}/{record.epochs} train_loss={record.train_loss:.4f} "
                f"val_loss={record.val_loss:.4f} {self.metric_name}={record.metric:.4f}{marker} "
                f"samples/s={record.samples_per_second:.0f} elapsed={time.perf_counter() - self.start:.1f}s "
                f"eta<={self._eta(record):.1f}s (early stopping may end sooner)")

    def _table(self):
        from rich.table import Table

        table = Table(title="training (ETA is an upper bound: early stopping may end sooner)")
        for column in ("symbol", "epoch", "train loss", "val loss", self.metric_name, "", "samples/s",
                       "elapsed", "ETA"):
            table.add_column(column, justify="right")
        for row in self._rows[-12:]:
            table.add_row(*row)
        return table

    def __call__(self, symbol: str, record: EpochRecord) -> None:
        if symbol != self.current:  # a symbol that stopped early gives its unused epochs back
            self.current = symbol
            self.total = self.done + (len(self.symbols) - self.symbols.index(symbol)) * self.epochs
        self.done += 1
        text = self.line(symbol, record)
        if self.log is not None:
            self.log.write(text + "\n")
            self.log.flush()
        if self.quiet:
            return
        if self._live is not None:
            self._rows.append((symbol, f"{record.epoch}/{record.epochs}", f"{record.train_loss:.4f}",
                               f"{record.val_loss:.4f}", f"{record.metric:.4f}", "*" if record.improved else "",
                               f"{record.samples_per_second:.0f}", f"{time.perf_counter() - self.start:.1f}s",
                               f"{self._eta(record):.1f}s"))
            self._live.update(self._table())
        else:
            self.stream.write(text + "\n")
            self.stream.flush()
