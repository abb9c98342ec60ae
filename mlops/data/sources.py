"""Where training and monitoring rows come from: one `Source` per kind, chosen by URI scheme.

`Source.batches` streams the rows of a time window as Arrow record batches, the window pushed
down to the data (Parquet row-group statistics, a SQL WHERE); `Source.load` is the same rows as
one table. Every failure becomes a `DataError` (exit 2) or `ServiceUnavailable` (exit 1) naming
the source without its password.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from mlops.config import SourceConfig, TimeoutsConfig, redact_uri
from mlops.data.files import file_errors, filesystem
from mlops.data.postgres import postgres_session, with_postgres
from mlops.errors import DataError

BATCH_ROWS = 65_536
# Batches a scan decodes ahead of the consumer: enough to overlap reading with scoring, few
# enough that memory stays a handful of batches.
_READAHEAD = 2


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


@dataclass
class Scan:
    """An open read: the schema of the rows it yields and the batches (some may be empty)."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]


class Source(ABC):
    def __init__(self, config: SourceConfig, timeouts: TimeoutsConfig | None = None) -> None:
        self.config = config
        self.timeouts = timeouts or TimeoutsConfig()
        self.uri = redact_uri(config.uri)

    def load(self, window: Window | None = None, allow_empty: bool = False) -> pa.Table:
        """Rows in `window` (all rows when None or when the source has no timestamp column).
        An empty result is a `DataError` unless `allow_empty`."""
        window = self._applicable(window)
        with file_errors(self.uri), self._scan(window, BATCH_ROWS) as scan:
            self._check(scan.schema)
            table = pa.Table.from_batches(list(scan.batches), scan.schema)
        if table.num_rows == 0 and not allow_empty:
            where = f" in window {window.describe()}" if window else ""
            raise DataError(f"{self.uri}: no rows{where}")
        return table

    def batches(self, window: Window | None = None, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The window's rows as record batches of at most `batch_rows` rows (may yield none).
        The source is held open only while the consumer iterates; stopping early closes it."""
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
        window = self._applicable(window)
        with file_errors(self.uri), self._scan(window, batch_rows) as scan:
            self._check(scan.schema)
            for batch in scan.batches:
                if batch.num_rows:
                    yield batch

    def schema(self) -> pa.Schema:
        """The source's columns without reading its rows: Parquet footers, a CSV's first block,
        a `LIMIT 0` query."""
        with file_errors(self.uri):
            return self._schema()

    @abstractmethod
    def _schema(self) -> pa.Schema: ...

    def _applicable(self, window: Window | None) -> Window | None:
        return window if self.config.timestamp_column else None

    def _check(self, schema: pa.Schema) -> None:
        ts = self.config.timestamp_column
        if ts and ts not in schema.names:
            raise DataError(f"{self.uri}: timestamp column {ts!r} not found; columns: {', '.join(schema.names)}")

    @abstractmethod
    def _scan(self, window: Window | None, batch_rows: int) -> AbstractContextManager[Scan]:
        """The rows of `window` in batches of at most `batch_rows`; held open for the block."""


class FileSource(Source):
    """CSV or Parquet, a local file or folder or an S3 object or prefix, through one
    `pyarrow.dataset` path: the window is a dataset filter, pushed down to Parquet row-group
    statistics. S3 honours AWS_ENDPOINT_URL, then MLFLOW_S3_ENDPOINT_URL."""

    @contextmanager
    def _scan(self, window: Window | None, batch_rows: int) -> Iterator[Scan]:
        fs, path = filesystem(self.config.uri, self.uri, self.timeouts)
        dataset = self._dataset(fs, path)
        ts = self.config.timestamp_column
        if window is None or not ts or ts not in dataset.schema.names:
            yield Scan(dataset.schema, _scan_batches(dataset, None, batch_rows))
            return
        dtype = dataset.schema.field(ts).type
        if _is_temporal(dtype):
            yield Scan(dataset.schema, _scan_batches(dataset, _window_expression(ts, dtype, window), batch_rows))
            return
        # Timestamps held as text (CSV): cast and filter batch by batch, as `filter_window` does.
        schema = dataset.schema.set(dataset.schema.get_field_index(ts), pa.field(ts, pa.timestamp("us", tz="UTC")))
        filtered = (part for batch in _scan_batches(dataset, None, batch_rows)
                    for part in filter_window(pa.Table.from_batches([batch]), ts, window, self.uri).to_batches())
        yield Scan(schema, filtered)

    def _schema(self) -> pa.Schema:
        fs, path = filesystem(self.config.uri, self.uri, self.timeouts)
        schema: pa.Schema = self._dataset(fs, path).schema
        return schema

    def _dataset(self, fs: Any, path: str) -> pads.Dataset:
        import pyarrow.fs as pafs

        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            bucket = path.split("/", 1)[0]
            if self.config.kind == "s3" and fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise DataError(f"{self.uri}: bucket does not exist")
            raise DataError(f"{self.uri}: {'object' if self.config.kind == 's3' else 'file'} not found")
        fmt = "csv" if path.lower().endswith(".csv") else "parquet"
        dataset = pads.dataset(path, filesystem=fs, format=fmt)
        if info.type == pafs.FileType.Directory and not dataset.files:
            raise DataError(f"{self.uri}: no {fmt} files in the folder")
        return dataset



class PostgresSource(Source):
    """A table or query streamed into Arrow batches by the ADBC PostgreSQL driver.

    The window bounds are sent as bound parameters into two session settings, and the query
    reads them back with `current_setting`: the values never enter the SQL text, and the query
    itself has no parameters, so the driver streams it with binary COPY (about 20% faster than
    a parameterised query here). Identifiers are quoted, never formatted in raw. The connection
    is held while the consumer iterates: each wait for the next batch is bounded like any
    statement, and the server's statement_timeout covers the whole read.
    """

    def _schema(self) -> pa.Schema:
        sql, _ = self.build_query(None)

        def read(cursor: Any) -> pa.Schema:
            cursor.execute(f"{sql} LIMIT 0")
            return cursor.fetch_arrow_table().schema

        schema: pa.Schema = with_postgres(self.config.uri, "reading the schema", read, self.timeouts)
        return schema

    @contextmanager
    def _scan(self, window: Window | None, batch_rows: int) -> Iterator[Scan]:
        sql, settings = self.build_query(window)

        def start(cursor: Any) -> Any:
            cursor.execute("SET TIME ZONE 'UTC'")
            if settings:
                names = ", ".join(f"set_config('{name}', ${i}, false)" for i, name in enumerate(settings, start=1))
                cursor.execute(f"SELECT {names}", parameters=tuple(settings.values()))
                cursor.fetchall()
            cursor.execute(sql)
            return cursor.fetch_record_batch()

        with postgres_session(self.config.uri, "query failed", self.timeouts) as session:
            reader = session.run(start)
            yield Scan(reader.schema, _at_most(session.stream(reader), batch_rows))

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


def _scan_batches(dataset: pads.Dataset, condition: pc.Expression | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The dataset's rows matching `condition`, in order. Parquet is scanned one row group at a
    time, row groups pruned by their statistics: a whole-file scan reads ahead without bound
    when the consumer is slower than the disk (measured: 1.4 GB held behind a scorer), and
    pre-buffering would fetch every selected row group of a file at once."""
    options: dict[str, Any] = {"filter": condition, "batch_size": batch_rows, "batch_readahead": _READAHEAD}
    if not isinstance(dataset.format, pads.ParquetFileFormat):
        yield from dataset.to_batches(fragment_readahead=1, **options)
        return
    scan_options = pads.ParquetFragmentScanOptions(pre_buffer=False)
    for fragment in dataset.get_fragments(filter=condition):
        for row_group in fragment.split_by_row_group(filter=condition):
            yield from row_group.to_batches(schema=dataset.schema, fragment_scan_options=scan_options, **options)


def _at_most(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The batches sliced to at most `rows` rows each (slices share memory)."""
    for batch in batches:
        for offset in range(0, batch.num_rows, rows):
            yield batch.slice(offset, rows)


def open_source(config: SourceConfig, timeouts: TimeoutsConfig | None = None) -> Source:
    kinds: dict[str, type[Source]] = {"postgres": PostgresSource, "s3": FileSource, "file": FileSource}
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
