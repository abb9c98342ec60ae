"""Logging to stderr as text for people or as JSON lines for a cluster's log pipeline.

In JSON mode every stderr line is one JSON object: MLflow's own loggers propagate to our handler
(MLflow is told not to install its own before it is first imported), Python warnings are logged,
and what a library prints is logged line by line (`printed_lines`). Fields a log pipeline filters
on (`job`, `model`, `version`, `run_id`, `outcome`) come from the surrounding `log_fields(...)`
scope or a call's `extra=`. Text mode stamps every line in UTC with its zone.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

FIELDS = ("job", "model", "version", "run_id", "outcome")
_context: ContextVar[dict[str, str]] = ContextVar("mlops_log_fields", default={})  # noqa: B039 - never mutated


@contextmanager
def log_fields(**fields: Any) -> Iterator[None]:
    """Every log line inside the block carries these fields (None values are left out)."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_fields(record: logging.LogRecord) -> dict[str, str]:
    fields = dict(_context.get())
    for name in FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            fields[name] = str(value)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **current_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """`2026-11-24T16:30:00.123Z INFO mlops.jobs.retrain: message [model=churn run_id=...]`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in current_fields(record).items() if k != "job"}
        return f"{line} [{' '.join(f'{k}={v}' for k, v in fields.items())}]" if fields else line


class _LineLogger(io.TextIOBase):
    """A file that logs each complete line written to it (what a library prints)."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self.logger, self.level, self.pending = logger, level, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.replace("\r", "\n").split("\n")
        for line in lines:
            if line.strip():
                self.logger.log(self.level, "%s", line.rstrip())
        return len(text)

    def flush(self) -> None:
        if self.pending.strip():
            self.logger.log(self.level, "%s", self.pending.rstrip())
        self.pending = ""


_json_mode = False


def printed_lines() -> TextIO:
    """Where the jobs send what libraries print to stdout (stdout carries only results): stderr
    as it is in text mode, one log record per line in JSON mode."""
    if _json_mode:
        return _LineLogger(logging.getLogger("printed"), logging.INFO)  # type: ignore[return-value]
    return sys.stderr


def configure_logging(fmt: str, verbose: bool) -> None:
    global _json_mode
    _json_mode = fmt == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if _json_mode else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # MLflow installs its own plain-text handler on import unless told not to; it is imported
    # later, on first use, so this reaches it. Its lines then go through our handler.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    if _json_mode:  # a progress bar is not a log line
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.captureWarnings(True)
    mlflow_logger = logging.getLogger("mlflow")
    mlflow_logger.handlers[:] = []
    mlflow_logger.propagate = True
    # MLflow, alembic and botocore are chatty at INFO; their warnings still come through.
    for noisy in ("mlflow", "alembic", "botocore", "urllib3", "git"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
