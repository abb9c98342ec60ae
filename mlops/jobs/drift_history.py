"""Drift over time, read back from the monitoring runs (`<prefix>/<model>/monitoring`).

Each drift check is a run named `drift-check-YYYYMMDD` after its as-of, holding the metrics
`effect.<feature>` and `drifted.<feature>` and `drift_share`, and the tags `drift_outcome`,
`model_version`, `backfill`. One search reads them all (`Reader.finished_runs`, paged); a day
checked more than once shows its latest run and counts the others.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops.config import Config
from mlops.jobs.selection import monitoring_experiment
from mlops.tracking.client import RunInfo
from mlops.tracking.reader import Reader

EFFECT, DRIFTED = "effect.", "drifted."
TREND_CHECKS = 14  # earlier checks the HTML report draws each feature's trend over


@dataclass(frozen=True)
class CheckPoint:
    """One day's drift check."""

    as_of: str  # YYYY-MM-DD
    run_id: str
    version: str
    outcome: str
    drift_share: float | None
    backfill: bool
    effects: dict[str, float] = field(default_factory=dict)
    drifted: dict[str, bool] = field(default_factory=dict)
    reruns: int = 0  # other finished runs of the same day, older than this one

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of, "run_id": self.run_id, "version": self.version, "outcome": self.outcome,
                "drift_share": self.drift_share, "backfill": self.backfill, "reruns": self.reruns,
                "features": {name: {"effect": self.effects[name], "drifted": self.drifted.get(name, False)}
                             for name in sorted(self.effects)}}


def drift_history(config: Config, reader: Reader, name: str, days: int, now: datetime | None = None) -> list[CheckPoint]:
    """The model's drift checks whose as-of day lies in the last `days` days (today included), oldest first."""
    model = config.model(name)
    now = now or datetime.now(UTC)
    first_day = (now - timedelta(days=days - 1)).date()  # --days 1: today's check only
    since = datetime.combine(first_day, datetime.min.time(), UTC)
    experiment_id = reader.find_experiment_id(monitoring_experiment(config, model))
    if experiment_id is None:
        return []
    # A run starts after the day it checks, so its start time bounds the search; a backfill run
    # started recently for an older day is dropped below by its as-of.
    runs = reader.finished_runs(experiment_id, {"mlops.job": "drift-check"}, since_ms=int(since.timestamp() * 1000),
                                limit=100_000)
    return latest_per_day(runs, since.date().isoformat())


def recent_checks(reader: Reader, experiment_id: str, before: datetime, count: int) -> list[CheckPoint]:
    """The last `count` checks before the day `before` (for the report's trend lines), oldest first."""
    runs = reader.finished_runs(experiment_id, {"mlops.job": "drift-check"}, limit=max(4 * count, 50))
    earlier = [p for p in latest_per_day(runs, "") if p.as_of < before.date().isoformat()]
    return earlier[-count:]


def latest_per_day(runs: list[RunInfo], first_day: str) -> list[CheckPoint]:
    by_day: dict[str, list[RunInfo]] = {}
    for run in runs:
        day = _as_of(run)
        if day and day >= first_day:
            by_day.setdefault(day, []).append(run)
    points = []
    for day in sorted(by_day):
        newest = max(by_day[day], key=lambda r: r.start_time)
        points.append(_point(day, newest, len(by_day[day]) - 1))
    return points


def _as_of(run: RunInfo) -> str:
    stamp = run.tags.get("as_of") or run.tags.get("data.window_end", "")
    return stamp[:10]


def _point(day: str, run: RunInfo, reruns: int) -> CheckPoint:
    effects = {k.removeprefix(EFFECT): v for k, v in run.metrics.items() if k.startswith(EFFECT)}
    drifted = {k.removeprefix(DRIFTED): v >= 0.5 for k, v in run.metrics.items() if k.startswith(DRIFTED)}
    return CheckPoint(day, run.run_id, run.tags.get("model_version", ""), run.tags.get("drift_outcome", ""),
                      run.metrics.get("drift_share"), run.tags.get("backfill") == "true", effects, drifted, reruns)


def trends(points: list[CheckPoint], current_as_of: str, current: dict[str, float]) -> dict[str, list[dict[str, Any]]]:
    """Per feature, its effect over the earlier checks and this one: what the HTML report draws."""
    series: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        for feature, effect in point.effects.items():
            series.setdefault(feature, []).append({"as_of": point.as_of, "effect": effect,
                                                   "drifted": point.drifted.get(feature, False)})
    for feature, effect in current.items():
        series.setdefault(feature, []).append({"as_of": current_as_of, "effect": effect, "current": True})
    return series


def table(points: list[CheckPoint], width: int = 100) -> list[str]:
    """Features as rows, days as columns (the newest that fit in `width`), drifted cells starred."""
    if not points:
        return []
    features = sorted({f for p in points for f in p.effects})
    label = min(max((len(f) for f in features), default=7), 24)
    columns = max(1, (width - label - 2) // 7)
    shown = points[-columns:]
    lines = [" " * label + "  " + "".join(f"{p.as_of[5:]:>7}" for p in shown)]
    lines.append(f"{'version':<{label}}  " + "".join(f"{'v' + p.version:>7}" for p in shown))
    lines.append(f"{'outcome':<{label}}  " + "".join(f"{_OUTCOMES.get(p.outcome, p.outcome[:6]):>7}" for p in shown))
    lines.append(f"{'share':<{label}}  " + "".join(f"{_cell(p.drift_share, False):>7}" for p in shown))
    for feature in features:
        cells = "".join(f"{_cell(p.effects.get(feature), p.drifted.get(feature, False)):>7}" for p in shown)
        lines.append(f"{feature[:label]:<{label}}  {cells}")
    if any(p.backfill for p in shown):
        lines.append(f"{'backfill':<{label}}  " + "".join(f"{'B' if p.backfill else '':>7}" for p in shown))
    hidden = len(points) - len(shown)
    legend = ["effect size per check (normalised Wasserstein or Jensen-Shannon)", "* drifted", "few: too few rows to judge"]
    legend += ["B: a backfill, checked after a later day"] if any(p.backfill for p in shown) else []
    legend += [f"{hidden} older checks not shown (--json has all)"] if hidden else []
    lines += textwrap.wrap("; ".join(legend), width)
    for p in shown:
        if p.reruns:
            lines += textwrap.wrap(f"note: {p.as_of} was checked {p.reruns + 1} times; the latest run is shown", width)
    return [line.rstrip() for line in lines]


_OUTCOMES = {"drift": "DRIFT", "no drift": "ok", "insufficient data": "few"}


def _cell(value: float | None, drifted: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + ("*" if drifted else " ")
