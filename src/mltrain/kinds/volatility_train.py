"""Training the volatility forecaster: one network pooled over symbols, its epoch chosen on the selection
block, its correction kept per symbol only where it earned its place there (design in volatility_model.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .volatility_model import (
    ARCH,
    BASE_HALF_LIFE_DAYS,
    BASE_ROBUST_CORRECTION,
    BASE_SHRINK,
    DEFAULT_HIDDEN,
    HORIZON,
    INPUT_DAYS,
    INPUTS,
    MIN_POOL_SHARE,
    MIN_SELECTION_GAIN,
    POOLED,
    UNUSED_WITHOUT_CORRECTION,
    Panel,
    build_network,
    panel,
    pool_panel,
    qlike_loss,
)

if TYPE_CHECKING:
    import pandas as pd

    from ..config import TrainingConfig
    from ..data.store import DataStore
    from ..pipeline import RunResult


def train_pooled(
    store: DataStore,
    config: TrainingConfig,
    *,
    seed: int,
    device: str,
    on_epoch=None,
    stop=None,
    end: pd.Timestamp | None = None,
    skip_short: bool = False,
) -> RunResult:
    """Fit one network on the fit rows of every symbol, choose its epoch on the config symbols' selection
    rows, and score the config symbols' validation blocks once, beside every baseline. `skip_short`
    (walk-forward folds): a config symbol without `days` of history by `end` sits the fold out."""
    import torch

    from ..pipeline import Clock, RunResult, fit_symbol, tensors
    from ..train import Split

    clock = Clock()
    panels, frames = _panels(store, config, end, skip_short)
    symbols = list(panels)
    pool = _pool(store, panels)
    fit_x = np.concatenate([p.x(p.fit, p.base_fit) for p in [*panels.values(), *pool.values()]])
    fit_y = np.concatenate([p.target[p.fit] for p in [*panels.values(), *pool.values()]])
    sel_x = np.concatenate([p.x(p.selection, p.base_fit) for p in panels.values()])
    sel_y = np.concatenate([p.target[p.selection] for p in panels.values()])
    torch.manual_seed(seed)
    model = build_network(len(INPUTS), config.hidden_size or DEFAULT_HIDDEN).to(device)
    split = Split(*tensors(device, fit_x, fit_y, sel_x, sel_y))

    def selection_qlike(out: torch.Tensor) -> float:
        return float(qlike_loss(out, split.y_sel))

    run = RunResult(model_type="volatility")
    apply = config.correction == "on"
    fitted = None
    if apply:
        fitted = fit_symbol(
            model,
            split,
            config,
            symbol=POOLED,
            seed=seed,
            loss_fn=qlike_loss,
            metric_fn=selection_qlike,
            on_epoch=on_epoch,
            stop=stop,
            min_gain=MIN_SELECTION_GAIN,
        )
        run.add_fit(POOLED, model, fitted)
        if run.interrupted:
            return run
    else:
        # correction off: the forecasts are the log-HAR base, so no network is trained (training it would
        # change the run time and nothing the user gets); its untrained weights keep the stored format
        run.tensors.update({f"{POOLED}.{k}": v.detach().cpu() for k, v in model.state_dict().items()})
    best_epoch = fitted.best_epoch if fitted else 0
    model.eval()
    per_symbol, spec_symbols, shipped_selection = _score_symbols(run, model, panels, config, device)
    run.epochs_run = {s: fitted.epochs_run if fitted else 0 for s in symbols}
    run.best_epoch = {s: best_epoch for s in symbols}
    run.spec = _spec(config, apply, sorted(pool), best_epoch, spec_symbols)
    # the selection score a version records and sweep compares: that of the forecasts that ship (the base, or
    # the corrected forecast for a symbol that kept its correction), not the network's best
    run.selection_score = selection_qlike(torch.cat(shipped_selection).to(device))
    r2s = [m["r2"] for m in per_symbol.values()]
    run.metrics = {
        "r2_mean": round(float(np.mean(r2s)), 4),
        "r2_min": round(float(np.min(r2s)), 4),
        "symbols": per_symbol,
        # shown beside the scores: which part of the design the forecasts come from
        "correction_applied": apply,
        "unused_fields": [] if apply else list(UNUSED_WITHOUT_CORRECTION),
        "correction_kept": sorted(s for s, stats in spec_symbols.items() if stats["use_correction"]),
    }
    run.warnings += extreme_day_warnings(frames, run.windows)
    if apply and best_epoch == 0:
        run.warnings.append(
            "no epoch improved on the base forecast on the selection block: the network's "
            "correction is zero and the model forecasts exactly its log-HAR base"
        )
    run.total_seconds = clock.seconds()
    return run


def _panels(store: DataStore, config: TrainingConfig, end, skip_short: bool) -> tuple[dict, dict]:
    """The config symbols' panels and candles; with `skip_short` a symbol too short by `end` is left out
    (the last one raises when none is left)."""
    from ..errors import DataError

    symbols = list(config.symbols or [])
    panels, frames = {}, {}
    for s in symbols:
        try:
            series = store.load(s)
            panels[s] = panel(series, config, end)
            frames[s] = series.frame
        except DataError:
            if not skip_short or s == symbols[-1] and not panels:
                raise
    return panels, frames


def _pool(store: DataStore, panels: dict) -> dict:
    """Every other series of the store with enough fit rows in the config symbols' fit span."""
    first = min(p.dates[p.fit[0]] for p in panels.values())
    last = min(p.dates[p.fit[-1]] for p in panels.values())  # no pool row on a day any target selects on
    min_rows = int(MIN_POOL_SHARE * min(len(p.fit) for p in panels.values()))
    pool = {}
    for other in store.symbols():
        if other not in panels:
            found = pool_panel(store.load(other), first, last, min_rows)
            if found is not None:
                pool[other] = found
    return pool


