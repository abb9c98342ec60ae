"""Calibration of the drift rule: false positives under no change and detection of real shifts.

One feature at a time (so Benjamini-Hochberg is the identity), a fresh reference and window per
repetition. Columns: our rule (KS or pooled chi-square p < 0.05 AND normalised Wasserstein or
Jensen-Shannon >= the default floor), scipy on the raw samples (`ks_2samp`, or `chi2_contingency`
on raw category counts), and Evidently's default rule when Evidently is importable (run this file
with a side environment's Python that has it; it is not a project dependency).

Targets (issue 9): false positives <= 5% in every cell; >= 90% detection of 0.2 sd and x1.2 from
n_cur = 1,000; the binary and category-mix changes detected from n_cur = 200.

Run: `PYTHONPATH=. .venv/bin/python bench/drift_calibration.py` (about 5 minutes on 2 cores);
`--reps 500 --reps-large 100` for tighter rates.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlops.config import DriftConfig
from mlops.drift.categorical import CategoryCounts
from mlops.drift.categorical import categorical_drift as categorical_of_counts
from mlops.drift.numeric import NumericCounts, support_of
from mlops.drift.numeric import numeric_drift as numeric_of_counts
from mlops.drift.profile import categorical_summary, numeric_summary
from mlops.drift.stats import FeatureDrift


def categorical_drift(name: str, profile: dict, values: Any) -> FeatureDrift:
    """The window as one batch of values."""
    return categorical_of_counts(name, profile, CategoryCounts.of(values))


def numeric_drift(name: str, profile: dict, values: Any) -> FeatureDrift:
    """The window as one batch of values."""
    return numeric_of_counts(name, profile, NumericCounts.of(support_of(profile), np.asarray(values, dtype="float64")))

try:  # optional comparison column
    from evidently.legacy.calculations.stattests.registry import get_stattest  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    get_stattest = None

Sampler = Callable[[np.random.Generator, int], np.ndarray]
DEFAULTS = DriftConfig()
LEVELS = np.array([f"c{i:02d}" for i in range(40)])
ZIPF = 1 / np.arange(1, 41) ** 1.1
ZIPF /= ZIPF.sum()
MIX_BEFORE = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
MIX_AFTER = np.array([0.25, 0.25, 0.2, 0.15, 0.15])

COLUMNS: dict[str, tuple[str, Sampler]] = {
    "continuous": ("numeric", lambda rng, n: rng.normal(size=n)),
    "heavy-tailed (t3)": ("numeric", lambda rng, n: rng.standard_t(3, n)),
    "integer 0..5": ("numeric", lambda rng, n: rng.integers(0, 6, n).astype(float)),
    "zero-inflated Poisson": ("numeric", lambda rng, n: np.where(rng.random(n) < 0.4, 0.0, rng.poisson(2.0, n))),
    "zero-inflated amount": ("numeric", lambda rng, n: np.where(rng.random(n) < 0.5, 0.0, rng.lognormal(3, 1, n).round(2))),
    "binary 95%": ("numeric", lambda rng, n: (rng.random(n) < 0.95).astype(float)),
    "sparse categorical (40 Zipf)": ("categorical", lambda rng, n: LEVELS[rng.choice(40, n, p=ZIPF)]),
}
LARGE = 2_000
TIED = ("integer 0..5", "zero-inflated Poisson", "binary 95%")

CHANGES: dict[str, tuple[str, Sampler, Sampler]] = {
    "location +0.1 sd": ("numeric", COLUMNS["continuous"][1], lambda rng, n: rng.normal(0.1, 1, n)),
    "location +0.2 sd": ("numeric", COLUMNS["continuous"][1], lambda rng, n: rng.normal(0.2, 1, n)),
    "location +0.5 sd": ("numeric", COLUMNS["continuous"][1], lambda rng, n: rng.normal(0.5, 1, n)),
    "spread x1.1": ("numeric", COLUMNS["continuous"][1], lambda rng, n: rng.normal(0, 1.1, n)),
    "spread x1.2": ("numeric", COLUMNS["continuous"][1], lambda rng, n: rng.normal(0, 1.2, n)),
    "spread x1.5": ("numeric", COLUMNS["continuous"][1], lambda rng, n: rng.normal(0, 1.5, n)),
    "binary 95% -> 70%": ("numeric", COLUMNS["binary 95%"][1], lambda rng, n: (rng.random(n) < 0.7).astype(float)),
    "category mix (5 levels)": ("categorical", lambda rng, n: LEVELS[rng.choice(5, n, p=MIX_BEFORE)],
                                lambda rng, n: LEVELS[rng.choice(5, n, p=MIX_AFTER)]),
}


@dataclass
class Tally:
    reps: int = 0
    ours: int = 0
    scipy: int = 0
    evidently: int = 0

    def rates(self) -> tuple[float, float, float | None]:
        n = max(self.reps, 1)
        return self.ours / n, self.scipy / n, (self.evidently / n if get_stattest is not None else None)


def ours(kind: str, reference: np.ndarray, current: np.ndarray, config: DriftConfig = DEFAULTS) -> bool:
    if kind == "numeric":
        result = numeric_drift("x", numeric_summary(reference), current)
        floor = config.numeric_effect
    else:
        result = categorical_drift("x", categorical_summary(pd.Series(reference)), pd.Series(current))
        floor = config.categorical_effect
    return result.p_value < config.p_value and result.effect >= floor


def scipy_flags(kind: str, reference: np.ndarray, current: np.ndarray) -> bool:
    if kind == "numeric":
        with warnings.catch_warnings():  # scipy falls back from its exact method on ties, and says so
            warnings.simplefilter("ignore", RuntimeWarning)
            return bool(stats.ks_2samp(reference, current).pvalue < 0.05)
    levels, codes = np.unique(np.concatenate([reference, current]), return_inverse=True)
    table = np.vstack([np.bincount(codes[: reference.size], minlength=levels.size),
                       np.bincount(codes[reference.size:], minlength=levels.size)])
    return bool(stats.chi2_contingency(table, correction=False).pvalue < 0.05)


def evidently_flags(kind: str, reference: np.ndarray, current: np.ndarray) -> bool:
    """Evidently's default test for the column type and reference size, with its threshold."""
    feature_type = "num" if kind == "numeric" and np.unique(reference).size > 2 else "cat"
    ref, cur = pd.Series(reference), pd.Series(current)
    if feature_type == "num" and ref.size > 1000:
        name = "wasserstein"
    elif feature_type == "num":
        name = "ks"
    elif ref.size > 1000:
        name = "jensenshannon"
    else:
        name = "z" if ref.nunique() <= 2 else "chisquare"
    test = get_stattest(ref, cur, feature_type, name)
    return bool(test(ref, cur, feature_type, None).drifted)


