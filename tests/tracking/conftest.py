from __future__ import annotations

from pathlib import Path

import pytest

from mlops.config import TrackingConfig
from mlops.tracking import Tracking


@pytest.fixture
def tracking(tmp_path: Path) -> Tracking:
    """An embedded store with model `m` registered three times (versions 1, 2, 3), no alias yet."""
    tracking = Tracking(TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "art")))
    experiment = tracking.experiment_id("aliases")
    for _ in range(3):
        run = tracking.start_run(experiment, "r", {})
        tracking.register("m", f"{tmp_path}/model", run.run_id, {})
    return tracking
