"""The OpenAPI document and the offline docs pages (api.md "Authentication", operations.md).

Clients generate code from ``/openapi.json``, so every operation is described,
named and tagged, and its error statuses are documented with the envelope.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from todo_api import __version__
from todo_api.main import close_resources, create_app
from todo_api.tasks.schemas import TaskQuery

ERROR_REF = "#/components/schemas/ErrorBody"
PUBLIC = {
    ("get", "/api/health"),
    ("post", "/api/auth/signup"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/token"),
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}
CAMEL_CASE = re.compile(r"[a-z][a-zA-Z0-9]*")
URL_IN_PAGE = re.compile(r"""(?:(?:src|href|spec-url)\s*=\s*|\burl:\s*)["']([^"']+)["']""")


@pytest.fixture(scope="module")
async def document(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """The document as ``/openapi.json`` serves it, built once (it does not touch a database)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'unused.db'}"
    app = create_app(make_settings(url))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/openapi.json")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        yield response.json()
    finally:
        await close_resources(app)


async def test_openapi_json_is_served_without_authentication(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200, response.text
    assert response.json() == document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def assert_error_response(operation: dict[str, Any], status: str, where: str) -> None:
    responses = operation["responses"]
    assert status in responses, f"{where} does not document {status}"
    schema = responses[status]["content"]["application/json"]["schema"]
    assert schema == {"$ref": ERROR_REF}, f"{where} {status}: {schema}"
    assert responses[status]["description"]


async def test_document_describes_the_api(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Todo API"
    assert document["info"]["version"] == __version__
    assert document["info"]["description"].strip()
    expected = {
        ("get", "/api/health"),
        ("post", "/api/auth/signup"),
        ("post", "/api/auth/login"),
        ("post", "/api/auth/token"),
        ("get", "/api/auth/me"),
        ("patch", "/api/auth/me"),
        ("get", "/api/{user_id}/tasks"),
        ("post", "/api/{user_id}/tasks"),
        ("get", "/api/{user_id}/tasks/{task_id}"),
        ("put", "/api/{user_id}/tasks/{task_id}"),
        ("patch", "/api/{user_id}/tasks/{task_id}"),
        ("delete", "/api/{user_id}/tasks/{task_id}"),
        ("patch", "/api/{user_id}/tasks/{task_id}/complete"),
    }
    assert {(method, path) for method, path, _ in operations(document)} == expected


async def test_every_operation_has_summary_description_id_and_tags(
    document: dict[str, Any],
) -> None:
    ids = []
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        assert operation.get("summary", "").strip(), where
        assert operation.get("description", "").strip(), where
        assert operation.get("tags"), where
        assert CAMEL_CASE.fullmatch(operation.get("operationId", "")), where
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids)), sorted(ids)


