"""`mlops demo`: a synthetic churn dataset, its config, and the pipeline run on the embedded store."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlops.errors import UsageError

DAYS = 180
SHIFT_DAYS = 21
ROWS_PER_DAY = 150

DEMO_CONFIG = """\
# Written by `mlops demo`. Every key is documented in the README.
tracking:
  uri: ${{MLOPS_DEMO_TRACKING_URI:-sqlite:///.mlops/mlflow.db}}
  artifact_location: .mlops/artifacts
  experiment_prefix: mlops-demo
models:
  - name: churn
    source:
      uri: ./data/churn.parquet
      timestamp_column: event_time
      id_columns: [customer_id]
    target: churned
    categorical_features: [plan, region, contract]
    training:
      window_days: 120
      test_fraction: 0.2
      split: time
      seed: 42
      params: {{max_depth: 4, learning_rate: 0.1, n_estimators: 150}}
    promotion:
      min_metrics: {{accuracy: 0.70, f1: 0.40, roc_auc: 0.70}}
      compare_metric: f1
      min_improvement: 0.0
    drift:
      current_window_days: {shift_days}
      min_rows: 200
    predictions:
      uri: ./predictions             # relative to this file: mlops-demo/predictions/churn/day=<date>/
"""


@dataclass(frozen=True)
class DemoPaths:
    workdir: Path
    config: Path
    data: Path


def make_dataset(
    end: datetime, seed: int = 7, days: int = DAYS, rows_per_day: int = ROWS_PER_DAY, shift_days: int = SHIFT_DAYS
) -> pa.Table:
    """Customers with a churn label whose relation to the features changes in the last
    `shift_days` days (0: never): a price rise lifts monthly charges and makes premium customers leave."""
    rng = np.random.default_rng(seed)
    n = days * rows_per_day
    start = end - timedelta(days=days)
    offsets = np.sort(rng.uniform(0, days * 86_400, n))
    times = np.array([start + timedelta(seconds=float(s)) for s in offsets])
    shifted = offsets >= (days - shift_days) * 86_400 if shift_days else np.zeros(n, dtype=bool)

    plan = rng.choice(["basic", "standard", "premium"], n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], n)
    contract = rng.choice(["monthly", "yearly"], n, p=[0.6, 0.4])
    tenure = rng.gamma(2.0, 12.0, n).round(1)
    base_charge = np.select([plan == "basic", plan == "standard"], [35.0, 65.0], 95.0)
    monthly_charges = (base_charge + rng.normal(0, 8, n) + np.where(shifted, 15.0, 0.0)).round(2)
    support_calls = rng.poisson(np.where(shifted, 2.2, 1.2))
    missing = rng.random(n) < 0.02
    tenure_with_gaps = np.where(missing, np.nan, tenure)

    logit = (
        -1.0
        - 0.05 * tenure
        + 0.55 * support_calls
        + 0.9 * (contract == "monthly")
        + 0.02 * (monthly_charges - 60)
        + np.where(shifted, 1.6 * (plan == "premium") - 0.4 * (plan == "basic"), 0.0)
    )
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pa.table({
        "customer_id": pa.array(np.arange(n, dtype=np.int64)),
        "event_time": pa.array(times, type=pa.timestamp("us", tz="UTC")),
        "tenure": pa.array(tenure_with_gaps),
        "monthly_charges": pa.array(monthly_charges),
        "support_calls": pa.array(support_calls.astype(np.int64)),
        "plan": pa.array(plan),
        "region": pa.array(region),
        "contract": pa.array(contract),
        "churned": pa.array(churned),
    })


def write_demo(workdir: Path, end: datetime | None = None) -> DemoPaths:
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data" / "churn.parquet"
    data.parent.mkdir(exist_ok=True)
    pq.write_table(make_dataset(end), data)
    config = workdir / "mlops.yaml"
    config.write_text(DEMO_CONFIG.format(shift_days=SHIFT_DAYS), encoding="utf-8")
    return DemoPaths(workdir, config, data)


def writable_workdir(workdir: Path, echo: Callable[[str], None]) -> Path:
    """`docker run IMAGE demo` starts in the image's WORKDIR, which the non-root user cannot write
    (and under a read-only root nothing can): a relative workdir then goes to the temp dir."""
    existing = next(p for p in (workdir.absolute(), *workdir.absolute().parents) if p.exists())
    if os.access(existing, os.W_OK):
        return workdir
    if workdir.is_absolute():
        raise UsageError(f"--workdir {workdir}: {existing} is not writable")
    fallback = Path(tempfile.gettempdir()) / workdir
    echo(f"{existing} is not writable: writing the demo to {fallback}")
    return fallback


def run_demo(workdir: Path, echo: Callable[[str], None]) -> None:
    from mlops.config import load_config
    from mlops.jobs.retrain import retrain
    from mlops.jobs.selection import as_of_moment
    from mlops.jobs.views import status
    from mlops.tracking import Tracking

    started = time.monotonic()
    end = as_of_moment(None)
    paths = write_demo(writable_workdir(workdir, echo), end)
    echo(f"wrote {DAYS} days of synthetic churn data to {paths.data} and the config to {paths.config}")
    config = load_config(paths.config)
    model = config.models[0]
    tracking = Tracking(config.tracking)
    for label, as_of in (("before the shift", end - timedelta(days=28)), ("after the shift", end)):
        result = retrain(config, model, as_of, tracking=tracking)
        summary = result.summary()
        resumed = " (resumed: an earlier demo run registered it for this as-of; nothing was trained)" if result.resumed else ""
        echo(f"\nretrain as of {as_of:%Y-%m-%d} ({label}): v{summary['version'] or '-'} {summary['outcome']}{resumed}")
        for reason in summary["reasons"]:
            echo(f"  - {reason}")
    from mlops.jobs.drift_check import drift_check

    drift = drift_check(config, model, end, tracking=tracking).summary()
    verdict = "retraining needed" if drift["retrain_needed"] else drift["outcome"]
    echo(f"\ndrift check of the last {model.drift.current_window_days} days against production v{drift['version']}: {verdict}")
    for reason in drift["reasons"]:
        echo(f"  - {reason}")
    if drift.get("run_id"):
        echo(f"  report: drift_report.html of run {drift['run_id']} (experiment {config.tracking.experiment_prefix}/churn/monitoring)")

    from mlops.jobs.predict import predict

    scored = predict(config, model, end, tracking=tracking)
    echo(f"\npredict with production v{scored.version}: {scored.rows} rows of the last day scored into {scored.written_to}")

    echo("\nstatus:")
    for entry in status(config, tracking):
        production, previous = entry["production"], entry["previous"]
        echo(f"  {entry['model']}: production {'v' + str(production['version']) if production else 'none'}, "
             f"previous {'v' + str(previous['version']) if previous else 'none'}")
        if production:
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted((production.get("metrics") or {}).items()))
            echo(f"    metrics on its own training holdout: {metrics or 'none logged'}")
    verdict_next = "  (drift says retrain: the gate decides whether a new version beats production on the same holdout)\n" \
        if drift["retrain_needed"] else ""
    echo(f"\ndone in {time.monotonic() - started:.1f}s. Next, try:\n{verdict_next}"
         f"  .venv/bin/mlops --config {paths.config} status\n"
         f"  .venv/bin/mlops --config {paths.config} predict --model churn   # today's scores, rewritten in place\n"
         f"  .venv/bin/mlops --config {paths.config} history --model churn      # every promotion and rejection, with its gate table\n"
         f"  .venv/bin/mlops --config {paths.config} leaderboard --model churn\n"
         f"  .venv/bin/mlops --config {paths.config} compare --model churn --versions 1,2   # side by side on the same fresh rows\n"
         f"  .venv/bin/mlflow ui --backend-store-uri {config.tracking.uri} --port 5000\n"
         f"then browse http://127.0.0.1:5000: experiment {config.tracking.experiment_prefix}/churn, and the model card "
         "under Models > churn > a version.")
