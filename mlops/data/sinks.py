"""Writing rows: to PostgreSQL in bulk (binary COPY through ADBC), or as Parquet to a local
folder or an S3 prefix. Every write replaces what an earlier run of the same job wrote, so a
retried Job never duplicates rows."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from mlops.config import redact_uri, uri_password
from mlops.data.sources import quote_relation
from mlops.errors import DataError, ServiceUnavailable


def replace_table(uri: str, table: str, rows: pa.Table) -> None:
    _postgres(uri, table, lambda cursor: cursor.adbc_ingest(table, rows, mode="replace"))


def replace_partition(uri: str, table: str, rows: pa.Table, where: dict[str, Any]) -> None:
    """In one transaction: delete the rows matching `where` (column -> value), append `rows`
    (creating the table on first use)."""

    def write(cursor: Any) -> None:
        cursor.execute("SELECT to_regclass($1)", parameters=(table,))
        if cursor.fetchone()[0] is not None:
            condition = " AND ".join(f"{quote_relation(column)} = ${i}" for i, column in enumerate(where, start=1))
            cursor.execute(f"DELETE FROM {quote_relation(table)} WHERE {condition}",  # noqa: S608 - quoted names, bound values
                           parameters=tuple(where.values()))
        cursor.adbc_ingest(table, rows, mode="create_append")

    _postgres(uri, table, write)


def write_parquet(prefix: str, relative: str, rows: pa.Table) -> str:
    """`rows` to `<prefix>/<relative>`, a local folder or `s3://bucket/prefix`; returns where."""
    target = f"{prefix.rstrip('/')}/{relative}"
    if urlsplit(prefix).scheme == "s3":
        import boto3
        import botocore.exceptions

        parts = urlsplit(target)
        sink = pa.BufferOutputStream()
        pq.write_table(rows, sink)
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
        try:
            boto3.client("s3", endpoint_url=endpoint).put_object(
                Bucket=parts.netloc, Key=parts.path.lstrip("/"), Body=sink.getvalue().to_pybytes())
        except botocore.exceptions.ClientError as exc:
            raise DataError(f"{target}: cannot write ({exc.response.get('Error', {}).get('Code', exc)})") from exc
        except botocore.exceptions.EndpointConnectionError as exc:
            raise ServiceUnavailable(f"{target}: S3 endpoint unreachable") from exc
        return target
    path = Path(target.removeprefix("file://"))
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".partial")
    pq.write_table(rows, scratch)
    scratch.replace(path)  # readers never see half a file
    return str(path)


def _postgres(uri: str, table: str, work: Callable[[Any], None]) -> None:
    import adbc_driver_manager
    from adbc_driver_postgresql import dbapi

    try:
        with dbapi.connect(uri) as conn, conn.cursor() as cursor:
            work(cursor)
            conn.commit()
    except adbc_driver_manager.Error as exc:
        message = str(exc).splitlines()[0]
        if password := uri_password(uri):
            message = message.replace(password, "***")
        if "connection refused" in message.lower() or "could not connect" in message.lower():
            raise ServiceUnavailable(f"{redact_uri(uri)}: database unreachable ({message})") from exc
        raise DataError(f"{redact_uri(uri)}: cannot write {table} ({message})") from exc
