"""Read-only registry views for the operator commands (status, leaderboard, history, drift-history).

`import mlflow` alone takes over 2 s here (its package imports its GenAI, data and model layers
at start), and opening a SQLite store adds more (SQLAlchemy, the schema check). A person typing
`mlops status` should have an answer within 1.5 s, so on the embedded SQLite store these views
read MLflow's tables with the standard library's sqlite3, read-only, and never import mlflow.

That reads MLflow's own schema, so it is done only on a schema this code was written and tested
against (`KNOWN_SCHEMAS`, the alembic revision of the pinned MLflow; a test checks it is MLflow's
head). Any other store, or a revision we do not know, goes through `Tracking` and MLflow's client:
`open_reader` decides. Both answer the `Reader` protocol with the same dataclasses.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from mlops.config import TrackingConfig
from mlops.errors import ServiceUnavailable
from mlops.tracking.client import RunInfo, VersionInfo

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


def open_reader(config: TrackingConfig) -> Reader | None:
    """A reader that needs no mlflow import, when the store allows one; None means "use Tracking"."""
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
            from mlops.errors import RegistryError

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
