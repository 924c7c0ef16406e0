"""The data store: imported series under the mltrain home, falling back to the embedded history."""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, RegistryError
from ..fsutil import atomic_write_bytes, atomic_write_json, read_home_bytes, read_json
from ..paths import Home, embedded_data_dir
from ..textutil import SYMBOL_RE
from . import readers, validate
from .lock import symbol_lock

IMPORT_MODES = ("replace", "merge")
STALE_DATA_DAYS = 2  # yesterday's candle is the newest closed one; older than this, the data is behind
PLAIN_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}")  # no separators, not hidden, not absolute
MERGE_CLOSE_TOLERANCE = 1e-9  # relative: an import's overlapping closes must match the stored ones
LOAD_ATTEMPTS = 5  # a reader that lost a race with a writer reads the new metadata again


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
    return hashlib.sha256(candles_csv(frame).encode()).hexdigest()[:16]


CSV_FLOAT = "%.10g"
PLAIN_COLUMN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def candles_csv(frame: pd.DataFrame, index_label: str | None = None) -> str:
    """`frame.to_csv(index_label=..., float_format=CSV_FLOAT)`, byte for byte, about 3x faster for candles
    (float columns under a daily, time-zone-free date index): pandas' writer checks and formats each value
    through several layers, a cost paid on every window's fingerprint and every store write. Any other frame
    goes to pandas."""
    index = frame.index
    label = index.name if index_label is None else index_label
    plain = (
        isinstance(index, pd.DatetimeIndex)
        and index.tz is None
        and bool((index == index.normalize()).all())
        and frame.columns.is_unique
        and all(dtype == "float64" for dtype in frame.dtypes)
        and all(isinstance(c, str) and PLAIN_COLUMN_RE.fullmatch(c) for c in [*frame.columns, label or "_"])
    )
    if not plain:
        return frame.to_csv(index_label=index_label, float_format=CSV_FLOAT)
    columns = [[CSV_FLOAT % v if v == v else "" for v in frame[c].to_numpy().tolist()] for c in frame.columns]
    lines = [",".join([label or "", *frame.columns])]
    lines += map(",".join, zip(np.datetime_as_string(index.to_numpy(), unit="D").tolist(), *columns))
    return os.linesep.join(lines) + os.linesep


def _present(path: Path) -> bool:
    """Anything at `path`, a dangling link included: the plain-file reader then says what is wrong with it."""
    return path.exists() or path.is_symlink()


class _Damaged(RegistryError):
    """A stored series' file that no longer reads as written (exit 1); `bare`: without load()'s way to mend it."""

    def __init__(self, bare: str, mend: str = ""):
        super().__init__(f"{bare}; {mend}" if mend else bare)
        self.bare = bare


def _again(symbol: str, meta: dict) -> str:
    """How to mend a damaged stored series: replace it the way it was made."""
    if str(meta.get("source", "")).startswith("synthetic"):
        return f"make it again (`mltrain data synth --symbol {symbol} --replace`)"
    return f"import {symbol} again (`mltrain data import FILE --symbol {symbol}` replaces it)"


def _read_store_csv(path: Path) -> pd.DataFrame:
    # through the plain-file reader: a FIFO or a link planted in the store is refused, never waited on
    try:
        data = read_home_bytes(path)
    except RegistryError as exc:
        if isinstance(exc.__cause__, FileNotFoundError):  # a writer's race: load() reads the meta again
            raise FileNotFoundError(path) from None
        raise
    # save() names the file by its content's digest: a file changed since (truncated, edited) is named here,
    # never read as a shorter history or a row of NaN
    named = re.fullmatch(r"[A-Za-z0-9]+-([0-9a-f]{12})\.csv", path.name)
    if named and hashlib.sha256(data).hexdigest()[:12] != named.group(1):
        raise _Damaged(f"data store file {path} has changed since it was written (truncated or edited)")
    try:
        frame = pd.read_csv(io.BytesIO(data), parse_dates=["date"], index_col="date")
        frame.index = pd.DatetimeIndex(frame.index, name="date")
        if frame.empty:  # a header alone (a hand-named file: save() never writes one)
            raise ValueError("no candles")
        return frame.astype("float64")
    except (ValueError, KeyError, TypeError, pd.errors.ParserError) as exc:
        raise _Damaged(f"data store file {path} cannot be read ({type(exc).__name__})") from None


