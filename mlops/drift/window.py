"""A window of rows folded batch by batch into mergeable summaries, so drift-check's memory is
bounded by the batch, the profile and the model, never by the window's rows.

Per feature the registered method's state (`methods.py`: counts against the profile's support
points, category counts), what the schema check needs (the dtype pandas would give the whole
column, the kind of its values), the prediction-score counts, and the rows, newest timestamp and
training rows left out. Summaries of two parts of a window `merge` into the summary of the whole.

The one part that grows with the window: performance on labelled rows is a bootstrap over rows
(`performance.estimate`), so the labelled rows' class probabilities and label codes are kept —
bounded by the labelled rows, not by the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops.categories import dtype_class, storage_kind
from mlops.drift.methods import METHODS
from mlops.drift.numeric import NumericCounts, support_of
from mlops.drift.profile import prediction_scores
from mlops.drift.stats import Lookup


class Model(Protocol):
    """What scoring a batch needs of the production model."""

    @property
    def classes(self) -> list[Any]: ...

    def predict_proba(self, data: pd.DataFrame) -> np.ndarray: ...


@dataclass
class ColumnKind:
    """What `check_schema` needs of one column: the dtype pandas gives the whole column (an int
    or bool column with a missing value anywhere in the window becomes float or object) and the
    kind of the compared rows' values (`categories.dtype_class`, merged across batches)."""

    dtype: Any = None  # of a batch without missing values
    dtype_missing: Any = None  # of the first batch with one
    seen: bool = False  # any non-missing value among the compared rows
    finite: int = 0  # numeric batches: finite values (counted until the kind is settled), and whether all are whole
    whole: bool = True
    kinds: set[str] = field(default_factory=set)  # other batches: dtype_class of each

    def add(self, read: pd.Series, kept: pd.Series) -> None:
        """Fold one batch. Once a numeric column is known to hold finite values that are not all
        whole, later batches cannot change its kind, so they cost only the dtype bookkeeping."""
        if self.dtype is None or self.dtype_missing is None:
            if read.isna().any():
                self.dtype_missing = read.dtype if self.dtype_missing is None else self.dtype_missing
            elif self.dtype is None:
                self.dtype = read.dtype
        numeric = storage_kind(kept.dtype) in ("int", "float")
        if numeric and self.finite and not self.whole:
            return
        if kept.empty or kept.isna().all():
            return
        self.seen = True
        if not numeric:
            self.kinds.add(dtype_class(kept))
            return
        if storage_kind(kept.dtype) == "int":  # whole and finite by type
            self.finite += int(kept.notna().sum())
            return
        x = kept.to_numpy(dtype="float64", na_value=np.nan)
        x = x[np.isfinite(x)]
        self.finite += int(x.size)
        self.whole = self.whole and bool(np.all(x == np.round(x)))

    @property
    def window_dtype(self) -> Any:
        return self.dtype_missing if self.dtype_missing is not None else self.dtype

    def kind(self) -> str:
        stored = storage_kind(self.window_dtype)
        if stored == "float":
            return "int" if self.finite and self.whole else "float"
        if stored is not None:
            return stored
        kinds = self.kinds | ({"int" if self.whole else "float"} if self.finite else set())
        if len(kinds) == 1:
            return next(iter(kinds))
        return "float" if kinds <= {"int", "float"} else "string"

    def merge(self, other: ColumnKind) -> ColumnKind:
        return ColumnKind(self.dtype if self.dtype is not None else other.dtype,
                          self.dtype_missing if self.dtype_missing is not None else other.dtype_missing,
                          self.seen or other.seen, self.finite + other.finite, self.whole and other.whole,
                          self.kinds | other.kinds)


