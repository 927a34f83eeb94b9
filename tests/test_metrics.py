"""``GET /metrics`` (``METRICS_ENABLED``): in-process on both databases, and a real
``todo-api serve --workers 2`` whose workers' counts add up."""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SECRET, TaskFactory
from tests.helpers import ApiUser, assert_error
from tests.processes import todo_api_server
from todo_api.kit.metrics import MULTIPROCESS_DIRECTORY, prepare_multiprocess_directory
from todo_api.resources import app_resources

SECONDS = 20
"""Upper bound of each in-process test."""

TASK_ROUTE = "/api/{user_id}/tasks/{task_id}"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # One pooled connection on both databases, so a test can make a request wait.
    return {"metrics_enabled": True, "db_pool_size": 1}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sample ``name{labels}``, 0 if absent (as Prometheus reads a missing series)."""
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    async with asyncio.timeout(SECONDS):
        task = await make_task(alice)
        await make_task(alice)
        for _ in range(3):
            found = await client.get(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)
            assert found.status_code == 200
        missing = await client.get(f"{alice.tasks_url}/999999", headers=alice.headers)
        assert missing.status_code == 404
        head = await client.head(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)
        assert head.status_code == 200
        assert (await client.get("/no/such/path/12345")).status_code == 404
        assert (await client.request("BREW", "/api/health")).status_code == 405
        assert (await client.get("/openapi.json")).status_code == 200

        response = await client.get("/metrics")
        assert response.status_code == 200
        found_samples = samples(response.text)

    requests = "http_requests_total"
    assert (
        value(found_samples, requests, method="POST", route="/api/{user_id}/tasks", status="201")
        == 2
    )
    # The HEAD is served as a GET, and counted so.
    assert value(found_samples, requests, method="GET", route=TASK_ROUTE, status="200") == 4
    assert value(found_samples, requests, method="GET", route=TASK_ROUTE, status="404") == 1
    assert value(found_samples, requests, method="GET", route="<unmatched>", status="404") == 1
    assert value(found_samples, requests, method="OTHER", route="/api/health", status="405") == 1
    # Starlette's own routes (the document, the docs' files) by their template too.
    assert value(found_samples, requests, method="GET", route="/openapi.json", status="200") == 1
    # Templates only: no id from a URL, no raw path.
    for raw in (alice.id, f"/tasks/{task['id']}", "/no/such/path", "BREW"):
        assert raw not in response.text

    duration = "http_request_duration_seconds"
    labels = {"method": "GET", "route": TASK_ROUTE, "status": "200"}
    assert value(found_samples, f"{duration}_count", **labels) == 4
    assert value(found_samples, f"{duration}_bucket", **labels, le="+Inf") == 4
    assert value(found_samples, f"{duration}_bucket", **labels, le="0.001") <= 4
    assert 0 < value(found_samples, f"{duration}_sum", **labels) < SECONDS


async def test_pool_gauges_show_connections_in_use_and_waiting(
    app: Any, client: httpx.AsyncClient
) -> None:
    database = app_resources(app).database
    async with asyncio.timeout(SECONDS):
        idle = await scrape(client)
        assert value(idle, "db_pool_size") == 1
        assert value(idle, "db_pool_connections_in_use") == 0
        assert value(idle, "db_pool_connections_waiting") == 0

        got_one = asyncio.Event()

        async def wait_for_a_connection() -> None:
            async with database.reading():
                got_one.set()

        async with database.reading():  # the pool's only connection
            waiter = asyncio.create_task(wait_for_a_connection())
            for _ in range(1000):  # until it waits for the connection held here
                if database.waiting:
                    break
                await asyncio.sleep(0.01)
            busy = await scrape(client)
        await waiter
        assert got_one.is_set()
        after = await scrape(client)

    assert value(busy, "db_pool_connections_in_use") == 1
    assert value(busy, "db_pool_connections_waiting") == 1
    assert value(after, "db_pool_connections_in_use") == 0
    assert value(after, "db_pool_connections_waiting") == 0


async def test_metrics_are_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(SECONDS):
        document = (await client.get("/openapi.json")).json()
    assert "/metrics" not in document["paths"]


@pytest.mark.parametrize("settings_overrides", [{}])
async def test_metrics_are_off_by_default(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(SECONDS):
        response = await client.get("/metrics")
        document = (await client.get("/openapi.json")).json()
    assert_error(response, 404, "NOT_FOUND")
    assert "/metrics" not in document["paths"]


@pytest.fixture
def no_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """``PROMETHEUS_MULTIPROC_DIR`` unset, and restored after the test whatever
    ``prepare_multiprocess_directory`` sets."""
    monkeypatch.setenv(MULTIPROCESS_DIRECTORY, "recorded, so that undo restores it")
    monkeypatch.delenv(MULTIPROCESS_DIRECTORY)


@pytest.mark.usefixtures("no_directory")
def test_a_fresh_directory_per_run_of_several_processes() -> None:
    assert prepare_multiprocess_directory(processes=1) is None  # the app keeps its own values
    assert MULTIPROCESS_DIRECTORY not in os.environ

    directory = prepare_multiprocess_directory(processes=2)
    assert directory is not None and os.environ[MULTIPROCESS_DIRECTORY] == directory
    assert Path(directory).is_dir() and not any(Path(directory).iterdir())


def test_an_operators_directory_is_emptied_of_the_last_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "counter_12345.db").write_bytes(b"an earlier run's counts")
    (tmp_path / "notes.txt").write_text("not ours")
    monkeypatch.setenv(MULTIPROCESS_DIRECTORY, str(tmp_path))
    assert prepare_multiprocess_directory(processes=1) == str(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


COUNTED = {"method": "GET", "route": "/api/{user_id}/tasks", "status": "401"}
"""The requests the two-worker test counts: a list without a token, which nothing
else sends (the start-up's health checks would race with the first scrape)."""


def _counted(files: list[Path]) -> float:
    """``COUNTED`` requests in these multiprocess files."""
    return sum(
        sample.value
        for metric in MultiProcessCollector.merge([str(path) for path in files])
        for sample in metric.samples
        if sample.name == "http_requests_total" and sample.labels == COUNTED
    )


def _per_worker(directory: Path, expected: int) -> list[float]:
    """``COUNTED`` per worker's file, once they add up to ``expected`` (a worker
    records a request just after sending its response) or after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        found = [_counted([path]) for path in sorted(directory.glob("counter_*.db"))]
        if sum(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _get_on_a_new_connection(url: str) -> httpx.Response:
    # A new connection each time, so the kernel hands each to either worker.
    with httpx.Client(timeout=10) as http:
        return http.get(url, headers={"Connection": "close"})


@pytest.mark.slow
def test_two_workers_add_up(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_99999.db").write_bytes(b"left by an earlier run")
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "BETTER_AUTH_SECRET": SECRET,
        "LOG_LEVEL": "warning",
        "METRICS_ENABLED": "true",
        MULTIPROCESS_DIRECTORY: str(directory),
    }
    with todo_api_server(env, workers=2) as server, ThreadPoolExecutor(8) as pool:
        assert not (directory / "counter_99999.db").exists()
        url = f"{server.url}/api/some-user/tasks"
        sent = 0
        per_worker: list[float] = []
        for _ in range(10):  # at most 10 rounds of 40 requests, until both workers served
            statuses = [r.status_code for r in pool.map(_get_on_a_new_connection, [url] * 40)]
            assert statuses == [401] * 40
            sent += 40
            per_worker = _per_worker(directory, sent)
            if len(per_worker) == 2 and all(per_worker):
                break
        assert len(per_worker) == 2 and all(per_worker), per_worker
        assert sum(per_worker) == sent

        # Each worker counted only part of them, so a scrape that shows them all,
        # whichever worker answered it, read the other worker's values too.
        scrapes = pool.map(_get_on_a_new_connection, [f"{server.url}/metrics"] * 6)
        for found in (samples(response.text) for response in scrapes):
            assert value(found, "http_requests_total", **COUNTED) == sent
            assert value(found, "http_request_duration_seconds_count", **COUNTED) == sent
            assert (
                value(found, "http_request_duration_seconds_bucket", **COUNTED, le="+Inf") == sent
            )
            assert value(found, "db_pool_size") == 2  # one SQLite connection per live worker
        assert len(list(directory.glob("gauge_livesum_*.db"))) == 2

        assert server.stop() == 0
    # Each worker's lifespan ended: its live gauges no longer count; counters stay.
    assert not list(directory.glob("gauge_livesum_*.db"))
    assert _counted(sorted(directory.glob("counter_*.db"))) == sent
