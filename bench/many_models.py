"""Many models: `retrain --all` over N small models in one process, against a bare loop that
does each model's own work (pyarrow read, the same time split, an XGBoost fit with the same
params, holdout scoring) and nothing else. The difference per model is what mlops adds:
tracking, gate, registry, profile, model card, alias moves, audit event.

Target: per-model overhead <= 1 s beyond its own training at 50 models x 20k rows.
Also reports drift-check --all and predict --all per model (no bare counterpart: their work is
mostly what the bare loop would do anyway).
Run: `.venv/bin/python bench/many_models.py [--models 50] [--rows 20000]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from mlops.jobs.demo import make_dataset

DAYS = 120
PARAMS = {"max_depth": 4, "learning_rate": 0.1, "n_estimators": 100}
CATEGORICALS = ["plan", "region", "contract"]

MODEL = """\
  - name: {name}
    source:
      uri: {data}
      timestamp_column: event_time
      id_columns: [customer_id]
    target: churned
    categorical_features: [plan, region, contract]
    training:
      window_days: {days}
      test_fraction: 0.2
      split: time
      seed: 42
      params: {params}
    promotion:
      min_metrics: {{accuracy: 0.5}}
      compare_metric: f1
    drift:
      current_window_days: 14
      min_rows: 100
    predictions:
      uri: {predictions}
"""

# The bare loop: exactly each model's own work, no tracking. Runs in a child like ours.
BARE = """
import json, sys, time
import numpy as np, pandas as pd, pyarrow.dataset as ds, pyarrow.compute as pc, xgboost as xgb
from sklearn.metrics import f1_score
paths, params, categoricals, start, end = json.loads(sys.argv[1])
start, end = pd.Timestamp(start), pd.Timestamp(end)
rounds = params.pop("n_estimators")
for path in paths:
    table = ds.dataset(path).to_table(filter=(pc.field("event_time") >= start) & (pc.field("event_time") < end))
    frame = table.to_pandas().sort_values("event_time")
    cut = int(len(frame) * 0.8)
    y = (frame.pop("churned") == "yes").to_numpy(dtype=int)
    x = frame.drop(columns=["customer_id", "event_time"])
    for name in categoricals:
        x[name] = x[name].astype("category")
    train = xgb.DMatrix(x.iloc[:cut], label=y[:cut], enable_categorical=True)
    booster = xgb.train({**params, "tree_method": "hist", "objective": "binary:logistic", "seed": 42}, train, rounds)
    proba = booster.predict(xgb.DMatrix(x.iloc[cut:], enable_categorical=True))
    f1_score(y[cut:], proba > 0.5)
"""


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])}... exited {done.returncode}:\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--rows", type=int, default=20_000, help="rows per model over its training window")
    args = parser.parse_args()
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="mlops-many-") as tmp:
        root = Path(tmp)
        paths = []
        for i in range(args.models):
            path = root / "data" / f"m{i:03d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(make_dataset(end, seed=i, days=DAYS, rows_per_day=max(1, args.rows // DAYS), shift_days=0), path)
            paths.append(str(path))
        params = "{" + ", ".join(f"{k}: {v}" for k, v in PARAMS.items()) + "}"
        models = "".join(MODEL.format(name=f"m{i:03d}", data=p, days=DAYS, params=params, predictions=root / "predictions")
                         for i, p in enumerate(paths))
        config = root / "mlops.yaml"
        config.write_text(f"tracking:\n  uri: sqlite:///{root}/mlflow.db\n  artifact_location: {root}/artifacts\n"
                          f"locks:\n  directory: {root}/locks\nmodels:\n{models}", encoding="utf-8")
        mlops = [sys.executable, "-m", "mlops", "--config", str(config)]
        as_of = ["--as-of", end.date().isoformat()]

        bare = timed([sys.executable, "-c", BARE, json.dumps([paths, dict(PARAMS), CATEGORICALS,
                                                                (end - timedelta(days=DAYS)).isoformat(), end.isoformat()])])
        ours = timed([*mlops, "retrain", "--all", *as_of])
        drift = timed([*mlops, "drift-check", "--all", *as_of])
        scoring = timed([*mlops, "predict", "--all", *as_of])

    n = args.models
    per_model = (ours - bare) / n
    print(f"{n} models x {args.rows} rows (training window {DAYS} days)")
    print(f"  retrain --all      ours {ours:7.1f} s   bare loop {bare:6.1f} s   ratio {ours / bare:4.1f}x   "
          f"overhead per model {per_model:5.2f} s (target <= 1 s) {'PASS' if per_model <= 1 else 'MISS'}")
    print(f"  drift-check --all  {drift:7.1f} s   {drift / n:5.2f} s per model")
    print(f"  predict --all      {scoring:7.1f} s   {scoring / n:5.2f} s per model")


if __name__ == "__main__":
    main()
