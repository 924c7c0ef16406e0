"""mltrain predict."""
from __future__ import annotations

from typing import Optional

import typer

from ..kinds import KINDS
from . import complete, render
from .common import JSON_OPT, env, registry, run, store, warn


def predict(model: str = typer.Argument(..., help="Model name in the registry.",
                                        autocompletion=complete.registered_models),
            symbol: Optional[str] = typer.Option(None, "--symbol", help="Volatility models: one symbol.",
                                                 autocompletion=complete.symbols),
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
        return data

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
            render.table(f"{model} v{d['version']}", columns, values, out, whole=("date", "regime"))
    run(as_json, body, show)
