"""Every failure of MLflow, HTTP, S3 or a socket, mapped by type to the project's errors.

A retry can help when a server is unreachable, refuses, times out, answers 5xx, or a name does
not resolve: `ServiceUnavailable` (exit 1). Everything else — a missing resource, rejected
credentials, a bad request — cannot be fixed by retrying: `RegistryError` (exit 2). The decision
follows the exception's type and MLflow's error code, never its message text, and looks through
the whole chain of causes because MLflow wraps transport errors in its own exception.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from mlops.errors import MlopsError, RegistryError, ServiceUnavailable

# MLflow error codes that a retry can clear (HTTP 429 and 5xx map to these).
_TRANSIENT_CODES = frozenset({
    "TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED",
    "SERVICE_UNDER_MAINTENANCE", "ABORTED", "IO_ERROR",
})
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "ENDPOINT_NOT_FOUND"})
_AUTH_CODES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "CUSTOMER_UNAUTHORIZED"})
_TRANSIENT_S3_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"})


def _transient_types() -> tuple[type[BaseException], ...]:
    import botocore.exceptions as boto
    import requests.exceptions as req
    import urllib3.exceptions as ul3

    return (
        ConnectionError, TimeoutError, socket.gaierror, http.client.HTTPException,
        req.ConnectionError, req.Timeout, req.ChunkedEncodingError,
        ul3.MaxRetryError, ul3.ProtocolError, ul3.NewConnectionError, ul3.TimeoutError,
        boto.EndpointConnectionError, boto.ConnectionClosedError, boto.ReadTimeoutError, boto.ConnectTimeoutError,
    )


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it was raised from or during, innermost last."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(exc: BaseException) -> bool:
    import botocore.exceptions as boto

    transient = _transient_types()
    for cause in causes(exc):
        if isinstance(cause, transient):
            return True
        if isinstance(cause, boto.ClientError):
            error = cause.response.get("Error", {})
            status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if error.get("Code") in _TRANSIENT_S3_CODES or status >= 500:
                return True
        if getattr(cause, "error_code", None) in _TRANSIENT_CODES:
            return True
    return False


def error_code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", "") or "")


def first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:limit]


def translate(exc: BaseException, action: str) -> MlopsError:
    """The project's error for a failure of `action` against MLflow or its artifact store."""
    if isinstance(exc, MlopsError):
        return exc
    if is_transient(exc):
        return ServiceUnavailable(f"{action}: MLflow or its artifact store unreachable ({first_line(exc)})")
    if error_code(exc) in _AUTH_CODES:
        return RegistryError(f"{action}: MLflow rejected the credentials ({error_code(exc)})")
    return RegistryError(f"{action}: {first_line(exc)}")


@contextmanager
def mlflow_errors(action: str) -> Iterator[None]:
    """Around every call into MLflow: its failures leave as `ServiceUnavailable` or `RegistryError`."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlopsError:
        raise
    except (MlflowException, OSError, ValueError) as exc:
        raise translate(exc, action) from exc
    except Exception as exc:
        if is_transient(exc):
            raise translate(exc, action) from exc
        raise
