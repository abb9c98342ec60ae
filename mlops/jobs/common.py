"""What every job shares: run keys, the MLflow run lifecycle, and the steps more than one job
takes (the training data, loading a registered model). The light steps (the as-of clock, model
selection, experiment names, SIGTERM) live in `mlops.jobs.selection` and are re-exported here."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.config import ModelConfig, TimeoutsConfig
from mlops.data.sources import Source, Window, open_source
from mlops.errors import RegistryError, Terminated
from mlops.jobs.selection import as_of_moment as as_of_moment
from mlops.jobs.selection import experiment_name as experiment_name
from mlops.jobs.selection import install_sigterm_handler as install_sigterm_handler
from mlops.jobs.selection import monitoring_experiment as monitoring_experiment
from mlops.jobs.selection import select_models as select_models
from mlops.logs import log_fields
from mlops.tracking import RunInfo, Tracking

if TYPE_CHECKING:  # imported where used: pandas, XGBoost and the logged model's MLflow entry point
    import pandas as pd

    from mlops.training.dataset import Encoding, Split
    from mlops.training.pyfunc_model import LabelledBooster
    from mlops.training.window import TrainingRows, TrainingWindow

log = logging.getLogger(__name__)

_JOB_SUFFIX = re.compile(r"-(\d{7,10})$")


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


@contextmanager
def tracked_run(tracking: Tracking, experiment_id: str, run_name: str, tags: dict[str, str]) -> Iterator[RunInfo]:
    """An MLflow run that always ends: FINISHED, FAILED on any error, KILLED on SIGTERM. When
    MLflow itself is gone the run cannot be ended; the next run of the job marks it FAILED."""
    run = tracking.start_run(experiment_id, run_name, tags)
    status = "FAILED"
    try:
        with log_fields(run_id=run.run_id):
            yield run
        status = "FINISHED"
    except Terminated:
        status = "KILLED"
        raise
    finally:
        tracking.end_run(run.run_id, status)


@dataclass(frozen=True)
class TrainingData:
    source: Source
    window: Window
    loaded: TrainingWindow  # encoding, labels, row counts, fingerprint; in memory or spilled
    parts: Split
    rows: TrainingRows  # the training rows as the trainers read them
    example: pd.DataFrame  # a few raw training rows: the logged model's input example
    scratch: Path  # local disk for this load (the spilled window, XGBoost's page cache)

    @property
    def dataset(self) -> Encoding:
        return self.loaded.encoding


@contextmanager
def load_training_data(model: ModelConfig, as_of: datetime, timeouts: TimeoutsConfig | None = None) -> Iterator[
        TrainingData]:
    """The training window at `as_of`, prepared and split: what retrain trains and gates on,
    and the holdout a manual promotion is judged on. Read once as record batches; a window
    larger than `training.memory_budget_mb` is spilled to a temporary folder removed on exit."""
    from mlops.training.window import read_window, split_window, temporary_spill_dir

    source = open_source(model.source, timeouts)
    window = Window.ending(as_of, model.training.window_days)
    where = f" in window {window.describe()}" if model.source.timestamp_column else ""
    with temporary_spill_dir() as scratch:
        loaded = read_window(source.batches(window), model, source.uri, model.training.memory_budget_mb * 2**20,
                             Path(scratch), f"{source.uri}: no rows{where}")
        parts, rows, example = split_window(loaded, model)
        yield TrainingData(source, window, loaded, parts, rows, example, Path(scratch))


def load_version(tracking: Tracking, name: str, version: str) -> LabelledBooster:
    """A registered version as the booster mlops logged (native format, never unpickled)."""
    from mlops.training.pyfunc_model import BOOSTER_FILE, LabelledBooster

    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        folder = tracking.download_version(name, version, Path(tmp))
        booster = folder / "artifacts" / "booster"
        if not (booster / BOOSTER_FILE).is_file():
            raise RegistryError(f"{name} v{version} was not logged by mlops (no artifacts/booster/{BOOSTER_FILE})")
        try:
            return LabelledBooster.load(booster)
        except (OSError, ValueError, KeyError) as exc:
            raise RegistryError(f"{name} v{version}: its model files cannot be read ({exc})") from exc


