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


# --- streamed reads: the same rows as load(), in bounded batches, the window pushed down ---


def concat(batches: list[pa.RecordBatch], like: pa.Table) -> pa.Table:
    return pa.Table.from_batches(batches, like.schema)


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """Equal values in equal order (NaN equal to NaN, unlike Table.equals)."""
    return a.schema.equals(b.schema) and bool(a.to_pandas().equals(b.to_pandas()))


def spoil_first_row_group(path: Path) -> None:
    """Overwrite the start of the first row group's data (the footer and its statistics stay
    intact): reading that row group fails, skipping it by statistics does not."""
    data = bytearray(path.read_bytes())
    data[4:68] = b"\xff" * 64
    path.write_bytes(bytes(data))


def sorted_rows(rows: pa.Table) -> pa.Table:
    return rows.sort_by("event_time")


@pytest.mark.parametrize("kind", ["parquet", "csv", "text-timestamps"])
def test_file_batches_are_the_loaded_rows_in_bounded_batches(tmp_path: Path, rows: pa.Table, kind: str) -> None:
    path = tmp_path / f"rows.{'csv' if kind == 'csv' else 'parquet'}"
    if kind == "csv":
        pacsv.write_csv(rows, path)
    else:
        ts = rows.column("event_time")
        text = pc.cast(ts, pa.string()) if kind == "text-timestamps" else ts
        pq.write_table(rows.set_column(1, "event_time", text), path, row_group_size=128)
    source = open_source(SourceConfig(uri=str(path), timestamp_column="event_time"))
    loaded = source.load(WINDOW)
    assert loaded.num_rows == expected_in_window(rows)
    batches = list(source.batches(WINDOW, batch_rows=50))
    assert len(batches) > 2 and all(0 < b.num_rows <= 50 for b in batches)
    assert same_rows(concat(batches, loaded), loaded)
    if kind == "text-timestamps":  # cast as filter_window casts them
        assert loaded.schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert list(source.batches(Window(END + timedelta(days=30), END + timedelta(days=31)))) == []


def test_parquet_window_is_pushed_down_to_row_group_statistics(tmp_path: Path, rows: pa.Table) -> None:
    ordered = sorted_rows(rows)
    path = tmp_path / "rows.parquet"
    pq.write_table(ordered, path, row_group_size=100)  # the first row group is weeks before WINDOW
    assert ordered.column("event_time")[99].as_py() < WINDOW.start
    spoil_first_row_group(path)
    source = open_source(SourceConfig(uri=str(path), timestamp_column="event_time"))
    assert source.load(WINDOW).num_rows == expected_in_window(rows)  # never touched the spoiled row group
    with pytest.raises(DataError, match=r"rows.parquet: cannot read"):
        source.load(None)


def test_a_folder_of_parquet_files_is_one_source(tmp_path: Path, rows: pa.Table) -> None:
    folder = tmp_path / "rows"
    folder.mkdir()
    half = rows.num_rows // 2
    pq.write_table(rows.slice(0, half), folder / "part-0.parquet")
    pq.write_table(rows.slice(half), folder / "part-1.parquet")
    (folder / ".part-2.parquet.123.partial").write_bytes(b"half a file")  # a writer's scratch: skipped
    source = open_source(SourceConfig(uri=str(folder), timestamp_column="event_time"))
    assert source.load(WINDOW).num_rows == sum(b.num_rows for b in source.batches(WINDOW)) == expected_in_window(rows)


def test_stopping_early_and_errors_in_file_batches(tmp_path: Path, rows: pa.Table) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(rows, path)
    stream = open_source(SourceConfig(uri=str(path), timestamp_column="event_time")).batches(None, batch_rows=10)
    assert next(stream).num_rows == 10
    stream.close()
    with pytest.raises(DataError, match="file not found"):
        next(open_source(SourceConfig(uri=str(tmp_path / "none.parquet"))).batches())
    with pytest.raises(DataError, match="timestamp column 'when' not found"):
        next(open_source(SourceConfig(uri=str(path), timestamp_column="when")).batches(WINDOW))
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="junk.parquet: cannot read"):
        next(open_source(SourceConfig(uri=str(tmp_path / "junk.parquet"))).batches())


def put_parquet(s3: S3, bucket: str, key: str, table: pa.Table, **options: object) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **options)
    body = sink.getvalue().to_pybytes()
    s3.client().put_object(Bucket=bucket, Key=key, Body=body)
    return body


