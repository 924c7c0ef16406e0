"""Live displays on stderr: per-epoch training progress and walk-forward fold progress (Rich on a terminal,
plain flushed lines otherwise)."""

from __future__ import annotations

import time
from typing import IO

from .tables import paragraph


class Progress:
    """Observes epoch records: a Rich live table in a terminal, one plain flushed line per epoch otherwise."""

    def __init__(
        self, stream: IO[str], *, symbols: list[str], epochs: int, metric_name: str, live: bool, quiet: bool
    ):
        from ..progress import EpochLines

        self.stream, self.metric_name = stream, metric_name
        self.lines = EpochLines(symbols=symbols, epochs=epochs, metric_name=metric_name)
        self.live_enabled, self.quiet = live and not quiet, quiet
        self._live = None
        self._rows: list[tuple] = []

    def __enter__(self) -> Progress:
        if self.live_enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                self._table(), console=Console(file=self.stream), refresh_per_second=8, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def _table(self):
        from rich.table import Table

        shown = Table(title="training (ETA is an upper bound: early stopping may end sooner)")
        for column in (
            "symbol",
            "epoch",
            "train loss",
            "selection loss",
            self.metric_name,
            "",
            "samples/s",
            "elapsed",
            "ETA",
        ):
            shown.add_column(column, justify="right")
        for row in self._rows[-12:]:
            shown.add_row(*row)
        return shown

    def __call__(self, symbol: str, record) -> None:
        self.lines.advance(symbol)
        if self.quiet:
            return
        if self._live is not None:
            self._rows.append(
                (
                    symbol,
                    f"{record.epoch}/{record.epochs}",
                    f"{record.train_loss:.4f}",
                    f"{record.selection_loss:.4f}",
                    f"{record.metric:.4f}",
                    "*" if record.improved else "",
                    f"{record.samples_per_second:.0f}",
                    f"{self.lines.elapsed():.1f}s",
                    f"{self.lines.eta():.1f}s",
                )
            )
            self._live.update(self._table())
        else:
            paragraph(self.lines.line(symbol, record), self.stream)  # wrapped at COLUMNS, like every line
            self.stream.flush()


class FoldProgress:
    """Observes progress events {"done": k, "total": n, "label": str, "note": str (optional)} of evaluate,
    presets --measure, data update and sweep: a Rich bar with ETA in a terminal, one flushed plain line per
    event otherwise; nothing with quiet. Meant for stderr, --json or not."""

    def __init__(
        self, stream: IO[str], *, live: bool, quiet: bool, what: str = "folds", clock=time.monotonic
    ):
        self.stream, self.quiet, self.what, self.clock = stream, quiet, what, clock
        self.live_enabled = live and not quiet
        self.start = clock()
        self._progress = None
        self._task = None

    def __enter__(self) -> FoldProgress:
        if self.live_enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def eta_seconds(self, done: float, total: float) -> float | None:
        """Remaining time at the mean pace so far; None before any progress is made."""
        if done <= 0:
            return None
        return (self.clock() - self.start) / done * max(total - done, 0)

    def line(self, event: dict) -> str:
        """`done` may be fractional (a download part-way through a symbol): the count shows whole steps,
        the ETA uses the fraction."""
        from ..estimate import format_seconds

        done, total = float(event["done"]), int(event["total"])
        label = f" ({event['label']})" if event.get("label") else ""
        eta = self.eta_seconds(done, total)
        tail = "" if eta is None else f", ETA {format_seconds(eta)}"
        extra = "".join(f"; {text}" for text in [event.get("note")] if text)
        return (
            f"{self.what} {int(done)}/{total} done{label}{extra}; elapsed "
            f"{format_seconds(self.clock() - self.start)}{tail}"
        )

    def __call__(self, event: dict) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            if self._task is None:
                self._task = self._progress.add_task(self.what, total=int(event["total"]))
            self._progress.update(
                self._task,
                completed=float(event["done"]),
                total=int(event["total"]),
                # one short line beside the bar: the note (a sweep's best so far) when there is one
                description=f"{self.what} {event.get('note') or event.get('label') or ''}".strip(),
            )
        else:
            paragraph(self.line(event), self.stream)
            self.stream.flush()
