"""The live progress display shared by evaluate, presets --measure, data update and sweep (cli/live.py)."""

from __future__ import annotations

import io

from mltrain.cli.live import FoldProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_fractional_step_counts_whole_steps_but_drives_the_eta_and_a_note_is_shown():
    clock, out = Clock(), io.StringIO()
    with FoldProgress(out, live=False, quiet=False, what="symbols", clock=clock) as show:
        clock.now += 10
        show({"done": 0.5, "total": 2, "label": "BTC: page 1"})  # half of the first symbol's days
        clock.now += 10
        show({"done": 1, "total": 2, "label": "BTC: updated", "note": "best so far 1.5"})
    first, second = out.getvalue().splitlines()
    assert first.startswith("symbols 0/2 done (BTC: page 1); elapsed 10 s") and first.endswith("ETA 30 s")
    assert second.startswith("symbols 1/2 done (BTC: updated); best so far 1.5; elapsed 20 s")
    assert second.endswith("ETA 20 s")
