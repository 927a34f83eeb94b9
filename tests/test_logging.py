"""The log lines (operations.md, "Logs"): JSON without uvicorn's colour field, and an
access record per request with the route template and the duration in ms."""

from __future__ import annotations

import json
import logging
import logging.config
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SECRET
from tests.helpers import ApiUser
from tests.processes import todo_api_server
from todo_api.kit.logs import LogFormat, logging_config

ANSI_ESCAPE = "\x1b["
ACCESS_MESSAGE = re.compile(r"^(GET|HEAD|POST) (\S+) (\d{3}) (\d+\.\d\d) ms$")
DOCS_ASSETS = {
    # path: the template its access record carries
    "/docs": "/docs",
    "/docs/oauth2-redirect": "/docs/oauth2-redirect",
    "/redoc": "/redoc",
    "/openapi.json": "/openapi.json",
    "/static-offline-docs/swagger-ui-bundle.js": "/static-offline-docs/{path}",
    "/static-offline-docs/swagger-ui.css": "/static-offline-docs/{path}",
    "/static-offline-docs/redoc.standalone.js": "/static-offline-docs/{path}",
}


def _formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter ``logging_config`` configures, built as ``dictConfig`` builds it
    but without reconfiguring this process's logging."""
    spec = logging_config("info", fmt)["formatters"]["default"]
    formatter: logging.Formatter = logging.config.DictConfigurator({}).configure_formatter(spec)
    return formatter


def _uvicorn_style_record() -> logging.LogRecord:
    """A record as uvicorn logs it: the message, and again in colour in ``extra``."""
    record = logging.getLogger("uvicorn.error").makeRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        "Started server process [%d]",
        (4242,),
        None,
        extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )
    record.correlation_id = "-"  # what the request id filter adds
    return record


def test_json_records_carry_no_colour_field() -> None:
    line = _formatter("json").format(_uvicorn_style_record())

    record = json.loads(line)
    assert "color_message" not in record
    assert ANSI_ESCAPE not in line
    assert record["message"] == "Started server process [4242]"
    assert record["logger"] == "uvicorn.error"
    assert record["request_id"] == "-"


def test_json_records_keep_the_fields_we_add() -> None:
    record = _uvicorn_style_record()
    record.route = "/api/{user_id}/tasks"
    record.duration_ms = 1.5

    fields = json.loads(_formatter("json").format(record))

    assert fields["route"] == "/api/{user_id}/tasks"
    assert fields["duration_ms"] == 1.5


def test_text_lines_carry_no_colour() -> None:
    line = _formatter("text").format(_uvicorn_style_record())

    assert ANSI_ESCAPE not in line
    assert line.endswith("uvicorn.error: Started server process [4242]")


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    """The access records written while the test runs (at info, whatever LOG_LEVEL)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("todo_api.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _access(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in ("method", "route", "status", "duration_ms")}


@pytest.mark.parametrize(("path", "template"), DOCS_ASSETS.items())
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_docs_assets_are_logged_with_their_route_template(
    client: httpx.AsyncClient,
    access_records: list[logging.LogRecord],
    path: str,
    template: str,
    method: str,
) -> None:
    response = await client.request(method, path)

    assert response.status_code == 200
    (record,) = access_records
    assert _access(record) | {"duration_ms": None} == {
        "method": method,
        "route": template,
        "status": 200,
        "duration_ms": None,
    }
    assert "<no route>" not in record.getMessage()


async def test_a_path_nothing_serves_is_no_route(
    client: httpx.AsyncClient, access_records: list[logging.LogRecord]
) -> None:
    assert (await client.get("/static-offline-docs/missing.js")).status_code == 404
    assert (await client.get("/no/such/path")).status_code == 404

    mount, nothing = access_records
    assert mount.route == "/static-offline-docs/{path}"  # type: ignore[attr-defined]
    assert nothing.route is None  # type: ignore[attr-defined]
    assert nothing.getMessage().startswith("GET <no route> 404 ")


async def test_api_routes_keep_their_template_and_the_message_has_the_duration(
    client: httpx.AsyncClient, access_records: list[logging.LogRecord], alice: ApiUser
) -> None:
    headers = {"Authorization": f"Bearer {alice.token}"}
    assert (await client.get(f"/api/{alice.id}/tasks/1", headers=headers)).status_code == 404
    assert (await client.post("/api/health")).status_code == 405

    task, not_allowed = access_records
    assert task.route == "/api/{user_id}/tasks/{task_id}"  # type: ignore[attr-defined]
    assert not_allowed.route == "/api/health"  # type: ignore[attr-defined]
    for record in access_records:
        matched = ACCESS_MESSAGE.fullmatch(record.getMessage())
        assert matched, record.getMessage()
        method, route, status, duration = matched.groups()
        assert (method, route, int(status)) == (
            record.method,  # type: ignore[attr-defined]
            record.route,  # type: ignore[attr-defined]
            record.status,  # type: ignore[attr-defined]
        )
        assert float(duration) == pytest.approx(record.duration_ms, abs=0.006)  # type: ignore[attr-defined]
        assert alice.id not in record.getMessage()


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_served_process_logs_without_colour_and_with_templates(
    tmp_path: Path, log_format: str
) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'logs.db'}",
        "BETTER_AUTH_SECRET": SECRET,
        "LOG_LEVEL": "info",
        "LOG_FORMAT": log_format,
    }
    with todo_api_server(env) as server:
        for path in ("/openapi.json", "/static-offline-docs/swagger-ui.css", "/docs"):
            assert httpx.get(f"{server.url}{path}").status_code == 200
        server.stop()
        log = server.log()

    assert ANSI_ESCAPE not in log
    lines = [line for line in log.splitlines() if line.strip()]
    if log_format == "json":
        records = [json.loads(line) for line in lines]
        assert not [r for r in records if "color_message" in r]
        assert any(r["message"].startswith("Uvicorn running on") for r in records)
        access = [r for r in records if r["logger"] == "todo_api.access"]
        routes = {r["route"] for r in access}
        assert {"/openapi.json", "/static-offline-docs/{path}", "/docs"} <= routes
        assert all(ACCESS_MESSAGE.fullmatch(r["message"]) for r in access)
    else:
        access = [line for line in lines if " todo_api.access: " in line]
        messages = [line.split(" todo_api.access: ", 1)[1] for line in access]
        assert all(ACCESS_MESSAGE.fullmatch(m) for m in messages), messages
        assert any(m.startswith("GET /static-offline-docs/{path} 200 ") for m in messages)
        assert not [m for m in messages if "<no route>" in m]
