"""The volatility forecaster: one GRU per symbol for log annualized volatility over the next 7 days.

Training samples whose target window reaches into the validation period are purged; the gate asks
every symbol's out-of-sample R² to reach min_r2. Heavy libraries are imported inside the methods.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import ModelKind, ScoreTable

if TYPE_CHECKING:
    import pandas as pd

    from ..config import TrainingConfig
    from ..data.store import DataStore, Series
    from ..pipeline import RunResult, Window

ARCH = "volatility_gru"  # spec["kind"] of stored versions: never rename
DEFAULT_HIDDEN = 64
SHORT_VALIDATION_DAYS = 60  # below this a split holds under nine non-overlapping weekly targets
SCORES = ("r2", "qlike", "mae")


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


def volatility_data(series: Series, config: TrainingConfig, horizon: int | None = None,
                    lookback: int | None = None, end: pd.Timestamp | None = None) -> VolData:
    """Samples are the last `days` days with a known target; training samples whose target window
    reaches into the validation period are purged; statistics come from the training part only."""
    import pandas as pd

    from .. import features as F
    from ..errors import DataError
    from ..pipeline import MIN_TRAIN_SAMPLES, history, too_short, window

    horizon = horizon or F.HORIZON_DAYS
    lookback = lookback or F.VOL_LOOKBACK_DAYS
    frame, filled, gap = history(series)
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
        raise too_short(series.symbol, len(candidates), config.days, gap, "sample days")
    idx = candidates[-config.days:]
    n_train = int(round(config.days * config.train_val_split))
    train_idx, val_idx = idx[:max(n_train - horizon, 0)], idx[n_train:]
    if len(train_idx) < MIN_TRAIN_SAMPLES or len(val_idx) < 2:
        raise DataError(f"{series.symbol}: days={config.days} leaves {len(train_idx)} training and "
                        f"{len(val_idx)} "
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
    used = window(series, frame, idx, train=len(train_idx), val=len(val_idx),
                  dropped=n_train - len(train_idx),
                  filled=filled, rows_before=lookback + 22, rows_after=horizon)
    return VolData(
        window=used, x_train=sequences(normed, train_idx,
                                       lookback), y_train=(target[train_idx] - y_mean) / y_std,
        x_val=sequences(normed, val_idx, lookback), y_val=target[val_idx], dates_val=frame.index[val_idx],
        baselines_val=baselines, feature_mean=mean, feature_std=std, target_mean=y_mean, target_std=y_std,
        train_mean=float(target[train_idx].mean()))


def train_volatility(store: DataStore, config: TrainingConfig, *, seed: int, device: str, on_epoch=None,
                     stop=None, end: pd.Timestamp | None = None) -> RunResult:
    """One GRU per symbol (not pooled): each asset's volatility dynamics are fitted on its own."""
    import torch
    from torch import nn

    from .. import features as F
    from .. import metrics
    from ..models import VolatilityNet
    from ..pipeline import Clock, RunResult, fit_symbol, tensors
    from ..train import Split

    clock = Clock()
    run = RunResult(model_type="volatility")
    per_symbol, spec_symbols = {}, {}
    run.baselines = {"persistence": {}, "ewma": {}, "har": {}}
    symbols = config.symbols or []
    datasets = {symbol: volatility_data(store.load(symbol), config, end=end) for symbol in symbols}
    for k, symbol in enumerate(symbols):
        data = datasets[symbol]
        torch.manual_seed(seed + k)
        model = VolatilityNet(data.x_train.shape[2], config.hidden_size or DEFAULT_HIDDEN).to(device)
        split = Split(*tensors(device, data.x_train, data.y_train, data.x_val,
                               (data.y_val - data.target_mean) / data.target_std))

        def r2_metric(out: torch.Tensor, data: VolData = data) -> float:
            pred = out.detach().cpu().numpy() * data.target_std + data.target_mean
            return metrics.oos_r2(data.y_val, pred, data.train_mean)

        fitted = fit_symbol(model, split, config, symbol=symbol, seed=seed + k,
                            loss_fn=nn.functional.mse_loss,
                            metric_fn=r2_metric, on_epoch=on_epoch, stop=stop)
        run.add_fit(symbol, model, fitted)
        if run.interrupted:
            return run
        model.eval()
        with torch.no_grad():
            pred = model(split.x_val).cpu().numpy() * data.target_std + data.target_mean
        per_symbol[symbol] = {**metrics.volatility_scores(data.y_val, pred, data.train_mean),
                              "n_val": len(data.y_val)}
        for name, forecast in data.baselines_val.items():
            run.baselines[name][symbol] = metrics.volatility_scores(data.y_val, forecast, data.train_mean)
        spec_symbols[symbol] = {"feature_mean": data.feature_mean.tolist(),
                                "feature_std": data.feature_std.tolist(),
                                "target_mean": data.target_mean, "target_std": data.target_std,
                                "estimator": data.window.estimator}
        run.windows[symbol] = data.window.as_dict()
        run.predictions[symbol] = {"dates": [str(d.date()) for d in data.dates_val],
                                   "train_mean": data.train_mean,
                                   "actual": data.y_val.tolist(), "model": pred.tolist(),
                                   **{k: v.tolist() for k, v in data.baselines_val.items()}}
    r2s = [m["r2"] for m in per_symbol.values()]
    run.spec = {"kind": ARCH, "n_features": len(F.VOL_FEATURES),
                "hidden_size": config.hidden_size or DEFAULT_HIDDEN,
                "features": list(F.VOL_FEATURES), "lookback_days": F.VOL_LOOKBACK_DAYS,
                "horizon_days": F.HORIZON_DAYS, "annualization_days": F.ANNUALIZATION_DAYS,
                "target": "log annualized volatility over the next horizon_days", "symbols": spec_symbols,
                "pooled": False}
    run.metrics = {"r2_mean": round(float(np.mean(r2s)), 4), "r2_min": round(float(np.min(r2s)), 4),
                   "symbols": per_symbol}
    run.total_seconds = clock.seconds()
    return run


