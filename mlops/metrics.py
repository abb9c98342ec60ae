"""Job metrics pushed to a Prometheus Pushgateway at the end of each job and model.

Grouping key {job, model}. Pushes use POST (`pushadd`), which replaces only the metric names
sent, so a failed run records its failure timestamp without erasing the last success one.
A Pushgateway that cannot be reached is logged, never fails the job: the job's own outcome
matters more than its telemetry. Skipped when MLOPS_PUSHGATEWAY_URL is unset.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from mlops.config import redact_uri, uri_password
from mlops.errors import ConfigError, ServiceUnavailable

log = logging.getLogger(__name__)


@dataclass
class JobMetrics:
    """What a job reports: plain values and labelled families, filled in as the job runs."""

    job: str
    model: str
    values: dict[str, float] = field(default_factory=dict)
    labelled: dict[str, tuple[str, dict[str, float]]] = field(default_factory=dict)

    def set(self, name: str, value: float) -> None:
        self.values[name] = float(value)

    def set_family(self, name: str, label: str, values: Mapping[str, float]) -> None:
        self.labelled[name] = (label, {k: float(v) for k, v in values.items()})


HELP = {
    "mlops_job_duration_seconds": "Wall time of the last run of this job for this model.",
    "mlops_job_last_success_timestamp_seconds": "Unix time the job last succeeded for this model.",
    "mlops_job_last_failure_timestamp_seconds": "Unix time the job last failed for this model.",
    "mlops_drift_share": "Share of features that drifted in the last drift check.",
    "mlops_retrain_needed": "1 when the last drift check decided retraining is needed.",
    "mlops_prediction_psi": "PSI of the production model's scores, window vs training holdout.",
    "mlops_feature_psi": "PSI of each feature, window vs baseline.",
    "mlops_feature_drifted": "1 for each feature that drifted in the last drift check.",
    "mlops_feature_drift_effect": "Effect size of each feature (normalised Wasserstein or Jensen-Shannon distance).",
    "mlops_drift_window_rows": "Rows in the last drift check's window (after leaving out training rows).",
    "mlops_drift_insufficient_data": "1 when the last drift check had fewer rows than drift.min_rows.",
    "mlops_data_stale": "1 when the drift check's window had no row newer than drift.max_staleness_hours before the as-of.",
    "mlops_data_staleness_hours": "Age of the window's newest row at the as-of, in hours.",
    "mlops_volume_anomaly": "1 when the window's rows per day departed from training's by more than drift.max_volume_factor.",
    "mlops_window_rows_per_day": "Rows per day in the last drift check's window, as loaded.",
    "mlops_volume_ratio": "Window rows per day over the training data's rows per day.",
    "mlops_candidate_metric": "Holdout metrics of the last retrain's candidate.",
    "mlops_production_metric": "Metrics of the production model on the last candidate's holdout.",
    "mlops_candidate_promoted": "1 when the last retrain promoted its candidate, 0 when rejected.",
    "mlops_production_version": "Registered version that holds the production alias.",
    "mlops_predictions_written": "Rows the last predict run scored and wrote.",
    "mlops_production_missing": "1 when the model has no production version yet (drift-check and predict did nothing).",
}


def push(metrics: JobMetrics, url: str | None = None) -> bool:
    url = url or os.environ.get("MLOPS_PUSHGATEWAY_URL")
    if not url:
        return False
    try:
        return _push(metrics, url)
    except Exception as exc:  # telemetry never changes a job's outcome: a bad URL, a non-HTTP answer, anything
        message = str(exc).splitlines()[0][:200] if str(exc) else ""
        if password := uri_password(url):
            message = message.replace(password, "***")
        log.warning("could not push metrics to %s (%s: %s)", redact_uri(url), type(exc).__name__, message)
        return False


def check_pushgateway(url: str, timeout: float = 10.0) -> str:
    """Reach the Pushgateway's readiness endpoint (for `config check --connect`); pushes nothing."""
    import urllib.error
    import urllib.request

    ready = url.rstrip("/") + "/-/ready"
    if urlsplit(ready).scheme not in ("http", "https"):
        raise ConfigError(f"MLOPS_PUSHGATEWAY_URL {redact_uri(url)}: not an http(s) URL")
    try:
        with urllib.request.urlopen(ready, timeout=timeout) as answer:  # noqa: S310 - scheme checked above
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise ServiceUnavailable(f"Pushgateway {redact_uri(url)} answered {exc.code} on /-/ready") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceUnavailable(f"Pushgateway {redact_uri(url)} unreachable ({getattr(exc, 'reason', exc)})") from exc
    return f"{redact_uri(url)} ready (HTTP {status})"


def _push(metrics: JobMetrics, url: str) -> bool:
    registry = CollectorRegistry()
    for name, value in metrics.values.items():
        Gauge(name, HELP.get(name, name), registry=registry).set(value)
    for name, (label, values) in metrics.labelled.items():
        if not values:
            continue
        gauge = Gauge(name, HELP.get(name, name), [label], registry=registry)
        for key, value in values.items():
            gauge.labels(key).set(value)
    pushadd_to_gateway(url, job=f"mlops-{metrics.job}", registry=registry, grouping_key={"model": metrics.model}, timeout=10)
    return True


@contextmanager
def observed(job: str, model: str) -> Iterator[JobMetrics]:
    """Times the block and pushes its metrics with a success or a failure timestamp."""
    metrics = JobMetrics(job, model)
    started = time.monotonic()
    try:
        yield metrics
    except BaseException:
        metrics.values = {"mlops_job_last_failure_timestamp_seconds": time.time(),
                          "mlops_job_duration_seconds": time.monotonic() - started}
        metrics.labelled = {}
        push(metrics)
        raise
    metrics.set("mlops_job_duration_seconds", time.monotonic() - started)
    metrics.set("mlops_job_last_success_timestamp_seconds", time.time())
    push(metrics)
