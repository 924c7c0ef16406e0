"""The least-squares study behind docs/volatility.md "What was tried" (the base): log-HAR variants on the
walk-forward folds and blocks of the real code (volatility_model.panel), every choice made on a fold's fit or
selection rows, never on its validation block. Prints each design's QLIKE and ratio to the best of log_har and
log_har_bc per symbol.

    python scripts/volatility_base_study.py design     # folds before 2025-01-01 (what the choice was made on)
    python scripts/volatility_base_study.py all        # every fold
    python scripts/volatility_base_study.py untouched  # the folds from 2025-01-01
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

os.environ["MLTRAIN_HOME"] = tempfile.mkdtemp()  # the embedded series only

from mltrain.config import TrainingConfig  # noqa: E402
from mltrain.data.store import DataStore  # noqa: E402
from mltrain.errors import DataError  # noqa: E402
from mltrain.evaluate import plan_folds  # noqa: E402
from mltrain.forecasts import har_design  # noqa: E402
from mltrain.kinds import KINDS  # noqa: E402
from mltrain.kinds.volatility_model import panel  # noqa: E402
from mltrain.paths import Home  # noqa: E402
from mltrain.stats import qlike_loss  # noqa: E402

H = 7  # horizon days
MAD_TO_SIGMA = 1.4826
HOLDOUT = pd.Timestamp("2025-01-01")


def q(actual, forecast) -> float:
    return float(np.mean(qlike_loss(actual, forecast)))


def ols(var, target, rows, weights=None):
    """(Weighted) least squares of the target on the HAR design; residuals over `rows`."""
    x = np.column_stack([np.ones(len(rows)), har_design(var)[rows]])
    root = np.ones(len(rows)) if weights is None else np.sqrt(weights)
    coef, *_ = np.linalg.lstsq(x * root[:, None], target[rows] * root, rcond=None)
    return coef, target[rows] - x @ coef


def mean_exp(e, weights=None) -> float:
    weights = np.ones(len(e)) if weights is None else weights
    return 0.5 * float(np.log(np.sum(weights * np.exp(2 * e)) / np.sum(weights)))


def mad2(e) -> float:
    return float((MAD_TO_SIGMA * np.median(np.abs(e - np.median(e)))) ** 2)


def qlike_fit(var, target, rows, start, steps=20):
    """Coefficients minimising mean QLIKE (Newton from `start`); the intercept absorbs the bias."""
    x = np.column_stack([np.ones(len(rows)), har_design(var)[rows]])
    y, b = target[rows], start.copy()
    for _ in range(steps):
        ez = np.exp(2 * (y - x @ b))
        step = np.linalg.solve((x * (4 * ez)[:, None]).T @ x / len(y), x.T @ (2 - 2 * ez) / len(y))
        b = b - step
        if np.max(np.abs(step)) < 1e-10:
            break
    return b


def designs(p) -> dict[str, np.ndarray]:
    """Each design's forecast of the validation rows of one symbol and fold."""
    var, tgt, fit, sel, val = p.daily_var, p.target, p.fit, p.selection, p.validation
    dv, ds = har_design(var)[val], har_design(var)[sel]
    xv = np.column_stack([np.ones(len(val)), dv])
    lin = lambda coef: xv @ coef  # noqa: E731
    rows = np.concatenate([fit, sel])
    rows = rows[np.isfinite(tgt[rows])]
    coef_fit, e_fit = ols(var, tgt, fit)  # the base of every choice made on the selection block
    coef_all, c_in = p.har_full.coef, p.har_full.correction  # log_har and log_har_bc, as evaluate scores them
    e_all = tgt[rows] - np.column_stack([np.ones(len(rows)), har_design(var)[rows]]) @ coef_all
    raw_v, raw_s = lin(coef_all), np.column_stack([np.ones(len(sel)), ds]) @ coef_fit
    c_fit = mean_exp(e_fit)
    out = {"log_har": raw_v, "log_har_bc": raw_v + c_in}

    def on_selection(options_sel, options_val):
        return options_val[int(np.argmin([q(tgt[sel], o) for o in options_sel]))]

    c_oos = mean_exp(tgt[sel] - raw_s)
    out["a_oos_constant"] = raw_v + c_oos
    out["a_half_oos_constant"] = raw_v + 0.5 * c_oos
    out["a_mean_in_oos_constant"] = raw_v + 0.5 * (c_oos + c_in)
    grid = (0.0, 0.25, 0.5, 0.75, 1.0)
    out["a_share_grid_on_selection"] = on_selection(
        [raw_s + k * c_fit for k in grid], [raw_v + k * c_in for k in grid]
    )
    out["b_log_har_or_bc_on_selection"] = on_selection([raw_s, raw_s + c_fit], [raw_v, raw_v + c_in])
    out["b_none_half_full_on_selection"] = on_selection(
        [raw_s + k * c_fit for k in (0, 0.5, 1)], [raw_v + k * c_in for k in (0, 0.5, 1)]
    )
    out["half_constant_fixed"] = raw_v + 0.5 * c_in
    start = coef_all.copy()
    start[0] += c_in
    b_q = qlike_fit(var, tgt, rows, start)
    out["c_qlike_fit"] = lin(b_q)
    out["c_mean_qlike_fit_and_bc"] = 0.5 * lin(b_q) + 0.5 * (raw_v + c_in)
    start_f = coef_fit.copy()
    start_f[0] += c_fit
    b_qf = qlike_fit(var, tgt, fit[np.isfinite(tgt[fit])], start_f)
    xs = np.column_stack([np.ones(len(sel)), ds])
    out["c_qlike_or_log_har_or_bc_on_selection"] = on_selection(
        [raw_s, raw_s + c_fit, xs @ b_qf], [raw_v, raw_v + c_in, lin(b_q)]
    )
    for hl in (180, 365, 730):
        w = 0.5 ** ((rows.max() - rows) / hl)
        coef, e = ols(var, tgt, rows, w)
        if hl < 730:
            out[f"d_wls{hl}_mean_exp"] = lin(coef) + mean_exp(e, w)
        out[f"wls{hl}_mad2"] = lin(coef) + mad2(e)
    usable = np.nonzero(np.isfinite(tgt) & np.isfinite(har_design(var)).all(axis=1))[0]
    before = usable[usable <= sel[-1]]
    coef, e = ols(var, tgt, before)
    out["d_whole_history_mean_exp"] = lin(coef) + mean_exp(e)
    w = 0.5 ** ((before.max() - before) / 365)
    coef, e = ols(var, tgt, before, w)
    out["d_whole_history_wls365_mean_exp"] = lin(coef) + mean_exp(e, w)
    out["d_last120_residuals_constant"] = raw_v + mean_exp(e_all[-120:])
    out["lognormal_variance"] = raw_v + np.var(e_all)
    out["lognormal_0.9_variance"] = raw_v + 0.9 * np.var(e_all)
    shares = (0.5, 0.75, 1.0, 1.25)
    out["lognormal_share_on_selection"] = on_selection(
        [raw_s + k * np.var(e_fit) for k in shares], [raw_v + k * np.var(e_all) for k in shares]
    )
    sd = np.std(e_all)
    for z in (3.0, 2.5):
        out[f"winsorized{z:g}_mean_exp"] = raw_v + mean_exp(np.clip(e_all, -z * sd, z * sd))
    out["mad2"] = raw_v + mad2(e_all)
    out["iqr2"] = raw_v + (np.subtract(*np.percentile(e_all, [75, 25])) / 1.349) ** 2
    out["mean_variance_mad2"] = raw_v + 0.5 * (np.var(e_all) + mad2(e_all))
    out["median_plus_mad2"] = raw_v + np.median(e_all) + mad2(e_all)
    low, high = np.percentile(e_all, [1, 99])
    out["trimmed1_variance"] = raw_v + np.var(e_all[(e_all > low) & (e_all < high)])
    out["variance_n_minus_4"] = raw_v + np.sum(e_all**2) / (len(e_all) - 4)
    out["a_oos_variance"] = raw_v + np.var(tgt[sel] - raw_s)
    total, blocks, end = {0.0: 0.0, 0.5: 0.0, 1.0: 0.0}, 0, sel[-1]
    while True:  # inner walk-forward: 73-day blocks before the selection end, each fitted on what precedes it
        block = usable[usable <= end][-73:]
        train = usable[usable <= block[0] - H - 1][-(len(fit) + len(sel)) :] if len(block) else block
        if len(block) < 73 or len(usable[usable <= block[0] - H - 1]) < 400:
            break
        coef, e = ols(var, tgt, train)
        inner = np.column_stack([np.ones(len(block)), har_design(var)[block]]) @ coef
        for k in total:
            total[k] += float(np.sum(qlike_loss(tgt[block], inner + k * mean_exp(e))))
        blocks, end = blocks + 1, block[0] - 1
    out["b_share_on_inner_walk_forward"] = raw_v + (min(total, key=total.get) if blocks else 1.0) * c_in
    return out


