"""The OpenAPI document and the offline docs pages (api.md "Authentication", operations.md).

Clients generate code from ``/openapi.json``, so every operation is described,
named and tagged, and its error statuses are documented with the envelope.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any, get_args

import httpx
import pytest

from tests.conftest import make_settings
from todo_api import __version__
from todo_api.kit.errors import ApiError, ErrorCode
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
        ("delete", "/api/auth/me"),
        ("get", "/api/{user_id}/tasks"),
        ("post", "/api/{user_id}/tasks"),
        ("get", "/api/{user_id}/tasks/{task_id}"),
        ("put", "/api/{user_id}/tasks/{task_id}"),
        ("patch", "/api/{user_id}/tasks/{task_id}"),
        ("delete", "/api/{user_id}/tasks/{task_id}"),
        ("patch", "/api/{user_id}/tasks/{task_id}/complete"),
        ("post", "/api/{user_id}/tasks/{task_id}/move"),
        ("get", "/api/{user_id}/lists"),
        ("post", "/api/{user_id}/lists"),
        ("get", "/api/{user_id}/lists/{list_id}"),
        ("patch", "/api/{user_id}/lists/{list_id}"),
        ("delete", "/api/{user_id}/lists/{list_id}"),
        ("post", "/api/{user_id}/lists/{list_id}/move"),
        ("get", "/api/{user_id}/tags"),
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
    field_errors = schema["properties"]["field_errors"]
    assert field_errors["type"] == "object", "absent when there are none, never null"
    assert "anyOf" not in field_errors
    assert "default" not in field_errors


CONTRACT_ERROR_CODES = [
    "BAD_REQUEST",
    "UNAUTHORIZED",
    "INVALID_CREDENTIALS",
    "FORBIDDEN",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "EMAIL_TAKEN",
    "CONFLICT",
    "CURSOR_EXPIRED",
    "PRECONDITION_FAILED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "VALIDATION_ERROR",
    "IDEMPOTENCY_KEY_REUSED",
    "RATE_LIMITED",
    "INTERNAL_ERROR",
    "SERVICE_UNAVAILABLE",
]
"""The codes of api.md's table ("Conventions"), in its order."""


def _subclasses(cls: type[ApiError]) -> Iterator[type[ApiError]]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


async def test_error_code_is_an_enum_of_the_contracts_codes(document: dict[str, Any]) -> None:
    """A generated client switches on ``error_code`` as a union of these codes."""
    error_code = document["components"]["schemas"]["ErrorBody"]["properties"]["error_code"]

    assert error_code["type"] == "string"
    assert error_code["enum"] == CONTRACT_ERROR_CODES
    assert list(get_args(ErrorCode)) == CONTRACT_ERROR_CODES
    raised = {error.error_code for error in [ApiError, *_subclasses(ApiError)]}
    assert raised <= set(CONTRACT_ERROR_CODES), raised - set(CONTRACT_ERROR_CODES)


async def test_schema_names_read_well_in_generated_clients(document: dict[str, Any]) -> None:
    """``components["schemas"]["Task"]``, not ``TaskPublic`` or ``Body_issueToken``."""
    schemas = document["components"]["schemas"]
    names = set(schemas)

    assert {"Task", "TaskCreate", "TaskUpdate", "TaskPage", "User", "TokenRequest"} <= names
    assert not [name for name in names if name.startswith("Body_") or name.endswith("Public")]
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", name) for name in names), names
    paths = document["paths"]
    page = paths["/api/{user_id}/tasks"]["get"]["responses"]["200"]
    assert page["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TaskPage"
    }
    assert schemas["TaskEnvelope"]["properties"]["data"] == {"$ref": "#/components/schemas/Task"}
    token = paths["/api/auth/token"]["post"]["requestBody"]["content"]
    assert token == {
        "application/x-www-form-urlencoded": {
            "schema": {"$ref": "#/components/schemas/TokenRequest"}
        }
    }
    assert schemas["TokenRequest"]["required"] == ["username", "password"]


def _request_body_schemas(document: dict[str, Any]) -> set[str]:
    """The component schemas that are some operation's request body."""
    names = set()
    for _, _, operation in operations(document):
        for content in operation.get("requestBody", {}).get("content", {}).values():
            for ref in re.findall(r"#/components/schemas/(\w+)", str(content["schema"])):
                names.add(ref)
    return names


