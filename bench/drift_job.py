"""drift-check end to end (`python -m mlops drift-check`, a child process: imports, MLflow, the
window folded batch by batch, the reports logged) against a production model that mlops trained
itself on a smaller sample into a throwaway SQLite store, beside bare pyarrow on the same window
in a child process of its own:

- `--scan table` (default): the bare read of the window into one table. Target <= 3x.
- `--scan stream`: the bare streaming scan (`pyarrow.dataset` to_batches, window filter, nothing
  kept). With `--rows 10000000 --features 100`: target peak RSS <= 2 GB, wall <= 3x.
- `--server`: drift-check talks to a real `mlflow server` on the same store (as deployed) instead
  of opening the embedded SQLite store itself, which spares it SQLAlchemy's store and its schema
  check at start.

The Parquet file is written in chunks under --workdir (never held whole). Prints ours, the bare
baseline, the ratio (medians of --repeat runs) and both peak RSS.
Run: `.venv/bin/python bench/drift_job.py --rows 1000000 --features 20`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow_server import served

END = datetime(2024, 6, 1, tzinfo=UTC)
WINDOW_DAYS = 7
LEVELS = np.array([f"level-{i}" for i in range(8)])

CONFIG = """\
tracking:
  uri: sqlite:///{workdir}/mlflow.db
  artifact_location: {workdir}/artifacts
  experiment_prefix: bench
models:
  - name: bench
    source:
      uri: {data}
      timestamp_column: ts
    target: label
    categorical_features: [{categorical}]
    training:
      window_days: 60
      test_fraction: 0.2
      split: time
      seed: 1
      params: {{max_depth: 4, learning_rate: 0.2, n_estimators: 50}}
    promotion:
      min_metrics: {{accuracy: 0.5}}
      compare_metric: accuracy
    drift:
      current_window_days: {window_days}
"""

BARE = """\
import sys
import pyarrow as pa, pyarrow.compute as pc, pyarrow.dataset as ds
from datetime import datetime
start, end = (pa.scalar(datetime.fromisoformat(v), type=pa.timestamp("us", tz="UTC")) for v in sys.argv[2:4])
dataset = ds.dataset(sys.argv[1])
window = (pc.field("ts") >= start) & (pc.field("ts") < end)
if sys.argv[4] == "table":
    rows = dataset.to_table(filter=window).num_rows
else:
    rows = sum(batch.num_rows for batch in dataset.to_batches(filter=window))
print(rows)
"""


def chunk(rng: np.random.Generator, rows: int, features: int, start: datetime, seconds: float, labelled: float,
          shift: float) -> pa.Table:
    stamps = start + np.sort(rng.random(rows)) * timedelta(seconds=seconds)
    columns: dict[str, pa.Array] = {"ts": pa.array(stamps, type=pa.timestamp("us", tz="UTC"))}
    signal = np.zeros(rows)
    for i in range(features):
        if i % 10 == 9:  # one feature in ten is categorical
            codes = rng.integers(0, LEVELS.size, rows)
            columns[f"f{i:03d}"] = pa.array(LEVELS[codes])
            signal += (codes % 2) * 0.3
        else:
            values = rng.normal(shift if i == 0 else 0.0, 1.0, rows)
            columns[f"f{i:03d}"] = pa.array(values)
            signal += values / (1 + i)
    label = np.where(rng.random(rows) < 1 / (1 + np.exp(-signal)), "yes", "no").astype(object)
    label[rng.random(rows) >= labelled] = None
    columns["label"] = pa.array(label, type=pa.string())
    return pa.table(columns)


def write_data(path: Path, rows: int, train_rows: int, features: int, chunk_rows: int, labelled: float) -> None:
    """Training rows over the 53 days before the window, then the window's rows over its 7 days."""
    rng = np.random.default_rng(0)
    window_start = END - timedelta(days=WINDOW_DAYS)
    train_start = window_start - timedelta(days=53)
    writer: pq.ParquetWriter | None = None
    parts = [(train_rows, train_start, window_start, 1.0, 0.0), (rows, window_start, END, labelled, 0.2)]
    for total, start, stop, share, shift in parts:
        span = (stop - start).total_seconds()
        for first in range(0, total, chunk_rows):
            n = min(chunk_rows, total - first)
            offset = start + timedelta(seconds=span * first / total)
            table = chunk(rng, n, features, offset, span * n / total, share, shift)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=min(n, 131_072))
    if writer is not None:
        writer.close()


def child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of a child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)  # the child's own peak RSS, not the bench's
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            raise SystemExit(f"{argv[:4]} failed ({process.returncode}):\n{err.read().decode()[-3000:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the drift-check window")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--train-rows", type=int, default=100_000, help="rows mlops trains the production model on")
    parser.add_argument("--labelled", type=float, default=0.1, help="share of the window's rows with a label")
    parser.add_argument("--chunk-rows", type=int, default=250_000, help="rows generated and written at a time")
    parser.add_argument("--scan", choices=("table", "stream"), default="table", help="the bare baseline")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="kept and reused when given (default: a temp dir)")
    parser.add_argument("--server", action="store_true", help="drift-check against an mlflow server on the store")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mlops-drift-job-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / f"window-{args.rows}x{args.features}.parquet"
    config_path = workdir / f"mlops-{args.rows}x{args.features}.yaml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    env.pop("MLOPS_PUSHGATEWAY_URL", None)
    if not data.exists():
        started = time.perf_counter()
        write_data(data, args.rows, args.train_rows, args.features, args.chunk_rows, args.labelled)
        print(f"wrote {data} ({data.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
    if not config_path.exists():
        categorical = ", ".join(f"f{i:03d}" for i in range(args.features) if i % 10 == 9)
        config_path.write_text(CONFIG.format(workdir=workdir, data=data, categorical=categorical,
                                             window_days=WINDOW_DAYS), encoding="utf-8")
        from mlops.config import load_config
        from mlops.jobs.retrain import retrain

        config = load_config(config_path, environ={})
        started = time.perf_counter()
        result = retrain(config, config.models[0], END - timedelta(days=WINDOW_DAYS), run_key="bench")
        print(f"production model: {result.outcome} in {time.perf_counter() - started:.1f} s")

    with ExitStack() as stack:
        if args.server:
            config_path = stack.enter_context(served(workdir / "mlflow.db", workdir / "artifacts", config_path, env))
        ours_argv = [sys.executable, "-m", "mlops", "--config", str(config_path), "drift-check", "--model", "bench",
                     "--as-of", END.isoformat()]
        window = [(END - timedelta(days=WINDOW_DAYS)).isoformat(), END.isoformat()]
        bare_argv = [sys.executable, "-c", BARE, str(data), *window, args.scan]
        ours, bare = [], []
        for _ in range(args.repeat):
            ours.append(child(ours_argv, env)[:2])
            bare.append(child(bare_argv, env)[:2])
    wall, rss = statistics.median(w for w, _ in ours), max(r for _, r in ours)
    bare_wall, bare_rss = statistics.median(w for w, _ in bare), max(r for _, r in bare)
    print(f"window {args.rows:,} rows x {args.features} features, bare = pyarrow {args.scan} read, "
          f"median of {args.repeat}")
    print(f"ours (drift-check end to end{', mlflow server' if args.server else ''}): {wall:6.2f} s  "
          f"peak RSS {rss:7.0f} MB")
    print(f"bare (pyarrow {args.scan:6}):        {bare_wall:6.2f} s  peak RSS {bare_rss:7.0f} MB")
    print(f"ratio: {wall / bare_wall:.2f}x wall, {rss / bare_rss:.2f}x peak RSS")


if __name__ == "__main__":
    main()
