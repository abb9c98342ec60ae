"""Writing rows to PostgreSQL in bulk (binary COPY through ADBC)."""

from __future__ import annotations

import pyarrow as pa

from mlops.config import redact_uri, uri_password
from mlops.errors import DataError, ServiceUnavailable


def replace_table(uri: str, table: str, rows: pa.Table) -> None:
    import adbc_driver_manager
    from adbc_driver_postgresql import dbapi

    try:
        with dbapi.connect(uri) as conn, conn.cursor() as cursor:
            cursor.adbc_ingest(table, rows, mode="replace")
            conn.commit()
    except adbc_driver_manager.Error as exc:
        message = str(exc).splitlines()[0]
        if password := uri_password(uri):
            message = message.replace(password, "***")
        if "connection refused" in message.lower() or "could not connect" in message.lower():
            raise ServiceUnavailable(f"{redact_uri(uri)}: database unreachable ({message})") from exc
        raise DataError(f"{redact_uri(uri)}: cannot write {table} ({message})") from exc
