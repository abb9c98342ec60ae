"""The light steps every command takes before any work: which models, what moment, which
experiment, SIGTERM. Nothing heavy is imported here, so a usage error answers at once."""

from __future__ import annotations

import hashlib
import signal
from datetime import UTC, date, datetime, time
from types import FrameType
from typing import Any

from mlops.config import Config, ModelConfig
from mlops.errors import Terminated, UsageError


def as_of_moment(value: date | datetime | None) -> datetime:
    """`--as-of 2026-11-23` means the windows end at 2026-11-23T00:00Z (exclusive), so a job
    rerun later that day sees exactly the same rows. Default: today."""
    if value is None:
        value = datetime.now(UTC).date()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)


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


def experiment_name(config: Config, model: ModelConfig) -> str:
    return f"{config.tracking.experiment_prefix}/{model.name}"


def monitoring_experiment(config: Config, model: ModelConfig) -> str:
    return f"{config.tracking.experiment_prefix}/{model.name}/monitoring"


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def install_sigterm_handler() -> Any:
    return signal.signal(signal.SIGTERM, _raise_terminated)