class VolatilityKind(ModelKind):
    name = "volatility"
    description = "annualized volatility of each symbol over the next 7 days"
    catalogue = ("volatility_forecaster",)
    defaults = dict(days=365, epochs=100, patience=15, batch_size=32, learning_rate=0.001,
                    train_val_split=0.8, hidden_size=DEFAULT_HIDDEN, min_r2=0.5,
                    symbols=["BTC", "ETH", "SOL"])
    uses = ("hidden_size", "min_r2", "symbols")
    main_metric = "r2_min"
    progress_metric = "r2"
    archs = (ARCH,)

    def symbols(self, model_name: str, config: TrainingConfig) -> list[str]:
        return list(config.symbols or [])

    def symbols_reason(self, model_name: str, sources: dict[str, str]) -> str:
        return f"symbols from {sources['symbols']}"

    def probe_batch(self, config: TrainingConfig, device: str):
        import torch
        from torch import nn

        from .. import features as F
        from ..models import VolatilityNet

        model = VolatilityNet(len(F.VOL_FEATURES), config.hidden_size or DEFAULT_HIDDEN).to(device)
        x = torch.randn(config.batch_size, F.VOL_LOOKBACK_DAYS, len(F.VOL_FEATURES), device=device)
        y = torch.randn(config.batch_size, device=device)
        return model, x, y, nn.functional.mse_loss

    def train(self, store, config, model_name, *, seed, device, on_epoch=None, stop=None, end=None):
        return train_volatility(store, config, seed=seed, device=device, on_epoch=on_epoch, stop=stop,
                                end=end)

    def gate(self, metrics: dict, baselines: dict, config: TrainingConfig) -> dict:
        """Every symbol's out-of-sample R² must reach min_r2."""
        if config.min_r2 is None:
            return super().gate(metrics, baselines, config)
        failing = {}
        for symbol, scores in metrics["symbols"].items():
            if scores["r2"] < config.min_r2:
                best = max(baselines, key=lambda name: baselines[name][symbol]["r2"])
                failing[symbol] = {"r2": scores["r2"], "best_baseline": best,
                                   "best_baseline_r2": baselines[best][symbol]["r2"]}
        return {"passed": not failing, "rule": "every symbol's r2 >= min_r2", "threshold": config.min_r2,
                "failing": failing}

    def gate_messages(self, gate: dict, version: int) -> list[str]:
        return [f"gate: {symbol} r2={fail['r2']:.4f} < min_r2={gate['threshold']} (best baseline "
                f"{fail['best_baseline']} r2={fail['best_baseline_r2']:.4f}); v{version} saved as rejected, "
                "production unchanged" for symbol, fail in gate.get("failing", {}).items()]

    def build_network(self, spec: dict):
        from ..models import VolatilityNet

        return VolatilityNet(spec["n_features"], spec["hidden_size"])

    def predict(self, meta, tensors, store, symbol, since):
        import torch

        from .. import features as F
        from ..data.validate import fill_short_gaps
        from ..errors import DataError, UsageError
        from ..pipeline import since_positions, state_of

        spec = meta["spec"]
        trained = list(spec["symbols"])
        if symbol is not None and symbol not in trained:
            raise UsageError(f"version {meta['version']} of {meta['name']} was not trained on {symbol}; "
                             f"it knows {', '.join(trained)}")
        out = []
        lookback, horizon = spec["lookback_days"], spec["horizon_days"]
        for name in [symbol] if symbol else trained:
            stats = spec["symbols"][name]
            model = self.build_network(spec)
            model.load_state_dict(state_of(tensors, name))
            model.eval()
            series = store.load(name)
            frame, _, _ = fill_short_gaps(series.frame)
            values = F.volatility_features(frame, series.has_ohlc).to_numpy()
            var = F.daily_variance(frame, series.has_ohlc)
            trailing = np.exp(F.log_vol_from_var(F.trailing_mean(var, horizon)))
            ok = ~np.isnan(values).any(axis=1)
            first_ok = int(np.argmax(ok)) + lookback - 1
            if len(frame) <= first_ok:
                raise DataError(f"{name}: not enough history for a forecast ({len(frame)} days)")
            pos = since_positions(frame.index, since, first_ok)
            normed = (values - np.asarray(stats["feature_mean"])) / np.asarray(stats["feature_std"])
            x = np.stack([normed[p - lookback + 1:p + 1] for p in pos]).astype(np.float32)
            with torch.no_grad():
                pred = model(torch.as_tensor(x)).numpy() * stats["target_std"] + stats["target_mean"]
            for p, value in zip(pos, pred):
                out.append({"symbol": name, "date": str(frame.index[p].date()), "horizon_days": horizon,
                            "forecast_annualized_vol": round(float(np.exp(value)), 4),
                            "trailing_realized_vol": round(float(trailing[p]),
                                                           4), "estimator": series.estimator})
        return out

    def prediction_table(self, rows):
        columns = ["symbol", "date", "horizon_days", "forecast_annualized_vol", "trailing_realized_vol"]
        return columns, [[r[c] for c in columns] for r in rows]

    def score_table(self, metrics: dict, baselines: dict, windows: dict) -> ScoreTable:
        rows = []
        for symbol, scores in metrics["symbols"].items():
            rows.append([symbol, "model", *(scores[k] for k in SCORES)])
            rows += [[symbol, name, *(per[symbol][k] for k in SCORES)] for name, per in baselines.items()]
        notes = []
        fewest = min((w["val_samples"] for w in windows.values()), default=None)
        if fewest is not None and fewest < SHORT_VALIDATION_DAYS:
            notes.append(f"note: {fewest} validation days hold about {max(fewest // 7, 1)} independent 7-day "
                         "targets, "
                         "so a few volatile days decide r2 and QLIKE; use more --days, or `mltrain evaluate` "
                         "for "
                         "several periods")
        return ["symbol", "forecaster", "r2 (log vol)", "QLIKE", "MAE (ann. vol)"], rows, notes

    # ---------------------------------------------------------------- evaluation
    def evaluation_end(self, store, model_name, config, folds, synthetic_seed):
        import pandas as pd

        return pd.Timestamp(volatility_data(store.load(config.symbols[0]), config).window.last)

    def fold(self, store, model_name, config, seed, end, synthetic_seed, folds, stop=None):
        import pandas as pd

        from .. import metrics
        from ..baselines import MissingExtra, garch_log_vol
        from ..data.validate import fill_short_gaps

        run = train_volatility(store, config, seed=seed, device="cpu", end=end, stop=stop)
        if run.interrupted:
            return {"interrupted": True}
        garch: dict[str, dict | None] = {}
        missing = []
        for symbol, pred in run.predictions.items():
            frame, _, _ = fill_short_gaps(store.load(symbol).frame)
            dates = pd.DatetimeIndex(pred["dates"])
            try:
                forecast = garch_log_vol(frame["close"], pd.Timestamp(run.windows[symbol]["first"]), dates)
            except MissingExtra:
                garch[symbol], missing = None, ["garch"]
                continue
            pred["garch"] = forecast.tolist()
            garch[symbol] = metrics.volatility_scores(np.asarray(pred["actual"]), forecast,
                                                      pred["train_mean"])
        return {"metrics": run.metrics, "baselines": {**run.baselines, "garch": garch},
                "windows": run.windows,
                "predictions": run.predictions, "missing_extras": missing}

    def summarize(self, folds: list[dict]) -> dict:
        """Means over folds, the model's QLIKE rank and the folds in which it beats the best baseline."""
        per_symbol = {}
        for symbol in folds[0]["metrics"]["symbols"]:
            names = [b for b in folds[0]["baselines"] if folds[0]["baselines"][b].get(symbol) is not None]
            ranks, wins = [], 0
            for f in folds:
                qlikes = {"model": f["metrics"]["symbols"][symbol]["qlike"],
                          **{b: f["baselines"][b][symbol]["qlike"] for b in names}}
                ranks.append(sorted(qlikes, key=qlikes.get).index("model") + 1)
                wins += qlikes["model"] < min(qlikes[b] for b in names)
            mean: dict[str, dict | None] = {}
            for who in ["model", *folds[0]["baselines"]]:
                if who != "model" and who not in names:
                    mean[who] = None
                    continue
                rows = [(f["metrics"]["symbols"] if who == "model" else f["baselines"][who])[symbol]
                        for f in folds]
                mean[who] = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in SCORES}
            per_symbol[symbol] = {"mean_qlike_rank": round(float(np.mean(ranks)), 2), "of": len(names) + 1,
                                  "folds_beating_best_baseline_on_qlike": wins, "folds": len(folds),
                                  "mean": mean}
        return per_symbol

    def fold_table(self, result: dict):
        names = list(result["folds"][0]["baselines"])
        rows = []
        for k, fold in enumerate(result["folds"], start=1):
            for symbol, val in fold["validation"].items():
                m = fold["metrics"]["symbols"][symbol]
                rows.append([k, f"{val['first']}..{val['last']}", symbol, m["r2"], m["qlike"],
                             *(b[symbol]["qlike"] if b[symbol] is not None else "not installed"
                               for b in fold["baselines"].values())])
        return ["fold", "validation", "symbol", "model r2", "model QLIKE",
                *[f"{n} QLIKE" for n in names]], rows

    def report(self, result, out, plt):
        from ..report import md_table, series

        folds, parts = result["folds"], []
        for symbol in folds[0]["metrics"]["symbols"]:
            if plt is not None:
                fig, ax = plt.subplots(figsize=(11, 4))
                dates, actual = series(folds, symbol, "actual")
                ax.plot(np.asarray(dates, dtype="datetime64[D]"), np.exp(actual), color="black", lw=1.6,
                        label="realized (next 7 days)")
                for key, style in (("model", "-"), ("har", "--"), ("ewma", ":"), ("persistence", "-."),
                                   ("garch", "--")):
                    d, v = series(folds, symbol, key)
                    if len(v):
                        ax.plot(np.asarray(d, dtype="datetime64[D]"), np.exp(v), style, lw=1, label=key)
                ax.set_ylabel("annualized volatility")
                ax.set_title(f"{symbol}: forecast vs realized volatility, walk-forward validation blocks")
                ax.legend(ncol=6, fontsize=8)
                fig.tight_layout()
                fig.savefig(out / f"volatility_{symbol}.png", dpi=110)
                plt.close(fig)
                parts.append(f"![{symbol} forecast vs realized](volatility_{symbol}.png)\n")
        parts.append("## Summary (means over folds)\n")
        for symbol, s in result["summary"].items():
            parts.append(f"**{symbol}**: model QLIKE rank {s['mean_qlike_rank']} of {s['of']}; beats the "
                         "best "
                         f"baseline on QLIKE in {s['folds_beating_best_baseline_on_qlike']} of {s['folds']} "
                         "folds.\n")
            parts.append(md_table(["forecaster", "r2", "QLIKE", "MAE"],
                                  [[n, *(m.values() if m is not None else ["not installed", "", ""])]
                                   for n, m in s["mean"].items()]))
        return parts

    def evaluation_headline(self, summary: dict) -> str:
        return "; ".join(f"{symbol} QLIKE rank {s['mean_qlike_rank']}/{s['of']}, beats best baseline in "
                         f"{s['folds_beating_best_baseline_on_qlike']}/{s['folds']} folds"
                         for symbol, s in summary.items())
