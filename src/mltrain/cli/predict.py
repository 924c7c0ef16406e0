"""mltrain predict."""

from __future__ import annotations

from typing import Optional

import typer

from ..kinds import KINDS
from . import complete, render, tables
from .common import JSON_OPT, env, home, registry, run, store, warn

OOD = "out_of_distribution"


def predict(
    model: str = typer.Argument(
        ..., help="Model name in the registry.", autocompletion=complete.registered_models
    ),
    symbol: Optional[str] = typer.Option(
        None, "--symbol", help="Volatility models: one symbol.", autocompletion=complete.symbols
    ),
    version: Optional[int] = typer.Option(None, "--version", help="Use this version instead of production."),
    since: Optional[str] = typer.Option(None, "--since", help="Causal prediction for every date from DATE."),
    csv_out: bool = typer.Option(False, "--csv", help="Print CSV rows instead of a table."),
    max_age: Optional[int] = typer.Option(
        None,
        "--max-age",
        min=0,
        help="Exit 1 without predicting when the newest candle is older than DAYS (default: only warn).",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Regime now, or volatility over the next horizon, from the current data store.

    Serves the production version; a version without that status only with --version N, and labelled."""

    def body() -> dict:
        from ..predict import predict as predict_rows

        found, data_store = registry(), store()
        v, status = found.serving_version(model, version)
        if max_age is not None:
            _check_age(data_store, found.meta(model, v), symbol, max_age)
        data, stale = predict_rows(found, data_store, model, v, symbol, since)
        if stale:
            warn(stale)
        inside = [r for r in data["predictions"] if r.get("in_sample")]
        if inside and since is not None:
            warn(
                f"{len(inside)} of {len(data['predictions'])} rows (in_sample: true) are dates on or before "
                f"v{data['version']}'s validation end, inside what it was fitted or selected on: an in-sample "
                f"replay, not a backtest. An honest backtest is `mltrain evaluate {model} --folds all "
                "--predictions FILE.csv`"
            )
        if status != "production":
            warn(f"{model} v{v} is not the production version (status: {status})")
        from ..monitor import log_predictions

        log_predictions(home(), data, status)  # `mltrain models score` reads it once outcomes are known
        return {**data, "status": status}

    def show(d: dict) -> None:
        out = env().stdout
        columns, values = KINDS[d["model_type"]].prediction_table(d["predictions"])
        if "symbol" not in columns and all("symbol" in r for r in d["predictions"]):
            # every prediction table (and CSV) says which asset each row is about
            columns = ["symbol", *columns]
            values = [[r["symbol"], *row] for r, row in zip(d["predictions"], values)]
        if csv_out:
            print(",".join(columns), file=out)
            for row in values:
                print(",".join(str(v) for v in row), file=out)
        else:
            label = "" if d["status"] == "production" else f" ({d['status']})"
            one = {r.get("symbol") for r in d["predictions"]}
            flagged = any(r.get(OOD) for r in d["predictions"])
            if columns[0] == "symbol" and len(one) == 1:  # one asset: named in the title, not on every row
                columns, values, label = columns[1:], [row[1:] for row in values], f"{label}, {one.pop()}"
            render.table(
                f"{model} v{d['version']}{label}",
                columns,
                values,
                out,
                whole=("date", "regime", "network_regime"),
                # a flag that is False on every row goes before the network's verdict, a raised one after it
                drop=("in_sample", *(["network_regime", OOD] if flagged else [OOD, "network_regime"])),
            )
            for line in _what_to_do(d["predictions"]):
                tables.paragraph(line, out)

    run(as_json, body, show)


def _check_age(data_store, meta: dict, symbol: str | None, max_age: int) -> None:
    """--max-age: refuse (exit 1) before predicting when a symbol the version reads is older than DAYS."""
    from ..errors import MltrainError

    for name in [symbol] if symbol else sorted(meta.get("data_windows", {})):
        if not data_store.has(name):
            continue  # predict itself names a missing symbol
        last = data_store.load(name).frame.index[-1]
        age = (data_store.today - last).days
        if age > max_age:
            raise MltrainError(
                f"{name}: the newest candle is {last.date()}, {age} days old (UTC), older "
                f"than --max-age {max_age}; nothing was predicted. Fetch newer candles "
                "with `mltrain data update`, or import a file with `mltrain data import FILE --symbol "
                f"{name} --merge`"
            )


def _what_to_do(rows: list[dict]) -> list[str]:
    """One line per symbol from its latest row: the position the decision layer holds from that close."""
    latest = {r["symbol"]: r for r in rows}
    lines = []
    for symbol, r in latest.items():
        if r.get("exposure") is not None:
            # the decision need not be the network's most likely regime: both verdicts it combined, said
            votes = [f"{who} {r[f'{who}_regime']}" for who in ("network", "rule") if r.get(f"{who}_regime")]
            # only when the decision is not the network's own call (an older version's decision is that call,
            # and the rule played no part in it)
            split = r.get("network_regime") is not None and r["network_regime"] != r["regime"]
            why = f"; from {', '.join(votes)}" if split and votes else ""
            lines.append(
                f"{symbol} {r['date']}: hold {r['exposure']:g}x {symbol} from this close ({r['regime']}{why})"
            )
        elif r.get("weight") is not None:
            lines.append(
                f"{symbol} {r['date']}: volatility targeting holds {r['weight']:g}x {symbol} (target "
                f"{r['target_vol'] * 100:.0f}% / forecast {r['forecast_annualized_vol'] * 100:.0f}%)"
            )
    return lines
