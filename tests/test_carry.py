"""Candles that travel with a task: what a worker unpacks is what the CLI's data store serves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mltrain.data.carry import pack, unpacked
from mltrain.data.store import DataStore
from mltrain.paths import Home


def test_carried_candles_match_the_store_and_leave_nothing_behind(home: Path) -> None:
    store = DataStore(Home(home))
    candles = pack(store, ["BTC", "SOL"])
    with unpacked(candles) as there:
        folder = there.root
        for symbol in ("BTC", "SOL"):
            here, carried = store.load(symbol).frame, DataStore(there).load(symbol).frame
            assert carried.index.equals(here.index)
            pd.testing.assert_frame_equal(
                carried[["open", "high", "low", "close"]], here[["open", "high", "low", "close"]]
            )
    assert not folder.exists()
    assert not home.exists()  # packing only reads: the CLI's home is not created
