"""Moving `production` and `previous` so that a crash at any point can be completed or undone.

A move first writes its intent on the registered model (tag `mlops.pending_move`: from, to and
the version tags to set), then sets `previous` to the outgoing version, then `production` to the
incoming one, then clears the intent. Readers always find a production version. A process that
dies part-way leaves the intent behind, and the next promotion, rollback or retrain of the model
finishes it first (`repair`), so `rollback` always returns to the version that was production
before the move. Callers hold the model's promotion lock (`mlops.locking`).
"""

from __future__ import annotations

import getpass
import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from mlops.errors import ProductionMoved, RegistryError
from mlops.tracking.client import PREVIOUS, PRODUCTION, Tracking

log = logging.getLogger(__name__)

PENDING_MOVE = "mlops.pending_move"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def actor() -> str:
    try:
        return os.environ.get("MLOPS_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for a random UID in a container
        return f"uid:{os.getuid()}"


def production_version(tracking: Tracking, name: str) -> str | None:
    found = tracking.alias(name, PRODUCTION)
    return found.version if found else None


def move_production(tracking: Tracking, name: str, version: str, expected: str | None, tags: dict[str, str]) -> str | None:
    """Make `version` production and the outgoing one previous; returns the outgoing version.

    `expected` is the production version the caller evaluated against: if production is
    anything else now, nothing changes and `ProductionMoved` asks the caller to decide again.
    """
    current = production_version(tracking, name)
    if current != expected:
        raise ProductionMoved(current)
    if current == version:
        return None
    stamp = now_iso()
    intent = {"from": current, "to": version, "at": stamp,
              "to_tags": {"promoted_at": stamp, **tags}, "from_tags": {"archived_at": stamp}}
    tracking.set_model_tag(name, PENDING_MOVE, json.dumps(intent))
    _complete(tracking, name, intent)
    return current


def rollback(tracking: Tracking, name: str, tags: dict[str, str]) -> tuple[str, str]:
    """production <- previous, previous <- the outgoing production. Returns (new, old)."""
    repair(tracking, name)
    production = tracking.alias(name, PRODUCTION)
    previous = tracking.alias(name, PREVIOUS)
    if production is None:
        raise RegistryError(f"model {name!r} has no production version to roll back")
    if previous is None or previous.version == production.version:
        raise RegistryError(f"model {name!r} has no previous version to roll back to")
    stamp = now_iso()
    intent = {"from": production.version, "to": previous.version, "at": stamp,
              "to_tags": {"promoted_at": stamp, "rolled_back_to_at": stamp, **tags},
              "from_tags": {"archived_at": stamp, "rolled_back_at": stamp, **tags}}
    tracking.set_model_tag(name, PENDING_MOVE, json.dumps(intent))
    _complete(tracking, name, intent)
    return previous.version, production.version


def repair(tracking: Tracking, name: str) -> str | None:
    """Finish a move a crashed process left half done. Returns what was done, if anything."""
    raw = tracking.model_tag(name, PENDING_MOVE)
    if raw is None:
        return None
    intent: dict[str, Any] = json.loads(raw)
    current = production_version(tracking, name)
    if current in (intent["from"], intent["to"]):
        _complete(tracking, name, intent)
        done = f"completed the interrupted move of {name}@production v{intent['from']} -> v{intent['to']}"
    else:  # someone moved the alias by hand since; theirs is the newer decision
        tracking.delete_model_tag(name, PENDING_MOVE)
        done = f"dropped a stale move of {name}@production to v{intent['to']}: production is v{current} now"
    log.warning("%s", done)
    return done


def _complete(tracking: Tracking, name: str, intent: dict[str, Any]) -> None:
    """Idempotent: every step may already have happened."""
    outgoing, incoming = intent["from"], intent["to"]
    if outgoing is not None:
        tracking.set_alias(name, PREVIOUS, outgoing)
        tracking.tag_version(name, outgoing, intent["from_tags"])
    tracking.set_alias(name, PRODUCTION, incoming)
    tracking.tag_version(name, incoming, intent["to_tags"])
    tracking.delete_model_tag(name, PENDING_MOVE)
