"""The regime detector's walk-forward scoring: baselines on each validation block, pooled figures over all
folds (balanced accuracy with a block-bootstrap interval, recall per regime, detection lag with misses
counted, false alarms, log-loss and Brier), the fold table and the report parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py

SCORES = ("balanced_accuracy", "macro_f1", "detection_lag_days", "changes_per_year")
DETECTORS = ("model", "network", "rule", "majority", "hmm", "jump_model", "forward_filter_true_params")
COLORS = {"Bear": "#c0392b", "Correction": "#e67e22", "Bull": "#27ae60", "Expansion": "#2980b9"}


def fold_scores(true: np.ndarray, pred: np.ndarray) -> dict:
    from .. import features as F
    from .. import metrics

    scores = metrics.classification_scores(true, pred, F.REGIMES)
    return {k: scores[k] for k in (*SCORES, "confusion", "recall", "regimes_detected", "regimes_missed")}


def add_baselines(
    pred: dict, close: np.ndarray, fit_start: int, fit_end: int, rows: np.ndarray, seed: int, synthetic: bool
) -> list[str]:
    """HMM (forward-filtered, with probabilities), the jump model and, on a synthetic market, the filter with
    the true parameters: fitted on rows [fit_start, fit_end), predicted for `rows`. Returns missing extras."""
    from .. import forecasts
    from ..baselines import MissingExtra
    from ..data import synth

    missing = []
    try:
        probs = forecasts.hmm_regime_probs(close, fit_end, rows, fit_start=fit_start, seed=seed)
        pred["hmm"], pred["hmm_probs"] = probs.argmax(axis=1).tolist(), np.round(probs, 5).tolist()
    except MissingExtra:
        pred["hmm"] = pred["hmm_probs"] = None
        missing.append("hmm")
    pred["jump_model"] = forecasts.jump_model_regimes(
        close, fit_end, rows, fit_start=fit_start, seed=seed
    ).tolist()
    if synthetic:  # the best causal detector for this process
        probs = synth.forward_filter(close[fit_start : rows[-1] + 1])
        pred["forward_filter_true_params"] = probs.argmax(axis=1)[rows - fit_start].tolist()
        pred["forward_filter_true_params_probs"] = np.round(probs[rows - fit_start], 5).tolist()
    return missing


def _concat(folds: list[dict], symbol: str, key: str):
    parts = []
    for fold in folds:
        pred = fold["predictions"].get(symbol)
        if pred is None:
            continue
        if pred.get(key) is None:
            return None
        parts.append(np.asarray(pred[key]))
    return np.concatenate(parts) if parts else None


def _r(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


FEW_ROWS = 500  # a fold whose network learnt from fewer rows is named under the table


def pooled_summary(folds: list[dict]) -> dict:
    """Per symbol and detector, every fold's validation days scored at once."""
    from .. import features as F
    from .. import stats

    out = {}
    for symbol in dict.fromkeys(s for f in folds for s in f["predictions"]):
        true = _concat(folds, symbol, "actual").astype(int)
        segment = np.concatenate(
            [
                np.full(len(f["predictions"][symbol]["actual"]), k)
                for k, f in enumerate(folds)
                if symbol in f["predictions"]
            ]
        )
        per = {}
        for who in DETECTORS:
            pred = _concat(folds, symbol, who)
            if pred is None:
                if any(who in f["predictions"].get(symbol, {}) for f in folds):
                    per[who] = None  # an optional package is missing
                continue
            pred = pred.astype(int)
            ci = stats.balanced_accuracy_ci(true, pred)
            lags = stats.detection_lags(true, pred, segment=segment)
            row = {
                "balanced_accuracy": _r(ci["value"]),
                "ci_low": _r(ci["low"]),
                "ci_high": _r(ci["high"]),
                "ci_level": ci["level"],
                "recall": {k: _r(v) for k, v in stats.per_regime_recall(true, pred, F.REGIMES).items()},
                "regime_starts": lags["starts"],
                "detected": lags["detected"],
                "missed": lags["missed"],
                "mean_lag_detected_days": _r(lags["mean_lag_detected"], 2),
                "mean_lag_miss_as_run_days": _r(lags["mean_lag_miss_as_run"], 2),
                "false_alarms_per_year": _r(stats.false_alarms_per_year(true, pred, segment=segment), 2),
                "log_loss": None,
                "brier": None,
            }
            probs = _concat(folds, symbol, "model_probs" if who in ("model", "network") else f"{who}_probs")
            if probs is not None and who != "model":  # the shipped decision is a verdict, not probabilities
                row["log_loss"] = _r(stats.log_loss(true, probs))
                row["brier"] = _r(stats.brier(true, probs))
            per[who] = row
        dates = [d for f in folds if symbol in f["predictions"] for d in f["predictions"][symbol]["dates"]]
        rows = [f["training_rows"] for f in folds if symbol in f["predictions"] and f.get("training_rows")]
        out[symbol] = {
            "days": int(len(true)),
            "folds": int(segment.max() + 1),
            "first": dates[0],
            "last": dates[-1],
            "detectors": per,
            "model_minus_rule": _paired(true, folds, symbol),
            "fewest_training_rows": min(rows) if rows else None,  # the network's smallest fit, over the folds
        }
    return out


