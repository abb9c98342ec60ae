"""The PostgreSQL edge: one ADBC connection per unit of work, bounded in time, failures mapped.

Waits are bounded twice: libpq's `connect_timeout` and the server's `statement_timeout` cover a
slow server, and a client-side deadline covers a hung one (a stopped server still accepts TCP, and
libpq then blocks in C where no signal reaches Python). The work runs in a daemon thread while the
main thread waits in short slices, so SIGTERM is honoured at once and a hung call cannot keep the
process alive.

Failures are mapped by ADBC status code and SQLSTATE: connection, timeout, cancellation and
resource errors may pass on a retry (exit 1); the rest cannot (exit 2). libpq reports a server's
refusal during connection start-up (bad password, unknown database) only as text, so those two
are recognised by their message, and nothing else is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from mlops.config import TimeoutsConfig, redact_uri, uri_password
from mlops.errors import DataError, MlopsError, ServiceUnavailable

T = TypeVar("T")

# ADBC status codes: IO, CANCELLED, TIMEOUT.
_TRANSIENT_STATUS = frozenset({10, 11, 12})
# SQLSTATE classes and codes a retry can clear: connection exceptions, insufficient resources,
# operator intervention (shutdown, statement timeout), serialisation failures and deadlocks.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "40")
_STARTUP_REFUSALS = ("password authentication failed", "no password supplied", "does not exist")
_SLICE_SECONDS = 0.2


def with_postgres(uri: str, action: str, work: Callable[[Any], T], timeouts: TimeoutsConfig | None = None) -> T:
    """Run `work(cursor)` on one connection in one transaction and commit it."""
    with postgres_session(uri, action, timeouts) as session:
        return session.run(work)


class PostgresSession:
    """One connection and its cursor; every call on it bounded in time and its failures mapped."""

    def __init__(self, uri: str, action: str, limits: TimeoutsConfig, connection: Any) -> None:
        self.uri, self.action, self.limits, self.connection = uri, action, limits, connection
        self.cursor = connection.cursor()
        self.hung = False  # a call outlived its wait and may still be running in its thread

    def run(self, work: Callable[[Any], T]) -> T:
        """`work(cursor)`, waited for at most the connect and statement timeouts plus a margin."""
        try:
            return _mapped(self.uri, self.action, lambda: within(_bound(self.limits), lambda: work(self.cursor),
                                                                 f"{redact_uri(self.uri)}: {self.action}"))
        except ServiceUnavailable:
            self.hung = True
            raise

    def close(self) -> None:
        """Close in the background, waiting a little: closing talks to the server, which may be
        the thing that hung. Never while a timed-out call may still use the connection (libpq
        allows one thread at a time); the process is about to exit then anyway."""
        if self.hung:
            return

        def close() -> None:
            self.cursor.close()
            self.connection.close()

        try:
            within(self.limits.connect_seconds, close, "closing the connection")
        except Exception:  # noqa: S110 - the outcome is already decided; a failed close changes nothing
            pass

    def stream(self, reader: Any) -> Iterator[Any]:
        """The record batches of an ADBC reader, each wait for the next one bounded like `run`."""
        def following(_: Any) -> Any:
            try:
                return reader.read_next_batch()
            except StopIteration:
                return None

        while (batch := self.run(following)) is not None:
            yield batch


@contextmanager
def postgres_session(uri: str, action: str, timeouts: TimeoutsConfig | None = None) -> Iterator[PostgresSession]:
    """A connection held for the block: committed when the block ends normally; closed either
    way, so an error or a consumer that stops reading early (GeneratorExit) rolls back."""
    from adbc_driver_postgresql import dbapi

    limits = timeouts or TimeoutsConfig()
    connection = _mapped(uri, action, lambda: within(_bound(limits), lambda: dbapi.connect(libpq_uri(uri, limits)),
                                                     f"{redact_uri(uri)}: {action}"))
    session = PostgresSession(uri, action, limits, connection)
    try:
        yield session
        session.run(lambda _: connection.commit())
    finally:
        session.close()


def _bound(limits: TimeoutsConfig) -> float:
    return limits.connect_seconds + limits.statement_seconds + 5


def _mapped(uri: str, action: str, call: Callable[[], T]) -> T:
    import adbc_driver_manager

    try:
        return call()
    except adbc_driver_manager.Error as exc:
        raise postgres_error(uri, action, exc) from exc


def within(seconds: float, call: Callable[[], T], what: str) -> T:
    """`call()` in a daemon thread; the caller waits at most `seconds`, interruptible by signals."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="mlops-io", daemon=True)
    worker.start()
    waited = 0.0
    while worker.is_alive():
        worker.join(_SLICE_SECONDS)
        waited += _SLICE_SECONDS
        if worker.is_alive() and waited >= seconds:
            raise ServiceUnavailable(f"{what}: no answer within {seconds:.0f} s (server hung or unreachable)")
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


def postgres_error(uri: str, action: str, exc: Exception) -> MlopsError:
    where = redact_uri(uri)
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if password := uri_password(uri):
        message = message.replace(password, "***")
    status = getattr(exc, "status_code", None)
    sqlstate = str(getattr(exc, "sqlstate", None) or "")
    if sqlstate:
        if sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES):
            return ServiceUnavailable(f"{where}: {action}, may pass on retry ({message})")
        if sqlstate.startswith("28"):
            return DataError(f"{where}: authentication failed (check the user and password)")
        return DataError(f"{where}: {action} ({message})")
    lowered = message.lower()
    if any(refusal in lowered for refusal in _STARTUP_REFUSALS):
        if "does not exist" in lowered:
            return DataError(f"{where}: {message}")
        return DataError(f"{where}: authentication failed (check the user and password)")
    if status in _TRANSIENT_STATUS:
        return ServiceUnavailable(f"{where}: database unreachable ({message})")
    return DataError(f"{where}: {action} ({message})")


def libpq_uri(uri: str, timeouts: TimeoutsConfig) -> str:
    """The URI libpq wants (`postgresql://`), with the connect and statement timeouts added
    unless the URI sets them itself."""
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri.split("://", 1)[1]
    parts = urlsplit(uri)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault("connect_timeout", str(max(1, int(timeouts.connect_seconds))))
    if "statement_timeout" not in query.get("options", ""):
        options = query.get("options", "")
        query["options"] = f"{options} -c statement_timeout={int(timeouts.statement_seconds * 1000)}".strip()
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
