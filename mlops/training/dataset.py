"""From the window's Arrow rows to encoded features, labels and a leak-free train/holdout split.

Two steps, both column-wise in Arrow and numpy (no per-row Python):

- a `Scan` reads the rows once, in one table or in any number of record batches, and learns
  what encoding needs: the label classes, each categorical's canonical keys
  (`mlops.categories`, computed on the distinct values only), the timestamps for a time split;
- `encode` turns rows into the model's frame: numeric columns as float64 (infinities kept for
  the profile; the trainer treats them as missing), categoricals as `pd.Categorical` over the
  sorted keys, exactly what `LabelledBooster.frame` makes of the raw values.

Rows without a label are dropped and counted, never read as the negative class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.model_selection import train_test_split

from mlops.categories import category_keys, dtype_class
from mlops.config import ModelConfig
from mlops.errors import DataError
from mlops.training.fingerprint import fingerprint as fingerprint

# A categorical with this many distinct values, nearly one per row, is an id, not a category.
NEAR_UNIQUE_SHARE = 0.9
NEAR_UNIQUE_MIN = 50
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}"

Rows: TypeAlias = pa.Table | pa.RecordBatch


@dataclass(frozen=True)
class Encoding:
    """What a scan learned: enough to encode any batch of the same window the same way."""

    features: list[dict[str, Any]]  # [{"name", "kind", "categories"?}] in model order
    classes: list[Any]
    dtype_classes: dict[str, str]  # per feature, of the raw values (mlops.categories.dtype_class)
    target: str
    timestamp: str | None

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.features]

    @property
    def columns(self) -> list[str]:
        """The source columns encoding reads."""
        return [*self.feature_names, *([self.timestamp] if self.timestamp else []), self.target]


@dataclass(frozen=True)
class Dataset:
    table: pa.Table  # the labelled rows as loaded (feature, timestamp and target columns)
    encoding: Encoding
    labels: np.ndarray  # integer codes into `classes`
    dropped_missing_label: int
    timestamps: pd.Series | None

    @property
    def classes(self) -> list[Any]:
        return self.encoding.classes

    @property
    def features(self) -> list[dict[str, Any]]:
        return self.encoding.features

    @property
    def feature_names(self) -> list[str]:
        return self.encoding.feature_names

    @property
    def frame(self) -> pd.DataFrame:
        """Every labelled row encoded (the split encodes its two parts without this)."""
        return encode(self.table, self.encoding)


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame  # encoded (see `encode`), with the timestamp column when there is one
    test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    method: str
    boundary: str | None  # first holdout timestamp for a time split


@dataclass
class _CategoryScan:
    values: list[pa.Array] = field(default_factory=list)  # distinct raw values per batch
    present: int = 0  # rows whose key is not missing
    text_rows: int = 0  # non-null rows of a string column
    iso_dates: int = 0  # ... of which look like dates
    first_text: str | None = None


class Scan:
    """One pass over the labelled rows of a window, in batches; `finish` gives the encoding."""

    def __init__(self, schema: pa.Schema, model: ModelConfig, where: str) -> None:
        columns = set(schema.names)
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
            names = [c for c in schema.names if c not in {model.target, ts, *ids}]
            if not names:
                raise DataError(f"{where}: no feature columns besides target, timestamp and ids")
        categorical = set(model.categorical_features or [])
        if model.categorical_features is None:
            categorical = {n for n in names if not _is_numeric(schema.field(n).type)}
        for name in names:
            dtype = schema.field(name).type
            if name in categorical and pa.types.is_temporal(dtype):
                raise DataError(f"{where}: feature {name!r} holds dates/times ({dtype}) and cannot be a categorical "
                                f"feature; {_FIX}")
            if name not in categorical and not _is_numeric(dtype):
                raise DataError(f"{where}: feature {name!r} is {dtype}; list it in categorical_features")
        self.schema, self.where, self.names, self.target = schema, where, names, model.target
        self.timestamp = ts if ts and ts in columns else None
        self.categorical = {n: _CategoryScan() for n in names if n in categorical}
        self.numeric_ints = {n for n in names if n not in categorical and pa.types.is_integer(schema.field(n).type)}
        self.numeric_whole: dict[str, bool] = {n: True for n in names if n not in categorical}
        self.labels: list[pa.Array] = []
        self.stamps: list[pa.Array] = []
        self.rows = 0
        self.dropped = 0

    def add(self, rows: Rows) -> Rows:
        """Learn from a batch; returns its labelled rows (the columns encoding reads)."""
        rows = rows.select([*self.names, *([self.timestamp] if self.timestamp else []), self.target])
        labelled = labelled_mask(rows.column(self.target))
        if labelled is not None:
            self.dropped += rows.num_rows - int(pc.sum(labelled).as_py() or 0)
            rows = rows.filter(labelled)
        self.rows += rows.num_rows
        self.labels.extend(_chunks(rows.column(self.target)))
        if self.timestamp:
            self.stamps.extend(_chunks(rows.column(self.timestamp)))
        for name, scan in self.categorical.items():
            for chunk in _chunks(rows.column(name)):
                _scan_category(chunk, scan)
        for name, whole in self.numeric_whole.items():
            if whole and name not in self.numeric_ints:
                x = _float_values(rows.column(name))
                x = x[np.isfinite(x)]
                self.numeric_whole[name] = bool(np.all(x == np.round(x)))
        return rows

    def finish(self) -> tuple[Encoding, np.ndarray, pd.Series | None]:
        """The encoding, every labelled row's class code, and the timestamps (for the split)."""
        if self.rows == 0:
            raise DataError(f"{self.where}: every row lacks the target {self.target!r}")
        target = pa.chunked_array(self.labels, type=self.labels[0].type)
        values = pc.unique(_decoded(target))
        classes = sorted((_plain(v) for v in values.to_pylist()), key=_sort_key)
        if len(classes) < 2:
            raise DataError(f"{self.where}: target {self.target!r} has a single class {classes[0]!r}; need at least two")
        codes = pc.index_in(_decoded(target), value_set=pa.array(classes, type=values.type))
        labels = codes.to_numpy().astype(np.int64)
        features: list[dict[str, Any]] = []
        dtype_classes: dict[str, str] = {}
        for name in self.names:
            if name in self.categorical:
                keys, dtype_classes[name] = self._finish_category(name)
                features.append({"name": name, "kind": "categorical", "categories": keys})
            else:
                features.append({"name": name, "kind": "numeric"})
                if pa.types.is_decimal(self.schema.field(name).type):
                    dtype_classes[name] = "float"
                else:
                    dtype_classes[name] = "int" if name in self.numeric_ints or self.numeric_whole[name] else "float"
        encoding = Encoding(features, classes, dtype_classes, self.target, self.timestamp)
        timestamps = None
        if self.timestamp:
            stamps = pa.chunked_array(self.stamps, type=self.schema.field(self.timestamp).type)
            timestamps = pd.to_datetime(stamps.to_pandas(), utc=True)
        return encoding, labels, timestamps

    def _finish_category(self, name: str) -> tuple[list[str], str]:
        scan = self.categorical[name]
        if scan.text_rows and scan.iso_dates >= 0.95 * scan.text_rows:
            raise DataError(f"{self.where}: feature {name!r} holds date strings (e.g. {scan.first_text!r}) and cannot "
                            f"be a categorical feature; {_FIX}")
        dtype = self.schema.field(name).type
        value_type = dtype.value_type if pa.types.is_dictionary(dtype) else dtype
        distinct_values = pc.unique(pa.chunked_array(scan.values, type=value_type)) if scan.values else pa.array(
            [], type=value_type)
        raw = distinct_values.to_pandas()
        keys = category_keys(raw)
        categories = sorted(keys.dropna().unique().tolist())
        if len(categories) >= NEAR_UNIQUE_MIN and len(categories) >= NEAR_UNIQUE_SHARE * scan.present:
            raise DataError(f"{self.where}: feature {name!r} has {len(categories)} distinct values in {scan.present} "
                            f"rows, nearly one per row, so it cannot be a categorical feature; {_FIX}")
        if not len(raw):  # no value at all: the kind pandas gives an all-missing column
            kind = dtype_class(pa.nulls(1, type=value_type).to_pandas())
        else:
            kind = dtype_class(raw)
        return categories, kind


