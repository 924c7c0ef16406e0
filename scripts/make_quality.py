"""Regenerate docs/quality.md (a short page of current figures), docs/runs/NAME.md (each run's full record)
and their figures from `mltrain evaluate --folds all` at the default configs on the
embedded data: every fold the history allows, a design period and the untouched period after it scored apart,
the synthetic-truth runs of the regime detector, and the regime detector on ETH and SOL (pooled and
cross-asset: trained without the scored asset).

Run from the repository root (about 10 minutes on 2 cores): python scripts/make_quality.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
VOL_HOLDOUT, REGIME_HOLDOUT = "2025-01-01", "2024-01-01"  # design choices were made on folds before these
# trading to the end of the data; MATIC and XMR stop in 2024 and a joint run would end every fold there
OTHER = "ADA,ATOM,AVAX,BCH,BNB,DOGE,DOT,ETC,LINK,LTC,PAXG,SHIB,TRX,UNI,XLM,XRP"
RUNS = {
    "volatility": [
        "volatility_forecaster",
        "--folds",
        "all",
        "--predictions",
        "docs/quality/volatility/predictions.csv",
    ],
    "volatility_design": ["volatility_forecaster", "--folds", "all", "--holdout-from", VOL_HOLDOUT],
    "volatility_untouched": ["volatility_forecaster", "--folds", "all", "--start", VOL_HOLDOUT],
    # the 18 symbols that took no part in choosing the base (pre-registered in docs/volatility.md)
    "volatility_other": ["volatility_forecaster", "--symbols", OTHER, "--folds", "all"],
    "volatility_matic": ["volatility_forecaster", "--symbols", "MATIC", "--folds", "all"],
    "volatility_xmr": ["volatility_forecaster", "--symbols", "XMR", "--folds", "all"],
    # the network's correction on the same symbols and the defaults (pre-registered in docs/volatility.md)
    "volatility_other_correction": [
        "volatility_forecaster",
        "--symbols",
        OTHER,
        "--folds",
        "all",
        "--correction",
        "on",
    ],
    "volatility_matic_correction": [
        "volatility_forecaster",
        "--symbols",
        "MATIC",
        "--folds",
        "all",
        "--correction",
        "on",
    ],
    "volatility_xmr_correction": [
        "volatility_forecaster",
        "--symbols",
        "XMR",
        "--folds",
        "all",
        "--correction",
        "on",
    ],
    "volatility_correction": ["volatility_forecaster", "--folds", "all", "--correction", "on"],
    "regime": [
        "btc_regime_detector",
        "--folds",
        "all",
        "--predictions",
        "docs/quality/regime/predictions.csv",
    ],
    "regime_design": ["btc_regime_detector", "--folds", "all", "--holdout-from", REGIME_HOLDOUT],
    "regime_untouched": ["btc_regime_detector", "--folds", "all", "--start", REGIME_HOLDOUT],
    "regime_eth": ["eth_regime_detector", "--model-type", "regime", "--folds", "all"],
    "regime_sol": ["sol_regime_detector", "--model-type", "regime", "--folds", "all"],
    "regime_eth_cross": ["eth_regime_detector", "--model-type", "regime", "--folds", "all", "--cross-asset"],
    "regime_sol_cross": ["sol_regime_detector", "--model-type", "regime", "--folds", "all", "--cross-asset"],
    "synthetic_7": ["btc_regime_detector", "--synthetic", "--seed", "7"],
    "synthetic_1": ["btc_regime_detector", "--synthetic", "--seed", "1"],
    "synthetic_2": ["btc_regime_detector", "--synthetic", "--seed", "2"],
}
# the regime designs tried and not shipped (docs/regimes.md, "What was tried"): design period and synthetic
REGIME_DESIGN = ["btc_regime_detector", "--folds", "all", "--holdout-from", REGIME_HOLDOUT]
for _name, _extra in {
    "pretrain8": ["--pretrain-markets", "8"],
    "gru": ["--encoder", "gru"],
}.items():
    RUNS[f"regime_design_{_name}"] = [*REGIME_DESIGN, *_extra]
    for _seed in ("7", "1", "2"):
        RUNS[f"synthetic_{_seed}_{_name}"] = ["btc_regime_detector", "--synthetic", "--seed", _seed, *_extra]
for _seed in ("1", "2"):  # training-seed spread of the default and the GRU
    RUNS[f"regime_design_seed{_seed}"] = [*REGIME_DESIGN, "--seed", _seed]
    RUNS[f"regime_design_gru_seed{_seed}"] = [*REGIME_DESIGN, "--encoder", "gru", "--seed", _seed]


def evaluate(name: str, args: list[str], home: str) -> dict:
    out = DOCS / "quality" / name
    cmd = [
        sys.executable,
        "-m",
        "mltrain",
        "evaluate",
        *args,
        "--report",
        str(out.relative_to(ROOT)),
        "--json",
        "--quiet",
    ]
    print("running: mltrain evaluate " + " ".join(args), file=sys.stderr, flush=True)
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MLTRAIN_HOME": home}
    )
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)["data"]


def command(args: list[str]) -> str:
    return "mltrain evaluate " + " ".join(args)


MAIN_RUNS = (
    "volatility",
    "volatility_untouched",
    "regime",
    "regime_untouched",
    "regime_eth_cross",
    "regime_sol_cross",
)
DECISION_SECTION = "## Decision value"  # kept as it stands in docs/quality.md when the page is rebuilt


def run_page(name: str, r: dict, reworded: dict) -> str:
    """docs/runs/NAME.md: one run's full record (verdict sentences, folds, pooled tables, figures)."""
    parts = [f"# {name}: `{command(RUNS[name])}`\n", f"{r['fold_count']} folds. Scheme: {r['scheme']}.\n"]
    if r.get("cross_asset"):
        parts.append(f"Trained without {', '.join(r['cross_asset']['held_out'])} in every fold.\n")
    parts += [f"- {line}" for line in r.get("verdicts") or []]
    report = DOCS / "quality" / name / "report.md"
    if report.is_file():
        text = report.read_text()
        for before, after in reworded.items():
            text = text.replace(before, after)
        report.write_text(text)
        body = text.split("## Folds", 1)[-1].replace("](", f"](../quality/{name}/")
        parts.append("\n## Folds" + body)
    return "\n".join(parts) + "\n"


