"""predict and compare, end to end: embedded store, real files and a throwaway PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from adbc_driver_postgresql import dbapi

from mlops.config import Config, PredictionsConfig, load_config
from mlops.errors import ConfigError, RegistryError
from mlops.jobs.demo import DemoPaths, write_demo
from mlops.jobs.operate import compare
from mlops.jobs.predict import predict
from mlops.jobs.retrain import retrain
from mlops.tracking import Tracking

from conftest import END, without_predictions
from services import Postgres


def with_predictions(config, **target):  # type: ignore[no-untyped-def]
    model = config.models[0].model_copy(update={"predictions": PredictionsConfig(**target)})
    return config.model_copy(update={"models": [model]}), model


def rows_in_last_day(data: Path) -> int:
    ts = pq.read_table(data).column("event_time")
    start = pc.greater_equal(ts, pc.cast(END - timedelta(days=1), ts.type))
    return int(pc.sum(pc.and_(start, pc.less(ts, pc.cast(END, ts.type)))).as_py())


def test_predict_to_files_is_idempotent_and_labelled(tmp_path: Path) -> None:
    paths = write_demo(tmp_path, END)
    base = load_config(paths.config, environ={})
    config, model = with_predictions(base, uri=str(tmp_path / "predictions"))
    nothing = predict(config, model, END)
    assert nothing.version is None and nothing.rows == 0 and nothing.written_to is None
    retrain(config, model, END, run_key="p")
    first = predict(config, model, END)
    assert first.version == "1" and first.rows == rows_in_last_day(paths.data) > 0
    written = pq.read_table(first.written_to)
    assert written.column_names == ["customer_id", "event_time", "prediction", "score", "model_name", "model_version",
                                    "as_of", "scored_at"]
    assert set(written.column("prediction").to_pylist()) <= {"yes", "no"}
    assert pc.min(written.column("score")).as_py() >= 0.5
    assert set(written.column("model_version").to_pylist()) == {1}
    second = predict(config, model, END)
    assert second.written_to == first.written_to and pq.read_table(second.written_to).num_rows == first.rows
    bare = load_config(without_predictions(paths.config), environ={})
    with pytest.raises(ConfigError, match="no predictions section"):
        predict(bare, bare.models[0], END)


def edit_model(config: Path, **sections: dict[str, Any]) -> None:
    """Replace whole sections (source, predictions, ...) of the demo config's model."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["models"][0].update(sections)
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def demo_on_postgres(tmp_path: Path, postgres: Postgres, source: str, sink: str) -> tuple[DemoPaths, Config]:
    """The demo with its rows in PostgreSQL table `source` and its predictions going to `sink`."""
    paths = write_demo(tmp_path, END)
    with dbapi.connect(postgres.uri()) as conn, conn.cursor() as cur:
        cur.adbc_ingest(source, pq.read_table(paths.data), mode="replace")
        conn.commit()
    source_section = yaml.safe_load(paths.config.read_text(encoding="utf-8"))["models"][0]["source"]
    edit_model(paths.config, source={**source_section, "uri": postgres.uri(), "table": source},
               predictions={"table": sink})
    return paths, load_config(paths.config, environ={})


def test_predict_to_postgres_replaces_the_day(tmp_path: Path, postgres: Postgres) -> None:
    paths, config = demo_on_postgres(tmp_path, postgres, "churn_predict_src", "churn_scores")
    model = config.models[0]
    retrain(config, model, END, run_key="pg")
    for _ in range(2):
        result = predict(config, model, END)
    with dbapi.connect(postgres.uri()) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT customer_id), min(model_version), max(as_of) FROM churn_scores")
        count, distinct, version, day = cur.fetchone()
    assert count == distinct == result.rows == rows_in_last_day(paths.data)
    assert version == 1 and str(day) == "2026-11-23"  # the run's as-of; the rows are from the day before it


def test_predictions_table_needs_a_postgres_source(tmp_path: Path) -> None:
    paths = write_demo(tmp_path, END)
    edit_model(paths.config, predictions={"table": "churn_scores"})
    with pytest.raises(ConfigError, match="predictions.table is written to the source's database"):
        load_config(paths.config, environ={})


