"""Walk-forward evaluation: rolling windows whose validation blocks tile the most recent history."""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from .config import TrainingConfig
from .data.store import DataStore
from .paths import Home
from .pipeline import regime_symbol, train_regime, train_volatility

VOL_FORECASTERS = ("model", "persistence", "ewma", "har")


def fold_ends(last: pd.Timestamp, config: TrainingConfig, folds: int) -> list[pd.Timestamp]:
    """Fold k ends one validation block before fold k+1; the newest fold ends at `last`."""
    val_days = config.days - int(round(config.days * config.train_val_split))
    return [last - pd.Timedelta(days=val_days * k) for k in reversed(range(folds))]


def _one_fold(args: tuple) -> dict:
    home_root, kind, name, config_json, seed, end = args
    config = TrainingConfig.model_validate_json(config_json)
    store = DataStore(Home(home_root))
    if kind == "volatility":
        run = train_volatility(store, config, seed=seed, device="cpu", end=end)
    else:
        run = train_regime(store, config, regime_symbol(name), seed=seed, device="cpu", end=end)
    windows = {s: {"train_first": w["first"], "last": w["last"]} for s, w in run.windows.items()}
    val = {s: {"first": p["dates"][0], "last": p["dates"][-1]} for s, p in run.predictions.items()}
    return {"end": str(end.date()), "windows": windows, "validation": val, "metrics": run.metrics,
            "baselines": run.baselines, "predictions": run.predictions}


def walk_forward(home: Home, kind: str, name: str, config: TrainingConfig, folds: int, seed: int,
                 workers: int = 1) -> dict:
    """Train and score each fold with the same rules as `train`; nothing touches the registry."""
    store = DataStore(home)
    if kind == "volatility":
        from .pipeline import volatility_data
        last = pd.Timestamp(volatility_data(store.load(config.symbols[0]), config).window.last)
    else:
        from .pipeline import regime_data
        last = pd.Timestamp(regime_data(store.load(regime_symbol(name)), config).window.last)
    jobs = [(home.root, kind, name, config.model_dump_json(), seed, end) for end in fold_ends(last, config, folds)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_one_fold, jobs))
    else:
        results = [_one_fold(job) for job in jobs]
    return {"model_name": name, "model_type": kind, "folds": results, "summary": summarize(kind, results),
            "scheme": "rolling window of `days` samples; each fold's validation block follows the previous one"}


def summarize(kind: str, folds: list[dict]) -> dict:
    if kind == "regime":
        out = {}
        for who in ("model", "majority", "rule"):
            scores = [f["metrics"] if who == "model" else f["baselines"][who] for f in folds]
            out[who] = {"balanced_accuracy": round(float(np.mean([s["balanced_accuracy"] for s in scores])), 4),
                        "macro_f1": round(float(np.mean([s["macro_f1"] for s in scores])), 4)}
        return out
    per_symbol = {}
    for symbol in folds[0]["metrics"]["symbols"]:
        ranks, wins = [], 0
        for f in folds:
            qlikes = {"model": f["metrics"]["symbols"][symbol]["qlike"],
                      **{b: f["baselines"][b][symbol]["qlike"] for b in f["baselines"]}}
            order = sorted(qlikes, key=qlikes.get)
            ranks.append(order.index("model") + 1)
            wins += qlikes["model"] < min(v for k, v in qlikes.items() if k != "model")
        per_symbol[symbol] = {"mean_qlike_rank": round(float(np.mean(ranks)), 2), "folds_beating_best_baseline": wins,
                              "folds": len(folds),
                              "mean_r2": {k: round(float(np.mean([(f["metrics"]["symbols"] if k == "model" else
                                                                   f["baselines"][k])[symbol]["r2"] for f in folds])), 4)
                                          for k in VOL_FORECASTERS}}
    return per_symbol
