"""Holdout metrics from class probabilities, in plain numpy.

The same values as scikit-learn's `accuracy_score`, `precision_score`, `recall_score`,
`f1_score` (zero_division=0; binary: class 1 positive; multiclass: macro over the classes present
in either the truth or the prediction), `log_loss` (probabilities clipped to the dtype's eps) and
`roc_auc_score` (binary; multiclass one-vs-rest macro, defined only when every class is present),
checked against them in tests. scikit-learn validates its inputs on every call, which costs
~10 ms; the drift check's bootstrap scores a hundred resamples per model, so these do without.
"""

from __future__ import annotations

import math

import numpy as np


def score(proba: np.ndarray, y_true: np.ndarray, n_classes: int) -> dict[str, float]:
    """Metrics of `proba` (rows x classes) against class codes `y_true`. A metric undefined on
    these rows (roc_auc with one class present) is left out rather than reported as NaN."""
    y = np.asarray(y_true, dtype=np.int64)
    predicted = proba.argmax(axis=1)
    result = {"accuracy": float(np.mean(predicted == y)) if y.size else math.nan}
    if n_classes == 2:
        tp, fp, fn = _counts(y, predicted, np.array([1]))
        result.update(precision=_ratio(tp, tp + fp)[0], recall=_ratio(tp, tp + fn)[0], f1=_ratio(2 * tp, 2 * tp + fp + fn)[0])
    else:
        labels = np.union1d(y, predicted)
        tp, fp, fn = _counts(y, predicted, labels)
        result.update(precision=float(np.mean(_ratio(tp, tp + fp))), recall=float(np.mean(_ratio(tp, tp + fn))),
                      f1=float(np.mean(_ratio(2 * tp, 2 * tp + fp + fn))))
    result["log_loss"] = log_loss(proba, y)
    present = np.unique(y)
    if present.size > 1:
        if n_classes == 2:
            result["roc_auc"] = roc_auc(proba[:, 1], y == 1)
        elif present.size == n_classes:
            result["roc_auc"] = float(np.mean([roc_auc(proba[:, k], y == k) for k in range(n_classes)]))
    return {k: float(v) for k, v in result.items() if math.isfinite(float(v))}


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    eps = np.finfo(proba.dtype).eps if np.issubdtype(proba.dtype, np.floating) else np.finfo(np.float64).eps
    chosen = np.clip(proba[np.arange(y.size), y], eps, 1 - eps)
    return float(-np.mean(np.log(chosen))) if y.size else math.nan


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve = the Mann-Whitney probability that a positive outranks a
    negative, ties counting one half (what the trapezoids over distinct thresholds give)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    ordered = scores[order]
    # Average ranks (1-based) over runs of equal scores.
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    ends = np.append(starts[1:], ordered.size)
    average = (starts + ends + 1) / 2.0
    ranks = np.empty(ordered.size, dtype=np.float64)
    ranks[order] = np.repeat(average, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _counts(y: np.ndarray, predicted: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives per label."""
    size = int(max(labels.max(initial=0), y.max(initial=0), predicted.max(initial=0))) + 1
    hits = np.bincount(y[y == predicted], minlength=size).astype(np.float64)
    truth = np.bincount(y, minlength=size).astype(np.float64)
    said = np.bincount(predicted, minlength=size).astype(np.float64)
    tp = hits[labels]
    return tp, said[labels] - tp, truth[labels] - tp


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    safe = np.where(denominator > 0, denominator, 1.0)
    result: np.ndarray = np.where(denominator > 0, numerator / safe, 0.0)
    return result
