"""Writing rows: to PostgreSQL in bulk (binary COPY through ADBC), or as Parquet to a local
folder or an S3 prefix. Every write replaces what an earlier run of the same job wrote, so a
retried or overlapping Job never duplicates rows. Rows may come as one table or as a stream of
record batches, written as they come: memory holds one batch, never the whole output."""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq

from mlops.config import TimeoutsConfig
from mlops.data.files import file_errors, filesystem, move_into_place, remove_quietly
from mlops.data.postgres import postgres_session, with_postgres
from mlops.data.sources import quote_identifier, quote_relation

Rows: TypeAlias = pa.Table | Iterable[pa.RecordBatch]


def replace_table(uri: str, table: str, rows: pa.Table, timeouts: TimeoutsConfig | None = None) -> None:
    schema, name = _split(table)
    with_postgres(uri, f"cannot write {table}", lambda cursor: cursor.adbc_ingest(name, rows, mode="replace", db_schema_name=schema),
                  timeouts)


def replace_partition(uri: str, table: str, rows: Rows, where: dict[str, Any], timeouts: TimeoutsConfig | None = None) -> int:
    """In one transaction: take a lock on the partition, delete the rows matching `where`
    (column -> value), append `rows` batch by batch (creating the table on first use); returns
    the rows written. Two overlapping writers of one partition run one after the other, so the
    partition ends with exactly one copy; a failure before the commit leaves the old one."""
    schema, name = _split(table)
    key = int.from_bytes(hashlib.sha256(repr((table, sorted(where.items()))).encode()).digest()[:8], "big", signed=True)

    def clear(cursor: Any) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock($1)", parameters=(key,))
        cursor.fetchall()
        cursor.execute("SELECT to_regclass($1)", parameters=(quote_relation(table),))
        if cursor.fetchone()[0] is not None:
            condition = " AND ".join(f"{quote_identifier(column)} = ${i}" for i, column in enumerate(where, start=1))
            cursor.execute(f"DELETE FROM {quote_relation(table)} WHERE {condition}",  # noqa: S608 - quoted names, bound values
                           parameters=tuple(where.values()))

    written = 0
    with postgres_session(uri, f"cannot write {table}", timeouts) as session:
        session.run(clear)
        # One COPY per batch, each bounded like any statement; the batches are produced (read,
        # scored) here, between the statements, never inside one.
        for batch in _batches(rows):
            session.run(functools.partial(_append, name, schema, batch))
            written += batch.num_rows
    return written


def _append(name: str, schema: str | None, batch: pa.RecordBatch, cursor: Any) -> None:
    cursor.adbc_ingest(name, batch, mode="create_append", db_schema_name=schema)


def write_parquet(prefix: str, relative: str, rows: Rows, timeouts: TimeoutsConfig | None = None) -> str:
    """`rows` as one Parquet file at `<prefix>/<relative>`, a local folder or `s3://bucket/prefix`;
    returns where. The file is written under a hidden scratch name beside the target and moved
    over it when complete (a rename locally, a server-side copy on S3), so readers and
    overlapping writers only ever see a whole file, and a failure leaves the previous one."""
    target = f"{prefix.rstrip('/')}/{relative}"
    batches = _batches(rows)
    first = next(batches, None)
    schema = first.schema if first is not None else rows.schema if isinstance(rows, pa.Table) else None
    if schema is None:
        raise ValueError("write_parquet needs a table or at least one batch to know the schema")
    with parquet_file(target, schema, timeouts) as writer:
        for batch in itertools.chain([first] if first is not None else [], batches):
            writer.write_batch(batch)
    return target if target.startswith("s3://") else str(filesystem(target, target)[1])


@contextmanager
def parquet_file(target: str, schema: pa.Schema, timeouts: TimeoutsConfig | None = None) -> Iterator[pq.ParquetWriter]:
    """A ParquetWriter whose file appears at `target` (local path or s3:// URI) only when the
    block completes; when it raises, the scratch file is removed and `target` is untouched."""
    fs, path = filesystem(target, target, timeouts)
    parent, _, name = path.rpartition("/")
    scratch = f"{parent}/.{name}.{os.getpid()}.partial"
    with file_errors(target):
        if not target.startswith("s3://"):
            fs.create_dir(parent, recursive=True)
        stream = fs.open_output_stream(scratch)
    writer: pq.ParquetWriter | None = None
    try:
        with file_errors(target):
            writer = pq.ParquetWriter(stream, schema)
        yield writer
        with file_errors(target):
            writer.close()
            stream.close()
    except BaseException:
        _abandon(writer, stream)
        remove_quietly(fs, scratch, target, timeouts)
        raise
    move_into_place(fs, scratch, path, target, timeouts)


def _abandon(writer: pq.ParquetWriter | None, stream: Any) -> None:
    """Close what is open, quietly: the write is already failing, and the scratch file this
    leaves (or a stray one after a kill) is hidden, skipped by every Parquet reader."""
    for step in (writer.close if writer is not None else None, stream.close):
        try:
            if step is not None:
                step()
        except Exception:  # noqa: S110 - see the docstring
            pass


def _batches(rows: Rows) -> Iterator[pa.RecordBatch]:
    source = rows.to_batches() if isinstance(rows, pa.Table) else rows
    return (batch for batch in source if batch.num_rows)


def _split(table: str) -> tuple[str | None, str]:
    """`schema.table` -> ("schema", "table"); `table` -> (None, "table")."""
    schema, _, name = table.rpartition(".")
    return schema or None, name