def test_s3_object_and_prefix_stream_with_the_window_pushed_down(s3_env: S3, rows: pa.Table, tmp_path: Path) -> None:
    client = s3_env.client()
    client.create_bucket(Bucket="stream")
    ordered = sorted_rows(rows)
    local = tmp_path / "rows.parquet"
    pq.write_table(ordered, local, row_group_size=100)
    spoil_first_row_group(local)
    client.put_object(Bucket="stream", Key="one/rows.parquet", Body=local.read_bytes())
    one = open_source(SourceConfig(uri="s3://stream/one/rows.parquet", timestamp_column="event_time"))
    batches = list(one.batches(WINDOW, batch_rows=64))
    assert sum(b.num_rows for b in batches) == expected_in_window(rows) and all(b.num_rows <= 64 for b in batches)
    with pytest.raises(DataError, match="s3://stream/one/rows.parquet: cannot read"):
        one.load(None)

    half = rows.num_rows // 2
    put_parquet(s3_env, "stream", "folder/part-0.parquet", rows.slice(0, half))
    put_parquet(s3_env, "stream", "folder/part-1.parquet", rows.slice(half))
    prefix = open_source(SourceConfig(uri="s3://stream/folder", timestamp_column="event_time"))
    loaded = prefix.load(WINDOW)
    assert loaded.num_rows == expected_in_window(rows)
    assert same_rows(concat(list(prefix.batches(WINDOW, batch_rows=100)), loaded), loaded)
    with pytest.raises(DataError, match="s3://stream/none/: object not found"):
        next(open_source(SourceConfig(uri="s3://stream/none/")).batches())


def test_s3_outages_are_service_unavailable(s3_env: S3, rows: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import urlsplit

    from faults.proxy import FaultProxy

    from mlops.config import TimeoutsConfig

    s3_env.client().create_bucket(Bucket="outage")
    put_parquet(s3_env, "outage", "rows.parquet", rows)
    proxy = FaultProxy(int(urlsplit(s3_env.endpoint).port or 0))
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    quick = TimeoutsConfig(connect_seconds=1, request_seconds=1, request_retries=1)
    config = SourceConfig(uri="s3://outage/rows.parquet", timestamp_column="event_time")
    try:
        assert open_source(config, quick).load(WINDOW).num_rows == expected_in_window(rows)
        for mode in ("down", "hang"):
            proxy.set(mode)
            with pytest.raises(ServiceUnavailable, match="s3://outage/rows.parquet: S3 unreachable"):
                next(open_source(config, quick).batches(WINDOW))
    finally:
        proxy.close()


def test_s3_errors_named_by_pyarrow_are_mapped() -> None:
    from mlops.data.s3 import arrow_s3_error

    def mapped(text: str) -> tuple[str, str]:
        error = arrow_s3_error("s3://b/k", OSError(text))
        return type(error).__name__, str(error)

    assert mapped("AWS Error ACCESS_DENIED during GetObject operation: No response body.") == (
        "DataError", "s3://b/k: access denied (check the AWS credentials)")
    assert mapped("AWS Error UNKNOWN (HTTP status 503) during HeadObject operation")[0] == "ServiceUnavailable"
    assert mapped("AWS Error SLOW_DOWN during GetObject operation")[0] == "ServiceUnavailable"
    assert mapped("AWS Error NETWORK_CONNECTION during HeadObject operation: curlCode: 28, Timeout was reached")[0] \
        == "ServiceUnavailable"
    assert mapped("AWS Error UNKNOWN (HTTP status 400) during CreateBucket operation") == (
        "DataError", "s3://b/k: S3 request failed (AWS Error UNKNOWN (HTTP status 400) during CreateBucket operation)")


def test_postgres_batches_stream_the_window_and_release_the_connection(postgres: Postgres, rows: pa.Table,
                                                                       pg_table: str) -> None:
    from adbc_driver_postgresql import dbapi

    source = PostgresSource(SourceConfig(uri=postgres.uri(), table=pg_table, timestamp_column="event_time"))
    loaded = source.load(WINDOW)
    batches = list(source.batches(WINDOW, batch_rows=37))
    assert len(batches) > 2 and all(0 < b.num_rows <= 37 for b in batches)
    assert same_rows(concat(batches, loaded), loaded)
    assert list(source.batches(Window(END + timedelta(days=30), END + timedelta(days=31)))) == []

    def sessions() -> int:
        with dbapi.connect(postgres.uri()) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = 'features' AND pid <> pg_backend_pid()")
            return int(cur.fetchone()[0])

    before = sessions()
    stream = source.batches(None, batch_rows=10)
    assert next(stream).num_rows == 10
    assert sessions() == before + 1  # held while the consumer iterates
    stream.close()  # the consumer stops early
    assert sessions() == before
    with pytest.raises(DataError, match="does not exist"):
        next(open_source(SourceConfig(uri=postgres.uri(), table="no_such_table")).batches())
    assert sessions() == before