_FIX = "leave it out of `features` (or list it in source.id_columns)"


def prepare(table: pa.Table, model: ModelConfig, where: str) -> Dataset:
    """Choose features, learn the classes and categories of a whole loaded window."""
    scan = Scan(table.schema, model, where)
    labelled = pa.table(scan.add(table))
    encoding, labels, timestamps = scan.finish()
    return Dataset(labelled, encoding, labels, scan.dropped, timestamps)


def split_positions(labels: np.ndarray, timestamps: pd.Series | None, model: ModelConfig) -> tuple[
        np.ndarray, np.ndarray, str, str | None]:
    """Ascending row positions of the training and holdout rows, the method, and the time cut."""
    fraction = model.training.test_fraction
    if model.split == "time":
        if timestamps is None:
            raise DataError("a time split needs source.timestamp_column")
        # Cut at a timestamp so that rows sharing a moment never straddle train and holdout.
        cut = timestamps.quantile(1.0 - fraction)
        test_mask = (timestamps >= cut).to_numpy()
        if test_mask.all() or not test_mask.any():
            raise DataError("time split left the training or the holdout set empty; widen the window")
        return np.flatnonzero(~test_mask), np.flatnonzero(test_mask), "time", cut.isoformat()
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    try:
        train_idx, test_idx = train_test_split(
            np.arange(len(labels)), test_size=fraction, random_state=model.training.seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataError(f"cannot split {len(labels)} rows with test_fraction {fraction}: {exc}") from exc
    method = "random-stratified" if stratify is not None else "random"
    return np.sort(train_idx), np.sort(test_idx), method, None


def split(dataset: Dataset, model: ModelConfig) -> Split:
    train_pos, test_pos, method, boundary = split_positions(dataset.labels, dataset.timestamps, model)
    train, test = encode(dataset.table, dataset.encoding, [train_pos, test_pos])
    return Split(train, test, dataset.labels[train_pos], dataset.labels[test_pos], method, boundary)


def encode(rows: Rows, encoding: Encoding, parts: list[np.ndarray] | None = None) -> Any:
    """The model's frame of labelled `rows`; with `parts` (lists of row positions), one frame per
    part, each column converted once and then cut, so no whole-window frame is ever built."""
    wanted = parts if parts is not None else [np.arange(rows.num_rows)]
    whole = parts is None
    columns: list[dict[str, Any]] = [{} for _ in wanted]
    for feature in encoding.features:
        name = feature["name"]
        if feature["kind"] == "categorical":
            codes = category_codes(rows.column(name), feature["categories"])
            index = pd.Index(feature["categories"], dtype=object)
            for out, pos in zip(columns, wanted, strict=True):
                out[name] = pd.Categorical.from_codes(codes if whole else codes[pos], categories=index, validate=False)
        else:
            x = _float_values(rows.column(name))
            for out, pos in zip(columns, wanted, strict=True):
                out[name] = x if whole else x[pos]
    if encoding.timestamp:
        stamps = rows.column(encoding.timestamp).to_pandas()
        for out, pos in zip(columns, wanted, strict=True):
            out[encoding.timestamp] = stamps if whole else stamps.iloc[pos].reset_index(drop=True)
    frames = [pd.DataFrame(out, copy=False) for out in columns]
    return frames[0] if parts is None else frames


def category_codes(column: pa.Array | pa.ChunkedArray, categories: list[str]) -> np.ndarray:
    """Positions of each row's canonical key in `categories`; -1 for missing or unseen. The keys
    are computed on the distinct values of each chunk only, then gathered."""
    position = {key: i for i, key in enumerate(categories)}
    dtype = np.int8 if len(categories) < 127 else np.int16 if len(categories) < 32_000 else np.int32
    pieces = []
    for chunk in _chunks(column):
        encoded = chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
        keys = category_keys(encoded.dictionary.to_pandas()).tolist()
        lookup = np.array([position.get(k, -1) if k is not None else -1 for k in keys] + [-1], dtype=dtype)
        indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        pieces.append(lookup[indices])
    if not pieces:
        return np.empty(0, dtype=dtype)
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def labelled_mask(target: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """Rows with a label (None when all have one): not null, and not NaN in a float column."""
    valid = pc.is_valid(target)
    if pa.types.is_floating(target.type):
        valid = pc.and_(valid, pc.invert(pc.fill_null(pc.is_nan(target), True)))
    if pc.all(valid).as_py() is not False:
        return None
    return valid


def _scan_category(chunk: pa.Array, scan: _CategoryScan) -> None:
    encoded = chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
    dictionary = encoded.dictionary
    indices = encoded.indices.drop_null().to_numpy(zero_copy_only=False)
    scan.values.append(dictionary)
    missing_key = category_keys(dictionary.to_pandas()).isna().to_numpy()
    scan.present += int(np.count_nonzero(~missing_key[indices]))
    if pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type) or \
            pa.types.is_string_view(dictionary.type):
        scan.text_rows += len(indices)
        if scan.first_text is None and len(indices):
            scan.first_text = str(dictionary[int(indices[0])].as_py())
        dates = pc.match_substring_regex(dictionary, _ISO_DATE).to_numpy(zero_copy_only=False)
        scan.iso_dates += int(np.count_nonzero(dates[indices]))


def _float_values(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """float64 values, missing as NaN; a decimal goes through its exact text, as pandas would."""
    if pa.types.is_decimal(column.type):
        column = pc.cast(column, pa.float64())
    if isinstance(column, pa.ChunkedArray):
        x = column.to_numpy()
    else:
        x = column.to_numpy(zero_copy_only=False)
    return np.asarray(x, dtype=np.float64)


def _decoded(column: pa.Array | pa.ChunkedArray) -> Any:
    if pa.types.is_dictionary(column.type):
        return pc.cast(column, column.type.value_type)
    return column


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def _is_numeric(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype))


def _plain(value: Any) -> Any:
    """numpy scalars to plain Python so classes serialise to JSON and compare equal."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)
