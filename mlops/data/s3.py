"""The S3 edge: one way to build a client (with bounded waits) and one mapping of its failures,
shared by every source and sink that reads or writes S3."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlops.config import TimeoutsConfig
from mlops.errors import DataError, ServiceUnavailable

_MESSAGES = {
    "NoSuchBucket": "bucket does not exist",
    "NoSuchKey": "object not found",
    "404": "object not found",
    "AccessDenied": "access denied (check the AWS credentials)",
    "403": "access denied (check the AWS credentials)",
    "InvalidAccessKeyId": "invalid AWS access key id",
    "SignatureDoesNotMatch": "AWS secret key rejected",
}
_TRANSIENT_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "503", "500"})


def endpoint() -> str | None:
    """AWS_ENDPOINT_URL, else MLFLOW_S3_ENDPOINT_URL (MinIO, moto), else AWS itself."""
    return os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None


def s3_client(timeouts: TimeoutsConfig | None = None) -> Any:
    import boto3
    from botocore.config import Config

    limits = timeouts or TimeoutsConfig()
    settings = Config(connect_timeout=limits.connect_seconds, read_timeout=limits.request_seconds,
                      retries={"max_attempts": 1 + limits.request_retries, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint(), config=settings)


@contextmanager
def s3_errors(where: str) -> Iterator[None]:
    """botocore's failures as ours, by type: unreachable or 5xx may pass on retry (exit 1);
    missing objects and credentials cannot (exit 2)."""
    import botocore.exceptions as boto

    try:
        yield
    except boto.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _TRANSIENT_CODES or status >= 500:
            raise ServiceUnavailable(f"{where}: S3 answered {code or status}; may pass on retry") from exc
        raise DataError(f"{where}: {_MESSAGES.get(code, code or 'request rejected')}") from exc
    except (boto.NoCredentialsError, boto.PartialCredentialsError) as exc:
        raise DataError(f"{where}: no usable AWS credentials found") from exc
    except (boto.EndpointConnectionError, boto.ConnectionClosedError, boto.ConnectTimeoutError,
            boto.ReadTimeoutError) as exc:
        raise ServiceUnavailable(f"{where}: S3 endpoint unreachable ({endpoint() or 'AWS default'})") from exc
    except boto.BotoCoreError as exc:
        raise DataError(f"{where}: S3 request failed ({type(exc).__name__})") from exc


# pyarrow's S3 filesystem raises plain OSError whose text carries the AWS SDK's error name
# ("AWS Error ACCESS_DENIED during GetObject ...") or curl's code: that name is the only type
# information it gives, so it is matched here, in one place.
_ARROW_TRANSIENT = ("NETWORK_CONNECTION", "SLOW_DOWN", "SERVICE_UNAVAILABLE", "INTERNAL_FAILURE", "THROTTLING",
                    "REQUEST_TIMEOUT", "REQUEST_TIME_TOO_SKEWED", "curlCode")
_ARROW_MESSAGES = {
    "NO_SUCH_BUCKET": "bucket does not exist",
    "NO_SUCH_KEY": "object not found",
    "RESOURCE_NOT_FOUND": "object not found",
    "ACCESS_DENIED": "access denied (check the AWS credentials)",
    "INVALID_ACCESS_KEY_ID": "invalid AWS access key id",
    "SIGNATURE_DOES_NOT_MATCH": "AWS secret key rejected",
}


def arrow_s3_error(where: str, exc: OSError) -> DataError | ServiceUnavailable:
    """An S3 failure reported by pyarrow as ours: unreachable, timed out, throttled or 5xx may
    pass on retry (exit 1); the rest cannot (exit 2)."""
    text = str(exc)
    status = re.search(r"HTTP status (\d{3})", text)
    if any(name in text for name in _ARROW_TRANSIENT) or (status is not None and int(status.group(1)) >= 500):
        return ServiceUnavailable(f"{where}: S3 unreachable or failing ({endpoint() or 'AWS default'}); may pass on retry")
    for name, message in _ARROW_MESSAGES.items():
        if f"AWS Error {name}" in text:
            return DataError(f"{where}: {message}")
    return DataError(f"{where}: S3 request failed ({text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__})")


def s3_filesystem(where: str, timeouts: TimeoutsConfig | None = None) -> Any:
    """A pyarrow S3 filesystem on the same endpoint, credentials and region as `s3_client`:
    botocore resolves them (environment, shared files, web identity, instance metadata), so a
    missing credential is a clear error here rather than an unsigned request later."""
    import botocore.session
    import pyarrow.fs as pafs

    limits = timeouts or TimeoutsConfig()
    session = botocore.session.get_session()
    with s3_errors(where):
        credentials = session.get_credentials()
    if credentials is None:
        raise DataError(f"{where}: no usable AWS credentials found")
    frozen = credentials.get_frozen_credentials()
    return pafs.S3FileSystem(
        access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token,
        region=session.get_config_variable("region") or "us-east-1", endpoint_override=endpoint(),
        connect_timeout=limits.connect_seconds, request_timeout=limits.request_seconds,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1 + limits.request_retries))


def replace_object(where: str, bucket: str, source_key: str, key: str, timeouts: TimeoutsConfig | None = None) -> None:
    """`source_key` copied over `key` server-side, then deleted: readers of `key` see the old
    object until the new one is whole. boto3's managed copy goes multipart past 5 GB; unlike
    pyarrow's move it leaves no empty "directory" marker behind."""
    client = s3_client(timeouts)
    with s3_errors(where):
        client.copy({"Bucket": bucket, "Key": source_key}, bucket, key)
        client.delete_object(Bucket=bucket, Key=source_key)


def delete_quietly(bucket: str, key: str, timeouts: TimeoutsConfig | None = None) -> None:
    try:
        s3_client(timeouts).delete_object(Bucket=bucket, Key=key)
    except Exception:  # noqa: S110 - cleanup of a write that already failed
        pass
