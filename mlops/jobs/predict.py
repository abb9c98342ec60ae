"""The daily scoring job: the production model scores the window's rows; the predictions,
with the model name and version that made them, go back to the data store."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from mlops.config import Config, ModelConfig
from mlops.data.sinks import replace_partition, write_parquet
from mlops.data.sources import Window, open_source
from mlops.errors import ConfigError, DataError, RegistryError
from mlops.jobs.retrain import load_version
from mlops.registry import PRODUCTION, Registry, now_iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictResult:
    model: str
    version: str
    rows: int
    written_to: str | None


def predict(config: Config, model: ModelConfig, as_of: datetime, registry: Registry | None = None) -> PredictResult:
    if model.predictions is None:
        raise ConfigError(f"model {model.name!r} has no predictions section: say where predictions go (table or uri)")
    registry = registry or Registry(config.tracking)
    production = registry.alias(model.name, PRODUCTION)
    if production is None:
        raise RegistryError(f"model {model.name!r} has no production version to predict with; run retrain first")
    version = str(production.version)
    scorer = load_version(model.name, version)

    source = open_source(model.source)
    window = Window.ending(as_of, model.predictions.window_days)
    rows = source.load(window, allow_empty=True)
    if rows.num_rows == 0:
        log.info("%s: no rows in %s to score", model.name, window.describe())
        return PredictResult(model.name, version, 0, None)
    frame = rows.to_pandas()
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
        replace_partition(model.source.uri, target.table, output, {"model_name": model.name, "as_of": day})
        written = f"{source.uri} table {target.table}"
    else:
        written = write_parquet(str(target.uri), f"{model.name}/as_of={day.isoformat()}/predictions.parquet", output)
    registry.tag_version(model.name, version, {"last_predict_at": now_iso(), "last_predict_rows": str(len(best))})
    log.info("%s v%s scored %d rows from %s into %s", model.name, version, len(best), window.describe(), written)
    return PredictResult(model.name, version, len(best), written)
