"""The face: arguments -> core calls -> render; maps errors to exit codes. Nothing else lives here."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from . import __version__, render
from .config import (CATALOGUE, CUSTOM_PRESET, DEFAULT_PRESET, DEFAULTS, FIELD_ORDER, MODEL_TYPES, build_config,
                     get_preset, load_presets, load_yaml_mapping, parse_symbols, suggest)
from .errors import ExitCode, MltrainError, UsageError
from .paths import Home, resolve_home

app = typer.Typer(help="Train and serve crypto market-regime and volatility models from daily prices.",
                  pretty_exceptions_enable=False, no_args_is_help=True, add_completion=True)
data_app = typer.Typer(help="Price history: embedded, imported and synthetic series.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: versions, aliases, comparison.", no_args_is_help=True)
jobs_app = typer.Typer(help="Training jobs and their logs.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(jobs_app, name="jobs")

STATE: dict[str, Any] = {"debug": False, "home": None}
JSON_OPT = typer.Option(False, "--json", help="Print exactly one JSON document on stdout.")


def _field_option(name: str):
    """A config flag whose help says what the field means and what it allows, from TrainingConfig itself."""
    from .config import TrainingConfig, bounds_text

    meaning = TrainingConfig.model_fields[name].description
    allowed = "" if name == "symbols" else f" ({bounds_text(name)})"
    return typer.Option(None, "--" + name.replace("_", "-"),
                        help=f"{meaning[0].upper()}{meaning[1:]}{allowed}; beats preset and --config.")


# shared by `train` and `evaluate`, which take the same config as each other
OPT = {name: _field_option(name) for name in FIELD_ORDER}
MODEL_TYPE_OPT = typer.Option(None, "--model-type", help="regime or volatility (needed for a new model name).")
PRESET_OPT = typer.Option(None, "--preset", help=f"quick, standard, full (default), deep, {CUSTOM_PRESET} "
                                                 "or a user preset.")
CONFIG_OPT = typer.Option(None, "--config", help="YAML file of config fields (beats the preset).")


def _home() -> Home:
    return resolve_home(STATE["home"])


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mltrain {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    home: Optional[str] = typer.Option(None, "--home", help="mltrain home (default: $MLTRAIN_HOME, then the "
                                                             "platform's user data folder)."),
) -> None:
    STATE["debug"] = debug or bool(os.environ.get("MLTRAIN_DEBUG"))
    STATE["home"] = home


def run(as_json: bool, body: Callable[[], Any], show: Callable[[Any], None] | None = None,
        code: Callable[[Any], int] | None = None) -> None:
    """Call the core; render its value as JSON or text; turn project errors into one line and an exit code."""
    try:
        value = body()
    except MltrainError as exc:
        _fail(as_json, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail(as_json, "interrupted", ExitCode.INTERRUPTED)
    except Exception as exc:  # an internal bug: one line, exit 1, traceback with --debug
        _fail(as_json, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
              ExitCode.FAILURE)
    if as_json:
        typer.echo(render.envelope(value))
    elif show is not None:
        show(value)
    exit_code = code(value) if code else ExitCode.OK
    if exit_code:
        raise typer.Exit(int(exit_code))


def _fail(as_json: bool, message: str, exit_code: int) -> None:
    message = " ".join(message.split())  # one line, even when a library's message spans several
    if STATE["debug"]:
        traceback.print_exc()
    if as_json:
        typer.echo(render.error_envelope(message))
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(int(exit_code))


# ---------------------------------------------------------------- model types

def resolve_model_type(name: str, flag: str | None, home: Home) -> str:
    """Catalogue, then registry, then --model-type; contradictions are errors."""
    from .registry import Registry, validate_name

    validate_name(name)
    if flag is not None and flag not in MODEL_TYPES:
        raise UsageError(f"--model-type {flag!r} is not a model type; allowed: {', '.join(MODEL_TYPES)}")
    known = CATALOGUE.get(name)
    if known is None:
        registry = Registry(home)
        versions = registry.versions(name)
        if versions:
            known = registry.meta(name, versions[-1])["model_type"]
    if known is not None and flag is not None and flag != known:
        raise UsageError(f"--model-type {flag} contradicts model {name}, which is a {known} model")
    if known is None and flag is None:
        raise UsageError(f"unknown model {name!r}; known models: {', '.join(CATALOGUE)}."
                         f"{suggest(name, list(CATALOGUE))} For a new model pass --model-type regime|volatility")
    return known or flag  # type: ignore[return-value]


# ---------------------------------------------------------------- defaults and presets

@app.command()
def defaults(model: str = typer.Argument(..., help="Model name."),
             model_type: Optional[str] = typer.Option(None, "--model-type", help="regime or volatility."),
             as_json: bool = JSON_OPT) -> None:
    """Print the model type's default training config."""
    def body() -> dict:
        kind = resolve_model_type(model, model_type, _home())
        return {"model_name": model, "model_type": kind, "config": {k: DEFAULTS[kind][k] for k in FIELD_ORDER}}

    def show(data: dict) -> None:
        render.table(f"defaults for {data['model_name']} ({data['model_type']})", ["field", "value"],
                     [[k, render.fmt(v)] for k, v in data["config"].items()])
    run(as_json, body, show)


