"""Datasets, baselines and one training run per model type; returns one result object for the registry."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import features as F
from . import metrics
from .config import TrainingConfig
from .data.store import DataStore, Series, fingerprint
from .data.validate import fill_short_gaps
from .errors import DataError
from .models import REGIME_HIDDEN, RegimeNet, VolatilityNet, parameter_count
from .train import EpochRecord, FitResult, Split, StopFlag, fit

MIN_TRAIN_SAMPLES = 20


@dataclass
class Window:
    symbol: str
    first: str
    last: str
    rows: int
    train_samples: int
    val_samples: int
    dropped_train_samples: int  # purged (volatility) or without a pre-split label (regime)
    fingerprint: str
    estimator: str
    source: str
    filled_days: int
    unlabelled_tail_days: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _history(series: Series) -> tuple[pd.DataFrame, int, str | None]:
    if series.frame.empty:
        raise DataError(f"{series.symbol}: no candles")
    return fill_short_gaps(series.frame)


def _too_short(symbol: str, available: int, required: int, gap: str | None, what: str) -> DataError:
    where = f"; history before the gap ({gap}) cannot be used" if gap else ""
    return DataError(f"{symbol}: only {available} {what} available, {required} required by days={required}"
                     f"{where}. Use fewer --days or import more history")


def _window(series: Series, frame: pd.DataFrame, idx: np.ndarray, n_train: int, n_val: int, dropped: int,
            filled: int, tail: int, extra_rows_before: int, extra_rows_after: int) -> Window:
    lo, hi = max(idx[0] - extra_rows_before, 0), idx[-1] + extra_rows_after
    used = frame.iloc[lo:hi + 1]
    return Window(series.symbol, str(frame.index[idx[0]].date()), str(frame.index[idx[-1]].date()), len(idx),
                  n_train, n_val, dropped, fingerprint(used), series.estimator, series.source, filled, tail)


# ---------------------------------------------------------------- volatility

@dataclass
class VolData:
    window: Window
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    dates_val: pd.DatetimeIndex
    baselines_val: dict[str, np.ndarray]
    feature_mean: np.ndarray
    feature_std: np.ndarray
    target_mean: float
    target_std: float
    train_mean: float  # mean training target: the benchmark of the out-of-sample R²


def har_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(x)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coef


def har_predict(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x]) @ coef


def sequences(values: np.ndarray, idx: np.ndarray, lookback: int) -> np.ndarray:
    """values[t-lookback+1 .. t] for each t in idx: only rows up to t."""
    return np.stack([values[t - lookback + 1:t + 1] for t in idx]).astype(np.float32)


def volatility_data(series: Series, config: TrainingConfig, horizon: int = F.HORIZON_DAYS,
                    lookback: int = F.VOL_LOOKBACK_DAYS, end: pd.Timestamp | None = None) -> VolData:
    """Samples are the last `days` days with a known target; training samples whose target window
    reaches into the validation period are purged; statistics come from the training part only."""
    frame, filled, gap = _history(series)
    feats = F.volatility_features(frame, series.has_ohlc)
    var = F.daily_variance(frame, series.has_ohlc)
    target = F.future_log_vol(var, horizon)
    values = feats.to_numpy()
    row_ok = ~np.isnan(values).any(axis=1)
    seq_ok = pd.Series(row_ok).rolling(lookback, min_periods=lookback).sum().to_numpy() == lookback
    usable = seq_ok & ~np.isnan(target)
    if end is not None:  # the last sample day (walk-forward folds)
        usable[int(frame.index.searchsorted(end, side="right")):] = False
    candidates = np.nonzero(usable)[0]
    if len(candidates) < config.days:
        raise _too_short(series.symbol, len(candidates), config.days, gap, "sample days")
    idx = candidates[-config.days:]
    n_train = int(round(config.days * config.train_val_split))
    train_idx, val_idx = idx[:max(n_train - horizon, 0)], idx[n_train:]
    if len(train_idx) < MIN_TRAIN_SAMPLES or len(val_idx) < 2:
        raise DataError(f"{series.symbol}: days={config.days} leaves {len(train_idx)} training and {len(val_idx)} "
                        "validation samples; use more --days")
    rows_used = np.arange(train_idx[0] - lookback + 1, train_idx[-1] + 1)
    mean, std = values[rows_used].mean(axis=0), values[rows_used].std(axis=0) + 1e-8
    normed = (values - mean) / std
    y_mean, y_std = float(target[train_idx].mean()), float(target[train_idx].std() + 1e-8)
    har_cols = [feats.columns.get_loc(c) for c in ("log_var_1", "log_var_5", "log_var_22")]
    coef = har_fit(values[train_idx][:, har_cols], target[train_idx])
    baselines = {
        "persistence": F.log_vol_from_var(F.trailing_mean(var, horizon))[val_idx],
        "ewma": F.log_vol_from_var(F.ewma_variance(var))[val_idx],
        "har": har_predict(coef, values[val_idx][:, har_cols]),
    }
    window = _window(series, frame, idx, len(train_idx), len(val_idx), n_train - len(train_idx), filled, 0,
                     lookback + 22, horizon)
    return VolData(window, sequences(normed, train_idx, lookback), ((target[train_idx] - y_mean) / y_std),
                   sequences(normed, val_idx, lookback), target[val_idx], frame.index[val_idx], baselines,
                   mean, std, y_mean, y_std, float(target[train_idx].mean()))


# ---------------------------------------------------------------- regime

@dataclass
class RegimeData:
    window: Window
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    dates_val: pd.DatetimeIndex
    rule_val: np.ndarray
    feature_mean: np.ndarray
    feature_std: np.ndarray
    class_weights: np.ndarray
    majority: int
    close: np.ndarray  # the whole (gap-filled) close series
    dates: pd.DatetimeIndex  # its dates
    train_start: int  # position of the first training sample
    val_positions: np.ndarray  # positions of the validation samples


def regime_data(series: Series, config: TrainingConfig, rule: F.LabelRule = F.LabelRule(),
                end: pd.Timestamp | None = None, true_labels: np.ndarray | None = None) -> RegimeData:
    """Samples are the `days` days up to `end` (default: the last day with an ex-post label).

    Training labels use prices before the validation period only; days without a label are left out.
    `true_labels` (one per candle, synthetic markets only) replaces the ex-post labels: the generating
    regimes are known, so no label is derived from prices at all.
    """
    frame, filled, gap = _history(series)
    if true_labels is not None and filled:
        raise DataError(f"{series.symbol}: a series with known regimes must have no missing days")
    feats = F.regime_features(frame)
    close = frame["close"].to_numpy()
    labels = F.regime_labels(close, rule) if true_labels is None else np.asarray(true_labels, dtype=int)
    values = feats.to_numpy()
    ok = ~np.isnan(values).any(axis=1)
    ok[:F.REGIME_WARMUP_DAYS] = False
    labelled = np.nonzero(labels >= 0)[0]
    if len(labelled) == 0:
        raise DataError(f"{series.symbol}: no day has an ex-post regime label yet (no confirmed turning point)")
    last = labelled[-1] if end is None else int(frame.index.searchsorted(end, side="right")) - 1
    ok[last + 1:] = False
    candidates = np.nonzero(ok)[0]
    if len(candidates) < config.days:
        raise _too_short(series.symbol, len(candidates), config.days, gap, "labelled sample days")
    idx = candidates[-config.days:]
    tail = int(len(frame) - 1 - labelled[-1])
    n_train = int(round(config.days * config.train_val_split))
    train_all, val_idx = idx[:n_train], idx[n_train:]
    val_idx = val_idx[labels[val_idx] >= 0]
    if len(val_idx) == 0:
        raise DataError(f"{series.symbol}: no validation day up to {frame.index[last].date()} has an ex-post label")
    if true_labels is None:
        train_labels = F.regime_labels(close[:idx[n_train]], rule)  # prices strictly before the validation period
    else:
        train_labels = labels
    train_idx = train_all[train_labels[train_all] >= 0]
    if len(train_idx) < MIN_TRAIN_SAMPLES:
        raise DataError(f"{series.symbol}: only {len(train_idx)} of {len(train_all)} training days have an ex-post "
                        f"label from prices before the validation period ({frame.index[val_idx[0]].date()}); "
                        "use more --days")
    mean, std = values[train_idx].mean(axis=0), values[train_idx].std(axis=0) + 1e-8
    y_train = train_labels[train_idx]
    counts = np.bincount(y_train, minlength=4).astype(float)
    weights = np.where(counts > 0, len(y_train) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    window = _window(series, frame, idx, len(train_idx), len(val_idx), len(train_all) - len(train_idx), filled,
                     tail, F.REGIME_WARMUP_DAYS, 0)
    return RegimeData(window, ((values[train_idx] - mean) / std).astype(np.float32), y_train,
                      ((values[val_idx] - mean) / std).astype(np.float32), labels[val_idx], frame.index[val_idx],
                      F.rule_detector(feats.iloc[val_idx]), mean, std, weights, int(np.argmax(counts)),
                      close, frame.index, int(train_all[0]), val_idx)


# ---------------------------------------------------------------- runs

@dataclass
class RunResult:
    model_type: str
    tensors: dict[str, torch.Tensor]
    spec: dict
    metrics: dict
    baselines: dict
    windows: dict[str, dict]
    history: list[dict]
    timings: dict
    interrupted: bool = False
    predictions: dict = field(default_factory=dict)

    @property
    def main_metric(self) -> tuple[str, float]:
        if self.model_type == "volatility":
            return "r2_min", self.metrics["r2_min"]
        return "balanced_accuracy", self.metrics["balanced_accuracy"]


EpochCallback = Callable[[str, EpochRecord], None]


def _to(device: str, *arrays: np.ndarray, dtype=torch.float32) -> list[torch.Tensor]:
    return [torch.as_tensor(np.asarray(a), dtype=dtype, device=device) for a in arrays]


def _history_rows(symbol: str, result: FitResult) -> list[dict]:
    return [{"symbol": symbol, "epoch": r.epoch, "train_loss": round(r.train_loss, 6), "val_loss": round(r.val_loss, 6),
             "metric": round(r.metric, 6), "improved": r.improved, "samples_per_second": round(r.samples_per_second, 1),
             "elapsed_seconds": round(r.elapsed_seconds, 3)} for r in result.history]


def train_volatility(store: DataStore, config: TrainingConfig, *, seed: int, device: str,
                     on_epoch: EpochCallback | None = None, stop: StopFlag | None = None,
                     end: pd.Timestamp | None = None) -> RunResult:
    """One GRU per symbol (not pooled): each asset's volatility dynamics are fitted on its own."""
    tensors, spec_symbols, per_symbol, baselines = {}, {}, {}, {"persistence": {}, "ewma": {}, "har": {}}
    windows, history, predictions = {}, [], {}
    timings = {"fit_seconds": 0.0, "epochs_run": {}, "best_epoch": {}, "samples_per_second": {}, "steps": 0}
    start = time.perf_counter()
    symbols = config.symbols or []
    datasets = {symbol: volatility_data(store.load(symbol), config, end=end) for symbol in symbols}
    for k, symbol in enumerate(symbols):
        data = datasets[symbol]
        torch.manual_seed(seed + k)
        model = VolatilityNet(data.x_train.shape[2], config.hidden_size or 64).to(device)
        split = Split(*_to(device, data.x_train, data.y_train, data.x_val, (data.y_val - data.target_mean) / data.target_std))

        def r2_metric(out: torch.Tensor, data: VolData = data) -> float:
            pred = out.detach().cpu().numpy() * data.target_std + data.target_mean
            return metrics.oos_r2(data.y_val, pred, data.train_mean)

        result = fit(model, split, epochs=config.epochs, patience=config.patience, batch_size=config.batch_size,
                     learning_rate=config.learning_rate, loss_fn=nn.functional.mse_loss, metric_fn=r2_metric,
                     seed=seed + k, on_epoch=(lambda rec, s=symbol: on_epoch(s, rec)) if on_epoch else None, stop=stop)
        history += _history_rows(symbol, result)
        timings["steps"] += result.steps
        if result.interrupted:
            return RunResult("volatility", {}, {}, {}, {}, {}, history, timings, interrupted=True)
        model.eval()
        with torch.no_grad():
            pred = model(split.x_val).cpu().numpy() * data.target_std + data.target_mean
        per_symbol[symbol] = {**metrics.volatility_scores(data.y_val, pred, data.train_mean), "n_val": len(data.y_val)}
        for name, forecast in data.baselines_val.items():
            baselines[name][symbol] = metrics.volatility_scores(data.y_val, forecast, data.train_mean)
        tensors.update({f"{symbol}.{key}": value for key, value in result.state_dict.items()})
        spec_symbols[symbol] = {"feature_mean": data.feature_mean.tolist(), "feature_std": data.feature_std.tolist(),
                                "target_mean": data.target_mean, "target_std": data.target_std,
                                "estimator": data.window.estimator}
        windows[symbol] = data.window.as_dict()
        predictions[symbol] = {"dates": [str(d.date()) for d in data.dates_val], "train_mean": data.train_mean,
                               "actual": data.y_val.tolist(),
                               "model": pred.tolist(), **{k: v.tolist() for k, v in data.baselines_val.items()}}
        timings["epochs_run"][symbol] = result.epochs_run
        timings["best_epoch"][symbol] = result.best_epoch
        timings["samples_per_second"][symbol] = round(result.samples_per_second, 1)
        timings["fit_seconds"] += result.seconds
        timings.setdefault("parameters", parameter_count(model))
    r2s = [m["r2"] for m in per_symbol.values()]
    spec = {"kind": "volatility_gru", "n_features": len(F.VOL_FEATURES), "hidden_size": config.hidden_size or 64,
            "features": list(F.VOL_FEATURES), "lookback_days": F.VOL_LOOKBACK_DAYS, "horizon_days": F.HORIZON_DAYS,
            "annualization_days": F.ANNUALIZATION_DAYS, "target": "log annualized volatility over the next horizon_days",
            "symbols": spec_symbols, "pooled": False}
    timings["total_seconds"] = round(time.perf_counter() - start, 3)
    return RunResult("volatility", tensors, spec,
                     {"r2_mean": round(float(np.mean(r2s)), 4), "r2_min": round(float(np.min(r2s)), 4),
                      "symbols": per_symbol}, baselines, windows, history, timings, predictions=predictions)


