"""Small text helpers shared by the core and the face: suggestions for typos, one number format."""
from __future__ import annotations

import difflib
import re
from typing import Any


SYMBOL_RE = re.compile(r"[A-Z0-9]{1,20}")  # ASCII only, always fullmatch (no trailing newline)


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """' Did you mean X?' for the closest choice, or ''."""
    if len(word) > 100:  # no name is that long; comparing a huge input would only cost time
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def fmt(value: Any) -> str:
    """Floats with four decimals, None as '-', everything else as str()."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)
