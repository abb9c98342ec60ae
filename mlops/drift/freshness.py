"""Is the data arriving? Two findings beside drift, judged on the drift-check window:

- **stale data**: the newest row is older than `drift.max_staleness_hours` before the as-of (or
  the window has no row at all): the feed stopped or lags.
- **volume anomaly**: the window's rows per day depart from the baseline's daily rate (training
  rows / training days, logged by retrain as `rows_per_day`) by more than `drift.max_volume_factor`
  either way: a partial load, a duplicated one, a filter gone wrong.

Neither sets `retrain_needed`: a late or half-loaded feed is not a change in the population, and
retraining on it would make things worse. They are alertable instead (own metrics and alert
rules). Pure: timestamps and counts in, findings out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from mlops.config import DriftConfig

FindingKind = Literal["stale data", "volume anomaly"]


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    message: str


@dataclass(frozen=True)
class Freshness:
    staleness_hours: float | None  # None: no row in the window
    window_rows_per_day: float
    baseline_rows_per_day: float | None  # None: the baseline's rate is unknown
    stale: bool
    volume_anomaly: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def volume_ratio(self) -> float | None:
        if not self.baseline_rows_per_day:
            return None
        return self.window_rows_per_day / self.baseline_rows_per_day

    def metrics(self) -> dict[str, float]:
        """What the monitoring run logs (and the Pushgateway gets, as mlops_* gauges)."""
        values = {"freshness.stale": float(self.stale), "volume.anomaly": float(self.volume_anomaly),
                  "volume.window_rows_per_day": self.window_rows_per_day}
        if self.staleness_hours is not None:
            values["freshness.staleness_hours"] = self.staleness_hours
        if self.baseline_rows_per_day is not None:
            values["volume.baseline_rows_per_day"] = self.baseline_rows_per_day
        if (ratio := self.volume_ratio) is not None:
            values["volume.ratio"] = ratio
        return values

    def as_dict(self) -> dict[str, object]:
        return {"staleness_hours": self.staleness_hours, "window_rows_per_day": self.window_rows_per_day,
                "baseline_rows_per_day": self.baseline_rows_per_day, "volume_ratio": self.volume_ratio,
                "stale": self.stale, "volume_anomaly": self.volume_anomaly,
                "findings": [f"{f.kind}: {f.message}" for f in self.findings]}


def assess(newest: datetime | None, window_rows: int, window_days: float, baseline_rate: float | None,
           as_of: datetime, policy: DriftConfig) -> Freshness:
    """`newest`: the window's newest timestamp (None when it has no row or no timestamp column)."""
    findings: list[Finding] = []
    staleness = None if newest is None else max(0.0, (as_of - newest).total_seconds() / 3600)
    stale = False
    if policy.max_staleness_hours is not None and window_rows == 0:
        stale = True
        findings.append(Finding("stale data", f"no row in the {window_days:g}-day window ending {as_of:%Y-%m-%d %H:%M}"))
    elif policy.max_staleness_hours is not None and staleness is not None and staleness > policy.max_staleness_hours:
        stale = True
        findings.append(Finding("stale data", f"newest row is {staleness:.1f} h old at the as-of "
                                              f"(allowed: {policy.max_staleness_hours:g} h)"))
    rate = window_rows / window_days if window_days > 0 else 0.0
    anomaly = False
    factor = policy.max_volume_factor
    if factor is not None and baseline_rate and baseline_rate > 0 and window_rows > 0:
        ratio = rate / baseline_rate
        if ratio > factor or ratio < 1 / factor:
            anomaly = True
            findings.append(Finding("volume anomaly", f"{rate:.1f} rows/day in the window vs {baseline_rate:.1f} at "
                                                      f"training ({ratio:.2f}x; allowed 1/{factor:g}..{factor:g}x)"))
    return Freshness(staleness, rate, baseline_rate, stale, anomaly, findings)


def time_span(values: Any) -> tuple[datetime | None, datetime | None]:
    """(oldest, newest) of a timestamp column (pandas or Arrow), in UTC; Nones when it holds none."""
    if hasattr(values, "to_pandas"):
        values = values.to_pandas()
    stamps = pd.to_datetime(pd.Series(values), utc=True, errors="coerce").dropna()
    if stamps.empty:
        return None, None
    return stamps.min().to_pydatetime(), stamps.max().to_pydatetime()


def training_rate(rows: int, start: datetime | None, end: datetime, first_seen: datetime | None) -> float | None:
    """The baseline's rows per day: over the training window, or from its first row when the data
    begins later than the window (or the window is unbounded). None when no time span is known."""
    begin = max(t for t in (start, first_seen) if t is not None) if (start or first_seen) else None
    if begin is None:
        return None
    days = (end - begin).total_seconds() / 86400
    return rows / days if days > 0 else None


def baseline_rate(metrics: Mapping[str, float], tags: Mapping[str, str]) -> float | None:
    """The production run's `rows_per_day`; for runs logged before it existed, rows over a bounded window."""
    logged = metrics.get("rows_per_day")
    if logged is not None and math.isfinite(logged) and logged > 0:
        return float(logged)
    rows, start, end = metrics.get("rows_total"), tags.get("data.window_start"), tags.get("data.window_end")
    if not rows or not start or not end:
        return None
    try:
        return training_rate(int(rows), datetime.fromisoformat(start), datetime.fromisoformat(end), None)
    except ValueError:
        return None
