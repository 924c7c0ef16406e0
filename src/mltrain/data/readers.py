"""Read the price files users hold into one raw frame: ts (UTC), open, high, low, close, volume, row."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

FORMATS = ("auto", "generic", "binance", "yahoo", "cryptodatadownload", "coingecko", "ccxt", "parquet")
DATE_COLUMNS = ("date", "timestamp", "time", "datetime", "open_time", "unix", "snapped_at")
MAX_COLUMNS = 64  # a price file has a handful of columns; thousands is a broken or hostile file
BINANCE_COLUMNS = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_base",
    "taker_quote",
    "ignore",
]


def _sniff(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    if text.lstrip().startswith("["):
        return "ccxt"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path}: the file is empty")
    first = lines[0].lower()
    if first.startswith("http") or "cryptodatadownload" in first:
        return "cryptodatadownload"
    if first.startswith("price,") and len(lines) > 1 and lines[1].lower().startswith("ticker,"):
        return "yahoo"
    cells = [c.strip().lower() for c in first.split(",")]
    if cells and cells[0].replace(".", "", 1).isdigit() and len(cells) == 12:
        return "binance"
    if "snapped_at" in cells and "price" in cells:
        return "coingecko"
    if "adj close" in cells:
        return "yahoo"
    return "generic"


def check_widths(path: Path, header_line: int | None, width: int | None = None) -> None:
    """Refuse a row with more fields than the header (or than `width` for a file without a header) before
    pandas parses it: one 1 MB row of 100k fields would otherwise take minutes and gigabytes."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            for row in reader:
                line = reader.line_num
                if header_line is not None and line < header_line or not row:
                    continue
                if width is None:  # this is the header
                    if len(row) > MAX_COLUMNS:
                        raise DataError(
                            f"{path} line {line}: the header has {len(row)} fields; a price file "
                            f"has at most {MAX_COLUMNS} columns"
                        )
                    width = len(row)
                    continue
                if len(row) > width:
                    raise DataError(
                        f"{path} line {line}: {len(row)} fields where the header has {width}; a comma "
                        "inside a value (a decimal comma?) must be quoted or written with '.'"
                    )
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path} line {reader.line_num}: cannot read as CSV ({exc})") from exc


def _lower_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _ohlc_frame(path: Path, frame: pd.DataFrame, date_col: str, first_line: int) -> pd.DataFrame:
    """Pick the OHLCV columns by name (any order, any case); `first_line` is the file line of row 0."""
    frame = _lower_columns(frame)
    if "close" not in frame.columns:
        raise DataError(
            f"{path}: no 'close' column (found: {', '.join(frame.columns)}); "
            "a price file needs a date column plus open, high, low, close"
        )
    out = pd.DataFrame({"ts": frame[date_col]})
    for column in ("open", "high", "low", "close", "volume"):
        out[column] = pd.to_numeric(frame[column], errors="coerce") if column in frame.columns else np.nan
        if column in frame.columns:
            out[f"raw_{column}"] = frame[column]  # the text as written, for error messages
    out["row"] = np.arange(len(frame)) + first_line
    return out


def read_generic(path: Path) -> pd.DataFrame:
    check_widths(path, header_line=1)
    frame = _lower_columns(pd.read_csv(path, dtype=str))
    date_col = next((c for c in DATE_COLUMNS if c in frame.columns), None)
    if date_col is None:
        raise DataError(
            f"{path}: no date column; expected one of {', '.join(DATE_COLUMNS)} "
            f"(found: {', '.join(frame.columns)})"
        )
    return _ohlc_frame(path, frame, date_col, first_line=2)


def read_binance(path: Path) -> pd.DataFrame:
    check_widths(path, header_line=None, width=len(BINANCE_COLUMNS))
    frame = pd.read_csv(path, header=None, dtype=str)
    if frame.shape[1] != 12:
        raise DataError(f"{path}: a Binance kline file has 12 columns, found {frame.shape[1]}")
    frame.columns = BINANCE_COLUMNS
    return _ohlc_frame(path, frame, "open_time", first_line=1)