@lru_cache(maxsize=64)
def _embedded_frame(path: Path, mtime_ns: int, size: int) -> pd.DataFrame:
    """The packaged history, parsed once per process while the file is unchanged: a promotion check reads every
    series once per fold to fingerprint it, and decompressing and parsing were most of a small run's reads.
    Callers get a copy (load), so none can change what the next one reads."""
    frame = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    return frame.astype("float64")


class DataStore:
    """Imported series live in HOME/data as SYMBOL.json (meta, written last) plus a content-named CSV."""

    def __init__(self, home: Home, today: pd.Timestamp | None = None):
        self.root = home.data_store
        self._today = today  # the current UTC day; injected by tests, else read from the clock

    @property
    def today(self) -> pd.Timestamp:
        return self._today if self._today is not None else pd.Timestamp(datetime.now(UTC).date())

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

                raise DataError(
                    f"no data for symbol {symbol!r} ({why}); available: {', '.join(known)}."
                    f"{suggest(symbol, known)} Import some with `mltrain data import FILE --symbol {symbol}`"
                )

    def stale(self, symbols: list[str]) -> list[tuple[str, pd.Timestamp, int]]:
        """(symbol, newest candle, its age in days) for each symbol whose data is behind today."""
        out = []
        for symbol in symbols:
            last = self.load(symbol).frame.index[-1]
            if (self.today - last).days > STALE_DATA_DAYS:
                out.append((symbol, last, (self.today - last).days))
        return out

    def meta_path(self, symbol: str) -> Path:
        return self.root / f"{symbol}.json"

    def data_file(self, symbol: str, meta: dict) -> Path:
        """The CSV the metadata names, checked to be a plain file name inside the store (never a path)."""
        name = meta.get("file") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not PLAIN_NAME_RE.fullmatch(name) or ".." in name:
            what = f"names file {str(name)[:80]!r}, which is not a plain file name inside {self.root}"
            raise DataError(
                f"data store metadata {self.meta_path(symbol)} "
                f"{what if isinstance(meta, dict) else 'is not a JSON object'}; remove it and "
                f"{_again(symbol, meta if isinstance(meta, dict) else {})}"
            )
        return self.root / name

    def load(self, symbol: str) -> Series:
        """The imported series if there is one, else the embedded one."""
        meta_path = self.meta_path(symbol)
        for attempt in range(LOAD_ATTEMPTS if SYMBOL_RE.fullmatch(symbol) else 0):
            if not _present(meta_path):
                break
            meta = read_json(meta_path)
            csv_path = self.data_file(symbol, meta)
            try:
                frame = _read_store_csv(csv_path)
            except FileNotFoundError:
                # a writer committed a new series between our two reads and removed the old file: read again
                if attempt + 1 < LOAD_ATTEMPTS and read_json(meta_path).get("file") != meta.get("file"):
                    continue
                # a damaged store (exit 1, as a registry file): a replacing import or synth mends it
                raise _Damaged(f"data store file {csv_path} is missing", _again(symbol, meta)) from None
            except _Damaged as exc:
                raise _Damaged(exc.bare, _again(symbol, meta)) from None
            return Series(
                symbol, frame, meta.get("source", str(csv_path)), bool(meta.get("has_ohlc", True)), meta
            )
        embedded = embedded_data_dir() / f"{symbol}.csv.gz"
        if SYMBOL_RE.fullmatch(symbol) and embedded.is_file():
            stat = embedded.stat()
            return Series(
                symbol,
                _embedded_frame(embedded, stat.st_mtime_ns, stat.st_size).copy(),
                "embedded",
                True,
                {"source": "embedded", "origin": "Binance spot daily klines, USDT pair"},
            )
        known = self.symbols()
        from ..textutil import suggest

        raise DataError(
            f"no data for symbol {symbol!r}; available: {', '.join(known)}.{suggest(symbol, known)} "
            "Import some with `mltrain data import FILE --symbol SYMBOL`"
        )

    def has(self, symbol: str) -> bool:
        """Whether the store serves something for `symbol` (an import or the embedded history)."""
        return bool(SYMBOL_RE.fullmatch(symbol)) and (
            _present(self.meta_path(symbol)) or (embedded_data_dir() / f"{symbol}.csv.gz").is_file()
        )

    def summary(self, symbol: str) -> dict:
        series = self.load(symbol)
        frame = series.frame
        return {
            "symbol": symbol,
            "source": series.source,
            "first": str(frame.index[0].date()),
            "last": str(frame.index[-1].date()),
            "rows": int(len(frame)),
            "missing_days": validate.missing_days(frame),
            "extreme_ranges": validate.extreme_ranges(frame) if series.has_ohlc else [],
            "ohlc": series.has_ohlc,
            "aggregated": bool(series.meta.get("aggregated", False)),
        }

    # ---------------------------------------------------------------- writing
    @contextmanager
    def lock(
        self, symbol: str, command: str, wait: bool = False, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """One writer per symbol for a whole read-modify-write; busy -> LockBusyError (exit 2) unless `wait`."""
        validate.check_symbol(symbol)
        with symbol_lock(self.root, symbol, command, wait, on_wait):
            yield

    def save(
        self,
        symbol: str,
        frame: pd.DataFrame,
        meta: dict,
        wait: bool = False,
        command: str = "data store write",
        regimes: bool = False,
    ) -> None:
        """Write the CSV under a new content name, then the meta JSON (the rename that commits), then remove
        the old CSV: a reader sees the old series or the new one, never a missing or half-written file.
        `regimes`: the caller has just written the series' true regimes (save_synthetic); else they go."""
        data = candles_csv(frame, index_label="date").encode()
        name = f"{symbol}-{hashlib.sha256(data).hexdigest()[:12]}.csv"
        with self.lock(symbol, command, wait):
            meta_path = self.meta_path(symbol)
            if _present(meta_path):  # a FIFO or a link here is refused by read_json, never replaced
                self.data_file(
                    symbol, read_json(meta_path)
                )  # a tampered metadata is refused before any change
            atomic_write_bytes(self.root / name, data)  # a new name: the file the old meta names stays intact
            atomic_write_json(meta_path, {**meta, "file": name})
            if not regimes:  # a synthetic market's true regimes describe the series this one replaced
                (self.root / f"{symbol}.regimes.csv").unlink(missing_ok=True)
            # only this symbol's own content-named files (the old one and any a crash left) are removed;
            # unlink removes a link itself, never its target
            for path in self.root.glob(f"{symbol}-*.csv"):
                if path.name != name and re.fullmatch(rf"{symbol}-[0-9a-f]{{12}}\.csv", path.name):
                    path.unlink(missing_ok=True)

    def save_synthetic(
        self,
        symbol: str,
        frame: pd.DataFrame,
        regimes_csv: str,
        meta: dict,
        wait: bool = False,
        on_wait: Callable[[str], None] | None = None,
        replace: bool = False,
    ) -> None:
        """A synthetic market and its true regimes (SYMBOL.regimes.csv), written under one lock. It replaces
        only a synthetic series unless `replace`: a real one (imported, fetched or embedded) is kept."""
        with self.lock(symbol, "data synth", wait, on_wait):
            if _present(self.meta_path(symbol)):  # a damaged metadata is refused before anything is written
                self.data_file(symbol, read_json(self.meta_path(symbol)))
            held = self.load(symbol).source if self.has(symbol) and not replace else "synthetic"
            if not held.startswith("synthetic"):
                raise DataError(
                    f"data synth --symbol {symbol}: the store holds real {symbol} data ({held}); give another "
                    "--symbol, or --replace to put the synthetic market in its place"
                )
            atomic_write_bytes(self.root / f"{symbol}.regimes.csv", regimes_csv.encode())
            self.save(symbol, frame, meta, regimes=True)

    def _drop_unfinished_day(
        self, path: Path, frame: pd.DataFrame, report: validate.CleanReport
    ) -> pd.DataFrame:
        """A candle for today (UTC) is still forming: its high, low and close would change, so it is not stored."""
        today = self.today
        if frame.index[-1] > today:
            raise DataError(
                f"{path}: candle dated {frame.index[-1].date()} is after today ({today.date()}, UTC); "
                "check the file's timestamps and time zone"
            )
        if frame.index[-1] == today:
            frame = frame.iloc[:-1]
            report.notes.append(f"dropped the {today.date()} candle: that UTC day has not closed yet")
            if frame.empty:
                raise DataError(
                    f"{path}: the only candle is today's ({today.date()}, UTC), which has not closed yet"
                )
        return frame

    def import_file(
        self,
        path: Path,
        symbol: str,
        fmt: str = "auto",
        mode: str = "replace",
        wait: bool = False,
        on_wait: Callable[[str], None] | None = None,
    ) -> dict:
        """Validate a file and store it; nothing changes unless all of it is valid.

        merge: add the file's new dates to whatever the store serves for the symbol (the embedded history
        included); overlapping closes must agree. replace: the file becomes the series; the result says how
        many stored days that discards."""
        validate.check_symbol(symbol)
        if mode not in IMPORT_MODES:
            raise DataError(f"unknown import mode {mode!r}; allowed: {', '.join(IMPORT_MODES)}")
        raw, used = readers.read_file(path, fmt)  # parse outside the lock: it can take a while
        frame, has_ohlc, report = validate.clean(str(path), raw)
        frame = self._drop_unfinished_day(path, frame, report)
        with self.lock(symbol, f"data import --{mode}", wait, on_wait):
            try:
                current = self.load(symbol) if self.has(symbol) else None
            except RegistryError as exc:  # a damaged stored series: replacing it is the way out
                if mode == "merge" or not _present(self.meta_path(symbol)):
                    raise
                current = None
                report.notes.append(f"replaced a damaged stored series: {getattr(exc, 'bare', exc)}")
            previous = len(current.frame) if current else 0
            carried = {}
            if mode == "merge" and current is not None:
                frame = validate.merge_frames(
                    current, frame, has_ohlc, str(path), MERGE_CLOSE_TOLERANCE, "use --replace to overwrite"
                )
                carried = {k: current.meta[k] for k in ("exchange", "market", "quote") if k in current.meta}
                carried["merged_onto"] = current.meta.get("merged_onto", current.source)
            discarded = 0 if current is None else int(len(current.frame.index.difference(frame.index)))
            if discarded:
                report.notes.append(
                    f"replaced the stored {symbol} series ({current.source}); {discarded} stored "
                    "day(s) not in this file were discarded"
                )
            meta = {
                "symbol": symbol,
                "source": str(path.resolve()),
                "format": used,
                "has_ohlc": has_ohlc,
                "aggregated": report.aggregated,
                "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows": int(len(frame)),
                "fingerprint": fingerprint(frame),
                "notes": report.notes,
                "mode": mode,
                **carried,
            }
            self.save(symbol, frame, meta)
            return {
                **self.summary(symbol),
                "format": used,
                "notes": report.notes,
                "previous_rows": previous,
                "added_rows": int(len(frame.index.difference(current.frame.index)))
                if current
                else len(frame),
                "discarded_rows": discarded,
            }
