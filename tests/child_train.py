"""A training process for tests that pauses while its new version is staged, until the test releases it.

Usage: python -m tests.child_train SIGNAL_DIR mltrain-args...
It touches SIGNAL_DIR/staged inside the commit hook and waits for SIGNAL_DIR/release to appear.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mltrain.cli import Env, main


def _hook(signals: Path):
    def before_commit() -> None:
        (signals / "staged").touch()
        while not (signals / "release").exists():  # wait for the test's event, however long it takes
            time.sleep(0.02)

    return before_commit


if __name__ == "__main__":
    signals, args = Path(sys.argv[1]), sys.argv[2:]
    signals.mkdir(parents=True, exist_ok=True)
    main(args, Env(argv=["mltrain", *args], before_commit=_hook(signals)))
