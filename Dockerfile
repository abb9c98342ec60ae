# syntax=docker/dockerfile:1
# One image for the mlops jobs and the MLflow server (psycopg2 and boto3 inside).

FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
COPY requirements.txt pyproject.toml README.md ./
COPY mlops ./mlops
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11.14-slim-bookworm AS runtime
ARG MLOPS_IMAGE=mlops:dev
ARG MLOPS_GIT_SHA=unknown
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLOPS_IMAGE=${MLOPS_IMAGE} \
    MLOPS_GIT_SHA=${MLOPS_GIT_SHA} \
    HOME=/tmp
COPY --from=build /wheels /wheels
# The MLflow server's start-up (schema migrations, basic-auth users, the auth ini): deploy/mlflow/.
COPY deploy/mlflow/ /opt/mlops/mlflow/
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --gid 10001 mlops \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin mlops
WORKDIR /work
USER 10001:10001
HEALTHCHECK NONE
ENTRYPOINT ["mlops"]
CMD ["--help"]
