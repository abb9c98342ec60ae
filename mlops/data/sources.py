"""Where training and monitoring rows come from: one `Source` per kind, chosen by URI scheme.

`Source.load` returns an Arrow table holding the rows of a time window; every failure
becomes a `DataError` (exit 2) or `ServiceUnavailable` (exit 1) naming the source without
its password.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from mlops.config import SourceConfig, TimeoutsConfig, redact_uri
from mlops.data.postgres import with_postgres
from mlops.data.s3 import s3_client, s3_errors
from mlops.errors import DataError, MlopsError

BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Window:
    """Half-open UTC interval [start, end); start None means 'from the beginning'."""

    start: datetime | None
    end: datetime

    @classmethod
    def ending(cls, as_of: datetime, days: int | None) -> Window:
        end = as_of.astimezone(UTC)
        return cls(start=None if days is None else end - timedelta(days=days), end=end)

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "-inf"
        return f"[{start}, {self.end.isoformat()})"


class Source(ABC):
    def __init__(self, config: SourceConfig, timeouts: TimeoutsConfig | None = None) -> None:
        self.config = config
        self.timeouts = timeouts or TimeoutsConfig()
        self.uri = redact_uri(config.uri)

    def load(self, window: Window | None = None, allow_empty: bool = False) -> pa.Table:
        """Rows in `window` (all rows when None or when the source has no timestamp column).
        An empty result is a `DataError` unless `allow_empty`."""
        if window is not None and not self.config.timestamp_column:
            window = None
        try:
            table = self._load(window)
        except MlopsError:
            raise
        except (OSError, ValueError, pa.ArrowException) as exc:  # unreadable file contents
            raise DataError(f"{self.uri}: cannot read ({_first_line(exc)})") from exc
        ts = self.config.timestamp_column
        if ts and ts not in table.column_names:
            raise DataError(f"{self.uri}: timestamp column {ts!r} not found; columns: {', '.join(table.column_names)}")
        if table.num_rows == 0 and not allow_empty:
            where = f" in window {window.describe()}" if window else ""
            raise DataError(f"{self.uri}: no rows{where}")
        return table

    def batches(self, window: Window | None = None, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The window's rows as record batches of at most `batch_rows` rows (may yield none)."""
        yield from self.load(window, allow_empty=True).to_batches(max_chunksize=batch_rows)

    @abstractmethod
    def _load(self, window: Window | None) -> pa.Table: ...


class FileSource(Source):
    """Local CSV or Parquet; Parquet windows are pushed down to row-group statistics."""

    def _load(self, window: Window | None) -> pa.Table:
        path = Path(self.config.uri.removeprefix("file://"))
        if not path.is_file():
            raise DataError(f"{self.uri}: file not found")
        fmt = "csv" if path.suffix.lower() == ".csv" else "parquet"
        dataset = pads.dataset(path, format=fmt)
        ts = self.config.timestamp_column
        if window is not None and ts and ts in dataset.schema.names and _is_temporal(dataset.schema.field(ts).type):
            return dataset.to_table(filter=_window_expression(ts, dataset.schema.field(ts).type, window))
        return filter_window(dataset.to_table(), ts, window, self.uri)


class S3Source(Source):
    """`s3://bucket/key.csv|parquet` through boto3; honours AWS_ENDPOINT_URL, then MLFLOW_S3_ENDPOINT_URL."""

    def _load(self, window: Window | None) -> pa.Table:
        parts = urlsplit(self.config.uri)
        bucket, key = parts.netloc, parts.path.lstrip("/")
        with s3_errors(self.uri):
            body = s3_client(self.timeouts).get_object(Bucket=bucket, Key=key)["Body"].read()
        buffer = pa.BufferReader(body)
        if key.lower().endswith(".csv"):
            table = pacsv.read_csv(buffer)
        else:
            table = pq.read_table(buffer)
        return filter_window(table, self.config.timestamp_column, window, self.uri)


class PostgresSource(Source):
    """A table or query read in bulk into Arrow by the ADBC PostgreSQL driver.

    The window bounds are sent as bound parameters into two session settings, and the query
    reads them back with `current_setting`: the values never enter the SQL text, and the query
    itself has no parameters, so the driver streams it with binary COPY (about 20% faster than
    a parameterised query here). Identifiers are quoted, never formatted in raw.
    """

    def _load(self, window: Window | None) -> pa.Table:
        sql, settings = self.build_query(window)

        def read(cursor: Any) -> pa.Table:
            cursor.execute("SET TIME ZONE 'UTC'")
            if settings:
                names = ", ".join(f"set_config('{name}', ${i}, false)" for i, name in enumerate(settings, start=1))
                cursor.execute(f"SELECT {names}", parameters=tuple(settings.values()))
                cursor.fetchall()
            cursor.execute(sql)
            return cursor.fetch_arrow_table()

        table: pa.Table = with_postgres(self.config.uri, "query failed", read, self.timeouts)
        return table

    def build_query(self, window: Window | None) -> tuple[str, dict[str, str]]:
        """The SQL and the session settings (name -> ISO timestamp) it reads the window from."""
        if self.config.table is not None:
            relation = quote_relation(self.config.table)
        else:
            relation = f"({self.config.query}) AS mlops_source"
        sql = f"SELECT * FROM {relation}"  # noqa: S608 - relation is quoted or the operator's own query
        settings: dict[str, str] = {}
        ts = self.config.timestamp_column
        if window is not None and ts:
            column = quote_identifier(ts)
            conditions = [f"{column} < current_setting('mlops.window_end')::timestamptz"]
            settings["mlops.window_end"] = window.end.isoformat()
            if window.start is not None:
                conditions.insert(0, f"{column} >= current_setting('mlops.window_start')::timestamptz")
                settings = {"mlops.window_start": window.start.isoformat(), **settings}
            sql += " WHERE " + " AND ".join(conditions)
        return sql, settings

def open_source(config: SourceConfig, timeouts: TimeoutsConfig | None = None) -> Source:
    kinds: dict[str, type[Source]] = {"postgres": PostgresSource, "s3": S3Source, "file": FileSource}
    return kinds[config.kind](config, timeouts)


def filter_window(table: pa.Table, ts: str | None, window: Window | None, where: str) -> pa.Table:
    if window is None or not ts or ts not in table.column_names:
        return table
    column = table.column(ts)
    if not _is_temporal(column.type):
        try:
            column = pc.cast(column, pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataError(f"{where}: timestamp column {ts!r} holds {column.type}, not timestamps") from exc
        table = table.set_column(table.column_names.index(ts), ts, column)
    return table.filter(_window_expression(ts, column.type, window))


def _window_expression(ts: str, dtype: pa.DataType, window: Window) -> pc.Expression:
    def bound(moment: datetime) -> pa.Scalar:
        if pa.types.is_timestamp(dtype) and dtype.tz is None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        if pa.types.is_date(dtype):
            return pa.scalar(moment.date(), type=dtype)
        return pa.scalar(moment, type=dtype)

    expression = pc.field(ts) < bound(window.end)
    if window.start is not None:
        expression = expression & (pc.field(ts) >= bound(window.start))
    return expression


def _is_temporal(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(dtype) or pa.types.is_date(dtype))


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_relation(name: str) -> str:
    """`schema.table` or `table`, each part quoted."""
    return ".".join(quote_identifier(part) for part in name.split("."))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


