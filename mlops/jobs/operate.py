"""Operator commands: status, promote, rollback, leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlops.config import LOWER_IS_BETTER, Config, ModelConfig
from mlops.data.sources import Window, open_source
from mlops.errors import RegistryError, UsageError
from mlops.jobs.retrain import champion_metrics, experiment_name, load_training_data, load_version
from mlops.promotion.gate import Decision, decide
from mlops.registry import PREVIOUS, PRODUCTION, Registry, actor
from mlops.training.dataset import prepare
from mlops.training.model import evaluate

METRIC_KEYS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")


def status(config: Config, registry: Registry, name: str | None = None) -> list[dict[str, Any]]:
    models = [config.model(name)] if name else config.models
    return [_model_status(registry, m) for m in models]


def _model_status(registry: Registry, model: ModelConfig) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": model.name}
    for alias in (PRODUCTION, PREVIOUS):
        found = registry.alias(model.name, alias)
        if found is None:
            entry[alias] = None
            continue
        info: dict[str, Any] = {"version": str(found.version), "run_id": found.run_id}
        tags = dict(found.tags or {})
        for key in ("promoted_at", "archived_at", "gate_decision", "last_drift_check_at", "last_drift_share",
                    "last_drift_outcome", "last_predict_at", "last_predict_rows", "run_key"):
            if key in tags:
                info[key] = tags[key]
        if "promoted_at" in tags:
            promoted = datetime.fromisoformat(tags["promoted_at"])
            info["age_days"] = round((datetime.now(UTC) - promoted).total_seconds() / 86400, 1)
        if found.run_id:
            run = registry.run(found.run_id)
            info["metrics"] = {k: round(v, 4) for k, v in run.data.metrics.items() if k in METRIC_KEYS}
            info["trained_as_of"] = run.data.tags.get("data.as_of")
        entry[alias] = info
    return entry


def holdout(model: ModelConfig, as_of: datetime) -> tuple[Any, Any, list[Any]]:
    """The holdout retrain would use at `as_of`: the fresh labelled data a manual promotion is judged on."""
    data = load_training_data(model, as_of)
    return data.parts.test, data.parts.y_test, data.dataset.classes


def promote(
    config: Config, registry: Registry, name: str, version: str, as_of: datetime, force: bool, reason: str | None
) -> Decision:
    model = config.model(name)
    registry.version(name, version)  # exists, or RegistryError
    current = registry.alias(name, PRODUCTION)
    if current is not None and str(current.version) == version:
        raise UsageError(f"{name} v{version} is already production")
    stamp = {"promoted_by": actor(), "promote_reason": reason or ""}
    if force:
        decision = Decision(True, [f"forced by {actor()}: {reason or 'no reason given'}"], {}, forced=True)
    else:
        frame, y_true, classes = holdout(model, as_of)
        candidate = load_version(name, version)
        if candidate.classes != classes:
            raise UsageError(f"{name} v{version} predicts {candidate.classes}, the data holds {classes}; use --force to override")
        metrics = evaluate(candidate, frame, y_true)
        champ_version, champ, error = champion_metrics(registry, name, frame, y_true, classes)
        decision = decide(metrics, model.promotion, champ, champ_version, error)
        if not decision.promote:
            registry.tag_version(name, version, {"manual_gate_decision": "rejected", "manual_gate_reasons": decision.reasons_text})
            return decision
    expected = str(current.version) if current is not None else None
    registry.move_production(name, version, expected, {**stamp, "gate_decision": "forced" if force else "promoted",
                                                        "gate_reasons": decision.reasons_text})
    return decision


def rollback(registry: Registry, name: str, reason: str | None) -> tuple[str, str]:
    return registry.rollback(name, {"rolled_back_by": actor(), "rollback_reason": reason or ""})


def leaderboard(config: Config, registry: Registry, name: str, metric: str, limit: int) -> list[dict[str, Any]]:
    model = config.model(name)
    if metric not in METRIC_KEYS:
        raise UsageError(f"--metric must be one of {', '.join(METRIC_KEYS)}")
    experiment_id = registry.experiment_id(experiment_name(config, model))
    order = "ASC" if metric in LOWER_IS_BETTER else "DESC"
    runs = registry.search_runs(experiment_id, f"metrics.{metric} {order}", limit)
    aliases = {}
    for alias in (PRODUCTION, PREVIOUS):
        found = registry.alias(name, alias)
        if found is not None:
            aliases[str(found.version)] = alias
    rows = []
    for rank, run in enumerate(runs, start=1):
        version = run.data.tags.get("registered_version")
        rows.append({
            "rank": rank,
            "run_id": run.info.run_id,
            "started": datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).isoformat(timespec="seconds"),
            "as_of": run.data.tags.get("data.as_of"),
            "version": version,
            "alias": aliases.get(version or "", ""),
            "decision": run.data.tags.get("gate_decision", "dry-run" if run.data.tags.get("mlops.dry_run") == "true" else ""),
            "metrics": {k: round(v, 4) for k, v in run.data.metrics.items() if k in METRIC_KEYS},
        })
    if not rows:
        raise RegistryError(f"no finished runs for {name!r} in experiment {experiment_name(config, model)!r}")
    return rows


def compare(config: Config, registry: Registry, name: str, versions: list[str], as_of: datetime) -> list[dict[str, Any]]:
    """Registered versions scored side by side on the same fresh labelled rows: the last
    `drift.current_window_days` before `as_of`, which no version trained on if it is recent."""
    model = config.model(name)
    if not versions:
        raise UsageError("--versions needs at least one version")
    source = open_source(model.source)
    window = Window.ending(as_of, model.drift.current_window_days)
    dataset = prepare(source.load(window), model, source.uri)
    aliases = {str(v.version): a for a in (PRODUCTION, PREVIOUS) if (v := registry.alias(name, a)) is not None}
    rows = []
    for version in versions:
        registry.version(name, version)
        scorer = load_version(name, version)
        index = {c: i for i, c in enumerate(scorer.classes)}
        codes = np.array([index.get(dataset.classes[code], -1) for code in dataset.labels])
        known = codes >= 0
        if not known.any():
            raise UsageError(f"{name} v{version} knows none of the labels in the window ({dataset.classes})")
        metrics = evaluate(scorer, dataset.frame[known], codes[known])
        rows.append({"version": version, "alias": aliases.get(version, ""), "rows": int(known.sum()),
                     "window": window.describe(), "metrics": {k: round(v, 4) for k, v in metrics.items()}})
    return rows
