"""The weekly job: train on the window, gate against thresholds and the champion, register, promote."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
from mlflow.models import infer_signature

from mlops.config import Config, ModelConfig
from mlops.data.sources import Source, Window, open_source
from mlops.drift.profile import build_profile, prediction_scores
from mlops.errors import RegistryError
from mlops.jobs.common import default_run_key, tracked_run
from mlops.promotion.gate import Decision, decide
from mlops.registry import PRODUCTION, ProductionMoved, Registry, actor
from mlops.training import pyfunc_model
from mlops.training.dataset import Dataset, Split, fingerprint, prepare, split
from mlops.training.model import confusion, evaluate, importance, score, train
from mlops.training.pyfunc_model import LabelledBooster

log = logging.getLogger(__name__)
PROMOTION_ATTEMPTS = 3


@dataclass(frozen=True)
class RetrainResult:
    model: str
    outcome: str  # promoted | rejected | skipped | dry-run
    run_id: str | None
    version: str | None = None
    decision: Decision | None = None
    metrics: dict[str, float] | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "outcome": self.outcome,
            "run_id": self.run_id,
            "version": self.version,
            "metrics": self.metrics,
            "reasons": self.decision.reasons if self.decision else [],
        }


@dataclass(frozen=True)
class TrainingData:
    source: Source
    window: Window
    table: pa.Table
    dataset: Dataset
    parts: Split


def load_training_data(model: ModelConfig, as_of: datetime) -> TrainingData:
    """The training window at `as_of`, prepared and split: what retrain trains and gates on,
    and the holdout a manual promotion is judged on."""
    source = open_source(model.source)
    window = Window.ending(as_of, model.training.window_days)
    table = source.load(window)
    dataset = prepare(table, model, source.uri)
    return TrainingData(source, window, table, dataset, split(dataset, model))


def experiment_name(config: Config, model: ModelConfig) -> str:
    return f"{config.tracking.experiment_prefix}/{model.name}"


def retrain(
    config: Config,
    model: ModelConfig,
    as_of: datetime,
    run_key: str | None = None,
    dry_run: bool = False,
    registry: Registry | None = None,
) -> RetrainResult:
    registry = registry or Registry(config.tracking)
    key = run_key or default_run_key("retrain", as_of)
    experiment_id = registry.experiment_id(experiment_name(config, model))
    done = registry.finished_run(experiment_id, key)
    if done is not None and not dry_run:
        log.info("run key %s already finished as run %s; nothing to do", key, done.info.run_id)
        return RetrainResult(model.name, "skipped", done.info.run_id)

    data = load_training_data(model, as_of)
    source, window, table, dataset, parts = data.source, data.window, data.table, data.dataset, data.parts
    log.info("loaded %d rows from %s %s; %d train, %d holdout (%s split)", table.num_rows, source.uri,
             window.describe(), len(parts.y_train), len(parts.y_test), parts.method)

    # A dry run carries no run key, so it can never stand in for the real run of that key.
    tags = {"mlops.job": "retrain", "mlops.model": model.name, "mlops.dry_run": str(dry_run).lower()}
    if not dry_run:
        tags["run_key"] = key
    with tracked_run(experiment_id, f"retrain-{as_of:%Y%m%d}", tags) as run:
        lineage = {
            "data.source": source.uri,
            "data.table": model.source.table or "",
            "data.query": (model.source.query or "")[:4000],
            "data.as_of": as_of.isoformat(),
            "data.window_start": window.start.isoformat() if window.start else "",
            "data.window_end": window.end.isoformat(),
            "data.fingerprint": fingerprint(table),
            "data.split": parts.method,
            "data.split_boundary": parts.boundary or "",
            "image": os.environ.get("MLOPS_IMAGE", ""),
            "git_sha": os.environ.get("MLOPS_GIT_SHA", ""),
        }
        mlflow.set_tags(lineage)
        mlflow.log_params({
            **{f"xgb.{k}": v for k, v in model.training.params.items()},
            "seed": model.training.seed,
            "test_fraction": model.training.test_fraction,
            "window_days": model.training.window_days,
            "features": ",".join(dataset.feature_names)[:6000],
            "classes": json.dumps(dataset.classes)[:6000],
        })
        booster = train(dataset, parts, model.training.params, model.training.seed)
        proba = booster.predict_proba(parts.test)  # once: metrics, confusion matrix and profile scores
        metrics = score(proba, parts.y_test, len(dataset.classes))
        mlflow.log_metrics({
            **metrics,
            "rows_total": table.num_rows,
            "rows_train": len(parts.y_train),
            "rows_test": len(parts.y_test),
            "rows_dropped_missing_label": dataset.dropped_missing_label,
        })
        mlflow.log_dict(confusion(proba, parts.y_test, dataset.classes), "evaluation/confusion_matrix.json")
        mlflow.log_dict(importance(booster), "evaluation/feature_importance.json")
        profile = build_profile(parts.train, dataset.features, prediction_scores(proba), dataset.classes)
        mlflow.log_dict(profile, "baseline/profile.json")
        model_uri = _log_model(booster, parts.train)

        if dry_run:
            return RetrainResult(model.name, "dry-run", run.info.run_id, metrics=metrics)
        decision, version = _gate_and_register(registry, model, booster, parts.test, parts.y_test, metrics, model_uri, key)
        mlflow.log_dict(decision.to_dict(), "evaluation/gate.json")
        mlflow.set_tags({"gate_decision": decision.outcome, "registered_version": version})
        log.info("%s v%s %s: %s", model.name, version, decision.outcome, decision.reasons_text)
        return RetrainResult(model.name, decision.outcome, run.info.run_id, version, decision, metrics)


def champion_metrics(
    registry: Registry, name: str, frame: pd.DataFrame, y_true: np.ndarray, classes: list[Any]
) -> tuple[str | None, dict[str, float] | None, str | None]:
    """(version, metrics on this holdout, why it could not score) for the current production."""
    champion = registry.alias(name, PRODUCTION)
    if champion is None:
        return None, None, None
    version = str(champion.version)
    try:
        loaded = load_version(name, version)
        if loaded.classes != classes:
            return version, None, f"its labels {loaded.classes} differ from the candidate's {classes}"
        return version, evaluate(loaded, frame, y_true), None
    except (ValueError, KeyError, OSError, mlflow.exceptions.MlflowException) as exc:
        return version, None, str(exc).splitlines()[0][:300]


def load_version(name: str, version: str) -> LabelledBooster:
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    # MLflow executes the models-from-code file as its own module, so compare by shape, not class.
    inner = getattr(loaded.unwrap_python_model(), "model", None)
    if inner is None or not all(hasattr(inner, a) for a in ("booster", "features", "classes")):
        raise ValueError(f"v{version} was not logged by mlops")
    return LabelledBooster(inner.booster, inner.features, inner.classes)


def _gate_and_register(
    registry: Registry,
    model: ModelConfig,
    booster: LabelledBooster,
    frame: pd.DataFrame,
    y_true: np.ndarray,
    metrics: dict[str, float],
    model_uri: str,
    run_key: str,
) -> tuple[Decision, str]:
    """Decide, register once with the decision on the version, then move the aliases; if
    production moved while we evaluated, evaluate the new champion and decide again."""
    champ_version, champ, error = champion_metrics(registry, model.name, frame, y_true, booster.classes)
    decision = decide(metrics, model.promotion, champ, champ_version, error)
    version = str(registry.register(model_uri, model.name, _decision_tags(decision, run_key)).version)
    for _ in range(PROMOTION_ATTEMPTS):
        if not decision.promote:
            return decision, version
        try:
            registry.move_production(model.name, version, champ_version, {"promoted_by": actor()})
            return decision, version
        except ProductionMoved:
            champ_version, champ, error = champion_metrics(registry, model.name, frame, y_true, booster.classes)
            decision = decide(metrics, model.promotion, champ, champ_version, error)
            registry.tag_version(model.name, version, _decision_tags(decision, run_key))
    raise RegistryError(
        f"{model.name}: production kept moving during {PROMOTION_ATTEMPTS} promotion attempts; v{version} left without alias"
    )


def _decision_tags(decision: Decision, run_key: str) -> dict[str, str]:
    return {
        "run_key": run_key,
        "gate_decision": decision.outcome,
        "gate_reasons": decision.reasons_text,
        "gate_champion_version": decision.champion_version or "",
    }


def _log_model(booster: LabelledBooster, train_frame: pd.DataFrame) -> str:
    example = train_frame[booster.feature_names].head(5)
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold NaN; the schema follows the source's
        # types so that integer inputs are accepted as they come.
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer column.*")
        signature = infer_signature(example, booster.predict(example))
    with tempfile.TemporaryDirectory() as tmp:
        booster.save(Path(tmp) / "booster")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc_model.__file__,
            artifacts={"booster": str(Path(tmp) / "booster")},
            signature=signature,
            input_example=example,
            pip_requirements=_requirements(),
        )
    return str(info.model_uri)


def _requirements() -> list[str]:
    pins = []
    for dist in ("mlflow", "xgboost-cpu", "pandas", "numpy"):
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins
