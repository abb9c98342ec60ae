"""Read-only registry views for the operator commands (status, leaderboard, history, drift-history).

`import mlflow` alone takes over 2 s here (its package imports its GenAI, data and model layers
at start), and opening a SQLite store adds more (SQLAlchemy, the schema check). A person typing
`mlops status` should have an answer within 1.5 s, so these views never import mlflow where they
can avoid it:

- on an MLflow server (`http(s)://`), `RestReader` calls its documented REST API with urllib,
  with MLflow's own credential and TLS variables, timeouts and retries;
- on the embedded SQLite store, `SqliteReader` reads MLflow's tables read-only with sqlite3. That
  reads MLflow's own schema, so only at a revision this code was written and tested against
  (`KNOWN_SCHEMAS`, the pinned MLflow's; a test checks it is MLflow's alembic head).

Any other store (a database URI, an unknown revision, an auth plugin) goes through `Tracking` and
MLflow's client: `open_reader` decides. All answer the `Reader` protocol with the same dataclasses.
"""

from __future__ import annotations

import base64
import json
import math
import os
import sqlite3
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from mlops.config import TimeoutsConfig, TrackingConfig, redact_uri
from mlops.errors import RegistryError, ServiceUnavailable
from mlops.tracking.client import RunInfo, VersionInfo, finished_runs_query

# Alembic revisions of MLflow's SQL schema whose tables this module reads (mlflow==3.17.2).
KNOWN_SCHEMAS = frozenset({"dc11669786a5"})


class Reader(Protocol):
    """What the read-only views need from the registry."""

    def alias(self, name: str, alias: str) -> VersionInfo | None: ...

    def run(self, run_id: str) -> RunInfo: ...

    def model_tags(self, name: str) -> dict[str, str]: ...

    def find_experiment_id(self, name: str) -> str | None: ...

    def finished_runs(self, experiment_id: str, tags: Mapping[str, str] | None = None, order_metric: str | None = None,
                      ascending: bool = False, since_ms: int | None = None, limit: int = 1000) -> list[RunInfo]: ...


def open_reader(config: TrackingConfig, timeouts: TimeoutsConfig | None = None) -> Reader | None:
    """A reader that needs no mlflow import, when the store allows one; None means "use Tracking"."""
    if config.uri.startswith(("http://", "https://")):
        return None if os.environ.get("MLFLOW_TRACKING_AUTH") else RestReader(config.uri, timeouts or TimeoutsConfig())
    if not config.uri.startswith("sqlite:///"):
        return None
    path = Path(config.uri.removeprefix("sqlite:///"))
    if not path.is_file():
        return None  # MLflow creates and migrates a new store; leave that to it
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    if revision not in KNOWN_SCHEMAS:
        connection.close()
        return None
    return SqliteReader(connection)


