"""Training on a dask.distributed cluster (`training.engine: dask`) with `xgboost.dask`.

The job reads and encodes the window as for local training, then scatters the training rows to
the cluster's workers a batch at a time (from a spilled window, never holding them all), so the
training itself uses the workers' memory and cores. The result is a plain booster in XGBoost's
native format: registry, gate, profile and lineage do not know which engine trained it.
Dask is imported here only, when this engine is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from mlops.config import redact_uri
from mlops.errors import ConfigError, ServiceUnavailable
from mlops.training.model import Labelled, booster_params, model_input
from mlops.training.pyfunc_model import LabelledBooster
from mlops.training.window import TrainingRows

PARTITION_ROWS = 65_536


def train_on_dask(address: str, labelled: Labelled, rows: TrainingRows, params: dict[str, Any], seed: int,
                  connect_seconds: float) -> LabelledBooster:
    import dask.dataframe as dd
    import xgboost as xgb
    from distributed import Client
    from xgboost import dask as dxgb

    try:
        client = Client(address, timeout=connect_seconds, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise ServiceUnavailable(f"dask scheduler {redact_uri(address)} unreachable: {_first_line(exc)}") from exc
    with client, client.as_current():  # dask collections find the client through the context
        features, labels, meta = [], [], pd.DataFrame()
        for frame, y in _partitions(rows, labelled.features):
            meta = frame.iloc[:0]
            features.append(client.scatter(frame))  # type: ignore[no-untyped-call]
            labels.append(client.scatter(pd.Series(y, dtype=np.int64)))  # type: ignore[no-untyped-call]
        x_frame = dd.from_delayed(features, meta=meta, verify_meta=False)
        y_frame = dd.from_delayed(labels, meta=pd.Series([], dtype=np.int64), verify_meta=False)
        settings, rounds = booster_params(len(labelled.classes), params, seed)
        settings.pop("nthread", None)  # each worker uses its own threads
        matrix = dxgb.DaskQuantileDMatrix(client, x_frame, y_frame, enable_categorical=True,
                                          max_bin=settings.get("max_bin"))
        try:
            output = dxgb.train(client, settings, matrix, num_boost_round=rounds)
        except xgb.core.XGBoostError as exc:
            raise ConfigError(f"training.params rejected by XGBoost: {str(exc).splitlines()[0][:300]}") from exc
    return LabelledBooster(output["booster"], labelled.features, labelled.classes)


def _partitions(rows: TrainingRows, features: list[dict[str, Any]]) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    for frame, y in rows.pieces():
        data = model_input(frame, features)
        for start in range(0, len(data), PARTITION_ROWS):
            yield data.iloc[start:start + PARTITION_ROWS].reset_index(drop=True), y[start:start + PARTITION_ROWS]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]
