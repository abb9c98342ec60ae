"""The S3 edge: one way to build a client (with bounded waits) and one mapping of its failures,
shared by every source and sink that reads or writes S3."""

from __future__ import annotations

import os
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