def trial(rng: np.random.Generator, kind: str, before: Sampler, after: Sampler, n_ref: int, currents: list[int],
          tallies: dict[int, Tally], skip_scipy: bool = False) -> None:
    """One reference, tested against a fresh window of each size (the profile is built once)."""
    reference = before(rng, n_ref)
    profile = numeric_summary(reference) if kind == "numeric" else categorical_summary(pd.Series(reference))
    for n_cur in currents:
        current = after(rng, n_cur)
        if kind == "numeric":
            result = numeric_drift("x", profile, current)
            flagged = result.p_value < DEFAULTS.p_value and result.effect >= DEFAULTS.numeric_effect
        else:
            result = categorical_drift("x", profile, pd.Series(current))
            flagged = result.p_value < DEFAULTS.p_value and result.effect >= DEFAULTS.categorical_effect
        tally = tallies[n_cur]
        tally.reps += 1
        tally.ours += flagged
        if not skip_scipy:
            tally.scipy += scipy_flags(kind, reference, current)
        if get_stattest is not None and n_ref * n_cur <= 2e10:
            tally.evidently += evidently_flags(kind, reference, current)


def _groups(n_ref: int, currents: list[int], reps: int, reps_large: int) -> list[tuple[list[int], int]]:
    """Window sizes sharing a reference, and how many repetitions each group gets: `reps` while
    both sides stay at most LARGE rows, `reps_large` beyond."""
    small = [n for n in currents if max(n, n_ref) <= LARGE]
    large = [n for n in currents if max(n, n_ref) > LARGE]
    return [(g, c) for g, c in ((small, reps), (large, reps_large)) if g]


def false_positives(refs: list[int], currents: list[int], reps: int, reps_large: int, seed: int = 0,
                    columns: list[str] | None = None) -> dict[tuple[str, int, int], Tally]:
    rng = np.random.default_rng(seed)
    results: dict[tuple[str, int, int], Tally] = {}
    for name in columns or list(COLUMNS):
        kind, sampler = COLUMNS[name]
        for n_ref in refs:
            tallies = {n: Tally() for n in currents}
            for group, count in _groups(n_ref, currents, reps, reps_large):
                for _ in range(count):
                    trial(rng, kind, sampler, sampler, n_ref, group, tallies)
            results.update({(name, n_ref, n): t for n, t in tallies.items()})
    return results


