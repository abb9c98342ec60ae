"""The promotion lock: a real flock between real processes; the Lease kind against a fake
CoordinationV1Api, because the Kubernetes API is the one part that cannot run here."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from mlops.config import LocksConfig
from mlops.errors import LockTimeout
from mlops.locking import LeaseLock, lease_name, promotion_lock

HOLD = """
import sys, time
from mlops.config import LocksConfig
from mlops.locking import promotion_lock
with promotion_lock(LocksConfig(kind="file", directory=sys.argv[1]), "store", "churn"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_file_lock_excludes_another_process_and_is_freed_when_it_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "60"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    config = LocksConfig(kind="file", directory=str(tmp_path))
    with pytest.raises(LockTimeout, match="still held by"), promotion_lock(config, "store", "churn", wait_seconds=1):
        pass
    with promotion_lock(config, "store", "other-model", wait_seconds=1):
        pass  # other models are not blocked
    holder.kill()
    holder.wait()
    with promotion_lock(config, "store", "churn", wait_seconds=5):
        pass  # the kernel released the dead holder's lock


class FakeLeases:
    """Stands in for CoordinationV1Api: resourceVersion compare-and-set, 404 and 409 as the server answers."""

    def __init__(self) -> None:
        self.leases: dict[str, Any] = {}

    def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        if name not in self.leases:
            raise ApiException(status=404)
        stored = self.leases[name]
        return SimpleNamespace(metadata=SimpleNamespace(resource_version=stored.metadata.resource_version),
                               spec=SimpleNamespace(**vars(stored.spec)))

    def create_namespaced_lease(self, namespace: str, body: Any) -> None:
        if body.metadata.name in self.leases:
            raise ApiException(status=409)
        self.leases[body.metadata.name] = SimpleNamespace(metadata=SimpleNamespace(resource_version=1),
                                                          spec=SimpleNamespace(**body.spec.to_dict()))

    def replace_namespaced_lease(self, name: str, namespace: str, body: Any) -> None:
        stored = self.leases[name]
        if body.metadata.resource_version != stored.metadata.resource_version:
            raise ApiException(status=409)
        self.leases[name] = SimpleNamespace(metadata=SimpleNamespace(resource_version=stored.metadata.resource_version + 1),
                                            spec=SimpleNamespace(**vars(body.spec)))


def test_lease_is_exclusive_until_released_or_expired() -> None:
    api = FakeLeases()
    name = lease_name("http://mlflow", "churn")
    first = LeaseLock(name, 15, api, namespace="mlops")
    first.acquire(1)
    second = LeaseLock(name, 15, api, namespace="mlops")
    second.identity = "other-pod/1"
    with pytest.raises(LockTimeout):
        second.acquire(1)
    first.release()
    second.acquire(1)
    assert api.leases[name].spec.holder_identity == "other-pod/1"
    # A holder that stops renewing loses the lease once it expires.
    api.leases[name].spec.renew_time = datetime.now(UTC) - timedelta(seconds=60)
    third = LeaseLock(name, 15, api, namespace="mlops")
    third.identity = "third-pod/1"
    started = time.monotonic()
    third.acquire(1)
    assert time.monotonic() - started < 1 and api.leases[name].spec.holder_identity == "third-pod/1"
    second._stop.set()
    third.release()


def test_lease_names_are_dns_labels_per_store_and_model() -> None:
    name = lease_name("http://mlflow", "Churn_Model.v2")
    assert name.startswith("mlops-promote-churn-model-v2-") and len(name) <= 63
    assert lease_name("http://other", "Churn_Model.v2") != name
