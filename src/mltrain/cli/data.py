"""mltrain data import|update|list|show|synth."""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path
from typing import Optional

import typer

from ..errors import UsageError
from . import complete, render
from .common import JSON_OPT, env, run, seed_option, store, warn

app = typer.Typer(
    help="Price history: embedded, imported, fetched and synthetic series.", no_args_is_help=True
)
WAIT_OPT = typer.Option(False, "--wait", help="Wait for another writer of the symbol instead of exiting 2.")


def _say_err(message: str) -> None:
    print(message, file=env().stderr)


@app.command("import")
def data_import(
    file: Path = typer.Argument(..., help="CSV, JSON or Parquet price file."),
    symbol: str = typer.Option(..., "--symbol", help="Upper-case symbol to store it as, e.g. BTC."),
    fmt: str = typer.Option(
        "auto",
        "--format",
        help="auto, generic, binance, yahoo, cryptodatadownload, coingecko, ccxt or parquet.",
    ),
    merge: bool = typer.Option(
        False,
        "--merge",
        help="Add new dates to the stored series; overlapping dates must "
        "agree on close, else the import fails and nothing "
        "changes.",
    ),
    replace: bool = typer.Option(False, "--replace", help="Replace the stored series whole (the default)."),
    wait: bool = WAIT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Validate a price file and store it; an imported symbol takes precedence over the embedded one.

    --merge adds to whatever the store serves for the symbol (the embedded history included). A failed
    import changes nothing."""

    def body() -> dict:
        if merge and replace:
            raise UsageError("--merge and --replace exclude each other")
        return store().import_file(
            file, symbol, fmt, "merge" if merge else "replace", wait=wait, on_wait=_say_err
        )

    def show(d: dict) -> None:
        render.paragraph(
            f"imported {d['symbol']} ({d['format']}): {render.plural(d['rows'], 'day')} {d['first']} to "
            f"{d['last']} ({d['added_rows']} new), {render.plural(d['missing_days'], 'missing day')}"
            + (f"; {'; '.join(d['notes'])}" if d["notes"] else ""),
            env().stdout,
        )

    run(as_json, body, show)


@app.command("list")
def data_list(as_json: bool = JSON_OPT) -> None:
    """Every symbol with its source, first and last date, rows and missing days."""

    def body() -> list:
        from ..errors import MltrainError

        found, rows = store(), []
        for symbol in found.symbols():
            try:
                rows.append(found.summary(symbol))
            except MltrainError as exc:  # one damaged series hides no other, as in models list
                warn(str(exc))
        return rows

    def show(rows: list) -> None:
        render.table(
            "price history",
            ["symbol", "source", "first", "last", "rows", "missing days", "extreme days", "ohlc"],
            [
                [
                    r["symbol"],
                    r["source"],
                    r["first"],
                    r["last"],
                    r["rows"],
                    r["missing_days"],
                    len(r["extreme_ranges"]),
                    r["ohlc"],
                ]
                for r in rows
            ],
            env().stdout,
            drop=("ohlc", "source", "extreme days"),
            whole=("first", "last"),
        )
        if any(r["extreme_ranges"] for r in rows):
            render.paragraph(
                "extreme days: high at least 10x the low (`mltrain data show SYMBOL` lists them); kept as "
                "the source printed them, but one inside a run's days enters its range-based variance as a "
                "crash",
                env().stdout,
            )

    run(as_json, body, show)


@app.command("show")
def data_show(
    symbol: str = typer.Argument(
        ..., help="Symbol, e.g. BTC (stored or embedded).", autocompletion=complete.symbols
    ),
    rows: int = typer.Option(5, "--rows", help="Candles to show."),
    as_json: bool = JSON_OPT,
) -> None:
    """A symbol's summary and its last candles."""

    def body() -> dict:
        import math

        found = store()
        summary = found.summary(symbol)
        frame = found.load(symbol).frame.tail(rows)
        candles = [
            {"date": str(d.date()), **{k: (None if math.isnan(v) else v) for k, v in r.items()}}
            for d, r in zip(frame.index, frame.to_dict("records"))
        ]
        return {**summary, "candles": candles, "last_candle": candles[-1]}

    def show(d: dict) -> None:
        render.paragraph(
            f"{d['symbol']}: {d['source']}, {d['first']} to {d['last']}, "
            f"{render.plural(d['rows'], 'row')}, "
            f"{render.plural(d['missing_days'], 'missing day')}",
            env().stdout,
        )
        if d["extreme_ranges"]:
            days = ", ".join(f"{x['date']} ({x['high_low']:,g}x)" for x in d["extreme_ranges"])
            render.paragraph(
                f"extreme days (high at least 10x the low): {days}; kept as the source printed them, but one "
                "inside a run's days enters its range-based variance as a crash and can decide a volatility "
                "score",
                env().stdout,
            )
        render.table(
            None,
            ["date", "open", "high", "low", "close", "volume"],
            [[c["date"], c["open"], c["high"], c["low"], c["close"], c["volume"]] for c in d["candles"]],
            env().stdout,
            drop=("volume", "open"),
            whole=("close",),
        )

    run(as_json, body, show)


@app.command("synth")
def data_synth(
    symbol: str = typer.Option("SYN", "--symbol", help="Symbol to store the market as."),
    days: int = typer.Option(2000, "--days", help="Days of prices to generate (300..20000)."),
    seed: int = seed_option(7, "Random seed; the same seed gives the same market."),
    replace: bool = typer.Option(
        False, "--replace", help="Put it in place of real data of that symbol (refused without)."
    ),
    wait: bool = WAIT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Generate a regime-switching market with known regimes and store it like an import."""

    def body() -> dict:
        from ..data.synth import store_synthetic

        return store_synthetic(store(), symbol, days, seed, wait=wait, on_wait=_say_err, replace=replace)

    run(
        as_json,
        body,
        lambda d: print(
            f"stored {d['symbol']}: {render.plural(d['rows'], 'synthetic day')} "
            f"(seed {d['seed']}); "
            f"true regimes in {d['true_regimes']}",
            file=env().stdout,
        ),
    )


@app.command("update")
def data_update(
    symbols: Optional[list[str]] = typer.Argument(
        None,
        help="Symbols to update (default: every symbol fetched from an exchange before, else BTC ETH SOL).",
    ),
    exchange: str = typer.Option("binance", "--exchange", help="Any exchange ccxt supports."),
    quote: str = typer.Option("USDT", "--quote", help="Quote currency, e.g. USDT for BTC/USDT."),
    since: Optional[str] = typer.Option(
        None,
        "--since",
        help="First day (YYYY-MM-DD) for a symbol not stored yet; default: the exchange's first candle.",
    ),
    api_url: Optional[str] = typer.Option(
        None, "--api-url", help="The exchange's public REST base URL: for a mirror or a test server."
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Overwrite stored candles the exchange disagrees with (default: refuse, change nothing).",
    ),
    wait: bool = WAIT_OPT,
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="No progress lines on stderr (with --json they stay on stderr unless --quiet).",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Fetch closed daily candles from an exchange (ccxt) since the newest stored one; needs mltrain\\[fetch].

    Exit 1 when the exchange cannot be reached or answers garbage, 2 for an unknown exchange or market, a
    disagreeing overlap or a symbol another writer holds; the store is unchanged for any symbol that fails."""

    def body() -> list:
        return update_data(
            symbols or None,
            exchange=exchange,
            quote=quote,
            since=since,
            api_url=api_url,
            replace=replace,
            wait=wait,
            quiet=quiet,
            live=env().stderr.isatty() and not as_json,
        )

    def show(rows: list) -> None:
        render.table(
            "data update",
            ["symbol", "market", "status", "new days", "replaced", "first", "last", "rows"],
            [
                [
                    r["symbol"],
                    r["market"],
                    r["status"],
                    r["new_rows"],
                    r["replaced_rows"],
                    r["first"],
                    r["last"],
                    r["rows"],
                ]
                for r in rows
            ],
            env().stdout,
        )

    run(as_json, body, show)


def update_data(
    symbols: list[str] | None,
    *,
    exchange: str,
    quote: str,
    since: str | None,
    api_url: str | None,
    replace: bool = False,
    wait: bool = False,
    quiet: bool = False,
    live: bool = False,
) -> list:
    """The core's update_symbols with the face's progress display on stderr (a Rich bar when `live`, else
    one plain line per symbol start, page and end) and the Env's clock."""
    from datetime import datetime

    from ..data.http import limits_from_env
    from ..data.update import default_symbols, update_symbols

    e = env()
    clock = None
    if e.today is not None:  # tests fix the UTC day; noon of it, so the day's candle is still forming
        day = e.today

        def clock() -> datetime:
            return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)

    at = store()
    names = list(symbols) if symbols else default_symbols(at)
    display = render.FoldProgress(e.stderr, live=live, quiet=quiet, what="symbols")
    state: dict = {"done": 0, "days": 1, "start": None, "page": 0}

    def progress(event: dict) -> None:
        """Each symbol's start, every page and its end; the share of days fetched drives the ETA."""
        kind, symbol, total = event.get("event"), event.get("symbol"), len(names)
        if kind == "request":  # before the first answer: what is asked, and that failures are retried
            label = f"{event['what']} (up to {event['tries']} tries)"
            display({"done": state["done"], "total": total, "label": label})
        elif kind == "retry":  # a failed try is said at once, with the wait before the next one
            label = (
                f"{event['what']}: try {event['attempt']}/{event['tries']} failed ({event['error']}); "
                f"retrying in {event['wait_seconds']:g} s"
            )
            display({"done": state["done"], "total": total, "label": label})
        elif kind == "start":
            state.update(days=max(int(event.get("days", 1)), 1), start=event["from"], page=0)
            label = (
                f"{symbol}: fetching {event['market']} from {event['from']}, about {event.get('days')} days "
                f"in ~{event.get('pages')} pages"
            )
            display({"done": state["done"], "total": total, "label": label})
        elif kind == "page":
            import pandas as pd

            state["page"] += 1
            fetched = (pd.Timestamp(event["through"]) - pd.Timestamp(state["start"])).days + 1
            share = min(max(fetched / state["days"], 0.0), 0.99)  # the symbol is done when it is stored
            label = f"{symbol}: page {state['page']}, {event['candles']} candles through {event['through']}"
            display({"done": state["done"] + share, "total": total, "label": label})
        elif kind == "done":
            state["done"] += 1
            new = event.get("new_rows", 0)
            label = f"{symbol}: {event['status']}, {new} new days through {event.get('last')}"
            display({"done": state["done"], "total": total, "label": label})

    with display:
        results = update_symbols(
            at,
            names,
            exchange=exchange,
            quote=quote,
            since=since,
            api_url=api_url,
            replace=replace,
            wait=wait,
            on_progress=progress,
            clock=clock,
            on_wait=_say_err,
            limits=limits_from_env(os.environ),  # the face reads the environment, the core never does
        )
    for result in results:  # a series the exchange left stale (exit 0 still: its answer was valid)
        for line in result.get("warnings", []):
            warn(line)
    return results
