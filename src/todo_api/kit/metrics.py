"""``GET /metrics`` in the Prometheus text format (``METRICS_ENABLED=true``), with
prometheus-client.

What is measured (docs/operations.md, "Metrics"):

* ``http_requests_total{method, route, status}``: requests answered;
* ``http_request_duration_seconds{method, route, status}``: a histogram of the
  time from the request reaching ``MetricsMiddleware`` until its response was
  sent, in seconds;
* ``db_pool_connections_in_use``, ``db_pool_connections_waiting``,
  ``db_pool_size``: the database pool, summed over the live processes;
* background jobs: none exist yet. When one is added, its runs belong here,
  as a ``Counter`` by job and outcome, written by the process that runs it.

``route`` is the route's template (``/api/{user_id}/tasks/{task_id}``), never
the raw path, so the number of series is bounded by the routes, and no id
from a URL reaches the metrics; a request no route matched is ``<unmatched>``.
``method`` is one of the HTTP methods or ``OTHER``, for the same reason.

**Several processes** (``todo-api serve --workers N``): prometheus-client's
multiprocess mode. ``todo-api serve`` gives each run a fresh directory in
``PROMETHEUS_MULTIPROC_DIR`` before the workers start
(``prepare_multiprocess_directory``); every worker writes its values to its
own files there, and ``/metrics``, whichever worker serves it, reads them
all (``MultiProcessCollector``): counters and histograms are summed over
every process the run has had, the pool gauges over the live ones
(``livesum``). A worker forgets its gauges when its lifespan ends
(``mark_process_dead``), and a new worker forgets those of workers that died
without one. Without the variable (one process, the tests) the values live
in the app's own registry.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Scope

from todo_api.kit.database import Database
from todo_api.kit.middleware import ResponseObserver, route_template

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's variable: where the processes of one run write their values.
The library reads it when it is imported, so it is set before any worker starts."""

UNMATCHED = "<unmatched>"
"""The ``route`` of a request that no route or mount matched (404, a CORS preflight)."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods counted by name; any other is ``OTHER``, so a client cannot add series."""

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds of the latency histogram, in seconds.

A request here takes milliseconds (docs/benchmarks.md), so the buckets start
at 1 ms, where prometheus-client's default starts at 5 ms; they end at 10 s,
the pool timeout, after which a request waiting for a connection is a 503.
"""


class Metrics:
    """The app's metrics, and the one call that records a request (``record``).

    ``database`` is read for the pool gauges. Build one per app (``install_metrics``).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_DIRECTORY))
        # No ``*_created`` series: multiprocess mode has none, so one process and
        # several expose the same series (a process-wide switch of the library's).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        registry: CollectorRegistry | None = self.registry
        if self.multiprocess:
            # Values go to this process's files; /metrics reads every process's.
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
            forget_dead_processes()
            registry = None
        labels = ("method", "route", "status")
        self.requests = Counter(
            "http_requests", "HTTP requests answered.", labels, registry=registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to its response sent, in seconds.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.pool_in_use = Gauge(
            "db_pool_connections_in_use",
            "Database connections checked out of the pool, summed over the live processes.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_waiting = Gauge(
            "db_pool_connections_waiting",
            "Requests waiting for a pooled database connection, summed over the live processes.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "db_pool_size",
            "Connections the pools keep, summed over the live processes.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        pool = database.engine.pool
        self.pool_size.set(pool.size() if isinstance(pool, QueuePool) else 1)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._pool_written = (-1, -1)

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one response and its duration (``seconds``); with several
        processes, sample the pool too.

        The labels' children are looked up once per (method, route, status)
        and kept, so a request costs a tuple, a dictionary lookup, the
        counter, the histogram and, with several processes, a look at the
        pool (its cost: docs/benchmarks.md, "Metrics").
        """
        key = (method if method in METHODS else "OTHER", route, status)
        children = self._children.get(key)
        if children is None:
            labels = (key[0], route, str(status))
            children = (self.requests.labels(*labels), self.duration.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if self.multiprocess:  # another process's scrape reads what this one wrote last
            self.sample_pool()

    def sample_pool(self) -> None:
        """Write the pool's connections in use and requests waiting, if they changed.

        Sampled, not counted at each checkout: before every scrape this
        process serves, so one process's figures are exact. With several
        processes, also after every response: another process's figures are
        as of its last response, and a pool that stays exhausted still
        refreshes them within the pool timeout (10 s), when a waiting request
        gives up with a 503.
        """
        pool = self.database.engine.pool
        in_use = pool.checkedout() if isinstance(pool, QueuePool) else 0
        now = (in_use, self.database.waiting)
        if now != self._pool_written:
            self.pool_in_use.set(now[0])
            self.pool_waiting.set(now[1])
            self._pool_written = now

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (``CONTENT_TYPE_LATEST``)."""
        self.sample_pool()
        return generate_latest(self.registry)


class MetricsMiddleware(ResponseObserver):
    """Records every HTTP request's method, route template, status and duration
    after its response (``Metrics.record``).

    It sits inside ``HeadAsGetMiddleware``, so a ``HEAD`` is counted as the
    ``GET`` it was served as, under that route. A request that raised before
    any response started is counted as 500.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    def observe(self, scope: Scope, root_path: str, status: int, seconds: float) -> None:
        route = route_template(scope, root_path) or UNMATCHED
        self.metrics.record(scope["method"], route, status, seconds)


def install_metrics(app: FastAPI, database: Database) -> Metrics:
    """Add ``GET /metrics`` (not in OpenAPI), ``MetricsMiddleware`` around what is
    already added, and, in multiprocess mode, forgetting this process's gauges
    when the app's lifespan ends."""
    metrics = Metrics(database)

    async def serve_metrics(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", serve_metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if metrics.multiprocess:
        app_lifespan = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(application: Any) -> AsyncIterator[Any]:
            try:
                async with app_lifespan(application) as state:
                    yield state
            finally:
                mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

        app.router.lifespan_context = lifespan
    return metrics


def prepare_multiprocess_directory(processes: int) -> str | None:
    """Set up ``PROMETHEUS_MULTIPROC_DIR`` for one run of ``processes`` workers,
    before they start; returns the directory, or ``None`` for one process.

    An operator's directory (the variable set) is emptied of the values of
    any earlier run, which would otherwise be added to this one's. Otherwise,
    for more than one process, a new directory under ``TMPDIR``, removed when
    this process exits. One process needs none: its app keeps its values.
    """
    directory = os.environ.get(MULTIPROCESS_DIRECTORY)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
        return directory
    if processes <= 1:
        return None
    directory = tempfile.mkdtemp(prefix="todo-api-metrics-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ[MULTIPROCESS_DIRECTORY] = directory
    return directory


def forget_dead_processes() -> None:
    """``mark_process_dead`` for every process whose live gauges are in the
    directory but that no longer runs: a worker killed without its lifespan's
    end (uvicorn replaces a worker that died or stopped answering)."""
    directory = os.environ.get(MULTIPROCESS_DIRECTORY, "")
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _running(int(pid)):
            mark_process_dead(int(pid), directory)  # type: ignore[no-untyped-call]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, under another user
    return True
