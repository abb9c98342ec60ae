"""`mlops config check --connect`: reach every service the config names and check the columns.

One `Check` per line: the tracking server, each model's source (its schema only: a Parquet footer,
a CSV's first block, `SELECT ... LIMIT 0`; never the window), the configured columns against that
schema (and the production model's features and dtypes, from its baseline profile, when there is
one), each model's sink (reachable and writable in principle; no row is written) and the
Pushgateway. Every check runs even when an earlier one fails; the exit code is the worst failure's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pyarrow as pa

from mlops.config import Config, ModelConfig
from mlops.data.postgres import with_postgres
from mlops.data.s3 import s3_client, s3_errors
from mlops.data.sources import open_source, quote_relation
from mlops.errors import INTERNAL_ERROR, DataError, MlopsError
from mlops.metrics import check_pushgateway
from mlops.tracking.client import PRODUCTION, Tracking

Status = Literal["ok", "FAIL", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    exit_code: int = 0

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


def run_checks(config: Config, tracking: Callable[[], Tracking]) -> list[Check]:
    checks: list[Check] = []
    client = _check(checks, "tracking", lambda: _tracking(tracking()))
    for model in config.models:
        schema = _check(checks, f"{model.name} source", partial(_schema, config, model))
        if schema is not None:
            profile = _check(checks, f"{model.name} production profile", partial(_profile, client, model)) if client else None
            _check(checks, f"{model.name} columns", partial(_columns, model, schema, profile))
        if model.predictions is not None:
            _check(checks, f"{model.name} sink", partial(_sink, config, model))
    url = os.environ.get("MLOPS_PUSHGATEWAY_URL")
    if url:
        _check(checks, "pushgateway", partial(check_pushgateway, url))
    else:
        checks.append(Check("pushgateway", "skip", "MLOPS_PUSHGATEWAY_URL is unset: the jobs push no metrics"))
    return checks


def _check(checks: list[Check], name: str, probe: Callable[[], Any]) -> Any:
    """Run one probe, which returns its detail line or (a value for later checks, the detail line);
    append its line and return the value (None when it failed or has none)."""
    try:
        found = probe()
    except MlopsError as exc:
        checks.append(Check(name, "FAIL", str(exc), exc.exit_code))
        return None
    except Exception as exc:  # a defect in a probe must not hide the other checks
        checks.append(Check(name, "FAIL", f"internal error: {type(exc).__name__}: {exc}", INTERNAL_ERROR))
        return None
    value, detail = found if isinstance(found, tuple) else (None, found)
    checks.append(Check(name, "ok", str(detail)))
    return value


def _tracking(tracking: Tracking) -> tuple[Tracking, str]:
    count = tracking.ping()
    return tracking, f"{tracking.describe()} answers ({count} experiment(s) visible)"


def _schema(config: Config, model: ModelConfig) -> tuple[pa.Schema, str]:
    """The source's columns, read as its jobs read it (a file, folder, S3 object or prefix, a
    table or query) but without its rows."""
    source = open_source(model.source, config.timeouts)
    schema = source.schema()
    return schema, f"{source.uri} readable, {len(schema.names)} columns"


def _profile(tracking: Tracking, model: ModelConfig) -> tuple[dict[str, Any] | None, str]:
    production = tracking.alias(model.name, PRODUCTION)
    if production is None or not production.run_id:
        return None, "no production version yet: columns checked against the config only"
    profile = tracking.load_json(production.run_id, "baseline/profile.json")
    return profile, f"v{production.version}'s baseline profile read ({len(profile.get('features', {}))} features)"


def _columns(model: ModelConfig, schema: pa.Schema, profile: dict[str, Any] | None) -> str:
    names = set(schema.names)
    wanted = {"target": [model.target], "timestamp_column": [model.source.timestamp_column] if model.source.timestamp_column else [],
              "id_columns": model.source.id_columns, "features": model.features or [],
              "categorical_features": model.categorical_features or []}
    missing = [f"{key} {name!r}" for key, columns in wanted.items() for name in columns if name not in names]
    problems = [f"missing {', '.join(missing)}"] if missing else []
    ts = model.source.timestamp_column
    if ts and ts in names and _kind_of(schema.field(ts).type) not in ("datetime", "string"):
        problems.append(f"timestamp_column {ts!r} holds {schema.field(ts).type}, not timestamps")
    checked = len(names)
    if profile is not None:
        features: dict[str, Any] = profile.get("features", {})
        gone = [name for name in features if name not in names]
        if gone:
            problems.append(f"the production model's feature(s) {', '.join(map(repr, gone))} are not in the source")
        for name, summary in features.items():
            if name in names and (changed := _dtype_change(summary, schema.field(name).type)):
                problems.append(f"{name!r} {changed}")
        checked = len(features)
    if problems:
        raise DataError("; ".join(problems))
    against = "the production profile's features and dtypes" if profile is not None else "the configured columns"
    return f"{checked} column(s) match {against}"


def _kind_of(dtype: pa.DataType) -> str:
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "float"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return "datetime"
    return "string"


def _dtype_change(summary: dict[str, Any], dtype: pa.DataType) -> str | None:
    """How the source's type departs from what the model was trained on, or None. Whole floats
    and ints are one (pandas stores an int column with a missing value as float)."""
    now, before = _kind_of(dtype), summary.get("dtype_class")
    numeric = {"int", "float", "bool"}
    if summary.get("kind") == "numeric" and now not in numeric:
        return f"was numeric at training, the source holds {dtype}"
    if before is None or now == before or (now in numeric and before in numeric):
        return None
    return f"was {before} at training, the source holds {dtype}"


def _sink(config: Config, model: ModelConfig) -> str:
    target = model.predictions
    assert target is not None  # noqa: S101 - the caller checks
    if target.table is not None:
        return _postgres_sink(config, model.source.uri, target.table)
    uri = target.uri or ""
    if urlsplit(uri).scheme == "s3":
        bucket = urlsplit(uri).netloc
        with s3_errors(uri):
            s3_client(config.timeouts).head_bucket(Bucket=bucket)
        return f"{uri}: bucket {bucket} reachable"
    path = Path(uri.removeprefix("file://"))
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"{uri}: {existing} is not a writable folder")
    return f"{uri}: writable ({'exists' if existing == path else f'will be made under {existing}'})"


def _postgres_sink(config: Config, uri: str, table: str) -> str:
    """The table exists and we may insert and delete in it, or its schema lets us create it."""
    relation = quote_relation(table)
    schema = table.rpartition(".")[0] or None

    def probe(cursor: Any) -> str:
        cursor.execute("SELECT to_regclass($1)::text", parameters=(relation,))
        if cursor.fetchone()[0] is not None:
            cursor.execute("SELECT has_table_privilege($1, 'INSERT') AND has_table_privilege($1, 'DELETE')",
                           parameters=(relation,))
            if not cursor.fetchone()[0]:
                raise DataError(f"predictions table {table}: no INSERT or DELETE privilege")
            return f"table {table} exists, insert and delete allowed"
        cursor.execute("SELECT has_schema_privilege(coalesce($1::text, current_schema()), 'CREATE')", parameters=(schema,))
        if not cursor.fetchone()[0]:
            raise DataError(f"predictions table {table}: missing, and no CREATE privilege on its schema")
        return f"table {table} will be created on the first predict (CREATE allowed)"

    result: str = with_postgres(uri, f"checking predictions table {table}", probe, config.timeouts)
    return result
