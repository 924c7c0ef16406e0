"""Pure metric functions: out-of-sample R², QLIKE, MAE, classification scores and detection lag."""

from __future__ import annotations

import numpy as np

from .features import ANNUALIZATION_DAYS


def oos_r2(actual: np.ndarray, forecast: np.ndarray, train_mean: float) -> float:
    """Out-of-sample R²: 1 - SSE(forecast) / SSE(training-period mean as the forecast)."""
    sse = float(np.sum((actual - forecast) ** 2))
    sst = float(np.sum((actual - train_mean) ** 2))
    return 1.0 - sse / sst if sst > 0 else float("nan")


def qlike(actual_log_vol: np.ndarray, forecast_log_vol: np.ndarray) -> float:
    """QLIKE on variances: mean(s/h - log(s/h) - 1), 0 for a perfect forecast."""
    ratio = np.exp(2 * (actual_log_vol - forecast_log_vol))
    return float(np.mean(ratio - np.log(ratio) - 1))


def vol_mae(actual_log_vol: np.ndarray, forecast_log_vol: np.ndarray) -> float:
    """Mean absolute error of annualized volatility (0.05 = 5 vol points)."""
    return float(np.mean(np.abs(np.exp(actual_log_vol) - np.exp(forecast_log_vol))))


def volatility_scores(actual: np.ndarray, forecast: np.ndarray, train_mean: float) -> dict:
    return {
        "r2": round(oos_r2(actual, forecast, train_mean), 4),
        "qlike": round(qlike(actual, forecast), 4),
        "mae": round(vol_mae(actual, forecast), 4),
    }


def confusion(true: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=int)
    np.add.at(matrix, (true, pred), 1)
    return matrix


def changes_per_year(labels: np.ndarray) -> float:
    if len(labels) < 2:
        return 0.0
    return float((np.diff(labels) != 0).sum() / (len(labels) / ANNUALIZATION_DAYS))


def detection_lag(true: np.ndarray, pred: np.ndarray) -> tuple[float | None, int, int]:
    """Mean days from the start of each true regime run to the first day the model names it.

    Returns (mean lag over detected runs, runs detected, runs missed). Runs already under way on the
    first day are skipped: their start is not observed.
    """
    lags, missed = [], 0
    starts = [i for i in range(1, len(true)) if true[i] != true[i - 1]]
    for s in starts:
        end = s
        while end < len(true) and true[end] == true[s]:
            end += 1
        hits = np.nonzero(pred[s:end] == true[s])[0]
        if len(hits):
            lags.append(int(hits[0]))
        else:
            missed += 1
    return (float(np.mean(lags)) if lags else None), len(lags), missed


def classification_scores(true: np.ndarray, pred: np.ndarray, names: tuple[str, ...]) -> dict:
    """Accuracy, balanced accuracy, macro-F1 (over classes present in truth or prediction), recall per class."""
    k = len(names)
    matrix = confusion(true, pred, k)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    tp = np.diag(matrix)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros(k), where=present)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0
    )
    used = present | (predicted > 0)
    lag, detected, missed = detection_lag(true, pred)
    return {
        "accuracy": round(float(tp.sum() / max(len(true), 1)), 4),
        "balanced_accuracy": round(float(recall[present].mean()) if present.any() else float("nan"), 4),
        "macro_f1": round(float(f1[used].mean()) if used.any() else float("nan"), 4),
        "recall": {names[i]: (round(float(recall[i]), 4) if present[i] else None) for i in range(k)},
        "confusion": matrix.tolist(),
        "changes_per_year": round(changes_per_year(pred), 2),
        "true_changes_per_year": round(changes_per_year(true), 2),
        "detection_lag_days": None if lag is None else round(lag, 2),
        "regimes_detected": detected,
        "regimes_missed": missed,
    }
