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
from mlops.drift.check import DriftReport, decide
from mlops.drift.profile import prediction_scores
from mlops.errors import RegistryError
from mlops.jobs.common import tracked_run
from mlops.jobs.retrain import load_version, retrain
from mlops.registry import PRODUCTION, Registry, now_iso
from mlops.report.html import render
from mlops.training.model import evaluate
from mlops.training.pyfunc_model import LabelledBooster

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftResult:
    model: str
    version: str
    report: DriftReport
    run_id: str
    triggered: str | None = None

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
    baseline_metrics = dict(registry.run(production.run_id).data.metrics)

    source = open_source(model.source)
    window = Window.ending(as_of, model.drift.current_window_days)
    frame = source.load(window, allow_empty=True).to_pandas()
    ignore = {model.target, *model.source.id_columns, *([model.source.timestamp_column] if model.source.timestamp_column else [])}

    scores: np.ndarray | None = None
    performance: dict[str, float] | None = None
    findings: list[str] = []
    # A missing feature column is reported by decide(); only a scorable window loads the model.
    if len(frame) >= model.drift.min_rows and all(name in frame.columns for name in profile["features"]):
        champion = load_version(model.name, version)
        scores = prediction_scores(champion.predict_proba(frame))
        performance, findings = _performance(champion, frame, model.target)
    report = decide(frame, profile, model.drift, model.promotion, ignore, scores, performance,
                    {k: v for k, v in baseline_metrics.items() if k in (performance or {})})
    report.quality.extend(findings)

    experiment_id = registry.experiment_id(monitoring_experiment(config, model))
    tags = {"mlops.job": "drift-check", "mlops.model": model.name, "model_version": version,
            "drift_outcome": report.outcome, "retrain_needed": str(report.retrain_needed).lower(),
            "data.source": source.uri, "data.window_start": window.start.isoformat() if window.start else "",
            "data.window_end": window.end.isoformat()}
    with tracked_run(experiment_id, f"drift-check-{as_of:%Y%m%d}", tags) as run:
        mlflow.log_metrics(_metrics(report))
        data = report.to_dict(histograms=True)
        data.update(model=model.name, version=version, as_of=as_of.isoformat(), window=window.describe())
        mlflow.log_dict(data, "drift_report.json")
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "drift_report.html"
            page.write_text(render(data, f"Drift check: {model.name} v{version}, {window.describe()}"), encoding="utf-8")
            mlflow.log_artifact(str(page))
        registry.tag_version(model.name, version, {"last_drift_check_at": now_iso(),
                                                   "last_drift_share": f"{report.drift_share:.4f}",
                                                   "last_drift_outcome": report.outcome})
    # After the monitoring run has ended: an inline retrain starts MLflow runs of its own.
    triggered = None
    if report.retrain_needed and trigger != "none":
        triggered = _trigger(config, model, as_of, trigger, registry)
        registry.tag_run(run.info.run_id, {"triggered": triggered or "already triggered today"})
    log.info("%s v%s: %s; %s", model.name, version, report.outcome, "; ".join(report.reasons) or "no reasons")
    return DriftResult(model.name, version, report, run.info.run_id, triggered)


def _performance(model: LabelledBooster, frame: pd.DataFrame, target: str) -> tuple[dict[str, float] | None, list[str]]:
    if target not in frame.columns:
        return None, []
    labelled = frame[frame[target].notna()]
    if labelled.empty:
        return None, []
    index = {c: i for i, c in enumerate(model.classes)}
    codes = labelled[target].map(lambda v: index.get(v.item() if isinstance(v, np.generic) else v, -1)).to_numpy()
    known = codes >= 0
    findings = []
    if not known.all():
        findings.append(f"{target}: {int((~known).sum())} labelled rows hold classes the model never saw")
    if not known.any():
        return None, findings
    return evaluate(model, labelled[known], codes[known].astype(np.int64)), findings


def _metrics(report: DriftReport) -> dict[str, float]:
    metrics: dict[str, float] = {"drift_share": report.drift_share, "rows": float(report.rows),
                                 "retrain_needed": float(report.retrain_needed)}
    for result in report.features:
        name = _metric_name(result.drift.name)
        metrics[f"psi.{name}"] = result.drift.psi
        metrics[f"statistic.{name}"] = result.drift.statistic
        metrics[f"p_adjusted.{name}"] = result.p_adjusted
        metrics[f"drifted.{name}"] = float(result.drifted)
    if report.prediction is not None:
        metrics["prediction.psi"] = report.prediction.psi
        metrics["prediction.statistic"] = report.prediction.statistic
    for key, value in report.performance.items():
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
