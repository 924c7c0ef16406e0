"""The one small protocol every model type implements (kinds/__init__.py keeps the registry of them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    import torch

    from ..config import TrainingConfig
    from ..data.store import DataStore
    from ..pipeline import RunResult
    from ..train import EpochRecord, StopFlag

EpochCallback = Callable[[str, "EpochRecord"], None]
ScoreTable = tuple[list[str], list[list[Any]], list[str]]  # columns, rows, notes


class ModelKind:
    """One model type: its defaults, data, network, training, gate, predictions, evaluation and tables."""

    name: str = ""
    description: str = ""
    catalogue: tuple[str, ...] = ()  # built-in model names of this type (known without a registry)
    # every TrainingConfig field, but a field added later (label_thresholds) only in the kinds that use it
    defaults: dict[str, Any] = {}
    uses: tuple[str, ...] = ()  # optional config fields this type applies; other types refuse them
    # defaults of fields kept out of `defaults` (its JSON keeps the old API's shape): shown in its text
    unlisted_defaults: dict[str, Any] = {}
    main_metric: str = ""  # the headline key of the stored metrics (models list)
    # what a fold's selection_loss is (a sweep's score): said wherever that number is shown
    selection_loss_text: str = "the selection blocks' loss (lower is better)"
    progress_metric: str = ""  # the selection metric shown per epoch
    archs: tuple[str, ...] = ()  # network spec names (spec["kind"] on disk) this type rebuilds
    # how score tables mark the best value: column -> "high" or "low" is better; the column the ratio to the
    # best baseline is taken on; the column that groups rows (one group per symbol); rows that are no baseline
    score_better: dict[str, str] = {}
    ratio_column: str = ""
    score_group: str = ""
    not_baselines: tuple[str, ...] = ("model",)
    fold_table_drop: tuple[
        str, ...
    ] = ()  # fold-table columns a narrow terminal drops first (least useful first)
    synthetic: bool = False  # evaluate --synthetic: a generated market with known truth
    cross_asset: bool = False  # evaluate --cross-asset: folds train on a pool without the scored asset
    outcome_days: int = 0  # days after a fold's end its truth can read (targets, ex-post labels): caching

    # ---------------------------------------------------------------- data and training
    def symbols(self, model_name: str, config: TrainingConfig) -> list[str]:
        """The series a model of this type trains on."""
        raise NotImplementedError

    def progress_units(self, model_name: str, config: TrainingConfig) -> list[str]:
        """What the per-epoch progress counts: one fit per symbol by default."""
        return self.symbols(model_name, config)

    def training_rows(self, config: TrainingConfig) -> float:
        """About how many rows one epoch reads (the time estimate scales with it): one series by default."""
        return config.days * config.train_val_split * max(len(config.symbols or []), 1)

    def unused_fields(self, config: TrainingConfig) -> tuple[str, ...]:
        """Fields this config leaves without effect on what the run produces (the run says so; a sweep may
        not search them), and why, in a few words (see unused_why). None by default."""
        return ()

    unused_why = ""  # why unused_fields are unused, and how to make them count

    def worker_modules(self, config: TrainingConfig) -> tuple[str, ...]:
        """Modules this config's fold tasks import beyond the kind's own: a local pool's fork server imports
        them once, so its workers do not each pay for them (one not installed is skipped). torch's compiler
        (torch._dynamo, about 1 s) is imported by the first optimizer a process builds."""
        return ("torch._dynamo",) if self.training_rows(config) > 0 else ()

    def extra_training_rows(self, values: dict) -> float:
        """Rows a run trains on outside its epochs (e.g. pretraining), from a config's field values: the
        time estimate adds them at the probed or measured pace. None by default."""
        return 0.0

    def symbols_reason(self, model_name: str, sources: dict[str, str]) -> str:
        """Where the symbols came from, for an error naming a missing one."""
        return f"symbols of model {model_name!r}"

    def probe_batch(self, config: TrainingConfig, device: str) -> tuple[torch.nn.Module, Any, Any, Callable]:
        """A network and one random batch of the real shape, with its loss, for the time estimate."""
        raise NotImplementedError

    def train(
        self,
        store: DataStore,
        config: TrainingConfig,
        model_name: str,
        *,
        seed: int,
        device: str,
        on_epoch: EpochCallback | None = None,
        stop: StopFlag | None = None,
        end: pd.Timestamp | None = None,
    ) -> RunResult:
        raise NotImplementedError

    def pooled_headline(self, evidence: dict) -> float | None:
        """The main metric pooled over a version's promotion folds (models list), None without them."""
        return None

    def pooled_baseline(self, evidence: dict) -> dict | None:
        """The baseline that pooled figure is judged against, {symbol, baseline, value} on the same metric
        (models list prints it beside: 'rule 0.7684', 'SOL: gjr_garch 0.2093'), None without one."""
        return None

    def gate(self, metrics: dict, baselines: dict, config: TrainingConfig) -> dict:
        """The promotion gate's verdict; by default every version is promoted."""
        return {"passed": True, "rule": f"{self.name} models have no promotion gate"}

    def gate_messages(self, gate: dict, version: int) -> list[str]:
        """One line per refusal, printed on stderr."""
        return []

    def promotion_figures(self, candidate: list[dict], production: list[dict] | None, config) -> dict:
        """Champion/challenger (promotion.py): the candidate's folds (and production's, retrained on the same
        fold ends) pooled and scored once: {candidate, production, baselines, gate, gate_reason,
        worse_than_production, undecided}. A kind without it keeps the one-block gate."""
        raise NotImplementedError

    def promotion_classes(self, store: DataStore, model_name: str, config: TrainingConfig):
        """What the promotion folds must hold before they decide (promotion.py reaches back one older fold at
        a time until they do): (per-day class names of the scored truth as a pandas Series, the classes, the
        labelled days each needs), or None when any recent folds will do."""
        return None

    def score_logged(self, rows: list[dict], store: DataStore) -> dict:
        """Logged predictions of one version scored against outcomes known by now and against baselines over
        the same days: {symbols: {...scored, pending...}, worse_than_baseline: str | None} (monitor.py)."""
        raise NotImplementedError

    def promotion_lines(self, evidence: dict) -> list[str]:
        """The promotion evidence's figures in plain lines (train's output, `models show`)."""
        return []

    # ---------------------------------------------------------------- stored versions
    def build_network(self, spec: dict) -> torch.nn.Module:
        """Rebuild the network from its stored spec (spec["kind"] names the architecture)."""
        raise NotImplementedError

    def predict(
        self, meta: dict, tensors: dict, store: DataStore, symbol: str | None, since: str | None
    ) -> list[dict]:
        raise NotImplementedError

    def prediction_table(self, rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
        raise NotImplementedError

    def score_table(self, metrics: dict, baselines: dict, windows: dict) -> ScoreTable:
        """Validation scores of a version beside its baselines, and notes on how far to trust them."""
        raise NotImplementedError

    # ---------------------------------------------------------------- walk-forward evaluation
    def evaluation_span(
        self,
        store: DataStore,
        model_name: str,
        config: TrainingConfig,
        synthetic_seed: int | None,
        folds: int | None,
    ) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The first and the last day a validation block can end on (enough history before the first)."""
        raise NotImplementedError

    def span_note(
        self,
        store: DataStore,
        config: TrainingConfig,
        holdout_from: pd.Timestamp | None = None,
        ends: list[pd.Timestamp] | None = None,
    ) -> str | None:
        """A sentence when the folds end before some of the config's series do (a shorter series sets the
        last fold for all of them; --holdout-from's end is not that), and on days that can decide a score;
        None otherwise."""
        return None

    def fold(
        self,
        store: DataStore,
        model_name: str,
        config: TrainingConfig,
        seed: int,
        end: pd.Timestamp,
        synthetic_seed: int | None,
        folds: int,
        stop: StopFlag | None = None,
    ) -> dict:
        """Train one fold and score it: {metrics, baselines, windows, predictions, missing_extras}. Kinds
        with `cross_asset` also take `held_out=(symbols...)`: series no training row may come from."""
        raise NotImplementedError

    def held_out(self, store: DataStore, model_name: str, config: TrainingConfig) -> list[str]:
        """Cross-asset evaluation: the series a fold must not train on (the scored one and near copies)."""
        raise NotImplementedError

    def summarize(self, folds: list[dict]) -> dict:
        """Figures over all folds (predictions pooled, then scored once)."""
        raise NotImplementedError

    def decision(self, folds: list[dict]) -> dict:
        """Per symbol, what acting on each forecaster's calls would have earned over the folds' days
        (decision.decision_table); empty for a kind without a decision."""
        return {}

    def verdicts(self, summary: dict) -> list[str]:
        """Plain sentences: the model against its strongest baseline, with the evidence."""
        return []

    def headline_table(self, summary: dict) -> ScoreTable:
        """What `evaluate` prints first: one row per symbol (model score, best baseline, ratio, the test and a
        one-word verdict) and the notes that read it."""
        return [], [], []

    def fold_table(self, result: dict) -> tuple[list[str], list[list[Any]]]:
        """One row per fold (and symbol): the model's and the baselines' scores on its validation block."""
        raise NotImplementedError

    def report(self, result: dict, out: Path, plt: Any) -> list[str]:
        """Markdown parts after the fold table: figures, summary tables."""
        return []

    def evaluation_headline(self, summary: dict) -> str:
        """One table cell summarising an evaluation."""
        return ""
