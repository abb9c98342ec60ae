"""Drift statistics stage: 1M current rows x 20 numeric features against a profile built from
1M reference rows, beside a plain loop of scipy.stats.ks_2samp over the raw samples.

Targets: stage <= 1.5 s on a 2-core machine, >= 20M values/s, and peak memory added by the
stage <= 1x the window's feature matrix (so the process peaks under 2x it).
Run: `make bench` or `.venv/bin/python bench/drift_stats.py`.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlops.config import DriftConfig, PromotionConfig
from mlops.drift.check import DriftReport
from mlops.drift.check import decide as decide_summary
from mlops.drift.profile import PROFILE_VERSION, numeric_summary
from mlops.drift.window import WindowSummary


def decide(frame: pd.DataFrame, profile: dict, drift: DriftConfig, promotion: PromotionConfig, ignore: set[str],
           scores: np.ndarray | None = None, performance: Any = None, baseline_performance: Any = None) -> DriftReport:
    """The window as one frame."""
    return decide_summary(WindowSummary.of_frame(profile, frame, scores), profile, drift, promotion, ignore, performance,
                          baseline_performance)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def reset_peak() -> None:
    """Linux: make VmHWM (peak RSS) start again from the current RSS."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    names = [f"f{i:02d}" for i in range(args.features)]

    # The profile is built one feature at a time, as retrain does, keeping only the summary.
    profile = {"version": PROFILE_VERSION, "features": {n: numeric_summary(rng.normal(size=args.rows)) for n in names}}
    before = rss_mb()
    window = pd.DataFrame({n: rng.normal(0.1 * (i % 4 == 0), 1.0, size=args.rows) for i, n in enumerate(names)})
    matrix_mb = sum(window[n].to_numpy().nbytes for n in names) / 2**20
    after_matrix = rss_mb()

    timings = []
    reset_peak()
    for _ in range(args.repeats):
        started = time.perf_counter()
        report = decide(window, profile, DriftConfig(), PromotionConfig(), set())
        timings.append(time.perf_counter() - started)
    peak = peak_mb()
    ours = min(timings)

    reference = rng.normal(size=args.rows)  # scipy needs the raw reference; one array stands in for all
    started = time.perf_counter()
    for n in names:
        stats.ks_2samp(reference, window[n].to_numpy(), method="asymp")
    scipy_time = time.perf_counter() - started

    values = args.rows * args.features
    print(f"window                    {args.rows:,} rows x {args.features} features ({matrix_mb:.0f} MB)")
    print(f"mlops statistics stage    {ours:.3f} s  ({values / ours / 1e6:.1f} M values/s; KS+PSI+Wasserstein+BH)")
    print(f"scipy ks_2samp loop       {scipy_time:.3f} s  ({values / scipy_time / 1e6:.1f} M values/s; KS only, raw reference)")
    print(f"speed-up                  {scipy_time / ours:.1f}x")
    print(f"memory                    RSS {before:.0f} MB before the window, {after_matrix:.0f} MB with it, "
          f"peak {peak:.0f} MB: stage added {(peak - after_matrix) / matrix_mb:.2f}x the matrix "
          f"(peak {(peak - before) / matrix_mb:.2f}x of it)")
    shifted = [n for i, n in enumerate(names) if i % 4 == 0]
    significant = [f.drift.name for f in report.features if f.p_adjusted < 0.05]
    print(f"significant after BH      {', '.join(significant) or 'none'} (shifted by 0.1 sd: {', '.join(shifted)}); "
          f"drifted (effect >= {DriftConfig().numeric_effect} sd too): "
          f"{', '.join(f.drift.name for f in report.features if f.drifted) or 'none'}")


if __name__ == "__main__":
    main()