def _paired(true: np.ndarray, folds: list[dict], symbol: str) -> dict | None:
    """Model minus rule balanced accuracy with its paired block-bootstrap interval (same days resampled)."""
    from .. import stats

    model, rule = _concat(folds, symbol, "model"), _concat(folds, symbol, "rule")
    if model is None or rule is None:
        return None
    ci = stats.balanced_accuracy_ci(true, model.astype(int), versus=rule.astype(int))
    return {
        "difference": _r(ci["value"]),
        "ci_low": _r(ci["low"]),
        "ci_high": _r(ci["high"]),
        "level": ci["level"],
    }


def verdict_lines(summary: dict) -> list[str]:
    lines = []
    for symbol, s in summary.items():
        model, rule = s["detectors"].get("model"), s["detectors"].get("rule")
        if not model or not rule:
            continue
        if one_regime(s):  # that regime's recall: no ranking of detectors
            verb = f"cannot be ranked (every scored day is {one_regime(s)}) against"
        elif (
            model["ci_low"] > rule["balanced_accuracy"]
        ):  # the bar: the interval above the rule's figure
            verb = "beats"
        elif ((s.get("model_minus_rule") or {}).get("ci_low") or 0.0) > 0:
            verb = "is above (paired interval above 0; its own interval does not clear the rule's figure)"
        elif model["balanced_accuracy"] > rule["balanced_accuracy"]:
            verb = "is above (within its interval, not shown to beat)"
        else:
            verb = "does NOT beat"
        lines.append(
            f"{symbol}: model balanced accuracy {model['balanced_accuracy']:.3f} [90% {model['ci_low']:.3f}, "
            f"{model['ci_high']:.3f}] {verb} the rule's {rule['balanced_accuracy']:.3f} [{rule['ci_low']:.3f}, "
            f"{rule['ci_high']:.3f}]; Bear recall {_p(model['recall']['Bear'])} vs {_p(rule['recall']['Bear'])}; "
            f"regime starts missed {model['missed']}/{model['regime_starts']} vs {rule['missed']}/"
            f"{rule['regime_starts']}; lag counting misses {_days(model['mean_lag_miss_as_run_days'])} vs "
            f"{_days(rule['mean_lag_miss_as_run_days'])}; {s['days']} days in {s['folds']} folds"
            + _paired_text(s.get("model_minus_rule"))
        )
    return lines


def _days(value) -> str:
    """A lag in days; none when no regime started in the blocks ('None vs None days' once)."""
    return "n/a (no regime start)" if value is None else f"{value} days"


def _paired_text(paired: dict | None) -> str:
    if not paired or paired.get("ci_low") is None:
        return ""  # a summary recorded before the paired interval existed
    return (
        f"; model minus rule {paired['difference']:+.3f} [paired 90% {paired['ci_low']:+.3f}, "
        f"{paired['ci_high']:+.3f}]"
    )


