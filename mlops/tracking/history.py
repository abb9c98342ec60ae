"""The audit trail: every promotion, rejection, forced promotion and rollback of a model, kept
in MLflow as one registered-model tag per event, so nothing ever overwrites an earlier one.

    key    mlops.event.<UTC time to the microsecond>.<kind>.v<version>   (sorts in time order)
    value  JSON: at, kind, version, actor, reason, source, production before -> after, the gate table

Writing an event is idempotent: its key is chosen once, before anything moves, and a move
carries its event in the intent (`mlops.tracking.aliases`), so a repaired move writes the same
key again instead of a second event. The registered model's description is rewritten after each
move to say which version is production, since when and why (the UI shows it on the model page).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from mlops.tracking.client import Tracking
from mlops.tracking.reader import Reader

log = logging.getLogger(__name__)

EVENT_PREFIX = "mlops.event."
EventKind = Literal["promoted", "rejected", "forced", "rollback"]
_MAX_REASON = 1500


@dataclass(frozen=True)
class AuditEvent:
    at: str
    kind: EventKind
    version: str  # the version the event is about: promoted, rejected, or rolled back to
    actor: str
    reason: str
    source: str  # the command that decided: retrain, promote or rollback
    production_before: str | None
    production_after: str | None
    champion_version: str | None = None
    gate: list[dict[str, Any]] = field(default_factory=list)  # rows of mlops.promotion.card.GateRow
    key: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("key")
        return json.dumps(data, separators=(",", ":"))

    def describe(self) -> str:
        move = (f"production {_named(self.production_before)} -> {_named(self.production_after)}"
                if self.production_before != self.production_after else f"production stays {_named(self.production_before)}")
        verb = {"promoted": "promoted", "rejected": "rejected", "forced": "force-promoted", "rollback": "rolled back to"}[self.kind]
        return f"{self.at}  {verb} v{self.version} ({move}) by {self.actor} via {self.source}: {self.reason}"


def new_event(kind: EventKind, version: str, actor: str, reason: str, source: str, before: str | None, after: str | None,
              champion_version: str | None = None, gate: Sequence[Mapping[str, Any]] = ()) -> AuditEvent:
    """An event with its key fixed now: write it as many times as a retry needs, it stays one event."""
    moment = datetime.now(UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%S.%fZ")
    reason = reason if len(reason) <= _MAX_REASON else reason[:_MAX_REASON] + "..."
    return AuditEvent(moment.isoformat(timespec="seconds"), kind, version, actor, reason, source, before, after,
                      champion_version, [dict(row) for row in gate], f"{EVENT_PREFIX}{stamp}.{kind}.v{version}")


def record(tracking: Tracking, name: str, event: AuditEvent) -> None:
    tracking.set_model_tag(name, event.key, event.to_json())


def event_from_intent(data: dict[str, Any] | None) -> AuditEvent | None:
    """The event a move's intent carries (a dict inside the intent's JSON), if it carries one."""
    if not data:
        return None
    return _parse(str(data["key"]), {k: v for k, v in data.items() if k != "key"})


def event_to_intent(event: AuditEvent | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"key": event.key, **json.loads(event.to_json())}


def history(tracking: Reader, name: str) -> list[AuditEvent]:
    """The model's events, oldest first. Unreadable entries are skipped with a warning, never fatal."""
    events = []
    for key, value in sorted(tracking.model_tags(name).items()):
        if not key.startswith(EVENT_PREFIX):
            continue
        try:
            events.append(_parse(key, json.loads(value)))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: skipping unreadable audit event %s (%s)", name, key, exc)
    return events


def has_event(tracking: Tracking, name: str, kind: EventKind, version: str) -> bool:
    return any(e.kind == kind and e.version == version for e in history(tracking, name))


def last_verdict(events: list[AuditEvent], version: str) -> AuditEvent | None:
    """The most recent gate judgement (promoted, rejected or forced) of a version."""
    judged = [e for e in events if e.version == version and e.kind in ("promoted", "rejected", "forced")]
    return judged[-1] if judged else None


def _named(version: str | None) -> str:
    return f"v{version}" if version else "none"


def model_description(name: str, event: AuditEvent) -> str:
    """The registered model's description after a move: which version is production, since when, why."""
    how = {"promoted": "promoted through the gate", "forced": "force-promoted (the gate was skipped)",
           "rollback": "restored by a rollback", "rejected": "kept: the candidate was rejected"}[event.kind]
    lines = [
        f"# {name}",
        "",
        f"**Production: v{event.production_after}** since {event.at}, {how} by {event.actor} via `{event.source}`.",
        "",
        f"Why: {event.reason or 'no reason given'}",
        "",
    ]
    if event.production_before and event.production_before != event.production_after:
        lines += [f"Replaced v{event.production_before} (now `previous`).", ""]
    lines += [f"The full trail: `mlops history --model {name}` (registered-model tags `{EVENT_PREFIX}*`)."]
    return "\n".join(lines)


def _parse(key: str, data: dict[str, Any]) -> AuditEvent:
    gate = [dict(row) for row in data.get("gate") or []]
    return AuditEvent(str(data["at"]), cast(EventKind, data["kind"]), str(data["version"]), str(data.get("actor", "")),
                      str(data.get("reason", "")), str(data.get("source", "")), data.get("production_before"),
                      data.get("production_after"), data.get("champion_version"), gate, key)
