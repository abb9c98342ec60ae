"""MLflow tracking and registry behind the few operations the jobs need.

Aliases only (`production`, `previous`), never the deprecated stages. Every move sets the new
`production` before touching `previous`, so no reader ever finds the model without one.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlops.config import TrackingConfig, redact_uri
from mlops.errors import MlopsError, RegistryError, ServiceUnavailable

PRODUCTION = "production"
PREVIOUS = "previous"
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE")
# A job should fail over to Kubernetes' retry within seconds, not spend minutes in backoff.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def actor() -> str:
    try:
        return os.environ.get("MLOPS_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for a random UID in a container
        return f"uid:{os.getuid()}"


def translate(exc: Exception, action: str) -> MlopsError:
    """An MLflow failure as our own error: unreachable servers retry (1), the rest do not (2)."""
    text = str(exc)
    lowered = text.lower()
    unreachable = ("max retries exceeded", "connection refused", "timed out", "name or service not known",
                   "temporarily unavailable", "connectionerror", "bad gateway", "service unavailable")
    code = getattr(exc, "error_code", "")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if any(marker in lowered for marker in unreachable) or code in ("TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR"):
        return ServiceUnavailable(f"{action}: MLflow unreachable ({first[:300]})")
    return RegistryError(f"{action}: {first[:300]}")


class Registry:
    def __init__(self, tracking: TrackingConfig) -> None:
        for key, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        self.tracking = tracking
        self.uri = tracking.uri
        if tracking.uri.startswith("sqlite:///"):
            Path(tracking.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(tracking.uri)
        mlflow.set_registry_uri(tracking.uri)
        self.client = MlflowClient(tracking_uri=tracking.uri, registry_uri=tracking.uri)

    def describe(self) -> str:
        return redact_uri(self.uri)

    # -- experiments and runs -------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        try:
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                return str(experiment.experiment_id)
            location = None
            if self.tracking.embedded:
                location = Path(self.tracking.artifact_location).resolve().as_uri()
            return str(self.client.create_experiment(name, artifact_location=location))
        except MlflowException as exc:
            raise translate(exc, f"experiment {name!r} on {self.describe()}") from exc

    def finished_run(self, experiment_id: str, run_key: str) -> Run | None:
        escaped = run_key.replace("'", "\\'")
        try:
            runs = self.client.search_runs(
                [experiment_id],
                filter_string=f"tags.run_key = '{escaped}' and attributes.status = 'FINISHED'",
                max_results=1,
            )
        except MlflowException as exc:
            raise translate(exc, f"searching runs for run key {run_key!r}") from exc
        return runs[0] if runs else None

    def search_runs(self, experiment_id: str, order_by: str, limit: int) -> list[Run]:
        try:
            return list(
                self.client.search_runs(
                    [experiment_id], filter_string="attributes.status = 'FINISHED'", order_by=[order_by], max_results=limit
                )
            )
        except MlflowException as exc:
            raise translate(exc, "searching runs") from exc

    def run(self, run_id: str) -> Run:
        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            raise translate(exc, f"run {run_id}") from exc

    def load_json(self, run_id: str, path: str) -> dict[str, Any]:
        try:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=self.uri)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in _NOT_FOUND or "not found" in str(exc).lower() or "no such file" in str(exc).lower():
                raise RegistryError(f"run {run_id} has no artifact {path}") from exc
            raise translate(exc, f"downloading {path} of run {run_id}") from exc
        except OSError as exc:
            raise RegistryError(f"run {run_id} has no artifact {path} ({exc.strerror})") from exc
        data: dict[str, Any] = json.loads(Path(local).read_text(encoding="utf-8"))
        return data

    def tag_run(self, run_id: str, tags: dict[str, str]) -> None:
        try:
            for key, value in tags.items():
                self.client.set_tag(run_id, key, value)
        except MlflowException as exc:
            raise translate(exc, f"tagging run {run_id}") from exc

    # -- versions and aliases -------------------------------------------------------------

    def alias(self, name: str, alias: str) -> ModelVersion | None:
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in _NOT_FOUND:
                return None
            raise translate(exc, f"alias {name}@{alias}") from exc

    def version(self, name: str, version: str) -> ModelVersion:
        try:
            return self.client.get_model_version(name, version)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") in _NOT_FOUND:
                raise RegistryError(f"model {name!r} has no version {version}") from exc
            raise translate(exc, f"version {name}/{version}") from exc

    def register(self, model_uri: str, name: str, tags: dict[str, str]) -> ModelVersion:
        """Register and return the version the registry created; never search for 'the latest'."""
        try:
            return mlflow.register_model(model_uri, name, tags=tags)
        except MlflowException as exc:
            raise translate(exc, f"registering {name!r}") from exc

    def tag_version(self, name: str, version: str, tags: dict[str, Any]) -> None:
        try:
            for key, value in tags.items():
                self.client.set_model_version_tag(name, version, key, str(value))
        except MlflowException as exc:
            raise translate(exc, f"tagging {name}/{version}") from exc

    def move_production(self, name: str, version: str, expected: str | None, tags: dict[str, str]) -> str | None:
        """Make `version` production and the replaced one previous. Returns the replaced version.

        `expected` is the production version the caller evaluated against; if another job moved
        the alias since then, nothing is changed and `ProductionMoved` asks the caller to re-decide.
        """
        current = self.alias(name, PRODUCTION)
        current_version = str(current.version) if current else None
        if current_version != expected:
            raise ProductionMoved(current_version)
        if current_version == version:
            return None
        stamp = now_iso()
        try:
            self.client.set_registered_model_alias(name, PRODUCTION, version)
            self.tag_version(name, version, {"promoted_at": stamp, **tags})
            if current_version is not None:
                self.client.set_registered_model_alias(name, PREVIOUS, current_version)
                self.tag_version(name, current_version, {"archived_at": stamp})
        except MlflowException as exc:
            raise translate(exc, f"moving {name}@{PRODUCTION} to v{version}") from exc
        return current_version

    def rollback(self, name: str, tags: dict[str, str]) -> tuple[str, str]:
        """production <- previous and previous <- the old production. Returns (new, old)."""
        production = self.alias(name, PRODUCTION)
        previous = self.alias(name, PREVIOUS)
        if production is None:
            raise RegistryError(f"model {name!r} has no production version to roll back")
        if previous is None:
            raise RegistryError(f"model {name!r} has no previous version to roll back to")
        stamp = now_iso()
        new, old = str(previous.version), str(production.version)
        try:
            self.client.set_registered_model_alias(name, PRODUCTION, new)
            self.tag_version(name, new, {"promoted_at": stamp, "rolled_back_to_at": stamp, **tags})
            self.client.set_registered_model_alias(name, PREVIOUS, old)
            self.tag_version(name, old, {"archived_at": stamp, "rolled_back_at": stamp, **tags})
        except MlflowException as exc:
            raise translate(exc, f"rolling back {name!r}") from exc
        return new, old


class ProductionMoved(RegistryError):
    """The production alias changed between evaluation and promotion."""

    def __init__(self, now: str | None) -> None:
        super().__init__(f"production moved to v{now} during evaluation")
        self.now = now
