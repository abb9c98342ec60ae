"""The registered drift methods: how a window's column is folded into mergeable state, how that
state is compared with the profile, and which effect floor applies. A new statistic is one new
module and one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.config import DriftConfig
from mlops.drift.categorical import CategoryCounts, categorical_drift
from mlops.drift.numeric import NumericCounts, numeric_drift, support_of
from mlops.drift.stats import FeatureDrift


@dataclass(frozen=True)
class Method:
    """`count(profile_summary, column)` gives state with a `merge`; `compute(name, profile_summary, state)`."""

    count: Callable[[dict[str, Any], pd.Series], Any]
    compute: Callable[[str, dict[str, Any], Any], FeatureDrift]
    floor: Callable[[DriftConfig], float]


def as_numbers(column: pd.Series) -> np.ndarray:
    numbers: np.ndarray = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return numbers


METHODS: dict[str, Method] = {
    "numeric": Method(lambda summary, column: NumericCounts.of(support_of(summary), as_numbers(column)),
                      numeric_drift, lambda d: d.numeric_effect),
    "categorical": Method(lambda summary, column: CategoryCounts.of(column), categorical_drift,
                          lambda d: d.categorical_effect),
}
