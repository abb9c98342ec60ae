"""Faults around the gate and the registry, on the real stack: no outage, crash, retry or overlap
may promote a worse model, lose a version or register a twin (issue: safe under faults)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from faults.harness import Stack, aliases, outage, pause, release, run, runs, start, versions, wait_paused, write_config

AS_OF = ("--as-of", "2026-11-01")
REGISTER = "mlops.tracking.client:Tracking.register"


def key_versions(stack: Stack, name: str, key: str) -> list[str]:
    return [v.version for v in versions(stack.client, name) if v.tags.get("run_key") == key]


def test_s3_outage_during_the_champion_load_promotes_nothing(stack: Stack, tmp_path: Path) -> None:
    name = "s3cut"
    assert run(write_config(stack, tmp_path, [name]), "retrain", "--model", name, *AS_OF, "--run-key", "k1").returncode == 0
    strict = write_config(stack, tmp_path, [name], min_improvement=1.0)  # nobody beats the champion by 1.0
    control = run(strict, "retrain", "--model", name, *AS_OF, "--run-key", "k2")
    assert control.returncode == 0 and "v2 rejected" in control.stdout, control.stderr

    # S3 goes away exactly while the champion's model is read, and is back before any decision
    # could be recorded: only the gate itself can refuse to decide on half the evidence.
    proc = start(strict, "retrain", "--model", name, *AS_OF, "--run-key", "k3",
                 faults=[pause(tmp_path, "champion", "mlops.tracking.client:Tracking.download_version"),
                         pause(tmp_path, "deciding", "mlops.tracking.client:Tracking.log_dict", match="gate.json")])
    wait_paused(tmp_path, "champion", proc)
    with outage(stack.s3):
        release(tmp_path, "champion")
        deadline = time.monotonic() + 240
        while proc.poll() is None and not (tmp_path / "deciding.paused").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    release(tmp_path, "deciding")  # a gate that decided anyway records it now, with S3 back
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err
    assert err.strip().splitlines()[-1].startswith(f"error: {name}: "), err
    assert [v.version for v in versions(stack.client, name)] == ["1", "2"]  # nothing registered
    assert aliases(stack.client, name) == {"production": "1"}
    [faulted] = runs(stack.client, f"faults/{name}", run_key="k3")
    assert faulted.info.status == "FAILED"
    assert "s3cr3t" not in out + err


def test_crash_after_registration_then_retry_resumes_without_a_twin(stack: Stack, tmp_path: Path) -> None:
    name = "crashreg"
    config = write_config(stack, tmp_path, [name], min_improvement=-1.0)  # every candidate passes
    assert run(config, "retrain", "--model", name, *AS_OF, "--run-key", "a").returncode == 0
    crashed = run(config, "retrain", "--model", name, *AS_OF, "--run-key", "b",
                  faults=[{"at": REGISTER, "when": "after", "action": "kill"}])
    assert crashed.returncode == -9
    assert key_versions(stack, name, "b") == ["2"] and aliases(stack.client, name) == {"production": "1"}

    retry = run(config, "retrain", "--model", name, *AS_OF, "--run-key", "b")
    assert retry.returncode == 0, retry.stderr
    assert "v2 promoted (resumed" in retry.stdout
    assert key_versions(stack, name, "b") == ["2"] and len(versions(stack.client, name)) == 2
    assert aliases(stack.client, name) == {"production": "2", "previous": "1"}
    [run_b] = runs(stack.client, f"faults/{name}", run_key="b")
    assert run_b.info.status == "FINISHED"


def test_two_processes_with_one_run_key_register_one_version(stack: Stack, tmp_path: Path) -> None:
    name = "twins"
    config = write_config(stack, tmp_path, [name])
    first = start(config, "retrain", "--model", name, *AS_OF, "--run-key", "same")
    second = start(config, "retrain", "--model", name, *AS_OF, "--run-key", "same")
    results = [p.communicate(timeout=300) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), results
    assert key_versions(stack, name, "same") == ["1"] and len(versions(stack.client, name)) == 1
    assert aliases(stack.client, name) == {"production": "1"}
    assert sum("resumed" in out for out, _ in results) == 1


def test_crash_between_the_alias_moves_then_rollback_returns_to_the_production_before(stack: Stack, tmp_path: Path) -> None:
    name = "halfmove"
    config = write_config(stack, tmp_path, [name], min_improvement=-1.0)
    for key in ("v1", "v2"):
        assert run(config, "retrain", "--model", name, *AS_OF, "--run-key", key).returncode == 0
    assert aliases(stack.client, name) == {"production": "2", "previous": "1"}
    crashed = run(config, "retrain", "--model", name, *AS_OF, "--run-key", "v3",
                  faults=[{"at": "mlops.tracking.client:Tracking.set_alias", "when": "after", "action": "kill"}])
    assert crashed.returncode == -9
    assert aliases(stack.client, name)["production"] == "2"  # readers never lost production

    back = run(config, "rollback", "--model", name, "--reason", "after a crash")
    assert back.returncode == 0, back.stderr
    assert aliases(stack.client, name) == {"production": "2", "previous": "3"}, back.stderr
    assert "pending_move" not in str(stack.client.get_registered_model(name).tags)
    # The audit trail: the move the rollback had to complete first is one event, not two.
    tags = stack.client.get_registered_model(name).tags
    events = [json.loads(tags[k]) for k in sorted(tags) if k.startswith("mlops.event.")]
    assert [(e["kind"], e["version"]) for e in events] == [("promoted", "1"), ("promoted", "2"), ("promoted", "3"),
                                                           ("rollback", "2")]


def test_concurrent_promotions_are_serialised_and_compared(stack: Stack, tmp_path: Path) -> None:
    name = "race"
    config = write_config(stack, tmp_path, [name], min_improvement=-1.0)
    assert run(config, "retrain", "--model", name, *AS_OF, "--run-key", "r1").returncode == 0
    holder = start(config, "retrain", "--model", name, *AS_OF, "--run-key", "r2",
                   faults=[pause(tmp_path, "deciding", "mlops.jobs.retrain:move_production")])
    wait_paused(tmp_path, "deciding", holder)
    rival = start(config, "retrain", "--model", name, *AS_OF, "--run-key", "r3")
    time.sleep(12)  # long enough for an unserialised rival to train and register
    assert key_versions(stack, name, "r3") == [] and rival.poll() is None
    release(tmp_path, "deciding")
    for proc in (holder, rival):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    [r2], [r3] = key_versions(stack, name, "r2"), key_versions(stack, name, "r3")
    rival_version = stack.client.get_model_version(name, r3)
    assert rival_version.tags["gate_champion_version"] == r2  # judged against the promotion it waited for
    assert aliases(stack.client, name) == {"production": r3, "previous": r2}


def test_mlflow_outage_mid_run_leaves_no_run_running(stack: Stack, tmp_path: Path) -> None:
    name = "outage"
    config = write_config(stack, tmp_path, [name])
    proc = start(config, "retrain", "--model", name, *AS_OF, "--run-key", "o1",
                 faults=[pause(tmp_path, "training", "mlops.tracking.client:Tracking.log_params", when="after")])
    wait_paused(tmp_path, "training", proc)
    with outage(stack.mlflow):
        release(tmp_path, "training")
        _, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err
    assert err.strip().splitlines()[-1].startswith(f"error: {name}: "), err
    [interrupted] = runs(stack.client, f"faults/{name}", run_key="o1")
    assert interrupted.info.status == "RUNNING"  # MLflow was gone: nobody could say otherwise yet
    later = run(config, "retrain", "--model", name, *AS_OF, "--run-key", "o2")
    assert later.returncode == 0, later.stderr
    assert stack.client.get_run(interrupted.info.run_id).info.status == "FAILED"


def test_json_logs_on_a_real_server_are_one_object_per_line(stack: Stack, tmp_path: Path) -> None:
    """Logs for machines against a real MLflow server with S3 artifacts: every stderr line of a
    retrain, a promote dry run and a failing job parses alone and carries the job's fields."""
    name = "jsonlogs"
    config = write_config(stack, tmp_path, [name])
    lines: list[str] = []
    for args in (("retrain", "--model", name, *AS_OF), ("promote", "--model", name, "--version", "1", "--dry-run"),
                 ("rollback", "--model", name)):  # nothing to roll back to: an error line
        result = run(config, "--log-format", "json", *args)
        lines += result.stderr.splitlines()
    records = [json.loads(line) for line in lines]
    [decided] = [r for r in records if r.get("outcome") == "promoted"]
    assert decided["job"] == "retrain" and decided["model"] == name and decided["version"] == "1" and decided["run_id"]
    assert any(r["logger"] == "mlops" and r.get("outcome") == "failed" and "no previous version" in r["message"]
               for r in records)
