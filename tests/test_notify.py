"""Notifications against a real HTTP server on loopback (http.server in a thread): the payload,
bounded retries and timeouts, and a job whose outcome a broken webhook never changes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlops.cli import main
from mlops.config import NotificationsConfig
from mlops.jobs.demo import write_demo
from mlops.notify import Notice, send

from conftest import END, without_predictions


class Webhook:
    """Answers each POST with the next status of `script` (then 200), after `delay` seconds."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.script: list[int] = []
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                time.sleep(hook.delay)
                status = hook.script.pop(0) if hook.script else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret-token"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


NOTICE = Notice("rejected", "retrain", "churn", "v3 rejected against champion v2", "3", "abc", ["f1 0.61 < champion v2 0.65"])


def test_a_notice_is_slack_compatible_json(webhook: Webhook) -> None:
    assert send(NotificationsConfig(webhook_url=webhook.url), NOTICE)
    [payload] = webhook.received
    assert "churn v3" in payload["text"] and "f1 0.61 < champion v2 0.65" in payload["text"]
    assert payload["mlops"]["kind"] == "rejected" and payload["mlops"]["version"] == "3"


def test_server_errors_are_retried_a_bounded_number_of_times(webhook: Webhook, caplog: pytest.LogCaptureFixture) -> None:
    webhook.script = [503, 500]
    assert send(NotificationsConfig(webhook_url=webhook.url, retries=2), NOTICE, backoff_seconds=0.01)
    assert len(webhook.received) == 3
    webhook.received.clear()
    webhook.script = [500, 500, 500, 500]
    assert not send(NotificationsConfig(webhook_url=webhook.url, retries=1), NOTICE, backoff_seconds=0.01)
    assert len(webhook.received) == 2
    assert "HTTP 500" in caplog.text and "secret-token" not in caplog.text  # the path is the credential


def test_a_client_error_is_not_retried_and_unwanted_kinds_are_not_sent(webhook: Webhook) -> None:
    webhook.script = [400]
    assert not send(NotificationsConfig(webhook_url=webhook.url, retries=3), NOTICE, backoff_seconds=0.01)
    assert len(webhook.received) == 1
    assert not send(NotificationsConfig(webhook_url=webhook.url, events=["failed"]), NOTICE)
    assert len(webhook.received) == 1


def test_a_hung_webhook_costs_at_most_its_timeouts(webhook: Webhook) -> None:
    webhook.delay = 3.0
    started = time.monotonic()
    assert not send(NotificationsConfig(webhook_url=webhook.url, timeout_seconds=0.3, retries=1), NOTICE, backoff_seconds=0.01)
    assert time.monotonic() - started < 2.0


def test_jobs_notify_and_keep_their_exit_codes(tmp_path: Path, webhook: Webhook) -> None:
    config = without_predictions(write_demo(tmp_path, END).config)
    config.write_text(config.read_text() + "notifications:\n  webhook_url: ${HOOK:-}\n")
    runner = CliRunner()
    env = {"HOOK": webhook.url}
    promoted = runner.invoke(main, ["--config", str(config), "retrain", "--model", "churn", "--as-of", "2026-11-01"], env=env)
    assert promoted.exit_code == 0, promoted.output
    failed = runner.invoke(main, ["--config", str(config), "predict", "--model", "churn"], env=env)  # no predictions section
    assert failed.exit_code == 2
    assert [p["mlops"]["kind"] for p in webhook.received] == ["promoted", "failed"]
    assert webhook.received[1]["mlops"]["job"] == "predict" and "no predictions section" in webhook.received[1]["text"]
    webhook.script = [500] * 10  # a broken webhook changes nothing about the job's outcome
    again = runner.invoke(main, ["--config", str(config), "predict", "--model", "churn"], env=env)
    assert again.exit_code == 2
    checked = runner.invoke(main, ["--config", str(config), "config", "check"], env=env)
    assert "secret-token" not in checked.output and "webhook_url: http://127.0.0.1" in checked.output
