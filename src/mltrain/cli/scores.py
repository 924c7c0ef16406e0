"""Scores beside scores: the one score-table style (best value marked, ratio to the best baseline, aligned
numbers) and two versions compared (config changes, the model's scores with the change, validation windows)."""

from __future__ import annotations

from typing import IO

from ..textutil import fmt, plural
from .tables import paragraph, table


def styled_scores(kind, columns: list[str], rows: list[list]) -> tuple[list[str], list[list[str]], str]:
    """Scores as aligned text: four decimals, the best of each group and column marked '*', and a ratio
    column (the kind's headline score over the best baseline's) where the kind names one."""
    group = columns.index(kind.score_group) if kind.score_group in columns else None
    who = 1 if group == 0 else 0  # the forecaster / detector column
    best: dict[tuple, float] = {}
    for key, direction in kind.score_better.items():
        if key not in columns:
            continue
        c = columns.index(key)
        for row in rows:
            if isinstance(row[c], (int, float)) and not isinstance(row[c], bool):
                g = (row[group] if group is not None else None, c)
                pick = max if direction == "high" else min
                best[g] = row[c] if g not in best else pick(best[g], row[c])
    ratio, base = kind.ratio_column in columns, {}
    if ratio:
        c, direction = columns.index(kind.ratio_column), kind.score_better.get(kind.ratio_column, "low")
        for row in rows:
            g = row[group] if group is not None else None
            if row[who] not in kind.not_baselines and isinstance(row[c], (int, float)):
                pick = max if direction == "high" else min
                base[g] = row[c] if g not in base else pick(base[g], row[c])
    texts = []
    for row in rows:
        g = row[group] if group is not None else None
        cells = []
        for c, value in enumerate(row):
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            scored = columns[c] in kind.score_better
            text = f"{value:.4f}" if scored and isinstance(value, float) else fmt(value)
            if scored:
                text += "*" if number and best.get((g, c)) == value else " "
            cells.append(text)
        if ratio:
            value, b = row[columns.index(kind.ratio_column)], base.get(g)
            cells.append(f"{value / b:.3f}" if isinstance(value, (int, float)) and b else "-")
        texts.append(cells)
    out = [*columns, "ratio"] if ratio else list(columns)
    if not best and not ratio:
        return out, texts, ""
    legend = "*: the best in its column" + (" for its symbol" if group is not None else "")
    if ratio:
        side = "above" if kind.score_better.get(kind.ratio_column) == "high" else "below"
        legend += f"; ratio: {kind.ratio_column} / the best baseline's ({side} 1: better than every baseline)"
    return out, texts, legend


def compare_figures(model_type: str, left: dict, right: dict) -> dict:
    """Two versions as a person compares them: the config fields that changed, then each of the model's scores
    (per symbol) side by side with the change and whether it is better, and its ratio to the best baseline."""
    from ..kinds import KINDS

    changed = {
        k: [left["config"].get(k), right["config"].get(k)]
        for k in dict.fromkeys([*left["config"], *right["config"]])
        if left["config"].get(k) != right["config"].get(k)
    }
    kind = KINDS.get(model_type)
    if kind is None:
        return {"config_changes": changed, "scores": []}
    tables = [
        kind.score_table(v["metrics"], v["baselines"], v.get("data_windows") or {}) for v in (left, right)
    ]
    scores = []
    for (columns, rows, _), side in zip(tables, (0, 1)):
        group = columns.index(kind.score_group) if kind.score_group in columns else None
        who = 1 if group == 0 else 0
        base = _best_baseline(kind, columns, rows, group, who)
        for row in rows:
            if row[who] != "model":
                continue
            g = row[group] if group is not None else None
            for c, name in enumerate(columns):
                if name in kind.score_better:
                    _put(scores, g, name, side, row[c])
            if kind.ratio_column in columns and base.get(g):
                value = row[columns.index(kind.ratio_column)]
                _put(scores, g, f"{kind.ratio_column} / best baseline", side, round(value / base[g], 4))
    for entry in scores:
        a, b = entry["values"]
        better = kind.score_better.get(entry["score"], "low" if "/ best" in entry["score"] else None)
        if kind.score_better.get(kind.ratio_column) == "high" and "/ best" in entry["score"]:
            better = "high"
        entry["change"] = (
            round(b - a, 4) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
        )
        if (
            entry["change"]
            and better
            and "/ best" not in entry["score"]
            and _windows_differ(left, right, entry)
        ):
            entry["verdict"] = "windows differ"  # a score on other days is no better or worse (the ratio is)
        elif entry["change"] and better:
            entry["verdict"] = "better" if (entry["change"] > 0) == (better == "high") else "worse"
        else:
            entry["verdict"] = "same" if entry["change"] == 0 else "-"
    return {"config_changes": changed, "scores": scores}


