"""Alias moves a crash can interrupt at every step, completed by the next command (embedded store)."""

from __future__ import annotations

import json

import pytest

from mlops.errors import ProductionMoved
from mlops.tracking import PREVIOUS, PRODUCTION, Tracking, move_production, repair, rollback
from mlops.tracking.aliases import PENDING_MOVE


def state(tracking: Tracking) -> tuple[str | None, str | None, str | None]:
    production, previous = tracking.alias("m", PRODUCTION), tracking.alias("m", PREVIOUS)
    return (production.version if production else None, previous.version if previous else None,
            tracking.model_tag("m", PENDING_MOVE))


@pytest.mark.parametrize("done", [0, 1, 2, 3])
def test_a_move_interrupted_after_any_step_is_completed_by_repair(tracking: Tracking, done: int) -> None:
    move_production(tracking, "m", "1", None, {})
    move_production(tracking, "m", "2", "1", {})
    # The steps of moving production 2 -> 3, cut short after `done` of them (a crashed process).
    intent = {"from": "2", "to": "3", "at": "t", "to_tags": {"promoted_at": "t"}, "from_tags": {"archived_at": "t"}}
    tracking.set_model_tag("m", PENDING_MOVE, json.dumps(intent))
    steps = [lambda: tracking.set_alias("m", PREVIOUS, "2"), lambda: tracking.tag_version("m", "2", {"archived_at": "t"}),
             lambda: tracking.set_alias("m", PRODUCTION, "3")]
    for step in steps[:done]:
        step()
    assert state(tracking)[0] in ("2", "3")  # never without production
    assert repair(tracking, "m") is not None
    assert state(tracking) == ("3", "2", None)
    assert rollback(tracking, "m", {}) == ("2", "3")  # back to the production before the move
    assert state(tracking) == ("2", "3", None)


def test_a_stale_intent_never_overrides_a_later_manual_move(tracking: Tracking) -> None:
    move_production(tracking, "m", "1", None, {})
    intent = {"from": "1", "to": "2", "at": "t", "to_tags": {}, "from_tags": {}}
    tracking.set_model_tag("m", PENDING_MOVE, json.dumps(intent))
    tracking.set_alias("m", PRODUCTION, "3")  # someone in the UI
    assert "dropped" in str(repair(tracking, "m"))
    assert state(tracking) == ("3", None, None)


def test_move_refuses_when_production_is_not_what_was_judged(tracking: Tracking) -> None:
    move_production(tracking, "m", "1", None, {})
    with pytest.raises(ProductionMoved):
        move_production(tracking, "m", "2", None, {})
    assert state(tracking) == ("1", None, None)
