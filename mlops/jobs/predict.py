"""The daily scoring job: the production model scores the window's rows; the predictions,
with the model name and version that made them, go back to the data store."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops.config import Config, ModelConfig
from mlops.data.sinks import replace_partition, write_parquet
from mlops.data.sources import BATCH_ROWS, Window, open_source
from mlops.errors import ConfigError, DataError
from mlops.jobs.common import load_version
from mlops.tracking import PRODUCTION, Tracking, now_iso
from mlops.training.pyfunc_model import LabelledBooster

log = logging.getLogger(__name__)
PARTITION_KEY = "day"
PREDICT_BATCH_ROWS = BATCH_ROWS  # rows read, scored and written at a time


@dataclass(frozen=True)
class PredictResult:
    model: str
    version: str | None  # None: no production version yet, nothing scored (an outcome, exit 0)
    rows: int
    written_to: str | None


def predict(config: Config, model: ModelConfig, as_of: datetime, tracking: Tracking | None = None) -> PredictResult:
    if model.predictions is None:
        raise ConfigError(f"model {model.name!r} has no predictions section: say where predictions go (table or uri)")
    tracking = tracking or Tracking(config.tracking)
    production = tracking.alias(model.name, PRODUCTION)
    if production is None:
        log.warning("%s: no production version to predict with; run retrain first", model.name)
        return PredictResult(model.name, None, 0, None)
    version = production.version
    scorer = load_version(tracking, model.name, version)

    source = open_source(model.source, config.timeouts)
    window = Window.ending(as_of, model.predictions.window_days)
    day = as_of.astimezone(UTC).date()
    labels = Labels(model.name, int(version), day, datetime.now(UTC))
    keep = [c for c in (*model.source.id_columns, model.source.timestamp_column) if c]
    scored = (score_batch(scorer, batch, keep, labels, source.uri, f"{model.name} v{version}")
              for batch in source.batches(window, PREDICT_BATCH_ROWS))
    with closing(scored):  # an error while writing closes the source too
        first = next(scored, None)  # the source's errors surface here, before anything is written
        if first is None:
            log.info("%s: no rows in %s to score", model.name, window.describe())
            return PredictResult(model.name, version, 0, None)
        counted = Counted(itertools.chain([first], scored))

        target = model.predictions
        if target.table is not None:
            # Same model and day replaced in one transaction: a retried Job never duplicates rows.
            replace_partition(model.source.uri, target.table, counted, {"model_name": model.name, "as_of": day}, config.timeouts)
            written = f"{source.uri} table {target.table}"
        else:
            # The folder key is `day`, not `as_of`: a hive key named like a column in the files makes
            # pandas and pyarrow.dataset refuse to read the folder as one table.
            written = write_parquet(str(target.uri), f"{model.name}/{PARTITION_KEY}={day.isoformat()}/predictions.parquet", counted,
                                    config.timeouts)
    tracking.tag_version(model.name, version, {"last_predict_at": now_iso(), "last_predict_rows": str(counted.rows)})
    log.info("%s v%s scored %d rows from %s into %s", model.name, version, counted.rows, window.describe(), written)
    return PredictResult(model.name, version, counted.rows, written)


@dataclass(frozen=True)
class Labels:
    """What every prediction row carries besides its own id, time, prediction and score."""

    model: str
    version: int
    day: date
    scored_at: datetime


def score_batch(scorer: LabelledBooster, batch: pa.RecordBatch, keep: list[str], labels: Labels, where: str,
                which: str) -> pa.RecordBatch:
    """One batch of the window scored: its id and time columns, the prediction and its score,
    and the labels saying which model made it, for which day, when."""
    check_numeric_inputs(scorer, batch, where)
    try:
        proba = scorer.predict_proba(batch)
    except ValueError as exc:
        raise DataError(f"{where}: cannot score with {which}: {exc}") from exc
    best = proba.argmax(axis=1)
    n = len(best)
    columns = [batch.column(name) for name in keep if name in batch.schema.names]
    names = [name for name in keep if name in batch.schema.names]
    for name, column in (
        ("prediction", pa.array(np.asarray(scorer.classes)[best])),
        ("score", pa.array(proba[np.arange(n), best])),
        ("model_name", pa.repeat(pa.scalar(labels.model, pa.string()), n)),
        ("model_version", pa.repeat(pa.scalar(labels.version, pa.int32()), n)),
        ("as_of", pa.repeat(pa.scalar(labels.day, pa.date32()), n)),
        ("scored_at", pa.repeat(pa.scalar(labels.scored_at, pa.timestamp("us", tz="UTC")), n)),
    ):
        names.append(name)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=names)


class Counted:
    """Batches passed through, their rows counted."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self.batches = batches
        self.rows = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self.batches:
            self.rows += batch.num_rows
            yield batch


def check_numeric_inputs(scorer: LabelledBooster, rows: pd.DataFrame | pa.RecordBatch | pa.Table, where: str) -> None:
    """A numeric feature that arrives as text would be scored as all-missing without a word;
    refuse it, naming the column and a value that is not a number."""
    names = rows.columns if isinstance(rows, pd.DataFrame) else rows.schema.names
    for feature in scorer.features:
        name = feature["name"]
        if feature["kind"] == "categorical" or name not in names:
            continue
        if isinstance(rows, pd.DataFrame):
            values = rows[name]
        elif _arrow_numeric(rows.schema.field(name).type):
            continue
        else:
            values = rows.column(name).to_pandas()
        if pd.api.types.is_numeric_dtype(values):
            continue
        converted = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & converted.isna()
        if bad.any():
            raise DataError(f"{where}: numeric feature {name!r} holds {int(bad.sum())} values that are not numbers "
                            f"(e.g. {str(values[bad].iloc[0])[:40]!r})")


def _arrow_numeric(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)
                or pa.types.is_decimal(dtype) or pa.types.is_null(dtype))