def headline_cell(r: dict) -> str:
    """A run in one cell: per symbol its ratio to the best baseline and verdict; many symbols summarised."""
    from mltrain.kinds import KINDS

    columns, rows, _ = KINDS[r["model_type"]].headline_table(r["summary"])
    ratio, verdict = columns.index("ratio"), columns.index("verdict")
    if len(rows) <= 3:
        return "; ".join(f"{row[0]} {row[ratio]:.3f} {row[verdict]}" for row in rows)
    ratios = [row[ratio] for row in rows]
    words = {}
    for row in rows:
        words[row[verdict]] = words.get(row[verdict], 0) + 1
    said = ", ".join(f"{n} {w}" for w, n in sorted(words.items()))
    return f"{len(rows)} symbols: mean ratio {sum(ratios) / len(ratios):.3f}; {said}"


def short_page(results: dict, kept: str) -> str:
    """docs/quality.md: the current figures, one row per run, with the command that reproduces each."""
    from mltrain.kinds import KINDS

    lines = [
        "# Quality: current figures\n",
        "Walk-forward over the embedded data (to 2026-01-05), default configs, seed 42 unless the command says "
        "otherwise, CPU. Every figure is out of sample and beside the baselines on the same days. Regenerate: "
        "`python scripts/make_quality.py` (runs every command below, about 10 minutes on 2 cores; "
        "`--assemble` rebuilds the pages from docs/quality/results.json). How to read them and the verdicts: "
        "[quality_notes.md](quality_notes.md).\n",
        # decision value is the yardstick (issue 22): its section comes before the statistical scores
        kept or f"{DECISION_SECTION}\n\n(what a policy driven by each model earned: docs/runs/decision.md)\n",
    ]
    for name in MAIN_RUNS:
        r = results.get(name)
        if r is None:
            continue
        columns, rows, notes = KINDS[r["model_type"]].headline_table(r["summary"])
        lines.append(f"## {name} ([full record](runs/{name}.md))\n")
        lines.append(f"    {command(RUNS[name])}\n")
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
        lines += ["", *[f"{note}" for note in notes], ""]
    lines.append("## Every run\n")
    lines.append(
        "Ratio: the model's pooled score over the best baseline's (QLIKE: below 1 is better; balanced "
        "accuracy: above 1 is better).\n"
    )
    lines.append("| run | folds | ratio and verdict | command |")
    lines.append("|---|---|---|---|")
    for name in RUNS:
        if name in results:
            r = results[name]
            lines.append(
                f"| [{name}](runs/{name}.md) | {r['fold_count']} | {headline_cell(r)} | `{command(RUNS[name])}` |"
            )
    return "\n".join(lines) + "\n"


def kept_decision_section() -> str:
    """The decision-value section as it stands in docs/quality.md (written by its own study), kept whole."""
    page = DOCS / "quality.md"
    text = page.read_text() if page.is_file() else ""
    if DECISION_SECTION not in text:
        return ""
    section = text[text.index(DECISION_SECTION) :]
    after = section.find("\n## ", len(DECISION_SECTION))
    return section if after < 0 else section[:after]


def main() -> None:
    only = set() if sys.argv[1:] == ["--assemble"] else (set(sys.argv[1:]) or set(RUNS))
    home = tempfile.mkdtemp()
    cache = DOCS / "quality" / "results.json"
    results = json.loads(cache.read_text()) if cache.is_file() else {}
    for name, args in RUNS.items():
        if name in only:
            results[name] = evaluate(name, args, home)
            results[name].pop("folds", None)
            cache.write_text(json.dumps(results, indent=1))
    from mltrain.kinds import KINDS

    (DOCS / "runs").mkdir(exist_ok=True)
    for name in RUNS:
        if name not in results:
            continue
        r = results[name]
        # the verdict sentences follow the current wording rules even for a run kept from an earlier pass
        stored, r["verdicts"] = r.get("verdicts") or [], KINDS[r["model_type"]].verdicts(r["summary"])
        reworded = dict(zip(stored, r["verdicts"])) if len(stored) == len(r["verdicts"]) else {}
        (DOCS / "runs" / f"{name}.md").write_text(run_page(name, r, reworded))
    cache.write_text(json.dumps(results, indent=1))  # the reworded verdicts too
    (DOCS / "quality.md").write_text(short_page(results, kept_decision_section()))
    print(f"wrote {DOCS / 'quality.md'} and {DOCS / 'runs'}/*.md")


if __name__ == "__main__":
    main()