def train_regime(store: DataStore, config: TrainingConfig, symbol: str, *, seed: int, device: str,
                 on_epoch: EpochCallback | None = None, stop: StopFlag | None = None,
                 end: pd.Timestamp | None = None, series: Series | None = None,
                 true_labels: np.ndarray | None = None) -> RunResult:
    """`series` and `true_labels` let evaluation train on a synthetic market instead of the store."""
    start = time.perf_counter()
    data = regime_data(series or store.load(symbol), config, end=end, true_labels=true_labels)
    torch.manual_seed(seed)
    model = RegimeNet(data.x_train.shape[1]).to(device)
    x_train, x_val = _to(device, data.x_train, data.x_val)
    y_train, y_val = _to(device, data.y_train, data.y_val, dtype=torch.long)
    weights = torch.as_tensor(data.class_weights, dtype=torch.float32, device=device)

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out, y, weight=weights)

    def balanced(out: torch.Tensor) -> float:
        pred = out.argmax(dim=1).cpu().numpy()
        return metrics.classification_scores(data.y_val, pred, F.REGIMES)["balanced_accuracy"]

    result = fit(model, Split(x_train, y_train, x_val, y_val), epochs=config.epochs, patience=config.patience,
                 batch_size=config.batch_size, learning_rate=config.learning_rate, loss_fn=loss_fn,
                 metric_fn=balanced, seed=seed, on_epoch=(lambda rec: on_epoch(symbol, rec)) if on_epoch else None,
                 stop=stop)
    history = _history_rows(symbol, result)
    timings = {"fit_seconds": round(result.seconds, 3), "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
               "samples_per_second": round(result.samples_per_second, 1), "steps": result.steps,
               "parameters": parameter_count(model)}
    if result.interrupted:
        return RunResult("regime", {}, {}, {}, {}, {}, history, timings, interrupted=True)
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(x_val), dim=1).cpu().numpy()
    pred = probs.argmax(axis=1)
    scores = metrics.classification_scores(data.y_val, pred, F.REGIMES)
    baselines = {
        "majority": metrics.classification_scores(data.y_val, np.full_like(data.y_val, data.majority), F.REGIMES),
        "rule": metrics.classification_scores(data.y_val, data.rule_val, F.REGIMES),
    }
    spec = {"kind": "regime_mlp", "n_features": len(F.REGIME_FEATURES), "hidden_size": REGIME_HIDDEN, "n_classes": 4,
            "features": list(F.REGIME_FEATURES), "regimes": list(F.REGIMES), "symbol": symbol,
            "label_rule": F.LabelRule().as_dict(), "warmup_days": F.REGIME_WARMUP_DAYS,
            "feature_mean": data.feature_mean.tolist(), "feature_std": data.feature_std.tolist(),
            "class_weights": data.class_weights.tolist()}
    timings["total_seconds"] = round(time.perf_counter() - start, 3)
    predictions = {symbol: {"dates": [str(d.date()) for d in data.dates_val], "actual": data.y_val.tolist(),
                            "model": pred.tolist(), "rule": data.rule_val.tolist(),
                            "close": data.close[data.val_positions].tolist(),
                            "train_first": str(data.dates[data.train_start].date())}}
    return RunResult("regime", {f"{symbol}.{k}": v for k, v in result.state_dict.items()}, spec, scores, baselines,
                     {symbol: data.window.as_dict()}, history, timings, predictions=predictions)
