"""Tables that fit the width without cutting a value, and nested values as key: value lines or sub-tables."""

from __future__ import annotations

import os
import re
import sys
from typing import IO, Any

from ..textutil import fmt

PIPE_WIDTH = 200  # a pipe or cron log without COLUMNS gets wide rows rather than wrapped ones
BORDER = 3  # a table column costs its width plus a border and one space of padding each side


def width(stream: IO[str]) -> int | None:
    """The width tables must fit: COLUMNS when set (terminal or pipe), else the terminal's, else
    PIPE_WIDTH."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns >= 20:
        return columns
    isatty = getattr(stream, "isatty", None)
    return None if isatty and isatty() else PIPE_WIDTH


def _lines(value: Any, indent: str = "") -> list[str]:
    """A nested value as 'key: value' lines (sub-keys indented); never a dict's repr."""
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item and not _flat_list(item):
                out += [f"{indent}{key}:", *_lines(item, indent + "  ")]
            else:
                out.append(f"{indent}{key}: {cell(item)}")
        return out or [f"{indent}-"]
    if isinstance(value, list) and not _flat_list(value):
        out = []
        for item in value:
            out += _lines(item, indent + "- ") if isinstance(item, dict) else [f"{indent}{cell(item)}"]
        return out
    return [f"{indent}{cell(value)}"]


def _flat_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)


def cell(value: Any) -> str:
    """One table cell: numbers by magnitude, lists comma-separated, nested mappings as key: value lines."""
    if isinstance(value, dict) or (isinstance(value, list) and not _flat_list(value)):
        return "\n".join(_lines(value))
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value) or "-"
    return fmt(value)


def _need(texts: list[str], whole: bool) -> int:
    """A column's narrowest width that cuts nothing: its longest line (no_wrap) or its longest word."""
    parts = (
        [line for text in texts for line in text.splitlines()]
        if whole
        else [word for text in texts for word in text.split()]
    )
    return max((len(p) for p in parts), default=1)


def _layout(
    columns: list[str],
    texts: list[list[str]],
    limit: int | None,
    drop: tuple[str, ...],
    whole: tuple[str, ...],
) -> tuple[list[int], list[str], dict[int, int], set[int], bool]:
    """Which columns to show, which were hidden, each column's narrowest uncut width, and whether it fits."""
    shown = list(range(len(columns)))
    keep = {0, *(i for i, c in enumerate(columns) if c in whole)}
    need = {
        i: max(max((len(w) for w in columns[i].split()), default=1), _need([r[i] for r in texts], i in keep))
        for i in shown
    }
    hidden: list[str] = []
    if limit is None:
        return shown, hidden, need, keep, True
    for name in drop:
        if sum(need[i] + BORDER for i in shown) + 1 <= limit:
            break
        if name in columns and columns.index(name) in shown:
            shown.remove(columns.index(name))
            hidden.append(name)
    return shown, hidden, need, keep, sum(need[i] + BORDER for i in shown) + 1 <= limit


def table(
    title: str | None,
    columns: list[str],
    rows: list[list[Any]],
    stream: IO[str] | None = None,
    *,
    drop: tuple[str, ...] = (),
    whole: tuple[str, ...] = (),
) -> None:
    """A table that fits the width without cutting a value: words wrap; the columns in `drop` (least useful
    first) go when even wrapping cannot fit, with a note; past that, one block of 'column: value' per row.
    The first column and those in `whole` (names, dates, statuses) never wrap."""
    stream = stream or sys.stdout
    texts = [[cell(v) for v in row] for row in rows]
    limit = width(stream)
    shown, hidden, need, keep, fits = _layout(columns, texts, limit, drop, whole)
    if not fits:  # no table fits: every column, one row a block
        _records(title, columns, texts, stream)
        return
    _rich_table(title, columns, texts, shown, need, keep, limit, stream)
    _hidden_note(hidden, stream)


