"""Moving `production` and `previous` so that a crash at any point can be completed or undone.

A move first writes its intent on the registered model (tag `mlops.pending_move`: from, to and
the version tags to set), then sets `previous` to the outgoing version, then `production` to the
incoming one, then clears the intent. Readers always find a production version. A process that
dies part-way leaves the intent behind, and the next promotion, rollback or retrain of the model
finishes it first (`repair`), so `rollback` always returns to the version that was production
before the move. Callers hold the model's promotion lock (`mlops.locking`).

The intent also carries the move's audit event (`mlops.tracking.history`) with its key fixed
before the first step, so completing a move twice writes one event, and the model description.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from mlops.errors import ProductionMoved, RegistryError
from mlops.tracking.client import PREVIOUS, PRODUCTION, Tracking
from mlops.tracking.history import (
    AuditEvent,
    event_from_intent,
    event_to_intent,
    history,
    last_verdict,
    model_description,
    new_event,
    record,
)

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


def move_production(tracking: Tracking, name: str, version: str, expected: str | None, tags: dict[str, str],
                    event: AuditEvent | None = None) -> str | None:
    """Make `version` production and the outgoing one previous; returns the outgoing version.
    `event` (its production before/after filled in here) is written once the move is complete.

    `expected` is the production version the caller evaluated against: if production is
    anything else now, nothing changes and `ProductionMoved` asks the caller to decide again.
    """
    current = production_version(tracking, name)
    if current != expected:
        raise ProductionMoved(current)
    if current == version:
        return None
    stamp = now_iso()
    if event is not None:
        event = replace(event, production_before=current, production_after=version)
    intent = {"from": current, "to": version, "at": stamp,
              "to_tags": {"promoted_at": stamp, **tags}, "from_tags": {"archived_at": stamp},
              "event": event_to_intent(event)}
    tracking.set_model_tag(name, PENDING_MOVE, json.dumps(intent))
    _complete(tracking, name, intent)
    return current


def rollback(tracking: Tracking, name: str, tags: dict[str, str], reason: str = "", force: bool = False) -> tuple[str, str]:
    """production <- previous, previous <- the outgoing production. Returns (new, old).
    Refuses to return to a version whose last gate verdict was a rejection, unless `force`."""
    repair(tracking, name)
    production = tracking.alias(name, PRODUCTION)
    previous = tracking.alias(name, PREVIOUS)
    if production is None:
        raise RegistryError(f"model {name!r} has no production version to roll back")
    if previous is None or previous.version == production.version:
        raise RegistryError(f"model {name!r} has no previous version to roll back to")
    refusal = rejected_by_gate(tracking, name, previous.version, previous.tags)
    if refusal and not force:
        raise RegistryError(f"{name}: previous v{previous.version} {refusal}; rollback refused (use --force to return to it anyway)")
    stamp = now_iso()
    why = reason or "no reason given"
    if refusal:
        why = f"{why} (forced: v{previous.version} {refusal})"
    event = new_event("rollback", previous.version, actor(), why, "rollback", production.version, previous.version)
    intent = {"from": production.version, "to": previous.version, "at": stamp,
              "to_tags": {"promoted_at": stamp, "rolled_back_to_at": stamp, **tags},
              "from_tags": {"archived_at": stamp, "rolled_back_at": stamp, **tags},
              "event": event_to_intent(event)}
    tracking.set_model_tag(name, PENDING_MOVE, json.dumps(intent))
    _complete(tracking, name, intent)
    return previous.version, production.version


def rejected_by_gate(tracking: Tracking, name: str, version: str, tags: dict[str, str]) -> str | None:
    """Why `version` must not silently return to production: its last gate verdict was a
    rejection (from the audit trail; the version tags for versions older than the trail)."""
    verdict = last_verdict(history(tracking, name), version)
    if verdict is not None:
        return f"was rejected by the gate at {verdict.at} ({verdict.reason[:200]})" if verdict.kind == "rejected" else None
    if "rejected" in (tags.get("manual_gate_decision"), tags.get("gate_decision")):
        return "was rejected by the gate"
    return None


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
    event = event_from_intent(intent.get("event"))
    if event is not None:  # same key every time: a repaired move never logs a second event
        record(tracking, name, event)
        tracking.describe_model(name, model_description(name, event))
    tracking.delete_model_tag(name, PENDING_MOVE)
