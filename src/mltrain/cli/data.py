"""mltrain data import|list|show|synth."""
from __future__ import annotations

from pathlib import Path

import typer

from ..errors import UsageError
from . import complete, render
from .common import JSON_OPT, env, run, store

app = typer.Typer(help="Price history: embedded, imported and synthetic series.", no_args_is_help=True)


@app.command("import")
def data_import(
    file: Path = typer.Argument(..., help="CSV, JSON or Parquet price file."),
    symbol: str = typer.Option(..., "--symbol", help="Upper-case symbol to store it as, e.g. BTC."),
    fmt: str = typer.Option("auto", "--format", help="auto, generic, binance, yahoo, cryptodatadownload, "
                                                      "coingecko, ccxt or parquet."),
    merge: bool = typer.Option(False, "--merge",
                               help="Add new dates to the stored series; overlapping dates must "
                                                      "agree on close, else the import fails and nothing "
                                                      "changes."),
    replace: bool = typer.Option(False, "--replace", help="Replace the stored series whole (the default)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Validate a price file and store it; an imported symbol takes precedence over the embedded one.

    A failed import changes nothing."""
    def body() -> dict:
        if merge and replace:
            raise UsageError("--merge and --replace exclude each other")
        return store().import_file(file, symbol, fmt, "merge" if merge else "replace")

    def show(d: dict) -> None:
        print(f"imported {d['symbol']} ({d['format']}): {render.plural(d['rows'], 'day')} {d['first']} to "
              f"{d['last']}, {render.plural(d['missing_days'], 'missing day')}"
              + (f"; {'; '.join(d['notes'])}" if d["notes"] else ""), file=env().stdout)
    run(as_json, body, show)


@app.command("list")
def data_list(as_json: bool = JSON_OPT) -> None:
    """Every symbol with its source, first and last date, rows and missing days."""
    def body() -> list:
        found = store()
        return [found.summary(s) for s in found.symbols()]

    def show(rows: list) -> None:
        render.table("price history", ["symbol", "source", "first", "last", "rows", "missing days", "ohlc"],
                     [[r["symbol"], r["source"], r["first"], r["last"], r["rows"], r["missing_days"],
                       r["ohlc"]]
                      for r in rows], env().stdout, drop=("ohlc", "source"), whole=("first", "last"))
    run(as_json, body, show)


@app.command("show")
def data_show(symbol: str = typer.Argument(..., help="Symbol, e.g. BTC (stored or embedded).",
                                          autocompletion=complete.symbols),
              rows: int = typer.Option(5, "--rows", help="Candles to show."),
              as_json: bool = JSON_OPT) -> None:
    """A symbol's summary and its last candles."""
    def body() -> dict:
        import math

        found = store()
        summary = found.summary(symbol)
        frame = found.load(symbol).frame.tail(rows)
        candles = [{"date": str(d.date()), **{k: (None if math.isnan(v) else v) for k, v in r.items()}}
                   for d, r in zip(frame.index, frame.to_dict("records"))]
        return {**summary, "candles": candles, "last_candle": candles[-1]}

    def show(d: dict) -> None:
        print(f"{d['symbol']}: {d['source']}, {d['first']} to {d['last']}, "
              f"{render.plural(d['rows'], 'row')}, "
              f"{render.plural(d['missing_days'], 'missing day')}", file=env().stdout)
        render.table(None, ["date", "open", "high", "low", "close", "volume"],
                     [[c["date"], c["open"], c["high"], c["low"], c["close"],
                       c["volume"]] for c in d["candles"]],
                     env().stdout, drop=("volume", "open"), whole=("close",))
    run(as_json, body, show)


@app.command("synth")
def data_synth(symbol: str = typer.Option("SYN", "--symbol", help="Symbol to store the market as."),
               days: int = typer.Option(2000, "--days", help="Days of prices to generate (300..20000)."),
               seed: int = typer.Option(7, "--seed",
                                        help="Random seed; the same seed gives the same market."),
               as_json: bool = JSON_OPT) -> None:
    """Generate a regime-switching market with known regimes and store it like an import."""
    def body() -> dict:
        from ..data.synth import store_synthetic
        return store_synthetic(store(), symbol, days, seed)

    run(as_json, body,
        lambda d: print(f"stored {d['symbol']}: {render.plural(d['rows'], 'synthetic day')} "
                        f"(seed {d['seed']}); "
                                       f"true regimes in {d['true_regimes']}", file=env().stdout))
