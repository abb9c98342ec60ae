"""Fit an XGBoost booster and score it on the holdout."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd
import xgboost as xgb

from mlops.errors import ConfigError
from mlops.training.dataset import Split
from mlops.training.metrics import score as score  # re-exported: the jobs score through here
from mlops.training.pyfunc_model import LabelledBooster

_ROUNDS_ALIASES = ("n_estimators", "num_boost_round")


class Labelled(Protocol):
    @property
    def features(self) -> list[dict[str, Any]]: ...

    @property
    def classes(self) -> list[Any]: ...


def booster_params(n_classes: int, params: dict[str, Any], seed: int) -> tuple[dict[str, Any], int]:
    """XGBoost's parameters and the number of rounds, the objective derived from the labels."""
    booster: dict[str, Any] = {"tree_method": "hist", "seed": seed, "nthread": 0}
    rounds = 100
    for key, value in params.items():
        if key in _ROUNDS_ALIASES:
            rounds = int(value)
        else:
            booster[key] = value
    if n_classes == 2:
        booster.update(objective="binary:logistic", eval_metric="logloss")
    else:
        booster.update(objective="multi:softprob", num_class=n_classes, eval_metric="mlogloss")
    return booster, rounds


def model_input(frame: pd.DataFrame, features: list[dict[str, Any]]) -> pd.DataFrame:
    """An encoded frame (`training.dataset.encode`) as the booster reads it: the features in
    model order, infinities as missing (what `LabelledBooster.frame` makes of raw values)."""
    data = frame[[f["name"] for f in features]]
    infinite = {f["name"]: data[f["name"]].replace([np.inf, -np.inf], np.nan) for f in features
                if f["kind"] == "numeric" and np.isinf(data[f["name"]].to_numpy()).any()}
    return data.assign(**infinite) if infinite else data


def train(dataset: Labelled, split: Split, params: dict[str, Any], seed: int) -> LabelledBooster:
    """In memory, from the split's encoded training frame."""
    matrix = xgb.DMatrix(model_input(split.train, dataset.features), label=split.y_train, enable_categorical=True)
    return fit(dataset, matrix, params, seed)


def fit(dataset: Labelled, matrix: xgb.DMatrix, params: dict[str, Any], seed: int) -> LabelledBooster:
    """Any training matrix: in memory, or external memory (`training.external`)."""
    booster_params_, rounds = booster_params(len(dataset.classes), params, seed)
    labelled = LabelledBooster(xgb.Booster(), dataset.features, dataset.classes)
    try:
        labelled.booster = xgb.train(booster_params_, matrix, num_boost_round=rounds)
    except xgb.core.XGBoostError as exc:
        raise ConfigError(f"training.params rejected by XGBoost: {str(exc).splitlines()[0][:300]}") from exc
    return labelled


def predict_encoded(model: LabelledBooster, frame: pd.DataFrame) -> np.ndarray:
    """`model.predict_proba` for a frame encoded with this model's own encoding (the candidate's
    holdout), skipping the re-encoding of every category value."""
    matrix = xgb.DMatrix(model_input(frame, model.features), enable_categorical=True)
    raw = np.asarray(model.booster.predict(matrix), dtype="float64")
    if raw.ndim == 1:
        return np.column_stack([1.0 - raw, raw])
    normalised: np.ndarray = raw / raw.sum(axis=1, keepdims=True)
    return normalised


def evaluate(model: LabelledBooster, frame: pd.DataFrame, y_true: np.ndarray) -> dict[str, float]:
    """Holdout metrics. Binary metrics treat `classes[1]` as the positive class; multiclass
    precision/recall/f1/roc_auc are macro averages. A metric that is undefined on this holdout
    (roc_auc with one class present) is left out rather than reported as NaN."""
    proba = model.predict_proba(frame)
    return score(proba, y_true, len(model.classes))


def confusion(proba: np.ndarray, y_true: np.ndarray, classes: list[Any]) -> dict[str, Any]:
    n = len(classes)
    cells = np.bincount(np.asarray(y_true, dtype=np.int64) * n + proba.argmax(axis=1), minlength=n * n)
    return {"labels": classes, "rows_are": "actual", "matrix": cells.reshape(n, n).tolist()}


def importance(model: LabelledBooster) -> dict[str, float]:
    gains = model.booster.get_score(importance_type="gain")
    result = {}
    for name in model.feature_names:
        gain = gains.get(name, 0.0)
        result[name] = float(gain if isinstance(gain, float | int) else sum(gain))
    return result
