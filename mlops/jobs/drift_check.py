"""The daily job: compare the current window with the production model's baseline profile."""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from mlops.config import Config, ModelConfig
from mlops.data.sources import Window, open_source
from mlops.drift.check import DriftReport, check_profile_version, decide
from mlops.drift.performance import PerformanceEstimate, estimate
from mlops.drift.profile import prediction_scores
from mlops.errors import RegistryError
from mlops.jobs.common import tracked_run
from mlops.jobs.retrain import load_version, retrain
from mlops.registry import PRODUCTION, Registry, now_iso
from mlops.report.html import render
from mlops.training.model import score
from mlops.training.pyfunc_model import LabelledBooster

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftResult:
    model: str
    version: str
    report: DriftReport
    run_id: str
    triggered: str | None = None
    backfill: bool = False  # older than the newest check: the version's status and the gauges were left alone

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "outcome": self.report.outcome,
            "retrain_needed": self.report.retrain_needed,
            "drift_share": round(self.report.drift_share, 4),
            "drifted_features": [f.drift.name for f in self.report.features if f.drifted],
            "reasons": self.report.reasons,
            "quality": self.report.quality,
            "run_id": self.run_id,
            "triggered": self.triggered,
            "backfill": self.backfill,
        }


def monitoring_experiment(config: Config, model: ModelConfig) -> str:
    return f"{config.tracking.experiment_prefix}/{model.name}/monitoring"


def drift_check(
    config: Config, model: ModelConfig, as_of: datetime, trigger: str = "none", registry: Registry | None = None
) -> DriftResult:
    registry = registry or Registry(config.tracking)
    production = registry.alias(model.name, PRODUCTION)
    if production is None:
        raise RegistryError(f"model {model.name!r} has no production version to check drift against; run retrain first")
    version = str(production.version)
    if not production.run_id:
        raise RegistryError(f"{model.name} v{version} has no training run, so no baseline profile")
    profile = registry.load_json(production.run_id, "baseline/profile.json")
    check_profile_version(profile)
    training_run = registry.run(production.run_id)
    baseline_metrics = dict(training_run.data.metrics)

    source = open_source(model.source)
    window = Window.ending(as_of, model.drift.current_window_days)
    frame = source.load(window, allow_empty=True).to_pandas()
    frame, findings = _without_training_rows(frame, model, training_run.data.tags.get("data.window_end", ""))
    ignore = {model.target, *model.source.id_columns, *([model.source.timestamp_column] if model.source.timestamp_column else [])}

    scores: np.ndarray | None = None
    performance: PerformanceEstimate | None = None
    # A missing feature column is reported by decide(); only a scorable window loads the model.
    if len(frame) >= model.drift.min_rows and all(name in frame.columns for name in profile["features"]):
        champion = load_version(model.name, version)
        proba = champion.predict_proba(frame)
        scores = prediction_scores(proba)
        performance, labels_found = _performance(champion, frame, proba, model.target, model.drift.confidence)
        findings.extend(labels_found)
    report = decide(frame, profile, model.drift, model.promotion, ignore, scores, performance,
                    {k: v for k, v in baseline_metrics.items() if performance is not None and k in performance.values})
    report.quality.extend(findings)
    # A backfill (an as-of older than the newest check) must not overwrite the live status.
    backfill = _older_than_newest_check(as_of, production.tags.get("last_drift_as_of", ""))

    experiment_id = registry.experiment_id(monitoring_experiment(config, model))
    tags = {"mlops.job": "drift-check", "mlops.model": model.name, "model_version": version,
            "drift_outcome": report.outcome, "retrain_needed": str(report.retrain_needed).lower(),
            "data.source": source.uri, "data.window_start": window.start.isoformat() if window.start else "",
            "data.window_end": window.end.isoformat(), "backfill": str(backfill).lower()}
    with tracked_run(experiment_id, f"drift-check-{as_of:%Y%m%d}", tags) as run:
        mlflow.log_metrics(_metrics(report))
        data = report.to_dict(histograms=True)
        data.update(model=model.name, version=version, as_of=as_of.isoformat(), window=window.describe())
        mlflow.log_dict(data, "drift_report.json")
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "drift_report.html"
            page.write_text(render(data, f"Drift check: {model.name} v{version}, {window.describe()}"), encoding="utf-8")
            mlflow.log_artifact(str(page))
        if not backfill:
            registry.tag_version(model.name, version, {"last_drift_check_at": now_iso(), "last_drift_as_of": as_of.isoformat(),
                                                       "last_drift_share": f"{report.drift_share:.4f}",
                                                       "last_drift_outcome": report.outcome})
    # After the monitoring run has ended: an inline retrain starts MLflow runs of its own.
    triggered = None
    if report.retrain_needed and trigger != "none":
        triggered = _trigger(config, model, as_of, trigger, registry)
        registry.tag_run(run.info.run_id, {"triggered": triggered or "already triggered today"})
    log.info("%s v%s: %s; %s", model.name, version, report.outcome, "; ".join(report.reasons) or "no reasons")
    return DriftResult(model.name, version, report, run.info.run_id, triggered, backfill)


