"""Everything people read: tables, JSON envelopes, score tables by model kind, the live progress display."""

from __future__ import annotations

from typing import IO

from ..render import envelope, error_envelope  # noqa: F401  (the JSON envelopes)
from ..textutil import fmt, plural
from .live import FoldProgress, Progress  # noqa: F401  (the live displays)
from .promotion_view import promotion, promotion_check_line  # noqa: F401  (the champion/challenger check)
from .scores import (  # noqa: F401  (score tables and version comparison)
    compare,
    compare_figures,
    styled_scores,
    validation_window,
    window_warnings,
)
from .tables import cell, kv, paragraph, table, width  # noqa: F401  (tables for every command)


def plan(data: dict, stream: IO[str]) -> None:
    """The config with the source of each value, the device and the time estimate."""
    from ..estimate import format_seconds

    table(
        f"{data['model_name']} ({data['model_type']}), preset {data['preset']}, device {data['device']}",
        ["field", "value", "from"],
        [[k, v, data["sources"][k]] for k, v in data["config"].items()],
        stream,
    )
    est = data["estimate"]
    paragraph(
        f"estimate: ~{format_seconds(est['expected_seconds'])}, at most "
        f"{format_seconds(est['upper_seconds'])} ({est.get('upper_basis', 'all epochs, no early stop')}); "
        f"based on {est['basis']}",
        stream,
    )
    if est["warning"]:
        paragraph(f"warning: {est['warning']}", stream)
    if data.get("promotion_check"):
        paragraph(promotion_check_line(data["promotion_check"]), stream)


def evaluation_plan(data: dict, stream: IO[str]) -> None:
    """evaluate --dry-run: the config as `plan` shows it, with the number of folds and workers."""
    plan(data, stream)
    if data.get("cross_asset"):
        paragraph(f"cross-asset: no fold will train on {', '.join(data['cross_asset']['held_out'])}", stream)
    if data.get("span_note"):
        paragraph(f"note: {data['span_note']}", stream)
    paragraph(
        f"walk-forward: {plural(data['folds'], 'fold')}, {plural(data['workers'], 'worker')}; nothing "
        "was evaluated (--dry-run)",
        stream,
    )


def train_result(data: dict, windows: dict, stream: IO[str]) -> None:
    from ..estimate import format_seconds

    if data["promoted"]:
        status = "promoted to production"
    elif data.get("status") == "rejected":
        status = "NOT promoted (gate failed); production unchanged"
    else:  # passed its gate but --no-promote, or not better than production: kept as a candidate
        status = "saved as a candidate (not promoted); production unchanged"
    paragraph(
        f"{data['model_name']} v{data['version']} {status} | job {data['job_id']} | "
        f"{format_seconds(data['duration_seconds'])} (estimated "
        f"{format_seconds(data['estimated_seconds'])})",
        stream,
    )
    scores(data["model_type"], data["metrics"], data["baselines"], windows, stream)


def _validation_title(windows: dict) -> str:
    days = sorted({w["val_samples"] for w in windows.values()})
    if not days:
        span = ""
    else:
        span = f"; {plural(days[0], 'day')}" if len(days) == 1 else f"; {days[0]}-{days[-1]} days per symbol"
    return f"validation (out of sample, chronological{span})"


def scores(model_type: str, metrics: dict, baselines: dict, windows: dict | None, stream: IO[str]) -> None:
    """The kind's validation table in the one table style (the best value of each scored column marked *,
    each row's ratio to the best baseline), then its notes on how far the scores can be trusted."""
    from ..kinds import KINDS

    kind = KINDS[model_type]
    columns, rows, notes = kind.score_table(metrics, baselines, windows or {})
    columns, texts, legend = styled_scores(kind, columns, rows)
    table(_validation_title(windows or {}), columns, texts, stream)
    if legend:
        paragraph(legend, stream)
    for note in notes:
        paragraph(note, stream)


def _per_symbol(value) -> str:
    """A per-symbol figure ({"BTC": 10}) as "BTC 10"; older versions hold a plain number."""
    if isinstance(value, dict):
        return ", ".join(f"{symbol} {v}" for symbol, v in value.items())
    return fmt(value)


def _gate(gate: dict) -> str:
    """'passed: RULE' or 'failed; it passes when RULE; here VALUE, threshold T': the rule is the condition to
    pass, so a failure names it as what was missing (it once read 'failed: ... reaches 0' for an interval
    wholly below 0)."""
    threshold = gate.get("threshold")
    if gate.get("passed"):
        text = f"passed: {gate.get('rule')}" + ("" if threshold is None else f" (threshold {threshold})")
        # folds of one regime: passing says nothing (the note says why no promotion was decided)
        return text + (f"; but {gate['note']}" if gate.get("note") else "")
    figures = "" if threshold is None else f"; threshold {threshold}"
    if gate.get("value") is not None and threshold is not None:
        figures = f"; here {gate['value']}, threshold {threshold}"
    return f"failed; it passes when {gate.get('rule')}{figures}"


