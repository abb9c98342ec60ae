"""From a baseline profile and a window of rows to a drift decision. Pure: no MLflow, no I/O.

Order matters: schema and quality first (a missing column is an error, not drift), then the
row-count floor (too few rows is "insufficient data", not drift), then per-feature tests with
Benjamini-Hochberg correction, then prediction drift and performance, then one decision with
every reason listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops.config import LOWER_IS_BETTER, DriftConfig, PromotionConfig
from mlops.drift.stats import FeatureDrift, benjamini_hochberg, categorical_drift, numeric_drift
from mlops.errors import DataError


@dataclass
class FeatureResult:
    drift: FeatureDrift
    p_adjusted: float
    drifted: bool

    def as_dict(self, histograms: bool = False) -> dict[str, Any]:
        data = {**self.drift.as_dict(), "p_adjusted": self.p_adjusted, "drifted": self.drifted}
        if histograms:
            data["histogram"] = self.drift.histogram
        return data


@dataclass
class DriftReport:
    outcome: str  # "drift" | "no drift" | "insufficient data"
    retrain_needed: bool
    reasons: list[str]
    rows: int
    features: list[FeatureResult] = field(default_factory=list)
    quality: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    prediction: FeatureDrift | None = None
    prediction_drifted: bool = False
    performance: dict[str, float] = field(default_factory=dict)
    baseline_performance: dict[str, float] = field(default_factory=dict)

    @property
    def drift_share(self) -> float:
        return sum(f.drifted for f in self.features) / len(self.features) if self.features else 0.0

    def to_dict(self, histograms: bool = False) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "retrain_needed": self.retrain_needed,
            "reasons": self.reasons,
            "rows": self.rows,
            "drift_share": self.drift_share,
            "drifted_features": [f.drift.name for f in self.features if f.drifted],
            "quality": self.quality,
            "extra_columns": self.extra_columns,
            "features": [f.as_dict(histograms) for f in self.features],
            "prediction": None if self.prediction is None else {**self.prediction.as_dict(), "drifted": self.prediction_drifted},
            "performance": self.performance,
            "baseline_performance": self.baseline_performance,
        }


def check_schema(frame: pd.DataFrame, profile: Mapping[str, Any], ignore: set[str]) -> tuple[list[str], list[str]]:
    """Missing feature columns raise; returns (extra columns, quality findings)."""
    features: dict[str, Any] = profile["features"]
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise DataError(f"window lacks feature column {', '.join(repr(m) for m in missing)} the production model needs")
    extra = sorted(set(frame.columns) - set(features) - ignore)
    findings = []
    for name, summary in features.items():
        column = frame[name]
        if summary["kind"] == "numeric" and not (pd.api.types.is_numeric_dtype(column) or column.isna().all()):
            findings.append(f"{name}: dtype changed from numeric to {column.dtype}; non-numeric values count as missing")
        elif summary["kind"] == "categorical" and pd.api.types.is_float_dtype(column) and not column.isna().all():
            findings.append(f"{name}: dtype changed from categorical to {column.dtype}")
    return extra, findings


def feature_drift(frame: pd.DataFrame, profile: Mapping[str, Any]) -> list[FeatureDrift]:
    results = []
    for name, summary in profile["features"].items():
        column = frame[name]
        if summary["kind"] == "numeric":
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            results.append(numeric_drift(name, summary, values))
        else:
            results.append(categorical_drift(name, summary, column.astype(object).where(column.notna(), None).to_numpy()))
    return results


def quality_findings(results: list[FeatureDrift], profile: Mapping[str, Any]) -> list[str]:
    findings = []
    for result in results:
        baseline = profile["features"][result.name]
        before = baseline.get("missing_share", 0.0)
        if result.missing_share - before >= 0.05:
            findings.append(f"{result.name}: missing share {result.missing_share:.1%} (baseline {before:.1%})")
        if result.out_of_range_share >= 0.01:
            findings.append(f"{result.name}: {result.out_of_range_share:.1%} of values outside the baseline range")
        if result.unseen_share >= 0.01:
            findings.append(f"{result.name}: {result.unseen_share:.1%} of values are categories the baseline never saw")
        if result.note:
            findings.append(f"{result.name}: {result.note}")
    return findings


def decide(
    frame: pd.DataFrame,
    profile: Mapping[str, Any],
    drift: DriftConfig,
    promotion: PromotionConfig,
    ignore: set[str],
    scores: np.ndarray | None = None,
    performance: Mapping[str, float] | None = None,
    baseline_performance: Mapping[str, float] | None = None,
) -> DriftReport:
    extra, schema_findings = check_schema(frame, profile, ignore)
    rows = len(frame)
    if rows < drift.min_rows:
        return DriftReport("insufficient data", False, [f"{rows} rows in the window, fewer than drift.min_rows {drift.min_rows}"],
                           rows, quality=schema_findings, extra_columns=extra)

    raw = feature_drift(frame, profile)
    adjusted = benjamini_hochberg([r.p_value for r in raw])
    results = [FeatureResult(r, p, p < drift.p_value and r.psi >= drift.psi_threshold) for r, p in zip(raw, adjusted, strict=True)]
    report = DriftReport("no drift", False, [], rows, results, schema_findings + quality_findings(raw, profile), extra)

    drifted = [f.drift.name for f in results if f.drifted]
    if results and report.drift_share >= drift.max_drift_share:
        report.reasons.append(f"{len(drifted)} of {len(results)} features drifted ({report.drift_share:.0%} >= "
                              f"max_drift_share {drift.max_drift_share:.0%}): {', '.join(drifted)}")
    elif drifted:
        report.quality.append(f"drifted below the retrain share: {', '.join(drifted)}")

    if scores is not None and profile.get("prediction_scores", {}).get("sketch"):
        report.prediction = numeric_drift("prediction_score", profile["prediction_scores"], scores)
        report.prediction_drifted = report.prediction.p_value < drift.p_value and report.prediction.psi >= drift.psi_threshold
        if report.prediction_drifted:
            report.reasons.append(f"prediction scores drifted (PSI {report.prediction.psi:.3f} >= {drift.psi_threshold})")

    if performance:
        report.performance = dict(performance)
        report.baseline_performance = dict(baseline_performance or {})
        report.reasons.extend(_performance_reasons(performance, baseline_performance or {}, drift, promotion))

    report.retrain_needed = bool(report.reasons)
    report.outcome = "drift" if report.retrain_needed else "no drift"
    return report


def _performance_reasons(
    current: Mapping[str, float], baseline: Mapping[str, float], drift: DriftConfig, promotion: PromotionConfig
) -> list[str]:
    reasons = []
    for name, minimum in sorted(promotion.min_metrics.items()):
        if name in current and current[name] < minimum:
            reasons.append(f"{name} {current[name]:.4f} on labelled window rows fell below minimum {minimum:.4f}")
    for name in sorted(set(promotion.min_metrics) | {promotion.compare_metric}):
        if name not in current or name not in baseline:
            continue
        change = current[name] - baseline[name]
        dropped = change > drift.max_metric_drop if name in LOWER_IS_BETTER else -change > drift.max_metric_drop
        if dropped:
            reasons.append(f"{name} {current[name]:.4f} vs {baseline[name]:.4f} at training: worse by more than "
                           f"max_metric_drop {drift.max_metric_drop}")
    return reasons