def _score_symbols(
    run: RunResult, model, panels: dict, config: TrainingConfig, device: str
) -> tuple[dict, dict, list]:
    """Each config symbol's validation forecasts scored beside the baselines (into `run`), with what volatility
    targeting by them earned; returns the model's scores, the spec's per-symbol part and the selection
    forecasts that ship."""
    import torch

    from ..decision import DEFAULT_MAX_LEVERAGE
    from .volatility_decision import add_decision
    from .volatility_eval import validation_forecasts

    apply = config.correction == "on"
    per_symbol, spec_symbols, shipped_selection = {}, {}, []
    for symbol, p in panels.items():
        with torch.no_grad():
            # the selection rows, corrected and base (the inputs' last column): the symbol keeps its
            # correction only if it earned it there, and what ships is what the selection score scores
            x_sel = torch.as_tensor(p.x(p.selection, p.base_fit), device=device)
            corrected_sel, base_sel = model(x_sel).cpu(), x_sel[:, -1].cpu()
            use = apply and keeps_correction(corrected_sel, base_sel, p)
            shipped_selection.append(corrected_sel if use else base_sel)
            if use:
                x = torch.as_tensor(p.x(p.validation, p.base_full), device=device)
                forecast = model(x).cpu().numpy().astype(float)
            else:
                forecast = p.base(p.validation, p.base_full)  # float64, as the baselines
        found = validation_forecasts(p, forecast)
        add_decision(found.predictions, p, config)
        run.missing_extras = sorted(set(run.missing_extras) | set(found.missing))
        per_symbol[symbol] = {**found.scores["model"], "n_val": int(len(p.validation))}
        for name, scores in found.scores.items():
            if name != "model":
                run.baselines.setdefault(name, {})[symbol] = scores
        for name in found.missing:  # an optional package is absent: no score, named in missing_extras
            run.baselines.setdefault(name, {})[symbol] = None
        run.predictions[symbol] = found.predictions
        run.windows[symbol] = {**p.window.as_dict(), **p.blocks()}
        spec_symbols[symbol] = {
            "har_coef": p.base_full.coef.tolist(),  # the base's log-HAR (predict adds the correction)
            "har_correction": p.base_full.correction,
            "feature_mean": p.mean.tolist(),
            "feature_std": p.std.tolist(),
            "estimator": p.window.estimator,
            "use_correction": use,
            "validation_last": str(p.dates[p.validation[-1]].date()),
            # volatility targeting's target: the config's, else the median realized vol of the training span
            "target_vol": found.predictions["target_vol"][0],
            "max_leverage": config.max_leverage or DEFAULT_MAX_LEVERAGE,
        }
    return per_symbol, spec_symbols, shipped_selection


