"""Operator commands that judge or move: promote, rollback, compare (the read-only views are in
`mlops.jobs.views`)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import numpy as np

from mlops.config import Config, ModelConfig
from mlops.data.sources import Window, open_source
from mlops.errors import UsageError
from mlops.jobs.champion import champion_metrics
from mlops.jobs.common import load_training_data, load_version
from mlops.locking import promotion_lock
from mlops.promotion.card import gate_rows, manual_gate_section
from mlops.promotion.gate import Decision, decide
from mlops.tracking import PREVIOUS, PRODUCTION, Tracking, actor, move_production, now_iso, repair
from mlops.tracking import rollback as rollback_aliases
from mlops.tracking.history import new_event, record
from mlops.training.dataset import prepare
from mlops.training.model import evaluate


def holdout(config: Config, model: ModelConfig, as_of: datetime) -> tuple[Any, Any, list[Any]]:
    """The holdout retrain would use at `as_of`: the fresh labelled data a manual promotion is judged on."""
    with load_training_data(model, as_of, config.timeouts) as data:
        return data.parts.test, data.parts.y_test, data.dataset.classes

log = logging.getLogger(__name__)


def promote(
    config: Config, tracking: Tracking, name: str, version: str, as_of: datetime, force: bool, reason: str | None,
    dry_run: bool = False,
) -> Decision:
    """Through the same gate as retrain, under the same lock; a rejection changes no alias. Every
    outcome is an audit event and a section of the version's card. A dry run only decides."""
    model = config.model(name)
    target = tracking.version(name, version)  # exists, or RegistryError
    if dry_run:
        current = tracking.alias(name, PRODUCTION)
        if current is not None and current.version == version:
            raise UsageError(f"{name} v{version} is already production")
        return _judge(config, tracking, model, version, as_of)
    with promotion_lock(config.locks, tracking.describe(), name):
        repair(tracking, name)
        current = tracking.alias(name, PRODUCTION)
        if current is not None and current.version == version:
            raise UsageError(f"{name} v{version} is already production")
        expected = current.version if current is not None else None
        stamp = {"promoted_by": actor(), "promote_reason": reason or ""}
        if force:
            decision = Decision(True, [f"forced by {actor()}: {reason or 'no reason given'}"], {}, forced=True)
        else:
            decision = _judge(config, tracking, model, version, as_of)
        why = decision.reasons_text if not reason or force else f"{reason}; {decision.reasons_text}"
        kind = "forced" if force else decision.outcome
        event = new_event(kind, version, actor(), why, "promote", expected, version if decision.promote else expected,
                          decision.champion_version, gate_rows(decision, model.promotion))
        section = manual_gate_section(decision, model.promotion, now_iso(), actor(),
                                      f"the training window ending {as_of.date().isoformat()}")
        tracking.describe_version(name, version, (target.description or "") + section)
        if not decision.promote:
            tracking.tag_version(name, version, {"manual_gate_decision": "rejected",
                                                 "manual_gate_reasons": decision.reasons_text})
            record(tracking, name, event)
            return decision
        move_production(tracking, name, version, expected, {**stamp, "gate_decision": kind,
                                                            "manual_gate_decision": kind,
                                                            "gate_reasons": decision.reasons_text}, event)
    return decision


def _judge(config: Config, tracking: Tracking, model: ModelConfig, version: str, as_of: datetime) -> Decision:
    """The version and the current production on the same holdout: the one retrain would use at `as_of`."""
    name = model.name
    log.info("%s: loading the holdout of the training window ending %s", name, as_of.date().isoformat())
    frame, y_true, classes = holdout(config, model, as_of)
    log.info("%s: scoring v%s and production on the same %d holdout rows", name, version, len(y_true))
    candidate = load_version(tracking, name, version)
    if candidate.classes != classes:
        raise UsageError(f"{name} v{version} predicts {candidate.classes}, the data holds {classes}; use --force to override")
    metrics = evaluate(candidate, frame, y_true)
    champion = champion_metrics(tracking, name, frame, y_true, classes)
    return decide(metrics, model.promotion, champion.metrics, champion.version, champion.error)


def rollback(config: Config, tracking: Tracking, name: str, reason: str | None, force: bool = False) -> tuple[str, str]:
    with promotion_lock(config.locks, tracking.describe(), name):
        return rollback_aliases(tracking, name, {"rolled_back_by": actor(), "rollback_reason": reason or ""},
                                reason or "", force)




def compare(config: Config, tracking: Tracking, name: str, versions: list[str], as_of: datetime) -> list[dict[str, Any]]:
    """Registered versions scored side by side on the same fresh labelled rows: the last
    `drift.current_window_days` before `as_of`, which no version trained on if it is recent."""
    model = config.model(name)
    if not versions:
        raise UsageError("--versions needs at least one version")
    source = open_source(model.source, config.timeouts)
    window = Window.ending(as_of, model.drift.current_window_days)
    log.info("%s: loading the labelled rows of %s", name, window.describe())
    dataset = prepare(source.load(window), model, source.uri)
    aliases = {v.version: a for a in (PRODUCTION, PREVIOUS) if (v := tracking.alias(name, a)) is not None}
    rows = []
    for version in versions:
        tracking.version(name, version)
        log.info("%s: scoring v%s on %d rows", name, version, len(dataset.labels))
        scorer = load_version(tracking, name, version)
        index = {c: i for i, c in enumerate(scorer.classes)}
        codes = np.array([index.get(dataset.classes[code], -1) for code in dataset.labels])
        known = codes >= 0
        if not known.any():
            raise UsageError(f"{name} v{version} knows none of the labels in the window ({dataset.classes})")
        metrics = evaluate(scorer, dataset.frame[known], codes[known])
        rows.append({"version": version, "alias": aliases.get(version, ""), "rows": int(known.sum()),
                     "window": window.describe(), "metrics": {k: round(v, 4) for k, v in metrics.items()}})
    return rows