def version(meta: dict, stream: IO[str]) -> None:
    """A version's metadata in sections a person reads top to bottom; --json has every field as stored."""
    gate = meta.get("gate", {})
    timings = meta.get("timings", {})
    kv(
        f"{meta.get('model_name', meta.get('name'))} v{meta['version']} ({meta['status']})",
        {
            "model type": meta["model_type"],
            "created": meta["created_at"],
            "job": meta.get("job_id"),
            "preset": meta.get("preset"),
            # has_custom_config: the config differs from a plain `train` (the default preset), by preset or flag
            "config vs plain train": "differs (preset or flags)" if meta.get("has_custom_config") else "same",
            "seed": meta.get("seed"),
            "device": meta.get("device"),
            "gate": _gate(gate),
            "initial status": meta.get("initial_status"),
            "duration": f"{timings.get('total_seconds')} s (estimated {timings.get('estimated_seconds')} s, "
            f"{timings.get('estimate_basis')}{_check_share(timings)})",
            "epochs run / best": f"{_per_symbol(timings.get('epochs_run'))} / "
            f"{_per_symbol(timings.get('best_epoch'))}",
            "command": " ".join(meta.get("command_line", [])),
            "libraries": ", ".join(f"{k} {v}" for k, v in meta.get("library_versions", {}).items()),
        },
        stream,
    )
    table(
        "config",
        ["field", "value", "from"],
        [[k, v, meta.get("sources", {}).get(k, "-")] for k, v in meta["config"].items()],
        stream,
    )
    scores(meta["model_type"], meta["metrics"], meta["baselines"], meta["data_windows"], stream)
    if meta.get("promotion"):
        promotion(meta, stream)
    table(
        "data windows",
        ["symbol", "first", "last", "rows", "train", "validation", "estimator", "source", "fingerprint"],
        [
            [
                w["symbol"],
                w["first"],
                w["last"],
                w["rows"],
                # a regime network learns from every series in its pool: the count is the pool's
                f"{w['train_samples']} (pool)" if (w.get("fit") or {}).get("pooled") else w["train_samples"],
                w["val_samples"],
                w.get("estimator"),
                w.get("source"),
                w.get("fingerprint"),
            ]
            for w in meta["data_windows"].values()
        ],
        stream,
        drop=("fingerprint", "source", "estimator", "rows"),
        whole=("first", "last"),
    )
    table(
        "files (sha256)",
        ["file", "sha256"],
        [[f, h] for f, h in meta.get("files", {}).items()],
        stream,
        whole=("sha256",),
    )
    if meta.get("evaluations"):
        _evaluations(meta, stream)


def _evaluations(meta: dict, stream: IO[str]) -> None:
    """The walk-forward evaluations recorded against a version, one line each."""
    from ..kinds import KINDS

    kind = KINDS.get(meta["model_type"])
    table(
        "walk-forward evaluations of this model (mltrain evaluate)",
        ["id", "created", "command", "mean"],
        [
            [
                e["evaluation_id"],
                e["created_at"],
                " ".join(e["command"]) if isinstance(e["command"], list) else e["command"],
                kind.evaluation_headline(e.get("summary") or {}) if kind else "",
            ]
            for e in meta["evaluations"]
        ],
        stream,
        drop=("command",),
        whole=("created",),
    )


def headline(data: dict) -> dict:
    """The summary `evaluate` prints first, as JSON carries it: columns, one row per symbol, notes."""
    from ..kinds import KINDS

    kind = KINDS.get(data.get("model_type", ""))
    columns, rows, notes = kind.headline_table(data.get("summary") or {}) if kind else ([], [], [])
    return {"columns": columns, "rows": rows, "notes": notes}


