"""The weekly job: train on the window, gate against thresholds and the champion, register, promote.

Safe under faults by construction:
- the whole job holds the model's promotion lock, so promotions of one model are serialised and
  any RUNNING retrain run of the model found under the lock is a dead one (marked FAILED);
- a run key maps to at most one registered version: a retry of a key that already registered
  resumes that version's recorded decision instead of training a twin;
- every input of the gate is read before anything is registered, and a transient failure of
  any of them (the champion's model, the holdout, the registry) aborts with exit 1;
- the decision is uploaded (gate.json, run tags) before registration, and the version is created
  with its decision tags in one call; the alias move is last and recoverable (tracking.aliases).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops import categories
from mlops.config import Config, ModelConfig
from mlops.data.sources import Window
from mlops.drift.freshness import time_span, training_rate
from mlops.drift.profile import build_profile, fold_reference, prediction_scores
from mlops.errors import ProductionMoved, RegistryError
from mlops.jobs.champion import champion_metrics
from mlops.jobs.common import TrainingData, default_run_key, load_training_data, tracked_run
from mlops.jobs.selection import experiment_name
from mlops.locking import promotion_lock
from mlops.promotion.card import CardInputs, Lineage, gate_rows, version_card
from mlops.promotion.gate import Decision, decide
from mlops.tracking import PREVIOUS, PRODUCTION, RunInfo, Tracking, VersionInfo, actor, move_production, repair
from mlops.tracking.history import has_event, new_event, record
from mlops.training import pyfunc_model
from mlops.training.distributed import train_on_dask
from mlops.training.external import external_matrix
from mlops.training.model import confusion, fit, importance, predict_encoded, score, train
from mlops.training.pyfunc_model import LabelledBooster
from mlops.training.window import TrainingWindow

log = logging.getLogger(__name__)
PROMOTION_ATTEMPTS = 3
Outcome = Literal["promoted", "rejected", "skipped", "dry-run"]


@dataclass(frozen=True)
class RetrainResult:
    model: str
    outcome: Outcome
    run_id: str | None
    version: str | None = None
    decision: Decision | None = None
    metrics: dict[str, float] | None = None
    resumed: bool = False  # the run key had registered this version before; nothing was trained
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "outcome": self.outcome,
            "run_id": self.run_id,
            "version": self.version,
            "metrics": self.metrics,
            "resumed": self.resumed,
            "reasons": self.decision.reasons if self.decision else self.notes,
            **({"would_be": self.decision.outcome} if self.outcome == "dry-run" and self.decision else {}),
        }


def retrain(
    config: Config,
    model: ModelConfig,
    as_of: datetime,
    run_key: str | None = None,
    dry_run: bool = False,
    tracking: Tracking | None = None,
) -> RetrainResult:
    tracking = tracking or Tracking(config.tracking)
    key = run_key or default_run_key("retrain", as_of)
    experiment_id = tracking.experiment_id(experiment_name(config, model))
    if dry_run:  # registers nothing, so it needs no lock and carries no run key
        return _train(config, model, as_of, key, tracking, experiment_id, dry_run=True)
    with promotion_lock(config.locks, tracking.describe(), model.name):
        repair(tracking, model.name)
        registered = version_of_key(tracking, model.name, key)
        tracking.fail_stale_runs(experiment_id, "retrain", model.name, keep=registered.run_id if registered else None)
        if registered is not None:
            return _resume(tracking, model, registered)
        return _train(config, model, as_of, key, tracking, experiment_id, dry_run=False)


def version_of_key(tracking: Tracking, name: str, key: str) -> VersionInfo | None:
    """The version a run key registered. A request retried after a lost answer can leave a twin;
    the lowest version is the key's, and a twin with no alias is removed."""
    found = tracking.versions_tagged(name, "run_key", key)
    if not found:
        return None
    keep, twins = found[0], found[1:]
    held = {v.version for alias in (PRODUCTION, PREVIOUS) if (v := tracking.alias(name, alias)) is not None}
    for twin in twins:
        if twin.version in held:
            log.warning("%s v%s repeats run key %s but holds an alias; left in place", name, twin.version, key)
            continue
        log.warning("%s v%s repeats run key %s of v%s; deleting the twin", name, twin.version, key, keep.version)
        tracking.delete_version(name, twin.version)
    return keep