def _windows_differ(left: dict, right: dict, entry: dict) -> bool:
    """Whether the two versions scored the entry's symbol (every symbol, for an entry of none) on other days."""
    wl, wr = left.get("data_windows") or {}, right.get("data_windows") or {}
    keys = [entry["symbol"]] if entry["symbol"] in {**wl, **wr} else list({**wl, **wr})
    return any(validation_window(wl.get(k)) != validation_window(wr.get(k)) for k in keys)


def _best_baseline(kind, columns, rows, group, who) -> dict:
    if kind.ratio_column not in columns:
        return {}
    c, pick = (
        columns.index(kind.ratio_column),
        max if kind.score_better.get(kind.ratio_column) == "high" else min,
    )
    best: dict = {}
    for row in rows:
        g = row[group] if group is not None else None
        if row[who] not in kind.not_baselines and isinstance(row[c], (int, float)):
            best[g] = row[c] if g not in best else pick(best[g], row[c])
    return best


def _put(scores: list[dict], group, name: str, side: int, value) -> None:
    entry = next((e for e in scores if e["symbol"] == group and e["score"] == name), None)
    if entry is None:
        entry = {"symbol": group, "score": name, "values": [None, None]}
        scores.append(entry)
    entry["values"][side] = value


def compare(d: dict, stream: IO[str]) -> None:
    """Two versions side by side: what changed in the config, the model's scores with the change, the
    validation windows (with a warning when they differ)."""
    (va, left), (vb, right) = list(d["versions"].items())
    name = d.get("model_name", d.get("name"))
    figures = d.get("figures") or compare_figures(d.get("model_type", ""), left, right)
    rows = [["status", left["status"], right["status"]], ["created", left["created_at"], right["created_at"]]]
    rows += [[f"config.{k}", a, b] for k, (a, b) in figures["config_changes"].items()]
    table(f"{name}: {va} vs {vb}", ["field", va, vb], rows, stream, whole=("field",))
    if not figures["config_changes"]:
        paragraph("config: no field changed", stream)
    grouped = any(e["symbol"] for e in figures["scores"])
    table(
        f"the model's validation scores, {va} -> {vb}",
        [*(["symbol"] if grouped else []), "score", va, vb, "change", ""],
        [
            [
                *([e["symbol"]] if grouped else []),
                e["score"],
                *(f"{v:.4f}" if isinstance(v, float) else fmt(v) for v in e["values"]),
                "-" if e["change"] is None else f"{e['change']:+.4f}",
                e["verdict"],
            ]
            for e in figures["scores"]
        ],
        stream,
    )
    table(
        "validation windows",
        ["symbol", va, vb],
        [
            [
                symbol,
                validation_window(left["data_windows"].get(symbol)),
                validation_window(right["data_windows"].get(symbol)),
            ]
            for symbol in dict.fromkeys([*left["data_windows"], *right["data_windows"]])
        ],
        stream,
    )
    for line in window_warnings(d):
        paragraph(f"warning: {line}", stream)


def validation_window(window: dict | None) -> str:
    """A version's validation block for one symbol: '97 days to 2026-01-05' (the last val_samples samples)."""
    if not window:
        return "-"
    days = window.get("val_samples")
    if window.get("val_first"):
        return f"{window['val_first']}..{window.get('val_last', window.get('last'))} ({plural(days, 'day')})"
    if not isinstance(days, int):
        return f"to {window.get('last')}"
    return f"{plural(days, 'day')} to {window.get('last')}"


def window_warnings(d: dict) -> list[str]:
    """Scores on different validation windows are not comparable: say so per symbol."""
    (va, left), (vb, right) = list(d["versions"].items())
    out = []
    for symbol in dict.fromkeys([*left["data_windows"], *right["data_windows"]]):
        a, b = (
            validation_window(left["data_windows"].get(symbol)),
            validation_window(right["data_windows"].get(symbol)),
        )
        if a != b:
            out.append(
                f"{symbol}: validation windows differ ({va} {a}; {vb} {b}); the scores are not "
                "directly "
                "comparable"
            )
    return out
