# syntax=docker/dockerfile:1
# Pipeline worker image: `pipeline worker` (agents + Faust web server on 6066).
# Used by docker-compose.redpanda.yml; scale with `--scale worker=N`.

# --- build stage: install the project (no dev extras) into a venv
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# README.md* : the readme is optional for the build (setuptools only warns).
COPY pyproject.toml README.md* ./
COPY pipeline ./pipeline
COPY agents ./agents
COPY tables ./tables
RUN pip install --upgrade pip \
    && pip install . \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# --- runtime stage: the venv only, run as an unprivileged user
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIPELINE_WEB_BIND=0.0.0.0 \
    PIPELINE_WEB_PORT=6066 \
    PIPELINE_DATA_DIR=/data \
    PIPELINE_LOG_FORMAT=json

RUN groupadd --system --gid 10001 pipeline \
    && useradd --system --uid 10001 --gid pipeline --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin pipeline \
    && mkdir -p /data \
    && chown pipeline:pipeline /data

COPY --from=build /opt/venv /opt/venv

USER pipeline
WORKDIR /data

EXPOSE 6066

# /health answers 503 while the broker is unreachable, which urlopen raises on.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=4 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PIPELINE_WEB_PORT', '6066'), timeout=4)"]

ENTRYPOINT ["pipeline"]
CMD ["worker"]
