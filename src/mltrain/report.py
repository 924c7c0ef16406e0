"""A self-contained Markdown report with PNG figures for a walk-forward evaluation (matplotlib optional)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .baselines import NOT_INSTALLED
from .features import REGIMES
from .fsutil import atomic_write_bytes, ensure_dir

COLORS = {"Bear": "#c0392b", "Correction": "#e67e22", "Bull": "#27ae60", "Expansion": "#2980b9"}


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _table(columns: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _series(folds: list[dict], symbol: str, key: str) -> tuple[list, np.ndarray]:
    dates, values = [], []
    for fold in folds:
        pred = fold["predictions"][symbol]
        if key in pred:
            dates += pred["dates"]
            values += pred[key]
    return dates, np.asarray(values, dtype=float)


def _volatility(result: dict, out: Path, plt) -> list[str]:
    folds, parts = result["folds"], []
    for symbol in folds[0]["metrics"]["symbols"]:
        parts.append(f"## {symbol}\n")
        names = list(folds[0]["baselines"])
        rows = []
        for k, fold in enumerate(folds, start=1):
            val = fold["validation"][symbol]
            model = fold["metrics"]["symbols"][symbol]
            row = [k, f"{val['first']}..{val['last']}", model["r2"], model["qlike"]]
            for name in names:
                b = fold["baselines"][name][symbol]
                row.append(b["qlike"] if isinstance(b, dict) else "not installed")
            rows.append(row)
        parts.append(_table(["fold", "validation", "model r2", "model QLIKE", *[f"{n} QLIKE" for n in names]], rows))
        if plt is not None:
            fig, ax = plt.subplots(figsize=(11, 4))
            dates, actual = _series(folds, symbol, "actual")
            x = np.asarray(dates, dtype="datetime64[D]")
            ax.plot(x, np.exp(actual), color="black", lw=1.6, label="realized (next 7 days)")
            for key, style in (("model", "-"), ("har", "--"), ("ewma", ":"), ("persistence", "-."), ("garch", "--")):
                d, v = _series(folds, symbol, key)
                if len(v):
                    ax.plot(np.asarray(d, dtype="datetime64[D]"), np.exp(v), style, lw=1, label=key)
            ax.set_ylabel("annualized volatility")
            ax.set_title(f"{symbol}: forecast vs realized volatility, walk-forward validation blocks")
            ax.legend(ncol=6, fontsize=8)
            fig.tight_layout()
            fig.savefig(out / f"volatility_{symbol}.png", dpi=110)
            plt.close(fig)
            parts.append(f"![{symbol} forecast vs realized](volatility_{symbol}.png)\n")
    return parts


def _shade(ax, x, labels, title) -> None:
    """One span per run of equal labels, so adjacent runs meet without gaps."""
    edges = np.append(x, x[-1] + np.timedelta64(1, "D"))
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            ax.axvspan(edges[start], edges[i], color=COLORS[REGIMES[labels[start]]], alpha=0.25, lw=0)
            start = i
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=COLORS[n], alpha=0.25, label=n) for n in REGIMES], ncol=4, fontsize=8)
    ax.set_title(title)


def _regime(result: dict, out: Path, plt) -> list[str]:
    folds, parts = result["folds"], []
    symbol = next(iter(folds[0]["predictions"]))
    names = list(folds[0]["baselines"])
    rows = []
    for k, fold in enumerate(folds, start=1):
        val = fold["validation"][symbol]
        row = [k, f"{val['first']}..{val['last']}", fold["metrics"]["balanced_accuracy"], fold["metrics"]["macro_f1"],
               fold["metrics"]["detection_lag_days"]]
        for name in names:
            b = fold["baselines"][name]
            row.append(b["balanced_accuracy"] if isinstance(b, dict) else "not installed")
        rows.append(row)
    parts.append(_table(["fold", "validation", "model bal. acc", "model macro-F1", "model lag (days)",
                         *[f"{n} bal. acc" for n in names]], rows))
    confusion = np.sum([np.asarray(f["metrics"]["confusion"]) for f in folds], axis=0)
    parts.append("### Confusion matrix of the model, all folds (rows: true, columns: predicted)\n")
    parts.append(_table(["true \\ predicted", *REGIMES], [[REGIMES[i], *confusion[i].tolist()] for i in range(4)]))
    if plt is not None:
        dates, close = _series(folds, symbol, "close")
        _, true = _series(folds, symbol, "actual")
        _, pred = _series(folds, symbol, "model")
        x = np.asarray(dates, dtype="datetime64[D]")
        fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
        truth = "true (generating) regime" if result.get("synthetic_seed") is not None else "true (ex-post) regime"
        for ax, labels, title in ((axes[0], true, truth), (axes[1], pred, "predicted regime")):
            ax.plot(x, close, color="black", lw=1)
            ax.set_yscale("log")
            _shade(ax, x, labels.astype(int), f"{symbol} close, shaded by {title}")
        fig.tight_layout()
        fig.savefig(out / "regime_price.png", dpi=110)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(5, 4.5))
        ax.imshow(confusion, cmap="Blues")
        ax.set_xticks(range(4), REGIMES, rotation=30)
        ax.set_yticks(range(4), REGIMES)
        for i in range(4):
            for j in range(4):
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        fig.tight_layout()
        fig.savefig(out / "regime_confusion.png", dpi=110)
        plt.close(fig)
        parts.append("![price shaded by regime](regime_price.png)\n\n![confusion matrix](regime_confusion.png)\n")
    return parts


def write_report(result: dict, out: Path, command: str) -> Path:
    """Write report.md (and PNGs when matplotlib is installed) into `out`; returns the report path."""
    ensure_dir(out)
    plt = _pyplot()
    kind = result["model_type"]
    parts = [f"# Walk-forward evaluation: {result['model_name']} ({kind})\n",
             f"Command: `{command}`\n", f"Scheme: {result['scheme']}.\n"]
    if result.get("synthetic_seed") is not None:
        parts.append(f"Data: synthetic regime-switching market, seed {result['synthetic_seed']} (true regimes known).\n")
    if plt is None:
        parts.append("Figures need matplotlib: `pip install 'mltrain[report]'`.\n")
    parts += _volatility(result, out, plt) if kind == "volatility" else _regime(result, out, plt)
    parts.append("## Summary (means over folds)\n")
    summary = result["summary"]
    if kind == "volatility":
        for symbol, s in summary.items():
            parts.append(f"**{symbol}**: model QLIKE rank {s['mean_qlike_rank']} of {s['of']}; beats the best baseline "
                         f"on QLIKE in {s['folds_beating_best_baseline_on_qlike']} of {s['folds']} folds.\n")
            parts.append(_table(["forecaster", "r2", "QLIKE", "MAE"],
                                [[n, *(m.values() if isinstance(m, dict) else [NOT_INSTALLED, "", ""])]
                                 for n, m in s["mean"].items()]))
    else:
        parts.append(_table(["detector", "balanced acc", "macro-F1", "lag (days)", "changes/yr"],
                            [[n, *(m.values() if isinstance(m, dict) else [NOT_INSTALLED, "", "", ""])]
                             for n, m in summary.items()]))
    path = out / "report.md"
    atomic_write_bytes(path, "\n".join(parts).encode())
    return path
