"""Writing rows: to PostgreSQL in bulk (binary COPY through ADBC), or as Parquet to a local
folder or an S3 prefix. Every write replaces what an earlier run of the same job wrote, so a
retried or overlapping Job never duplicates rows."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from mlops.config import TimeoutsConfig
from mlops.data.postgres import with_postgres
from mlops.data.s3 import s3_client, s3_errors
from mlops.data.sources import quote_identifier, quote_relation


def replace_table(uri: str, table: str, rows: pa.Table, timeouts: TimeoutsConfig | None = None) -> None:
    schema, name = _split(table)
    with_postgres(uri, f"cannot write {table}", lambda cursor: cursor.adbc_ingest(name, rows, mode="replace", db_schema_name=schema),
                  timeouts)


def replace_partition(uri: str, table: str, rows: pa.Table, where: dict[str, Any], timeouts: TimeoutsConfig | None = None) -> None:
    """In one transaction: take a lock on the partition, delete the rows matching `where`
    (column -> value), append `rows` (creating the table on first use). Two overlapping writers
    of one partition run one after the other, so the partition ends with exactly one copy."""
    schema, name = _split(table)
    key = int.from_bytes(hashlib.sha256(repr((table, sorted(where.items()))).encode()).digest()[:8], "big", signed=True)

    def write(cursor: Any) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock($1)", parameters=(key,))
        cursor.fetchall()
        cursor.execute("SELECT to_regclass($1)", parameters=(quote_relation(table),))
        if cursor.fetchone()[0] is not None:
            condition = " AND ".join(f"{quote_identifier(column)} = ${i}" for i, column in enumerate(where, start=1))
            cursor.execute(f"DELETE FROM {quote_relation(table)} WHERE {condition}",  # noqa: S608 - quoted names, bound values
                           parameters=tuple(where.values()))
        cursor.adbc_ingest(name, rows, mode="create_append", db_schema_name=schema)

    with_postgres(uri, f"cannot write {table}", write, timeouts)


def write_parquet(prefix: str, relative: str, rows: pa.Table, timeouts: TimeoutsConfig | None = None) -> str:
    """`rows` to `<prefix>/<relative>`, a local folder or `s3://bucket/prefix`; returns where.
    Both replace the object whole (S3 PUT, local rename), so overlapping writers leave one copy."""
    target = f"{prefix.rstrip('/')}/{relative}"
    if urlsplit(prefix).scheme == "s3":
        parts = urlsplit(target)
        sink = pa.BufferOutputStream()
        pq.write_table(rows, sink)
        with s3_errors(target):
            s3_client(timeouts).put_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"), Body=sink.getvalue().to_pybytes())
        return target
    path = Path(target.removeprefix("file://"))
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.partial")
    pq.write_table(rows, scratch)
    scratch.replace(path)  # readers never see half a file
    return str(path)


def _split(table: str) -> tuple[str | None, str]:
    """`schema.table` -> ("schema", "table"); `table` -> (None, "table")."""
    schema, _, name = table.rpartition(".")
    return schema or None, name
