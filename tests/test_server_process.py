"""``todo-api serve`` as an operator runs it: logs, slow clients, workers, SIGTERM."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SECRET
from tests.processes import STARTUP_TIMEOUT_SECONDS, todo_api_server

pytestmark = pytest.mark.slow


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "BETTER_AUTH_SECRET": SECRET,
        "LOG_LEVEL": "info",
        **extra,
    }


def _sign_up(base: str, email: str, password: str) -> tuple[str, str]:
    response = httpx.post(f"{base}/api/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    return data["access_token"], data["user"]["id"]


def test_json_logs_one_object_per_request_and_no_secrets(tmp_path: Path) -> None:
    password = "a-password-nobody-should-see"
    with todo_api_server(_env(tmp_path, LOG_FORMAT="json")) as server:
        token, user_id = _sign_up(server.url, "logs@example.com", password)
        headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "trace-me.42"}
        created = httpx.post(
            f"{server.url}/api/{user_id}/tasks", json={"title": "secret plans"}, headers=headers
        )
        assert created.status_code == 201
        assert (
            httpx.get(f"{server.url}/api/{user_id}/tasks/999", headers=headers).status_code == 404
        )
        server.stop()
        log = server.log()

    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    access = [r for r in records if r.get("logger") == "todo_api.access"]
    by_request = {r["request_id"]: r for r in access}
    record: dict[str, Any] = by_request["trace-me.42"]
    assert record["method"] == "GET"
    assert record["route"] == "/api/{user_id}/tasks/{task_id}"
    assert record["status"] == 404
    assert record["user_id"] == user_id
    assert isinstance(record["duration_ms"], float)
    assert record["time"] and record["level"] == "INFO"
    statuses = sorted(r["status"] for r in access if r["route"] != "/api/health")
    assert statuses == [201, 201, 404]
    for secret in (password, token, "secret plans"):
        assert secret not in log
    assert any("ready" in r["message"] for r in records)


def test_a_slow_client_does_not_block_others(tmp_path: Path) -> None:
    with todo_api_server(_env(tmp_path, LOG_LEVEL="warning")) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(
                b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"email": '
            )
            started = time.monotonic()
            for _ in range(5):
                assert httpx.get(f"{server.url}/api/health", timeout=5).status_code == 200
            assert time.monotonic() - started < 5


def test_two_workers_serve_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    with todo_api_server(_env(tmp_path), workers=2) as server:
        token, user_id = _sign_up(server.url, "workers@example.com", "long-password")
        headers = {"Authorization": f"Bearer {token}"}
        for n in range(10):  # spread over both workers: each verifies the same secret
            response = httpx.post(
                f"{server.url}/api/{user_id}/tasks", json={"title": f"t{n}"}, headers=headers
            )
            assert response.status_code == 201
        listed = httpx.get(f"{server.url}/api/{user_id}/tasks", headers=headers)
        assert listed.json()["total"] == 10
        assert server.stop() == 0
        assert "Traceback" not in server.log()


def _is_ready_line(record: dict[str, Any]) -> bool:
    return str(record.get("logger", "")).startswith("todo_api") and " ready" in record["message"]


@pytest.mark.parametrize("workers", [1, 2])
def test_ready_is_logged_once_the_port_takes_connections(tmp_path: Path, workers: int) -> None:
    """The "ready" line comes after uvicorn listens (one process) or after every
    worker has started (``--workers N``), and a request sent the moment it
    appears is served at the first try."""
    env = _env(tmp_path, LOG_FORMAT="json")
    with todo_api_server(env, workers=workers, wait_for_health=False) as server:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not any(
            _is_ready_line(json.loads(line))
            for line in server.log().splitlines()
            if line.startswith("{")
        ):
            assert server.process.poll() is None, server.log()
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        response = httpx.get(f"{server.url}/api/health", timeout=5)
        assert response.status_code == 200

    records = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    messages = [r["message"] for r in records]
    (ready_at,) = [i for i, r in enumerate(records) if _is_ready_line(r)]
    running_at = next(i for i, m in enumerate(messages) if m.startswith("Uvicorn running on"))
    started = [i for i, m in enumerate(messages) if m == "Application startup complete."]
    assert running_at < ready_at
    assert len(started) == workers
    assert max(started) < ready_at
    if workers == 1:  # one process binds after its lifespan: that order, then "ready"
        assert max(started) < running_at
