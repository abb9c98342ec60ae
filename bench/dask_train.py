"""The same window trained locally and with `training.engine: dask` on a LocalCluster of 2 workers
(processes, one thread each): wall time of the training step and holdout quality of both.
On one 2-core machine Dask can only add overhead; the point is that it scales past one machine
and gives the same model quality.

Run: `.venv/bin/python bench/dask_train.py --rows 1000000`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from distributed import LocalCluster

from mlops.config import ModelConfig
from mlops.training.distributed import train_on_dask
from mlops.training.model import predict_encoded, score, train
from mlops.training.window import read_window, split_window

sys.path.insert(0, str(Path(__file__).parent))
from retrain_overhead import generate, window_arguments


def main() -> None:
    args = window_arguments(__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        data = Path(tmp) / "window.parquet"
        cats = generate(data, args.rows, args.features)
        model = ModelConfig.model_validate({
            "name": "bench", "source": {"uri": str(data), "timestamp_column": "ts"}, "target": "label",
            "categorical_features": cats,
            "training": {"split": "time", "params": {"max_depth": args.depth, "learning_rate": 0.1,
                                                     "n_estimators": args.rounds}},
        })
        table = pq.read_table(data)
        loaded = read_window(table.to_batches(max_chunksize=65_536), model, str(data), 1e12, Path(tmp), "empty")
        parts, rows, _ = split_window(loaded, model)
        params = model.training.params.as_dict()
        started = time.perf_counter()
        local = train(loaded.encoding, parts, params, model.training.seed)
        local_wall = time.perf_counter() - started
        local_metrics = score(predict_encoded(local, parts.test), parts.y_test, 2)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            started = time.perf_counter()
            booster = train_on_dask(cluster.scheduler_address, loaded.encoding, rows, params, model.training.seed, 30)
            dask_wall = time.perf_counter() - started
        dask_metrics = score(predict_encoded(booster, parts.test), parts.y_test, 2)
        print(f"{args.rows:,} rows x {args.features}, {args.rounds} rounds, depth {args.depth}")
        print(f"local  {local_wall:6.1f} s  roc_auc {local_metrics['roc_auc']:.4f}  accuracy {local_metrics['accuracy']:.4f}")
        print(f"dask   {dask_wall:6.1f} s  roc_auc {dask_metrics['roc_auc']:.4f}  accuracy {dask_metrics['accuracy']:.4f}"
              f"  (LocalCluster, 2 worker processes x 1 thread)")
        print(f"ratio  {dask_wall / local_wall:.2f}x wall, roc_auc difference "
              f"{dask_metrics['roc_auc'] - local_metrics['roc_auc']:+.4f}")


if __name__ == "__main__":
    main()
