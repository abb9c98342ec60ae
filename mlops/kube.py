"""The Kubernetes API clients the jobs use (kept thin: the one part tests cannot run for real)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlops.errors import ConfigError

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def namespace() -> str:
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    if NAMESPACE_FILE.is_file():
        return NAMESPACE_FILE.read_text().strip()
    return "mlops"


def api(kind: str, purpose: str) -> Any:
    """`kind` is a class of kubernetes.client (BatchV1Api, CoordinationV1Api), configured from the
    pod's service account, else from a kubeconfig."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(f"{purpose}: no in-cluster service account and no kubeconfig") from exc
    return getattr(client, kind)()