async def test_request_body_fields_with_defaults_are_optional(document: dict[str, Any]) -> None:
    """openapi-typescript types a property with a ``default`` as always present: request
    bodies say their defaults in words, so a client may create a task with a title alone."""
    schemas = document["components"]["schemas"]
    bodies = _request_body_schemas(document)

    assert {"TaskCreate", "TaskUpdate", "CompleteRequest", "TokenRequest"} <= bodies
    for name in bodies:
        for field, schema in schemas[name]["properties"].items():
            assert "default" not in schema, f"{name}.{field}: {schema}"
    task_create = schemas["TaskCreate"]
    assert task_create["required"] == ["title"]
    assert task_create["properties"]["completed"]["description"] == "Default: `false`."
    assert task_create["properties"]["priority"]["description"] == 'Default: `"medium"`.'
    assert task_create["properties"]["tags"]["description"] == "Default: `[]`."


async def test_task_update_offers_null_only_where_it_clears(document: dict[str, Any]) -> None:
    """``null`` is 422 for ``title``, ``completed``, ``priority`` and ``tags`` (api.md,
    "Details"): their schemas do not offer it; ``description`` and ``due_date`` do."""
    properties = document["components"]["schemas"]["TaskUpdate"]["properties"]

    for field in ("title", "completed", "priority", "tags"):
        assert "null" not in str(properties[field]), f"{field}: {properties[field]}"
        assert "anyOf" not in properties[field], field
    assert properties["title"]["maxLength"] == 200
    assert properties["priority"] == {"$ref": "#/components/schemas/Priority"}
    for field in ("description", "due_date"):
        assert {"type": "null"} in properties[field]["anyOf"], field


async def test_task_responses_declare_etag_and_location(document: dict[str, Any]) -> None:
    """api.md "Tasks": create answers with ``Location`` and ``ETag``, a read or a write of
    one task with ``ETag``; declared required, so generated types have them."""
    paths = document["paths"]
    task = "/api/{user_id}/tasks/{task_id}"
    expected = {
        ("post", "/api/{user_id}/tasks", "201"): {"Location", "ETag"},
        ("get", task, "200"): {"ETag"},
        ("get", task, "304"): {"ETag"},
        ("put", task, "200"): {"ETag"},
        ("patch", task, "200"): {"ETag"},
        ("patch", f"{task}/complete", "200"): {"ETag"},
    }
    for (method, path, status), names in expected.items():
        headers = paths[path][method]["responses"][status].get("headers", {})
        where = f"{method.upper()} {path} {status}"
        assert set(headers) == names, where
        for name, header in headers.items():
            assert header["required"] is True, f"{where} {name}"
            assert header["schema"]["type"] == "string", f"{where} {name}"
            assert header["description"], f"{where} {name}"


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


async def test_task_and_list_operations_document_403_404_409_and_412(
    document: dict[str, Any],
) -> None:
    user_operations = [
        (method, path, operation)
        for method, path, operation in operations(document)
        if path.startswith(("/api/{user_id}/tasks", "/api/{user_id}/lists"))
    ]
    assert len(user_operations) == 8 + 6
    for method, path, operation in user_operations:
        where = f"{method.upper()} {path}"
        assert_error_response(operation, "403", where)
        if "{task_id}" in path or "{list_id}" in path:
            assert_error_response(operation, "404", where)
        if method in {"put", "patch", "delete"} or path.endswith("/move"):
            assert_error_response(operation, "412", where)
    deleting_a_list = document["paths"]["/api/{user_id}/lists/{list_id}"]["delete"]
    assert_error_response(deleting_a_list, "409", "DELETE /api/{user_id}/lists/{list_id}")


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
        one_resource = path.startswith(
            ("/api/{user_id}/tasks/{task_id}", "/api/{user_id}/lists/{list_id}")
        )
        expected = set()
        if one_resource and (method in {"put", "patch", "delete"} or path.endswith("/move")):
            expected = {"if-match"}
        if one_resource and method == "get":
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
    assert in_query["tag"]["description"].startswith("Tasks carrying this tag;")
    assert in_query["tag"]["schema"]["maxItems"] == 10
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
