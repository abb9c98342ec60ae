"""One promotion at a time per model, across processes and pods.

retrain, promote and rollback hold the model's lock from before they read the registry until
after they moved its aliases, so no promotion is decided against a champion that another job is
replacing, and two runs of one run key cannot both register a version.

    kind: kubernetes   a coordination.k8s.io Lease per model, taken by compare-and-set on its
                       resourceVersion and renewed in the background; a holder that dies stops
                       renewing and the Lease expires after `lease_seconds`.
    kind: file         an exclusive `flock` on one file per model and tracking store under
                       `directory`; the kernel releases it when the process dies. Correct for
                       every process on one host: the embedded store, compose, tests.
    kind: auto         kubernetes when the pod has a service-account token to reach the API
                       with, else file.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from mlops import kube
from mlops.config import LocksConfig
from mlops.errors import ConfigError, LockTimeout, ServiceUnavailable

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


def holder_identity() -> str:
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}/{os.getpid()}"


@contextmanager
def promotion_lock(config: LocksConfig, store: str, model: str, wait_seconds: float | None = None,
                   api: Any = None) -> Iterator[None]:
    """Hold the lock of `model` in the tracking store `store` (a redacted URI) for the block."""
    wait = config.wait_seconds if wait_seconds is None else wait_seconds
    kind = config.kind
    if kind == "auto":
        kind = "kubernetes" if os.environ.get("KUBERNETES_SERVICE_HOST") and kube.TOKEN_FILE.is_file() else "file"
    if kind == "kubernetes":
        lease = LeaseLock(lease_name(store, model), config.lease_seconds, api)
        lease.acquire(wait)
        try:
            yield
        finally:
            lease.release()
    else:
        with file_lock(Path(config.directory) / f"{lease_name(store, model)}.lock", wait):
            yield


def lease_name(store: str, model: str) -> str:
    """A DNS-1123 name, unique per tracking store and model."""
    slug = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-")[:30] or "model"
    digest = hashlib.sha256(f"{store}\0{model}".encode()).hexdigest()[:10]
    return f"mlops-promote-{slug}-{digest}"


@contextmanager
def file_lock(path: Path, wait_seconds: float) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle: IO[str] = path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise ServiceUnavailable(f"cannot open the promotion lock {path} ({exc.strerror})") from exc
    with handle:
        deadline = time.monotonic() + wait_seconds
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    raise LockTimeout(f"promotion lock {path.name} still held by {handle.read().strip() or 'another process'} "
                                      f"after {wait_seconds:.0f} s") from None
                if not announced:
                    log.info("waiting for the promotion lock %s", path.name)
                    announced = True
                time.sleep(POLL_SECONDS)  # SIGTERM is handled between sleeps
        handle.seek(0)
        handle.truncate()
        handle.write(holder_identity())
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LeaseLock:
    """A Kubernetes Lease used as a mutex (the pattern of client-go's leader election)."""

    def __init__(self, name: str, lease_seconds: int, api: Any = None, namespace: str | None = None) -> None:
        self.name = name
        self.namespace = namespace or kube.namespace()
        self.lease_seconds = lease_seconds
        self.identity = holder_identity()
        self.api = api if api is not None else kube.api("CoordinationV1Api", "promotion lock (set locks.kind: file outside Kubernetes)")
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self, wait_seconds: float) -> None:
        from kubernetes.client.exceptions import ApiException

        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                if self._try_take():
                    break
            except ApiException as exc:
                if exc.status != 409:  # 409: another holder won the race; look again
                    raise _api_error(exc, self.name) from exc
            if time.monotonic() >= deadline:
                raise LockTimeout(f"promotion lease {self.name} still held after {wait_seconds:.0f} s")
            time.sleep(POLL_SECONDS)
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{self.name}", daemon=True)
        self._renewer.start()

    def _try_take(self) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        now = datetime.now(UTC)
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                spec=client.V1LeaseSpec(holder_identity=self.identity, lease_duration_seconds=self.lease_seconds,
                                        acquire_time=now, renew_time=now),
            )
            self.api.create_namespaced_lease(self.namespace, body)
            return True
        spec = lease.spec
        held = spec.holder_identity not in (None, "", self.identity)
        renewed = spec.renew_time or spec.acquire_time
        expired = renewed is None or renewed + timedelta(seconds=spec.lease_duration_seconds or self.lease_seconds) < now
        if held and not expired:
            return False
        spec.holder_identity, spec.acquire_time, spec.renew_time = self.identity, now, now
        spec.lease_duration_seconds = self.lease_seconds
        self.api.replace_namespaced_lease(self.name, self.namespace, lease)  # carries resourceVersion: compare-and-set
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                lease = self.api.read_namespaced_lease(self.name, self.namespace)
                if lease.spec.holder_identity != self.identity:
                    log.error("promotion lease %s was taken by %s", self.name, lease.spec.holder_identity)
                    return
                lease.spec.renew_time = datetime.now(UTC)
                self.api.replace_namespaced_lease(self.name, self.namespace, lease)
            except Exception as exc:  # a missed renewal is retried; the lease outlives a few
                log.warning("could not renew promotion lease %s: %s", self.name, exc)

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None
                self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except Exception as exc:  # it expires by itself
            log.warning("could not release promotion lease %s: %s", self.name, exc)


def _api_error(exc: Any, name: str) -> Exception:
    if exc.status in (401, 403):
        return ConfigError(f"not allowed to use the promotion lease {name} (the job's Role needs leases get/create/update)")
    return ServiceUnavailable(f"Kubernetes API error {exc.status} on the promotion lease {name}")