def test_compare_scores_versions_on_the_same_window(tmp_path: Path) -> None:
    paths = write_demo(tmp_path, END)
    config = load_config(paths.config, environ={})
    model = config.models[0]
    retrain(config, model, END - timedelta(days=28), run_key="a")
    retrain(config, model, END, run_key="b")
    rows = compare(config, Tracking(config.tracking), "churn", ["1", "2"], END)
    assert [r["version"] for r in rows] == ["1", "2"]
    assert rows[0]["alias"] == "production" and rows[0]["rows"] == rows[1]["rows"] > 1000
    assert {"accuracy", "f1", "roc_auc"} <= set(rows[0]["metrics"]) and rows[0]["metrics"] != rows[1]["metrics"]
    with pytest.raises(RegistryError, match="no version 9"):
        compare(config, Tracking(config.tracking), "churn", ["9"], END)


def test_cli_compare_and_predict(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from mlops.cli import main

    paths = write_demo(tmp_path, END)
    edit_model(paths.config, predictions={"uri": "out"})  # relative to the config file
    runner = CliRunner()
    config = str(paths.config)
    assert runner.invoke(main, ["--config", config, "retrain", "--all", "--as-of", "2026-11-23"]).exit_code == 0
    scored = runner.invoke(main, ["--config", config, "predict", "--model", "churn", "--as-of", "2026-11-23"])
    assert scored.exit_code == 0 and "churn: v1 scored" in scored.output
    assert (tmp_path / "out" / "churn" / "day=2026-11-23" / "predictions.parquet").is_file()
    assert runner.invoke(main, ["--config", config, "predict", "--model", "churn", "--as-of", "2026-11-22"]).exit_code == 0
    compared = runner.invoke(main, ["--config", config, "compare", "--model", "churn", "--versions", "1", "--json"])
    assert compared.exit_code == 0 and json.loads(compared.stdout)[0]["alias"] == "production"  # progress lines: stderr
    assert runner.invoke(main, ["--config", config, "compare", "--model", "churn", "--versions", "one"]).exit_code == 2


@pytest.fixture(scope="module")
def predictions_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """Two days of predictions written by predict: (the folder, the rows written)."""
    tmp_path = tmp_path_factory.mktemp("folder")
    paths = write_demo(tmp_path, END)
    config, model = with_predictions(load_config(paths.config, environ={}), uri=str(tmp_path / "predictions"))
    retrain(config, model, END, run_key="folder")
    rows = sum(predict(config, model, END - timedelta(days=d)).rows for d in (0, 1))
    return tmp_path / "predictions", rows


def test_pandas_reads_the_predictions_folder_as_one_table(predictions_folder: tuple[Path, int]) -> None:
    import pandas as pd

    folder, rows = predictions_folder
    frame = pd.read_parquet(folder)
    assert len(frame) == rows > 0
    assert sorted({str(d) for d in frame["as_of"]}) == ["2026-11-22", "2026-11-23"]
    assert {"prediction", "score", "model_name", "model_version", "day"} <= set(frame.columns)


def test_pyarrow_dataset_reads_the_predictions_folder_as_one_table(predictions_folder: tuple[Path, int]) -> None:
    import pyarrow.dataset as ds

    folder, rows = predictions_folder
    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == rows
    assert table.schema.field("as_of").type == "date32[day]"
    assert set(table.column("model_name").to_pylist()) == {"churn"}


# --- streamed scoring: batch by batch, the same output, never half a day written ---


def day_file(folder: Path) -> Path:
    return folder / "churn" / "day=2026-11-23" / "predictions.parquet"


@pytest.fixture(scope="module")
def trained_demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp_path = tmp_path_factory.mktemp("streamed")
    paths = write_demo(tmp_path, END)
    config, model = with_predictions(load_config(paths.config, environ={}), uri=str(tmp_path / "predictions"))
    retrain(config, model, END, run_key="streamed")
    return paths, config, model


def test_small_batches_write_one_file_equal_to_scoring_the_whole_window(trained_demo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from mlops.data.sources import Window, open_source
    from mlops.jobs import predict as predict_module
    from mlops.jobs.common import load_version

    _, config, model = trained_demo
    monkeypatch.setattr(predict_module, "PREDICT_BATCH_ROWS", 20)
    result = predict(config, model, END)
    written = pq.ParquetFile(result.written_to)
    groups = [written.metadata.row_group(i).num_rows for i in range(written.metadata.num_row_groups)]
    assert len(groups) >= -(-result.rows // 20) > 3 and max(groups) <= 20  # one row group per batch, one file
    table = written.read()
    assert sorted(p.name for p in Path(result.written_to).parent.iterdir()) == ["predictions.parquet"]

    # The reference: the whole window scored at once through pandas, as predict did before streaming.
    tracking = Tracking(config.tracking)
    scorer = load_version(tracking, model.name, "1")
    window = open_source(model.source).load(Window.ending(END, model.predictions.window_days))
    proba = scorer.predict_proba(window.to_pandas())
    best = proba.argmax(axis=1)
    assert table.column("customer_id").to_pylist() == window.column("customer_id").to_pylist()
    assert table.column("event_time").equals(window.column("event_time"))
    assert table.column("prediction").to_pylist() == list(np.asarray(scorer.classes)[best])
    assert np.array_equal(table.column("score").to_numpy(), proba[np.arange(len(best)), best])
    assert table.schema.field("as_of").type == "date32[day]" and table.schema.field("model_version").type == "int32"
    assert len(set(table.column("scored_at").to_pylist())) == 1  # one run, one moment


def test_a_failure_mid_stream_leaves_the_previous_file(trained_demo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from mlops.jobs import predict as predict_module

    _, config, model = trained_demo
    monkeypatch.setattr(predict_module, "PREDICT_BATCH_ROWS", 20)
    first = predict(config, model, END)
    before = Path(first.written_to).read_bytes()
    failing = planted_failure(monkeypatch, predict_module, on_call=3)
    with pytest.raises(RuntimeError, match="planted"):
        predict(config, model, END)
    assert failing["calls"] == 3
    assert Path(first.written_to).read_bytes() == before  # the day's file is the earlier run's, whole
    assert sorted(p.name for p in Path(first.written_to).parent.iterdir()) == ["predictions.parquet"]  # no scratch left


def planted_failure(monkeypatch: pytest.MonkeyPatch, module, on_call: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """score_batch fails on its `on_call`-th call: a crash after some batches were written."""
    original = module.score_batch
    seen = {"calls": 0}

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen["calls"] += 1
        if seen["calls"] == on_call:
            raise RuntimeError("planted failure while scoring")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "score_batch", failing)
    return seen


def test_postgres_day_is_replaced_batch_by_batch_in_one_transaction(tmp_path: Path, postgres: Postgres,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops.jobs import predict as predict_module

    paths, config = demo_on_postgres(tmp_path, postgres, "churn_stream_src", "churn_stream_scores")
    model = config.models[0]
    retrain(config, model, END, run_key="pg-stream")
    monkeypatch.setattr(predict_module, "PREDICT_BATCH_ROWS", 20)
    result = predict(config, model, END)
    assert result.rows == rows_in_last_day(paths.data) > 60

    def day_rows() -> list[tuple[object, ...]]:
        with dbapi.connect(postgres.uri()) as conn, conn.cursor() as cur:
            cur.execute("SELECT customer_id, prediction, score, scored_at FROM churn_stream_scores ORDER BY customer_id")
            return list(cur.fetchall())

    before = day_rows()
    assert len(before) == result.rows
    planted_failure(monkeypatch, predict_module, on_call=3)  # two batches appended, then the crash
    with pytest.raises(RuntimeError, match="planted"):
        predict(config, model, END)
    assert day_rows() == before  # rolled back: the earlier run's day, whole
