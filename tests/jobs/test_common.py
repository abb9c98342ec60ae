"""Model selection for the jobs: --model, --all and --shard I/N."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from mlops.errors import UsageError
from mlops.jobs.selection import select_models, shard_of


def config_of(names: list[str]) -> SimpleNamespace:
    models = [SimpleNamespace(name=n) for n in names]
    return SimpleNamespace(models=models, model=lambda name: next(m for m in models if m.name == name))


@pytest.mark.parametrize("count", [1, 2, 4, 7])
def test_every_model_is_in_exactly_one_shard(count: int) -> None:
    config = config_of([f"model-{i}" for i in range(23)])
    shards = [[m.name for m in select_models(config, None, False, (i, count))] for i in range(count)]  # type: ignore[arg-type]
    assert sorted(n for shard in shards for n in shard) == sorted(m.name for m in config.models)


def test_shards_are_stable_across_processes_and_model_lists() -> None:
    # A fixed value: hash() would change per process (PYTHONHASHSEED); adding a model moves no other.
    assert [shard_of(n, 4) for n in ("churn", "fraud", "upsell")] == [shard_of(n, 4) for n in ("churn", "fraud", "upsell")]
    assert shard_of("churn", 4) == int.from_bytes(hashlib.sha256(b"churn").digest()[:8], "big") % 4
    few, more = config_of(["churn", "fraud"]), config_of(["churn", "fraud", "upsell", "ltv"])
    for i in range(4):
        kept = {m.name for m in select_models(more, None, False, (i, 4))} & {"churn", "fraud"}  # type: ignore[arg-type]
        assert kept == {m.name for m in select_models(few, None, False, (i, 4))}  # type: ignore[arg-type]


def test_exactly_one_selection() -> None:
    with pytest.raises(UsageError, match="exactly one of --model, --all or --shard"):
        select_models(config_of(["churn"]), "churn", False, (0, 2))  # type: ignore[arg-type]
