"""The window read in batches: in memory, spilled to disk (external memory), or trained on a real
Dask LocalCluster; each must give the same holdout, encoding and lineage as the in-memory path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops.categories import category_keys
from mlops.config import ModelConfig
from mlops.errors import ServiceUnavailable
from mlops.training.dataset import category_codes, prepare
from mlops.training.external import external_matrix
from mlops.training.fingerprint import fingerprint
from mlops.training.model import fit, predict_encoded, score, train
from mlops.training.window import read_window, split_window


def model_config(split: str = "time", **training: object) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": "m", "source": {"uri": "x.parquet", "timestamp_column": "ts"}, "target": "label",
        "categorical_features": ["plan", "code"],
        "training": {"split": split, "params": {"n_estimators": 40, "max_depth": 4}, **training},
    })


def window_table(n: int = 20_000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    plan = rng.choice(["basic", "plus", "pro"], n)
    code = rng.integers(1, 5, n).astype(float)
    code[rng.random(n) < 0.05] = np.nan  # an int-coded category with a missing value arrives as float
    logit = 1.5 * x + (plan == "pro") - 0.8 * (code == 2) + rng.normal(0, 0.5, n)
    label = np.where(logit > 0, "yes", "no").astype(object)
    label[rng.random(n) < 0.01] = None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return pa.table({
        "ts": pa.array([start + timedelta(minutes=i) for i in range(n)], type=pa.timestamp("us", tz="UTC")),
        "x": x, "noise": rng.normal(size=n), "plan": plan, "code": code, "label": pa.array(list(label)),
    })


def batches(table: pa.Table, rows: int = 3_000) -> Iterator[pa.RecordBatch]:
    yield from table.to_batches(max_chunksize=rows)


@pytest.mark.parametrize("values", [
    pa.array([1, 2, None, 2, 3] * 10),
    pa.array([1.0, 2.5, np.nan, None, -0.0, 0.0, 1e20] * 10),
    pa.array([True, False, None] * 10),
    pa.array(["a", "b", None, "a", "1"] * 10),
    pa.array(["x", "y", "x"] * 10).dictionary_encode(),
    pa.array([datetime(2026, 1, 1, tzinfo=UTC), None] * 10, type=pa.timestamp("us", tz="UTC")),
])
def test_category_codes_match_the_canonical_keys_of_every_row(values: pa.Array) -> None:
    keys = category_keys(pa.chunked_array([values]).to_pandas())
    categories = sorted(keys.dropna().unique().tolist())
    codes = category_codes(pa.chunked_array([values[:17], values[17:]]), categories)
    expected = np.array([categories.index(k) if k is not None else -1 for k in keys])
    np.testing.assert_array_equal(codes, expected)


def test_fingerprint_is_the_same_for_any_batching_and_order() -> None:
    table = window_table(5_000)
    folded = pa.Table.from_batches(list(batches(table, 777))[::-1])
    assert fingerprint(folded) == fingerprint(table)
    changed = table.set_column(1, "x", pa.array(np.append(table.column("x").to_numpy()[:-1], 9.0)))
    assert fingerprint(changed) != fingerprint(table)


@pytest.mark.parametrize("split", ["time", "random"])
def test_spilled_window_trains_from_disk_with_the_same_holdout(split: str, tmp_path: Path) -> None:
    table, model = window_table(), model_config(split)
    memory = read_window(batches(table), model, "t", 1e12, tmp_path / "a", "empty")
    spilled = read_window(batches(table), model, "t", 50_000, tmp_path, "empty")  # a tiny budget forces the spill
    assert memory.in_memory and not spilled.in_memory and spilled.spill is not None
    assert len(spilled.spill.row_groups) > 3
    assert spilled.encoding == memory.encoding == prepare(table, model, "t").encoding
    assert spilled.fingerprint == memory.fingerprint == fingerprint(table)
    assert spilled.dropped_missing_label == memory.dropped_missing_label > 0

    in_parts, _in_rows, in_example = split_window(memory, model)
    ex_parts, ex_rows, ex_example = split_window(spilled, model)
    pd.testing.assert_frame_equal(ex_parts.test, in_parts.test)  # the gate sees the same holdout
    np.testing.assert_array_equal(ex_parts.y_test, in_parts.y_test)
    np.testing.assert_array_equal(ex_parts.y_train, in_parts.y_train)
    pd.testing.assert_frame_equal(ex_example, in_example)
    assert ex_parts.method == in_parts.method and ex_parts.boundary == in_parts.boundary

    params = dict(model.training.params.as_dict())
    local = train(memory.encoding, in_parts, params, seed=1)
    external = fit(spilled.encoding, external_matrix(ex_rows, tmp_path), params, seed=1)
    local_metrics = score(predict_encoded(local, in_parts.test), in_parts.y_test, 2)
    external_metrics = score(predict_encoded(external, ex_parts.test), ex_parts.y_test, 2)
    assert local_metrics["roc_auc"] > 0.9
    assert external_metrics["roc_auc"] == pytest.approx(local_metrics["roc_auc"], abs=0.01)
    assert external_metrics["accuracy"] == pytest.approx(local_metrics["accuracy"], abs=0.01)


def test_spilled_window_profiles_a_seeded_uniform_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mlops.training.window.PROFILE_SAMPLE_ROWS", 2_000)
    table, model = window_table(), model_config("random")
    first = split_window(read_window(batches(table), model, "t", 50_000, tmp_path / "a", "e"), model)[0]
    again = split_window(read_window(batches(table), model, "t", 50_000, tmp_path / "b", "e"), model)[0]
    assert len(first.train) == 2_000 and len(first.y_train) > 10_000
    pd.testing.assert_frame_equal(first.train, again.train)
    assert abs(first.train["x"].mean()) < 0.1  # uniform over the window, not its first rows


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    # processes=False: two workers as threads of this process, to spare the 2-core machine.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_dask_engine_matches_local_training(dask_cluster: str, tmp_path: Path) -> None:
    from mlops.training.distributed import train_on_dask

    table, model = window_table(), model_config("time")
    for budget, where in ((1e12, "memory"), (50_000, "spilled")):
        loaded = read_window(batches(table), model, "t", budget, tmp_path / where, "e")
        parts, rows, _ = split_window(loaded, model)
        params = dict(model.training.params.as_dict())
        local = score(predict_encoded(train(loaded.encoding, parts, params, 1) if loaded.in_memory else
                                      fit(loaded.encoding, external_matrix(rows, tmp_path / where), params, 1),
                                      parts.test), parts.y_test, 2)
        booster = train_on_dask(dask_cluster, loaded.encoding, rows, params, 1, 10.0)
        assert booster.features == loaded.encoding.features and booster.classes == ["no", "yes"]
        on_dask = score(predict_encoded(booster, parts.test), parts.y_test, 2)
        assert on_dask["roc_auc"] == pytest.approx(local["roc_auc"], abs=0.01), where
        assert on_dask["accuracy"] == pytest.approx(local["accuracy"], abs=0.01), where


def test_unreachable_scheduler_is_service_unavailable(tmp_path: Path) -> None:
    from mlops.training.distributed import train_on_dask

    table, model = window_table(2_000), model_config()
    loaded = read_window(batches(table), model, "t", 1e12, tmp_path, "e")
    _, rows, _ = split_window(loaded, model)
    with pytest.raises(ServiceUnavailable, match=r"dask scheduler tcp://127.0.0.1:1 unreachable"):
        train_on_dask("tcp://127.0.0.1:1", loaded.encoding, rows, {"n_estimators": 2}, 1, 2.0)