def _widths(columns, texts, shown, need, limit) -> dict[int, int]:
    """Each column's width: its longest line, the widest shrunk first (never below what cuts no word) until
    the table fits the width; Rich's own collapse can overshoot by a few characters, so it is done here."""
    widths = {
        i: max(
            need[i], len(columns[i]), *(len(line) for row in texts for line in row[i].splitlines() or [""])
        )
        for i in shown
    }
    if limit is None:
        return widths
    while sum(widths[i] + BORDER for i in shown) + 1 > limit:
        room = [i for i in shown if widths[i] > need[i]]
        if not room:
            break
        widest = max(room, key=lambda i: widths[i] - need[i])
        widths[widest] -= 1
    return widths


def _rich_table(title, columns, texts, shown, need, keep, limit, stream) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(title=title)
    widths = _widths(columns, texts, shown, need, limit)
    for i in shown:
        justify = "right" if _numeric([row[i] for row in texts]) else "left"
        t.add_column(columns[i], no_wrap=i in keep, width=widths[i], overflow="fold", justify=justify)
    for row in texts:
        t.add_row(*[Text(row[i]) for i in shown])
    Console(file=stream, width=limit, highlight=False).print(t)


NUMBER_RE = re.compile(r"[-+]?[0-9][0-9,]*(\.[0-9]+)?(e[-+]?[0-9]+)?[*%]? ?")


def _numeric(cells: list[str]) -> bool:
    """A column of numbers (a '-' for a missing one allowed): right-aligned so the digits line up."""
    present = [c for c in cells if c.strip() not in ("-", "")]
    return bool(present) and all(NUMBER_RE.fullmatch(c) for c in present)


def paragraph(text: str, stream: IO[str]) -> None:
    """A sentence wrapped at the table width; a word longer than the width (a path) is cut at the width, so
    no line is ever wider than COLUMNS."""
    import textwrap

    lines = textwrap.wrap(
        text,
        width=width(stream) or 80,
        break_long_words=True,
        break_on_hyphens=False,
        subsequent_indent="  ",
    )
    print("\n".join(lines) or text, file=stream)


def _hidden_note(hidden: list[str], stream: IO[str]) -> None:
    if hidden:
        import textwrap

        note = f"(not shown at this width: {', '.join(hidden)}; --json has every field)"
        print("\n".join(textwrap.wrap(note, width=width(stream) or 80)), file=stream)


def _records(title: str | None, columns: list[str], rows: list[list[str]], stream: IO[str]) -> None:
    """Rows too wide for any table: one block per row, a 'column: value' line per cell."""
    import textwrap

    limit = width(stream) or 80

    def say(line: str, indent: str) -> None:  # words wrap; only a word longer than the width is cut
        print(
            "\n".join(
                textwrap.wrap(
                    line,
                    width=limit,
                    subsequent_indent=indent + "  ",
                    break_long_words=True,
                    break_on_hyphens=False,
                )
            )
            or line,
            file=stream,
        )

    if title:
        say(title, "")
    for row in rows:
        print(file=stream)
        for column, text in zip(columns, row):
            lines = text.splitlines() or ["-"]
            say(f"{column}: {lines[0]}", "")
            for line in lines[1:]:
                say(f"  {line}", "  ")


def kv(title: str, items: dict, stream: IO[str] | None = None) -> None:
    """A record as field/value rows (or 'field: value' lines when no table fits the width); a nested mapping
    becomes its own sub-table after the scalars."""
    stream = stream or sys.stdout
    flat = [[k, cell(v)] for k, v in items.items() if not isinstance(v, dict) or not v]
    limit = width(stream)
    if _layout(["field", "value"], flat, limit, (), ())[4]:
        table(title, ["field", "value"], flat, stream)
    else:
        paragraph(title, stream)
        for key, text in flat:
            lines = text.splitlines() or ["-"]
            paragraph(f"  {key}: {lines[0]}", stream)
            for line in lines[1:]:
                paragraph(f"    {line}", stream)
    for key, value in items.items():
        if isinstance(value, dict) and value:
            kv(str(key), value, stream)
