"""The daily scoring job: the production model scores the window's rows; the predictions,
with the model name and version that made them, go back to the data store."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops.config import Config, ModelConfig
from mlops.data.sinks import replace_partition, write_parquet
from mlops.data.sources import Window, open_source
from mlops.errors import ConfigError, DataError
from mlops.jobs.common import load_version
from mlops.tracking import PRODUCTION, Tracking, now_iso
from mlops.training.pyfunc_model import LabelledBooster

log = logging.getLogger(__name__)
PARTITION_KEY = "day"


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
    rows = source.load(window, allow_empty=True)
    if rows.num_rows == 0:
        log.info("%s: no rows in %s to score", model.name, window.describe())
        return PredictResult(model.name, version, 0, None)
    frame = rows.to_pandas()
    check_numeric_inputs(scorer, frame, source.uri)
    try:
        proba = scorer.predict_proba(frame)
    except ValueError as exc:
        raise DataError(f"{source.uri}: cannot score with {model.name} v{version}: {exc}") from exc
    best = proba.argmax(axis=1)
    keep = [c for c in (*model.source.id_columns, model.source.timestamp_column) if c and c in rows.column_names]
    day = as_of.astimezone(UTC).date()
    output = rows.select(keep)
    for name, column in (
        ("prediction", pa.array(np.asarray(scorer.classes)[best])),
        ("score", pa.array(proba[np.arange(len(best)), best])),
        ("model_name", pa.array([model.name] * len(best))),
        ("model_version", pa.array([int(version)] * len(best), type=pa.int32())),
        ("as_of", pa.array([day] * len(best), type=pa.date32())),
        ("scored_at", pa.array([datetime.now(UTC)] * len(best), type=pa.timestamp("us", tz="UTC"))),
    ):
        output = output.append_column(name, column)

    target = model.predictions
    if target.table is not None:
        # Same model and day replaced in one transaction: a retried Job never duplicates rows.
        replace_partition(model.source.uri, target.table, output, {"model_name": model.name, "as_of": day}, config.timeouts)
        written = f"{source.uri} table {target.table}"
    else:
        # The folder key is `day`, not `as_of`: a hive key named like a column in the files makes
        # pandas and pyarrow.dataset refuse to read the folder as one table.
        written = write_parquet(str(target.uri), f"{model.name}/{PARTITION_KEY}={day.isoformat()}/predictions.parquet", output,
                                config.timeouts)
    tracking.tag_version(model.name, version, {"last_predict_at": now_iso(), "last_predict_rows": str(len(best))})
    log.info("%s v%s scored %d rows from %s into %s", model.name, version, len(best), window.describe(), written)
    return PredictResult(model.name, version, len(best), written)


def check_numeric_inputs(scorer: LabelledBooster, frame: pd.DataFrame, where: str) -> None:
    """A numeric feature that arrives as text would be scored as all-missing without a word;
    refuse it, naming the column and a value that is not a number."""
    for feature in scorer.features:
        name = feature["name"]
        if feature["kind"] == "categorical" or name not in frame.columns or pd.api.types.is_numeric_dtype(frame[name]):
            continue
        values = frame[name]
        converted = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & converted.isna()
        if bad.any():
            raise DataError(f"{where}: numeric feature {name!r} holds {int(bad.sum())} values that are not numbers "
                            f"(e.g. {str(values[bad].iloc[0])[:40]!r})")
