"""The audit trail on the embedded store: one event per decision, even when a crashed move is
repaired, and a rollback that will not silently return to a version the gate rejected."""

from __future__ import annotations

import json

import pytest

from mlops.errors import RegistryError
from mlops.tracking import PRODUCTION, Tracking, move_production, repair, rollback
from mlops.tracking.aliases import PENDING_MOVE
from mlops.tracking.history import AuditEvent, event_to_intent, history, new_event, record


def promoted(version: str, before: str | None) -> AuditEvent:
    return new_event("promoted", version, "tester", "beats the champion", "retrain", before, version, before)


def test_each_move_appends_one_event_and_says_who_is_production(tracking: Tracking) -> None:
    move_production(tracking, "m", "1", None, {}, promoted("1", None))
    move_production(tracking, "m", "2", "1", {}, promoted("2", "1"))
    record(tracking, "m", new_event("rejected", "3", "tester", "f1 too low", "retrain", "2", "2", "2"))
    events = history(tracking, "m")
    assert [(e.kind, e.version, e.production_before, e.production_after) for e in events] == [
        ("promoted", "1", None, "1"), ("promoted", "2", "1", "2"), ("rejected", "3", "2", "2")]
    assert events == sorted(events, key=lambda e: e.key)
    description = tracking.client.get_registered_model("m").description
    assert "**Production: v2**" in description and "beats the champion" in description and "Replaced v1" in description


@pytest.mark.parametrize("done", [0, 1, 2, 3])
def test_a_repaired_move_writes_its_event_once(tracking: Tracking, done: int) -> None:
    move_production(tracking, "m", "1", None, {})
    event = new_event("promoted", "2", "tester", "crash test", "retrain", "1", "2", "1")
    intent = {"from": "1", "to": "2", "at": "t", "to_tags": {}, "from_tags": {}, "event": event_to_intent(event)}
    tracking.set_model_tag("m", PENDING_MOVE, json.dumps(intent))
    steps = [lambda: tracking.set_alias("m", "previous", "1"), lambda: tracking.set_alias("m", PRODUCTION, "2"),
             lambda: record(tracking, "m", event)]  # the crash may even come after the event was written
    for step in steps[:done]:
        step()
    repair(tracking, "m")
    repair(tracking, "m")  # a second repair finds nothing to do
    assert [(e.kind, e.version) for e in history(tracking, "m")] == [("promoted", "2")]


def test_rollback_refuses_a_gate_rejected_version_unless_forced(tracking: Tracking) -> None:
    move_production(tracking, "m", "1", None, {}, promoted("1", None))
    move_production(tracking, "m", "2", "1", {}, promoted("2", "1"))
    rollback(tracking, "m", {}, "v2 misbehaves")  # production v1, previous v2
    # Someone asks the gate about v2 again and it says no: a second rollback must not bring it back.
    record(tracking, "m", new_event("rejected", "2", "tester", "f1 0.40 < minimum 0.50", "promote", "1", "1", "1"))
    with pytest.raises(RegistryError, match="rejected by the gate.*--force"):
        rollback(tracking, "m", {}, "again")
    assert tracking.alias("m", PRODUCTION).version == "1"  # type: ignore[union-attr]
    assert rollback(tracking, "m", {}, "hotfix", force=True) == ("2", "1")
    last = history(tracking, "m")[-1]
    assert last.kind == "rollback" and last.version == "2" and "forced" in last.reason and last.actor
