"""Before any MLflow server starts (the Deployment's initContainer, the compose service's first
step): MLflow's schema migration, then the basic-auth store in schema `mlflow_auth` of the same
PostgreSQL database (created here, migrated here), its admin and the jobs' own user.

Replicas starting together take a PostgreSQL advisory lock in turn, so one migrates and the
others find everything current; every step is idempotent, so a rerun (a restart, a rollout)
changes nothing but the jobs' password, which follows the Secret. The admin is created once from
its Secret and then belongs to the humans (the UI's account page, the update-password API), as
with MLflow's own bootstrap.

The jobs' user gets EDIT on every experiment (runs, metrics, logged models) and MANAGE on every
registered model (versions, tags, aliases, and deleting the duplicate version a retried
registration can leave: `can_delete` exists only in MANAGE). Human users get the ini's
default_permission (READ): they see everything and move no alias unless an admin grants it.

Settings (environment): BACKEND_STORE_URI or BACKEND_STORE_URI_FILE (a PostgreSQL URI; libpq's
PGPASSWORD works too), MLFLOW_AUTH_ADMIN_USERNAME, MLFLOW_AUTH_ADMIN_PASSWORD_FILE,
MLFLOW_JOBS_USERNAME, MLFLOW_JOBS_PASSWORD_FILE. Exit 2 with one line on a bad setting; no
secret is ever printed."""

# ruff: noqa: T201 - a start-up script reports on stdout/stderr
from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from settings import AUTH_SCHEMA, SettingError, auth_database_uri, backend_store_uri, secret

LOCK = 7310  # the advisory lock every replica's preparation takes in turn


def prepare() -> None:
    import psycopg2

    uri = backend_store_uri()
    admin = os.environ.get("MLFLOW_AUTH_ADMIN_USERNAME", "admin")
    jobs = os.environ.get("MLFLOW_JOBS_USERNAME", "mlops-jobs")
    admin_password, jobs_password = secret("MLFLOW_AUTH_ADMIN_PASSWORD"), secret("MLFLOW_JOBS_PASSWORD")
    for name, password in ((admin, admin_password), (jobs, jobs_password)):
        if len(password) < 12:
            raise SettingError(f"the password of MLflow user {name!r} must have at least 12 characters")
    if admin == jobs:
        raise SettingError("MLFLOW_JOBS_USERNAME must differ from the admin's name")
    with psycopg2.connect(uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
        upgrade = subprocess.run(["mlflow", "db", "upgrade", uri], check=False)  # noqa: S603, S607 - the image's mlflow
        if upgrade.returncode:
            sys.exit(upgrade.returncode)
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {AUTH_SCHEMA}")
        conn.commit()
        users(auth_database_uri(uri), admin, admin_password, jobs, jobs_password)


def users(auth_uri: str, admin: str, admin_password: str, jobs: str, jobs_password: str) -> None:
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(auth_uri)  # the auth schema's own migrations
    if not store.has_user(admin, use_primary=True):
        store.create_user(admin, admin_password, is_admin=True)
        print(f"created MLflow admin {admin!r}")
    if store.has_user(jobs, use_primary=True):
        store.update_user(jobs, password=jobs_password, is_admin=False)
    else:
        store.create_user(jobs, jobs_password, is_admin=False)
        print(f"created MLflow user {jobs!r} for the jobs")
    store.grant_user_permission(jobs, "experiment", "*", "EDIT")  # upserts: reruns change nothing
    store.grant_user_permission(jobs, "registered_model", "*", "MANAGE")
    print(f"MLflow auth ready in schema {AUTH_SCHEMA}: {jobs!r} may edit experiments and manage registered models")


if __name__ == "__main__":
    try:
        prepare()
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
