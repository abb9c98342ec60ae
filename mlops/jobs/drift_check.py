"""The daily job: compare the current window with the production model's baseline profile."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops.config import Config, ModelConfig
from mlops.data.sources import BATCH_ROWS, Window, open_source
from mlops.drift.check import DriftReport, check_profile_version, decide
from mlops.drift.freshness import Freshness, assess, baseline_rate
from mlops.drift.performance import PerformanceEstimate, estimate
from mlops.drift.window import WindowSummary, fold
from mlops.errors import RegistryError
from mlops.jobs.common import load_version, tracked_run
from mlops.jobs.drift_history import TREND_CHECKS, recent_checks, trends
from mlops.jobs.selection import monitoring_experiment
from mlops.report.html import render
from mlops.tracking import PRODUCTION, Tracking, now_iso

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
    window_rows: int = 0  # rows read from the window, training rows included (for a volume check)
    newest_row: datetime | None = None  # the window's newest timestamp (for a freshness check); None without one
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
    inline_retrain: InlineRetrain | None = None, batch_rows: int = BATCH_ROWS,
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
    ignore = {model.target, *model.source.id_columns, *([model.source.timestamp_column] if model.source.timestamp_column else [])}
    # The window is folded batch by batch and each batch scored once; the model is loaded only for
    # a window with the feature columns and drift.min_rows rows (a missing column is decide()'s error).
    summary = WindowSummary(profile, timestamp_column=model.source.timestamp_column,
                            trained_until=_trained_until(training_run.tags), target=model.target)
    champion = fold(source.batches(window, batch_rows), summary, lambda: load_version(tracking, model.name, version),
                    model.drift.min_rows)
    performance = _performance(summary, len(champion.classes), model.drift.confidence) if champion is not None else None
    report = decide(summary, profile, model.drift, model.promotion, ignore, performance,
                    {k: v for k, v in baseline_metrics.items() if performance is not None and k in performance.values})
    report.quality.extend(summary.findings())
    # Judged on the window as read (training rows included): how much the source delivered.
    newest = None if summary.newest is None else summary.newest.to_pydatetime()
    fresh = assess(newest, summary.read_rows, model.drift.current_window_days,
                   baseline_rate(training_run.metrics, training_run.tags), as_of, model.drift)
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
    return DriftResult(model.name, version, report, run.run_id, triggered, trigger_error, backfill, summary.read_rows,
                       newest, fresh)


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


def _performance(summary: WindowSummary, n_classes: int, confidence: float) -> PerformanceEstimate | None:
    labelled = summary.labelled()
    if labelled is None:
        return None
    from mlops.training.model import score  # scikit-learn's metrics: only for a window with labels

    return estimate(*labelled, lambda p, y: score(p, y, n_classes), confidence)


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
