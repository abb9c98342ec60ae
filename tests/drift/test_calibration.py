"""A small version of bench/drift_calibration.py's grid: the rule's false-positive rate under no
change and its detection of the issue's target shifts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = Path(__file__).parents[2] / "bench" / "drift_calibration.py"
    spec = importlib.util.spec_from_file_location("drift_calibration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["drift_calibration"] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def test_false_positives_stay_near_the_level(bench: ModuleType) -> None:
    results = bench.false_positives([200, 2_000], [50, 200, 1_000], reps=60, reps_large=0)
    assert len(results) == len(bench.COLUMNS) * 6
    rates = {key: tally.rates()[0] for key, tally in results.items()}
    # 60 repetitions at a true 5% give <= 7 flags (12%) with probability 0.98 per cell.
    assert max(rates.values()) <= 0.12, {k: v for k, v in rates.items() if v > 0.05}
    assert sum(rates.values()) / len(rates) <= 0.05


def test_target_shifts_are_detected(bench: ModuleType) -> None:
    results = bench.detection(20_000, [200, 1_000], reps=0, reps_large=30,
                              changes=["location +0.2 sd", "spread x1.2", "binary 95% -> 70%", "category mix (5 levels)"])
    rate = {key: tally.rates()[0] for key, tally in results.items()}
    assert rate[("location +0.2 sd", 1_000)] >= 0.9 and rate[("spread x1.2", 1_000)] >= 0.9
    assert rate[("binary 95% -> 70%", 200)] >= 0.9 and rate[("category mix (5 levels)", 200)] >= 0.9