def _cached_estimate(home: Home, kind: str, effective, device: str) -> dict | None:
    from .estimate import from_history, from_probe, probe_key
    from .jobs import Jobs

    jobs = Jobs(home)
    estimate = from_history(kind, effective.config, device, jobs.runs())
    if estimate is None:
        probe = jobs.probes().get(probe_key(kind, effective.config, device))
        if probe is None:
            return None
        estimate = from_probe(kind, effective.config, device, probe["seconds_per_sample"], measured_now=False)
    return estimate.as_dict()


@app.command()
def presets(as_json: bool = JSON_OPT,
            measure: bool = typer.Option(False, "--measure", help="Time a short probe on this machine (loads torch).")
            ) -> None:
    """List presets (built-in and user), their values, source file and estimated duration."""
    def body() -> list:
        home = _home()
        found = load_presets(home)
        device = "cpu"
        if measure:
            from .train import pick_device
            device = pick_device("auto")
        rows = []
        for preset in found.values():
            estimates = {}
            for kind, model in (("regime", "btc_regime_detector"), ("volatility", "volatility_forecaster")):
                values = {k: v for k, v in preset.values.items() if not (kind == "regime" and k in
                                                                          ("hidden_size", "min_r2", "symbols"))}
                effective = build_config(kind, dataclasses.replace(preset, values=values), None, {})
                if measure:
                    _probe(home, kind, effective, device)
                estimates[kind] = _cached_estimate(home, kind, effective, device)
            rows.append({"name": preset.name, "description": preset.description, "values": preset.values,
                         "source": str(preset.source) if preset.source else "built-in",
                         "default": preset.name == DEFAULT_PRESET, "estimates": estimates, "device": device})
        return rows

    def show(rows: list) -> None:
        def est(e: dict | None) -> str:
            from .estimate import format_seconds
            if e is None:
                return "not measured (mltrain presets --measure)"
            return f"~{format_seconds(e['expected_seconds'])} (max {format_seconds(e['upper_seconds'])})"
        render.table("presets", ["preset", "values", "regime", "volatility", "source"],
                     [[r["name"] + (" (default)" if r["default"] else ""),
                       " ".join(f"{k}={v}" for k, v in r["values"].items()) or "model-type defaults",
                       est(r["estimates"]["regime"]), est(r["estimates"]["volatility"]), r["source"]] for r in rows])
    run(as_json, body, show)


def _probe(home: Home, kind: str, effective, device: str):
    from .estimate import from_probe, probe_key, probe_seconds_per_sample
    from .jobs import Jobs

    seconds = probe_seconds_per_sample(kind, effective.config, device)
    Jobs(home).save_probe(probe_key(kind, effective.config, device), seconds)
    return from_probe(kind, effective.config, device, seconds, measured_now=True)


# ---------------------------------------------------------------- train

def _effective(home: Home, kind: str, preset: str | None, config_file: Path | None, flags: dict):
    presets_found = load_presets(home)
    chosen = get_preset(preset or DEFAULT_PRESET, presets_found)
    doc = load_yaml_mapping(config_file, "config file") if config_file else None
    return build_config(kind, chosen, doc, flags)


