"""One real stack per test module, every service behind a FaultProxy (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from faults.harness import TABLE, Stack
from faults.proxy import FaultProxy
from mlops.data.sinks import replace_table
from mlops.jobs.demo import make_dataset

from conftest import END, store_client
from services import S3, Postgres, mlflow_server, moto_server


@pytest.fixture(scope="module")
def stack(postgres: Postgres) -> Iterator[Stack]:
    with moto_server() as s3_direct:
        s3 = FaultProxy(int(urlsplit(s3_direct.endpoint).port or 0))
        with mlflow_server(postgres, S3(s3.url)) as server:
            mlflow = FaultProxy(int(urlsplit(server.url).port or 0))
            database = FaultProxy(postgres.port)
            replace_table(postgres.uri(), TABLE, make_dataset(END))
            try:
                yield Stack(postgres, s3_direct, s3, mlflow, database, server.url, server.bucket, store_client(server.url))
            finally:
                for proxy in (s3, mlflow, database):
                    proxy.close()


