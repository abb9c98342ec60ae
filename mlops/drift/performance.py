"""Model performance on the window's labelled rows with a confidence bound, so that a drop is
called only when it is larger than the sampling noise of that many labels.

The bound is a normal interval around the point value with a bootstrap standard error. Beyond
BOOTSTRAP_ROWS rows the resamples are drawn at that size and the standard error scaled by
sqrt(BOOTSTRAP_ROWS / n), keeping the cost flat at any n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

BOOTSTRAP_ROWS = 20_000
RESAMPLES = 100

Scorer = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]


@dataclass(frozen=True)
class PerformanceEstimate:
    rows: int
    values: dict[str, float]
    lower: dict[str, float] = field(default_factory=dict)
    upper: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.95

    def as_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "values": self.values, "lower": self.lower, "upper": self.upper,
                "confidence": self.confidence}


def estimate(proba: np.ndarray, y_true: np.ndarray, scorer: Scorer, confidence: float = 0.95,
             resamples: int = RESAMPLES, seed: int = 0) -> PerformanceEstimate:
    """Point values of `scorer(proba, y_true)` and one-sided `confidence` bounds on each side."""
    n = int(y_true.size)
    values = {k: float(v) for k, v in scorer(proba, y_true).items()}
    if n < 2:
        return PerformanceEstimate(n, values, dict(values), dict(values), confidence)
    rng = np.random.default_rng(seed)
    size = min(n, BOOTSTRAP_ROWS)
    draws: dict[str, list[float]] = {k: [] for k in values}
    for _ in range(resamples):  # a loop over resamples; each is one vectorised draw
        rows = rng.integers(0, n, size)
        scored = scorer(proba[rows], y_true[rows])
        for key in values:
            if key in scored:
                draws[key].append(float(scored[key]))
    from scipy import stats as sps  # here: scipy.stats costs most of a second to import

    z = float(sps.norm.ppf(confidence))
    lower, upper = {}, {}
    for key, value in values.items():
        sample = np.asarray(draws[key])
        spread = float(sample.std(ddof=1)) * math.sqrt(size / n) if sample.size > 1 else 0.0
        lower[key], upper[key] = value - z * spread, value + z * spread
    return PerformanceEstimate(n, values, lower, upper, confidence)
