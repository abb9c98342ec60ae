"""Sources against real files, moto's S3 server and a throwaway PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlops.config import SourceConfig
from mlops.data.sources import PostgresSource, Window, open_source
from mlops.errors import DataError, ServiceUnavailable
from mlops.jobs.demo import make_dataset

from conftest import END
from services import PG_PASSWORD, S3, Postgres

WINDOW = Window(END - timedelta(days=7), END)


@pytest.fixture(scope="module")
def rows() -> pa.Table:
    return make_dataset(END, days=30, rows_per_day=40)


def expected_in_window(table: pa.Table) -> int:
    ts = table.column("event_time")
    return int(pc.sum(pc.and_(pc.greater_equal(ts, pa.scalar(WINDOW.start, ts.type)), pc.less(ts, pa.scalar(WINDOW.end, ts.type)))).as_py())


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_file_source_filters_the_window(tmp_path: Path, rows: pa.Table, suffix: str) -> None:
    path = tmp_path / f"rows{suffix}"
    pq.write_table(rows, path) if suffix == ".parquet" else pacsv.write_csv(rows, path)
    source = open_source(SourceConfig(uri=str(path), timestamp_column="event_time"))
    loaded = source.load(WINDOW)
    assert loaded.num_rows == expected_in_window(rows) > 0
    assert source.load(None).num_rows == rows.num_rows


def test_file_source_errors(tmp_path: Path, rows: pa.Table) -> None:
    with pytest.raises(DataError, match="file not found"):
        open_source(SourceConfig(uri=str(tmp_path / "none.parquet"))).load()
    pq.write_table(rows, tmp_path / "r.parquet")
    with pytest.raises(DataError, match="timestamp column 'when' not found"):
        open_source(SourceConfig(uri=str(tmp_path / "r.parquet"), timestamp_column="when")).load(WINDOW)
    with pytest.raises(DataError, match="no rows in window"):
        open_source(SourceConfig(uri=str(tmp_path / "r.parquet"), timestamp_column="event_time")).load(
            Window(END + timedelta(days=30), END + timedelta(days=31)))


def test_s3_source_reads_through_the_endpoint(s3: S3, rows: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    client = s3.client()
    client.create_bucket(Bucket="features")
    sink = pa.BufferOutputStream()
    pq.write_table(rows, sink)
    client.put_object(Bucket="features", Key="churn/rows.parquet", Body=sink.getvalue().to_pybytes())
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3.endpoint)  # the fallback when AWS_ENDPOINT_URL is unset
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    source = open_source(SourceConfig(uri="s3://features/churn/rows.parquet", timestamp_column="event_time"))
    assert source.load(WINDOW).num_rows == expected_in_window(rows)
    with pytest.raises(DataError, match="churn/none.parquet: object not found"):
        open_source(SourceConfig(uri="s3://features/churn/none.parquet")).load()
    with pytest.raises(DataError, match="s3://absent/x.parquet: bucket does not exist"):
        open_source(SourceConfig(uri="s3://absent/x.parquet")).load()


@pytest.fixture(scope="module")
def pg_table(postgres: Postgres, rows: pa.Table) -> str:
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(postgres.uri()) as conn, conn.cursor() as cur:
        cur.adbc_ingest("churn_rows", rows, mode="replace")
        conn.commit()
    return "churn_rows"


def test_postgres_table_window_is_pushed_down(postgres: Postgres, rows: pa.Table, pg_table: str) -> None:
    source = PostgresSource(SourceConfig(uri=postgres.uri(), table=f"public.{pg_table}", timestamp_column="event_time"))
    sql, settings = source.build_query(WINDOW)
    assert sql == ('SELECT * FROM "public"."churn_rows" WHERE "event_time" >= current_setting(\'mlops.window_start\')::timestamptz'
                   ' AND "event_time" < current_setting(\'mlops.window_end\')::timestamptz')
    assert settings == {"mlops.window_start": WINDOW.start.isoformat(), "mlops.window_end": WINDOW.end.isoformat()}
    assert WINDOW.start.isoformat() not in sql
    loaded = source.load(WINDOW)
    assert loaded.num_rows == expected_in_window(rows)
    assert loaded.column_names == rows.column_names


def test_postgres_query_source(postgres: Postgres, pg_table: str) -> None:
    query = f"SELECT event_time, tenure, churned FROM {pg_table} WHERE plan = 'premium'"  # noqa: S608 - test literal
    loaded = open_source(SourceConfig(uri=postgres.uri(), query=query, timestamp_column="event_time")).load(WINDOW)
    assert loaded.column_names == ["event_time", "tenure", "churned"] and loaded.num_rows > 0


def test_postgres_errors_never_show_the_password(postgres: Postgres) -> None:
    with pytest.raises(DataError) as info:
        open_source(SourceConfig(uri=postgres.uri(password="wrong-Pa55"), table="churn_rows")).load()
    assert "authentication failed" in str(info.value) and "wrong-Pa55" not in str(info.value)
    with pytest.raises(DataError, match="does not exist"):
        open_source(SourceConfig(uri=postgres.uri(), table="no_such_table")).load()
    with pytest.raises(ServiceUnavailable, match="unreachable") as down:
        open_source(SourceConfig(uri=f"postgresql://mlops:{PG_PASSWORD}@127.0.0.1:1/features", table="t")).load()
    assert PG_PASSWORD not in str(down.value)


def test_replace_partition_honours_a_schema_qualified_table(postgres: Postgres, rows: pa.Table) -> None:
    from adbc_driver_postgresql import dbapi

    from mlops.data.sinks import replace_partition

    part = rows.slice(0, 100).append_column("as_of", pa.array(["d1"] * 100))
    for _ in range(2):
        replace_partition(postgres.uri(), "public.sink_rows", part, {"as_of": "d1"})
    with dbapi.connect(postgres.uri()) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.sink_rows")
        assert cur.fetchone()[0] == 100
        cur.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'public.sink_rows'")
        assert cur.fetchone()[0] == 0
