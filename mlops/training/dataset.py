"""From a loaded Arrow table to encoded features, labels and a leak-free train/holdout split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.model_selection import train_test_split

from mlops.categories import category_keys
from mlops.config import ModelConfig
from mlops.errors import DataError

# A categorical with this many distinct values, nearly one per row, is an id, not a category.
NEAR_UNIQUE_SHARE = 0.9
NEAR_UNIQUE_MIN = 50
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}"


@dataclass(frozen=True)
class Dataset:
    frame: pd.DataFrame  # raw feature columns (and timestamp), rows with a label only
    labels: np.ndarray  # integer codes into `classes`
    classes: list[Any]
    features: list[dict[str, Any]]  # [{"name", "kind", "categories"?}] in model order
    dropped_missing_label: int
    timestamps: pd.Series | None

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.features]


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    method: str
    boundary: str | None  # first holdout timestamp for a time split


def prepare(table: pa.Table, model: ModelConfig, where: str) -> Dataset:
    """Choose features, encode labels and categories. Rows without a label are dropped and
    counted, never read as the negative class."""
    columns = set(table.column_names)
    if model.target not in columns:
        raise DataError(f"{where}: target column {model.target!r} not found")
    ts = model.source.timestamp_column
    ids = set(model.source.id_columns)
    missing_ids = sorted(ids - columns)
    if missing_ids:
        raise DataError(f"{where}: id column {', '.join(missing_ids)} not found")
    if model.features is not None:
        absent = [f for f in model.features if f not in columns]
        if absent:
            raise DataError(f"{where}: feature column {', '.join(repr(a) for a in absent)} not found")
        names = list(model.features)
    else:
        names = [c for c in table.column_names if c not in {model.target, ts, *ids}]
        if not names:
            raise DataError(f"{where}: no feature columns besides target, timestamp and ids")
    categorical = set(model.categorical_features or [])
    if model.categorical_features is None:
        categorical = {n for n in names if not _is_numeric(table.schema.field(n).type)}

    frame = table.select([*names, *([ts] if ts else []), model.target]).to_pandas()
    target = frame.pop(model.target)
    has_label = target.notna().to_numpy()
    dropped = int((~has_label).sum())
    frame = frame.loc[has_label].reset_index(drop=True)
    target = target.loc[has_label].reset_index(drop=True)
    if frame.empty:
        raise DataError(f"{where}: every row lacks the target {model.target!r}")

    classes = sorted({_plain(v) for v in target.tolist()}, key=_sort_key)
    if len(classes) < 2:
        raise DataError(f"{where}: target {model.target!r} has a single class {classes[0]!r}; need at least two")
    index = {c: i for i, c in enumerate(classes)}
    labels = np.fromiter((index[_plain(v)] for v in target.tolist()), dtype=np.int64, count=len(target))

    features = []
    for name in names:
        if name in categorical:
            keys = category_keys(frame[name])
            _refuse_unfit_category(name, table.schema.field(name).type, frame[name], keys, where)
            features.append({"name": name, "kind": "categorical", "categories": sorted(keys.dropna().unique().tolist())})
        else:
            if not _is_numeric(table.schema.field(name).type):
                raise DataError(f"{where}: feature {name!r} is {table.schema.field(name).type}; list it in categorical_features")
            features.append({"name": name, "kind": "numeric"})
    timestamps = pd.to_datetime(frame[ts], utc=True) if ts else None
    return Dataset(frame, labels, classes, features, dropped, timestamps)


def split(dataset: Dataset, model: ModelConfig) -> Split:
    fraction = model.training.test_fraction
    frame, labels = dataset.frame, dataset.labels
    if model.split == "time":
        if dataset.timestamps is None:
            raise DataError("a time split needs source.timestamp_column")
        # Cut at a timestamp so that rows sharing a moment never straddle train and holdout.
        cut = dataset.timestamps.quantile(1.0 - fraction)
        test_mask = (dataset.timestamps >= cut).to_numpy()
        if test_mask.all() or not test_mask.any():
            raise DataError("time split left the training or the holdout set empty; widen the window")
        return Split(
            frame.loc[~test_mask].reset_index(drop=True),
            frame.loc[test_mask].reset_index(drop=True),
            labels[~test_mask],
            labels[test_mask],
            "time",
            cut.isoformat(),
        )
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    try:
        train_idx, test_idx = train_test_split(
            np.arange(len(labels)), test_size=fraction, random_state=model.training.seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataError(f"cannot split {len(labels)} rows with test_fraction {fraction}: {exc}") from exc
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return Split(
        frame.iloc[train_idx].reset_index(drop=True),
        frame.iloc[test_idx].reset_index(drop=True),
        labels[train_idx],
        labels[test_idx],
        "random-stratified" if stratify is not None else "random",
        None,
    )


def _refuse_unfit_category(name: str, dtype: pa.DataType, values: pd.Series, keys: pd.Series, where: str) -> None:
    """Dates and ids make categoricals whose every new day is an unseen category: refuse them
    with one line naming the column, instead of a model and a drift check that cannot work."""
    fix = "leave it out of `features` (or list it in source.id_columns)"
    if pa.types.is_temporal(dtype):
        raise DataError(f"{where}: feature {name!r} holds dates/times ({dtype}) and cannot be a categorical feature; {fix}")
    present = keys.dropna()
    if present.empty:
        return
    if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
        text = values.dropna().astype(str)
        if len(text) and text.str.match(_ISO_DATE).mean() >= 0.95:
            raise DataError(f"{where}: feature {name!r} holds date strings (e.g. {text.iloc[0]!r}) and cannot be a "
                            f"categorical feature; {fix}")
    distinct = present.nunique()
    if distinct >= NEAR_UNIQUE_MIN and distinct >= NEAR_UNIQUE_SHARE * len(present):
        raise DataError(f"{where}: feature {name!r} has {distinct} distinct values in {len(present)} rows, nearly one per "
                        f"row, so it cannot be a categorical feature; {fix}")


def fingerprint(table: pa.Table) -> str:
    """Order-independent content hash: the same rows in any order give the same value."""
    hashes = pd.util.hash_pandas_object(table.to_pandas(), index=False).to_numpy(dtype=np.uint64)
    total = int(hashes.sum(dtype=np.uint64))
    mixed = int(np.bitwise_xor.reduce(hashes)) if len(hashes) else 0
    return f"{total:016x}{mixed:016x}"


def _is_numeric(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype))


def _plain(value: Any) -> Any:
    """numpy scalars to plain Python so classes serialise to JSON and compare equal."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)
