"""Notifications to a Slack-compatible webhook: promotions, rejections, retraining needed, no
production model, job failures.

The message is a JSON POST with `text` (what Slack, Mattermost and most chat webhooks show) and
the same facts under `mlops` for anything that parses it. A webhook is telemetry, like the
Pushgateway: each attempt is bounded by `timeout_seconds`, a refused, failing or hung webhook is
retried `retries` times (never on a 4xx, which a retry cannot fix), and whatever happens is
logged and never changes the job's outcome or exit code. The URL is never logged.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from mlops.config import NoticeKind, NotificationsConfig

log = logging.getLogger(__name__)

_ICON = {"promoted": ":rocket:", "rejected": ":no_entry:", "retrain_needed": ":warning:", "no_production": ":grey_question:",
         "failed": ":x:"}


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    job: str
    model: str
    summary: str
    version: str | None = None
    run_id: str | None = None
    details: list[str] = field(default_factory=list)

    def payload(self) -> dict[str, object]:
        head = f"{_ICON[self.kind]} mlops {self.job} · {self.model}" + (f" v{self.version}" if self.version else "")
        lines = [f"*{head}*: {self.summary}", *[f"• {d}" for d in self.details[:10]]]
        return {"text": "\n".join(lines), "mlops": asdict(self)}


def failure(job: str, model: str, message: str, exit_code: int) -> Notice:
    """A job that failed for a model, with the one line the CLI printed."""
    return Notice("failed", job, model, f"failed with exit code {exit_code}", details=[message])


def send(config: NotificationsConfig, notice: Notice, backoff_seconds: float = 0.5) -> bool:
    """POST the notice if a webhook is configured and wants this kind. True when delivered."""
    if not config.webhook_url or notice.kind not in config.events:
        return False
    body = json.dumps(notice.payload()).encode()
    where = _describe(config.webhook_url)
    problem = ""
    for attempt in range(config.retries + 1):
        if attempt:
            time.sleep(backoff_seconds * attempt)
        try:
            request = urllib.request.Request(config.webhook_url, data=body, method="POST",  # noqa: S310 - http(s) only, checked at load
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=config.timeout_seconds) as answer:  # noqa: S310
                answer.read()
            return True
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                break  # the webhook refuses this message; sending it again cannot help
        except Exception as exc:  # refused, reset, timed out, unresolvable: anything, it never fails the job
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
    log.warning("could not notify %s of %s %s for %s (%s); the job's outcome stands", where, notice.job, notice.kind,
                notice.model, problem)
    return False


def _describe(url: str) -> str:
    """The webhook without its path: the path of a chat webhook is its credential."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
