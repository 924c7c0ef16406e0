"""The regime detector: an MLP from causal price features to four market regimes of one asset. Labels
are ex-post turning points, from prices before the validation period only; no promotion gate."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import ModelKind, ScoreTable

if TYPE_CHECKING:
    import pandas as pd

    from ..config import TrainingConfig
    from ..data.store import DataStore, Series
    from ..pipeline import RunResult, Window

ARCH = "regime_mlp"  # spec["kind"] of stored versions: never rename
SCORES = ("balanced_accuracy", "macro_f1", "detection_lag_days", "changes_per_year")
TABLE_SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "detection_lag_days", "changes_per_year")
COLORS = {"Bear": "#c0392b", "Correction": "#e67e22", "Bull": "#27ae60", "Expansion": "#2980b9"}


def regime_symbol(model_name: str) -> str:
    """A regime model trains on the asset its name starts with: btc_regime_detector -> BTC."""
    return model_name.split("_", 1)[0].upper()


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


def regime_data(series: Series, config: TrainingConfig, rule: Any = None, end: pd.Timestamp | None = None,
                true_labels: np.ndarray | None = None) -> RegimeData:
    """Samples are the `days` days up to `end` (default: the last day with an ex-post label).

    Training labels use prices before the validation period only; days without a label are left out.
    `true_labels` (one per candle, synthetic markets only) replaces the ex-post labels: the generating
    regimes are known, so no label is derived from prices at all.
    """
    from .. import features as F
    from ..errors import DataError
    from ..pipeline import MIN_TRAIN_SAMPLES, history, too_short, window

    rule = rule or F.LabelRule()
    frame, filled, gap = history(series)
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
        raise DataError(f"{series.symbol}: no day has an ex-post regime label yet (no confirmed turning "
                        "point)")
    last = labelled[-1] if end is None else int(frame.index.searchsorted(end, side="right")) - 1
    ok[last + 1:] = False
    candidates = np.nonzero(ok)[0]
    if len(candidates) < config.days:
        raise too_short(series.symbol, len(candidates), config.days, gap, "labelled sample days")
    idx = candidates[-config.days:]
    tail = int(len(frame) - 1 - labelled[-1])
    n_train = int(round(config.days * config.train_val_split))
    train_all, val_idx = idx[:n_train], idx[n_train:]
    val_idx = val_idx[labels[val_idx] >= 0]
    if len(val_idx) == 0:
        raise DataError(f"{series.symbol}: no validation day up to {frame.index[last].date()} has an ex-post "
                        "label")
    if true_labels is None:
        # prices strictly before the validation period
        train_labels = F.regime_labels(close[:idx[n_train]], rule)
    else:
        train_labels = labels
    train_idx = train_all[train_labels[train_all] >= 0]
    if len(train_idx) < MIN_TRAIN_SAMPLES:
        raise DataError(f"{series.symbol}: only {len(train_idx)} of {len(train_all)} training days have an "
                        "ex-post "
                        f"label from prices before the validation period ({frame.index[val_idx[0]].date()}); "
                        "use more --days")
    mean, std = values[train_idx].mean(axis=0), values[train_idx].std(axis=0) + 1e-8
    y_train = train_labels[train_idx]
    counts = np.bincount(y_train, minlength=4).astype(float)
    weights = np.where(counts > 0, len(y_train) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    used = window(series, frame, idx, train=len(train_idx), val=len(val_idx),
                  dropped=len(train_all) - len(train_idx),
                  filled=filled, tail=tail, rows_before=F.REGIME_WARMUP_DAYS)
    return RegimeData(
        window=used, x_train=((values[train_idx] - mean) / std).astype(np.float32), y_train=y_train,
        x_val=((values[val_idx] - mean) / std).astype(np.float32), y_val=labels[val_idx],
        dates_val=frame.index[val_idx], rule_val=F.rule_detector(feats.iloc[val_idx]), feature_mean=mean,
        feature_std=std, class_weights=weights, majority=int(np.argmax(counts)), close=close,
        dates=frame.index,
        train_start=int(train_all[0]), val_positions=val_idx)


def train_regime(store: DataStore, config: TrainingConfig, symbol: str, *, seed: int, device: str,
                 on_epoch=None, stop=None, end: pd.Timestamp | None = None, series: Series | None = None,
                 true_labels: np.ndarray | None = None) -> RunResult:
    """`series` and `true_labels` let evaluation train on a synthetic market instead of the store."""
    import torch
    from torch import nn

    from .. import features as F
    from .. import metrics
    from ..models import REGIME_HIDDEN, RegimeNet
    from ..pipeline import Clock, RunResult, fit_symbol, tensors
    from ..train import Split

    clock = Clock()
    data = regime_data(series or store.load(symbol), config, end=end, true_labels=true_labels)
    torch.manual_seed(seed)
    model = RegimeNet(data.x_train.shape[1]).to(device)
    x_train, x_val = tensors(device, data.x_train, data.x_val)
    y_train, y_val = tensors(device, data.y_train, data.y_val, dtype=torch.long)
    weights = torch.as_tensor(data.class_weights, dtype=torch.float32, device=device)

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out, y, weight=weights)

    def balanced(out: torch.Tensor) -> float:
        pred = out.argmax(dim=1).cpu().numpy()
        return metrics.classification_scores(data.y_val, pred, F.REGIMES)["balanced_accuracy"]

    fitted = fit_symbol(model, Split(x_train, y_train, x_val, y_val), config, symbol=symbol, seed=seed,
                        loss_fn=loss_fn, metric_fn=balanced, on_epoch=on_epoch, stop=stop)
    run = RunResult(model_type="regime")
    run.add_fit(symbol, model, fitted)
    if run.interrupted:
        return run
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(x_val), dim=1).cpu().numpy()
    pred = probs.argmax(axis=1)
    run.metrics = metrics.classification_scores(data.y_val, pred, F.REGIMES)
    run.baselines = {
        "majority": metrics.classification_scores(data.y_val, np.full_like(data.y_val, data.majority),
                                                  F.REGIMES),
        "rule": metrics.classification_scores(data.y_val, data.rule_val, F.REGIMES),
    }
    run.spec = {"kind": ARCH, "n_features": len(F.REGIME_FEATURES), "hidden_size": REGIME_HIDDEN,
                "n_classes": 4,
                "features": list(F.REGIME_FEATURES), "regimes": list(F.REGIMES), "symbol": symbol,
                "label_rule": F.LabelRule().as_dict(), "warmup_days": F.REGIME_WARMUP_DAYS,
                "feature_mean": data.feature_mean.tolist(), "feature_std": data.feature_std.tolist(),
                "class_weights": data.class_weights.tolist()}
    run.windows = {symbol: data.window.as_dict()}
    run.predictions = {symbol: {"dates": [str(d.date()) for d in data.dates_val],
                                "actual": data.y_val.tolist(),
                                "model": pred.tolist(), "rule": data.rule_val.tolist(),
                                "close": data.close[data.val_positions].tolist(),
                                "train_first": str(data.dates[data.train_start].date())}}
    run.total_seconds = clock.seconds()
    return run


def synthetic_market(config: TrainingConfig, folds: int, seed: int) -> tuple[Series, np.ndarray]:
    """A generated market just long enough for the folds, with its true regimes."""
    from .. import features as F
    from ..data.synth import market
    from ..evaluate import val_days

    return market(F.REGIME_WARMUP_DAYS + config.days + (folds - 1) * val_days(config) + 1, seed)


def _scores(true: np.ndarray, pred: np.ndarray) -> dict:
    from .. import features as F
    from .. import metrics

    scores = metrics.classification_scores(true, pred, F.REGIMES)
    return {k: scores[k] for k in (*SCORES, "confusion")}


class RegimeKind(ModelKind):
    name = "regime"
    description = "market regime (Bear, Correction, Bull, Expansion) of one asset"
    catalogue = ("btc_regime_detector",)
    defaults = dict(days=730, epochs=100, patience=15, batch_size=32, learning_rate=0.001,
                    train_val_split=0.8, hidden_size=None, min_r2=None, symbols=None)
    uses = ()
    main_metric = "balanced_accuracy"
    progress_metric = "balanced_accuracy"
    archs = (ARCH,)
    synthetic = True

    def symbols(self, model_name: str, config: TrainingConfig) -> list[str]:
        return [regime_symbol(model_name)]

    def symbols_reason(self, model_name: str, sources: dict[str, str]) -> str:
        return f"regime model {model_name!r} trains on the asset its name starts with"

    def probe_batch(self, config: TrainingConfig, device: str):
        import torch
        from torch import nn

        from .. import features as F
        from ..models import RegimeNet

        model = RegimeNet(len(F.REGIME_FEATURES)).to(device)
        x = torch.randn(config.batch_size, len(F.REGIME_FEATURES), device=device)
        y = torch.randint(0, 4, (config.batch_size,), device=device)
        return model, x, y, nn.functional.cross_entropy

    def train(self, store, config, model_name, *, seed, device, on_epoch=None, stop=None, end=None):
        return train_regime(store, config, regime_symbol(model_name), seed=seed, device=device,
                            on_epoch=on_epoch, stop=stop, end=end)

    def gate(self, metrics: dict, baselines: dict, config: TrainingConfig) -> dict:
        """No worse than the rule baseline's balanced accuracy on the validation block (weak when that block
        holds one regime)."""
        from ..features import REGIMES

        value, floor = metrics["balanced_accuracy"], baselines["rule"]["balanced_accuracy"]
        present = [REGIMES[i] for i, row in enumerate(metrics.get("confusion", [])) if sum(row) > 0]
        note = (f"every validation day is {present[0]}: balanced accuracy is that regime's recall alone, so "
                "this gate says little (use more --days)") if len(present) == 1 else None
        return {"passed": value >= floor - 1e-9, "rule": "balanced_accuracy >= the rule baseline's",
                "threshold": floor, "value": value, "regimes_in_validation": present, "note": note}

    def gate_messages(self, gate: dict, version: int) -> list[str]:
        lines = [f"gate: {gate['note']}"] if gate.get("note") else []
        if not gate.get("passed", True):
            lines.append(f"gate: balanced_accuracy={gate['value']:.4f} < rule baseline "
                         f"{gate['threshold']:.4f}; v{version} saved as rejected, production unchanged")
        return lines

    def build_network(self, spec: dict):
        from ..models import RegimeNet

        return RegimeNet(spec["n_features"], spec["hidden_size"], spec["n_classes"])

    def predict(self, meta, tensors, store, symbol, since):
        import torch

        from .. import features as F
        from ..data.validate import fill_short_gaps
        from ..errors import DataError, UsageError
        from ..pipeline import since_positions, state_of

        if symbol is not None:
            raise UsageError("--symbol is for volatility models; a regime model has one asset")
        spec = meta["spec"]
        symbol = spec["symbol"]
        model = self.build_network(spec)
        model.load_state_dict(state_of(tensors, symbol))
        model.eval()
        frame, _, _ = fill_short_gaps(store.load(symbol).frame)
        table = F.regime_features(frame)
        rule = F.rule_detector(table)  # the causal rule baseline, shown beside the model for every date
        feats = table[spec["features"]].to_numpy()  # the columns, in the order, the version was trained on
        first_ok = int(np.argmax(~np.isnan(feats).any(axis=1)))
        if np.isnan(feats[-1]).any():
            raise DataError(f"{symbol}: not enough history for regime features ({len(frame)} days)")
        pos = since_positions(frame.index, since, max(first_ok, F.REGIME_WARMUP_DAYS))
        x = (feats[pos] - np.asarray(spec["feature_mean"])) / np.asarray(spec["feature_std"])
        with torch.no_grad():
            probs = torch.softmax(model(torch.as_tensor(x, dtype=torch.float32)), dim=1).numpy()
        regimes = spec["regimes"]
        return [{"symbol": symbol, "date": str(frame.index[p].date()), "regime": regimes[int(row.argmax())],
                 "probabilities": {r: round(float(v), 4) for r, v in zip(regimes, row)},
                 "rule_regime": F.REGIMES[int(rule[p])]} for p, row in zip(pos, probs)]

    def prediction_table(self, rows):
        columns = ["date", "regime", "Bear", "Correction", "Bull", "Expansion", "rule_regime"]
        return columns, [[r["date"], r["regime"], *r["probabilities"].values(),
                          r["rule_regime"]] for r in rows]

    def score_table(self, metrics: dict, baselines: dict, windows: dict) -> ScoreTable:
        from ..features import REGIMES

        rows = [["model", *(metrics[k] for k in TABLE_SCORES)]]
        rows += [[name, *(s[k] for k in TABLE_SCORES)] for name, s in baselines.items()]
        notes = []
        present = [REGIMES[i] for i, row in enumerate(metrics.get("confusion", [])) if sum(row) > 0]
        if len(present) == 1:  # balanced accuracy is then that regime's recall alone
            notes.append(f"note: every validation day is {present[0]}, so balanced accuracy is that regime's "
                         "recall "
                         "alone and the majority class can score 1.0; this split says little about skill. "
                         "Use more "
                         "--days, or `mltrain evaluate` for several periods")
        return ["detector", "accuracy", "balanced acc", "macro-F1", "lag (days)", "changes/yr"], rows, notes

    # ---------------------------------------------------------------- evaluation
    def evaluation_end(self, store, model_name, config, folds, synthetic_seed):
        import pandas as pd

        if synthetic_seed is not None:
            series, _ = synthetic_market(config, folds, synthetic_seed)
            return series.frame.index[-1]
        return pd.Timestamp(regime_data(store.load(regime_symbol(model_name)), config).window.last)

    def fold(self, store, model_name, config, seed, end, synthetic_seed, folds, stop=None):
        from ..baselines import MissingExtra, hmm_regimes
        from ..data import synth

        series, truth = (synthetic_market(config, folds, synthetic_seed) if synthetic_seed is not None
                         else (store.load(regime_symbol(model_name)), None))
        run = train_regime(store, config, series.symbol, seed=seed, device="cpu", end=end, series=series,
                           true_labels=truth, stop=stop)
        if run.interrupted:
            return {"interrupted": True}
        data = regime_data(series, config, end=end, true_labels=truth)
        true = data.y_val
        predictions = run.predictions[series.symbol]
        detectors = {"model": np.asarray(predictions["model"]),
                     "majority": np.full_like(true, data.majority), "rule": data.rule_val}
        scores: dict[str, dict | None] = {k: _scores(true, v) for k, v in detectors.items()}
        missing = []
        try:
            hmm = hmm_regimes(data.close, slice(data.train_start, data.val_positions[0]), data.val_positions,
                              seed)
            scores["hmm"] = _scores(true, hmm)
            predictions["hmm"] = hmm.tolist()
        except MissingExtra:
            scores["hmm"], missing = None, ["hmm"]
        # the best causal detector for this process: the filter with the true parameters
        if truth is not None:
            probs = synth.forward_filter(data.close[data.train_start:data.val_positions[-1] + 1])
            best = probs.argmax(axis=1)[data.val_positions - data.train_start]
            scores["forward_filter_true_params"] = _scores(true, best)
            predictions["forward_filter_true_params"] = best.tolist()
        return {"metrics": scores.pop("model"), "baselines": scores, "windows": run.windows,
                "predictions": run.predictions, "missing_extras": missing}

    def summarize(self, folds: list[dict]) -> dict:
        out: dict[str, dict | None] = {}
        for who in ["model", *folds[0]["baselines"]]:
            scores = [f["metrics"] if who == "model" else f["baselines"][who] for f in folds]
            if any(s is None for s in scores):
                out[who] = None
                continue
            means = {}
            for key in SCORES:
                values = [s[key] for s in scores if s[key] is not None]
                means[key] = round(float(np.mean(values)), 4) if values else None
            out[who] = means
        return out

    def fold_table(self, result: dict):
        names = list(result["folds"][0]["baselines"])
        rows = []
        for k, fold in enumerate(result["folds"], start=1):
            for symbol, val in fold["validation"].items():
                m = fold["metrics"]
                rows.append([k, f"{val['first']}..{val['last']}", symbol, m["balanced_accuracy"],
                             m["macro_f1"],
                             m["detection_lag_days"],
                             *(b["balanced_accuracy"] if b is not None else "not installed"
                               for b in fold["baselines"].values())])
        return (["fold", "validation", "symbol", "model bal. acc", "model macro-F1", "model lag (days)",
                 *[f"{n} bal. acc" for n in names]], rows)

    def report(self, result, out, plt):
        from ..features import REGIMES
        from ..report import md_table, series, shade_runs

        folds, parts = result["folds"], []
        symbol = next(iter(folds[0]["validation"]))
        confusion = np.sum([np.asarray(f["metrics"]["confusion"]) for f in folds], axis=0)
        parts.append("### Confusion matrix of the model, all folds (rows: true, columns: predicted)\n")
        parts.append(md_table(["true \\ predicted", *REGIMES], [[REGIMES[i],
                                                                 *confusion[i].tolist()] for i in range(4)]))
        if plt is not None:
            dates, close = series(folds, symbol, "close")
            _, true = series(folds, symbol, "actual")
            _, pred = series(folds, symbol, "model")
            x = np.asarray(dates, dtype="datetime64[D]")
            fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
            synthetic = result.get("synthetic_seed") is not None
            truth = "true (generating) regime" if synthetic else "true (ex-post) regime"
            for ax, labels, title in ((axes[0], true, truth), (axes[1], pred, "predicted regime")):
                ax.plot(x, close, color="black", lw=1)
                ax.set_yscale("log")
                shade_runs(ax, x, labels.astype(int), REGIMES, COLORS, f"{symbol} close, shaded by {title}")
            fig.tight_layout()
            fig.savefig(out / "regime_price.png", dpi=110)
            plt.close(fig)
            fig, ax = plt.subplots(figsize=(5, 4.5))
            ax.imshow(confusion, cmap="Blues")
            ax.set_xticks(range(4), REGIMES, rotation=30)
            ax.set_yticks(range(4), REGIMES)
            for i, j in np.ndindex(4, 4):
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center")
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            fig.tight_layout()
            fig.savefig(out / "regime_confusion.png", dpi=110)
            plt.close(fig)
            parts.append("![price shaded by regime](regime_price.png)\n\n![confusion "
                         "matrix](regime_confusion.png)\n")
        parts.append("## Summary (means over folds)\n")
        parts.append(md_table(["detector", "balanced acc", "macro-F1", "lag (days)", "changes/yr"],
                              [[n, *(m.values() if m is not None else ["not installed", "", "", ""])]
                               for n, m in result["summary"].items()]))
        return parts

    def evaluation_headline(self, summary: dict) -> str:
        return ", ".join(f"{who} {s['balanced_accuracy']:.2f}" if isinstance(s, dict) else f"{who} {s}"
                         for who, s in summary.items())
