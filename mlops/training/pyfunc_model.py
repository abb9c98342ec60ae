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

    def predict_proba(self, data: pd.DataFrame) -> np.ndarray:
        matrix = xgb.DMatrix(self.frame(data), enable_categorical=True)
        raw = np.asarray(self.booster.predict(matrix), dtype="float64")
        if raw.ndim == 1:  # binary:logistic gives P(classes[1])
            return np.column_stack([1.0 - raw, raw])
        normalised: np.ndarray = raw / raw.sum(axis=1, keepdims=True)
        return normalised  # float32 softmax rows drift from 1 by ~1e-7

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        codes = self.predict_proba(data).argmax(axis=1)
        labels: np.ndarray = np.asarray(self.classes)[codes]
        return labels


class XGBLabelModel(PythonModel):  # type: ignore[misc]
    def load_context(self, context: Any) -> None:
        self.model = LabelledBooster.load(context.artifacts["booster"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        return self.model.predict(model_input)


mlflow.models.set_model(XGBLabelModel())
