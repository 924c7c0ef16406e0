"""The regime detector: four market regimes (Bear, Correction, Bull, Expansion) of one asset.

The design lives in regime_model.py (a network trained on the regime spells of every series in the store, and
a decision that starts from the causal rule); its walk-forward scoring in regime_eval.py. Labels are ex-post
turning points, computed for each block from prices before it. Heavy libraries are imported in the methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module
from ..specs import REGIME
from .base import ModelKind, ScoreTable
from .regime_data import PRETRAIN_DAYS, PRETRAIN_EPOCHS
from .regime_eval import DETECTORS, add_baselines, headline_table, pooled_summary, regimes_held, verdict_lines
from .regime_model import ARCH, regime_symbol
from .regime_seq import SEQ_ARCH

if TYPE_CHECKING:
    import numpy as np

    from ..config import TrainingConfig
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py

NEAR_COPY_CORRELATION = 0.95  # daily log returns this correlated: one price path (a wrapped or staked coin)
NEAR_COPY_MIN_DAYS = 180  # common days needed before two series can count as copies
POOLED_ROWS = 40_000  # labelled days of the 21 embedded series with warm-up: what one epoch reads
EMBEDDED_SERIES = 21
TABLE_SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "detection_lag_days", "changes_per_year")


def synthetic_market(config: TrainingConfig, folds: int, seed: int):
    """A generated market just long enough for the folds, with its true regimes."""
    from .. import features as F
    from ..data.synth import market
    from ..pipeline import val_days

    return market(F.REGIME_WARMUP_DAYS + config.days + (folds - 1) * val_days(config) + 1, seed)


def near_copies(store, symbol: str) -> list[str]:
    """Real series whose daily log returns correlate with `symbol`'s at NEAR_COPY_CORRELATION or more over at
    least NEAR_COPY_MIN_DAYS common days: training on them is training on the asset itself."""
    import pandas as pd

    def returns(name: str):
        return np.log(store.load(name).frame["close"]).diff()

    own, out = returns(symbol), []
    for other in store.symbols():
        if other == symbol or store.load(other).source.startswith("synthetic"):
            continue
        both = pd.concat([own, returns(other)], axis=1, join="inner").dropna()
        if len(both) >= NEAR_COPY_MIN_DAYS and both.corr().iloc[0, 1] >= NEAR_COPY_CORRELATION:
            out.append(other)
    return out


class RegimeKind(ModelKind):
    name = "regime"
    description = "market regime (Bear, Correction, Bull, Expansion) of one asset"
    catalogue = ("btc_regime_detector",)
    defaults = REGIME.defaults  # declared in specs.py, below the config that layers them
    uses = REGIME.uses
    unlisted_defaults = REGIME.unlisted_defaults
    main_metric = "balanced_accuracy"
    progress_metric = "selection_balanced_accuracy"
    selection_loss_text = (
        "minus the balanced accuracy on the folds' selection blocks (lower is better: -0.62 is 0.62)"
    )
    score_better = {"accuracy": "high", "balanced acc": "high", "macro-F1": "high"}
    ratio_column, not_baselines = "balanced acc", ("model", "network alone")
    fold_table_drop = tuple(f"{b} bal. acc" for b in ("network", "majority", "jump_model", "hmm"))
    archs = (ARCH, SEQ_ARCH)
    synthetic = True
    cross_asset = True
    outcome_days = 365  # ex-post labels: a turning point is confirmed by later prices (months, not days)

    def symbols(self, model_name: str, config: TrainingConfig) -> list[str]:
        # the scored asset, then the pool `symbols` names (None: every real series, found when training)
        own = regime_symbol(model_name)
        return [own, *(s for s in config.symbols or () if s != own)]

    def progress_units(self, model_name: str, config: TrainingConfig) -> list[str]:
        return [regime_symbol(model_name)]  # one network, whatever its pool

    def training_rows(self, config: TrainingConfig) -> float:
        # every labelled day of every pooled series before the selection block, whatever `days` is
        if not config.symbols:
            return POOLED_ROWS
        return POOLED_ROWS * min(1.0, len(set(config.symbols)) / EMBEDDED_SERIES + 1 / EMBEDDED_SERIES)

    def worker_modules(self, config):
        return (*super().worker_modules(config), "hmmlearn.hmm")  # the HMM baseline of every fold

    def extra_training_rows(self, values: dict) -> float:
        # pretraining: every generated market's days, PRETRAIN_EPOCHS passes (regime_pretrain.py)
        return float((values.get("pretrain_markets") or 0) * PRETRAIN_DAYS * PRETRAIN_EPOCHS)

    def symbols_reason(self, model_name: str, sources: dict[str, str]) -> str:
        pool = f"; its training pool from {sources['symbols']}" if sources.get("symbols") else ""
        return f"regime model {model_name!r} is scored on the asset its name starts with{pool}"

    def probe_batch(self, config: TrainingConfig, device: str):
        import torch
        from torch import nn

        from .. import features as F
        from .regime_seq import PATH_CHANNELS, SEQ_DAYS, new_network

        encoder = config.encoder or "mlp"
        n = len(F.REGIME_FEATURES) + (len(PATH_CHANNELS) if encoder == "gru" else 0)
        model = new_network(encoder, n).to(device)
        shape = (config.batch_size, SEQ_DAYS, n) if encoder == "gru" else (config.batch_size, n)
        x = torch.randn(*shape, device=device)
        y = torch.randint(0, 4, (config.batch_size,), device=device)
        return model, x, y, nn.functional.cross_entropy

    def train(self, store, config, model_name, *, seed, device, on_epoch=None, stop=None, end=None):
        from .regime_model import train_regime

        return train_regime(
            store,
            config,
            regime_symbol(model_name),
            seed=seed,
            device=device,
            on_epoch=on_epoch,
            stop=stop,
            end=end,
        )

    def gate(self, metrics: dict, baselines: dict, config: TrainingConfig) -> dict:
        """No worse than the rule's balanced accuracy on the validation block (weak when it holds one regime)."""
        value, floor = metrics["balanced_accuracy"], baselines["rule"]["balanced_accuracy"]
        present = regimes_held(metrics.get("confusion"))
        note = None
        if len(present) == 1:
            note = (
                f"every validation day is {present[0]}: balanced accuracy is that regime's recall alone, so "
                "this gate says little (use more --days)"
            )
        return {
            "passed": value >= floor - 1e-9,
            "rule": "balanced_accuracy >= the rule baseline's",
            "threshold": floor,
            "value": value,
            "regimes_in_validation": present,
            "note": note,
        }

    def score_logged(self, rows, store):
        from .logged_scores import regime

        return regime(rows, store)

    def promotion_figures(self, candidate, production, config):
        from .regime_promotion import promotion_figures

        return promotion_figures(candidate, production, config)

    def promotion_classes(self, store, model_name, config):
        from .regime_promotion import promotion_classes

        return promotion_classes(store, regime_symbol(model_name), config)

    def promotion_lines(self, evidence):
        from .regime_promotion import promotion_lines

        return promotion_lines(evidence)

    def pooled_headline(self, evidence: dict) -> float | None:
        return (evidence.get("candidate") or {}).get("balanced_accuracy")

    def pooled_baseline(self, evidence: dict) -> dict | None:
        rule = ((evidence.get("baselines") or {}).get("rule") or {}).get("balanced_accuracy")
        return None if rule is None else {"symbol": None, "baseline": "rule", "metric": None, "value": rule}

    def gate_messages(self, gate: dict, version: int) -> list[str]:
        lines = [f"gate: {gate['note']}"] if gate.get("note") else []
        if not gate.get("passed", True):
            from .regime_promotion import interval_text

            interval = interval_text(gate.get("candidate_minus_rule"))
            beyond = f" beyond noise (paired 90% {interval})" if interval else ""
            lines.append(
                f"gate: balanced_accuracy={gate['value']:.4f} < rule baseline "
                f"{gate['threshold']:.4f}{beyond}; v{version} saved as rejected, production unchanged"
            )
        return lines

    def build_network(self, spec: dict):
        from .regime_seq import build_network

        return build_network(spec)

    def predict(self, meta, tensors, store, symbol, since):
        from ..errors import UsageError
        from ..pipeline import state_of
        from .regime_predict import predict_rows

        if symbol is not None:
            raise UsageError("--symbol is for volatility models; a regime model has one asset")
        model = self.build_network(meta["spec"])
        model.load_state_dict(state_of(tensors, meta["spec"]["symbol"]))
        model.eval()
        return predict_rows(model, meta, store, since)

    def prediction_table(self, rows):
        columns = [
            "symbol",
            "date",
            "regime",
            "network_regime",
            "exposure",
            "Bear",
            "Correction",
            "Bull",
            "Expansion",
            "rule_regime",
            "out_of_distribution",
            "in_sample",
        ]
        return columns, [
            [
                r["symbol"],
                r["date"],
                r["regime"],
                r.get("network_regime", "-"),
                r.get("exposure"),
                *r["probabilities"].values(),
                r["rule_regime"],
                r["out_of_distribution"],
                r.get("in_sample"),
            ]
            for r in rows
        ]

    def score_table(self, metrics: dict, baselines: dict, windows: dict) -> ScoreTable:
        rows = [["model", *(metrics[k] for k in TABLE_SCORES)]]
        if isinstance(metrics.get("network"), dict):
            rows.append(["network alone", *(metrics["network"][k] for k in TABLE_SCORES)])
        rows += [[name, *(s[k] for k in TABLE_SCORES)] for name, s in baselines.items()]
        notes = []
        present = regimes_held(metrics.get("confusion"))
        if len(present) == 1:  # balanced accuracy is then that regime's recall alone
            notes.append(
                f"note: every validation day is {present[0]}, so balanced accuracy is that regime's "
                f"recall alone: a detector that always says {present[0]} would score 1.0, and this split says "
                "little about skill (the promotion check pools several folds). Use more --days, or "
                "`mltrain evaluate --folds all` for the whole history"
            )
        return ["detector", "accuracy", "balanced acc", "macro-F1", "lag (days)", "changes/yr"], rows, notes

    # ---------------------------------------------------------------- evaluation
    def evaluation_span(self, store, model_name, config, synthetic_seed, folds):
        from .regime_data import asset, sample_span
        from .regime_labels import scale_labels

        if synthetic_seed is not None:
            series, truth = synthetic_market(config, folds, synthetic_seed)
            return sample_span(asset(series, truth), config)
        target = asset(store.load(regime_symbol(model_name)))
        scale_labels(store, config, [target])
        return sample_span(target, config)

    def held_out(self, store, model_name, config):
        symbol = regime_symbol(model_name)
        return [symbol, *near_copies(store, symbol)]

    def fold(self, store, model_name, config, seed, end, synthetic_seed, folds, stop=None, held_out=()):
        from .regime_decision import add_exposures
        from .regime_eval import fold_scores
        from .regime_model import train_regime

        series, truth = (
            synthetic_market(config, folds, synthetic_seed)
            if synthetic_seed is not None
            else (store.load(regime_symbol(model_name)), None)
        )
        run = train_regime(
            store,
            config,
            series.symbol,
            seed=seed,
            device="cpu",
            end=end,
            series=series,
            truth=truth,
            stop=stop,
            held_out=tuple(held_out),
        )
        if run.interrupted:
            return {"interrupted": True}
        pred = run.predictions[series.symbol]
        from .regime_data import asset

        a = asset(series, truth)
        rows = a.dates.get_indexer(pred["dates"])
        missing = add_baselines(
            pred,
            a.close,
            pred["window_first"],
            pred["selection_last"] + 1,
            rows,
            seed,
            synthetic=truth is not None,
        )
        missing += add_exposures(pred, config, a.close, seed)  # with the unlabelled tail's baseline calls
        true = np.asarray(pred["actual"])
        scores = {
            who: (fold_scores(true, np.asarray(pred[who])) if pred.get(who) is not None else None)
            for who in DETECTORS
            if who in pred
        }
        return {
            "metrics": scores.pop("model"),
            "baselines": scores,
            "windows": run.windows,
            "predictions": run.predictions,
            "missing_extras": missing,
            "best_epoch": run.best_epoch,
            "selection_loss": run.selection_score,
            "policy": run.spec[
                "policy"
            ],  # shipped, and the selection block's pick with every candidate's score
            "training_pool": run.spec["pool"],  # the series the fold's network learnt from
            "training_rows": run.spec["training_rows"],
        }

    def summarize(self, folds: list[dict]) -> dict:
        return pooled_summary(folds)

    def decision(self, folds: list[dict]) -> dict:
        from .regime_decision import decision_summary

        return decision_summary(folds)

    def verdicts(self, summary: dict) -> list[str]:
        return verdict_lines(summary)

    def headline_table(self, summary: dict) -> ScoreTable:
        return headline_table(summary)

    def fold_table(self, result: dict):
        from .regime_eval import fold_table

        return fold_table(result)

    def report(self, result, out, plt):
        from .regime_eval import report_parts

        return report_parts(result, out, plt)

    def evaluation_headline(self, summary: dict) -> str:
        parts = []
        for symbol, s in summary.items():
            d = s["detectors"]
            parts.append(
                # a detector that could not run is a note in its place ('not installed (pip install ...)')
                f"{symbol}: "
                + ", ".join(
                    f"{who} {v['balanced_accuracy']:.2f}" for who, v in d.items() if isinstance(v, dict) and v
                )
            )
        return "; ".join(parts)