def _resume(tracking: Tracking, model: ModelConfig, registered: VersionInfo) -> RetrainResult:
    """Finish what the run that registered this key decided, without training again."""
    name, version, tags = model.name, registered.version, registered.tags
    if registered.run_id and tracking.run(registered.run_id).status == "RUNNING":
        tracking.set_run_tags(registered.run_id, {"mlops.completed_by": "a retry of its run key"})
        tracking.end_run(registered.run_id, "FINISHED")
    notes = [f"run key {tags.get('run_key')} registered v{version} before; resumed its decision, trained nothing"]
    outcome: Outcome = "rejected"
    if tags.get("gate_decision") == "promoted":
        current = tracking.alias(name, PRODUCTION)
        current_version = current.version if current else None
        if current_version == version:
            outcome = "promoted"
        elif current_version == (tags.get("gate_champion_version") or None):
            event = new_event("promoted", version, actor(), tags.get("gate_reasons", ""), "retrain", current_version, version,
                              current_version)
            move_production(tracking, name, version, current_version, {"promoted_by": actor()}, event)
            outcome = "promoted"
            notes.append(f"completed the interrupted promotion of v{version}")
        else:
            outcome = "skipped"
            notes.append(f"v{version} passed against v{tags.get('gate_champion_version') or 'none'}, "
                         f"but production is v{current_version} now; not promoted without a new comparison")
    elif not has_event(tracking, name, "rejected", version):  # the run died between registering and recording
        champion = tags.get("gate_champion_version") or None
        record(tracking, name, new_event("rejected", version, actor(), tags.get("gate_reasons", ""), "retrain", champion,
                                         champion, champion))
    notes.append(tags.get("gate_reasons", ""))
    log.info("%s: %s", name, "; ".join(n for n in notes if n),
             extra={"version": version, "run_id": registered.run_id, "outcome": outcome})
    return RetrainResult(name, outcome, registered.run_id, version, resumed=True, notes=[n for n in notes if n])


def _daily_rate(loaded: TrainingWindow, window: Window) -> dict[str, float]:
    """`rows_per_day`: the baseline drift-check's volume check compares its window with."""
    first = time_span(loaded.timestamps)[0] if loaded.timestamps is not None else None
    rate = training_rate(loaded.rows_total, window.start, window.end, first)
    return {} if rate is None else {"rows_per_day": rate}


def _train(config: Config, model: ModelConfig, as_of: datetime, key: str, tracking: Tracking, experiment_id: str,
           dry_run: bool) -> RetrainResult:
    with load_training_data(model, as_of, config.timeouts) as data:
        return _train_on(config, model, as_of, key, tracking, experiment_id, dry_run, data)


