"""The logged model: a native XGBoost booster (`model.ubj`) plus `encoding.json`.

This file is also MLflow's models-from-code entry point, so it imports only numpy, pandas,
xgboost, mlflow and `mlops.categories` (itself numpy and pandas only; logged beside the model
as a code path, so loading needs no mlops installed):
`mlflow.pyfunc.load_model("models:/NAME@production").predict(df)` returns the original label
values, and nothing is pickled. Category values are encoded by the same canonical key as at
training, so 1, 1.0, "1" and True are one category whatever dtype the input arrives in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.models
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.pyfunc import PythonModel  # type: ignore[attr-defined]

try:
    from mlops.categories import category_keys
except ImportError:  # loaded from the registry where mlops is not installed: the copy logged with the model
    from categories import category_keys  # type: ignore[no-redef]

BOOSTER_FILE = "model.ubj"
ENCODING_FILE = "encoding.json"


class LabelledBooster:
    """A booster together with the feature encoding and the label classes it was trained on."""

    def __init__(self, booster: xgb.Booster, features: list[dict[str, Any]], classes: list[Any]) -> None:
        self.booster = booster
        self.features = features
        self.classes = classes

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.features]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / BOOSTER_FILE))
        encoding = {"features": self.features, "classes": self.classes}
        (directory / ENCODING_FILE).write_text(json.dumps(encoding, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path | str) -> LabelledBooster:
        directory = Path(directory)
        booster = xgb.Booster()
        booster.load_model(str(directory / BOOSTER_FILE))
        encoding = json.loads((directory / ENCODING_FILE).read_text(encoding="utf-8"))
        return cls(booster, encoding["features"], encoding["classes"])

    def frame(self, data: pd.DataFrame) -> pd.DataFrame:
        """Columns in training order with training dtypes; unseen categories become missing."""
        missing = [name for name in self.feature_names if name not in data.columns]
        if missing:
            raise ValueError(f"input lacks feature columns: {', '.join(missing)}")
        columns: dict[str, Any] = {}
        for feature in self.features:
            values = data[feature["name"]]
            if feature["kind"] == "categorical":
                keys = category_keys(values).to_numpy(dtype=object)
                columns[feature["name"]] = pd.Categorical(keys, categories=feature["categories"])
            else:
                numeric = pd.to_numeric(values, errors="coerce").astype("float64")
                columns[feature["name"]] = numeric.replace([np.inf, -np.inf], np.nan)
        return pd.DataFrame(columns, index=data.index)

    def matrix(self, data: Any) -> np.ndarray:
        """The features of a DataFrame or an Arrow table or record batch as the float32 matrix
        the booster was trained on: training order, categories as their training codes,
        unseen categories, missing values and infinities as NaN. Arrow columns are read
        without a pandas round trip; categories are keyed once per distinct value."""
        names = list(data.columns) if isinstance(data, pd.DataFrame) else list(data.schema.names)
        missing = [name for name in self.feature_names if name not in names]
        if missing:
            raise ValueError(f"input lacks feature columns: {', '.join(missing)}")
        # Column-major: each feature is written as one contiguous run (a row-major matrix made the
        # column writes strided, 4x slower at 100 features); XGBoost reads either layout.
        out = np.empty((len(data), len(self.features)), dtype=np.float32, order="F")
        for j, feature in enumerate(self.features):
            if isinstance(data, pd.DataFrame):
                values = data[feature["name"]]
                if feature["kind"] == "categorical":
                    out[:, j] = _codes(category_keys(values), feature["categories"])
                else:
                    out[:, j] = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            else:
                out[:, j] = _arrow_feature(data.column(feature["name"]), feature)
        out[np.isinf(out)] = np.nan
        return out

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities of a DataFrame or an Arrow table or record batch."""
        matrix = self.matrix(data)
        raw = np.asarray(self.booster.inplace_predict(matrix, missing=np.nan), dtype="float64")
        if raw.ndim == 1:  # binary:logistic gives P(classes[1])
            return np.column_stack([1.0 - raw, raw])
        normalised: np.ndarray = raw / raw.sum(axis=1, keepdims=True)
        return normalised  # float32 softmax rows drift from 1 by ~1e-7

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        codes = self.predict_proba(data).argmax(axis=1)
        labels: np.ndarray = np.asarray(self.classes)[codes]
        return labels


def _codes(keys: pd.Series, categories: list[str]) -> np.ndarray:
    """Training codes of canonical keys as float; -1 (missing or unseen) becomes NaN."""
    codes: np.ndarray = pd.Categorical(keys.to_numpy(dtype=object), categories=categories).codes.astype(np.float32)
    codes[codes < 0] = np.nan
    return codes


def _arrow_feature(column: Any, feature: dict[str, Any]) -> np.ndarray:
    """One Arrow column as float64 values (numeric) or float32 codes (categorical)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    dtype = column.type
    if feature["kind"] != "categorical":
        if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype) \
                or pa.types.is_decimal(dtype) or pa.types.is_null(dtype):
            numbers: np.ndarray = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            return numbers
        parsed: np.ndarray = pd.to_numeric(column.to_pandas(), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return parsed
    try:
        encoded = column if pa.types.is_dictionary(dtype) else pc.dictionary_encode(column)
    except pa.ArrowNotImplementedError:  # a type without a hash kernel: key every value
        return _codes(category_keys(column.to_pandas()), feature["categories"])
    # The key of each distinct value, then a lookup by index: the same keys as keying every row.
    lookup = np.append(_codes(category_keys(encoded.dictionary.to_pandas()), feature["categories"]), np.float32(np.nan))
    indices = pc.fill_null(encoded.indices, len(lookup) - 1).to_numpy(zero_copy_only=False)
    codes: np.ndarray = lookup[indices]
    return codes


class XGBLabelModel(PythonModel):  # type: ignore[misc]
    def load_context(self, context: Any) -> None:
        self.model = LabelledBooster.load(context.artifacts["booster"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        return self.model.predict(model_input)


mlflow.models.set_model(XGBLabelModel())
