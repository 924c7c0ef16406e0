"""mltrain predict."""
from __future__ import annotations

from typing import Optional

import typer

from ..kinds import KINDS
from . import render
from .common import JSON_OPT, env, registry, run, store, warn


def predict(model: str, symbol: Optional[str] = typer.Option(None, "--symbol",
                                                             help="Volatility models: one symbol."),
            version: Optional[int] = typer.Option(None, "--version",
                                                  help="Use this version instead of production."),
            since: Optional[str] = typer.Option(None, "--since",
                                                help="Causal prediction for every date from DATE."),
            csv_out: bool = typer.Option(False, "--csv", help="Print CSV rows instead of a table."),
            as_json: bool = JSON_OPT) -> None:
    """Regime now, or volatility over the next horizon, from the current data store."""
    def body() -> dict:
        from ..predict import predict as predict_rows

        data, stale = predict_rows(registry(), store(), model, version, symbol, since)
        if stale:
            warn(stale)
        inside = [r for r in data["predictions"] if r.get("in_sample")]
        if inside and since is not None:
            warn(f"{len(inside)} of {len(data['predictions'])} rows (in_sample: true) are dates on or before "
                 f"v{data['version']}'s validation end, inside what it was fitted or selected on: an in-sample "
                 f"replay, not a backtest. An honest backtest is `mltrain evaluate {model} --folds all "
                 "--predictions FILE.csv`")
        return data

    def show(d: dict) -> None:
        out = env().stdout
        columns, values = KINDS[d["model_type"]].prediction_table(d["predictions"])
        if csv_out:
            print(",".join(columns), file=out)
            for row in values:
                print(",".join(str(v) for v in row), file=out)
        else:
            render.table(f"{model} v{d['version']}", columns,
                         [[render.fmt(v) for v in row] for row in values], out)
    run(as_json, body, show)