def main(mode: str) -> None:
    home = Home(Path(os.environ["MLTRAIN_HOME"]))
    store = DataStore(home)
    config = TrainingConfig(**KINDS["volatility"].defaults)
    symbols = list(config.symbols)
    args = {"design": {"holdout_from": HOLDOUT}, "all": {}, "untouched": {"start": HOLDOUT}}[mode]
    ends = plan_folds(home, "volatility", "volatility_forecaster", config, None, **args)
    actual = {s: [] for s in symbols}
    forecasts: dict[str, dict[str, list]] = {s: {} for s in symbols}
    for end in ends:
        for s in symbols:
            try:
                p = panel(store.load(s), config, end)
            except DataError:  # not yet `days` of history: the symbol sits the fold out
                continue
            actual[s].append(p.target[p.validation])
            for name, f in designs(p).items():
                forecasts[s].setdefault(name, []).append(f)
    print(
        f"{mode}: {len(ends)} folds, {ends[0].date()}..{ends[-1].date()}; QLIKE and ratio to the best log-HAR"
    )
    print(f"{'design':40s}" + "".join(f"{s:>15s}" for s in symbols) + "  mean QLIKE")
    for name in forecasts[symbols[0]]:
        cells, means = [], []
        for s in symbols:
            a = np.concatenate(actual[s])
            score = {k: q(a, np.concatenate(forecasts[s][k])) for k in (name, "log_har", "log_har_bc")}
            cells.append(f"{score[name]:8.4f} {score[name] / min(score['log_har'], score['log_har_bc']):.3f}")
            means.append(score[name])
        print(f"{name:40s}" + "".join(f"{c:>15s}" for c in cells) + f"  {np.mean(means):.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "design")
