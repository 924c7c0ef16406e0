"""Walk-forward evaluation: rolling windows whose validation blocks tile the most recent history.

Each fold trains exactly as `train` does (same purge, label and normalisation rules) on a window that
ends where its validation block ends, and scores the model beside the baselines on that block. The
registry is never changed; the caller stores the result as an evaluation record.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from contextlib import contextmanager

import numpy as np
import pandas as pd

from . import features as F
from . import metrics
from .baselines import NOT_INSTALLED, MissingExtra, garch_log_vol, hmm_regimes
from .config import TrainingConfig, regime_symbol
from .data import synth
from .data.store import DataStore, Series
from .data.validate import fill_short_gaps
from .errors import Interrupted
from .paths import Home
from .pipeline import regime_data, train_regime, train_volatility, volatility_data

SCHEME = ("rolling window of `days` samples; fold k+1's validation block starts the day after fold k's ends; "
          "the last block ends at the latest usable day")
REGIME_SCORES = ("balanced_accuracy", "macro_f1", "detection_lag_days", "changes_per_year")


def val_days(config: TrainingConfig) -> int:
    return config.days - int(round(config.days * config.train_val_split))


def fold_ends(last: pd.Timestamp, config: TrainingConfig, folds: int) -> list[pd.Timestamp]:
    """Oldest first; consecutive validation blocks are adjacent and never overlap."""
    return [last - pd.Timedelta(days=val_days(config) * k) for k in reversed(range(folds))]


def synthetic_market(config: TrainingConfig, folds: int, seed: int) -> tuple[Series, np.ndarray]:
    """A generated market just long enough for the folds, with its true regimes."""
    days = F.REGIME_WARMUP_DAYS + config.days + (folds - 1) * val_days(config) + 1
    frame, states = synth.generate(days, seed)
    return Series("SYN", frame, f"synthetic seed={seed}", True, {}), states


def _regime_scores(true: np.ndarray, pred: np.ndarray) -> dict:
    scores = metrics.classification_scores(true, pred, F.REGIMES)
    return {k: scores[k] for k in (*REGIME_SCORES, "confusion")}


def _volatility_fold(store: DataStore, config: TrainingConfig, seed: int, end: pd.Timestamp) -> dict:
    run = train_volatility(store, config, seed=seed, device="cpu", end=end)
    garch: dict = {}
    for symbol, pred in run.predictions.items():
        frame, _, _ = fill_short_gaps(store.load(symbol).frame)
        dates = pd.DatetimeIndex(pred["dates"])
        try:
            forecast = garch_log_vol(frame["close"], pd.Timestamp(run.windows[symbol]["first"]), dates)
        except MissingExtra:
            garch[symbol] = NOT_INSTALLED
            continue
        pred["garch"] = forecast.tolist()
        garch[symbol] = metrics.volatility_scores(np.asarray(pred["actual"]), forecast, pred["train_mean"])
    baselines = {**run.baselines, "garch": garch}
    return {"metrics": run.metrics, "baselines": baselines, "windows": run.windows, "predictions": run.predictions}


def _regime_fold(store: DataStore, name: str, config: TrainingConfig, seed: int, end: pd.Timestamp,
                 synthetic_seed: int | None, folds: int) -> dict:
    series, truth = (synthetic_market(config, folds, synthetic_seed) if synthetic_seed is not None
                     else (store.load(regime_symbol(name)), None))
    run = train_regime(store, config, series.symbol, seed=seed, device="cpu", end=end, series=series,
                       true_labels=truth)
    data = regime_data(series, config, end=end, true_labels=truth)
    true = data.y_val
    detectors = {"model": np.asarray(run.predictions[series.symbol]["model"]),
                 "majority": np.full_like(true, data.majority), "rule": data.rule_val}
    scores = {k: _regime_scores(true, v) for k, v in detectors.items()}
    try:
        hmm = hmm_regimes(data.close, slice(data.train_start, data.val_positions[0]), data.val_positions, seed)
        scores["hmm"] = _regime_scores(true, hmm)
        run.predictions[series.symbol]["hmm"] = hmm.tolist()
    except MissingExtra:
        scores["hmm"] = NOT_INSTALLED
    if truth is not None:  # the best causal detector for this process: the filter with the true parameters
        probs = synth.forward_filter(data.close[data.train_start:data.val_positions[-1] + 1])
        best = probs.argmax(axis=1)[data.val_positions - data.train_start]
        scores["forward_filter_true_params"] = _regime_scores(true, best)
        run.predictions[series.symbol]["forward_filter_true_params"] = best.tolist()
    return {"metrics": scores.pop("model"), "baselines": scores, "windows": run.windows,
            "predictions": run.predictions}


@contextmanager
def _stop_on_sigterm():
    """SIGTERM (a cron timeout, `kill`) stops an evaluation like Ctrl-C: exit 130, workers terminated, nothing kept."""
    def stop(signum, frame):
        raise Interrupted("interrupted: evaluation stopped; nothing was recorded")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which terminates them; they also die with the parent (Linux)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # forked with the parent's handler; terminate() must kill
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: a SIGKILLed parent takes them along
        except (OSError, AttributeError):
            pass  # best effort only: without it, a parent killed by SIGKILL can leave idle workers behind


def _one_fold(args: tuple) -> dict:
    home_root, kind, name, config_json, seed, end, synthetic_seed, folds, threads = args
    import torch

    torch.set_num_threads(threads)  # workers share the cores instead of oversubscribing them
    config = TrainingConfig.model_validate_json(config_json)
    store = DataStore(Home(home_root))
    if kind == "volatility":
        fold = _volatility_fold(store, config, seed, end)
    else:
        fold = _regime_fold(store, name, config, seed, end, synthetic_seed, folds)
    fold["validation"] = {s: {"first": p["dates"][0], "last": p["dates"][-1], "days": len(p["dates"])}
                          for s, p in fold["predictions"].items()}
    fold["end"] = str(end.date())
    return fold


def walk_forward(home: Home, kind: str, name: str, config: TrainingConfig, folds: int, seed: int,
                 workers: int = 0, synthetic_seed: int | None = None) -> dict:
    """Train and score each fold with the same rules as `train`; workers=0 uses every core."""
    store = DataStore(home)
    if kind == "volatility":
        last = pd.Timestamp(volatility_data(store.load(config.symbols[0]), config).window.last)
    elif synthetic_seed is not None:
        series, truth = synthetic_market(config, folds, synthetic_seed)
        last = series.frame.index[-1]
    else:
        last = pd.Timestamp(regime_data(store.load(regime_symbol(name)), config).window.last)
    cores = os.cpu_count() or 1
    workers = min(folds, workers or cores)
    threads = max(1, cores // workers)
    jobs = [(home.root, kind, name, config.model_dump_json(), seed, end, synthetic_seed, folds, threads)
            for end in fold_ends(last, config, folds)]
    with _stop_on_sigterm():
        if workers > 1:
            # leaving the block terminates the workers, also when the parent is interrupted
            with multiprocessing.get_context().Pool(workers, initializer=_worker_init) as pool:
                results = pool.map(_one_fold, jobs, chunksize=1)
        else:
            results = [_one_fold(job) for job in jobs]
    return {"model_name": name, "model_type": kind, "synthetic_seed": synthetic_seed, "scheme": SCHEME,
            "workers": workers, "folds": results, "summary": summarize(kind, results)}


def _numeric(value) -> bool:
    return isinstance(value, dict)


def summarize(kind: str, folds: list[dict]) -> dict:
    """Means over folds; volatility adds the model's QLIKE rank and folds beating the best baseline."""
    if kind == "regime":
        out = {}
        for who in ["model", *folds[0]["baselines"]]:
            scores = [f["metrics"] if who == "model" else f["baselines"][who] for f in folds]
            if not all(_numeric(s) for s in scores):
                out[who] = NOT_INSTALLED
                continue
            out[who] = {}
            for key in REGIME_SCORES:
                values = [s[key] for s in scores if s[key] is not None]
                out[who][key] = round(float(np.mean(values)), 4) if values else None
        return out
    per_symbol = {}
    for symbol in folds[0]["metrics"]["symbols"]:
        names = [b for b in folds[0]["baselines"] if _numeric(folds[0]["baselines"][b].get(symbol))]
        ranks, wins = [], 0
        for f in folds:
            qlikes = {"model": f["metrics"]["symbols"][symbol]["qlike"],
                      **{b: f["baselines"][b][symbol]["qlike"] for b in names}}
            ranks.append(sorted(qlikes, key=qlikes.get).index("model") + 1)
            wins += qlikes["model"] < min(qlikes[b] for b in names)
        mean = {}
        for who in ["model", *folds[0]["baselines"]]:
            if who != "model" and who not in names:
                mean[who] = NOT_INSTALLED
                continue
            rows = [(f["metrics"]["symbols"] if who == "model" else f["baselines"][who])[symbol] for f in folds]
            mean[who] = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("r2", "qlike", "mae")}
        per_symbol[symbol] = {"mean_qlike_rank": round(float(np.mean(ranks)), 2), "of": len(names) + 1,
                              "folds_beating_best_baseline_on_qlike": wins, "folds": len(folds), "mean": mean}
    return per_symbol