def _older_than_newest_check(as_of: datetime, newest: str) -> bool:
    try:
        return bool(newest) and as_of < datetime.fromisoformat(newest)
    except (ValueError, TypeError):  # an unreadable or naive tag: treat the check as the newest
        return False


def _without_training_rows(frame: pd.DataFrame, model: ModelConfig, training_end: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows the production model was trained (or held out) on bias the comparison towards "no
    drift": leave out rows before the training window's end when a timestamp tells them apart,
    otherwise say that the window may hold them."""
    ts = model.source.timestamp_column
    if not ts or ts not in frame.columns:
        return frame, ["window may include the production model's training rows: without source.timestamp_column "
                       "they cannot be told apart"]
    if not training_end or frame.empty:
        return frame, []
    stamps = pd.to_datetime(frame[ts], utc=True)
    seen = (stamps < pd.Timestamp(training_end)).to_numpy()
    if not seen.any():
        return frame, []
    kept = frame.loc[~seen].reset_index(drop=True)
    return kept, [f"left out {int(seen.sum())} window rows from before {training_end}, the production model's training data"]


def _performance(model: LabelledBooster, frame: pd.DataFrame, proba: np.ndarray, target: str,
                 confidence: float) -> tuple[PerformanceEstimate | None, list[str]]:
    if target not in frame.columns:
        return None, []
    labelled = frame[target].notna().to_numpy()
    if not labelled.any():
        return None, []
    index = {c: i for i, c in enumerate(model.classes)}
    codes = frame.loc[labelled, target].map(lambda v: index.get(v.item() if isinstance(v, np.generic) else v, -1)).to_numpy()
    known = codes >= 0
    findings = []
    if not known.all():
        findings.append(f"{target}: {int((~known).sum())} labelled rows hold classes the model never saw")
    if not known.any():
        return None, findings
    n_classes = len(model.classes)
    return estimate(proba[labelled][known], codes[known].astype(np.int64),
                    lambda p, y: score(p, y, n_classes), confidence), findings


def _metrics(report: DriftReport) -> dict[str, float]:
    metrics: dict[str, float] = {"drift_share": report.drift_share, "rows": float(report.rows),
                                 "retrain_needed": float(report.retrain_needed),
                                 "insufficient_data": float(report.outcome == "insufficient data")}
    for result in report.features:
        name = _metric_name(result.drift.name)
        metrics[f"psi.{name}"] = result.drift.psi
        metrics[f"effect.{name}"] = result.drift.effect
        metrics[f"statistic.{name}"] = result.drift.statistic
        metrics[f"p_adjusted.{name}"] = result.p_adjusted
        metrics[f"drifted.{name}"] = float(result.drifted)
    if report.prediction is not None:
        metrics["prediction.psi"] = report.prediction.psi
        metrics["prediction.statistic"] = report.prediction.statistic
        metrics["prediction.effect"] = report.prediction.effect
    if report.performance is not None:
        metrics["window.labelled_rows"] = float(report.performance.rows)
        for key, value in report.performance.values.items():
            metrics[f"window.{key}"] = value
    return metrics


def _metric_name(feature: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", feature)[:200]


def _trigger(config: Config, model: ModelConfig, as_of: datetime, how: str, registry: Registry) -> str | None:
    if how == "inline":
        result = retrain(config, model, as_of, run_key=f"drift:{as_of:%Y-%m-%d}", registry=registry)
        return f"inline retrain: v{result.version} {result.outcome}" if result.version else f"inline retrain: {result.outcome}"
    from mlops.trigger import create_retrain_job

    name = create_retrain_job(model.name, as_of)
    return f"job/{name}" if name else None
