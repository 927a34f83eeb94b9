# syntax=docker/dockerfile:1
# The Todo API image: `docker build -t todo-api .`, then
#   docker run -p 8000:8000 -e DATABASE_URL=postgresql://... -e BETTER_AUTH_SECRET=... todo-api
# or `docker compose up` (compose.yaml). tests/test_deployment_files.py checks that this
# file agrees with README.md and docs/operations.md (port, health path, command).

# Both stages use the same Python image: the virtual environment built in the first
# refers to its interpreter by path (/usr/local/bin/python3.12).
ARG PYTHON_IMAGE=python:3.12-slim-trixie

# ---- build: dependencies from uv.lock, then the project, into /app/.venv ----
FROM ${PYTHON_IMAGE} AS builder
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /uvx /bin/

# Compile bytecode at install time: the runtime user cannot write __pycache__ into the
# root-owned environment, and importing the app uncompiled takes seconds (cli.py).
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PYTHON=/usr/local/bin/python3.12 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /src

# Dependencies first (cached until pyproject.toml or uv.lock change).
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project

# Then the project itself, as a regular (non-editable) install: the runtime stage
# needs /app/.venv only, not the sources.
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# ---- runtime: Python, the environment, a non-root user ----
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /app/data \
        --shell /usr/sbin/nologin app \
    && mkdir -p /app/data \
    && chown app:app /app/data

COPY --from=builder /app/.venv /app/.venv

# /app/.venv/bin holds the `todo-api` console script and the environment's python.
# HOST/PORT are read by `todo-api serve` (operations.md, "Commands"). The working
# directory is the user's: a .env file there is read, and the default SQLite
# database (./todo.db) is written there when DATABASE_URL is not set.
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /app/data
USER 10001:10001

EXPOSE 8000

# `GET /api/health` answers 200 when the database answers, 503 otherwise; urllib raises
# on both a 503 and a refused connection, so the check fails on either. The slim image
# has no curl. The service's own database check takes up to 5 s.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/api/health', timeout=8)"]

# Migrates the database, then serves; SIGTERM lets requests in flight finish (20 s).
STOPSIGNAL SIGTERM
CMD ["todo-api", "serve"]
