"""The daily job: compare the current window with the production model's baseline profile."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mlops.config import Config, ModelConfig
from mlops.data.sources import Window, open_source
from mlops.drift.check import DriftReport, check_profile_version, decide
from mlops.drift.freshness import Freshness, assess, baseline_rate, time_span
from mlops.drift.performance import PerformanceEstimate, estimate
from mlops.drift.profile import prediction_scores
from mlops.errors import RegistryError
from mlops.jobs.common import load_version, tracked_run
from mlops.jobs.drift_history import TREND_CHECKS, recent_checks, trends
from mlops.jobs.selection import monitoring_experiment
from mlops.report.html import render
from mlops.tracking import PRODUCTION, Tracking, now_iso
from mlops.training.model import score
from mlops.training.pyfunc_model import LabelledBooster

log = logging.getLogger(__name__)


# A stale RUNNING drift-check run: older than any drift check takes (they run in minutes).
STALE_RUN_SECONDS = 6 * 3600
# Starts a retrain of one model at an as-of with a run key; given by the caller (jobs never import each other).
InlineRetrain = Callable[[ModelConfig, datetime, str], str]


@dataclass(frozen=True)
class NoProduction:
    """No production model yet: an outcome (exit 0, alertable), not a failure."""

    model: str
    outcome: str = "no production model"

    def summary(self) -> dict[str, Any]:
        return {"model": self.model, "version": None, "outcome": self.outcome, "retrain_needed": False,
                "drift_share": None, "drifted_features": [], "reasons": ["no production version yet: run retrain first"],
                "quality": [], "run_id": None, "triggered": None}


@dataclass(frozen=True)
class DriftResult:
    model: str
    version: str
    report: DriftReport
    run_id: str
    triggered: str | None = None
    trigger_error: Exception | None = None  # the drift result stands; the failed trigger is reported beside it
    backfill: bool = False  # older than the newest check: the version's status and the gauges were left alone
    freshness: Freshness | None = None  # stale data and volume: findings, never a reason to retrain

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
            "trigger_error": str(self.trigger_error) if self.trigger_error else None,
            "backfill": self.backfill,
            "freshness": self.freshness.as_dict() if self.freshness else None,
        }


def drift_check(
    config: Config, model: ModelConfig, as_of: datetime, trigger: str = "none", tracking: Tracking | None = None,
    inline_retrain: InlineRetrain | None = None,
) -> DriftResult | NoProduction:
    tracking = tracking or Tracking(config.tracking)
    production = tracking.alias(model.name, PRODUCTION)
    if production is None:
        log.warning("%s: no production version to check drift against; run retrain first", model.name)
        return NoProduction(model.name)
    version = production.version
    if not production.run_id:
        raise RegistryError(f"{model.name} v{version} has no training run, so no baseline profile")
    profile = tracking.load_json(production.run_id, "baseline/profile.json")
    check_profile_version(profile)
    training_run = tracking.run(production.run_id)
    baseline_metrics = dict(training_run.metrics)

    source = open_source(model.source, config.timeouts)
    window = Window.ending(as_of, model.drift.current_window_days)
    frame = source.load(window, allow_empty=True).to_pandas()
    # Fed by the window as loaded (before training rows are left out): how much the source delivered.
    ts = model.source.timestamp_column
    newest = time_span(frame[ts])[1] if ts and ts in frame.columns else None
    fresh = assess(newest, len(frame), model.drift.current_window_days, baseline_rate(training_run.metrics, training_run.tags),
                   as_of, model.drift)
    frame, findings = _without_training_rows(frame, model, _trained_until(training_run.tags))
    ignore = {model.target, *model.source.id_columns, *([model.source.timestamp_column] if model.source.timestamp_column else [])}

    scores: np.ndarray | None = None
    performance: PerformanceEstimate | None = None
    # A missing feature column is reported by decide(); only a scorable window loads the model.
    if len(frame) >= model.drift.min_rows and all(name in frame.columns for name in profile["features"]):
        champion = load_version(tracking, model.name, version)
        proba = champion.predict_proba(frame)
        scores = prediction_scores(proba)
        performance, labels_found = _performance(champion, frame, proba, model.target, model.drift.confidence)
        findings.extend(labels_found)
    report = decide(frame, profile, model.drift, model.promotion, ignore, scores, performance,
                    {k: v for k, v in baseline_metrics.items() if performance is not None and k in performance.values})
    report.quality.extend(findings)
    # A backfill (an as-of older than the newest check) must not overwrite the live status.
    backfill = _older_than_newest_check(as_of, production.tags.get("last_drift_as_of", ""))

    experiment_id = tracking.experiment_id(monitoring_experiment(config, model))
    tracking.fail_stale_runs(experiment_id, "drift-check", model.name, older_than_seconds=STALE_RUN_SECONDS)
    tags = {"mlops.job": "drift-check", "mlops.model": model.name, "model_version": version,
            "drift_outcome": report.outcome, "retrain_needed": str(report.retrain_needed).lower(),
            "data.source": source.uri, "data.window_start": window.start.isoformat() if window.start else "",
            "data.window_end": window.end.isoformat(), "backfill": str(backfill).lower(), "as_of": f"{as_of:%Y-%m-%d}",
            "data_findings": ", ".join(f.kind for f in fresh.findings) or "none"}
    with tracked_run(tracking, experiment_id, f"drift-check-{as_of:%Y%m%d}", tags) as run:
        tracking.log_metrics(run.run_id, {**_metrics(report), **fresh.metrics()}, at=as_of)  # charted by the day checked
        data = report.to_dict(histograms=True)
        data.update(model=model.name, version=version, as_of=as_of.isoformat(), window=window.describe(), freshness=fresh.as_dict())
        data["trends"] = trends(recent_checks(tracking, experiment_id, as_of, TREND_CHECKS), f"{as_of:%Y-%m-%d}",
                                {f.drift.name: f.drift.effect for f in report.features})
        tracking.log_dict(run.run_id, data, "drift_report.json")
        page = render(data, f"Drift check: {model.name} v{version}, {window.describe()}")
        tracking.log_text(run.run_id, page, "drift_report.html")
        if not backfill:
            tracking.tag_version(model.name, version, {"last_drift_check_at": now_iso(), "last_drift_as_of": as_of.isoformat(),
                                                       "last_drift_share": f"{report.drift_share:.4f}",
                                                       "last_drift_outcome": report.outcome})
    # After the monitoring run has ended: an inline retrain starts MLflow runs of its own. Its
    # failure does not take the drift result with it: both are reported, the failure sets the exit.
    triggered, trigger_error = None, None
    if report.retrain_needed and trigger != "none":
        try:
            triggered = _trigger(model, as_of, trigger, inline_retrain)
        except Exception as exc:  # whatever it was, the caller reports it beside the drift result
            trigger_error = exc
            triggered = f"{trigger} retrain failed: {type(exc).__name__}: {exc}"
        tracking.set_run_tags(run.run_id, {"triggered": (triggered or "already triggered today")[:5000]})
    log.info("%s v%s: %s; %s", model.name, version, report.outcome, "; ".join(report.reasons) or "no reasons")
    return DriftResult(model.name, version, report, run.run_id, triggered, trigger_error, backfill, fresh)


def _older_than_newest_check(as_of: datetime, newest: str) -> bool:
    try:
        return bool(newest) and as_of < datetime.fromisoformat(newest)
    except (ValueError, TypeError):  # an unreadable or naive tag: treat the check as the newest
        return False


def _trained_until(tags: dict[str, str]) -> str:
    """Where the production model's training rows end: the holdout's first timestamp for a time
    split (holdout rows were never trained on, and the window right after a weekly retrain lies
    in them), else the end of the training window."""
    if tags.get("data.split") == "time" and tags.get("data.split_boundary"):
        return tags["data.split_boundary"]
    return tags.get("data.window_end", "")


def _without_training_rows(frame: pd.DataFrame, model: ModelConfig, training_end: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows the production model was trained on bias the comparison towards "no drift": leave out
    rows before `training_end` when a timestamp tells them apart, otherwise say that the window
    may hold them."""
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
    codes = frame.loc[labelled, target].map(index).fillna(-1).to_numpy(dtype=np.int64)
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


def _trigger(model: ModelConfig, as_of: datetime, how: str, inline_retrain: InlineRetrain | None) -> str | None:
    if how == "inline":
        if inline_retrain is None:
            raise RegistryError("--trigger-retrain inline needs a retrain step from the caller")
        return inline_retrain(model, as_of, f"drift:{as_of:%Y-%m-%d}")
    from mlops.trigger import create_retrain_job

    name = create_retrain_job(model.name, as_of)
    return f"job/{name}" if name else None
