"""A self-contained Markdown report with PNG figures for a walk-forward evaluation (matplotlib optional)."""

from __future__ import annotations

from pathlib import Path

from .figures import annotate_matrix, md_table, pyplot, readable, save_figure, series, shade_runs, thousands
from .fsutil import ensure_dir
from .kinds import KINDS
from .outputs import write_output

# the figure helpers moved to figures.py (below the kinds, which draw with them); named here as before
__all__ = ["annotate_matrix", "readable", "save_figure", "series", "shade_runs", "thousands", "write_report"]


def cross_asset_note(result: dict) -> str | None:
    """One sentence naming the series no fold trained on, or None outside a cross-asset evaluation."""
    cross = result.get("cross_asset")
    if not cross:
        return None
    return (
        f"Cross-asset: no fold trained on {', '.join(cross['held_out'])}; each fold's network learnt from "
        "the other series of the store only."
    )


def fold_table(result: dict) -> tuple[list[str], list[list]]:
    """The per-fold scores of model and baselines; the one table text output and the report both show."""
    return KINDS[result["model_type"]].fold_table(result)


def write_report(result: dict, out: Path, command: str) -> Path:
    """Write report.md (and PNGs when matplotlib is installed) into `out`; returns the report path."""
    ensure_dir(out)
    plt = pyplot()
    kind = result["model_type"]
    parts = [
        f"# Walk-forward evaluation: {result['model_name']} ({kind})\n",
        f"Command: `{command}`\n",
        f"Scheme: {result['scheme']}.\n",
    ]
    if result.get("synthetic_seed") is not None:
        parts.append(
            f"Data: synthetic regime-switching market, seed {result['synthetic_seed']} (true "
            "regimes known).\n"
        )
    if cross_asset_note(result):
        parts.append(f"{cross_asset_note(result)}\n")
    if result.get("span_note"):
        parts.append(f"{result['span_note']}\n")
    if plt is None:
        parts.append("Figures need matplotlib: `pip install 'mltrain[report]'`.\n")
    from .report_decision import decision_parts

    parts += decision_parts(result, out, plt)  # the headline: what acting on the calls earned
    columns, rows, notes = KINDS[kind].headline_table(result.get("summary") or {})
    if rows:  # the verdicts the terminal prints first, in the same words
        parts.append("## Scores against the best baseline (pooled over the folds, scored once)\n")
        digits = {"ratio": 3, "DM p": 4}  # as the terminal aligns them: a ratio of 1 reads 1.000
        rows = [
            [
                f"{v:.{digits[c]}f}" if c in digits and isinstance(v, int | float) else v
                for c, v in zip(columns, r)
            ]
            for r in rows
        ]
        parts.append(md_table(columns, rows))
        parts += [f"- {note}\n" for note in notes]
    parts.append("## Folds\n")
    parts.append(md_table(*fold_table(result)))
    parts += KINDS[kind].report(result, out, plt)
    path = out / "report.md"
    return write_output(path, "\n".join(parts).encode(), "--report")
