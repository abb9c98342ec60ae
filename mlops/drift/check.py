"""From a baseline profile and a window's summary (`window.py`) to a drift decision. Pure: no
MLflow, no I/O.

Order matters: the profile's version, then schema and quality (a missing column is an error,
not drift), then the row-count floor (too few rows is "insufficient data", not drift), then
per-feature tests with Benjamini-Hochberg correction, then prediction drift and performance,
then one decision with every reason listed.

The rule: a feature drifts when its corrected p-value is below `drift.p_value` AND its
scale-free effect size reaches the floor for its kind (`METHODS`). Significance alone flags
negligible differences at a million rows; an effect floor alone flags noise at fifty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from mlops.config import LOWER_IS_BETTER, DriftConfig, PromotionConfig
from mlops.drift.methods import METHODS
from mlops.drift.numeric import numeric_drift
from mlops.drift.performance import PerformanceEstimate
from mlops.drift.profile import SUPPORTED_VERSIONS
from mlops.drift.stats import FeatureDrift, benjamini_hochberg
from mlops.drift.window import WindowSummary
from mlops.errors import DataError

Outcome = Literal["drift", "no drift", "insufficient data"]


@dataclass
class FeatureResult:
    drift: FeatureDrift
    p_adjusted: float
    drifted: bool
    floor: float = 0.0

    def as_dict(self, histograms: bool = False) -> dict[str, Any]:
        data = {**self.drift.as_dict(), "p_adjusted": self.p_adjusted, "drifted": self.drifted, "effect_floor": self.floor}
        if histograms:
            data["histogram"] = self.drift.histogram
        return data


@dataclass
class DriftReport:
    outcome: Outcome
    retrain_needed: bool
    reasons: list[str]
    rows: int
    features: list[FeatureResult] = field(default_factory=list)
    quality: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    prediction: FeatureDrift | None = None
    prediction_drifted: bool = False
    performance: PerformanceEstimate | None = None
    baseline_performance: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float | int | None] = field(default_factory=dict)

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
            "thresholds": self.thresholds,
            "features": [f.as_dict(histograms) for f in self.features],
            "prediction": None if self.prediction is None else {
                **self.prediction.as_dict(), "drifted": self.prediction_drifted,
                **({"histogram": self.prediction.histogram} if histograms else {})},
            "performance": None if self.performance is None else self.performance.as_dict(),
            "baseline_performance": self.baseline_performance,
        }


def check_profile_version(profile: Mapping[str, Any]) -> None:
    version = profile.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise DataError(f"baseline profile version {version!r} is not supported (this mlops reads version "
                        f"{', '.join(map(str, sorted(SUPPORTED_VERSIONS)))}); retrain the model to write a current profile")


def check_schema(window: WindowSummary, profile: Mapping[str, Any], ignore: set[str]) -> tuple[list[str], list[str]]:
    """Missing feature columns raise; returns (extra columns, quality findings). A window that
    yielded no batch has no columns to check."""
    features: dict[str, Any] = profile["features"]
    columns = window.columns or []
    missing = [name for name in features if window.columns is not None and name not in columns]
    if missing:
        raise DataError(f"window lacks feature column {', '.join(repr(m) for m in missing)} the production model needs")
    extra = sorted(set(columns) - set(features) - ignore)
    findings = []
    for name, summary in features.items():
        kind = window.kinds.get(name)
        if kind is None or not kind.seen:
            continue
        dtype, now, before = kind.window_dtype, kind.kind(), summary.get("dtype_class")
        if summary["kind"] == "numeric" and not pd.api.types.is_numeric_dtype(dtype) and now != "bool":
            findings.append(f"{name}: values changed from {before or 'numeric'} to {now} ({dtype}); "
                            "non-numeric values count as missing")
        elif before is not None and now != before:
            findings.append(f"{name}: values changed from {before} to {now} ({dtype})")
    return extra, findings


def feature_drift(window: WindowSummary, profile: Mapping[str, Any]) -> list[FeatureDrift]:
    results = []
    for name, summary in profile["features"].items():
        method = METHODS[summary["kind"]]
        state = window.features.get(name)
        if state is None:  # no compared rows: the state of an empty column
            state = method.count(method.prepare(summary), pd.Series([], dtype="float64"))
        results.append(method.compute(name, summary, state))
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


def thresholds(drift: DriftConfig) -> dict[str, float | int | None]:
    return {"p_value": drift.p_value, "numeric_effect": drift.numeric_effect, "categorical_effect": drift.categorical_effect,
            "max_drift_share": drift.max_drift_share, "max_missing_increase": drift.max_missing_increase,
            "min_rows": drift.min_rows, "max_metric_drop": drift.max_metric_drop,
            "min_labelled_rows": drift.min_labelled_rows, "confidence": drift.confidence}


def decide(
    window: WindowSummary,
    profile: Mapping[str, Any],
    drift: DriftConfig,
    promotion: PromotionConfig,
    ignore: set[str],
    performance: PerformanceEstimate | None = None,
    baseline_performance: Mapping[str, float] | None = None,
) -> DriftReport:
    check_profile_version(profile)
    extra, schema_findings = check_schema(window, profile, ignore)
    rows = window.rows
    if rows < drift.min_rows:
        return DriftReport("insufficient data", False, [f"{rows} rows in the window, fewer than drift.min_rows {drift.min_rows}"],
                           rows, quality=schema_findings, extra_columns=extra, thresholds=thresholds(drift))

    raw = feature_drift(window, profile)
    adjusted = benjamini_hochberg([r.p_value for r in raw])
    results = []
    for result, p in zip(raw, adjusted, strict=True):
        floor = METHODS[result.kind].floor(drift)
        results.append(FeatureResult(result, p, p < drift.p_value and result.effect >= floor, floor))
    report = DriftReport("no drift", False, [], rows, results, schema_findings + quality_findings(raw, profile), extra,
                         thresholds=thresholds(drift))

    drifted = [f"{f.drift.name} ({f.drift.effect_name} {f.drift.effect:.3f})" for f in results if f.drifted]
    if results and report.drift_share >= drift.max_drift_share:
        report.reasons.append(f"{len(drifted)} of {len(results)} features drifted ({report.drift_share:.0%} >= "
                              f"max_drift_share {drift.max_drift_share:.0%}): {', '.join(drifted)}")
    elif drifted:
        report.quality.append(f"drifted below the retrain share: {', '.join(drifted)}")
    report.reasons.extend(missing_share_reasons(raw, profile, drift))

    if window.scores is not None and profile.get("prediction_scores", {}).get("support"):
        report.prediction = numeric_drift("prediction_score", profile["prediction_scores"], window.scores)
        report.prediction_drifted = (report.prediction.p_value < drift.p_value
                                     and report.prediction.effect >= drift.numeric_effect)
        if report.prediction_drifted:
            report.reasons.append(f"prediction scores drifted (Wasserstein {report.prediction.effect:.3f} sd >= "
                                  f"{drift.numeric_effect}, KS p {report.prediction.p_value:.2g})")

    if performance is not None:
        report.performance = performance
        report.baseline_performance = dict(baseline_performance or {})
        if performance.rows < drift.min_labelled_rows:
            report.quality.append(f"{performance.rows} labelled rows in the window, fewer than drift.min_labelled_rows "
                                  f"{drift.min_labelled_rows}: performance not judged")
        else:
            report.reasons.extend(performance_reasons(performance, baseline_performance or {}, drift, promotion))

    report.retrain_needed = bool(report.reasons)
    report.outcome = "drift" if report.retrain_needed else "no drift"
    return report


def missing_share_reasons(results: list[FeatureDrift], profile: Mapping[str, Any], drift: DriftConfig) -> list[str]:
    """A feature whose missing share rose by at least `max_missing_increase`, and significantly
    (one-sided binomial test against the baseline share), is a reason to retrain."""
    if drift.max_missing_increase is None:
        return []
    reasons = []
    for result in results:
        before = float(profile["features"][result.name].get("missing_share", 0.0))
        if result.rows and result.missing_share - before >= drift.max_missing_increase:
            missing_rows = round(result.missing_share * result.rows)
            p = _binomial_sf(missing_rows - 1, result.rows, before) if before > 0 else 0.0
            if p < drift.p_value:
                reasons.append(f"{result.name}: missing share {result.missing_share:.1%} vs {before:.1%} at training "
                               f"(up by >= max_missing_increase {drift.max_missing_increase:.1%})")
    return reasons


def performance_reasons(
    current: PerformanceEstimate, baseline: Mapping[str, float], drift: DriftConfig, promotion: PromotionConfig
) -> list[str]:
    """Only a drop that survives the confidence bound counts: the metric's optimistic bound must
    still fall below the minimum, or below the training value by more than max_metric_drop."""
    reasons = []
    level = f"{current.confidence:.0%} bound"
    for name, minimum in sorted(promotion.min_metrics.items()):
        if name in current.values and current.upper[name] < minimum:
            reasons.append(f"{name} {current.values[name]:.4f} on {current.rows} labelled window rows ({level} "
                           f"{current.upper[name]:.4f}) fell below minimum {minimum:.4f}")
    for name in sorted(set(promotion.min_metrics) | {promotion.compare_metric}):
        if name not in current.values or name not in baseline:
            continue
        if name in LOWER_IS_BETTER:
            dropped = current.lower[name] - baseline[name] > drift.max_metric_drop
            bound = current.lower[name]
        else:
            dropped = baseline[name] - current.upper[name] > drift.max_metric_drop
            bound = current.upper[name]
        if dropped:
            reasons.append(f"{name} {current.values[name]:.4f} ({level} {bound:.4f}, {current.rows} labelled rows) vs "
                           f"{baseline[name]:.4f} at training: worse by more than max_metric_drop {drift.max_metric_drop}")
    return reasons


def _binomial_sf(k: int, n: int, p: float) -> float:
    from scipy import stats as sps  # only here: scipy.stats costs most of a second to import

    return float(sps.binom.sf(k, n, p))
