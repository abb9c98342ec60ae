"""Fit an XGBoost booster and score it on the holdout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from mlops.errors import ConfigError
from mlops.training.dataset import Dataset, Split
from mlops.training.metrics import score as score  # re-exported: the jobs score through here
from mlops.training.pyfunc_model import LabelledBooster

_ROUNDS_ALIASES = ("n_estimators", "num_boost_round")


def train(dataset: Dataset, split: Split, params: dict[str, Any], seed: int) -> LabelledBooster:
    n_classes = len(dataset.classes)
    booster_params: dict[str, Any] = {"tree_method": "hist", "seed": seed, "nthread": 0}
    rounds = 100
    for key, value in params.items():
        if key in _ROUNDS_ALIASES:
            rounds = int(value)
        else:
            booster_params[key] = value
    if n_classes == 2:
        booster_params.update(objective="binary:logistic", eval_metric="logloss")
    else:
        booster_params.update(objective="multi:softprob", num_class=n_classes, eval_metric="mlogloss")
    labelled = LabelledBooster(xgb.Booster(), dataset.features, dataset.classes)
    matrix = xgb.DMatrix(labelled.frame(split.train), label=split.y_train, enable_categorical=True)
    try:
        labelled.booster = xgb.train(booster_params, matrix, num_boost_round=rounds)
    except xgb.core.XGBoostError as exc:
        raise ConfigError(f"training.params rejected by XGBoost: {str(exc).splitlines()[0][:300]}") from exc
    return labelled


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
