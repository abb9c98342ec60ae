"""retrain end to end (`mlops retrain`, embedded MLflow store) against a bare script that reads the
same Parquet window with pyarrow and fits XGBoost with the same params and the same time split;
each in a child process of its own, wall time and peak RSS (wait4's ru_maxrss) per run, median of
`--runs`. Targets: ours <= 1.2x the bare wall time and <= 1.2x its peak memory.

Run: `.venv/bin/python bench/retrain_overhead.py --rows 1000000` (and `--rows 5000000`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
CATEGORIES = 4
CHUNK = 500_000

BARE = textwrap.dedent("""
    import sys
    import numpy as np, pandas as pd, pyarrow.parquet as pq, xgboost as xgb
    path, cats, rounds, depth = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4])
    frame = pq.read_table(path, read_dictionary=cats).to_pandas()
    frame = frame[frame["label"].notna()]
    cut = frame["ts"].quantile(0.8)
    test = (frame["ts"] >= cut).to_numpy()
    y = (frame.pop("label") == "yes").to_numpy().astype(int)
    x = frame.drop(columns=["ts"])
    dtrain = xgb.DMatrix(x[~test], label=y[~test], enable_categorical=True)
    params = {"tree_method": "hist", "max_depth": depth, "learning_rate": 0.1, "objective": "binary:logistic",
              "eval_metric": "logloss", "seed": 42, "nthread": 0}
    booster = xgb.train(params, dtrain, num_boost_round=rounds)
    proba = booster.predict(xgb.DMatrix(x[test], enable_categorical=True))
    print("bare accuracy", ((proba > 0.5) == y[test]).mean())
""")


def generate(path: Path, rows: int, features: int, seed: int = 0) -> list[str]:
    """`features` columns, CATEGORIES of them text categoricals, the rest numeric; written in chunks."""
    rng = np.random.default_rng(seed)
    cats = [f"c{i}" for i in range(CATEGORIES)]
    writer = None
    start = np.datetime64((AS_OF - timedelta(days=300)).replace(tzinfo=None), "us")
    for first in range(0, rows, CHUNK):
        n = min(CHUNK, rows - first)
        columns: dict[str, pa.Array] = {
            "ts": pa.array(start + np.arange(first, first + n) * np.timedelta64(int(250 * 86400 / rows * 1e6), "us"),
                           type=pa.timestamp("us", tz="UTC")),
        }
        signal = np.zeros(n)
        for i in range(features - CATEGORIES):
            x = rng.normal(size=n)
            signal += x * (1.0 / (i + 1))
            columns[f"x{i}"] = pa.array(x)
        for i, name in enumerate(cats):
            values = rng.integers(0, 5 + 10 * i, n)
            signal += (values % 3 == 0) * 0.5
            columns[name] = pa.array(np.char.add("v", values.astype(str)))
        label = np.where(signal + rng.normal(0, 1, n) > 0.6, "yes", "no").astype(object)
        label[rng.random(n) < 0.002] = None
        columns["label"] = pa.array(list(label), type=pa.string())
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()
    return cats


def config(folder: Path, data: Path, cats: list[str], rounds: int, depth: int, budget_mb: float) -> Path:
    path = folder / "mlops.yaml"
    path.write_text(textwrap.dedent(f"""
        tracking: {{uri: "sqlite:///{folder}/mlflow.db", artifact_location: "{folder}/artifacts"}}
        locks: {{directory: "{folder}/locks"}}
        models:
          - name: bench
            source: {{uri: "{data}", timestamp_column: ts}}
            target: label
            categorical_features: [{", ".join(cats)}]
            training:
              split: time
              memory_budget_mb: {budget_mb}
              params: {{max_depth: {depth}, learning_rate: 0.1, n_estimators: {rounds}}}
            promotion: {{min_metrics: {{}}}}
    """), encoding="utf-8")
    return path


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    stderr = child.stderr.read().decode() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:4]} failed: {stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def window_arguments(description: str) -> argparse.ArgumentParser:
    """The generated window's size and the model's params, shared with bench/dask_train.py."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=22)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--depth", type=int, default=6)
    return parser


def main() -> None:
    parser = window_arguments(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budget-mb", type=float, default=4096, help="training.memory_budget_mb for ours")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MLOPS_ACTOR": "bench"}
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        folder = Path(tmp)
        data = folder / "window.parquet"
        cats = generate(data, args.rows, args.features)
        print(f"{args.rows:,} rows x {args.features} features ({CATEGORIES} categorical), {args.rounds} rounds, "
              f"depth {args.depth}; parquet {data.stat().st_size / 2**20:.0f} MB")
        ours_wall, ours_rss, bare_wall, bare_rss = [], [], [], []
        for run in range(args.runs):
            cfg = config(folder, data, cats, args.rounds, args.depth, args.budget_mb)
            ours = [sys.executable, "-m", "mlops", "--config", str(cfg), "retrain", "--model", "bench",
                    "--as-of", AS_OF.date().isoformat(), "--run-key", f"bench-{run}"]
            wall, rss = measure(ours, env)
            ours_wall.append(wall)
            ours_rss.append(rss)
            wall, rss = measure([sys.executable, "-c", BARE, str(data), ",".join(cats), str(args.rounds),
                                 str(args.depth)], env)
            bare_wall.append(wall)
            bare_rss.append(rss)
            print(f"run {run + 1}: ours {ours_wall[-1]:.1f} s {ours_rss[-1]:.0f} MB | bare {bare_wall[-1]:.1f} s "
                  f"{bare_rss[-1]:.0f} MB")
        ow, orss = statistics.median(ours_wall), statistics.median(ours_rss)
        bw, brss = statistics.median(bare_wall), statistics.median(bare_rss)
        print(f"wall   ours {ow:6.1f} s   bare {bw:6.1f} s   ratio {ow / bw:.2f}x (target <= 1.2x)")
        print(f"memory ours {orss:6.0f} MB  bare {brss:6.0f} MB  ratio {orss / brss:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
