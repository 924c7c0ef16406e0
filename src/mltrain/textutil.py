"""Small text helpers shared by the core and the face: suggestions for typos, one number format."""

from __future__ import annotations

import difflib
import math
import re
from decimal import Decimal
from typing import Any

SYMBOL_RE = re.compile(r"[A-Z0-9]{1,20}")  # ASCII only, always fullmatch (no trailing newline)


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """' Did you mean X?' for the closest choice, or ''."""
    if len(word) > 100:  # no name is that long; comparing a huge input would only cost time
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def fmt(value: Any) -> str:
    """One number format by magnitude: a short value (a setting such as 0.00015) exactly as given, a long
    computed one to four decimals (four significant digits below 0.001), floats from 10,000 with thousands
    separators; None as '-'."""
    if isinstance(value, bool) or not isinstance(value, float):
        return "-" if value is None else str(value)
    if not math.isfinite(value):
        return str(value)
    exact = Decimal(repr(value)).normalize()  # 125000.0 -> 1.25E+5: three significant digits
    if len(exact.as_tuple().digits) <= 6:  # a value someone typed: never round it away
        return f"{exact:,f}" if abs(value) >= 10_000 else f"{exact:f}"
    if abs(value) >= 10_000:
        return f"{value:,.2f}"
    if abs(value) >= 0.001:
        return f"{value:.4f}"
    return f"{value:.4g}"  # 0.0001235: four significant digits, not 0.0001


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 day', '2 days' (a given plural for irregular nouns)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # always fullmatch: the one date format of every flag


def parse_day(text: str, flag: str):
    """A day given on the command line as YYYY-MM-DD (a datetime.date); anything else (01/02/2026, 20260102,
    2026-W01) is refused with an example, never read one way silently."""
    import datetime

    from .errors import UsageError

    try:
        if DAY_RE.fullmatch(str(text)):
            return datetime.date.fromisoformat(str(text))
    except ValueError:
        pass
    raise UsageError(f"{flag} {text!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-02")
