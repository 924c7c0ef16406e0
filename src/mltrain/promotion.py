"""Champion/challenger: before a new version replaces production, both are scored on the same recent
walk-forward folds, beside the baselines, the way `evaluate` scores them (each fold trained on the days
before its validation block, predictions pooled over the folds and scored once; never one block).

The folds are the `promotion_folds` most recent validation blocks of the candidate's config on a grid
anchored to the calendar (block ends every `val_days` days from 1970-01-01), so tomorrow's run finds the same
folds; each fold's result is cached under the mltrain home (cache/promotion/) by kind, model, config, seed,
fold end and a fingerprint of every candle the fold can read, so a daily cron run trains only what changed.
Production is retrained with its own stored config and seed on the same fold ends and compared on the days both cover.
Orchestration level: it drives the kinds (`promotion_figures`) and never prints.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from .config import FIELDS, PROMOTION_FOLDS, training_config
from .kinds import ModelKind
from .specs import fewer_days

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from .data.store import DataStore
    from .paths import Home

CACHE_FORMAT = 2  # bump when a fold's stored shape or key changes: older entries are then simply not found
ANCHOR = "1970-01-01"


def supports(kind: ModelKind) -> bool:
    """Whether a kind scores promotion folds (a kind without `promotion_figures` keeps its one-block gate)."""
    return type(kind).promotion_figures is not ModelKind.promotion_figures


def anchored_ends(
    store: DataStore, kind: ModelKind, name: str, config: Any, count: int | None
) -> list[pd.Timestamp]:
    """The `count` most recent fold ends on the calendar grid (oldest first; None: every one); fewer when the
    history holds fewer, none when no fold fits."""
    import pandas as pd

    from .errors import MltrainError
    from .evaluate import fold_ends, val_days

    try:
        first, last = kind.evaluation_span(store, name, config, None, count)
    except MltrainError:
        return []
    step = val_days(config)
    last = last - pd.Timedelta(days=(last - pd.Timestamp(ANCHOR)).days % step)
    try:
        ends = fold_ends(first, last, config, None)
    except MltrainError:
        return []
    return ends[-count:] if count else ends


def promotion_ends(
    store: DataStore, kind: ModelKind, name: str, config: Any
) -> tuple[list[pd.Timestamp], str | None]:
    """The fold ends the check scores (oldest first) and, when it had to reach back, a sentence why: the last
    `promotion_folds` folds, and older ones one at a time while they hold fewer labelled days of some class
    than the kind asks (`promotion_classes`: a regime detector's folds must hold every regime), up to 20 folds
    in all. A class those 20 never hold that often is named, not chased."""
    import pandas as pd

    from .evaluate import val_days

    count = config.promotion_folds or PROMOTION_FOLDS
    # never more folds than promotion_folds itself allows: each costs about one training run, and a config
    # with short blocks (days 90: 18-day folds) would otherwise train some 70 to reach the last bear market
    every = anchored_ends(store, kind, name, config, FIELDS["promotion_folds"][1])
    ends = every[-count:]
    wanted = kind.promotion_classes(store, name, config) if ends else None
    if wanted is None:
        return ends, None
    truth, classes, need = wanted
    step = pd.Timedelta(days=val_days(config))

    def held(chosen: list[pd.Timestamp]) -> dict[str, int]:
        days = pd.Series(False, index=truth.index)
        for end in chosen:
            days |= (truth.index > end - step) & (truth.index <= end)
        counts = truth[days].value_counts()
        return {c: int(counts.get(c, 0)) for c in classes}

    reachable = [c for c, n in held(every).items() if n >= need]
    short = [c for c, n in held(ends).items() if c in reachable and n < need]
    first_short = short
    while short and len(ends) < len(every):
        ends = every[-(len(ends) + 1) :]
        short = [c for c, n in held(ends).items() if c in reachable and n < need]
    notes = []
    if len(ends) > count:
        notes.append(
            f"the last {count} folds held fewer than {need} labelled days of {', '.join(first_short)}: "
            f"reached back to {len(ends)} folds so that the evidence holds each of them"
        )
    never = [c for c in classes if c not in reachable]
    if never:
        notes.append(
            f"the last {len(every)} folds (the most the check scores) hold fewer than {need} labelled days of "
            f"{', '.join(never)}: decided without them"
        )
    return ends, "; ".join(notes) or None


def data_fingerprint(store: DataStore, through: pd.Timestamp) -> str:
    """A hash of every series' candles up to `through` (what a fold can read: pools included)."""
    import numpy as np

    digest = hashlib.sha256()
    for symbol in sorted(store.symbols()):
        frame = store.load(symbol).frame
        part = frame[frame.index <= through]
        digest.update(symbol.encode())
        digest.update(str(len(part)).encode())
        digest.update(",".join(map(str, part.columns)).encode())
        # the days and every value as raw bytes: the same candles give the same hash, a changed one another
        # (CSV text did the same three times slower, and a daily cron run hashes every series per fold)
        digest.update(part.index.asi8.tobytes())
        digest.update(np.ascontiguousarray(part.to_numpy(dtype="float64")).tobytes())
    return digest.hexdigest()


def _cache_key(kind: ModelKind, name: str, config: Any, seed: int, end: pd.Timestamp, data: str) -> str:
    # which folds the check reads is not what one fold computes
    values = {
        k: v for k, v in config.model_dump().items() if k not in ("promotion_folds", "promotion_regime_days")
    }
    text = json.dumps(
        [CACHE_FORMAT, kind.name, name, values, seed, str(end.date()), data], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cache_path(
    home: Home, store: DataStore, kind: ModelKind, name: str, config: Any, seed: int, end, prints=None
) -> Path:
    """Where one fold's scored result is kept: its key covers the candles it can read (truth included).
    `prints`: a dict the caller keeps for one check, so candidate and production hash each span once."""
    import pandas as pd

    through = end + pd.Timedelta(days=kind.outcome_days)
    prints = {} if prints is None else prints
    if through not in prints:
        prints[through] = data_fingerprint(store, through)
    key = _cache_key(kind, name, config, seed, end, prints[through])
    return home.cache / "promotion" / f"{key}.json"


def scored_fold(
    home: Home,
    store: DataStore,
    kind: ModelKind,
    name: str,
    config: Any,
    seed: int,
    end,
    folds: int,
    prints=None,
    paces: list[float] | None = None,
) -> dict:
    """One fold trained and scored as `evaluate` does, from the cache when the same fold was scored before.
    `paces`: a list the seconds of a fold scored here (not read from the cache) are appended to."""
    from .fsutil import atomic_write_bytes

    path = cache_path(home, store, kind, name, config, seed, end, prints)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass  # absent or damaged: score it again
    started = time.perf_counter()
    fold = kind.fold(store, name, config, seed, end, None, folds)
    if fold.get("interrupted"):
        return fold
    if paces is not None:
        paces.append(time.perf_counter() - started)
    kept = {k: fold.get(k) for k in ("metrics", "baselines", "predictions")}
    kept["end"] = str(end.date())
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(kept, default=_plain).encode())
    return kept


def _plain(value):
    """JSON for numpy scalars and arrays inside a fold's figures."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def production_config(meta: dict) -> tuple[Any, int]:
    """The stored config and seed of a version, validated as today's TrainingConfig."""
    from pydantic import ValidationError

    from .errors import ConfigError, excerpt

    values = {k: v for k, v in (meta.get("config") or {}).items() if v is not None}
    seed = meta.get("seed", 0)
    seed = (
        int(seed) if isinstance(seed, float) and seed.is_integer() else seed
    )  # 42.0 is 42, as int() read it
    if isinstance(seed, bool) or not isinstance(seed, int):  # null or text stopped every train (a TypeError)
        raise ConfigError(f"its stored seed {excerpt(seed)} is not a whole number")
    try:
        return training_config()(**values), seed
    except ValidationError as exc:  # one line, not pydantic's page (a metadata edited by hand, old bounds)
        first = exc.errors()[0]
        field = ".".join(map(str, first["loc"])) or "config"
        raise ConfigError(
            f"its stored config has {field}={excerpt(first.get('input'))}: {first['msg']}"
        ) from None


def check(
    home: Home,
    store: DataStore,
    kind: ModelKind,
    name: str,
    config: Any,
    seed: int,
    production: dict | None,
) -> dict:
    """The promotion evidence: {folds, candidate, production, baselines, decision, gate, promote, reason}.
    `production`: the metadata of the current production version, or None. Raises only on a stop request
    (returns {"interrupted": True})."""
    from .errors import MltrainError
    from .evaluate import val_days

    count = config.promotion_folds or PROMOTION_FOLDS
    ends, reach = promotion_ends(store, kind, name, config)
    if not ends:
        return {
            "folds": [],
            "undecided": f"no walk-forward fold fits the history before the latest day; {fewer_days(config.days)}",
        }
    cand, prints, paces = [], {}, []
    for end in ends:
        fold = scored_fold(home, store, kind, name, config, seed, end, len(ends), prints, paces)
        if fold.get("interrupted"):
            return {"interrupted": True}
        cand.append(fold)
    _record_pace(home, kind, config, paces)
    prod, prod_note = None, None
    if production is not None:
        try:
            prod_config, prod_seed = production_config(production)
            prod, paces = [], []
            for end in ends:
                fold = scored_fold(
                    home, store, kind, name, prod_config, prod_seed, end, len(ends), prints, paces
                )
                if fold.get("interrupted"):
                    return {"interrupted": True}
                prod.append(fold)
            _record_pace(home, kind, prod_config, paces)
        except (MltrainError, ValueError) as exc:  # an old config today's bounds refuse, a series gone
            prod, prod_note = None, f"production v{production.get('version')} could not be rescored: {exc}"
    figures = kind.promotion_figures(cand, prod, config)
    step = val_days(config)
    import pandas as pd

    windows = [
        {"first": str((end - pd.Timedelta(days=step - 1)).date()), "last": str(end.date())} for end in ends
    ]
    evidence = {
        "folds": windows,
        "requested_folds": count,
        **({"reach": reach} if reach else {}),
        **figures,
        "production_version": None if production is None else production.get("version"),
    }
    if prod_note:
        evidence["production_note"] = prod_note
    # what acting on the candidate's calls earned on these folds: the decision layer evaluate prints first
    # (decision.py through the kind), per symbol, beside buy-and-hold, the baselines and the oracle
    evidence["decision"] = kind.decision(cand) if cand else {}
    return evidence


def _record_pace(home: Home, kind: ModelKind, config: Any, paces: list[float]) -> None:
    """The folds a check scored here (not from the cache) go into the host's run history as an evaluation
    of one worker: the next check of this config (a new fold after `data update`, another seed) and
    `evaluate --workers 1` are estimated at this host's pace, not the reference machine's."""
    from .estimate_eval import evaluation_row
    from .jobs import Jobs

    if paces:
        Jobs(home).record_run(evaluation_row(kind.name, config, len(paces), 1, sum(paces), False))


def pending_folds(
    home: Home, kind: ModelKind, name: str, config: Any, seed: int, production: dict | None
) -> tuple[list[tuple[Any, int]], int, int]:
    """The check a train would run now, for its time estimate: ([(config, its fold scorings not in the
    cache)] for the candidate, then production's when it is rescored, the fold windows read, the distinct
    fold scorings in all). Production with the candidate's config and seed reads the candidate's scorings."""
    from .data.store import DataStore
    from .errors import MltrainError

    if not supports(kind):
        return [], 0, 0
    store = DataStore(home)
    ends, _ = promotion_ends(store, kind, name, config)
    configs = [(config, seed)]
    if production is not None:
        try:
            configs.append(production_config(production))
        except (ValueError, MltrainError):  # its config today's bounds refuse: check() says so, not here
            pass
    prints: dict = {}
    seen: set = set()
    pending = []
    for c, s in configs:
        paths = {cache_path(home, store, kind, name, c, s, end, prints) for end in ends} - seen
        pending.append((c, sum(not path.is_file() for path in paths)))
        seen |= paths
    return pending, len(ends), len(seen)


def held_back(evidence: dict) -> dict:
    """The evidence of a version --no-promote kept out although the check would have promoted it."""
    said = str(evidence.get("reason")).removeprefix("promoted: ")
    why = f"not promoted: --no-promote kept it out; the check alone would have promoted it ({said})"
    return {**evidence, "promote": False, "reason": why}


def verdict(evidence: dict, has_production: bool) -> tuple[bool, str]:
    """Whether the candidate may replace production, and why (one sentence with the figures)."""
    if evidence.get("undecided"):
        return False, f"not promoted: {evidence['undecided']}"
    gate = evidence["gate"]
    if not gate.get("passed"):
        return False, f"rejected: {evidence.get('gate_reason') or gate.get('rule')} (pooled over the folds)"
    worse = evidence.get("worse_than_production")
    if has_production and worse:
        return False, f"not promoted: worse than production beyond noise on these folds ({worse})"
    if not has_production:
        return True, "promoted: passed the gate on the promotion folds; there was no production version"
    if evidence.get("production") is None:
        return True, (
            "promoted: passed the gate; production could not be rescored on these folds "
            f"({evidence.get('production_note', 'no figures')})"
        )
    return True, "promoted: passed the gate and is not worse than production beyond noise on these folds"
