"""The volatility forecaster: annualized volatility of each symbol over the next 7 days.

New versions use the HAR-residual design of volatility_model.py (bias-corrected log-HAR plus a correction
learned by one network pooled over symbols, its epoch chosen on a selection block). Versions saved with the
older per-symbol GRU (volatility_gru.py) still load and predict. The gate asks every symbol's out-of-sample
R² on the untouched validation block to reach min_r2. Heavy libraries are imported inside the methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..specs import VOLATILITY
from . import volatility_gru as gru
from .base import ModelKind, ScoreTable
from .volatility_eval import (
    BASELINES,
    LOG_HAR_VARIANTS,
    SCORES,
    headline_table,
    pooled_summary,
    verdict_lines,
)
from .volatility_model import ARCH, DEFAULT_HIDDEN, INPUTS, POOLED, UNUSED_WITHOUT_CORRECTION

if TYPE_CHECKING:
    from ..config import TrainingConfig

EMBEDDED_SERIES = 21  # series shipped in the package: the pool of a fresh install
SHORT_VALIDATION_DAYS = 60  # below this a split holds under nine non-overlapping weekly targets


class VolatilityKind(ModelKind):
    name = "volatility"
    description = "annualized volatility of each symbol over the next 7 days"
    catalogue = ("volatility_forecaster",)
    defaults = VOLATILITY.defaults  # declared in specs.py, below the config that layers them
    unlisted_defaults = VOLATILITY.unlisted_defaults
    uses = VOLATILITY.uses
    main_metric = "r2_min"
    progress_metric = "selection_qlike"
    selection_loss_text = "QLIKE on the folds' selection blocks (a loss: lower is better)"
    score_better = {"r2 (log vol)": "high", "QLIKE": "low", "MAE (ann. vol)": "low"}
    ratio_column, score_group = "QLIKE", "symbol"
    fold_table_drop = tuple(f"{b} QLIKE" for b in ("persistence", "ewma", "gjr_garch", "garch", "har"))
    archs = (ARCH, gru.ARCH)
    outcome_days = 7  # a validation day's target is the next 7 days' realized volatility

    def symbols(self, model_name: str, config: TrainingConfig) -> list[str]:
        return list(config.symbols or [])

    def progress_units(self, model_name: str, config: TrainingConfig) -> list[str]:
        return [POOLED]  # one network for all symbols

    def training_rows(self, config: TrainingConfig) -> float:
        if config.correction != "on":
            return 0.0  # no network is trained: the run is loading, log-HAR fits and baselines only
        # the fit block (about 80% of the training span) of every series in the store: 21 embedded ones
        return config.days * config.train_val_split * 0.8 * EMBEDDED_SERIES

    def unused_fields(self, config: TrainingConfig) -> tuple[str, ...]:
        return () if config.correction == "on" else UNUSED_WITHOUT_CORRECTION  # no network is trained

    unused_why = "correction off: no network is trained; --correction on trains one"

    def worker_modules(self, config):
        return (*super().worker_modules(config), "arch")  # the GARCH baselines of every fold

    def symbols_reason(self, model_name: str, sources: dict[str, str]) -> str:
        return f"symbols from {sources['symbols']}"

    def probe_batch(self, config: TrainingConfig, device: str):
        import torch

        from .volatility_model import build_network, qlike_loss

        model = build_network(len(INPUTS), config.hidden_size or DEFAULT_HIDDEN).to(device)
        x = torch.randn(config.batch_size, len(INPUTS) + 1, device=device)
        y = torch.randn(config.batch_size, device=device)
        return model, x, y, qlike_loss

    def train(self, store, config, model_name, *, seed, device, on_epoch=None, stop=None, end=None):
        from .volatility_train import train_pooled

        return train_pooled(store, config, seed=seed, device=device, on_epoch=on_epoch, stop=stop, end=end)

    def gate(self, metrics: dict, baselines: dict, config: TrainingConfig) -> dict:
        """Every symbol's out-of-sample R² on the validation block must reach min_r2. Whatever the gate
        says, `lost_to` names the log-HAR variants that forecast a symbol better (lower QLIKE)."""
        lost_to = {}
        for symbol, scores in metrics["symbols"].items():
            better = [
                b
                for b in LOG_HAR_VARIANTS
                if (baselines.get(b) or {}).get(symbol) is not None
                and baselines[b][symbol]["qlike"] < scores["qlike"]
            ]
            if better:
                lost_to[symbol] = {b: baselines[b][symbol]["qlike"] for b in better}
        if config.min_r2 is None:
            return {**super().gate(metrics, baselines, config), "lost_to": lost_to}
        failing = {}
        for symbol, scores in metrics["symbols"].items():
            if scores["r2"] < config.min_r2:
                named = {b: per[symbol] for b, per in baselines.items() if per.get(symbol) is not None}
                best = max(named, key=lambda b: named[b]["r2"])
                failing[symbol] = {
                    "r2": scores["r2"],
                    "best_baseline": best,
                    "best_baseline_r2": named[best]["r2"],
                }
        return {
            "passed": not failing,
            "rule": "every symbol's r2 >= min_r2",
            "threshold": config.min_r2,
            "failing": failing,
            "lost_to": lost_to,
        }

    def score_logged(self, rows, store):
        from .logged_scores import volatility

        return volatility(rows, store)

    def promotion_figures(self, candidate, production, config):
        from .volatility_promotion import promotion_figures

        return promotion_figures(candidate, production, config)

    def promotion_lines(self, evidence):
        from .volatility_promotion import promotion_lines

        return promotion_lines(evidence)

    def pooled_headline(self, evidence: dict) -> float | None:
        r2 = [v.get("r2") for v in (evidence.get("candidate") or {}).values() if isinstance(v, dict)]
        return min((x for x in r2 if x is not None), default=None)  # r2_min, as the version's own metric

    def pooled_baseline(self, evidence: dict) -> dict | None:
        """The best baseline by r2 on the symbol whose r2 is the headline (the lowest)."""
        scored = {
            s: v["r2"]
            for s, v in (evidence.get("candidate") or {}).items()
            if (v or {}).get("r2") is not None
        }
        if not scored:
            return None
        symbol = min(scored, key=scored.get)
        r2 = {b: (v.get(symbol) or {}).get("r2") for b, v in (evidence.get("baselines") or {}).items()}
        r2 = {b: x for b, x in r2.items() if isinstance(x, int | float)}
        best = max(r2, key=r2.get, default=None)
        return (
            None if best is None else {"symbol": symbol, "baseline": best, "metric": "r2", "value": r2[best]}
        )

    def gate_messages(self, gate: dict, version: int) -> list[str]:
        pooled = gate.get("basis") == "promotion folds"
        where = "pooled over the promotion folds" if pooled else "on the validation block"

        def num(value) -> str:
            return "n/a" if value is None else f"{value:.4f}"

        lines = [
            f"gate: {symbol} r2={num(fail['r2'])} {where} < min_r2={gate['threshold']} (best baseline "
            f"by r2: {fail['best_baseline']} r2={num(fail['best_baseline_r2'])}); v{version} saved as rejected, "
            "production unchanged"
            for symbol, fail in gate.get("failing", {}).items()
        ]
        for symbol, better in gate.get("lost_to", {}).items():
            listed = ", ".join(f"{b} QLIKE {q:.4f}" for b, q in better.items())
            lines.append(
                f"warning: {symbol}: the model's QLIKE {where} is worse than {listed}"
                + (
                    "; the DM test says beyond noise"
                    if pooled
                    else "; on this block the baseline forecasts better"
                )
            )
        return lines

    def build_network(self, spec: dict):
        if spec["kind"] == gru.ARCH:
            return gru.build_network(spec)
        from .volatility_model import build_network

        return build_network(spec["n_inputs"], spec["hidden_size"])

    def predict(self, meta, tensors, store, symbol, since):
        if meta["spec"]["kind"] == gru.ARCH:
            return gru.predict(meta, tensors, store, symbol, since)
        from .volatility_model import predict_rows

        rows = predict_rows(self.build_network(meta["spec"]), meta, tensors, store, symbol, since)
        for row in rows:  # what to do: volatility targeting's weight (versions before it have no target)
            spec = meta["spec"]["symbols"].get(row["symbol"], {})
            if spec.get("target_vol") is not None:
                weight = min(spec["max_leverage"], spec["target_vol"] / row["forecast_annualized_vol"])
                row["target_vol"], row["weight"] = spec["target_vol"], round(weight, 4)
        return rows

    def prediction_table(self, rows):
        columns = [
            "symbol",
            "date",
            "horizon_days",
            "forecast_annualized_vol",
            "trailing_realized_vol",
            "weight",
            "in_sample",
        ]
        return columns, [[r.get(c) for c in columns] for r in rows]

    def score_table(self, metrics: dict, baselines: dict, windows: dict) -> ScoreTable:
        rows = []
        for symbol, scores in metrics["symbols"].items():
            rows.append([symbol, "model", *(scores[k] for k in SCORES)])
            rows += [
                [symbol, name, *(per[symbol][k] for k in SCORES)]
                for name, per in baselines.items()
                if per.get(symbol) is not None
            ]
        notes = []
        kept = metrics.get("correction_kept")
        if kept:
            notes.append(
                f"note: the network's correction is applied for {', '.join(kept)} (it cut that symbol's "
                "selection QLIKE by 2%); the other symbols' forecasts are the log-HAR base"
            )
        elif metrics.get("correction_applied") is True:
            notes.append(
                "note: correction is on, but the network's correction cut no symbol's selection QLIKE by 2%, "
                "so every forecast is the log-HAR base"
            )
        elif metrics.get("unused_fields"):
            notes.append(
                "note: the model's forecasts are its log-HAR base (exponentially weighted, robust bias "
                "constant) and no network was trained (correction: off, the default; it lost to plain "
                "log-HAR on SOL in the design study, docs/volatility.md), so "
                + ", ".join(metrics["unused_fields"])
                + " were not used"
            )
        elif metrics.get("correction_applied") is False:  # versions saved before the network was skipped
            notes.append(
                "note: the model's forecasts are its log-HAR base; the network was fitted but its correction "
                "is not applied (correction: off), so the training fields did not change the forecasts"
            )
        fewest = min((w["val_samples"] for w in windows.values()), default=None)
        if fewest is not None and fewest < SHORT_VALIDATION_DAYS:
            independent = max(fewest // 7, 1)
            notes.append(
                f"note: {fewest} validation days hold about {independent} independent 7-day "
                f"target{'s' if independent > 1 else ''}, so a few volatile days decide r2 and QLIKE; "
                "use more --days, or `mltrain evaluate --folds all` for the whole history"
            )
        return ["symbol", "forecaster", "r2 (log vol)", "QLIKE", "MAE (ann. vol)"], rows, notes

    # ---------------------------------------------------------------- evaluation
    def evaluation_span(self, store, model_name, config, synthetic_seed, folds):
        from .volatility_model import sample_span

        # a symbol with a shorter history joins the folds once it has `days` of it; the series that ends
        # first sets the last fold for all (span_note says so)
        spans = [sample_span(store.load(s), config) for s in config.symbols or []]
        return min(s[0] for s in spans), min(s[1] for s in spans)

    def span_note(self, store, config, holdout_from=None, ends=None):
        import pandas as pd

        from ..data.validate import extreme_ranges
        from .volatility_model import HORIZON, INPUT_DAYS, usable_range

        notes = []
        series = {s: store.load(s) for s in config.symbols or []}
        usable = {s: usable_range(one) for s, one in series.items()}  # first and last usable sample day
        cap = None if holdout_from is None else holdout_from - pd.Timedelta(days=1)
        last = {s: day if cap is None else min(day, cap) for s, (_, day) in usable.items()}
        end = min(last.values(), default=None)
        later = sorted(s for s, day in last.items() if day > end)
        if later:
            first = sorted(s for s, day in last.items() if day == end)
            notes.append(
                f"Folds end on {end.date()}, the last usable day of {', '.join(first)}; {', '.join(later)} "
                f"{'has' if len(later) == 1 else 'have'} data to {max(last.values()).date()}: evaluate "
                f"{', '.join(first)} apart to score the others to their end."
            )
        extreme = []
        for s, (first, last_day) in usable.items():
            if ends:  # the folds' samples: `days` back from the first block's end to the last block's end
                first = max(first, ends[0] - pd.Timedelta(days=config.days - 1))
                last_day = min(last_day, ends[-1])
            # a sample's inputs reach INPUT_DAYS - 1 days back, its target HORIZON days ahead
            low = str((first - pd.Timedelta(days=INPUT_DAYS - 1)).date())
            high = str((last_day + pd.Timedelta(days=HORIZON)).date())
            extreme += [
                f"{s} {x['date']} ({x['high_low']:,g}x)"
                for x in extreme_ranges(series[s].frame)
                if low <= x["date"] <= high
            ]
        if extreme:
            notes.append(
                f"Days in these folds' data with a high at least 10x the low: {', '.join(extreme)}; kept as "
                "the source printed them, each enters the range-based variance (inputs and target) as a "
                "crash and can decide a fold's scores."
            )
        return " ".join(notes) or None

    def fold(self, store, model_name, config, seed, end, synthetic_seed, folds, stop=None):
        from .volatility_train import train_pooled

        run = train_pooled(store, config, seed=seed, device="cpu", end=end, stop=stop, skip_short=True)
        if run.interrupted:
            return {"interrupted": True}
        return {
            "metrics": run.metrics,
            "baselines": run.baselines,
            "windows": run.windows,
            "predictions": run.predictions,
            "missing_extras": run.missing_extras,
            "best_epoch": run.best_epoch,
            "selection_loss": run.selection_score,
        }

    def summarize(self, folds: list[dict]) -> dict:
        return pooled_summary(folds)

    def decision(self, folds: list[dict]) -> dict:
        from .volatility_decision import decision_summary

        return decision_summary(folds)

    def verdicts(self, summary: dict) -> list[str]:
        return verdict_lines(summary)

    def headline_table(self, summary: dict) -> ScoreTable:
        return headline_table(summary)

    def fold_table(self, result: dict):
        names = [b for b in BASELINES if b in result["folds"][0]["baselines"]]
        rows = []
        for k, fold in enumerate(result["folds"], start=1):
            for symbol, val in fold["validation"].items():
                m = fold["metrics"]["symbols"][symbol]
                rows.append(
                    [
                        k,
                        f"{val['first']}..{val['last']}",
                        symbol,
                        m["r2"],
                        m["qlike"],
                        *(
                            (fold["baselines"][b].get(symbol) or {}).get("qlike", "not installed")
                            for b in names
                        ),
                    ]
                )
        return [
            "fold",
            "validation",
            "symbol",
            "model r2",
            "model QLIKE",
            *[f"{n} QLIKE" for n in names],
        ], rows

    def report(self, result, out, plt):
        from .volatility_eval import report_parts

        return report_parts(result, out, plt)

    def evaluation_headline(self, summary: dict) -> str:
        return "; ".join(
            f"{symbol} QLIKE {s['scores']['model']['qlike']} vs {s['best_log_har']} "
            f"{s['scores'][s['best_log_har']]['qlike']} (ratio {s['ratio_to_best_log_har']})"
            for symbol, s in summary.items()
            if s.get("best_log_har")
        )
