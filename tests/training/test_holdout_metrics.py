"""The numpy holdout metrics give scikit-learn's values on the cases that matter: binary and
multiclass, classes missing from the truth or the prediction, tied scores, float32 scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mlops.training.metrics import score
from mlops.training.model import confusion


def reference(proba: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, float]:
    predicted = proba.argmax(axis=1)
    average = "binary" if n_classes == 2 else "macro"
    result = {
        "accuracy": skm.accuracy_score(y, predicted),
        "precision": skm.precision_score(y, predicted, average=average, zero_division=0),
        "recall": skm.recall_score(y, predicted, average=average, zero_division=0),
        "f1": skm.f1_score(y, predicted, average=average, zero_division=0),
        "log_loss": skm.log_loss(y, proba, labels=list(range(n_classes))),
    }
    if len(np.unique(y)) > 1:
        if n_classes == 2:
            result["roc_auc"] = skm.roc_auc_score(y, proba[:, 1])
        elif len(np.unique(y)) == n_classes:
            result["roc_auc"] = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    return {k: float(v) for k, v in result.items()}


def probabilities(rng: np.random.Generator, n: int, n_classes: int, dtype: type, decimals: int | None) -> np.ndarray:
    raw = rng.dirichlet(np.ones(n_classes), size=n)
    if decimals is not None:  # coarse scores: many ties
        raw = np.round(raw, decimals)
        raw[:, -1] = 1 - raw[:, :-1].sum(axis=1)
        raw = np.clip(raw, 0, 1)
        raw /= raw.sum(axis=1, keepdims=True)
    return raw.astype(dtype)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decimals", [None, 1])
@pytest.mark.parametrize("seed", range(4))
def test_metrics_equal_scikit_learn(n_classes: int, dtype: type, decimals: int | None, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    proba = probabilities(rng, n, n_classes, dtype, decimals)
    # Some classes absent from the truth in some cases, a skewed truth in others.
    present = n_classes if seed % 2 else max(1, n_classes - 1)
    y = rng.integers(0, present, n)
    ours, theirs = score(proba, y, n_classes), reference(proba, y, n_classes)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-9, abs=1e-12), key


def test_one_class_truth_leaves_roc_auc_out() -> None:
    proba = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    ours = score(proba, np.array([1, 1, 1]), 2)
    assert "roc_auc" not in ours
    assert ours["recall"] == pytest.approx(1 / 3)


def test_confusion_rows_are_the_truth() -> None:
    proba = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.0, 0.1, 0.9]])
    y = np.array([0, 1, 1, 2])
    matrix = confusion(proba, y, ["a", "b", "c"])["matrix"]
    assert matrix == skm.confusion_matrix(y, proba.argmax(axis=1), labels=[0, 1, 2]).tolist()
