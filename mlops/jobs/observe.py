"""What each job's result contributes to the pushed metrics (see mlops.metrics) and to the
webhook notices (see mlops.notify)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.metrics import JobMetrics
from mlops.notify import Notice

if TYPE_CHECKING:  # the predict command never imports drift-check's statistics or retrain's training
    from mlops.jobs.drift_check import DriftResult, NoProduction
    from mlops.jobs.predict import PredictResult
    from mlops.jobs.retrain import RetrainResult


def retrain_metrics(metrics: JobMetrics, result: RetrainResult) -> None:
    decision = result.decision
    if decision is None:
        return
    metrics.set("mlops_candidate_promoted", 1.0 if decision.promote else 0.0)
    metrics.set_family("mlops_candidate_metric", "metric", decision.candidate)
    if decision.champion:
        metrics.set_family("mlops_production_metric", "metric", decision.champion)
    production = result.version if decision.promote else decision.champion_version
    if production:
        metrics.set("mlops_production_version", float(production))


def drift_metrics(metrics: JobMetrics, result: DriftResult | NoProduction) -> None:
    """A backfill (an as-of older than the newest check) pushes no drift gauges: they describe
    the newest data, and an old window must not overwrite them."""
    from mlops.jobs.drift_check import NoProduction

    if isinstance(result, NoProduction):
        metrics.set("mlops_production_missing", 1.0)
        return
    if result.backfill:
        return
    metrics.set("mlops_production_missing", 0.0)
    report = result.report
    metrics.set("mlops_drift_share", report.drift_share)
    metrics.set("mlops_retrain_needed", 1.0 if report.retrain_needed else 0.0)
    metrics.set("mlops_drift_window_rows", float(report.rows))
    metrics.set("mlops_drift_insufficient_data", 1.0 if report.outcome == "insufficient data" else 0.0)
    metrics.set("mlops_production_version", float(result.version))
    if report.prediction is not None:
        metrics.set("mlops_prediction_psi", report.prediction.psi)
    metrics.set_family("mlops_feature_psi", "feature", {f.drift.name: f.drift.psi for f in report.features})
    metrics.set_family("mlops_feature_drift_effect", "feature", {f.drift.name: f.drift.effect for f in report.features})
    metrics.set_family("mlops_feature_drifted", "feature", {f.drift.name: float(f.drifted) for f in report.features})
    fresh = result.freshness
    if fresh is not None:
        metrics.set("mlops_data_stale", 1.0 if fresh.stale else 0.0)
        metrics.set("mlops_volume_anomaly", 1.0 if fresh.volume_anomaly else 0.0)
        metrics.set("mlops_window_rows_per_day", fresh.window_rows_per_day)
        if fresh.staleness_hours is not None:
            metrics.set("mlops_data_staleness_hours", fresh.staleness_hours)
        if fresh.volume_ratio is not None:
            metrics.set("mlops_volume_ratio", fresh.volume_ratio)


def predict_metrics(metrics: JobMetrics, result: PredictResult) -> None:
    metrics.set("mlops_predictions_written", result.rows)
    metrics.set("mlops_production_missing", 1.0 if result.version is None else 0.0)
    if result.version is not None:
        metrics.set("mlops_production_version", float(result.version))


def retrain_notice(result: RetrainResult) -> Notice | None:
    """Promotions and rejections decided now; a resumed key or a dry run decided nothing new."""
    if result.decision is None or result.resumed or result.outcome not in ("promoted", "rejected"):
        return None
    outcome = result.outcome
    summary = f"v{result.version} {outcome}" + (f" against champion v{result.decision.champion_version}"
                                                 if result.decision.champion_version else "")
    return Notice(outcome, "retrain", result.model, summary, result.version, result.run_id, list(result.decision.reasons))


def drift_notice(result: DriftResult | NoProduction) -> Notice | None:
    from mlops.jobs.drift_check import NoProduction

    if isinstance(result, NoProduction):
        return Notice("no_production", "drift-check", result.model, "no production model yet: nothing to check (run retrain)")
    summary = result.summary()
    if not summary["retrain_needed"]:
        return None
    return Notice("retrain_needed", "drift-check", result.model,
                  f"retraining needed: drift share {summary['drift_share']:.0%}" + (f"; {result.triggered}" if result.triggered else ""),
                  result.version, result.run_id, list(summary["reasons"]))


def predict_notice(result: PredictResult) -> Notice | None:
    if result.version is None:
        return Notice("no_production", "predict", result.model, "no production model yet: nothing scored (run retrain)")
    return None

