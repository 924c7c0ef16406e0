"""evaluate --predictions: every fold's out-of-sample rows as one CSV (a user's own recomputation of the
printed figures starts here)."""

from __future__ import annotations

from pathlib import Path


def write_predictions(result: dict, path: Path) -> Path:
    """Every fold's out-of-sample predictions as CSV: date, symbol, fold, truth, the model, each baseline, and
    for the decision each day's next-day return and each forecaster's exposure."""
    import csv
    import io

    rows: list[dict] = []
    columns: dict[str, None] = {"date": None, "symbol": None, "fold": None, "truth": None}
    for k, fold in enumerate(result["folds"], start=1):
        for symbol, pred in fold["predictions"].items():
            # the validation days, then (last fold) the days after the last label, scored for decision only
            for part in (pred, pred.get("tail") or {}):
                if part:
                    rows += _csv_rows(part, symbol, k, columns, pred.get("classes"))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="")
    writer.writeheader()
    writer.writerows(rows)
    from .outputs import write_output

    return write_output(path, buffer.getvalue().encode(), "--predictions")


def _csv_rows(pred: dict, symbol: str, fold: int, columns: dict, classes) -> list[dict]:
    """One CSV row per day of `pred` (truth empty where no ex-post label is known); new columns are added."""
    n = len(pred["dates"])
    series = {}
    for key, values in pred.items():
        if key in ("dates", "actual") or not isinstance(values, list) or len(values) != n:
            continue
        if values and isinstance(values[0], list):  # probabilities: one column per class
            for j, label in enumerate(classes or range(len(values[0]))):
                series[f"{key}_{label}"] = [v[j] for v in values]
        else:
            series[key] = values
    for name in series:
        columns.setdefault(name, None)
    truth = pred.get("actual") or [""] * n
    return [
        {
            "date": pred["dates"][i],
            "symbol": symbol,
            "fold": fold,
            "truth": truth[i],
            **{name: values[i] for name, values in series.items()},
        }
        for i in range(n)
    ]