def detection(n_ref: int, currents: list[int], reps: int, reps_large: int, seed: int = 1,
              changes: list[str] | None = None) -> dict[tuple[str, int], Tally]:
    rng = np.random.default_rng(seed)
    results: dict[tuple[str, int], Tally] = {}
    for name in changes or list(CHANGES):
        kind, before, after = CHANGES[name]
        tallies = {n: Tally() for n in currents}
        for group, count in _groups(n_ref, currents, reps, reps_large):
            for _ in range(count):
                trial(rng, kind, before, after, n_ref, group, tallies)
        results.update({(name, n): t for n, t in tallies.items()})
    return results


def smallest_shift(n_ref: int, n_cur: int, reps: int, seed: int = 2, level: float = 0.9) -> float | None:
    """The smallest location shift (sd) of a normal column flagged in >= `level` of the repetitions."""
    rng = np.random.default_rng(seed)
    for shift in (0.05, 0.075, 0.1, 0.11, 0.12, 0.13, 0.14, 0.15, 0.175, 0.2, 0.25, 0.3):
        tallies = {n_cur: Tally()}
        for _ in range(reps):
            trial(rng, "numeric", COLUMNS["continuous"][1], lambda r, n, s=shift: r.normal(s, 1, n), n_ref, [n_cur],
                  tallies, skip_scipy=True)
        if tallies[n_cur].ours >= level * tallies[n_cur].reps:
            return shift
    return None


def _cell(tally: Tally) -> str:
    ours_rate, scipy_rate, evidently_rate = tally.rates()
    text = f"{ours_rate:.0%} / {scipy_rate:.0%}"
    return text + (f" / {evidently_rate:.0%}" if evidently_rate is not None else "")


def _table(title: str, rows: dict[str, dict[Any, Tally]], columns: list[Any], header: str) -> str:
    who = "ours / scipy" + (" / Evidently" if get_stattest is not None else "")
    lines = [f"{title} ({who}; repetitions per cell in brackets)", "",
             f"| {header} | " + " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for label, cells in rows.items():
        lines.append(f"| {label} | " + " | ".join(f"{_cell(cells[c])} ({cells[c].reps})" if c in cells else "" for c in columns)
                     + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=150, help="repetitions per cell with at most 2,000 rows per side")
    parser.add_argument("--reps-large", type=int, default=30, help="repetitions per cell with more rows on a side")
    parser.add_argument("--skip-million", action="store_true", help="leave out the 1M x 1M tied cells")
    args = parser.parse_args()
    started = time.perf_counter()
    refs, currents = [200, 2_000, 100_000, 1_000_000], [50, 200, 1_000, 100_000]

    fp = false_positives(refs, currents, args.reps, args.reps_large)
    if not args.skip_million:
        fp.update(false_positives([1_000_000], [1_000_000], args.reps_large, args.reps_large, seed=3, columns=list(TIED)))
    grid: dict[str, dict[Any, Tally]] = {}
    for (name, n_ref, n_cur), tally in fp.items():
        grid.setdefault(f"{name}, n_ref {n_ref:,}", {})[n_cur] = tally
    worst = max(t.rates()[0] for t in fp.values())
    print(_table("False positives under no change, by n_cur", grid, [*currents, 1_000_000], "column, reference rows"))
    print(f"\nworst cell for our rule: {worst:.0%} (target <= 5%)\n")

    found = detection(100_000, currents, args.reps, args.reps_large)
    rows: dict[str, dict[Any, Tally]] = {}
    for (name, n_cur), tally in found.items():
        rows.setdefault(name, {})[n_cur] = tally
    print(_table("Detection rate, n_ref 100,000, by n_cur", rows, currents, "change"))

    print("\nSmallest location shift flagged in >= 90% of repetitions (n_ref 100,000):\n")
    print("| n_cur | shift (sd) |\n|---|---|")
    for n_cur, reps in ((1_000, args.reps), (10_000, args.reps), (1_000_000, args.reps_large)):
        shift = smallest_shift(100_000, n_cur, reps)
        print(f"| {n_cur:,} | {shift if shift is not None else '> 0.3'} |")
    print(f"\nfloors: numeric_effect {DEFAULTS.numeric_effect}, categorical_effect {DEFAULTS.categorical_effect}, "
          f"p_value {DEFAULTS.p_value}; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
