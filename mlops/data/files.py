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
from mlops.data.s3 import arrow_s3_error, delete_quietly, replace_object, s3_filesystem
from mlops.errors import DataError, MlopsError


def filesystem(uri: str, where: str, timeouts: TimeoutsConfig | None = None) -> tuple[Any, str]:
    """(the pyarrow filesystem, the path in it) for a local path, `file://` URI or `s3://bucket/key`."""
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        return s3_filesystem(where, timeouts), f"{parts.netloc}/{parts.path.lstrip('/')}".rstrip("/")
    import pyarrow.fs as pafs

    return pafs.LocalFileSystem(), str(Path(uri.removeprefix("file://")).absolute())


def move_into_place(fs: Any, scratch: str, path: str, uri: str, timeouts: TimeoutsConfig | None = None) -> None:
    """Replace `path` by the finished `scratch` beside it: a rename locally, a server-side copy
    and delete on S3; readers see the old file or the new one, never part of one."""
    if urlsplit(uri).scheme == "s3":
        bucket, _, source_key = scratch.partition("/")
        replace_object(uri, bucket, source_key, path.partition("/")[2], timeouts)
        return
    with file_errors(uri):
        fs.move(scratch, path)


def remove_quietly(fs: Any, path: str, uri: str, timeouts: TimeoutsConfig | None = None) -> None:
    if urlsplit(uri).scheme == "s3":
        bucket, _, key = path.partition("/")
        delete_quietly(bucket, key, timeouts)
        return
    try:
        fs.delete_file(path)
    except OSError:
        pass


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
