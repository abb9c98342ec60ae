"""MLflow, HTTP, S3 and socket failures are mapped by type (and MLflow's error code), not by text."""

from __future__ import annotations

import socket

import botocore.exceptions as boto
import pytest
import requests
from mlflow.exceptions import MlflowException, RestException

from mlops.errors import RegistryError, ServiceUnavailable
from mlops.tracking.failures import is_transient, mlflow_errors, translate


def wrapped(inner: BaseException) -> MlflowException:
    """As MLflow's REST client does: a new exception raised while handling the transport's."""
    try:
        raise inner
    except BaseException:
        try:
            raise MlflowException("API request to http://mlflow/api failed with exception x")  # no 'from': context only
        except MlflowException as exc:
            return exc


@pytest.mark.parametrize("inner", [
    requests.exceptions.ConnectionError("refused"),
    requests.exceptions.ReadTimeout("slow"),
    socket.gaierror(-2, "Name or service not known"),
    ConnectionResetError(104, "reset"),
    boto.EndpointConnectionError(endpoint_url="http://s3"),
])
def test_transport_failures_under_mlflow_exceptions_are_transient(inner: BaseException) -> None:
    assert is_transient(wrapped(inner))
    assert isinstance(translate(wrapped(inner), "reading"), ServiceUnavailable)


@pytest.mark.parametrize(("code", "transient"), [
    ("TEMPORARILY_UNAVAILABLE", True), ("INTERNAL_ERROR", True), ("REQUEST_LIMIT_EXCEEDED", True),
    ("RESOURCE_DOES_NOT_EXIST", False), ("INVALID_PARAMETER_VALUE", False), ("PERMISSION_DENIED", False),
])
def test_mlflow_error_codes_decide(code: str, transient: bool) -> None:
    exc = RestException({"error_code": code, "message": "connection refused"})  # the text must not matter
    assert is_transient(exc) is transient
    assert isinstance(translate(exc, "x"), ServiceUnavailable if transient else RegistryError)


def test_s3_answers_are_mapped_by_status_and_code() -> None:
    busy = boto.ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
    denied = boto.ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")
    assert is_transient(busy) and not is_transient(denied)
    assert not is_transient(boto.NoCredentialsError())


def test_the_context_manager_lets_defects_through() -> None:
    with pytest.raises(ServiceUnavailable, match="listing: MLflow or its artifact store unreachable"), mlflow_errors("listing"):
        raise wrapped(requests.exceptions.ConnectionError("refused"))
    with pytest.raises(KeyError), mlflow_errors("listing"):
        raise KeyError("a bug of ours stays a bug")


def test_server_credentials_come_from_mounted_files(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from mlops.config import TimeoutsConfig
    from mlops.errors import ConfigError
    from mlops.tracking import configure_http

    (tmp_path / "user").write_text("jobs\n")
    (tmp_path / "password").write_text("p@ss%w:rd\n")
    touched = [f"MLFLOW_TRACKING_{n}{s}" for n in ("USERNAME", "PASSWORD", "TOKEN") for s in ("", "_FILE")]
    touched += [f"MLFLOW_HTTP_REQUEST_{n}" for n in ("TIMEOUT", "MAX_RETRIES", "BACKOFF_FACTOR", "BACKOFF_JITTER")]
    for name in touched:  # recorded so that teardown restores the process environment as it was
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME_FILE", str(tmp_path / "user"))
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD_FILE", str(tmp_path / "password"))
    configure_http(TimeoutsConfig())
    import os

    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "jobs" and os.environ["MLFLOW_TRACKING_PASSWORD"] == "p@ss%w:rd"
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_USERNAME_FILE: cannot read"):
        configure_http(TimeoutsConfig())
