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


@contextmanager
def unpacked(candles: dict[str, str]) -> Iterator[Home]:
    """A temporary home whose data store holds exactly the carried series; deleted on exit."""
    with tempfile.TemporaryDirectory(prefix="mltrain-task-") as folder:
        home = Home(Path(folder))
        store = DataStore(home)
        for symbol, csv in candles.items():
            source = Path(folder) / f"{symbol}.csv"
            source.write_text(csv, encoding="utf-8")
            store.import_file(source, symbol, mode="replace")
        yield home
