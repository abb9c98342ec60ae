"""Training from disk: XGBoost's external memory over a spilled window.

An `xgboost.DataIter` hands XGBoost the encoded training rows a row group at a time; an
`ExtMemQuantileDMatrix` sketches them and keeps its quantised pages in a cache on local disk
(the `hist` tree method), so memory holds a page and the model, not the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from mlops.training.model import model_input
from mlops.training.window import TrainingRows


class RowGroups(xgb.DataIter):
    """The training rows, one encoded row group per `next`."""

    def __init__(self, rows: TrainingRows, cache_dir: Path) -> None:
        self.rows = rows
        self.features = rows.window.encoding.features
        self._pieces: Iterator[tuple[pd.DataFrame, np.ndarray]] | None = None
        super().__init__(cache_prefix=str(cache_dir / "xgb-cache"), release_data=True, on_host=False)

    def next(self, input_data: Callable[..., Any]) -> bool:
        if self._pieces is None:
            self._pieces = self.rows.pieces()
        piece = next(self._pieces, None)
        if piece is None:
            return False
        frame, labels = piece
        input_data(data=model_input(frame, self.features), label=labels)
        return True

    def reset(self) -> None:
        self._pieces = None


def external_matrix(rows: TrainingRows, cache_dir: Path, max_bin: int | None = None) -> xgb.DMatrix:
    return xgb.ExtMemQuantileDMatrix(RowGroups(rows, cache_dir), max_bin=max_bin, enable_categorical=True)
