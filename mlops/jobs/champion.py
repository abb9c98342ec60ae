"""The current production model judged on a candidate's holdout: the gate's second input,
shared by retrain and a manual promote."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops.errors import RegistryError, ServiceUnavailable
from mlops.jobs.common import load_version
from mlops.tracking import PRODUCTION, Tracking
from mlops.training.model import evaluate


@dataclass(frozen=True)
class Champion:
    version: str | None
    metrics: dict[str, float] | None = None
    error: str | None = None  # why it could not score the holdout, when it could not


def champion_metrics(tracking: Tracking, name: str, frame: pd.DataFrame, y_true: np.ndarray, classes: list[Any]) -> Champion:
    """The production model's metrics on this holdout. A champion that cannot be reached is a
    transient failure (ServiceUnavailable propagates: nothing may be promoted on half the
    evidence); one that can be read but not used says why and the gate decides on thresholds."""
    champion = tracking.alias(name, PRODUCTION)
    if champion is None:
        return Champion(None)
    version = champion.version
    try:
        loaded = load_version(tracking, name, version)
    except ServiceUnavailable:
        raise
    except RegistryError as exc:
        return Champion(version, error=str(exc)[:300])
    if loaded.classes != classes:
        return Champion(version, error=f"its labels {loaded.classes} differ from the candidate's {classes}")
    try:
        return Champion(version, evaluate(loaded, frame, y_true))
    except (ValueError, KeyError) as exc:
        return Champion(version, error=str(exc).splitlines()[0][:300])