async def test_error_model_is_the_envelope(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["ErrorBody"]

    assert set(schema["properties"]) == {"detail", "error_code", "field_errors", "request_id"}
    assert set(schema["required"]) == {"detail", "error_code", "request_id"}


async def test_security_scheme_is_oauth2_password_flow(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]

    assert len(schemes) == 1
    (scheme,) = schemes.values()
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/auth/token"


async def test_protected_operations_require_the_scheme_and_document_401_and_422(
    document: dict[str, Any],
) -> None:
    (scheme_name,) = document["components"]["securitySchemes"]
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        if (method, path) in PUBLIC:
            assert "security" not in operation, where
            continue
        assert operation.get("security") == [{scheme_name: []}], where
        assert_error_response(operation, "401", where)
        takes_input = bool(operation.get("parameters")) or "requestBody" in operation
        if takes_input:
            assert_error_response(operation, "422", where)


async def test_public_operations_document_their_errors(document: dict[str, Any]) -> None:
    paths = document["paths"]

    for route in ("/api/auth/signup", "/api/auth/login", "/api/auth/token"):
        assert_error_response(paths[route]["post"], "422", route)
    assert_error_response(paths["/api/auth/signup"]["post"], "409", "signup")
    assert_error_response(paths["/api/auth/login"]["post"], "401", "login")
    assert_error_response(paths["/api/auth/token"]["post"], "401", "token")
    assert "503" in paths["/api/health"]["get"]["responses"]


async def test_task_operations_document_403_404_and_412(document: dict[str, Any]) -> None:
    task_operations = [
        (method, path, operation)
        for method, path, operation in operations(document)
        if path.startswith("/api/{user_id}/tasks")
    ]
    assert len(task_operations) == 7
    for method, path, operation in task_operations:
        where = f"{method.upper()} {path}"
        assert_error_response(operation, "403", where)
        if "{task_id}" in path:
            assert_error_response(operation, "404", where)
        if method in {"put", "patch", "delete"}:
            assert_error_response(operation, "412", where)


async def test_path_parameters_come_in_the_order_of_the_path(document: dict[str, Any]) -> None:
    """Generated clients take path parameters positionally, in the document's
    order: ``getTask(userId, taskId)`` must not become ``getTask(taskId, userId)``."""
    for method, path, operation in operations(document):
        in_path = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        in_template = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        assert in_path == in_template, f"{method.upper()} {path}: {in_path}"


async def test_conditional_headers_are_documented_where_they_are_honoured(
    document: dict[str, Any],
) -> None:
    """The routes read ``If-Match`` and ``If-None-Match`` from the request
    themselves; the document still offers them to clients (api.md, ETags)."""
    for method, path, operation in operations(document):
        headers = {
            p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"
        }
        task_route = path.startswith("/api/{user_id}/tasks/{task_id}")
        expected = set()
        if task_route and method in {"put", "patch", "delete"}:
            expected = {"if-match"}
        if task_route and method == "get":
            expected = {"if-none-match"}
        assert headers == expected, f"{method.upper()} {path}: {headers}"


async def test_list_documents_each_query_parameter(document: dict[str, Any]) -> None:
    """The list validates its query string itself (``validated_query``); the
    document still lists every parameter with its constraints."""
    operation = document["paths"]["/api/{user_id}/tasks"]["get"]
    in_query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}

    assert list(in_query) == list(TaskQuery.model_fields)
    assert not any(p["required"] for p in in_query.values())
    assert in_query["status"]["schema"]["enum"] == ["all", "pending", "completed"]
    assert in_query["status"]["schema"]["default"] == "all"
    assert in_query["page_size"]["schema"]["maximum"] == 100
    assert in_query["tag"]["description"] == "Tasks carrying this tag."
    assert "$ref" not in str(in_query)


async def test_task_id_is_a_positive_integer_in_the_document(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/{user_id}/tasks/{task_id}"]["get"]
    (task_id,) = [p for p in operation["parameters"] if p["name"] == "task_id"]

    assert task_id["in"] == "path"
    assert task_id["schema"]["type"] == "integer"
    assert task_id["schema"]["minimum"] == 1


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_local_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html
    assert "https://" not in html
    urls = URL_IN_PAGE.findall(html)
    assert "/openapi.json" in urls, urls
    assert any(url.endswith(".js") for url in urls), urls
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = await client.get(url)
        assert asset.status_code == 200, f"{url}: {asset.status_code}"
        assert asset.content, url
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], url
            assert len(asset.content) > 10_000, url
        if url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css"), url


class TestDocsDisabled:
    """``DOCS_ENABLED=false`` removes the documents and the pages."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"docs_enabled": False}

    @pytest.mark.parametrize(
        "path",
        [
            "/docs",
            "/redoc",
            "/openapi.json",
            "/docs/oauth2-redirect",
            "/static-offline-docs/swagger-ui-bundle.js",
        ],
    )
    async def test_docs_routes_are_404(self, client: httpx.AsyncClient, path: str) -> None:
        response = await client.get(path)

        assert response.status_code == 404
        assert response.json()["error_code"] == "NOT_FOUND"

    async def test_api_still_works(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/health")

        assert response.status_code == 200
