"""Start `mlflow server` with basic-auth: the auth settings rendered into an ini file under
/tmp (writable on a read-only root; mode 0600), because MLflow reads the auth store's URI only
from that file (MLFLOW_AUTH_CONFIG_PATH). No secret appears in argv or in a committed file.

    python serve.py [mlflow server options...]

The options pass through to `mlflow server`, which also gets --app-name basic-auth and the
backend store URI through MLFLOW_BACKEND_STORE_URI (never argv); an `--allowed-hosts` value is added to MLflow's defaults (localhost and
private addresses on any port) instead of replacing them. Run prepare.py first (it migrates
both stores and creates the users).

Settings (environment): BACKEND_STORE_URI or BACKEND_STORE_URI_FILE, MLFLOW_AUTH_ADMIN_USERNAME,
MLFLOW_FLASK_SERVER_SECRET_KEY or ..._FILE (CSRF: the same in every replica),
MLFLOW_AUTH_DEFAULT_PERMISSION (READ). Exit 2 with one line on a bad setting."""

# ruff: noqa: T201 - a start-up script reports on stdout/stderr
from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from settings import SettingError, auth_database_uri, backend_store_uri, secret


def ini(auth_uri: str) -> str:
    escaped = auth_uri.replace("%", "%%")  # configparser interpolates %: a percent-encoded password
    return (
        "[mlflow]\n"
        f"default_permission = {os.environ.get('MLFLOW_AUTH_DEFAULT_PERMISSION', 'READ')}\n"
        f"database_uri = {escaped}\n"
        f"admin_username = {os.environ.get('MLFLOW_AUTH_ADMIN_USERNAME', 'admin')}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )


def server_argv(options: list[str]) -> list[str]:
    from mlflow.server.security_utils import get_default_allowed_hosts

    options = list(options)
    if "--allowed-hosts" in options:
        at = options.index("--allowed-hosts") + 1
        options[at] = ",".join([*get_default_allowed_hosts(), options[at]])
    return ["mlflow", "server", "--app-name", "basic-auth", *options]


def main(options: list[str]) -> None:
    uri = backend_store_uri()
    os.environ["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secret("MLFLOW_FLASK_SERVER_SECRET_KEY")
    os.environ.pop("MLFLOW_FLASK_SERVER_SECRET_KEY_FILE", None)
    folder = tempfile.mkdtemp(prefix="mlflow-auth-")  # 0700, under TMPDIR or /tmp
    path = os.path.join(folder, "basic_auth.ini")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(ini(auth_database_uri(uri)))
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = path
    # The backend URI may hold a password: `mlflow server` reads it from this variable, not argv.
    os.environ["MLFLOW_BACKEND_STORE_URI"] = uri
    os.environ.pop("BACKEND_STORE_URI_FILE", None)
    argv = server_argv(options)
    os.execvp(argv[0], argv)  # noqa: S606


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
