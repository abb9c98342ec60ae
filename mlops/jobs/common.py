"""What every job shares: the as-of clock, run keys, MLflow run lifecycle, SIGTERM."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from types import FrameType
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from mlops.config import Config, ModelConfig
from mlops.errors import Terminated, UsageError
from mlops.registry import translate

log = logging.getLogger(__name__)

_JOB_SUFFIX = re.compile(r"-(\d{7,10})$")


def as_of_moment(value: date | datetime | None) -> datetime:
    """`--as-of 2026-11-23` means the windows end at 2026-11-23T00:00Z (exclusive), so a job
    rerun later that day sees exactly the same rows. Default: today."""
    if value is None:
        value = datetime.now(UTC).date()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)


def scheduled_time(environ: dict[str, str] | os._Environ[str] | None = None) -> datetime | None:
    """A CronJob names its Jobs `<cronjob>-<minutes since the epoch of the scheduled time>`;
    the manifests pass that name in MLOPS_JOB_NAME. Manual Jobs carry no such suffix."""
    env = os.environ if environ is None else environ
    match = _JOB_SUFFIX.search(env.get("MLOPS_JOB_NAME", ""))
    if not match:
        return None
    return datetime.fromtimestamp(int(match.group(1)) * 60, tz=UTC)


def default_run_key(job: str, as_of: datetime) -> str:
    scheduled = scheduled_time()
    if scheduled is not None:
        return f"{job}:scheduled:{scheduled.strftime('%Y-%m-%dT%H:%MZ')}"
    return f"{job}:as-of:{as_of.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def shard_of(model_name: str, count: int) -> int:
    """A stable shard for a model name: the same in every process and run (unlike hash())."""
    return int.from_bytes(hashlib.sha256(model_name.encode()).digest()[:8], "big") % count


def select_models(config: Config, name: str | None, all_models: bool, shard: tuple[int, int] | None) -> list[ModelConfig]:
    """--model, --all or --shard I/N: each model is in exactly one of the N shards, whatever
    the number of models, so an Indexed Job of fixed N completions covers any config."""
    if sum([name is not None, all_models, shard is not None]) != 1:
        raise UsageError("give exactly one of --model, --all or --shard")
    if all_models:
        return list(config.models)
    if shard is not None:
        index, count = shard
        return [m for m in config.models if shard_of(m.name, count) == index]
    return [config.model(str(name))]


@contextmanager
def tracked_run(experiment_id: str, run_name: str, tags: dict[str, str]) -> Iterator[Run]:
    """An MLflow run that always ends: FINISHED, FAILED on any error, KILLED on SIGTERM."""
    try:
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
    except MlflowException as exc:
        raise translate(exc, "starting an MLflow run") from exc
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    except Terminated:
        status = "KILLED"
        raise
    finally:
        try:
            mlflow.end_run(status=status)
        except Exception as exc:  # the original error matters more than a failed status update
            log.warning("could not mark run %s %s: %s", run.info.run_id, status, exc)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def install_sigterm_handler() -> Any:
    return signal.signal(signal.SIGTERM, _raise_terminated)
