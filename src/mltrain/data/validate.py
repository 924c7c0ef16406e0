"""Turn a raw frame into a clean daily series, or refuse it with a message naming file, row and rule."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError
from ..textutil import SYMBOL_RE

PRICE_COLUMNS = ("open", "high", "low", "close")
MAX_FILLED_GAP_DAYS = 3  # gaps up to this many missing days are filled with flat candles; longer is an error
TS_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"), (float("inf"), "ns"))


@dataclass
class CleanReport:
    dropped_duplicates: int = 0
    sorted: bool = False
    aggregated: bool = False
    notes: list[str] = field(default_factory=list)


def _unit(value: float) -> str:
    return next(unit for limit, unit in TS_UNITS if abs(value) < limit)


def parse_timestamps(where: str, ts: pd.Series, rows: pd.Series) -> pd.Series:
    """ISO strings or Unix numbers in s/ms/us/ns (decided per value; a mix of units is refused)."""
    text = ts.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        units = numeric.map(_unit)
        if units.nunique() > 1:
            first_change = int(np.argmax(units.to_numpy() != units.iloc[0]))
            raise DataError(
                f"{where} row {rows.iloc[first_change]}: timestamp unit changes from "
                f"{units.iloc[0]} to {units.iloc[first_change]} within the file; "
                "split the file or convert it to one unit"
            )
        return pd.to_datetime(numeric.astype("int64"), unit=units.iloc[0], utc=True)
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    if parsed.isna().any():
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"{where} row {rows.iloc[i]}: cannot parse date {text.iloc[i]!r}; "
            "use ISO dates (2024-01-31) or Unix seconds/milliseconds"
        )
    return parsed


def _shown(row: pd.Series, column: str) -> str:
    """The bad value as the file wrote it: a number, the unparsable text, or 'missing'."""
    if not pd.isna(row[column]):
        return str(row[column])
    text = row.get(f"raw_{column}")
    return (
        "missing"
        if text is None or pd.isna(text) or not str(text).strip()
        else f"{str(text)!r} (not a number)"
    )


def _check_prices(where: str, frame: pd.DataFrame, has_ohlc: bool) -> None:
    columns = PRICE_COLUMNS if has_ohlc else ("close",)
    for column in columns:
        values = frame[column]
        bad = values.isna() | ~np.isfinite(values) | (values <= 0)  # 'inf' and 'nan' parse as floats
        if bad.any():
            row = frame.loc[bad.idxmax()]
            raise DataError(
                f"{where} row {row['row']} ({row['ts'].date()}): {column} is {_shown(row, column)}; "
                "prices must be positive finite numbers. Fix or remove the row"
            )
    for column in [c for c in ("open", "high", "low", "volume") if c not in columns]:
        values = frame[column]  # optional: may be missing, but a value given must be a finite number
        bad = values.notna() & (~np.isfinite(values) | (values < 0))
        if bad.any():
            row = frame.loc[bad.idxmax()]
            raise DataError(
                f"{where} row {row['row']} ({row['ts'].date()}): {column} is {row[column]}; "
                "it must be a finite number, not negative. Fix or remove the row"
            )
    if has_ohlc:
        tol = 1e-9 * frame["close"]
        bad = (
            (frame["high"] < frame["low"] - tol)
            | (frame["high"] < frame[["open", "close"]].max(axis=1) - tol)
            | (frame["low"] > frame[["open", "close"]].min(axis=1) + tol)
        )
        if bad.any():
            row = frame.loc[bad.idxmax()]
            raise DataError(
                f"{where} row {row['row']} ({row['ts'].date()}): high {row['high']} and low "
                f"{row['low']} do not bracket open {row['open']} and close {row['close']}. "
                "Fix or remove the row"
            )


def clean(where: str, raw: pd.DataFrame) -> tuple[pd.DataFrame, bool, CleanReport]:
    """Return a daily frame indexed by UTC date, whether it has OHLC, and what was done."""
    report = CleanReport()
    if raw.empty:
        raise DataError(f"{where}: no rows")
    frame = raw.copy()
    frame["ts"] = parse_timestamps(where, frame["ts"], frame["row"])
    has_ohlc = bool(frame[["open", "high", "low"]].notna().any().any())
    _check_prices(where, frame, has_ohlc)
    if not frame["ts"].is_monotonic_increasing:
        frame = frame.sort_values("ts", kind="stable")
        report.sorted = True
    dup = frame["ts"].duplicated(keep=False)
    if dup.any():
        values = ["open", "high", "low", "close", "volume"]
        groups = frame[dup].groupby("ts")
        for ts, group in groups:
            if len(group[values].drop_duplicates()) > 1:
                raise DataError(
                    f"{where} rows {', '.join(map(str, group['row']))}: conflicting candles for "
                    f"{ts.date() if ts == ts.normalize() else ts.strftime('%Y-%m-%d %H:%M UTC')}; keep one of them"
                )
        before = len(frame)
        frame = frame.drop_duplicates(subset="ts", keep="first")
        report.dropped_duplicates = before - len(frame)
        report.notes.append(f"dropped {report.dropped_duplicates} identical duplicate row(s)")
    day = frame["ts"].dt.floor("D")
    if day.duplicated().any():  # several bars per UTC day: aggregate intraday bars
        frame = (
            frame.assign(day=day)
            .groupby("day")
            .agg(
                open=("open", "first"),
                high=("high", "max"),
                low=("low", "min"),
                close=("close", "last"),
                volume=("volume", lambda v: v.sum(min_count=1)),
            )
        )
        report.aggregated = True
        report.notes.append("intraday bars aggregated to UTC days")
    else:
        frame = frame.set_index(day)[["open", "high", "low", "close", "volume"]]
    frame.index = pd.DatetimeIndex(frame.index.tz_convert("UTC").tz_localize(None).normalize(), name="date")
    if report.sorted:
        report.notes.append("input was not in date order; sorted")
    return frame.astype("float64"), has_ohlc, report


EXTREME_RANGE = 10.0  # a day whose low is below a tenth of its high: a wick worth a user's look


def extreme_ranges(frame: pd.DataFrame, ratio: float = EXTREME_RANGE) -> list[dict]:
    """Days whose high is at least `ratio` x their low (e.g. LINKUSDT's 2020-03-12 print, 38519x on Binance):
    real prints, kept as the exchange gave them, but one such day enters the range-based variance as a crash
    and can decide a volatility score. Empty for close-only series."""
    if "high" not in frame or "low" not in frame:
        return []
    hl = frame["high"] / frame["low"]
    hit = hl[(hl >= ratio) & frame["low"].gt(0)]
    return [{"date": str(d.date()), "high_low": round(float(v), 1)} for d, v in hit.items()]


def missing_days(frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    span = (frame.index[-1] - frame.index[0]).days + 1
    return int(span - len(frame))


def fill_short_gaps(frame: pd.DataFrame) -> tuple[pd.DataFrame, int, str | None]:
    """Fill gaps of up to MAX_FILLED_GAP_DAYS with flat candles at the previous close (volume 0).

    History before the last longer gap is cut off; that gap is described so a window that needs
    older data can name it. Returns (filled frame, days filled, last long gap or None).
    """
    full = pd.date_range(frame.index[0], frame.index[-1], freq="D", name="date")
    if len(full) == len(frame):
        return frame, 0, None
    present = full.isin(frame.index)
    run_start, long_gap, cut = None, None, 0
    for i, ok in enumerate(np.append(present, True)):
        if not ok and run_start is None:
            run_start = i
        elif ok and run_start is not None:
            length = i - run_start
            if length > MAX_FILLED_GAP_DAYS:
                long_gap = f"{length} missing days from {full[run_start].date()} to {full[i - 1].date()}"
                cut = i
            run_start = None
    full, present = full[cut:], present[cut:]
    filled = frame.reindex(full)
    close = filled["close"].ffill()
    for column in ("open", "high", "low"):
        filled[column] = filled[column].fillna(close) if frame[column].notna().any() else np.nan
    filled["close"] = close
    filled["volume"] = filled["volume"].fillna(0.0) if frame["volume"].notna().any() else np.nan
    return filled, int((~present).sum()), long_gap


def merge_frames(
    current, frame: pd.DataFrame, has_ohlc: bool, where: str, tolerance: float, fix: str
) -> pd.DataFrame:
    """The stored series plus the new dates of `frame`; overlapping closes must agree within `tolerance`
    (relative), else DataError naming the first differing date."""
    if current.has_ohlc != has_ohlc:
        raise DataError(f"{where}: cannot merge close-only and OHLC data for {current.symbol}; {fix}")
    overlap = frame.index.intersection(current.frame.index)
    new, old = frame.loc[overlap, "close"], current.frame.loc[overlap, "close"]
    conflict = ((new - old).abs() > tolerance * old.abs()).to_numpy()
    if conflict.any():
        day = overlap[conflict][0]
        raise DataError(
            f"{where}: close on {day.date()} ({new[day]:.10g}) differs from the stored "
            f"{current.symbol} series ({old[day]:.10g}); {fix}"
        )
    return pd.concat([current.frame, frame.drop(overlap)]).sort_index()


def check_symbol(symbol: str) -> str:
    """Checked before a symbol becomes part of a file name."""
    if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
        raise DataError(f"symbol {symbol!r} must be upper-case letters and digits (at most 20), e.g. BTC")
    return symbol
