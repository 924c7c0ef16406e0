"""Everything people read: tables, JSON envelopes, score tables by model kind, the live progress display."""
from __future__ import annotations

import json
from typing import IO

from ..kinds import KINDS
from ..render import envelope, error_envelope, kv, table  # noqa: F401  (the JSON envelopes and plain tables)
from ..textutil import fmt


def plan(data: dict, stream: IO[str]) -> None:
    """The config with the source of each value, the device and the time estimate."""
    from ..estimate import format_seconds

    table(f"{data['model_name']} ({data['model_type']}), preset {data['preset']}, device {data['device']}",
          ["field", "value", "from"],
          [[k, fmt(v), data["sources"][k]] for k, v in data["config"].items()], stream)
    est = data["estimate"]
    print(f"estimate: ~{format_seconds(est['expected_seconds'])}, at most "
          f"{format_seconds(est['upper_seconds'])} "
          f"(all epochs, no early stop); based on {est['basis']}", file=stream)
    if est["warning"]:
        print(f"warning: {est['warning']}", file=stream)


def train_result(data: dict, windows: dict, stream: IO[str]) -> None:
    from ..estimate import format_seconds

    refused = "NOT promoted (gate failed); production unchanged"
    status = "promoted to production" if data["promoted"] else refused
    print(f"{data['model_name']} v{data['version']} {status} | job {data['job_id']} | "
          f"{format_seconds(data['duration_seconds'])} (estimated "
          f"{format_seconds(data['estimated_seconds'])})",
          file=stream)
    scores(data["model_type"], data["metrics"], data["baselines"], windows, stream)


def _validation_title(windows: dict) -> str:
    days = sorted({w["val_samples"] for w in windows.values()})
    if not days:
        span = ""
    else:
        span = f"; {days[0]} days" if len(days) == 1 else f"; {days[0]}-{days[-1]} days per symbol"
    return f"validation (out of sample, chronological{span})"


def scores(model_type: str, metrics: dict, baselines: dict, windows: dict | None, stream: IO[str]) -> None:
    """The kind's validation table, then its notes on how far the scores can be trusted."""
    columns, rows, notes = KINDS[model_type].score_table(metrics, baselines, windows or {})
    table(_validation_title(windows or {}), columns, [[fmt(v) for v in r] for r in rows], stream)
    for note in notes:
        print(note, file=stream)


def _per_symbol(value) -> str:
    """A per-symbol figure ({"BTC": 10}) as "BTC 10"; older versions hold a plain number."""
    if isinstance(value, dict):
        return ", ".join(f"{symbol} {v}" for symbol, v in value.items())
    return fmt(value)


def version(meta: dict, stream: IO[str]) -> None:
    """A version's metadata in sections a person reads top to bottom; --json has every field as stored."""
    gate = meta.get("gate", {})
    verdict = "passed" if gate.get("passed") else "failed"
    timings = meta.get("timings", {})
    threshold = f" (threshold {gate['threshold']})" if "threshold" in gate else ""
    kv(f"{meta['name']} v{meta['version']} ({meta['status']})", {
        "model type": meta["model_type"], "created": meta["created_at"], "job": meta.get("job_id"),
        "preset": meta.get("preset"), "custom config": meta.get("has_custom_config"),
        "seed": meta.get("seed"), "device": meta.get("device"),
        "gate": f"{verdict}: {gate.get('rule')}" + threshold,
        "initial status": meta.get("initial_status"),
        "duration": f"{timings.get('total_seconds')} s (estimated {timings.get('estimated_seconds')} s, "
                    f"{timings.get('estimate_basis')})",
        "epochs run / best": f"{_per_symbol(timings.get('epochs_run'))} / "
                             f"{_per_symbol(timings.get('best_epoch'))}",
        "command": " ".join(meta.get("command_line", [])),
        "libraries": ", ".join(f"{k} {v}" for k, v in meta.get("library_versions", {}).items()),
    }, stream)
    table("config", ["field", "value", "from"],
          [[k, fmt(v), meta.get("sources", {}).get(k, "-")] for k, v in meta["config"].items()], stream)
    scores(meta["model_type"], meta["metrics"], meta["baselines"], meta["data_windows"], stream)
    table("data windows", ["symbol", "first", "last", "rows", "train", "validation", "estimator", "source",
                           "fingerprint"],
          [[w["symbol"], w["first"], w["last"], w["rows"], w["train_samples"], w["val_samples"],
            w.get("estimator"), w.get("source"), w.get("fingerprint")]
           for w in meta["data_windows"].values()], stream)
    table("files (sha256)", ["file", "sha256"], [[f, h] for f, h in meta.get("files", {}).items()], stream)
    if meta.get("evaluations"):
        kind = KINDS.get(meta["model_type"])
        table("walk-forward evaluations of this model (mltrain evaluate)",
              ["id", "created", "command", "mean"],
              [[e["evaluation_id"], e["created_at"],
                " ".join(e["command"]) if isinstance(e["command"], list) else e["command"],
                kind.evaluation_headline(e.get("summary") or {}) if kind else ""]
               for e in meta["evaluations"]], stream)


def evaluation(data: dict, stream: IO[str]) -> None:
    from ..evaluate import fold_table

    columns, rows = fold_table(data)
    table(f"walk-forward: {data['model_name']} ({data['scheme']})", columns,
          [[fmt(v) for v in r] for r in rows],
          stream)
    for line in data.get("verdicts") or []:
        print(line, file=stream)
    if data.get("predictions_csv"):
        print(f"predictions: {data['predictions_csv']}", file=stream)
    if data.get("report"):
        print(f"report: {data['report']}", file=stream)
    print(f"stored: {data['record']}", file=stream)


class Progress:
    """Observes epoch records: a Rich live table in a terminal, one plain flushed line per epoch otherwise."""

    def __init__(self, stream: IO[str], *, symbols: list[str], epochs: int, metric_name: str, live: bool,
                 quiet: bool):
        from ..progress import EpochLines

        self.stream, self.metric_name = stream, metric_name
        self.lines = EpochLines(symbols=symbols, epochs=epochs, metric_name=metric_name)
        self.live_enabled, self.quiet = live and not quiet, quiet
        self._live = None
        self._rows: list[tuple] = []

    def __enter__(self) -> Progress:
        if self.live_enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(), console=Console(file=self.stream), refresh_per_second=8,
                              transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def _table(self):
        from rich.table import Table

        shown = Table(title="training (ETA is an upper bound: early stopping may end sooner)")
        for column in ("symbol", "epoch", "train loss", "selection loss", self.metric_name, "", "samples/s",
                       "elapsed", "ETA"):
            shown.add_column(column, justify="right")
        for row in self._rows[-12:]:
            shown.add_row(*row)
        return shown

    def __call__(self, symbol: str, record) -> None:
        self.lines.advance(symbol)
        if self.quiet:
            return
        if self._live is not None:
            self._rows.append((symbol, f"{record.epoch}/{record.epochs}", f"{record.train_loss:.4f}",
                               f"{record.selection_loss:.4f}", f"{record.metric:.4f}",
                               "*" if record.improved else "",
                               f"{record.samples_per_second:.0f}", f"{self.lines.elapsed():.1f}s",
                               f"{self.lines.eta():.1f}s"))
            self._live.update(self._table())
        else:
            self.stream.write(self.lines.line(symbol, record) + "\n")
            self.stream.flush()
