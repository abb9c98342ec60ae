"""Writing rows: to PostgreSQL in bulk (binary COPY through ADBC), or as Parquet to a local
folder or an S3 prefix. Every write replaces what an earlier run of the same job wrote, so a
retried Job never duplicates rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from mlops.data.sources import quote_identifier, quote_relation, s3_client, with_postgres
from mlops.errors import DataError, ServiceUnavailable


def replace_table(uri: str, table: str, rows: pa.Table) -> None:
    schema, name = _split(table)
    with_postgres(uri, f"cannot write {table}", lambda cursor: cursor.adbc_ingest(name, rows, mode="replace", db_schema_name=schema))


def replace_partition(uri: str, table: str, rows: pa.Table, where: dict[str, Any]) -> None:
    """In one transaction: delete the rows matching `where` (column -> value), append `rows`
    (creating the table on first use)."""
    schema, name = _split(table)

    def write(cursor: Any) -> None:
        cursor.execute("SELECT to_regclass($1)", parameters=(quote_relation(table),))
        if cursor.fetchone()[0] is not None:
            condition = " AND ".join(f"{quote_identifier(column)} = ${i}" for i, column in enumerate(where, start=1))
            cursor.execute(f"DELETE FROM {quote_relation(table)} WHERE {condition}",  # noqa: S608 - quoted names, bound values
                           parameters=tuple(where.values()))
        cursor.adbc_ingest(name, rows, mode="create_append", db_schema_name=schema)

    with_postgres(uri, f"cannot write {table}", write)


def write_parquet(prefix: str, relative: str, rows: pa.Table) -> str:
    """`rows` to `<prefix>/<relative>`, a local folder or `s3://bucket/prefix`; returns where."""
    target = f"{prefix.rstrip('/')}/{relative}"
    if urlsplit(prefix).scheme == "s3":
        import botocore.exceptions

        parts = urlsplit(target)
        sink = pa.BufferOutputStream()
        pq.write_table(rows, sink)
        client, _ = s3_client()
        try:
            client.put_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"), Body=sink.getvalue().to_pybytes())
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


def _split(table: str) -> tuple[str | None, str]:
    """`schema.table` -> ("schema", "table"); `table` -> (None, "table")."""
    schema, _, name = table.rpartition(".")
    return schema or None, name