def read_yahoo(path: Path) -> pd.DataFrame:
    check_widths(path, header_line=1)
    lines = path.read_text().lstrip("\ufeff").splitlines()
    if lines and lines[0].lower().startswith("price,"):
        # yfinance >= 0.2.5x: "Price,Close,High,..." / "Ticker,BTC-USD,..." / "Date,,,..." then data
        names = ["date"] + [c.strip() for c in lines[0].split(",")[1:]]
        frame = pd.read_csv(io.StringIO("\n".join(lines[3:])), header=None, names=names, dtype=str)
        return _ohlc_frame(path, frame, "date", first_line=4)
    frame = pd.read_csv(path, dtype=str)  # classic: Date,Open,High,Low,Close,Adj Close,Volume
    return _ohlc_frame(path, frame, "date", first_line=2)


def read_cryptodatadownload(path: Path) -> pd.DataFrame:
    check_widths(path, header_line=2)
    frame = _lower_columns(pd.read_csv(path, skiprows=1, dtype=str))
    vols = [c for c in frame.columns if c.startswith("volume")]
    if vols:  # "Volume <BASE>" comes first, then "Volume <QUOTE>"
        frame = frame.rename(columns={vols[0]: "volume"}).drop(columns=vols[1:])
    date_col = "unix" if "unix" in frame.columns else "date"
    return _ohlc_frame(path, frame, date_col, first_line=3)


def read_coingecko(path: Path) -> pd.DataFrame:
    check_widths(path, header_line=1)
    frame = _lower_columns(pd.read_csv(path, dtype=str))
    frame = frame.rename(columns={"price": "close", "total_volume": "volume_quote"})
    frame["snapped_at"] = frame["snapped_at"].str.replace(" UTC", "", regex=False)
    snapped = pd.to_datetime(frame["snapped_at"], errors="coerce", utc=True)
    midnight = (snapped.notna() & (snapped == snapped.dt.floor("D"))).to_numpy()
    # the price snapped at 00:00 UTC is the close of the UTC day that just ended: date it by that day
    frame.loc[midnight, "snapped_at"] = (snapped[midnight] - pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d")
    out = _ohlc_frame(path, frame, "snapped_at", first_line=2)
    live = snapped.notna().to_numpy() & ~midnight  # a mid-day "current price" row: no day's close
    return out[~live]


def read_ccxt(path: Path) -> pd.DataFrame:
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) >= 5 for r in rows):
        raise DataError(
            f"{path}: CCXT OHLCV JSON must be a list of [timestamp_ms, open, high, low, close, volume]"
        )
    frame = pd.DataFrame(
        [r[:6] + [None] * (6 - len(r[:6])) for r in rows],
        columns=["timestamp", "open", "high", "low", "close", "volume"],
    )
    out = _ohlc_frame(path, frame.astype(object), "timestamp", first_line=1)
    out["row"] = np.arange(len(frame)) + 1  # JSON: the n-th candle
    return out


def read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise DataError(f"{path}: reading Parquet needs pyarrow: pip install 'mltrain[parquet]'") from exc
    frame = _lower_columns(frame.reset_index() if frame.index.name else frame)
    date_col = next((c for c in DATE_COLUMNS if c in frame.columns), None)
    if date_col is None:
        raise DataError(f"{path}: no date column; expected one of {', '.join(DATE_COLUMNS)}")
    return _ohlc_frame(path, frame, date_col, first_line=1)


READERS = {
    "generic": read_generic,
    "binance": read_binance,
    "yahoo": read_yahoo,
    "cryptodatadownload": read_cryptodatadownload,
    "coingecko": read_coingecko,
    "ccxt": read_ccxt,
    "parquet": read_parquet,
}


def read_file(path: Path, fmt: str = "auto") -> tuple[pd.DataFrame, str]:
    """Return the raw frame and the format used."""
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if not path.is_file():  # a FIFO, a device or a folder would be waited on or read without end
        what = (
            "no such file"
            if not path.exists()
            else "is a folder"
            if path.is_dir()
            else "is not a regular file (a FIFO, a device or a socket)"
        )
        raise DataError(f"{path}: {what}; give a CSV, JSON or Parquet price file")
    if fmt == "auto":
        fmt = _sniff(path)
    try:
        return READERS[fmt](path), fmt
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = found.groups()
            raise DataError(
                f"{path} line {line}: {saw} fields where the header has {expected}; a comma inside a "
                "value (a decimal comma?) must be quoted or written with '.'"
            ) from exc
        raise DataError(f"{path}: cannot read as {fmt} ({' '.join(str(exc).split())}); try --format") from exc
    except (pd.errors.EmptyDataError, UnicodeDecodeError, KeyError) as exc:
        raise DataError(f"{path}: cannot read as {fmt} ({' '.join(str(exc).split())}); try --format") from exc
