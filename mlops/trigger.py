"""Start the retrain Job from its CronJob, as `kubectl create job --from=cronjob/retrain` does.

Kept thin on purpose: the Kubernetes API is the one part the tests cannot run for real.
The Job copies the CronJob's job template, carries the annotation
`cronjob.kubernetes.io/instantiate: manual` and a controller owner reference to the CronJob,
and has a name fixed per model and day, so a second trigger that day meets a conflict and
creates nothing. Unlike a plain copy it retrains only the drifted model (`--model NAME` in place
of `--all`/`--shard`) and is never Indexed: one pod, FailIndex rules become FailJob.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from datetime import datetime
from typing import Any

from mlops import kube
from mlops.errors import MlopsError, ServiceUnavailable, TriggerError


def job_name(model: str, day: datetime) -> str:
    """A DNS-1123 label; it must not end in the 7-10 digits CronJob names use for their schedule."""
    slug = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-") or "model"
    if len(slug) > 30:
        slug = slug[:23] + "-" + hashlib.sha256(model.encode()).hexdigest()[:6]
    return f"drift-retrain-{slug}-{day:%Y-%m-%d}"


def one_model_args(args: list[str], model: str) -> list[str]:
    """The container args with the model selection replaced by `--model MODEL`."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--model", "--shard"):
            skip = True
        elif arg != "--all" and not arg.startswith(("--model=", "--shard=")):
            kept.append(arg)
    return [*kept, "--model", model]


def one_model_spec(spec: Any, model: str) -> Any:
    """A copy of the CronJob's JobSpec for one model and one pod (not Indexed)."""
    spec = copy.deepcopy(spec)
    for container in spec.template.spec.containers:
        if container.args:
            container.args = one_model_args(container.args, model)
    if spec.completion_mode == "Indexed":
        spec.backoff_limit = spec.backoff_limit_per_index if spec.backoff_limit_per_index is not None else spec.backoff_limit
        spec.completion_mode = spec.completions = spec.parallelism = None
        spec.backoff_limit_per_index = spec.max_failed_indexes = None
        for rule in (spec.pod_failure_policy.rules if spec.pod_failure_policy else []):
            if rule.action == "FailIndex":
                rule.action = "FailJob"
    return spec


def create_retrain_job(model: str, day: datetime, api: Any = None, cronjob: str | None = None) -> str | None:
    """Returns the created Job's name, or None when today's Job for this model already exists."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = api if api is not None else kube.api("BatchV1Api", "--trigger-retrain k8s")
    ns = kube.namespace()
    cronjob = cronjob or os.environ.get("MLOPS_RETRAIN_CRONJOB", "retrain")
    name = job_name(model, day)
    try:
        source = api.read_namespaced_cron_job(cronjob, ns)
        template = source.spec.job_template
        annotations = {"cronjob.kubernetes.io/instantiate": "manual", **((template.metadata and template.metadata.annotations) or {})}
        job = client.V1Job(
            api_version="batch/v1",
            kind="Job",
            metadata=client.V1ObjectMeta(
                name=name,
                namespace=ns,
                annotations=annotations,
                labels=(template.metadata and template.metadata.labels) or None,
                owner_references=[client.V1OwnerReference(
                    api_version="batch/v1", kind="CronJob", name=source.metadata.name, uid=source.metadata.uid, controller=True
                )],
            ),
            spec=one_model_spec(template.spec, model),
        )
        api.create_namespaced_job(ns, job)
    except ApiException as exc:
        if exc.status == 409:
            return None
        raise _translate(exc, cronjob, ns) from exc
    return name


def _translate(exc: Any, cronjob: str, ns: str) -> MlopsError:
    if exc.status in (401, 403):
        return TriggerError(f"not allowed to start Jobs from cronjob/{cronjob} in {ns} (check the drift-check RBAC)")
    if exc.status == 404:
        return TriggerError(f"cronjob/{cronjob} not found in namespace {ns}")
    return ServiceUnavailable(f"Kubernetes API error {exc.status} creating a Job from cronjob/{cronjob}")