class WindowSummary:
    """The window so far. `add(batch)` folds one record batch (training rows left out) and returns
    its compared rows as a frame, for scoring; `add_scores` folds that frame's class
    probabilities (prediction scores, and labels for the performance estimate)."""

    def __init__(self, profile: dict[str, Any], *, timestamp_column: str | None = None, trained_until: str = "",
                 target: str | None = None) -> None:
        self.profile = profile
        self.timestamp_column = timestamp_column
        self.trained_until = trained_until
        self.target = target
        self.columns: list[str] | None = None  # of the first batch; None while no batch arrived
        self.read_rows = 0  # rows read from the window
        self.rows = 0  # rows compared: the read rows less the training rows
        self.newest: pd.Timestamp | None = None
        self.left_out = 0
        self.features: dict[str, Any] = {}
        self.kinds: dict[str, ColumnKind] = {}
        self.scores: NumericCounts | None = None
        self.labelled_proba: list[np.ndarray] = []
        self.labelled_codes: list[np.ndarray] = []
        self.labelled_rows = 0  # with a label, known or not
        self.unknown_labels = 0
        self._score_support = support_of(profile.get("prediction_scores") or {})
        self._score_lookup = Lookup(self._score_support)
        self._prepared = {name: METHODS[summary["kind"]].prepare(summary) for name, summary in profile["features"].items()}
        self._kept: np.ndarray | None = None  # the last batch's compared rows, when training rows were left out

    @classmethod
    def of_frame(cls, profile: dict[str, Any], frame: pd.DataFrame, scores: np.ndarray | None = None) -> WindowSummary:
        """The summary of rows already in memory as one frame, with their prediction scores if given."""
        summary = cls(profile)
        summary.add_frame(frame)
        if scores is not None and summary._score_support.size:
            summary.scores = NumericCounts.of(summary._score_support, scores)
        return summary

    @property
    def scorable(self) -> bool:
        """The window has every feature column the model needs."""
        return self.columns is not None and all(name in self.columns for name in self.profile["features"])

    def add(self, batch: pa.RecordBatch) -> tuple[pd.DataFrame, pa.RecordBatch]:
        """Fold one batch; its compared rows as a frame and as Arrow (the model scores the Arrow
        rows: categories keyed once per distinct value, not once per row)."""
        self._kept = None
        frame = self.add_frame(batch.to_pandas())
        return frame, batch if self._kept is None else batch.filter(pa.array(self._kept))

    def add_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.columns is None:
            self.columns = [str(c) for c in frame.columns]
        read = frame
        self.read_rows += len(frame)
        ts = self.timestamp_column
        if ts and ts in frame.columns and len(frame):
            stamps = pd.to_datetime(frame[ts], utc=True)
            newest = stamps.max()
            if pd.notna(newest) and (self.newest is None or newest > self.newest):
                self.newest = newest
            if self.trained_until:
                seen = (stamps < pd.Timestamp(self.trained_until)).to_numpy()
                if seen.any():
                    self.left_out += int(seen.sum())
                    self._kept = ~seen
                    frame = frame.loc[~seen].reset_index(drop=True)
        self.rows += len(frame)
        for name, summary in self.profile["features"].items():
            if name not in frame.columns:
                continue
            self.kinds.setdefault(name, ColumnKind()).add(read[name], frame[name])
            state = METHODS[summary["kind"]].count(self._prepared[name], frame[name])
            self.features[name] = state if name not in self.features else self.features[name].merge(state)
        return frame

    def add_scores(self, frame: pd.DataFrame, proba: np.ndarray, classes: list[Any]) -> None:
        """The compared rows' class probabilities: one scoring feeds both the prediction-score
        counts and the labelled rows' state."""
        if self._score_support.size:
            counts = NumericCounts.of(self._score_support, prediction_scores(proba), self._score_lookup)
            self.scores = counts if self.scores is None else self.scores.merge(counts)
        if self.target is None or self.target not in frame.columns:
            return
        labelled = frame[self.target].notna().to_numpy()
        if not labelled.any():
            return
        index = {c: i for i, c in enumerate(classes)}
        codes = frame.loc[labelled, self.target].map(index).fillna(-1).to_numpy(dtype=np.int64)
        known = codes >= 0
        self.labelled_rows += int(labelled.sum())
        self.unknown_labels += int((~known).sum())
        if known.any():
            self.labelled_proba.append(proba[labelled][known])
            self.labelled_codes.append(codes[known])

    def labelled(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(class probabilities, label codes) of the labelled rows in a class the model knows."""
        if not self.labelled_codes:
            return None
        return np.concatenate(self.labelled_proba), np.concatenate(self.labelled_codes)

    def findings(self) -> list[str]:
        """What the window's rows say about the comparison itself (training rows, unknown labels)."""
        found = []
        ts = self.timestamp_column
        if not ts or (self.columns is not None and ts not in self.columns):
            found.append("window may include the production model's training rows: without source.timestamp_column "
                         "they cannot be told apart")
        elif self.left_out:
            found.append(f"left out {self.left_out} window rows from before {self.trained_until}, "
                         "the production model's training data")
        if self.unknown_labels:
            found.append(f"{self.target}: {self.unknown_labels} labelled rows hold classes the model never saw")
        return found

    def merge(self, other: WindowSummary) -> WindowSummary:
        """This summary followed by `other` (a later part of the same window), in place."""
        if self.columns is None:
            self.columns = other.columns
        self.read_rows += other.read_rows
        self.rows += other.rows
        if other.newest is not None and (self.newest is None or other.newest > self.newest):
            self.newest = other.newest
        self.left_out += other.left_out
        for name, state in other.features.items():
            self.features[name] = state if name not in self.features else self.features[name].merge(state)
        for name, kind in other.kinds.items():
            self.kinds[name] = kind if name not in self.kinds else self.kinds[name].merge(kind)
        if other.scores is not None:
            self.scores = other.scores if self.scores is None else self.scores.merge(other.scores)
        self.labelled_proba += other.labelled_proba
        self.labelled_codes += other.labelled_codes
        self.labelled_rows += other.labelled_rows
        self.unknown_labels += other.unknown_labels
        return self


def fold(batches: Iterable[pa.RecordBatch], window: WindowSummary, load_model: Callable[[], Model],
         min_rows: int) -> Model | None:
    """Fold every batch into `window`, scoring each batch's compared rows once. The model is
    loaded only for a window that has the feature columns and at least `min_rows` rows; the
    rows before that point wait for it (fewer than `min_rows` plus one batch)."""
    model: Model | None = None
    waiting: list[tuple[pd.DataFrame, pa.RecordBatch]] = []
    for batch in batches:
        frame, rows = window.add(batch)
        if frame.empty or not window.scorable:
            continue
        if model is None:
            waiting.append((frame, rows))
            if window.rows < min_rows:
                continue
            model = load_model()
            parts, waiting = waiting, []
        else:
            parts = [(frame, rows)]
        for part, arrow in parts:
            window.add_scores(part, model.predict_proba(arrow), model.classes)
    return model
