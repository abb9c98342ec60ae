"""The MLflow edge: the only code that imports mlflow (an import-linter contract says so).

    client.py    Tracking: one MlflowClient per process; runs, artifacts, versions, aliases
    failures.py  MLflow, HTTP, botocore and socket failures mapped by type to exit 1 or 2
    aliases.py   production/previous moves that a crash can never leave half done
    history.py   the audit trail: one registered-model tag per promotion, rejection or rollback
"""

from __future__ import annotations

from mlops.tracking.aliases import actor, move_production, now_iso, repair, rollback
from mlops.tracking.client import PREVIOUS, PRODUCTION, RunInfo, Tracking, VersionInfo, configure_http

__all__ = [
    "PREVIOUS", "PRODUCTION", "RunInfo", "Tracking", "VersionInfo", "actor", "configure_http", "move_production",
    "now_iso", "repair", "rollback",
]
