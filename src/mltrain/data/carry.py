"""Candles that travel with a task: packed from the data store as CSV text, unpacked into a throw-away store.

A worker on another machine has no access to the mltrain home; everything it trains on comes in its
payload (a few hundred KB per symbol) and is validated by the same import path as `mltrain data import`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..paths import Home
from .store import DataStore


def pack(store: DataStore, symbols: list[str]) -> dict[str, str]:
    """{symbol: CSV text} of the series the store serves (imported, else embedded)."""
    return {symbol: store.load(symbol).frame.to_csv() for symbol in symbols}


def carried_symbols(store: DataStore) -> dict[str, str]:
    """{symbol: source} of every series a worker's installed package lacks: all but the embedded ones.
    Pooled models read every series of the store, so these travel whatever the config names."""
    out = {}
    for symbol in store.symbols():
        source = store.load(symbol).source
        if source != "embedded":
            out[symbol] = source
    return out


@contextmanager
def unpacked(candles: dict[str, str], sources: dict[str, str] | None = None) -> Iterator[Home]:
    """A temporary home whose data store holds exactly the carried series; deleted on exit. `sources` keeps
    each series' original source (a generated market must stay marked "synthetic ..." on the worker)."""
    with tempfile.TemporaryDirectory(prefix="mltrain-task-") as folder:
        home = Home(Path(folder))
        store = DataStore(home)
        for symbol, csv in candles.items():
            source = Path(folder) / f"{symbol}.csv"
            source.write_text(csv, encoding="utf-8")
            store.import_file(source, symbol, mode="replace")
            if sources and symbol in sources:
                series = store.load(symbol)
                store.save(symbol, series.frame, {**series.meta, "source": sources[symbol]})
        yield home