@app.command()
def train(
    model: str = typer.Argument(..., help="Model name, e.g. btc_regime_detector or volatility_forecaster."),
    model_type: Optional[str] = MODEL_TYPE_OPT,
    preset: Optional[str] = PRESET_OPT,
    config_file: Optional[Path] = CONFIG_OPT,
    days: Optional[int] = OPT["days"],
    epochs: Optional[int] = OPT["epochs"],
    patience: Optional[int] = OPT["patience"],
    batch_size: Optional[int] = OPT["batch_size"],
    learning_rate: Optional[float] = OPT["learning_rate"],
    train_val_split: Optional[float] = OPT["train_val_split"],
    hidden_size: Optional[int] = OPT["hidden_size"],
    min_r2: Optional[float] = OPT["min_r2"],
    symbols: Optional[str] = OPT["symbols"],
    seed: int = typer.Option(42, "--seed", help="Random seed (recorded with the model)."),
    device: str = typer.Option("auto", "--device", help="auto (cuda, then mps, then cpu), cpu, cuda or mps."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (required without a terminal)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print config, sources, device and estimate; train nothing."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another job on the same model instead of exiting 2."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final summary."),
    as_json: bool = JSON_OPT,
) -> None:
    """Train a model: estimate, confirm, fit, gate, and save a new registry version."""
    flags = dict(days=days, epochs=epochs, patience=patience, batch_size=batch_size, learning_rate=learning_rate,
                 train_val_split=train_val_split, hidden_size=hidden_size, min_r2=min_r2,
                 symbols=parse_symbols(symbols))

    windows: dict = {}  # the run's data windows: shown in text, kept out of the pinned JSON result

    def body() -> dict:
        from .estimate import from_history
        from .jobs import Jobs
        from .train import pick_device

        home = _home()
        kind = resolve_model_type(model, model_type, home)
        effective = _effective(home, kind, preset, config_file, flags)
        _require_data(home, model, kind, effective)
        used_device = pick_device(device)
        estimate = from_history(kind, effective.config, used_device, Jobs(home).runs()) \
            or _probe(home, kind, effective, used_device)
        plan = {"model_name": model, "model_type": kind, "preset": effective.preset, "config": effective.as_dict(),
                "sources": effective.sources, "device": used_device, "estimate": estimate.as_dict()}
        if dry_run:
            return plan
        _print_plan(plan, to_stderr=True)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError("stdin is not a terminal and --yes was not given; pass --yes to train "
                                 "non-interactively (cron, scripts)")
            if not typer.confirm("Start training?", default=True, err=True):
                raise MltrainError("cancelled at the prompt; nothing was trained", ExitCode.FAILURE)
        from .runner import TrainRequest, run_training

        pause = os.environ.get("MLTRAIN_TEST_PAUSE_BEFORE_COMMIT")
        request = TrainRequest(model, effective, seed, used_device, estimate, list(sys.argv), wait=wait,
                               quiet=quiet or as_json, live=sys.stderr.isatty() and not as_json,
                               pause_hook=(lambda: time.sleep(float(pause))) if pause else None)
        outcome = run_training(home, request, sys.stderr)
        windows.update(outcome.windows)
        for symbol, fail in outcome.gate.get("failing", {}).items():
            print(f"gate: {symbol} r2={fail['r2']:.4f} < min_r2={outcome.gate['threshold']} "
                  f"(best baseline {fail['best_baseline']} r2={fail['best_baseline_r2']:.4f}); "
                  f"v{outcome.data['version']} saved as rejected, production unchanged", file=sys.stderr)
        return outcome.data

    def show(data: dict) -> None:
        if dry_run:
            _print_plan(data, to_stderr=False)
        else:
            _print_result(data, windows)
    run(as_json, body, show, code=lambda d: ExitCode.OK if dry_run or d["promoted"] else ExitCode.NOT_PROMOTED)


def _require_data(home: Home, model: str, kind: str, effective) -> None:
    """Name a missing symbol before the plan, the prompt or a job record, not after them."""
    from .config import regime_symbol
    from .data.store import DataStore

    if kind == "volatility":
        symbols = list(effective.config.symbols or [])
        why = f"symbols from {effective.sources['symbols']}"
    else:
        symbols = [regime_symbol(model)]
        why = f"regime model {model!r} trains on the asset its name starts with"
    store = DataStore(home)
    store.require(symbols, why)
    stale = store.stale(symbols)
    if stale:  # a cron job fed by a broken download keeps retraining on old data: say so every time
        listed = ", ".join(f"{symbol} {last.date()} ({age} days ago)" for symbol, last, age in stale)
        print(f"warning: newest candles {listed}; the model will know nothing after them. Import newer "
              "candles with `mltrain data import FILE --symbol SYMBOL --merge`", file=sys.stderr)


def _print_plan(plan: dict, to_stderr: bool) -> None:
    from .estimate import format_seconds

    stream = sys.stderr if to_stderr else sys.stdout
    render.table(f"{plan['model_name']} ({plan['model_type']}), preset {plan['preset']}, device {plan['device']}",
                 ["field", "value", "from"],
                 [[k, render.fmt(v), plan["sources"][k]] for k, v in plan["config"].items()], stream)
    est = plan["estimate"]
    print(f"estimate: ~{format_seconds(est['expected_seconds'])}, at most {format_seconds(est['upper_seconds'])} "
          f"(all epochs, no early stop); based on {est['basis']}", file=stream)
    if est["warning"]:
        print(f"warning: {est['warning']}", file=stream)


def _print_result(data: dict, windows: dict) -> None:
    from .estimate import format_seconds

    status = "promoted to production" if data["promoted"] else "NOT promoted (gate failed); production unchanged"
    print(f"{data['model_name']} v{data['version']} {status} | job {data['job_id']} | "
          f"{format_seconds(data['duration_seconds'])} (estimated {format_seconds(data['estimated_seconds'])})")
    _print_scores(data["model_type"], data["metrics"], data["baselines"], windows)


SHORT_VALIDATION_DAYS = 60  # below this a volatility split holds under nine non-overlapping weekly targets


def _validation_title(windows: dict) -> str:
    days = sorted({w["val_samples"] for w in windows.values()})
    span = "" if not days else f"; {days[0]} days" if len(days) == 1 else f"; {days[0]}-{days[-1]} days per symbol"
    return f"validation (out of sample, chronological{span})"


def _single_regime_note(model_metrics: dict) -> str | None:
    """A validation block with one true regime makes balanced accuracy that regime's recall: say so."""
    from .features import REGIMES

    present = [REGIMES[i] for i, row in enumerate(model_metrics.get("confusion", [])) if sum(row) > 0]
    if len(present) != 1:
        return None
    return (f"note: every validation day is {present[0]}, so balanced accuracy is that regime's recall alone and "
            "the majority class can score 1.0; this split says little about skill. Use more --days, or "
            "`mltrain evaluate` for several periods")


def _print_scores(model_type: str, model_metrics: dict, baselines: dict, windows: dict | None = None) -> None:
    title = _validation_title(windows or {})
    if model_type == "volatility":
        rows = []
        for symbol, scores in model_metrics["symbols"].items():
            row = [symbol, "model", scores["r2"], scores["qlike"], scores["mae"]]
            rows.append(row)
            for name, per in baselines.items():
                s = per[symbol]
                rows.append([symbol, name, s["r2"], s["qlike"], s["mae"]])
        render.table(title, ["symbol", "forecaster", "r2 (log vol)", "QLIKE", "MAE (ann. vol)"],
                     [[render.fmt(v) for v in r] for r in rows])
        fewest = min((w["val_samples"] for w in (windows or {}).values()), default=None)
        if fewest is not None and fewest < SHORT_VALIDATION_DAYS:
            print(f"note: {fewest} validation days hold about {max(fewest // 7, 1)} independent 7-day targets, so a "
                  "few volatile days decide r2 and QLIKE; use more --days, or `mltrain evaluate` for several periods")
    else:
        rows = [["model", *(model_metrics[k] for k in ("accuracy", "balanced_accuracy", "macro_f1",
                                                          "detection_lag_days", "changes_per_year"))]]
        for name, s in baselines.items():
            rows.append([name, *(s[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "detection_lag_days",
                                                "changes_per_year"))])
        render.table(title, ["detector", "accuracy", "balanced acc", "macro-F1", "lag (days)", "changes/yr"],
                     [[render.fmt(v) for v in r] for r in rows])
        note = _single_regime_note(model_metrics)
        if note:
            print(note)


# ---------------------------------------------------------------- data

@data_app.command("import")
def data_import(
    file: Path = typer.Argument(..., help="CSV, JSON or Parquet price file."),
    symbol: str = typer.Option(..., "--symbol", help="Upper-case symbol to store it as, e.g. BTC."),
    fmt: str = typer.Option("auto", "--format", help="auto, generic, binance, yahoo, cryptodatadownload, "
                                                      "coingecko, ccxt or parquet."),
    merge: bool = typer.Option(False, "--merge", help="Add new dates to the stored series; overlapping dates must "
                                                      "agree on close, else the import fails and nothing changes."),
    replace: bool = typer.Option(False, "--replace", help="Replace the stored series whole (the default)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Validate a price file and store it; an imported symbol takes precedence over the embedded one.

    A failed import changes nothing."""
    def body() -> dict:
        from .data.store import DataStore
        if merge and replace:
            raise UsageError("--merge and --replace exclude each other")
        return DataStore(_home()).import_file(file, symbol, fmt, "merge" if merge else "replace")

    def show(d: dict) -> None:
        print(f"imported {d['symbol']} ({d['format']}): {d['rows']} days {d['first']} to {d['last']}, "
              f"{d['missing_days']} missing days" + (f"; {'; '.join(d['notes'])}" if d["notes"] else ""))
    run(as_json, body, show)


@data_app.command("list")
def data_list(as_json: bool = JSON_OPT) -> None:
    """Every symbol with its source, first and last date, rows and missing days."""
    def body() -> list:
        from .data.store import DataStore
        store = DataStore(_home())
        return [store.summary(s) for s in store.symbols()]

    def show(rows: list) -> None:
        render.table("price history", ["symbol", "source", "first", "last", "rows", "missing days", "ohlc"],
                     [[r["symbol"], r["source"], r["first"], r["last"], r["rows"], r["missing_days"], r["ohlc"]]
                      for r in rows])
    run(as_json, body, show)


@data_app.command("show")
def data_show(symbol: str = typer.Argument(...), rows: int = typer.Option(5, "--rows", help="Candles to show."),
              as_json: bool = JSON_OPT) -> None:
    """A symbol's summary and its last candles."""
    def body() -> dict:
        import math

        from .data.store import DataStore
        store = DataStore(_home())
        summary = store.summary(symbol)
        frame = store.load(symbol).frame.tail(rows)
        candles = [{"date": str(d.date()), **{k: (None if math.isnan(v) else v) for k, v in r.items()}}
                   for d, r in zip(frame.index, frame.to_dict("records"))]
        return {**summary, "candles": candles, "last": candles[-1]}

    def show(d: dict) -> None:
        print(f"{d['symbol']}: {d['source']}, {d['first']} to {d['last']}, {d['rows']} rows, "
              f"{d['missing_days']} missing days")
        render.table(None, ["date", "open", "high", "low", "close", "volume"],
                     [[c["date"], c["open"], c["high"], c["low"], c["close"], c["volume"]] for c in d["candles"]])
    run(as_json, body, show)


@data_app.command("synth")
def data_synth(symbol: str = typer.Option("SYN", "--symbol"), days: int = typer.Option(2000, "--days"),
               seed: int = typer.Option(7, "--seed"), as_json: bool = JSON_OPT) -> None:
    """Generate a regime-switching market with known regimes and store it like an import."""
    def body() -> dict:
        from .data.store import DataStore, fingerprint
        from .data.synth import REGIMES, generate
        from .fsutil import atomic_write_bytes
        if not symbol.isalnum() or symbol != symbol.upper():
            raise UsageError(f"symbol {symbol!r} must be upper-case letters and digits")
        if not 300 <= days <= 20000:
            raise UsageError(f"--days {days} is out of range; allowed 300..20000")
        import pandas as pd

        store = DataStore(_home())
        # from 2018-01-01 (same dates for the same seed), moved back when that would run past yesterday
        start = min(pd.Timestamp("2018-01-01"), store.today - pd.Timedelta(days=days))
        frame, states = generate(days, seed, start=str(start.date()))
        regimes_csv = "date,regime\n" + "".join(f"{d.date()},{REGIMES[s]}\n" for d, s in zip(frame.index, states))
        atomic_write_bytes(store.root / f"{symbol}.regimes.csv", regimes_csv.encode())
        store.save(symbol, frame, {"symbol": symbol, "source": f"synthetic seed={seed}", "format": "synthetic",
                                   "has_ohlc": True, "aggregated": False, "rows": days, "seed": seed,
                                   "fingerprint": fingerprint(frame), "true_regimes": f"{symbol}.regimes.csv"})
        return {**store.summary(symbol), "seed": seed, "true_regimes": str(store.root / f"{symbol}.regimes.csv")}

    run(as_json, body, lambda d: print(f"stored {d['symbol']}: {d['rows']} synthetic days (seed {d['seed']}); "
                                       f"true regimes in {d['true_regimes']}"))


# ---------------------------------------------------------------- models

def _registry():
    from .registry import Registry
    return Registry(_home())


def _main_metric(meta: dict) -> tuple[str, float | None]:
    if meta["model_type"] == "volatility":
        return "r2_min", meta["metrics"].get("r2_min")
    return "balanced_accuracy", meta["metrics"].get("balanced_accuracy")


@models_app.command("list")
def models_list(as_json: bool = JSON_OPT) -> None:
    """Every model with its production and latest version."""
    def body() -> list:
        registry = _registry()
        rows = []
        for name in registry.models():
            latest = registry.versions(name)[-1]
            meta = registry.meta(name, latest)
            metric, value = _main_metric(meta)
            last_dates = [w["last"] for w in meta["data_windows"].values()]
            rows.append({"name": name, "model_type": meta["model_type"],
                         "production_version": registry.aliases(name).get("production"),
                         "latest_version": latest, "latest_status": registry.status(name, latest, meta),
                         "main_metric": metric, "main_metric_value": value, "trained_at": meta["created_at"],
                         "last_data_date": max(last_dates) if last_dates else None})
        return rows

    run(as_json, body, lambda rows: render.table("models", ["name", "type", "production", "latest", "status", "metric",
                                                            "trained at", "last data"],
                                                 [[r["name"], r["model_type"], r["production_version"],
                                                   r["latest_version"], r["latest_status"],
                                                   f"{r['main_metric']}={render.fmt(r['main_metric_value'])}",
                                                   r["trained_at"], r["last_data_date"]] for r in rows]))


@models_app.command("show")
def models_show(name: str, version: Optional[int] = typer.Option(None, "--version"), as_json: bool = JSON_OPT) -> None:
    """Everything in a version's metadata."""
    def body() -> dict:
        registry = _registry()
        v = registry.require_version(name, version)
        meta = registry.meta(name, v)
        evaluations = [{k: e.get(k) for k in ("evaluation_id", "created_at", "command", "summary")}
                       for e in registry.evaluations(name)]
        return {**meta, "status": registry.status(name, v, meta), "evaluations": evaluations}

    run(as_json, body, _print_version)


def _print_version(meta: dict) -> None:
    """The metadata in sections a person reads top to bottom; --json has every field as stored."""
    gate = meta.get("gate", {})
    verdict = "passed" if gate.get("passed") else "failed"
    timings = meta.get("timings", {})
    render.kv(f"{meta['name']} v{meta['version']} ({meta['status']})", {
        "model type": meta["model_type"], "created": meta["created_at"], "job": meta.get("job_id"),
        "preset": meta.get("preset"), "custom config": meta.get("has_custom_config"), "seed": meta.get("seed"),
        "device": meta.get("device"), "gate": f"{verdict}: {gate.get('rule')}"
                                              + (f" (threshold {gate['threshold']})" if "threshold" in gate else ""),
        "initial status": meta.get("initial_status"),
        "duration": f"{timings.get('total_seconds')} s (estimated {timings.get('estimated_seconds')} s, "
                    f"{timings.get('estimate_basis')})",
        "epochs run / best": f"{timings.get('epochs_run')} / {timings.get('best_epoch')}",
        "command": " ".join(meta.get("command_line", [])),
        "libraries": ", ".join(f"{k} {v}" for k, v in meta.get("library_versions", {}).items()),
    })
    render.table("config", ["field", "value", "from"],
                 [[k, render.fmt(v), meta.get("sources", {}).get(k, "-")] for k, v in meta["config"].items()])
    _print_scores(meta["model_type"], meta["metrics"], meta["baselines"], meta["data_windows"])
    render.table("data windows", ["symbol", "first", "last", "rows", "train", "validation", "estimator", "source",
                                  "fingerprint"],
                 [[w["symbol"], w["first"], w["last"], w["rows"], w["train_samples"], w["val_samples"],
                   w.get("estimator"), w.get("source"), w.get("fingerprint")] for w in meta["data_windows"].values()])
    render.table("files (sha256)", ["file", "sha256"], [[f, h] for f, h in meta.get("files", {}).items()])
    if meta.get("evaluations"):
        render.table("walk-forward evaluations of this model (mltrain evaluate)", ["id", "created", "command", "mean"],
                     [[e["evaluation_id"], e["created_at"], " ".join(e["command"]) if isinstance(e["command"], list)
                       else e["command"], _evaluation_headline(meta["model_type"], e.get("summary") or {})]
                      for e in meta["evaluations"]])


def _evaluation_headline(model_type: str, summary: dict) -> str:
    """One cell: regime balanced accuracy of every detector; volatility QLIKE rank and folds won per symbol."""
    if model_type == "regime":
        return ", ".join(f"{who} {s['balanced_accuracy']:.2f}" if isinstance(s, dict) else f"{who} {s}"
                         for who, s in summary.items())
    return "; ".join(f"{symbol} QLIKE rank {s['mean_qlike_rank']}/{s['of']}, beats best baseline in "
                     f"{s['folds_beating_best_baseline_on_qlike']}/{s['folds']} folds" for symbol, s in summary.items())


@models_app.command("promote")
def models_promote(name: str, version: int, as_json: bool = JSON_OPT) -> None:
    """Make version N the production version."""
    def body() -> dict:
        previous = _registry().promote(name, version)
        return {"name": name, "production": version, "previous": previous}
    run(as_json, body, lambda d: print(f"{name}: production is now v{d['production']} (was v{d['previous']})"))


@models_app.command("rollback")
def models_rollback(name: str, as_json: bool = JSON_OPT) -> None:
    """Production back to the previous production version."""
    def body() -> dict:
        current, previous = _registry().rollback(name)
        return {"name": name, "from": current, "production": previous}
    run(as_json, body, lambda d: print(f"{name}: production rolled back from v{d['from']} to v{d['production']}"))


@models_app.command("compare")
def models_compare(name: str, a: int, b: int, as_json: bool = JSON_OPT) -> None:
    """Config, data window and metrics of two versions side by side."""
    def body() -> dict:
        registry = _registry()
        out = {}
        for v in (a, b):
            meta = registry.meta(name, registry.require_version(name, v))
            out[f"v{v}"] = {"config": meta["config"], "data_windows": meta["data_windows"], "metrics": meta["metrics"],
                            "baselines": meta["baselines"], "created_at": meta["created_at"],
                            "status": registry.status(name, v, meta)}
        return {"name": name, "versions": out}

    def show(d: dict) -> None:
        left, right = d["versions"][f"v{a}"], d["versions"][f"v{b}"]
        rows = [[f"config.{k}", render.fmt(left["config"][k]), render.fmt(right["config"].get(k))] for k in left["config"]]
        for section in ("data_windows", "metrics"):
            keys = sorted(set(left[section]) | set(right[section]))
            rows += [[f"{section}.{k}", json.dumps(left[section].get(k)), json.dumps(right[section].get(k))] for k in keys]
        rows.append(["status", left["status"], right["status"]])
        render.table(f"{name}: v{a} vs v{b}", ["field", f"v{a}", f"v{b}"], rows)
    run(as_json, body, show)


@models_app.command("rm")
def models_rm(name: str, version: int, as_json: bool = JSON_OPT) -> None:
    """Delete a version (never the production one)."""
    def body() -> dict:
        _registry().remove(name, version)
        return {"name": name, "removed": version}
    run(as_json, body, lambda d: print(f"{name}: removed v{version}"))


@models_app.command("prune")
def models_prune(name: str, keep: int = typer.Option(..., "--keep", help="How many of the newest versions to keep."),
                 dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
                 as_json: bool = JSON_OPT) -> None:
    """Remove old versions: keeps the N newest, the production version and the one rollback would restore."""
    def body() -> dict:
        removed, kept = _registry().prune(name, keep, dry_run)
        return {"name": name, "removed": removed, "kept": kept, "dry_run": dry_run}

    def show(d: dict) -> None:
        verb = "would remove" if d["dry_run"] else "removed"
        listed = ", ".join(f"v{v}" for v in d["removed"]) or "nothing"
        print(f"{name}: {verb} {listed}; kept {', '.join(f'v{v}' for v in d['kept'])}")
    run(as_json, body, show)


# ---------------------------------------------------------------- jobs

@jobs_app.command("list")
def jobs_list(status: Optional[str] = typer.Option(None, "--status"), model: Optional[str] = typer.Option(None, "--model"),
              as_json: bool = JSON_OPT) -> None:
    """Training jobs, newest first."""
    def body() -> list:
        from .jobs import Jobs
        return Jobs(_home()).list(status, model)
    run(as_json, body, lambda rows: render.table("jobs", ["job", "model", "type", "status", "created", "version",
                                                          "by", "error"],
                                                 [[r["job_id"], r["model_name"], r["model_type"], r["status"],
                                                   r["created_at"], r["version"], r["triggered_by"], r["error"]]
                                                  for r in rows]))


@jobs_app.command("show")
def jobs_show(job_id: str, as_json: bool = JSON_OPT) -> None:
    """One job's record and its log file."""
    def body() -> dict:
        from .jobs import Jobs
        return Jobs(_home()).get(job_id)
    run(as_json, body, lambda d: render.kv(f"job {job_id}", d))


# ---------------------------------------------------------------- predict and info

@app.command()
def predict(model: str, symbol: Optional[str] = typer.Option(None, "--symbol", help="Volatility models: one symbol."),
            version: Optional[int] = typer.Option(None, "--version", help="Use this version instead of production."),
            since: Optional[str] = typer.Option(None, "--since", help="Causal prediction for every date from DATE."),
            csv_out: bool = typer.Option(False, "--csv", help="Print CSV rows instead of a table."),
            as_json: bool = JSON_OPT) -> None:
    """Regime now, or volatility over the next horizon, from the current data store."""
    def body() -> dict:
        import datetime

        from .data.store import STALE_DATA_DAYS, DataStore
        from .predict import predict_regime, predict_volatility
        registry = _registry()
        v = registry.require_version(model, version)
        meta, tensors = registry.load(model, v)
        store = DataStore(_home())
        if meta["model_type"] == "regime":
            if symbol is not None:
                raise UsageError("--symbol is for volatility models; a regime model has one asset")
            rows = predict_regime(meta, tensors, store, since)
        else:
            rows = predict_volatility(meta, tensors, store, [symbol] if symbol else None, since)
        last = max(r["date"] for r in rows)
        age = (store.today.date() - datetime.date.fromisoformat(last)).days
        if age > STALE_DATA_DAYS:
            print(f"warning: the latest candle is {last}, {age} days before today (UTC); these predictions are for "
                  "that date. Import newer candles with `mltrain data import FILE --symbol SYMBOL --merge`",
                  file=sys.stderr)
        return {"model_name": model, "model_type": meta["model_type"], "version": v, "last_data_date": last,
                "data_age_days": age, "predictions": rows}

    def show(d: dict) -> None:
        rows = d["predictions"]
        if d["model_type"] == "regime":
            columns = ["date", "regime", "Bear", "Correction", "Bull", "Expansion", "rule_regime"]
            values = [[r["date"], r["regime"], *r["probabilities"].values(), r["rule_regime"]] for r in rows]
        else:
            columns = ["symbol", "date", "horizon_days", "forecast_annualized_vol", "trailing_realized_vol"]
            values = [[r[c] for c in columns] for r in rows]
        if csv_out:
            print(",".join(columns))
            for row in values:
                print(",".join(str(v) for v in row))
        else:
            render.table(f"{model} v{d['version']}", columns, [[render.fmt(v) for v in row] for row in values])
    run(as_json, body, show)


@app.command()
def info(as_json: bool = JSON_OPT) -> None:
    """Locations, versions and the device `auto` would pick."""
    def body() -> dict:
        import platform

        import torch

        from .paths import builtin_presets_dir, embedded_data_dir
        from .train import pick_device
        home = _home()
        return {"home": str(home.root), "registry": str(home.registry), "data_store": str(home.data_store),
                "jobs": str(home.jobs), "logs": str(home.logs), "app_log": str(home.app_log),
                "user_presets": str(home.user_presets), "builtin_presets": str(builtin_presets_dir()),
                "embedded_data": str(embedded_data_dir()), "mltrain": __version__, "torch": torch.__version__,
                "python": platform.python_version(), "device": pick_device("auto")}
    run(as_json, body, lambda d: render.kv("mltrain info", d))


@app.command()
def evaluate(
    model: str = typer.Argument(..., help="Model name."),
    model_type: Optional[str] = MODEL_TYPE_OPT,
    folds: int = typer.Option(5, "--folds", help="Number of walk-forward folds (2..20)."),
    preset: Optional[str] = PRESET_OPT,
    config_file: Optional[Path] = CONFIG_OPT,
    days: Optional[int] = OPT["days"],
    epochs: Optional[int] = OPT["epochs"],
    patience: Optional[int] = OPT["patience"],
    batch_size: Optional[int] = OPT["batch_size"],
    learning_rate: Optional[float] = OPT["learning_rate"],
    train_val_split: Optional[float] = OPT["train_val_split"],
    hidden_size: Optional[int] = OPT["hidden_size"],
    symbols: Optional[str] = OPT["symbols"],
    seed: int = typer.Option(42, "--seed", help="Training seed; with --synthetic also the market's seed."),
    synthetic: bool = typer.Option(False, "--synthetic", help="Regime models: train and score on a generated "
                                                               "market whose true regimes are known."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write report.md and PNG figures into DIR."),
    workers: int = typer.Option(0, "--workers", help="Processes for the independent folds (0: every core)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Walk-forward evaluation against strong baselines; the registry's versions and aliases are not changed."""
    flags = dict(days=days, epochs=epochs, patience=patience, batch_size=batch_size, learning_rate=learning_rate,
                 train_val_split=train_val_split, hidden_size=hidden_size, symbols=parse_symbols(symbols))

    def body() -> dict:
        from .evaluate import walk_forward
        from .jobs import new_job_id
        from .registry import Registry, now_iso
        if not 2 <= folds <= 20:
            raise UsageError(f"--folds {folds} is out of range; allowed 2..20")
        if workers < 0:
            raise UsageError(f"--workers {workers} must be 0 (every core) or more")
        home = _home()
        kind = resolve_model_type(model, model_type, home)
        if report is not None and report.exists() and not report.is_dir():
            raise UsageError(f"--report {report} is a file; give a folder for report.md and its figures")
        if synthetic and kind != "regime":
            raise UsageError("--synthetic is for regime models: only they have known true regimes to score against")
        effective = _effective(home, kind, preset, config_file, flags)
        result = walk_forward(home, kind, model, effective.config, folds, seed, workers,
                              synthetic_seed=seed if synthetic else None)
        command = " ".join(["mltrain", *sys.argv[1:]])
        if report is not None:
            from .report import write_report
            result["report"] = str(write_report(result, report, command))
        for fold in result["folds"]:
            fold.pop("predictions")
        record = {"evaluation_id": new_job_id(), "created_at": now_iso(), "command": command,
                  "config": effective.as_dict(), "sources": effective.sources, "seed": seed, **result}
        result["record"] = str(Registry(home).save_evaluation(model, record))
        return result

    def show(d: dict) -> None:
        rows = []
        for k, fold in enumerate(d["folds"], start=1):
            for symbol, val in fold["validation"].items():
                span = f"{val['first']}..{val['last']}"
                if d["model_type"] == "volatility":
                    m = fold["metrics"]["symbols"][symbol]
                    rows.append([k, symbol, span, m["r2"], m["qlike"],
                                 *(b[symbol]["qlike"] if isinstance(b[symbol], dict) else "not installed"
                                   for b in fold["baselines"].values())])
                else:
                    rows.append([k, symbol, span, fold["metrics"]["balanced_accuracy"],
                                 *(b["balanced_accuracy"] if isinstance(b, dict) else "not installed"
                                   for b in fold["baselines"].values())])
        names = list(d["folds"][0]["baselines"])
        if d["model_type"] == "volatility":
            columns = ["fold", "symbol", "validation", "model r2", "model QLIKE", *[f"{n} QLIKE" for n in names]]
        else:
            columns = ["fold", "symbol", "validation", "model bal. acc", *[f"{n} bal. acc" for n in names]]
        render.table(f"walk-forward: {d['model_name']} ({d['scheme']})", columns,
                     [[render.fmt(v) for v in r] for r in rows])
        print(json.dumps(d["summary"], indent=2))
        if d.get("report"):
            print(f"report: {d['report']}")
        print(f"stored: {d['record']}")
    run(as_json, body, show)


def main() -> None:
    """Console entry point. Typer reports bad options itself (exit 2); with --json the report is JSON too."""
    if "--json" not in sys.argv[1:]:
        app(prog_name="mltrain")
        return
    try:
        code = app(prog_name="mltrain", standalone_mode=False)
    except Exception as exc:
        if not (hasattr(exc, "format_message") and hasattr(exc, "show")):  # not a Click/Typer usage error
            raise
        print(render.error_envelope(exc.format_message()))
        exc.show()
        sys.exit(ExitCode.USAGE)
    sys.exit(code if isinstance(code, int) else 0)
