"""Parquet sinks, locally and on moto's S3 server: batches streamed into one file that appears
only when whole; a failure mid-stream leaves the previous file and no scratch behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops.data.sinks import write_parquet
from mlops.errors import DataError

from services import S3


def batches(n: int, rows: int = 10, fail_after: int | None = None) -> Iterator[pa.RecordBatch]:
    for i in range(n):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("planted failure mid-stream")
        yield pa.record_batch({"i": pa.array(range(i * rows, (i + 1) * rows)), "part": pa.array([i] * rows)})


def read_s3(s3: S3, bucket: str, key: str) -> pa.Table:
    return pq.read_table(pa.BufferReader(s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()))


def test_local_file_is_whole_or_the_previous_one(tmp_path: Path) -> None:
    written = write_parquet(str(tmp_path), "m/day=1/predictions.parquet", batches(5))
    meta = pq.ParquetFile(written).metadata
    assert (meta.num_rows, meta.num_row_groups) == (50, 5)  # five batches, one file
    before = Path(written).read_bytes()
    with pytest.raises(RuntimeError, match="planted"):
        write_parquet(str(tmp_path), "m/day=1/predictions.parquet", batches(5, fail_after=3))
    assert Path(written).read_bytes() == before
    assert [p.name for p in Path(written).parent.iterdir()] == ["predictions.parquet"]


def test_s3_object_is_whole_or_the_previous_one(s3_env: S3) -> None:
    client = s3_env.client()
    client.create_bucket(Bucket="sink")
    target = write_parquet("s3://sink/out", "m/day=1/predictions.parquet", batches(4))
    assert target == "s3://sink/out/m/day=1/predictions.parquet"
    first = read_s3(s3_env, "sink", "out/m/day=1/predictions.parquet")
    assert first.num_rows == 40 and pq.ParquetFile(pa.BufferReader(
        client.get_object(Bucket="sink", Key="out/m/day=1/predictions.parquet")["Body"].read())).metadata.num_row_groups == 4
    with pytest.raises(RuntimeError, match="planted"):
        write_parquet("s3://sink/out", "m/day=1/predictions.parquet", batches(6, fail_after=2))
    assert read_s3(s3_env, "sink", "out/m/day=1/predictions.parquet").equals(first)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="sink")["Contents"]]
    assert keys == ["out/m/day=1/predictions.parquet"]  # no scratch object left
    with pytest.raises(DataError, match="s3://absent/out/x.parquet: "):
        write_parquet("s3://absent/out", "x.parquet", batches(1))
