"""The one MLflow client of a process, behind the few operations the jobs need.

Every call goes through an explicit run id or model name (no fluent API, no active run, no
process-global tracking URI) and every failure leaves as the project's own error
(`mlops.tracking.failures`). What comes back are small project dataclasses, not MLflow entities.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops.config import TimeoutsConfig, TrackingConfig, redact_uri
from mlops.errors import ConfigError, RegistryError, ServiceUnavailable
from mlops.tracking.failures import NOT_FOUND_CODES, error_code, mlflow_errors

log = logging.getLogger(__name__)

PRODUCTION = "production"
PREVIOUS = "previous"
TERMINAL = ("FINISHED", "FAILED", "KILLED")
EXPERIMENT_KIND = "mlflow.experimentKind"
CUSTOM_MODEL = "custom_model_development"  # the UI's machine-learning view


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    status: str
    start_time: int  # ms since the epoch
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    run_id: str | None
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""


CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def configure_http(timeouts: TimeoutsConfig) -> None:
    """Bound every MLflow HTTP request of this process, and take the server's credentials from
    files (`MLFLOW_TRACKING_USERNAME_FILE`, `..._PASSWORD_FILE`, `..._TOKEN_FILE`: mounted
    Secrets) when the variables themselves are unset. MLflow reads all of these only from the
    environment, so the CLI calls this once at start; explicit settings in the environment win."""
    for name in CREDENTIAL_VARIABLES:
        path = os.environ.get(f"{name}_FILE")
        if path and not os.environ.get(name):
            try:
                os.environ[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read {path} ({exc.strerror})") from exc
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(timeouts.request_seconds)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(timeouts.request_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.5")


class Tracking:
    def __init__(self, config: TrackingConfig) -> None:
        from mlflow.tracking import MlflowClient

        self.config = config
        self.uri = config.uri
        if config.uri.startswith("sqlite:///"):
            Path(config.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=config.uri, registry_uri=config.uri)

    def describe(self) -> str:
        return redact_uri(self.uri)

    # -- experiments and runs -------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        """The experiment's id, created when missing. Two jobs of one model starting together
        both find it missing: the one that loses the creation reads the winner's."""
        from mlflow.exceptions import MlflowException

        with mlflow_errors(f"experiment {name!r} on {self.describe()}"):
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                if experiment.tags.get(EXPERIMENT_KIND) is None:  # made before the tag existed
                    self.client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND, CUSTOM_MODEL)
                return str(experiment.experiment_id)
            location = None
            if self.config.embedded:
                location = Path(self.config.artifact_location).resolve().as_uri()
            try:
                # Without the kind, MLflow 3's UI opens the experiment in its GenAI view.
                return str(self.client.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND: CUSTOM_MODEL}))
            except MlflowException:
                # The server answers a lost race with its unique-constraint error, not one code.
                created = self.client.get_experiment_by_name(name)
                if created is None:
                    raise
                return str(created.experiment_id)

    def ping(self) -> int:
        """Reach the store (and the server's authentication): the number of experiments seen, up to 100."""
        with mlflow_errors(f"reaching {self.describe()}"):
            return len(self.client.search_experiments(max_results=100))

    def find_experiment_id(self, name: str) -> str | None:
        """The experiment's id, or None; creates nothing (for read-only views)."""
        with mlflow_errors(f"experiment {name!r} on {self.describe()}"):
            experiment = self.client.get_experiment_by_name(name)
        return None if experiment is None else str(experiment.experiment_id)

    def start_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> RunInfo:
        with mlflow_errors(f"starting an MLflow run on {self.describe()}"):
            run = self.client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        return _run_info(run)

    def end_run(self, run_id: str, status: str, attempts: int = 3) -> bool:
        """Mark the run ended; a few quick tries, because a run left RUNNING misleads every reader.
        Returns False when MLflow stayed unreachable (the next run of the job marks it FAILED)."""
        for attempt in range(attempts):
            try:
                with mlflow_errors(f"marking run {run_id} {status}"):
                    self.client.set_terminated(run_id, status)
                return True
            except ServiceUnavailable as exc:
                if attempt == attempts - 1:
                    log.warning("could not mark run %s %s: %s", run_id, status, exc)
                    return False
                time.sleep(1 + attempt)
            except RegistryError as exc:
                log.warning("could not mark run %s %s: %s", run_id, status, exc)
                return False
        return False

    def run(self, run_id: str) -> RunInfo:
        with mlflow_errors(f"reading run {run_id}"):
            return _run_info(self.client.get_run(run_id))

    def search_runs(self, experiment_id: str, filter_string: str, order_by: list[str] | None = None,
                    limit: int = 100) -> list[RunInfo]:
        with mlflow_errors("searching runs"):
            runs = self.client.search_runs([experiment_id], filter_string=filter_string, order_by=order_by or [],
                                           max_results=limit)
        return [_run_info(r) for r in runs]

    def finished_runs(self, experiment_id: str, tags: Mapping[str, str] | None = None, order_metric: str | None = None,
                      ascending: bool = False, since_ms: int | None = None, limit: int = 1000) -> list[RunInfo]:
        """FINISHED runs with their latest metrics and tags, newest first unless ordered by a metric:
        one search, paged by MLflow's page token (a page holds up to 1000 runs), never one call per run."""
        filter_string, order = finished_runs_query(tags, order_metric, ascending, since_ms)
        found: list[RunInfo] = []
        token: str | None = None
        with mlflow_errors("searching runs"):
            while len(found) < limit:
                page = self.client.search_runs([experiment_id], filter_string=filter_string, order_by=order,
                                               max_results=min(1000, limit - len(found)), page_token=token)
                found += [_run_info(r) for r in page]
                token = page.token
                if not token:
                    break
        return found

    def fail_stale_runs(self, experiment_id: str, job: str, model: str, older_than_seconds: float = 0.0,
                        keep: str | None = None) -> list[str]:
        """Mark RUNNING runs of this job and model FAILED: their process is gone (it crashed, was
        killed, or lost MLflow before it could say so). `older_than_seconds` spares runs that may
        still be alive when the caller holds no lock that excludes them."""
        cutoff = (time.time() - older_than_seconds) * 1000
        filter_string = (f"attributes.status = 'RUNNING' and tags.`mlops.job` = '{_quote(job)}' "
                         f"and tags.`mlops.model` = '{_quote(model)}'")
        failed = []
        for run in self.search_runs(experiment_id, filter_string, limit=1000):
            if run.run_id != keep and run.start_time <= cutoff:
                self.set_run_tags(run.run_id, {"mlops.ended_by": "a later run found it interrupted"})
                if self.end_run(run.run_id, "FAILED", attempts=1):
                    failed.append(run.run_id)
        if failed:
            log.warning("marked %d interrupted %s run(s) of %s FAILED: %s", len(failed), job, model, ", ".join(failed))
        return failed

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        with mlflow_errors(f"logging params of run {run_id}"):
            self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], at: datetime | None = None) -> None:
        """`at` dates the values (their timestamp, and their step in days since the epoch), so that
        the UI's charts put daily runs on a time axis by the day they describe, backfills included."""
        from mlflow.entities import Metric

        stamp = int((at.timestamp() if at else time.time()) * 1000)
        step = int(at.timestamp() // 86400) if at else 0
        entries = [Metric(k, float(v), stamp, step) for k, v in metrics.items()]
        with mlflow_errors(f"logging metrics of run {run_id}"):
            for start in range(0, len(entries), 1000):  # MLflow's batch limit
                self.client.log_batch(run_id, metrics=entries[start:start + 1000])

    def set_run_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        with mlflow_errors(f"tagging run {run_id}"):
            self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_dict(self, run_id: str, data: Any, path: str) -> None:
        with mlflow_errors(f"uploading {path} of run {run_id}"):
            self.client.log_dict(run_id, data, path)

    def log_text(self, run_id: str, text: str, path: str) -> None:
        with mlflow_errors(f"uploading {path} of run {run_id}"):
            self.client.log_text(run_id, text, path)

    def load_json(self, run_id: str, path: str) -> dict[str, Any]:
        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory() as tmp:
            with mlflow_errors(f"downloading {path} of run {run_id}"):
                try:
                    local = self.client.download_artifacts(run_id, path, tmp)
                except FileNotFoundError as exc:
                    raise RegistryError(f"run {run_id} has no artifact {path}") from exc
                except MlflowException as exc:
                    if error_code(exc) in NOT_FOUND_CODES:
                        raise RegistryError(f"run {run_id} has no artifact {path}") from exc
                    raise
            data: dict[str, Any] = json.loads(Path(local).read_text(encoding="utf-8"))
        return data

    def log_model(self, run_id: str, code_path: str, artifacts: Mapping[str, str], input_example: Any,
                  output_example: Any, requirements: list[str], code_paths: list[str] | None = None) -> str:
        """Save a models-from-code pyfunc locally, upload it as the run's `model` folder, and return
        the concrete artifact URI a version is registered from."""
        import mlflow.pyfunc
        from mlflow.models import infer_signature

        with warnings.catch_warnings():
            # MLflow hints that integer columns cannot hold NaN; the schema follows the source's types.
            warnings.filterwarnings("ignore", message=".*Inferred schema contains integer column.*")
            signature = infer_signature(input_example, output_example)
        with tempfile.TemporaryDirectory() as tmp, mlflow_errors(f"logging the model of run {run_id}"):
            local = Path(tmp) / "model"
            mlflow.pyfunc.save_model(str(local), python_model=code_path, artifacts=dict(artifacts), signature=signature,
                                     input_example=input_example, pip_requirements=requirements, code_paths=code_paths)
            self.client.log_artifacts(run_id, str(local), "model")
            artifact_uri = self.client.get_run(run_id).info.artifact_uri
        return f"{artifact_uri.rstrip('/')}/model"

    def download_version(self, name: str, version: str, into: Path) -> Path:
        """The version's model folder, downloaded from wherever its source points."""
        import mlflow.artifacts

        with mlflow_errors(f"downloading {name} v{version}"):
            uri = self.client.get_model_version_download_uri(name, version)
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(into), tracking_uri=self.uri))

    # -- versions, aliases, model tags ------------------------------------------------------

    def alias(self, name: str, alias: str) -> VersionInfo | None:
        from mlflow.exceptions import MlflowException

        with mlflow_errors(f"alias {name}@{alias}"):
            try:
                return _version_info(self.client.get_model_version_by_alias(name, alias))
            except MlflowException as exc:
                if error_code(exc) in NOT_FOUND_CODES or error_code(exc) == "INVALID_PARAMETER_VALUE":
                    return None
                # MLflow's basic-auth denies (403) any non-admin an alias of a model that does not
                # exist, so names cannot be probed; the model's own lookup still says 404.
                if error_code(exc) == "PERMISSION_DENIED" and not self._model_exists(name):
                    return None
                raise

    def _model_exists(self, name: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return False
            raise
        return True

    def version(self, name: str, version: str) -> VersionInfo:
        from mlflow.exceptions import MlflowException

        with mlflow_errors(f"version {name}/{version}"):
            try:
                return _version_info(self.client.get_model_version(name, version))
            except MlflowException as exc:
                if error_code(exc) in NOT_FOUND_CODES or error_code(exc) == "INVALID_PARAMETER_VALUE":
                    raise RegistryError(f"model {name!r} has no version {version}") from exc
                raise

    def versions_tagged(self, name: str, key: str, value: str) -> list[VersionInfo]:
        """Versions of `name` whose tag `key` equals `value`, lowest version first."""
        with mlflow_errors(f"searching versions of {name!r}"):
            found = self.client.search_model_versions(f"name = '{_quote(name)}' and tags.`{key}` = '{_quote(value)}'")
        return sorted((_version_info(v) for v in found), key=lambda v: int(v.version))

    def register(self, name: str, source: str, run_id: str, tags: Mapping[str, str], description: str | None = None) -> VersionInfo:
        """Create the version with its tags and card in one call; return exactly what the registry created."""
        from mlflow.exceptions import MlflowException

        with mlflow_errors(f"registering {name!r}"):
            try:
                self.client.create_registered_model(name)
            except MlflowException as exc:
                if error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                    raise
            return _version_info(self.client.create_model_version(name, source, run_id, tags=dict(tags),
                                                                  description=description))

    def describe_version(self, name: str, version: str, description: str) -> None:
        with mlflow_errors(f"describing {name} v{version}"):
            self.client.update_model_version(name, version, description=description)

    def describe_model(self, name: str, description: str) -> None:
        with mlflow_errors(f"describing model {name!r}"):
            self.client.update_registered_model(name, description=description)

    def delete_version(self, name: str, version: str) -> None:
        with mlflow_errors(f"deleting {name} v{version}"):
            self.client.delete_model_version(name, version)

    def tag_version(self, name: str, version: str, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            try:
                with mlflow_errors(f"tagging {name} v{version}"):
                    self.client.set_model_version_tag(name, version, key, str(value))
            except RegistryError:
                # MLflow's server inserts a new tag without an upsert: two jobs setting the same
                # tag at once (overlapping predicts) make one fail with a 400. Setting a tag is
                # idempotent, so one more try settles the race; a bad request fails again.
                time.sleep(0.2)
                with mlflow_errors(f"tagging {name} v{version}"):
                    self.client.set_model_version_tag(name, version, key, str(value))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        with mlflow_errors(f"moving {name}@{alias} to v{version}"):
            self.client.set_registered_model_alias(name, alias, version)

    def model_tag(self, name: str, key: str) -> str | None:
        from mlflow.exceptions import MlflowException

        with mlflow_errors(f"reading model {name!r}"):
            try:
                model = self.client.get_registered_model(name)
            except MlflowException as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    return None
                raise
        value = (model.tags or {}).get(key)
        return None if value is None else str(value)

    def model_tags(self, name: str) -> dict[str, str]:
        """Every tag of the registered model; none when it does not exist yet."""
        from mlflow.exceptions import MlflowException

        with mlflow_errors(f"reading model {name!r}"):
            try:
                model = self.client.get_registered_model(name)
            except MlflowException as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    return {}
                raise
        return {str(k): str(v) for k, v in (model.tags or {}).items()}

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        with mlflow_errors(f"tagging model {name!r}"):
            self.client.set_registered_model_tag(name, key, value)

    def delete_model_tag(self, name: str, key: str) -> None:
        with mlflow_errors(f"tagging model {name!r}"):
            self.client.delete_registered_model_tag(name, key)


def finished_runs_query(tags: Mapping[str, str] | None, order_metric: str | None, ascending: bool,
                        since_ms: int | None) -> tuple[str, list[str]]:
    """The filter string and order of `finished_runs`, for MLflow's client and its REST API alike."""
    clauses = ["attributes.status = 'FINISHED'"]
    clauses += [f"tags.`{key}` = '{_quote(value)}'" for key, value in (tags or {}).items()]
    if since_ms is not None:
        clauses.append(f"attributes.start_time >= {int(since_ms)}")
    order = [f"metrics.`{order_metric}` {'ASC' if ascending else 'DESC'}"] if order_metric else []
    order.append("attributes.start_time DESC")
    return " and ".join(clauses), order


def _run_info(run: Any) -> RunInfo:
    return RunInfo(run.info.run_id, str(run.info.experiment_id), str(run.info.status), int(run.info.start_time or 0),
                   dict(run.data.tags or {}), dict(run.data.metrics or {}))


def _version_info(version: Any) -> VersionInfo:
    return VersionInfo(str(version.name), str(version.version), version.run_id or None, str(version.source or ""),
                       dict(version.tags or {}), str(version.description or ""))


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