def evaluation(data: dict, stream: IO[str], details: bool = False) -> None:
    """The answer first: one row per symbol with its verdict, a few notes, where the rest is; the per-fold
    table, the full pooled tables and the verdict sentences only with `details`."""
    from ..evaluate import cross_asset_note

    top = data.get("headline") or headline(data)
    title = f"walk-forward: {data['model_name']} ({data['model_type']}), {plural(data['fold_count'], 'fold')}"
    if top["rows"]:
        digits = {"ratio": 3, "DM p": 4}  # aligned: a ratio of 1 reads 1.000, not 1
        rows = [
            [
                f"{v:.{digits[c]}f}" if c in digits and isinstance(v, (int, float)) else v
                for c, v in zip(top["columns"], row)
            ]
            for row in top["rows"]
        ]
        table(title, top["columns"], rows, stream, whole=("verdict",))
    else:
        print(title, file=stream)
    for note in top["notes"]:
        paragraph(note, stream)
    if cross_asset_note(data):
        paragraph(cross_asset_note(data), stream)
    if data.get("span_note"):
        paragraph(f"note: {data['span_note']}", stream)
    if details or not top["rows"]:  # a kind without a summary table shows what it has: folds and summary
        evaluation_details(data, stream)
    else:
        where = f" and in {data['report']}" if data.get("report") else " (and --report DIR)"
        paragraph(f"per-fold scores, the full pooled tables and verdict sentences: --details{where}", stream)
    if data.get("predictions_csv"):
        paragraph(f"predictions: {data['predictions_csv']}", stream)
    if data.get("report"):
        paragraph(f"report: {data['report']}", stream)
    paragraph(f"stored: {data['record']}", stream)


def evaluation_details(data: dict, stream: IO[str]) -> None:
    """evaluate --details: every fold's scores, the pooled tables and the verdict sentences."""
    from ..evaluate import fold_table

    if data.get("folds"):
        columns, rows = fold_table(data)
        from ..kinds import KINDS

        # a narrow terminal drops the kind's least useful columns first (a note says so; the report and --json
        # have them) rather than turning hundreds of rows into blocks
        drop = getattr(KINDS.get(data.get("model_type", "")), "fold_table_drop", ())
        table(f"walk-forward folds: {data['model_name']}", columns, rows, stream, drop=drop)
        paragraph(f"scheme: {data['scheme']}", stream)
    render_evaluation_summary(data, stream)
    for line in data.get("verdicts") or []:
        paragraph(line, stream)


def render_evaluation_summary(result: dict, stream: IO[str]) -> None:
    """The summary of a walk-forward run as text. The hook a model kind fills (verdict lines, score tables);
    until it does, summary_tables shows any summary as tables (one row per detector or forecaster)."""
    from ..kinds import KINDS

    kind = KINDS.get(result.get("model_type", ""))
    custom = getattr(kind, "render_evaluation_summary", None)
    if custom is not None:
        custom(result, stream, table)
        return
    summary_tables("summary", result.get("summary") or {}, stream)


def summary_tables(title: str, values: dict, stream: IO[str]) -> None:
    """A nested summary as tables: sibling records with the same fields (detectors, forecasters) become one
    table, a row each; scalars a field/value table; anything deeper one section per key."""
    scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
    nested = {k: v for k, v in values.items() if isinstance(v, dict)}
    if scalars:
        kv(title, scalars, stream)
    flat = nested and all(not any(isinstance(x, dict) for x in v.values()) for v in nested.values())
    fields = list(dict.fromkeys(k for v in nested.values() for k in v)) if flat else []
    if flat:
        table(
            title, ["", *fields], [[name, *(v.get(f) for f in fields)] for name, v in nested.items()], stream
        )
        return
    for key, value in nested.items():
        summary_tables(f"{title}: {key}", value, stream)


def history(d: dict, stream: IO[str]) -> None:
    """A model's versions over time with headline scores, then the alias log."""
    name = d["model_name"]
    table(
        f"{name}: versions",
        ["version", "created", "status", "metric", "block", "pooled", "validation", "job"],
        [
            [
                f"v{v['version']}",
                v["created_at"],
                v["status"],
                v["main_metric"],
                v["main_metric_value"],
                "-"
                if v.get("pooled_metric_value") is None
                else f"{fmt(v['pooled_metric_value'])} ({plural(v['pooled_folds'], 'fold')})",
                v["validation"],
                v["job_id"],
            ]
            for v in d["versions"]
        ],
        stream,
        drop=("job", "validation", "metric"),
        whole=("created", "status"),
    )
    if d["alias_log"]:
        table(
            f"{name}: alias changes",
            ["at", "alias", "from", "to", "by", "reason"],
            [
                [e.get("at"), e.get("alias"), e.get("from"), e.get("to"), e.get("by"), e.get("reason")]
                for e in d["alias_log"]
            ],
            stream,
            drop=("by",),
            whole=("at",),
        )
    else:
        paragraph(f"{name}: no alias changes recorded", stream)


def _check_share(timings: dict) -> str:
    """The promotion check's part of a version's estimate and of its duration, where it had one."""
    estimated, took = timings.get("promotion_check_estimated_seconds"), timings.get("promotion_check_seconds")
    if not estimated or took is None:
        return ""
    return f"; of which the promotion check: {round(took, 1)} s, estimated {estimated} s"
