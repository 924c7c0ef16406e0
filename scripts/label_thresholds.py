"""Print how the regime labels read under fixed and volatility-scaled thresholds for every series in the data
store (the embedded ones unless MLTRAIN_HOME has imports): switches a year, mean spell length, share of days
per regime. The table in docs/regimes.md ("Volatility-scaled thresholds") comes from this script.

Run from the repository root: PYTHONPATH=src python scripts/label_thresholds.py [--markdown]
"""

from __future__ import annotations

import sys

from mltrain.data.store import DataStore
from mltrain.features import REGIMES
from mltrain.kinds.regime_labels import compare_thresholds
from mltrain.paths import resolve_home


def shares(stats: dict) -> str:
    return " / ".join(f"{stats['share'][r]:.2f}" for r in REGIMES)


def main() -> None:
    rows = compare_thresholds(DataStore(resolve_home()))
    header = [
        "symbol",
        "scale (median)",
        "switches/yr fixed",
        "switches/yr scaled",
        "mean spell (days) fixed",
        "mean spell (days) scaled",
        "share Bear/Corr/Bull/Exp fixed",
        "share Bear/Corr/Bull/Exp scaled",
    ]
    lines = []
    for r in rows:
        f, s = r["fixed"], r["scaled"]
        lines.append(
            [
                r["symbol"] + (" (identical)" if r["identical"] else ""),
                f"{r['median_scale']:.2f}",
                f"{f['switches_per_year']:.1f}",
                f"{s['switches_per_year']:.1f}",
                f"{f['mean_spell_days']:.0f}",
                f"{s['mean_spell_days']:.0f}",
                shares(f),
                shares(s),
            ]
        )
    if "--markdown" in sys.argv[1:]:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    for line in [header, *lines]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)))


if __name__ == "__main__":
    main()
