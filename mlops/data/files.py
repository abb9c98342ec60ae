"""Files through `pyarrow.fs`: a local path and an S3 URI open by one code path, and the
failures of either become ours (exit 2 for missing or unreadable data, exit 1 for an S3 that
is unreachable or failing)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from mlops.config import TimeoutsConfig
from mlops.data.s3 import arrow_s3_error, s3_filesystem
from mlops.errors import DataError, MlopsError


def filesystem(uri: str, where: str, timeouts: TimeoutsConfig | None = None) -> tuple[Any, str]:
    """(the pyarrow filesystem, the path in it) for a local path, `file://` URI or `s3://bucket/key`."""
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        return s3_filesystem(where, timeouts), f"{parts.netloc}/{parts.path.lstrip('/')}".rstrip("/")
    import pyarrow.fs as pafs

    return pafs.LocalFileSystem(), str(Path(uri.removeprefix("file://")).absolute())


@contextmanager
def file_errors(where: str) -> Iterator[None]:
    try:
        yield
    except MlopsError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{where}: not found") from exc
    except PermissionError as exc:
        raise DataError(f"{where}: permission denied") from exc
    except OSError as exc:
        if "AWS Error" in str(exc):
            raise arrow_s3_error(where, exc) from exc
        raise DataError(f"{where}: cannot read or write ({first_line(exc)})") from exc
    except (ValueError, pa.ArrowException) as exc:  # unreadable contents
        raise DataError(f"{where}: cannot read ({first_line(exc)})") from exc


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
