"""The Kubernetes trigger. No API server can run here, so a fake BatchV1Api stands in for it:
it returns a CronJob and records the Jobs created, answering 409 to a duplicate name as the
real API server does. Everything else is the real kubernetes client's models."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mlops.errors import TriggerError
from mlops.trigger import create_retrain_job, job_name


class FakeBatchApi:
    def __init__(self) -> None:
        self.created: list[tuple[str, client.V1Job]] = []
        self.cronjob = client.V1CronJob(
            metadata=client.V1ObjectMeta(name="retrain", namespace="mlops", uid="1234-abcd"),
            spec=client.V1CronJobSpec(
                schedule="0 4 * * 0",
                job_template=client.V1JobTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "mlops-retrain"}, annotations={"team": "ml"}),
                    spec=client.V1JobSpec(template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
                        restart_policy="Never",
                        containers=[client.V1Container(name="retrain", image="mlops:1", args=["retrain", "--all"])],
                    ))),
                ),
            ),
        )

    def read_namespaced_cron_job(self, name: str, namespace: str) -> client.V1CronJob:
        if name != "retrain":
            raise ApiException(status=404, reason="Not Found")
        return self.cronjob

    def create_namespaced_job(self, namespace: str, body: client.V1Job) -> client.V1Job:
        if any(job.metadata.name == body.metadata.name for _, job in self.created):
            raise ApiException(status=409, reason="AlreadyExists")
        self.created.append((namespace, body))
        return body


DAY = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_job_copies_the_template_like_kubectl_create_job_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "mlops")
    api = FakeBatchApi()
    name = create_retrain_job("churn", DAY, api=api)
    assert name == "drift-retrain-churn-2026-11-23"
    [(namespace, job)] = api.created
    assert namespace == "mlops"
    assert job.metadata.annotations == {"cronjob.kubernetes.io/instantiate": "manual", "team": "ml"}
    assert job.metadata.labels == {"app": "mlops-retrain"}
    [owner] = job.metadata.owner_references
    assert (owner.api_version, owner.kind, owner.name, owner.uid, owner.controller) == ("batch/v1", "CronJob", "retrain", "1234-abcd", True)
    # Only the drifted model, in one pod; the CronJob itself is left as it was.
    assert job.spec.template.spec.containers[0].args == ["retrain", "--model", "churn"]
    assert api.cronjob.spec.job_template.spec.template.spec.containers[0].args == ["retrain", "--all"]
    assert job.spec.template.spec.restart_policy == "Never"


def test_job_from_an_indexed_sharded_template_is_one_pod_for_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "mlops")
    api = FakeBatchApi()
    spec = api.cronjob.spec.job_template.spec
    spec.completion_mode, spec.completions, spec.parallelism, spec.backoff_limit_per_index = "Indexed", 4, 2, 2
    spec.template.spec.containers[0].args = ["--log-format", "json", "retrain", "--shard=$(JOB_COMPLETION_INDEX)/4", "--dry-run"]
    spec.pod_failure_policy = client.V1PodFailurePolicy(rules=[client.V1PodFailurePolicyRule(
        action="FailIndex", on_exit_codes=client.V1PodFailurePolicyOnExitCodesRequirement(operator="In", values=[2, 3, 70]))])
    create_retrain_job("fraud", DAY, api=api)
    [(_, job)] = api.created
    assert job.spec.template.spec.containers[0].args == ["--log-format", "json", "retrain", "--dry-run", "--model", "fraud"]
    assert job.spec.completion_mode is None and job.spec.completions is None and job.spec.parallelism is None
    assert job.spec.backoff_limit == 2 and job.spec.backoff_limit_per_index is None
    assert [r.action for r in job.spec.pod_failure_policy.rules] == ["FailJob"]


def test_second_trigger_the_same_day_creates_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "mlops")
    api = FakeBatchApi()
    assert create_retrain_job("churn", DAY, api=api) is not None
    assert create_retrain_job("churn", DAY.replace(hour=9), api=api) is None
    assert len(api.created) == 1
    assert create_retrain_job("churn", datetime(2026, 11, 24, tzinfo=UTC), api=api) is not None


def test_missing_cronjob_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "mlops")
    with pytest.raises(TriggerError, match="cronjob/nightly not found in namespace mlops"):
        create_retrain_job("churn", DAY, api=FakeBatchApi(), cronjob="nightly")


def test_job_names_are_valid_and_never_look_scheduled() -> None:
    long = job_name("A_Very_Long_Model_Name_With_Many_Parts_2026", DAY)
    assert len(long) <= 63 and long.startswith("drift-retrain-a-very-long-model-name") and long.endswith("-2026-11-23")
    assert job_name("fraud.v2", DAY) == "drift-retrain-fraud-v2-2026-11-23"
