"""A real `mlflow server` on a benchmark's embedded SQLite store, so a job can be timed as
deployed (talking to a server) as well as embedded (opening SQLAlchemy's store itself)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def served(database: Path, artifacts: Path, config_path: Path, env: dict[str, str]) -> Iterator[Path]:
    """The server on `database`, its artifact root the embedded store's `artifacts` (so the
    experiments it creates stay usable without it); yields a copy of `config_path` pointing at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", f"sqlite:///{database}",
         "--default-artifact-root", artifacts.as_uri(), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("mlflow server did not start") from None
                time.sleep(0.5)
        copy = config_path.with_name(config_path.stem + "-server" + config_path.suffix)
        text = config_path.read_text(encoding="utf-8")
        embedded = f"sqlite:///{database}"
        assert embedded in text, f"{config_path} does not name {embedded}"
        copy.write_text(text.replace(embedded, f"http://127.0.0.1:{port}"), encoding="utf-8")
        yield copy
    finally:
        server.terminate()
        server.wait(30)
