"""Two jobs of one model starting together both find its experiment missing and both create
it; the server refuses the second creation (a unique-constraint error on PostgreSQL), and that
job must go on with the winner's experiment instead of failing (seen in CI: exit 2)."""

from __future__ import annotations

from typing import Any

import pytest

from mlops.config import TrackingConfig
from mlops.tracking import Tracking

from services import MlflowServer


def test_the_job_that_loses_the_creation_race_uses_the_winners_experiment(mlflow_service: MlflowServer,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    winner, loser = (Tracking(TrackingConfig(uri=mlflow_service.url)) for _ in range(2))
    name = "race/experiment"
    lookup = loser.client.get_experiment_by_name
    calls: list[str] = []

    def missing_until_the_winner_made_it(experiment: str) -> Any:
        calls.append(experiment)
        if len(calls) == 1:  # the loser looked before the winner created it
            winner_id = winner.experiment_id(experiment)
            calls.append(winner_id)
            return None
        return lookup(experiment)

    monkeypatch.setattr(loser.client, "get_experiment_by_name", missing_until_the_winner_made_it)
    assert loser.experiment_id(name) == calls[1]
    assert len(calls) == 3  # looked, lost the creation, looked again
