"""The data store: imported series under the mltrain home, falling back to the embedded history."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..fsutil import atomic_write_bytes, atomic_write_json, read_json
from ..paths import Home, embedded_data_dir
from . import readers, validate

IMPORT_MODES = ("replace", "merge")
STALE_DATA_DAYS = 2  # yesterday's candle is the newest closed one; older than this, the data is behind


@dataclass
class Series:
    """One symbol's daily candles, indexed by UTC date."""

    symbol: str
    frame: pd.DataFrame
    source: str  # "embedded" or the imported file's path
    has_ohlc: bool
    meta: dict = field(default_factory=dict)

    @property
    def estimator(self) -> str:
        return "garman_klass" if self.has_ohlc else "close_to_close"


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 of the candles as CSV: changes whenever any value or date changes."""
    return hashlib.sha256(frame.to_csv(float_format="%.10g").encode()).hexdigest()[:16]


def _read_store_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, parse_dates=["date"], index_col="date")
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    return frame.astype("float64")


class DataStore:
    """Imported series live in HOME/data as SYMBOL.json (meta, written last) plus a content-named CSV."""

    def __init__(self, home: Home, today: pd.Timestamp | None = None):
        self.root = home.data_store
        self._today = today  # the current UTC day; injected by tests, else read from the clock

    @property
    def today(self) -> pd.Timestamp:
        return self._today if self._today is not None else pd.Timestamp(datetime.now(timezone.utc).date())

    # ---------------------------------------------------------------- reading
    def embedded_symbols(self) -> list[str]:
        return sorted(p.name.split(".")[0] for p in embedded_data_dir().glob("*.csv.gz"))

    def imported_symbols(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json") if not p.name.startswith("."))

    def symbols(self) -> list[str]:
        return sorted(set(self.embedded_symbols()) | set(self.imported_symbols()))

    def require(self, symbols: list[str], why: str) -> None:
        """Fail before any work when a symbol has no data; `why` says where the symbol came from."""
        known = self.symbols()
        for symbol in symbols:
            if symbol not in known:
                from ..textutil import suggest
                raise DataError(f"no data for symbol {symbol!r} ({why}); available: {', '.join(known)}."
                                f"{suggest(symbol, known)} Import some with `mltrain data import FILE --symbol {symbol}`")

    def stale(self, symbols: list[str]) -> list[tuple[str, pd.Timestamp, int]]:
        """(symbol, newest candle, its age in days) for each symbol whose data is behind today."""
        out = []
        for symbol in symbols:
            last = self.load(symbol).frame.index[-1]
            if (self.today - last).days > STALE_DATA_DAYS:
                out.append((symbol, last, (self.today - last).days))
        return out

    def load(self, symbol: str) -> Series:
        """The imported series if there is one, else the embedded one."""
        meta_path = self.root / f"{symbol}.json"
        if meta_path.is_file():
            meta = read_json(meta_path)
            csv_path = self.root / meta["file"]
            if not csv_path.is_file():
                raise DataError(f"data store file {csv_path} is missing; re-import {symbol}")
            frame = _read_store_csv(csv_path)
            return Series(symbol, frame, meta.get("source", str(csv_path)), bool(meta.get("has_ohlc", True)), meta)
        embedded = embedded_data_dir() / f"{symbol}.csv.gz"
        if embedded.is_file():
            frame = pd.read_csv(embedded, parse_dates=["timestamp"], index_col="timestamp")
            frame.index = pd.DatetimeIndex(frame.index, name="date")
            return Series(symbol, frame.astype("float64"), "embedded", True,
                          {"source": "embedded", "origin": "Binance spot daily klines, USDT pair"})
        known = self.symbols()
        from ..textutil import suggest
        raise DataError(f"no data for symbol {symbol!r}; available: {', '.join(known)}.{suggest(symbol, known)} "
                        "Import some with `mltrain data import FILE --symbol SYMBOL`")

    def summary(self, symbol: str) -> dict:
        series = self.load(symbol)
        frame = series.frame
        return {
            "symbol": symbol, "source": series.source, "first": str(frame.index[0].date()),
            "last": str(frame.index[-1].date()), "rows": int(len(frame)),
            "missing_days": validate.missing_days(frame), "ohlc": series.has_ohlc,
            "aggregated": bool(series.meta.get("aggregated", False)),
        }

    # ---------------------------------------------------------------- writing
    def save(self, symbol: str, frame: pd.DataFrame, meta: dict) -> None:
        """Write the CSV under a content name, then the meta JSON: the meta rename is the commit."""
        buffer = io.StringIO()
        frame.to_csv(buffer, index_label="date", float_format="%.10g")
        data = buffer.getvalue().encode()
        name = f"{symbol}-{hashlib.sha256(data).hexdigest()[:12]}.csv"
        old = self.root / f"{symbol}.json"
        old_file = read_json(old).get("file") if old.is_file() else None
        atomic_write_bytes(self.root / name, data)
        atomic_write_json(old, {**meta, "file": name})
        if old_file and old_file != name:
            (self.root / old_file).unlink(missing_ok=True)

    def _drop_unfinished_day(self, path: Path, frame: pd.DataFrame, report: validate.CleanReport) -> pd.DataFrame:
        """A candle for today (UTC) is still forming: its high, low and close would change, so it is not stored."""
        today = self.today
        if frame.index[-1] > today:
            raise DataError(f"{path}: candle dated {frame.index[-1].date()} is after today ({today.date()}, UTC); "
                            "check the file's timestamps and time zone")
        if frame.index[-1] == today:
            frame = frame.iloc[:-1]
            report.notes.append(f"dropped the {today.date()} candle: that UTC day has not closed yet")
            if frame.empty:
                raise DataError(f"{path}: the only candle is today's ({today.date()}, UTC), which has not closed yet")
        return frame

    def import_file(self, path: Path, symbol: str, fmt: str = "auto", mode: str = "replace") -> dict:
        """Validate a file and store it; nothing changes unless all of it is valid."""
        from ..config import SYMBOL_RE
        if not SYMBOL_RE.fullmatch(symbol):  # ASCII, at most 20, no trailing newline
            raise DataError(f"symbol {symbol!r} must be upper-case letters and digits, e.g. BTC")
        if mode not in IMPORT_MODES:
            raise DataError(f"unknown import mode {mode!r}; allowed: {', '.join(IMPORT_MODES)}")
        raw, used = readers.read_file(path, fmt)
        frame, has_ohlc, report = validate.clean(str(path), raw)
        frame = self._drop_unfinished_day(path, frame, report)
        if mode == "merge" and (self.root / f"{symbol}.json").is_file():
            current = self.load(symbol)
            if current.has_ohlc != has_ohlc:
                raise DataError(f"{path}: cannot merge close-only and OHLC data for {symbol}; use --replace")
            overlap = frame.index.intersection(current.frame.index)
            a, b = frame.loc[overlap, ["close"]], current.frame.loc[overlap, ["close"]]
            conflict = (abs(a - b) > 1e-9 * b.abs()).any(axis=1)
            if conflict.any():
                day = overlap[conflict.to_numpy()][0].date()
                raise DataError(f"{path}: close on {day} differs from the stored {symbol} series; "
                                "use --replace to overwrite")
            frame = pd.concat([current.frame, frame.drop(overlap)]).sort_index()
        meta = {
            "symbol": symbol, "source": str(path.resolve()), "format": used, "has_ohlc": has_ohlc,
            "aggregated": report.aggregated, "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rows": int(len(frame)), "fingerprint": fingerprint(frame), "notes": report.notes, "mode": mode,
        }
        self.save(symbol, frame, meta)
        return {**self.summary(symbol), "format": used, "notes": report.notes}
