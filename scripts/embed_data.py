"""Copy a folder of Binance daily kline files (SYMBOLUSDT_1d.csv) into the package as gzip CSV, dropping the
partial last candle.

Run from the repository root: python scripts/embed_data.py DIR
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

PARTIAL_DAY = "2026-01-06"  # captured mid-day: an incomplete candle


def main(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*USDT_1d.csv")):
        symbol = path.name.split("USDT")[0]
        lines = path.read_text().splitlines()
        header, rows = lines[0], [line for line in lines[1:] if not line.startswith(PARTIAL_DAY)]
        body = "\n".join([header, *rows]) + "\n"
        # mtime=0 keeps the archive byte-identical between runs
        with gzip.GzipFile(target / f"{symbol}.csv.gz", "wb", mtime=0, compresslevel=9) as handle:
            handle.write(body.encode())
        print(f"{symbol}: {len(rows)} rows, {rows[0][:10]} to {rows[-1][:10]}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent.parent / "src/mltrain/data/embedded")