class SqliteReader:
    """MLflow's SQLite tables read directly (see the module docstring for when)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def _rows(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.db.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as exc:  # locked past the timeout, or the file went away
            raise ServiceUnavailable(f"reading the MLflow store: {exc}") from exc

    def alias(self, name: str, alias: str) -> VersionInfo | None:
        found = self._rows("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?", (name, alias))
        if not found:
            return None
        return self._version(name, str(found[0][0]))

    def _version(self, name: str, version: str) -> VersionInfo | None:
        rows = self._rows("SELECT run_id, source, description FROM model_versions WHERE name = ? AND version = ? "
                          "AND current_stage != 'Deleted_Internal'", (name, version))
        if not rows:
            return None
        run_id, source, description = rows[0]
        tags = {str(k): str(v) for k, v in self._rows("SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?",
                                                      (name, version))}
        return VersionInfo(name, version, str(run_id) if run_id else None, str(source or ""), tags, str(description or ""))

    def run(self, run_id: str) -> RunInfo:
        runs = self._runs("r.run_uuid = ?", (run_id,), "", 1)
        if not runs:
            raise RegistryError(f"reading run {run_id}: no such run")
        return runs[0]

    def model_tags(self, name: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._rows("SELECT key, value FROM registered_model_tags WHERE name = ?", (name,))}

    def find_experiment_id(self, name: str) -> str | None:
        found = self._rows("SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'", (name,))
        return str(found[0][0]) if found else None

    def finished_runs(self, experiment_id: str, tags: Mapping[str, str] | None = None, order_metric: str | None = None,
                      ascending: bool = False, since_ms: int | None = None, limit: int = 1000) -> list[RunInfo]:
        where = ["r.experiment_id = ?", "r.status = 'FINISHED'", "r.lifecycle_stage = 'active'"]
        parameters: list[object] = [int(experiment_id)]
        for key, value in (tags or {}).items():
            where.append("EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = ? AND t.value = ?)")
            parameters += [key, value]
        if since_ms is not None:
            where.append("r.start_time >= ?")
            parameters.append(since_ms)
        order = "r.start_time DESC, r.run_uuid"
        if order_metric is not None:
            # As MLflow orders: runs without the metric last, then by value, then newest first.
            metric = "(SELECT m.value FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = ?)"
            order = f"{metric} IS NULL, {metric} {'ASC' if ascending else 'DESC'}, {order}"
        return self._runs(" AND ".join(where), (*parameters, *([order_metric] * 2 if order_metric else [])), order, limit)

    def _runs(self, where: str, parameters: tuple[object, ...], order: str, limit: int) -> list[RunInfo]:
        sql = (f"SELECT r.run_uuid, r.experiment_id, r.status, r.start_time FROM runs r WHERE {where}"  # noqa: S608 - fixed fragments, bound values
               + (f" ORDER BY {order}" if order else "") + " LIMIT ?")
        found = self._rows(sql, (*parameters, limit))
        if not found:
            return []
        ids = [str(row[0]) for row in found]
        marks = ",".join("?" * len(ids))
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        for run_id, key, value in self._rows(f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({marks})", tuple(ids)):  # noqa: S608
            tags[str(run_id)][str(key)] = str(value)
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        for run_id, key, value, is_nan in self._rows(
                f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({marks})", tuple(ids)):  # noqa: S608
            metrics[str(run_id)][str(key)] = math.nan if is_nan else float(value)
        return [RunInfo(str(r[0]), str(r[1]), str(r[2]), int(r[3] or 0), tags[str(r[0])], metrics[str(r[0])]) for r in found]


_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


class RestReader:
    """MLflow's REST API (`/api/2.0/mlflow/...`) over urllib (see the module docstring for when)."""

    def __init__(self, uri: str, timeouts: TimeoutsConfig) -> None:
        self.base = uri.rstrip("/") + "/api/2.0/mlflow/"
        self.where = redact_uri(uri)
        self.timeouts = timeouts
        self.headers = {"Content-Type": "application/json", "User-Agent": "mlops"}
        user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
        if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
            self.headers["Authorization"] = f"Bearer {token}"
        elif user and password:
            self.headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.context: ssl.SSLContext | None = None
        if uri.startswith("https://"):
            self.context = ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None)
            if client := os.environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
                self.context.load_cert_chain(client)
            if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE

    def _call(self, endpoint: str, query: Mapping[str, str] | None = None, body: Mapping[str, Any] | None = None,
              missing_ok: bool = False) -> dict[str, Any]:
        """One API call; transient failures retried as MLflow's client would. A missing resource
        gives {} when `missing_ok`."""
        url = self.base + endpoint + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        attempts = 1 + self.timeouts.request_retries
        for attempt in range(attempts):
            request = urllib.request.Request(url, data=data, headers=self.headers, method="GET" if data is None else "POST")  # noqa: S310 - http(s) only
            try:
                with urllib.request.urlopen(request, timeout=self.timeouts.request_seconds, context=self.context) as answer:  # noqa: S310
                    found: dict[str, Any] = json.loads(answer.read() or b"{}")
                    return found
            except urllib.error.HTTPError as exc:
                code = _error_code(exc)
                if exc.code == 404 or code in _NOT_FOUND:
                    if missing_ok:
                        return {}
                    raise RegistryError(f"{self.where}: {endpoint}: not found ({code or exc.code})") from exc
                if exc.code in (401, 403):
                    raise RegistryError(f"{self.where}: credentials rejected ({exc.code}); check MLFLOW_TRACKING_USERNAME/"
                                        "PASSWORD or TOKEN") from exc
                if exc.code < 500 and exc.code != 429:
                    raise RegistryError(f"{self.where}: {endpoint}: request rejected ({exc.code} {code})") from exc
                failure: Exception = exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                failure = exc
            if attempt < attempts - 1:
                time.sleep(min(2**attempt, 8))
        reason = getattr(failure, "reason", None) or failure
        raise ServiceUnavailable(f"{self.where}: MLflow server unreachable or failing ({reason}); may pass on retry") from failure

    def alias(self, name: str, alias: str) -> VersionInfo | None:
        found = self._call("registered-models/alias", {"name": name, "alias": alias}, missing_ok=True).get("model_version")
        if not found:
            return None
        return VersionInfo(str(found["name"]), str(found["version"]), found.get("run_id") or None, str(found.get("source", "")),
                           _pairs(found.get("tags")), str(found.get("description", "")))

    def run(self, run_id: str) -> RunInfo:
        return _rest_run(self._call("runs/get", {"run_id": run_id})["run"])

    def model_tags(self, name: str) -> dict[str, str]:
        found = self._call("registered-models/get", {"name": name}, missing_ok=True).get("registered_model") or {}
        return _pairs(found.get("tags"))

    def find_experiment_id(self, name: str) -> str | None:
        found = self._call("experiments/get-by-name", {"experiment_name": name}, missing_ok=True).get("experiment")
        if not found or found.get("lifecycle_stage") == "deleted":
            return None
        return str(found["experiment_id"])

    def finished_runs(self, experiment_id: str, tags: Mapping[str, str] | None = None, order_metric: str | None = None,
                      ascending: bool = False, since_ms: int | None = None, limit: int = 1000) -> list[RunInfo]:
        filter_string, order = finished_runs_query(tags, order_metric, ascending, since_ms)
        runs: list[RunInfo] = []
        token = None
        while len(runs) < limit:
            body = {"experiment_ids": [experiment_id], "filter": filter_string, "order_by": order,
                    "max_results": min(1000, limit - len(runs)), **({"page_token": token} if token else {})}
            page = self._call("runs/search", body=body)
            runs += [_rest_run(r) for r in page.get("runs", [])]
            token = page.get("next_page_token")
            if not token:
                break
        return runs


def _error_code(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read() or b"{}").get("error_code", ""))
    except (ValueError, OSError):
        return ""


def _pairs(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(item["key"]): str(item.get("value", "")) for item in items or []}


def _rest_run(run: dict[str, Any]) -> RunInfo:
    info, data = run["info"], run.get("data", {})
    metrics = {str(m["key"]): float(m["value"]) if m.get("value") is not None else math.nan for m in data.get("metrics", [])}
    return RunInfo(str(info["run_id"]), str(info["experiment_id"]), str(info["status"]), int(info.get("start_time") or 0),
                   _pairs(data.get("tags")), metrics)
