"""DuckDB reads the predictions folder predict writes as one table, as pandas and pyarrow do
(their tests are in test_predict.py): the hive `as_of=` directories and the `as_of` column agree."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mlops.config import PredictionsConfig, load_config
from mlops.jobs.demo import write_demo
from mlops.jobs.predict import predict
from mlops.jobs.retrain import retrain

from conftest import END


@pytest.fixture(scope="module")
def predictions_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """Two days of predictions written by predict: (the folder, the rows written)."""
    tmp_path = tmp_path_factory.mktemp("duckdb")
    paths = write_demo(tmp_path, END)
    config = load_config(paths.config, environ={})
    model = config.models[0].model_copy(update={"predictions": PredictionsConfig(uri=str(tmp_path / "predictions"))})
    config = config.model_copy(update={"models": [model]})
    retrain(config, model, END, run_key="duckdb")
    rows = sum(predict(config, model, END - timedelta(days=d)).rows for d in (0, 1))
    return tmp_path / "predictions", rows


def test_duckdb_reads_the_predictions_folder_as_one_table(predictions_folder: tuple[Path, int]) -> None:
    import duckdb

    folder, rows = predictions_folder
    with duckdb.connect() as db:
        source = f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
        total, days, names = db.execute(
            f"SELECT count(*), count(DISTINCT as_of), string_agg(DISTINCT model_name, ',') FROM {source}"  # noqa: S608 - a test's own path
        ).fetchone()
        per_day = db.execute(f"SELECT CAST(as_of AS VARCHAR), count(*) FROM {source} GROUP BY 1 ORDER BY 1").fetchall()  # noqa: S608
        columns = {row[0] for row in db.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}  # noqa: S608
    assert total == rows > 0
    assert days == 2 and names == "churn"
    assert [day for day, _ in per_day] == ["2026-11-22", "2026-11-23"] and sum(n for _, n in per_day) == rows
    assert {"prediction", "score", "model_name", "model_version", "as_of"} <= columns
