"""MinIO's stand-in: moto's S3 server on MinIO's port 9000, answering MinIO's health endpoints.
Takes MinIO's own command line (`server DIR [--console-address ADDR] [--certs-dir DIR]`)."""

from __future__ import annotations

import sys
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main(argv: list[str]) -> None:
    if not argv or argv[0] != "server":
        raise SystemExit(f"minio stand-in: unsupported command {argv}")
    s3 = DomainDispatcherApplication(create_backend_app)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/minio/health/"):
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        return s3(environ, start_response)

    run_simple("0.0.0.0", 9000, app, threaded=True)  # noqa: S104 - inside the emulator's namespace


if __name__ == "__main__":
    main(sys.argv[1:])