def _p(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def report_parts(result: dict, out, plt) -> list[str]:
    from ..features import REGIMES
    from ..figures import annotate_matrix, md_table, save_figure, series, shade_runs

    folds, parts = result["folds"], ["## Pooled over all folds\n"]
    parts += [f"- {line}\n" for line in verdict_lines(result["summary"])]
    for symbol, s in result["summary"].items():
        rows = [
            [
                who,
                d["balanced_accuracy"],
                f"{d['ci_low']}..{d['ci_high']}",
                *d["recall"].values(),
                f"{d['missed']}/{d['regime_starts']}",
                d["mean_lag_detected_days"],
                d["mean_lag_miss_as_run_days"],
                d["false_alarms_per_year"],
                d["log_loss"],
                d["brier"],
            ]
            if isinstance(d, dict)  # a detector whose package is missing holds 'not installed (...)'
            else [who, d or "not installed"]
            for who, d in s["detectors"].items()
        ]
        parts.append(
            f"\n### {symbol}: {s['days']} validation days in {s['folds']} folds, {s['first']}..{s['last']}\n"
        )
        parts.append(
            md_table(
                [
                    "detector",
                    "balanced acc",
                    "90% interval",
                    *[f"recall {r}" for r in REGIMES],
                    "starts missed",
                    "lag (detected)",
                    "lag (miss = run)",
                    "false alarms/yr",
                    "log-loss",
                    "Brier",
                ],
                rows,
            )
        )
    symbol = next(iter(folds[0]["validation"]))
    confusion = np.sum([np.asarray(f["metrics"]["confusion"]) for f in folds], axis=0)
    parts.append("\n### Confusion matrix of the model, all folds (rows: true, columns: predicted)\n")
    parts.append(
        md_table(["true \\ predicted", *REGIMES], [[REGIMES[i], *confusion[i].tolist()] for i in range(4)])
    )
    if plt is not None:
        dates, close = series(folds, symbol, "close")
        _, true = series(folds, symbol, "actual")
        _, pred = series(folds, symbol, "model")
        x = np.asarray(dates, dtype="datetime64[D]")
        fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
        truth = (
            "true (generating) regime"
            if result.get("synthetic_seed") is not None
            else "true (ex-post) regime"
        )
        for ax, labels, title in ((axes[0], true, truth), (axes[1], pred, "predicted regime")):
            ax.plot(x, close, color="black", lw=1)
            ax.set_yscale("log")
            shade_runs(ax, x, labels.astype(int), REGIMES, COLORS, f"{symbol} close, shaded by {title}")
        save_figure(fig, out / "regime_price.png", plt)
        fig, ax = plt.subplots(figsize=(5, 4.5))
        image = ax.imshow(confusion, cmap="Blues")
        ax.set_xticks(range(4), REGIMES, rotation=30)
        ax.set_yticks(range(4), REGIMES)
        annotate_matrix(ax, image, confusion)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        save_figure(fig, out / "regime_confusion.png", plt)
        parts.append(
            "![price shaded by regime](regime_price.png)\n\n![confusion matrix](regime_confusion.png)\n"
        )
    return parts


NOT_BASELINES = ("model", "network", "forward_filter_true_params")  # the model itself and the oracle ceiling


def regimes_held(confusion) -> list[str]:
    """The regimes a block's true labels hold, from its confusion matrix (rows: the truth)."""
    from ..features import REGIMES

    return [REGIMES[i] for i, row in enumerate(confusion or []) if sum(row) > 0]


def one_regime(s: dict) -> str | None:
    """The regime every scored day of a symbol's pooled summary holds, None when they hold several."""
    recall = ((s.get("detectors") or {}).get("model") or {}).get("recall") or {}
    present = [regime for regime, value in recall.items() if value is not None]
    return present[0] if len(present) == 1 else None


def headline_table(summary: dict) -> tuple[list[str], list[list], list[str]]:
    """One row per symbol: the model's pooled balanced accuracy and interval against the best baseline's,
    their ratio, the paired interval of model minus rule and a one-word verdict; then the notes."""
    rows, ceilings = [], []
    for symbol, s in summary.items():
        found = s["detectors"]
        model = found.get("model")
        # a baseline whose package is not installed is a string ("not installed"), not a score
        others = [b for b, d in found.items() if isinstance(d, dict) and b not in NOT_BASELINES]
        if not model or not others:
            continue
        best = max(others, key=lambda b: found[b]["balanced_accuracy"])
        ba, base = model["balanced_accuracy"], found[best]["balanced_accuracy"]
        paired = s.get("model_minus_rule") or {}
        rows.append(
            [
                symbol,
                f"{ba:.3f} [{model['ci_low']:.3f}, {model['ci_high']:.3f}]",
                best,
                round(base, 3),
                round(ba / base, 3) if base else None,
                _paired_cell(paired),
                "n/a" if one_regime(s) else _verdict_word(model, base, paired if best == "rule" else {}),
            ]
        )
        if found.get("forward_filter_true_params"):
            ceilings.append(f"{symbol} {found['forward_filter_true_params']['balanced_accuracy']:.3f}")
    notes = [
        "balanced accuracy: higher is better; [90% interval]; baseline: the best of them; ratio = model / it "
        "(above 1: model better); beats/LOSES when the interval clears its figure (or the paired one clears 0)."
    ]
    if ceilings:
        notes.append("ceiling (the filter with the true parameters): " + ", ".join(ceilings))
    for symbol, s in summary.items():  # as the promotion check refuses to rank on such days
        if one_regime(s):
            notes.append(
                f"{symbol}: every scored day is {one_regime(s)}: balanced accuracy is that regime's recall and "
                "cannot rank detectors (verdict n/a; score more --folds or an earlier --start)"
            )
    few = {
        sym: s["fewest_training_rows"]
        for sym, s in summary.items()
        if (s.get("fewest_training_rows") or 1e9) < FEW_ROWS
    }
    if few:
        listed = ", ".join(f"{sym} {n}" for sym, n in few.items())
        notes.append(
            f"the network learnt from as few as {listed} rows in a fold (the pooled default: about 40,000): "
            "its score says little; use more --days, or a real asset with its pool"
        )
    columns = ["symbol", "model bal. acc.", "baseline", "its", "ratio", "model - rule", "verdict"]
    return columns, rows, notes


def _paired_cell(paired: dict) -> str:
    if paired.get("ci_low") is None:
        return "-"
    return f"{paired['difference']:+.3f} [{paired['ci_low']:+.3f}, {paired['ci_high']:+.3f}]"


def _verdict_word(model: dict, base: float, paired: dict) -> str:
    if model["ci_low"] > base or (paired.get("ci_low") or 0.0) > 0:
        return "beats"
    if model["ci_high"] < base or (paired.get("ci_high") is not None and paired["ci_high"] < 0):
        return "LOSES"
    return "tie" if model["balanced_accuracy"] >= base else "tie, worse"


def fold_table(result: dict) -> tuple[list[str], list[list]]:
    """Per fold: the model's scores and each baseline's balanced accuracy, and how many regimes its block holds
    (a block of one regime scores that regime's recall alone: 0.92 beside 0.40 said nothing else)."""
    names = list(result["folds"][0]["baselines"])
    rows = []
    for k, fold in enumerate(result["folds"], start=1):
        m = fold["metrics"]
        present = regimes_held(m.get("confusion"))
        held = present[0] if len(present) == 1 else str(len(present)) if present else "-"
        for symbol, val in fold["validation"].items():
            baselines = (
                b["balanced_accuracy"] if isinstance(b, dict) else (b or "not installed")
                for b in fold["baselines"].values()
            )
            rows.append(
                [
                    k,
                    f"{val['first']}..{val['last']}",
                    symbol,
                    held,
                    m["balanced_accuracy"],
                    m["macro_f1"],
                    m["detection_lag_days"],
                    *baselines,
                ]
            )
    columns = [
        "fold",
        "validation",
        "symbol",
        "regimes",
        "model bal. acc",
        "model macro-F1",
        "model lag (days)",
    ]
    return [*columns, *[f"{n} bal. acc" for n in names]], rows
