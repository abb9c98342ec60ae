"""Windows of several shapes for the summary-vs-frame equivalence test (`test_window.py`).

`frame_path.json` beside this file holds what the whole-frame drift path (before drift-check
folded batches, commit cf67ab8) reported for each case: `python tests/drift/window_cases.py` wrote
it with that commit's code (the `__main__` block calls functions that no longer exist in that
form; it stays as the record of how the reference was made). The cases must stay exactly the
same data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops.drift.profile import build_profile

CLASSES = ["no", "yes"]
TRAINED_UNTIL = "2024-03-01T00:00:00+00:00"
FEATURES = [
    {"name": "x", "kind": "numeric"},
    {"name": "n", "kind": "numeric"},
    {"name": "z", "kind": "numeric"},
    {"name": "c", "kind": "categorical"},
    {"name": "b", "kind": "categorical"},
    {"name": "flag", "kind": "numeric"},
]


@dataclass
class Case:
    name: str
    profile: dict[str, Any]
    window: pd.DataFrame
    timestamp: str | None = "ts"
    target: str | None = "label"
    config: dict[str, Any] = field(default_factory=dict)


def _frame(rng: np.random.Generator, n: int, *, shift: float = 0.0, start: str = "2024-03-01") -> pd.DataFrame:
    x = rng.normal(shift, 1, n)
    return pd.DataFrame({
        "ts": pd.date_range(start, periods=n, freq="min", tz="UTC"),
        "x": x,
        "n": rng.integers(0, 6, n),  # tied, discrete
        "z": np.where(rng.random(n) < 0.4, 0.0, rng.exponential(2.0 + shift, n)),  # zero-inflated
        "c": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
        "b": rng.random(n) < 0.3,  # bool as a category
        "flag": rng.random(n) < 0.5,  # bool as a number
        "label": np.where(rng.random(n) < 1 / (1 + np.exp(-2 * x)), "yes", "no"),
        "extra": rng.integers(0, 3, n),
    })


def proba(frame: pd.DataFrame) -> np.ndarray:
    """A row-wise stand-in for the model: P(yes) from x, missing x at 0.5."""
    x = pd.to_numeric(frame["x"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(over="ignore"):
        p = 1 / (1 + np.exp(-np.nan_to_num(2 * x, nan=0.0, posinf=50, neginf=-50)))
    return np.column_stack([1 - p, p])


def cases() -> list[Case]:
    rng = np.random.default_rng(20240301)
    reference = _frame(rng, 20_000, start="2024-01-01")
    profile = build_profile(reference, FEATURES, proba(reference)[:, 1][:5_000], CLASSES)
    out = [Case("continuous, calm", profile, _frame(rng, 6_000)),
           Case("shifted", profile, _frame(rng, 6_000, shift=0.4))]

    w = _frame(rng, 5_000)
    w.loc[::7, "x"] = np.nan
    w.loc[::3, "z"] = np.nan
    w["label"] = w["label"].where(rng.random(5_000) < 0.6, None)  # partly labelled
    w.loc[5::50, "label"] = "maybe"  # a class the model never saw
    out.append(Case("NaN and partial labels", profile, w))

    w = _frame(rng, 3_000)
    w.loc[:9, "x"] = np.inf
    w.loc[10:14, "x"] = -np.inf
    w.loc[15:40, "z"] = 1e300
    w.loc[41:60, "x"] = 50.0
    out.append(Case("infinities and far tails", profile, w))

    w = _frame(rng, 4_000)
    w["c"] = rng.choice(["a", "b", "new1", "new2", "new3", "rare"], 4_000, p=[0.3, 0.3, 0.15, 0.15, 0.099, 0.001])
    w["b"] = w["b"].astype(object)
    w.loc[::11, "b"] = None  # bool with missing values
    out.append(Case("unseen categories, bool with gaps", profile, w))

    w = _frame(rng, 2_000)
    w["n"] = w["n"].astype(str)  # numbers arriving as text
    w.loc[::5, "n"] = "oops"
    w["x"] = rng.integers(-3, 4, 2_000).astype("float64")  # float -> whole numbers
    w["z"] = w["z"].astype("float64")
    out.append(Case("schema changes", profile, w))

    w = _frame(rng, 3_000, start="2024-02-28T20:00")  # the first 240 rows are training rows
    out.append(Case("training rows in the window", profile, w))

    w = _frame(rng, 2_000).drop(columns=["ts"])
    out.append(Case("no timestamp column", profile, w, timestamp=None))

    w = _frame(rng, 150)
    out.append(Case("too few rows", profile, w))

    w = _frame(rng, 2_500, shift=1.5)
    w.loc[:, "c"] = None
    out.append(Case("all missing category, big shift", profile, w, target=None,
                    config={"max_missing_increase": None}))
    return out


if __name__ == "__main__":  # the frame path, as it was: run at commit cf67ab8
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from mlops.config import DriftConfig, PromotionConfig
    from mlops.drift.check import decide
    from mlops.drift.profile import prediction_scores
    from mlops.jobs.drift_check import _performance, _without_training_rows

    results = {}
    for case in cases():
        drift = DriftConfig(**case.config)
        promotion = PromotionConfig(compare_metric="accuracy", min_metrics={"accuracy": 0.7})
        model = SimpleNamespace(source=SimpleNamespace(timestamp_column=case.timestamp))
        frame, findings = _without_training_rows(case.window, model, TRAINED_UNTIL)  # type: ignore[arg-type]
        ignore = {"label", *([case.timestamp] if case.timestamp else [])}
        scores = performance = None
        if len(frame) >= drift.min_rows:
            p = proba(frame)
            scores = prediction_scores(p)
            if case.target:
                performance, found = _performance(SimpleNamespace(classes=CLASSES), frame, p,  # type: ignore[arg-type]
                                                  case.target, drift.confidence)
                findings.extend(found)
        baseline = {"accuracy": 0.8, "f1": 0.8}
        report = decide(frame, case.profile, drift, promotion, ignore, scores, performance,
                        {k: v for k, v in baseline.items() if performance is not None and k in performance.values})
        report.quality.extend(findings)
        results[case.name] = report.to_dict(histograms=True)
    Path(__file__).with_name("frame_path.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
