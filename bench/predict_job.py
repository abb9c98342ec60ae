"""The predict job end to end against the bare libraries, measured in the same run.

`mlops predict` (a child process: CLI, registry, model load, streamed read, scoring, Parquet
write) on N rows x F numeric features, against a bare script in a child process doing a
streamed pyarrow read, `Booster.inplace_predict` with the same booster and a Parquet write of
the same rows (and, up to 2M rows, the same with the whole table read at once). Wall time is the
median of --repeats runs; peak RSS is each child's own (wait4). The data are generated in
chunks into a Parquet file cached under --cache; the production model is trained through mlops
(50k rows) into a throwaway SQLite store in the same folder.

Targets: wall <= 1.5x the bare streamed pipeline; peak RSS <= 2 GB at 10M rows. `--server`
runs predict against a real `mlflow server` on the same store, as deployed.
Run: `.venv/bin/python bench/predict_job.py --rows 1000000` (and `--rows 10000000`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from mlflow_server import served

END = datetime(2026, 11, 23, tzinfo=UTC)
NAME = "bench"
CHUNK_ROWS = 250_000
ROW_GROUP_ROWS = 131_072
BATCH_ROWS = 65_536


def features(n: int) -> list[str]:
    return [f"f{i:03d}" for i in range(n)]


def make_chunk(rows: int, n_features: int, seed: int, first_id: int, labelled: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, n_features))
    start = np.datetime64((END - timedelta(days=1)).replace(tzinfo=None), "us")
    offsets = np.sort(rng.uniform(0, 86_400e6, rows)).astype("timedelta64[us]")
    columns: dict[str, pa.Array] = {
        "customer_id": pa.array(np.arange(first_id, first_id + rows)),
        "event_time": pa.array(start + offsets, type=pa.timestamp("us", tz="UTC")),
    }
    columns.update({name: pa.array(x[:, i]) for i, name in enumerate(features(n_features))})
    if labelled:
        weights = np.random.default_rng(1).normal(size=n_features)
        logit = x @ weights / np.sqrt(n_features) * 2 + rng.normal(scale=0.5, size=rows)
        columns["label"] = pa.array(np.where(logit > 0, "yes", "no"))
    return pa.table(columns)


def generate(path: Path, rows: int, n_features: int, labelled: bool = False) -> Path:
    """`rows` rows written chunk by chunk: never more than one chunk in memory."""
    if path.is_file():
        return path
    scratch = path.with_name(path.name + ".partial")
    writer: pq.ParquetWriter | None = None
    for i, first in enumerate(range(0, rows, CHUNK_ROWS)):
        chunk = make_chunk(min(CHUNK_ROWS, rows - first), n_features, seed=100 + i, first_id=first, labelled=labelled)
        writer = writer or pq.ParquetWriter(scratch, chunk.schema)
        writer.write_table(chunk, row_group_size=ROW_GROUP_ROWS)
    assert writer is not None
    writer.close()
    scratch.replace(path)
    return path


def config(folder: Path, source: Path, out: Path) -> Path:
    text = {
        "tracking": {"uri": f"sqlite:///{folder / 'mlflow.db'}", "artifact_location": str(folder / "artifacts"),
                     "experiment_prefix": "bench"},
        "models": [{
            "name": NAME, "target": "label",
            "source": {"uri": str(source), "timestamp_column": "event_time", "id_columns": ["customer_id"]},
            "training": {"window_days": 2, "split": "random", "seed": 1, "params": {"max_depth": 6, "n_estimators": 100}},
            "promotion": {"min_metrics": {"accuracy": 0.6}},
            "predictions": {"uri": str(out), "window_days": 2},
        }],
    }
    path = folder / f"{source.stem}.yaml"
    path.write_text(yaml.safe_dump(text))
    return path


def production_booster(folder: Path, n_features: int) -> Path:
    """Train the production model through mlops once; its booster file, for the bare script."""
    booster = folder / "model.ubj"
    if booster.is_file():
        return booster
    train = generate(folder / "train.parquet", 50_000, n_features, labelled=True)
    cfg = config(folder, train, folder / "unused")
    subprocess.run([sys.executable, "-m", "mlops", "--config", str(cfg), "retrain", "--model", NAME,
                    "--as-of", END.date().isoformat()], check=True)
    from mlops.config import load_config
    from mlops.jobs.common import load_version
    from mlops.tracking import PRODUCTION, Tracking

    tracking = Tracking(load_config(cfg, environ={}).tracking)
    production = tracking.alias(NAME, PRODUCTION)
    assert production is not None, "the bench model was not promoted"
    load_version(tracking, NAME, production.version).booster.save_model(str(booster))
    return booster


# Run by a small interpreter so the peak RSS is the job's own: a child forked straight from this
# (large) process would count this process's pages in its ru_maxrss until it execs.
_LAUNCHER = """
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - started
print(code, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def child(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in GB) of one child process."""
    launched = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], capture_output=True, text=True, check=True)
    code, wall, rss_kb = launched.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"{command[:4]} failed with exit {code}")
    return float(wall), int(rss_kb) / 1024 / 1024


def bare(data: str, booster_file: str, out: str, whole: bool) -> None:
    """The bare pipeline: read, inplace_predict, write; the same columns mlops writes."""
    import pyarrow.dataset as pads
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(booster_file)
    names = booster.feature_names or []
    if whole:
        batches = pads.dataset(data, format="parquet").to_table().to_batches()
    else:  # row group by row group; the dataset scanner's defaults pre-buffer the whole file (12.7 GB at 10M)
        batches = pq.ParquetFile(data, pre_buffer=False).iter_batches(batch_size=BATCH_ROWS)
    writer: pq.ParquetWriter | None = None
    for batch in batches:
        x = np.column_stack([batch.column(name).to_numpy() for name in names])
        p = booster.inplace_predict(x)
        best = p >= 0.5
        out_batch = pa.record_batch({
            "customer_id": batch.column("customer_id"), "event_time": batch.column("event_time"),
            "prediction": pa.array(np.where(best, "yes", "no")), "score": pa.array(np.where(best, p, 1 - p).astype("float64")),
        })
        writer = writer or pq.ParquetWriter(out, out_batch.schema)
        writer.write_batch(out_batch)
    assert writer is not None
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mlops-bench-predict"))
    parser.add_argument("--bare", nargs=3, metavar=("DATA", "BOOSTER", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--server", action="store_true", help="predict against an mlflow server on the store")
    args = parser.parse_args()
    if args.bare:
        bare(*args.bare, whole=args.whole)
        return

    folder = args.cache / f"f{args.features}"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = generate(folder / f"rows-{args.rows}.parquet", args.rows, args.features)
    booster = production_booster(folder, args.features)
    print(f"data and model ready in {time.perf_counter() - started:.0f} s: {data} ({data.stat().st_size / 1e9:.2f} GB)")

    out = folder / f"out-{args.rows}"
    cfg = config(folder, data, out)
    with ExitStack() as stack:
        if args.server:
            cfg = stack.enter_context(served(folder / "mlflow.db", folder / "artifacts", cfg, dict(os.environ)))
        ours_cmd = [sys.executable, "-m", "mlops", "--config", str(cfg), "predict", "--model", NAME, "--as-of",
                    END.date().isoformat()]
        bare_out = str(folder / f"bare-{args.rows}.parquet")
        ours_name = "mlops predict" + (" (server)" if args.server else "")
        variants = {ours_name: ours_cmd,
                    "bare, streamed": [sys.executable, __file__, "--bare", str(data), str(booster), bare_out]}
        if args.rows <= 2_000_000:
            variants["bare, whole table"] = [*variants["bare, streamed"], "--whole"]
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, command in variants.items():
                results[name].append(child(command))

    ours_file = out / NAME / f"day={END.date().isoformat()}" / "predictions.parquet"
    ours_scores = pq.read_table(ours_file, columns=["score"]).column("score").to_numpy()
    bare_scores = pq.read_table(bare_out, columns=["score"]).column("score").to_numpy()
    assert len(ours_scores) == len(bare_scores) == args.rows, (len(ours_scores), len(bare_scores))
    same = np.allclose(ours_scores, bare_scores, rtol=0, atol=1e-6)

    print(f"rows {args.rows:,} x {args.features} features, {args.repeats} runs, median wall, peak RSS of the process")
    wall = {name: statistics.median(w for w, _ in runs) for name, runs in results.items()}
    for name, runs in results.items():
        print(f"{name:20s} {wall[name]:7.2f} s   peak RSS {max(r for _, r in runs):5.2f} GB")
    print(f"ratio (ours / bare streamed)  {wall[ours_name] / wall['bare, streamed']:.2f}x  (target <= 1.5x)")
    if "bare, whole table" in wall:
        print(f"ratio (ours / bare whole)     {wall[ours_name] / wall['bare, whole table']:.2f}x")
    print(f"scores equal to the bare ones: {same}")


if __name__ == "__main__":
    main()
