"""A separate process that merges files into a data store, for the one-writer-per-symbol tests.

Usage: python store_worker.py HOME SYMBOL READY_DIR NAME PEERS WAIT FILE...
It marks itself ready, waits until PEERS workers are ready (a file per worker: an observable event, no
timing), then merges each FILE in turn and prints one JSON line per file: {"ok": ...} or {"error": ...}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mltrain.data.store import DataStore
from mltrain.errors import MltrainError
from mltrain.paths import Home


def main(argv: list[str]) -> int:
    home, symbol, ready, name, peers, wait, *files = argv
    ready_dir = Path(ready)
    (ready_dir / name).touch()
    while len(list(ready_dir.iterdir())) < int(peers):
        time.sleep(0.005)  # polls for the peers' ready files
    store = DataStore(Home(Path(home)))
    for file in files:
        try:
            out = store.import_file(Path(file), symbol, mode="merge", wait=wait == "wait")
            print(json.dumps({"ok": out["rows"]}), flush=True)
        except MltrainError as exc:
            print(json.dumps({"error": str(exc), "type": type(exc).__name__}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
