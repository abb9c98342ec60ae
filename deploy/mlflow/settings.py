"""What prepare.py and serve.py share: secrets read from `NAME` or `NAME_FILE`, the backend store
URI, and the auth store's URI (the same database, schema `mlflow_auth`)."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

AUTH_SCHEMA = "mlflow_auth"


class SettingError(Exception):
    """A missing or unusable setting: the operator must fix it, a restart cannot (exit 2)."""


def secret(name: str) -> str:
    """NAME's value, else the content of the file NAME_FILE names (a mounted Secret)."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if not path:
        raise SettingError(f"set {name}_FILE (a mounted Secret) or {name}")
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except OSError as exc:
        raise SettingError(f"{name}_FILE: cannot read {path} ({exc.strerror})") from exc
    if not value:
        raise SettingError(f"{name}_FILE: {path} is empty")
    return value


def backend_store_uri() -> str:
    uri = secret("BACKEND_STORE_URI")
    if not uri.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
        raise SettingError("BACKEND_STORE_URI must be a PostgreSQL URI (the auth store lives beside it)")
    return uri


def auth_database_uri(uri: str) -> str:
    """The backend URI with the auth schema first on the search path, whatever query it has."""
    parts = urlsplit(uri.replace("postgres://", "postgresql://", 1))
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "options"]
    query.append(("options", f"-csearch_path={AUTH_SCHEMA}"))
    return urlunsplit(parts._replace(query=urlencode(query)))
