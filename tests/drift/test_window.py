"""The folded window: the same report as the whole-frame path it replaced, whatever the batches."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from window_cases import CLASSES, TRAINED_UNTIL, Case, cases, proba

from mlops.config import DriftConfig, PromotionConfig
from mlops.drift.check import decide
from mlops.drift.performance import PerformanceEstimate, estimate
from mlops.drift.window import WindowSummary, fold

FRAME_PATH = json.loads(Path(__file__).with_name("frame_path.json").read_text(encoding="utf-8"))
CASES = {case.name: case for case in cases()}
PROMOTION = PromotionConfig(compare_metric="accuracy", min_metrics={"accuracy": 0.7})


class Model:
    classes = CLASSES

    def __init__(self) -> None:
        self.scored = 0

    def predict_proba(self, data: pa.RecordBatch) -> np.ndarray:
        assert isinstance(data, pa.RecordBatch)  # the compared rows, as Arrow
        self.scored += len(data)
        return proba(data.to_pandas())


def summarise(case: Case, batch_rows: int | None) -> tuple[WindowSummary, Model, int]:
    summary = WindowSummary(case.profile, timestamp_column=case.timestamp, trained_until=TRAINED_UNTIL,
                            target=case.target)
    table = pa.Table.from_pandas(case.window, preserve_index=False)
    batches = table.to_batches(max_chunksize=batch_rows) if batch_rows else table.combine_chunks().to_batches()
    model, loads = Model(), []
    fold(batches, summary, lambda: loads.append(1) or model, DriftConfig(**case.config).min_rows)
    return summary, model, len(loads)


@functools.cache
def performance_of(name: str) -> PerformanceEstimate | None:
    """The bootstrap estimate on the one-batch window's labelled rows, with the scorer the job uses
    (seconds each, so computed once; other batchings must hand `estimate` the very same rows)."""
    from mlops.training.model import score

    labelled = summarise(CASES[name], None)[0].labelled()
    if labelled is None:
        return None
    return estimate(*labelled, lambda p, y: score(p, y, len(CLASSES)), DriftConfig(**CASES[name].config).confidence)


def report_of(case: Case, summary: WindowSummary) -> dict[str, Any]:
    drift = DriftConfig(**case.config)
    labelled, whole = summary.labelled(), summarise(case, None)[0].labelled()
    assert (labelled is None) == (whole is None)
    if labelled is not None and whole is not None:
        assert np.array_equal(labelled[0], whole[0]) and np.array_equal(labelled[1], whole[1])
    performance = performance_of(case.name)
    baseline = {"accuracy": 0.8, "f1": 0.8}
    ignore = {"label", *([case.timestamp] if case.timestamp else [])}
    report = decide(summary, case.profile, drift, PROMOTION, ignore, performance,
                    {k: v for k, v in baseline.items() if performance is not None and k in performance.values})
    report.quality.extend(summary.findings())
    result: dict[str, Any] = json.loads(json.dumps(report.to_dict(histograms=True)))
    return result


def close(a: Any, b: Any, where: str = "") -> None:
    """Equal, floats to 1e-9 relative (tail sums added per batch differ in their last bits)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (where, a, b)
    else:
        assert a == b, (where, a, b)


@pytest.mark.parametrize("name", list(CASES))
def test_one_batch_reports_what_the_frame_path_did(name: str) -> None:
    summary, _, _ = summarise(CASES[name], None)
    report, recorded = report_of(CASES[name], summary), dict(FRAME_PATH[name])
    # Equal up to the last bits of floats: the performance values come from mlops.training.metrics
    # since the reference was recorded with scikit-learn's (tests/training/test_holdout_metrics.py),
    # and both CDFs are counts divided once (`numeric.ecdf`) where the frame path summed shares.
    close(report, recorded)


@pytest.mark.parametrize("name", list(CASES))
def test_many_batches_report_the_same_and_score_every_row_once(name: str) -> None:
    case = CASES[name]
    whole, _, _ = summarise(case, None)
    for batch_rows in (1, 97, 1_000):
        if batch_rows == 1 and len(case.window) > 200:
            continue
        summary, model, loads = summarise(case, batch_rows)
        close(report_of(case, summary), FRAME_PATH[name], f"{name}/{batch_rows}")
        assert summary.rows == whole.rows and summary.read_rows == len(case.window) and summary.newest == whole.newest
        scorable = summary.rows >= DriftConfig(**case.config).min_rows
        assert loads == int(scorable) and model.scored == (summary.rows if scorable else 0)


def test_two_halves_merged_equal_the_whole() -> None:
    for case in CASES.values():
        if len(case.window) < 400:
            continue
        half = len(case.window) // 2
        first = Case(case.name, case.profile, case.window.iloc[:half], case.timestamp, case.target, case.config)
        second = Case(case.name, case.profile, case.window.iloc[half:], case.timestamp, case.target, case.config)
        (a, _, _), (b, _, _) = summarise(first, 500), summarise(second, 700)
        merged = a.merge(b)
        whole, _, _ = summarise(case, None)
        assert (merged.rows, merged.read_rows, merged.left_out, merged.newest, merged.columns) == \
               (whole.rows, whole.read_rows, whole.left_out, whole.newest, whole.columns)
        for name, state in whole.features.items():
            other = merged.features[name]
            if hasattr(state, "at"):
                assert (other.rows, other.missing) == (state.rows, state.missing)
                assert np.array_equal(other.at, state.at) and np.array_equal(other.between, state.between)
            else:
                assert other == state, name
        close(report_of(case, merged), report_of(case, whole), case.name)


def test_a_window_without_batches_is_insufficient_data() -> None:
    case = CASES["continuous, calm"]
    summary = WindowSummary(case.profile, timestamp_column="ts", trained_until=TRAINED_UNTIL, target="label")
    model = fold([], summary, lambda: pytest.fail("no model for an empty window"), 200)
    report = decide(summary, case.profile, DriftConfig(), PROMOTION, {"label", "ts"})
    assert model is None and report.outcome == "insufficient data" and report.rows == 0 and summary.newest is None
    assert summary.findings() == []


@pytest.mark.parametrize("values", [
    [1, 2, None, 4, 5, 6],  # int with a missing value in one batch only: float64 for the whole column
    [1.0, 2.0, np.inf, 3.0, np.nan, 4.0],  # whole numbers: "int"
    [np.inf, np.inf, np.inf, 1.5, np.nan, 2.0],  # a batch of infinities only, then fractions
    [True, False, None, True, True, False],  # bool with a gap: object for the whole column
    ["a", "b", None, "c", "d", "e"],
    [None, None, None, 1.5, 2.5, 3.5],  # an all-missing batch first
])
def test_column_kind_over_batches_is_the_whole_columns(values: list[Any]) -> None:
    """What `check_schema` reads (the whole column's pandas dtype and `dtype_class`) from batches."""
    from mlops.categories import dtype_class
    from mlops.drift.window import ColumnKind

    table = pa.table({"v": pa.array(values)})
    whole = table.to_pandas()["v"]
    for size in (1, 2, 3, 6):
        kind = ColumnKind()
        for batch in table.to_batches(max_chunksize=size):
            column = batch.to_pandas()["v"]
            kind.add(column, column)
        assert str(kind.window_dtype) == str(whole.dtype), size
        assert kind.kind() == dtype_class(whole), size