def _train_on(config: Config, model: ModelConfig, as_of: datetime, key: str, tracking: Tracking, experiment_id: str,
              dry_run: bool, data: TrainingData) -> RetrainResult:
    source, window, loaded, encoding, parts = data.source, data.window, data.loaded, data.dataset, data.parts
    storage = "memory" if loaded.in_memory else f"external memory (over the {model.training.memory_budget_mb:g} MB budget)"
    log.info("loaded %d rows from %s %s; %d train, %d holdout (%s split); training in %s on engine %s",
             loaded.rows_total, source.uri, window.describe(), len(parts.y_train), len(parts.y_test), parts.method,
             storage, model.training.engine)

    # A dry run carries no run key, so it can never stand in for the real run of that key.
    tags = {"mlops.job": "retrain", "mlops.model": model.name, "mlops.dry_run": str(dry_run).lower()}
    if not dry_run:
        tags["run_key"] = key
    with tracked_run(tracking, experiment_id, f"retrain-{as_of:%Y%m%d}", tags) as run:
        run_id = run.run_id
        tracking.set_run_tags(run_id, {
            "data.source": source.uri,
            "data.table": model.source.table or "",
            "data.query": (model.source.query or "")[:4000],
            "data.as_of": as_of.isoformat(),
            "data.window_start": window.start.isoformat() if window.start else "",
            "data.window_end": window.end.isoformat(),
            "data.fingerprint": loaded.fingerprint,
            "data.split": parts.method,
            "data.split_boundary": parts.boundary or "",
            "training.engine": model.training.engine,
            "training.storage": "memory" if loaded.in_memory else "external",
            "image": os.environ.get("MLOPS_IMAGE", ""),
            "git_sha": os.environ.get("MLOPS_GIT_SHA", ""),
        })
        params = model.training.params.as_dict()
        tracking.log_params(run_id, {
            **{f"xgb.{k}": v for k, v in params.items()},
            "seed": model.training.seed,
            "test_fraction": model.training.test_fraction,
            "window_days": model.training.window_days,
            "features": ",".join(encoding.feature_names)[:6000],
            "classes": json.dumps(encoding.classes)[:6000],
        })
        booster = _fit(config, model, data, params)
        proba = predict_encoded(booster, parts.test)  # once: metrics, confusion matrix and profile scores
        metrics = score(proba, parts.y_test, len(encoding.classes))
        tracking.log_metrics(run_id, {
            **metrics,
            "rows_total": loaded.rows_total,
            "rows_train": len(parts.y_train),
            "rows_test": len(parts.y_test),
            "rows_dropped_missing_label": loaded.dropped_missing_label,
            **_daily_rate(loaded, window),
        })
        tracking.log_dict(run_id, confusion(proba, parts.y_test, encoding.classes), "evaluation/confusion_matrix.json")
        tracking.log_dict(run_id, importance(booster), "evaluation/feature_importance.json")
        profile = build_profile(parts.train, encoding.features, prediction_scores(proba), encoding.classes,
                                encoding.dtype_classes)
        if not loaded.in_memory:  # parts.train is a sample: count every training row against its support
            profile = fold_reference(profile, (frame for frame, _ in data.rows.pieces()))
        tracking.log_dict(run_id, profile, "baseline/profile.json")
        source_uri = _log_model(tracking, run_id, booster, data.example)
        lineage = Lineage(source.uri, model.source.table or model.source.query or "", window.describe(),
                          loaded.rows_total, len(parts.y_train), len(parts.y_test), loaded.fingerprint, parts.method,
                          parts.boundary or "")
        card = CardInputs(model.name, run_id, Decision(False, [], metrics), model.promotion, lineage,
                          {k: v for k, v in params.items()}, importance(booster))

        constant = bool(np.all(np.ptp(proba, axis=0) < 1e-9))
        if dry_run:  # the decision is computed and shown; nothing is registered or moved
            champion = champion_metrics(tracking, model.name, parts.test, parts.y_test, booster.classes)
            decision = decide(metrics, model.promotion, champion.metrics, champion.version, champion.error, constant)
            _log_decision(tracking, run_id, decision, dry_run=True)
            return RetrainResult(model.name, "dry-run", run_id, decision=decision, metrics=metrics)
        decision, version = _gate_and_register(tracking, model, booster, parts.test, parts.y_test, metrics, source_uri,
                                               key, run, constant, card)
        log.info("%s v%s %s: %s", model.name, version, decision.outcome, decision.reasons_text,
                 extra={"version": version, "outcome": decision.outcome})
        return RetrainResult(model.name, decision.outcome, run_id, version, decision, metrics)


def _fit(config: Config, model: ModelConfig, data: TrainingData, params: dict[str, Any]) -> LabelledBooster:
    """The same booster format whichever engine and storage: the rest of the job cannot tell."""
    seed = model.training.seed
    if model.training.engine == "dask" and model.training.dask_scheduler:
        return train_on_dask(model.training.dask_scheduler, data.dataset, data.rows, params, seed,
                             config.timeouts.connect_seconds)
    if data.loaded.in_memory:
        return train(data.dataset, data.parts, params, seed)
    return fit(data.dataset, external_matrix(data.rows, data.scratch, params.get("max_bin")), params, seed)


