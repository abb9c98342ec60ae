from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import ModelConfig
from mlops.errors import DataError
from mlops.training.dataset import fingerprint, prepare, split
from mlops.training.model import evaluate, train
from mlops.training.pyfunc_model import LabelledBooster


def model_config(**overrides: object) -> ModelConfig:
    base: dict[str, object] = {
        "name": "m",
        "source": {"uri": "x.parquet", "timestamp_column": "ts", "id_columns": ["id"]},
        "target": "label",
        "training": {"params": {"n_estimators": 20, "max_depth": 3}},
    }
    base.update(overrides)
    return ModelConfig.model_validate(base)


def table(labels: list[object], n: int = 400, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    y = rng.choice(np.array(labels, dtype=object), n)
    signal = np.array([labels.index(v) for v in y], dtype=float)
    return pa.table({
        "id": np.arange(n),
        "ts": pa.array([start + timedelta(hours=i) for i in range(n)], type=pa.timestamp("us", tz="UTC")),
        "x": signal + rng.normal(0, 0.3, n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "label": pa.array(list(y)),
    })


@pytest.mark.parametrize("labels", [["no", "yes"], [0, 1], [False, True], ["a", "b", "c"], [3, 7, 11]])
def test_label_round_trip_returns_original_values(labels: list[object], tmp_path: Path) -> None:
    data = table(labels)
    dataset = prepare(data, model_config(), "test")
    assert dataset.classes == sorted(labels, key=lambda v: (type(v).__name__, v))
    assert {f["name"]: f["kind"] for f in dataset.features} == {"x": "numeric", "colour": "categorical"}
    parts = split(dataset, model_config())
    booster = train(dataset, parts, {"n_estimators": 20}, seed=1)
    booster.save(tmp_path / "m")
    reloaded = LabelledBooster.load(tmp_path / "m")
    predicted = reloaded.predict(parts.test)
    assert set(predicted.tolist()) <= set(labels)
    truth = np.asarray(dataset.classes, dtype=object)[parts.y_test]
    assert (predicted == truth).mean() > 0.9  # the label is a function of x: a working model is near-perfect
    metrics = evaluate(reloaded, parts.test, parts.y_test)
    assert metrics["accuracy"] > 0.9 and "log_loss" in metrics


def test_missing_labels_are_dropped_not_negative() -> None:
    data = table(["no", "yes"]).to_pandas()
    data.loc[:49, "label"] = None
    dataset = prepare(pa.Table.from_pandas(data, preserve_index=False), model_config(), "test")
    assert dataset.dropped_missing_label == 50
    assert len(dataset.labels) == 350


def test_time_split_never_puts_future_rows_in_training() -> None:
    dataset = prepare(table(["no", "yes"]), model_config(), "test")
    parts = split(dataset, model_config())
    assert parts.method == "time"
    assert parts.train["ts"].max() < parts.test["ts"].min()
    assert len(parts.test) == pytest.approx(80, abs=2)


def test_random_split_is_stratified_and_seeded() -> None:
    config = model_config(source={"uri": "x.parquet"}, training={"split": "random", "seed": 3})
    data = table(["no", "yes"]).drop_columns(["ts"])
    dataset = prepare(data, config, "test")
    first, second = split(dataset, config), split(dataset, config)
    assert first.method == "random-stratified"
    np.testing.assert_array_equal(first.y_test, second.y_test)
    assert abs(first.y_test.mean() - dataset.labels.mean()) < 0.02


def test_missing_columns_and_single_class_are_data_errors() -> None:
    with pytest.raises(DataError, match="target column 'nope' not found"):
        prepare(table(["a", "b"]), model_config(target="nope"), "src")
    with pytest.raises(DataError, match="feature column 'z' not found"):
        prepare(table(["a", "b"]), model_config(features=["x", "z"]), "src")
    with pytest.raises(DataError, match="single class"):
        prepare(table(["a"]), model_config(), "src")


def test_unseen_category_scores_as_missing(tmp_path: Path) -> None:
    dataset = prepare(table(["no", "yes"]), model_config(), "test")
    parts = split(dataset, model_config())
    booster = train(dataset, parts, {"n_estimators": 10}, seed=1)
    frame = parts.test.head(3).copy()
    frame["colour"] = ["purple", None, "red"]
    assert booster.predict_proba(frame).shape == (3, 2)
    with pytest.raises(ValueError, match="lacks feature columns: x"):
        booster.predict(frame.drop(columns=["x"]))


def test_fingerprint_ignores_row_order_but_not_content() -> None:
    data = table(["no", "yes"])
    shuffled = data.take(np.random.default_rng(1).permutation(data.num_rows))
    assert fingerprint(data) == fingerprint(shuffled)
    changed = pd.DataFrame(data.to_pandas())
    changed.loc[0, "x"] += 1
    assert fingerprint(pa.Table.from_pandas(changed, preserve_index=False)) != fingerprint(data)


def test_category_codes_encode_the_same_whatever_the_dtype(tmp_path: Path) -> None:
    """An int-coded categorical with a NaN arrives as float ("1.0"), a bool as 0/1, a CSV as text:
    the model must see the same categories, not 100% unseen ones."""
    rng = np.random.default_rng(3)
    n = 600
    code = rng.integers(1, 4, n)
    flag = rng.random(n) < 0.5
    label = np.where((code == 2) ^ flag, "yes", "no")
    data = pa.table({"code": code, "flag": flag, "label": label})
    model = model_config(source={"uri": "x.parquet"}, categorical_features=["code", "flag"])
    dataset = prepare(data, model, "test")
    assert {f["name"]: f.get("categories") for f in dataset.features} == {"code": ["1", "2", "3"], "flag": ["0", "1"]}
    booster = train(dataset, split(dataset, model), {"n_estimators": 30, "max_depth": 3}, seed=1)
    as_trained = booster.predict_proba(pd.DataFrame({"code": code, "flag": flag}))
    for variant in (
        pd.DataFrame({"code": code.astype(float), "flag": flag.astype(int)}),
        pd.DataFrame({"code": code.astype(str), "flag": flag.astype(int).astype(str)}),
        pd.DataFrame({"code": pd.array(code, dtype="Int64"), "flag": flag.astype(float)}),
    ):
        np.testing.assert_allclose(booster.predict_proba(variant), as_trained)
    with_nan = pd.DataFrame({"code": np.append(code[:-1].astype(float), np.nan), "flag": flag})
    np.testing.assert_allclose(booster.predict_proba(with_nan)[:-1], as_trained[:-1])
    assert (booster.predict(pd.DataFrame({"code": code, "flag": flag})) == label).mean() > 0.95


def test_categorical_datetime_and_id_columns_refused_at_retrain() -> None:
    n = 500
    base = {"x": np.arange(n, dtype=float), "label": np.tile(["a", "b"], n // 2)}
    model = model_config(source={"uri": "x.parquet"})
    for column, values, message in (
        ("signup", pa.array(pd.date_range("2026-01-01", periods=n, tz="UTC")), "holds dates/times"),
        ("day", pa.array([f"2026-01-{1 + i % 28:02d}" for i in range(n)]), "holds date strings"),
        ("email", pa.array([f"user{i}@example.org" for i in range(n)]), "nearly one per row"),
    ):
        with pytest.raises(DataError, match=f"feature '{column}' .*{message}"):
            prepare(pa.table({**base, column: values}), model, "test")
