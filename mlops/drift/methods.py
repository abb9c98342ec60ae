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
from mlops.drift.numeric import NumericCounts, as_numbers, numeric_drift, support_of
from mlops.drift.stats import FeatureDrift, Lookup


@dataclass(frozen=True)
class Method:
    """`prepare(profile_summary)` once per window; `count(prepared, column)` gives one batch's state,
    which has a `merge`; `compute(name, profile_summary, state)` compares it with the profile."""

    prepare: Callable[[dict[str, Any]], Any]
    count: Callable[[Any, pd.Series], Any]
    compute: Callable[[str, dict[str, Any], Any], FeatureDrift]
    floor: Callable[[DriftConfig], float]


def _support(summary: dict[str, Any]) -> tuple[np.ndarray, Lookup]:
    support = support_of(summary)
    return support, Lookup(support)


METHODS: dict[str, Method] = {
    "numeric": Method(_support, lambda prepared, column: NumericCounts.of(prepared[0], as_numbers(column), prepared[1]),
                      numeric_drift, lambda d: d.numeric_effect),
    "categorical": Method(lambda summary: None, lambda prepared, column: CategoryCounts.of(column), categorical_drift,
                          lambda d: d.categorical_effect),
}
