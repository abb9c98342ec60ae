"""Read-only operator views: status, leaderboard, history. They read the registry and nothing
else, so they import no training, data or model code and answer quickly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops.config import LOWER_IS_BETTER, Config, ModelConfig
from mlops.errors import RegistryError, UsageError
from mlops.jobs.selection import experiment_name
from mlops.tracking.client import PREVIOUS, PRODUCTION
from mlops.tracking.history import AuditEvent
from mlops.tracking.history import history as read_history
from mlops.tracking.reader import Reader

METRIC_KEYS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")


def status(config: Config, tracking: Reader, name: str | None = None) -> list[dict[str, Any]]:
    models = [config.model(name)] if name else config.models
    return [_model_status(tracking, m) for m in models]



def _model_status(tracking: Reader, model: ModelConfig) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": model.name}
    for alias in (PRODUCTION, PREVIOUS):
        found = tracking.alias(model.name, alias)
        if found is None:
            entry[alias] = None
            continue
        info: dict[str, Any] = {"version": found.version, "run_id": found.run_id}
        tags = found.tags
        for key in ("promoted_at", "archived_at", "gate_decision", "last_drift_check_at", "last_drift_share",
                    "last_drift_outcome", "last_predict_at", "last_predict_rows", "run_key"):
            if key in tags:
                info[key] = tags[key]
        if "promoted_at" in tags:
            promoted = datetime.fromisoformat(tags["promoted_at"])
            info["age_days"] = round((datetime.now(UTC) - promoted).total_seconds() / 86400, 1)
        if found.run_id:
            run = tracking.run(found.run_id)
            info["metrics"] = {k: round(v, 4) for k, v in run.metrics.items() if k in METRIC_KEYS}
            info["trained_as_of"] = run.tags.get("data.as_of")
        entry[alias] = info
    return entry



def leaderboard(config: Config, tracking: Reader, name: str, metric: str, limit: int) -> list[dict[str, Any]]:
    model = config.model(name)
    if metric not in METRIC_KEYS:
        raise UsageError(f"--metric must be one of {', '.join(METRIC_KEYS)}")
    experiment_id = tracking.find_experiment_id(experiment_name(config, model))
    # Dry runs registered nothing and decided nothing: they are not candidates.
    runs = [] if experiment_id is None else tracking.finished_runs(
        experiment_id, {"mlops.dry_run": "false"}, metric, ascending=metric in LOWER_IS_BETTER, limit=limit)
    aliases = {}
    for alias in (PRODUCTION, PREVIOUS):
        found = tracking.alias(name, alias)
        if found is not None:
            aliases[found.version] = alias
    rows = []
    for rank, run in enumerate(runs, start=1):
        version = run.tags.get("registered_version")
        rows.append({
            "rank": rank,
            "run_id": run.run_id,
            "started": datetime.fromtimestamp(run.start_time / 1000, tz=UTC).isoformat(timespec="seconds"),
            "as_of": run.tags.get("data.as_of"),
            "holdout": holdout_window(run.tags),
            "version": version,
            "alias": aliases.get(version or "", ""),
            "decision": run.tags.get("gate_decision", ""),
            "metrics": {k: round(v, 4) for k, v in run.metrics.items() if k in METRIC_KEYS},
        })
    if not rows:
        raise RegistryError(f"no finished runs for {name!r} in experiment {experiment_name(config, model)!r}")
    return rows



def holdout_window(tags: dict[str, str]) -> str:
    """Where a run's holdout metrics come from: the end of its window after the time split's
    boundary, or a random share of the whole window."""
    end = tags.get("data.window_end", "")[:10]
    if tags.get("data.split") == "time" and tags.get("data.split_boundary"):
        return f"{tags['data.split_boundary'][:10]}..{end}"
    start = tags.get("data.window_start", "")[:10] or "all"
    return f"random of {start}..{end}" if end else "?"



def history(config: Config, tracking: Reader, name: str) -> list[AuditEvent]:
    config.model(name)  # a configured model, or UsageError
    return read_history(tracking, name)
