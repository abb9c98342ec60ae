"""Stale data and volume anomalies on analytic cases: timestamps and counts in, findings out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa

from mlops.config import DriftConfig
from mlops.drift.freshness import assess, baseline_rate, time_span, training_rate

AS_OF = datetime(2026, 11, 23, tzinfo=UTC)
POLICY = DriftConfig(max_staleness_hours=48, max_volume_factor=3)


def test_a_recent_window_at_the_usual_rate_has_no_finding() -> None:
    fresh = assess(AS_OF - timedelta(hours=2), 700, 7, 100.0, AS_OF, POLICY)
    assert not fresh.stale and not fresh.volume_anomaly and fresh.findings == []
    assert fresh.staleness_hours == 2 and fresh.volume_ratio == 1.0


def test_an_old_newest_row_or_an_empty_window_is_stale() -> None:
    old = assess(AS_OF - timedelta(hours=49), 700, 7, 100.0, AS_OF, POLICY)
    assert old.stale and [f.kind for f in old.findings] == ["stale data"] and "49.0 h old" in old.findings[0].message
    empty = assess(None, 0, 7, 100.0, AS_OF, POLICY)
    assert empty.stale and not empty.volume_anomaly and "no row" in empty.findings[0].message
    assert not assess(AS_OF - timedelta(hours=49), 700, 7, 100.0, AS_OF, DriftConfig(max_staleness_hours=None)).stale


def test_volume_outside_the_factor_either_way_is_an_anomaly() -> None:
    assert assess(AS_OF, 2200, 7, 100.0, AS_OF, POLICY).volume_anomaly  # 3.14x
    assert assess(AS_OF, 230, 7, 100.0, AS_OF, POLICY).volume_anomaly  # 0.33x
    assert not assess(AS_OF, 2100, 7, 100.0, AS_OF, POLICY).volume_anomaly  # exactly 3x
    assert not assess(AS_OF, 2200, 7, None, AS_OF, POLICY).volume_anomaly  # no baseline rate: not judged
    assert not assess(AS_OF, 2200, 7, 100.0, AS_OF, DriftConfig(max_volume_factor=None)).volume_anomaly
    metrics = assess(AS_OF - timedelta(hours=3), 2200, 7, 100.0, AS_OF, POLICY).metrics()
    assert metrics["volume.anomaly"] == 1.0 and round(metrics["volume.ratio"], 2) == 3.14
    assert metrics["freshness.staleness_hours"] == 3.0 and metrics["freshness.stale"] == 0.0


def test_the_baseline_rate_comes_from_the_logged_value_or_the_window() -> None:
    start, end = AS_OF - timedelta(days=10), AS_OF
    assert training_rate(1000, start, end, None) == 100.0
    assert training_rate(1000, start, end, AS_OF - timedelta(days=4)) == 250.0  # data began after the window did
    assert training_rate(1000, None, end, AS_OF - timedelta(days=5)) == 200.0
    assert training_rate(1000, None, end, None) is None
    assert baseline_rate({"rows_per_day": 42.0, "rows_total": 1.0}, {}) == 42.0
    tags = {"data.window_start": start.isoformat(), "data.window_end": end.isoformat()}
    assert baseline_rate({"rows_total": 500.0}, tags) == 50.0  # a run logged before rows_per_day existed
    assert baseline_rate({"rows_total": 500.0}, {"data.window_start": "", "data.window_end": end.isoformat()}) is None


def test_time_span_reads_pandas_and_arrow_columns_in_utc() -> None:
    naive = pd.Series(pd.to_datetime(["2026-11-20 10:00", None, "2026-11-22 08:00"]))
    assert time_span(naive) == (datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 22, 8, tzinfo=UTC))
    column = pa.chunked_array([pa.array([AS_OF, AS_OF - timedelta(days=1)], pa.timestamp("us", tz="UTC"))])
    assert time_span(column) == (AS_OF - timedelta(days=1), AS_OF)
    assert time_span(pd.Series([], dtype="datetime64[ns]")) == (None, None)