def _gate_and_register(
    tracking: Tracking,
    model: ModelConfig,
    booster: LabelledBooster,
    frame: pd.DataFrame,
    y_true: np.ndarray,
    metrics: dict[str, float],
    source_uri: str,
    run_key: str,
    run: RunInfo,
    constant: bool,
    card: CardInputs,
) -> tuple[Decision, str]:
    """Decide with every input read, record the decision, register once with it and its card,
    then move (the promotion event rides in the move's intent) or record the rejection."""
    champion = champion_metrics(tracking, model.name, frame, y_true, booster.classes)
    decision = decide(metrics, model.promotion, champion.metrics, champion.version, champion.error, constant)
    _log_decision(tracking, run.run_id, decision)
    version = tracking.register(model.name, source_uri, run.run_id, _decision_tags(decision, run_key),
                                version_card(replace(card, decision=decision))).version
    registered = version_of_key(tracking, model.name, run_key)
    version = registered.version if registered else version
    tracking.set_run_tags(run.run_id, {"registered_version": version})
    for _ in range(PROMOTION_ATTEMPTS):
        event = new_event(decision.outcome, version, actor(), decision.reasons_text, "retrain", champion.version,
                          version if decision.promote else champion.version, champion.version,
                          gate_rows(decision, model.promotion))
        if not decision.promote:
            record(tracking, model.name, event)
            return decision, version
        try:
            move_production(tracking, model.name, version, champion.version, {"promoted_by": actor()}, event)
            return decision, version
        except ProductionMoved:  # moved by hand (the UI) while we held the lock: judge against that one
            champion = champion_metrics(tracking, model.name, frame, y_true, booster.classes)
            decision = decide(metrics, model.promotion, champion.metrics, champion.version, champion.error, constant)
            tracking.tag_version(model.name, version, _decision_tags(decision, run_key))
            tracking.describe_version(model.name, version, version_card(replace(card, decision=decision)))
            _log_decision(tracking, run.run_id, decision)
    raise RegistryError(
        f"{model.name}: production kept moving during {PROMOTION_ATTEMPTS} promotion attempts; v{version} left without alias"
    )


def _log_decision(tracking: Tracking, run_id: str, decision: Decision, dry_run: bool = False) -> None:
    """gate.json, the decision tag, and the champion's metrics on the same holdout (`champion.f1`)."""
    tracking.log_dict(run_id, decision.to_dict(), "evaluation/gate.json")
    tracking.set_run_tags(run_id, {"gate_decision_dry_run" if dry_run else "gate_decision": decision.outcome,
                                   "gate_champion_version": decision.champion_version or ""})
    if decision.champion:
        tracking.log_metrics(run_id, {f"champion.{k}": v for k, v in decision.champion.items()})


def _decision_tags(decision: Decision, run_key: str) -> dict[str, str]:
    return {
        "run_key": run_key,
        "gate_decision": decision.outcome,
        "gate_reasons": decision.reasons_text,
        "gate_champion_version": decision.champion_version or "",
    }


def _log_model(tracking: Tracking, run_id: str, booster: LabelledBooster, example: pd.DataFrame) -> str:
    """`example`: raw training rows as they arrive for scoring (the signature is inferred from it)."""
    with tempfile.TemporaryDirectory() as tmp:
        booster.save(Path(tmp) / "booster")
        return tracking.log_model(run_id, pyfunc_model.__file__, {"booster": str(Path(tmp) / "booster")}, example,
                                  booster.predict(example), _requirements(), code_paths=[categories.__file__])


def _requirements() -> list[str]:
    pins = []
    for dist in ("mlflow", "xgboost-cpu", "pandas", "numpy"):
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins

