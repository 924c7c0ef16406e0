"""A third model kind defined in this one file: the CLI trains, shows, predicts and evaluates it unchanged.

The toy kind is a mean-reversion forecaster: tomorrow's log return of BTC from how far today's close
sits from its 20-day mean, a one-weight linear network. It is registered by the `toy` fixture only, so
the other tests see the two built-in kinds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mltrain.kinds import KINDS, ModelKind, register

from .conftest import run_cli

WINDOW_DAYS = 20
ARCH = "toy_meanrev_linear"


def _samples(frame):
    """Feature: log distance of the close from its trailing mean (causal). Target: next day's log return."""
    close = frame["close"]
    feature = np.log(close / close.rolling(WINDOW_DAYS).mean()).to_numpy()
    target = np.log(close.shift(-1) / close).to_numpy()
    return feature, target


class MeanReversionKind(ModelKind):
    name = "toy"
    description = "next-day log return from the distance to the 20-day mean"
    catalogue = ("btc_meanrev",)
    defaults = dict(
        days=200,
        epochs=20,
        patience=5,
        batch_size=32,
        learning_rate=0.01,
        train_val_split=0.8,
        hidden_size=None,
        min_r2=None,
        symbols=None,
    )
    main_metric = "mse"
    progress_metric = "mse"
    archs = (ARCH,)

    def symbols(self, model_name, config):
        return [model_name.split("_", 1)[0].upper()]

    def probe_batch(self, config, device):
        import torch
        from torch import nn

        x, y = torch.randn(config.batch_size, 1), torch.randn(config.batch_size, 1)
        return nn.Linear(1, 1), x.to(device), y.to(device), nn.functional.mse_loss

    def _data(self, store, symbol, config, end=None):
        from mltrain.pipeline import history, window

        frame, filled, _ = history(store.load(symbol))
        feature, target = _samples(frame)
        usable = ~np.isnan(feature) & ~np.isnan(target)
        if end is not None:
            usable[int(frame.index.searchsorted(end, side="right")) :] = False
        idx = np.nonzero(usable)[0][-config.days :]
        n_train = int(round(config.days * config.train_val_split))
        train, val = idx[: n_train - 1], idx[n_train:]  # one day purged: a target is the next day's return
        used = window(
            store.load(symbol),
            frame,
            idx,
            train=len(train),
            val=len(val),
            dropped=1,
            filled=filled,
            rows_before=WINDOW_DAYS,
            rows_after=1,
        )
        return frame, feature, target, train, val, used

    def train(self, store, config, model_name, *, seed, device, on_epoch=None, stop=None, end=None):
        import torch
        from torch import nn

        from mltrain.pipeline import RunResult, fit_symbol, tensors
        from mltrain.train import Split

        symbol = self.symbols(model_name, config)[0]
        frame, feature, target, train, val, used = self._data(store, symbol, config, end)
        torch.manual_seed(seed)
        model = nn.Linear(1, 1).to(device)
        split = Split(
            *tensors(device, feature[train, None], target[train, None], feature[val, None], target[val, None])
        )
        fitted = fit_symbol(
            model,
            split,
            config,
            symbol=symbol,
            seed=seed,
            loss_fn=nn.functional.mse_loss,
            metric_fn=lambda out: float(nn.functional.mse_loss(out, split.y_sel)),
            on_epoch=on_epoch,
            stop=stop,
        )
        run = RunResult(model_type=self.name)
        run.add_fit(symbol, model, fitted)
        if run.interrupted:
            return run
        with torch.no_grad():
            pred = model(split.x_sel).cpu().numpy().ravel()
        actual = target[val]
        run.metrics = {
            "mse": float(np.mean((pred - actual) ** 2)),
            "hit_rate": float(np.mean(np.sign(pred) == np.sign(actual))),
        }
        run.baselines = {"zero": {"mse": float(np.mean(actual**2)), "hit_rate": 0.0}}
        run.spec = {"kind": ARCH, "symbol": symbol, "window_days": WINDOW_DAYS}
        run.windows = {symbol: used.as_dict()}
        run.predictions = {symbol: {"dates": [str(d.date()) for d in frame.index[val]]}}
        return run

    def build_network(self, spec):
        from torch import nn

        return nn.Linear(1, 1)

    def predict(self, meta, tensors, store, symbol, since):
        import torch

        from mltrain.pipeline import history, since_positions, state_of

        spec = meta["spec"]
        model = self.build_network(spec)
        model.load_state_dict(state_of(tensors, spec["symbol"]))
        frame, _, _ = history(store.load(spec["symbol"]))
        feature, _ = _samples(frame)
        pos = since_positions(frame.index, since, WINDOW_DAYS)
        with torch.no_grad():
            pred = model(torch.as_tensor(feature[pos, None], dtype=torch.float32)).numpy().ravel()
        return [
            {
                "symbol": spec["symbol"],
                "date": str(frame.index[p].date()),
                "next_day_log_return": round(float(v), 6),
            }
            for p, v in zip(pos, pred)
        ]

    def prediction_table(self, rows):
        columns = ["symbol", "date", "next_day_log_return"]
        return columns, [[r[c] for c in columns] for r in rows]

    def score_table(self, metrics, baselines, windows):
        rows = [["model", metrics["mse"], metrics["hit_rate"]]]
        rows += [[name, s["mse"], s["hit_rate"]] for name, s in baselines.items()]
        return ["forecaster", "MSE", "hit rate"], rows, []

    def evaluation_span(self, store, model_name, config, synthetic_seed, folds):
        import pandas as pd

        symbol = self.symbols(model_name, config)[0]
        last = pd.Timestamp(self._data(store, symbol, config)[-1].last)
        return last - pd.Timedelta(days=4 * config.days), last

    def fold(self, store, model_name, config, seed, end, synthetic_seed, folds, stop=None):
        run = self.train(store, config, model_name, seed=seed, device="cpu", stop=stop, end=end)
        return {
            "metrics": run.metrics,
            "baselines": run.baselines,
            "windows": run.windows,
            "predictions": run.predictions,
            "missing_extras": [],
        }

    def summarize(self, folds):
        return {
            "model_mse": float(np.mean([f["metrics"]["mse"] for f in folds])),
            "zero_mse": float(np.mean([f["baselines"]["zero"]["mse"] for f in folds])),
        }

    def fold_table(self, result):
        rows = [
            [
                k,
                f"{v['first']}..{v['last']}",
                symbol,
                fold["metrics"]["mse"],
                fold["baselines"]["zero"]["mse"],
            ]
            for k, fold in enumerate(result["folds"], start=1)
            for symbol, v in fold["validation"].items()
        ]
        return ["fold", "validation", "symbol", "model MSE", "zero MSE"], rows


@pytest.fixture
def toy():
    kind = register(MeanReversionKind())
    yield kind
    KINDS.pop(kind.name)


QUICK = ["--days", "150", "--epochs", "10", "--patience", "5"]


@pytest.mark.slow  # trains a network
def test_a_third_kind_works_through_every_command(toy: ModelKind, home: Path, tmp_path: Path):
    defaults = run_cli(["defaults", "btc_meanrev", "--json"]).json["data"]
    assert defaults["model_type"] == "toy" and defaults["config"]["days"] == 200
    assert (
        run_cli(["defaults", "eth_meanrev", "--model-type", "toy", "--json"]).json["data"]["model_type"]
        == "toy"
    )
    plan = run_cli(["train", "btc_meanrev", "--dry-run", *QUICK, "--json"]).json["data"]
    assert plan["model_type"] == "toy" and plan["config"]["days"] == 150
    refused = run_cli(["train", "btc_meanrev", "--dry-run", "--hidden-size", "64"], expect=2)
    assert "hidden_size is for volatility models only" in refused.stderr

    trained = run_cli(["train", "btc_meanrev", *QUICK, "--yes", "--json"]).json["data"]
    assert trained["promoted"] and trained["version"] == 1 and set(trained["metrics"]) == {"mse", "hit_rate"}
    shown = run_cli(["models", "show", "btc_meanrev", "--json"]).json["data"]
    assert shown["spec"]["kind"] == ARCH and shown["timings"]["epochs_run"]["BTC"] >= 1
    assert "hit rate" in run_cli(["models", "show", "btc_meanrev"]).stdout
    listed = run_cli(["models", "list", "--json"]).json["data"][0]
    assert listed["main_metric"] == "mse" and listed["main_metric_value"] == trained["metrics"]["mse"]

    predicted = run_cli(["predict", "btc_meanrev", "--json"]).json["data"]
    first = predicted["predictions"][0]
    assert first["symbol"] == "BTC" and "next_day_log_return" in first
    assert "next_day_log_return" in run_cli(["predict", "btc_meanrev", "--csv"]).stdout

    report = tmp_path / "report"
    evaluated = run_cli(
        ["evaluate", "btc_meanrev", "--folds", "2", "--workers", "1", *QUICK, "--report", report, "--json"]
    ).json["data"]
    assert evaluated["model_type"] == "toy" and len(evaluated["folds"]) == 2
    assert set(evaluated["summary"]) == {"model_mse", "zero_mse"}
    assert "| fold | validation | symbol |" in (report / "report.md").read_text()
    assert "zero MSE" in run_cli(["evaluate", "btc_meanrev", "--folds", "2", "--workers", "1", *QUICK]).stdout