def _spec(config: TrainingConfig, apply: bool, pool: list[str], best_epoch: int, spec_symbols: dict) -> dict:
    """Everything a stored version needs to be rebuilt and checked."""
    return {
        "kind": ARCH,
        "inputs": list(INPUTS),
        "n_inputs": len(INPUTS),
        "hidden_size": config.hidden_size or DEFAULT_HIDDEN,
        "horizon_days": HORIZON,
        "base": (
            f"log-HAR on range-based variance, exponentially weighted least squares (half-life "
            f"{BASE_HALF_LIFE_DAYS:g} days), + {BASE_SHRINK} x its "
            + ("robust lognormal bias correction, (1.4826 MAD)^2" if BASE_ROBUST_CORRECTION else "correction")
        ),
        "base_shrink": BASE_SHRINK,
        "base_half_life_days": BASE_HALF_LIFE_DAYS,
        "base_correction": "mad" if BASE_ROBUST_CORRECTION else "mean_exp",
        "correction_applied": apply,
        "network_trained": apply,
        "unused_fields": [] if apply else list(UNUSED_WITHOUT_CORRECTION),
        "target": "log annualized volatility over the next horizon_days",
        "pooled": True,
        "pool": pool,
        "best_epoch": best_epoch,
        "symbols": spec_symbols,
    }


def keeps_correction(corrected, base, p: Panel) -> bool:
    """Whether a symbol's forecasts carry the network's correction (`corrected` and `base`: its selection
    rows' forecasts): only when it cut that symbol's own selection QLIKE by MIN_SELECTION_GAIN (a pooled
    network can help one asset and hurt another)."""
    import torch

    actual = torch.as_tensor(p.target[p.selection], dtype=torch.float32)
    return bool(
        float(qlike_loss(corrected, actual)) < (1 - MIN_SELECTION_GAIN) * float(qlike_loss(base, actual))
    )


def extreme_day_warnings(frames: dict, windows: dict) -> list[str]:
    """One line per symbol whose samples' days (inputs and targets included) hold a day with a high at least
    10x its low: real prints kept as given, but one can decide the validation scores. `frames`: the candles
    the run read, per symbol."""
    import pandas as pd

    from ..data.validate import extreme_ranges

    lines = []
    for symbol, w in windows.items():
        # a sample's inputs reach INPUT_DAYS - 1 days back, its target HORIZON days ahead
        first = str((pd.Timestamp(w["first"]) - pd.Timedelta(days=INPUT_DAYS - 1)).date())
        last = str((pd.Timestamp(w["last"]) + pd.Timedelta(days=HORIZON)).date())
        days = [x for x in extreme_ranges(frames[symbol]) if first <= x["date"] <= last]
        if days:
            listed = ", ".join(f"{x['date']} (high {x['high_low']:,g}x the low)" for x in days)
            lines.append(
                f"{symbol}: this run's days include {listed}; kept as the source printed it, it enters the "
                "range-based variance (inputs and target) as a crash and can decide the scores "
                f"(`mltrain data show {symbol}`)"
            )
    return lines
