"""The seven task routes of api.md ("Tasks"), all under ``/api/{user_id}/tasks``.

Authentication, the path owner check (403) and the rate limit are one
dependency on the router, ``path_owner``; ownership of each task lives in
the service's queries (404 for another user's task).

The routes declare their path parameters and body, and read the rest from
the request: the engine from ``app.state``; the conditional headers
``If-Match`` and ``If-None-Match``, which carry no validation; the list's
query string, validated as ``TaskQuery`` (``validated_query``). The last two
are documented with ``openapi_extra``. FastAPI solves each declared
dependency or parameter per request, 5 % of a get's instructions each, and
its extraction of a query model was 14 % of a list's samples
(docs/benchmarks.md, "Before and after" and "Where the time goes now").
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from todo_api.auth.deps import AuthenticatedRoute, path_owner
from todo_api.db import app_engine
from todo_api.errors import error_doc
from todo_api.tasks import service
from todo_api.tasks.models import (
    MAX_INT64,
    CompleteRequest,
    TaskCreate,
    TaskEnvelope,
    TaskPage,
    TaskQuery,
    TaskUpdate,
)
from todo_api.tasks.service import StoredTask, etag_matches

COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_doc("Missing, malformed or expired token (`UNAUTHORIZED`)."),
    403: error_doc("The path's `user_id` is not the token's subject (`FORBIDDEN`)."),
    422: error_doc("A field failed validation (`VALIDATION_ERROR`); see `field_errors`."),
    429: error_doc("Over the rate limit (`RATE_LIMITED`); see `Retry-After`."),
    503: error_doc("The database is unreachable (`SERVICE_UNAVAILABLE`); see `Retry-After`."),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: error_doc("No such task for this user (`NOT_FOUND`).")
}
PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: error_doc("`If-Match` does not match the task's current ETag (`PRECONDITION_FAILED`).")
}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    413: error_doc("Body over the size limit (`PAYLOAD_TOO_LARGE`)."),
    415: error_doc("Body is not JSON (`UNSUPPORTED_MEDIA_TYPE`)."),
}
ETAG_HEADER: dict[str, Any] = {
    "ETag": {"description": "Strong validator of this task.", "schema": {"type": "string"}}
}

router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    route_class=AuthenticatedRoute,
    dependencies=[Depends(path_owner)],
    responses=COMMON_ERRORS,
)

TaskId = Annotated[int, Path(ge=1, le=MAX_INT64, description="The task's id.")]


def _header_parameter(name: str, description: str) -> dict[str, Any]:
    """``openapi_extra`` that documents an optional request header the route reads itself."""
    parameter = {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }
    return {"parameters": [parameter]}


IF_MATCH = _header_parameter(
    "If-Match", "Write only if the task's ETag is still this one (else 412)."
)
IF_NONE_MATCH = _header_parameter(
    "If-None-Match", "Answer 304 without a body if the task's ETag is one of these."
)


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` that documents ``model``'s fields as query parameters.

    For a route that validates its query string itself (``validated_query``):
    one parameter per field, as FastAPI would list a declared query model,
    with each field's schema and the definitions it refers to (enums) written
    in place. For flat models: a definition that refers to itself would not
    end.
    """
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            here = {key: inline(value) for key, value in node.items() if key != "$ref"}
            if "$ref" in node:  # the definition, with what sits beside the reference
                return {**inline(definitions[node["$ref"].rsplit("/", 1)[-1]]), **here}
            return here
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        parameter = {"name": name, "in": "query", "required": name in required}
        if "description" in field:
            parameter["description"] = field["description"]
        parameters.append({**parameter, "schema": inline(field)})
    return {"parameters": parameters}


def validated_query[Model: BaseModel](model: type[Model], request: Request) -> Model:
    """The request's query string validated as ``model`` (last value of a repeated name).

    What FastAPI does for ``Annotated[Model, Query()]`` with fields that take
    one value each (a list-typed field would get only the last value),
    without its per-field extraction, which was 14 % of a list request's
    samples (docs/benchmarks.md, "Where the time goes now").

    Raises:
        RequestValidationError: a parameter is invalid; locations are
            ``("query", name)``, as FastAPI's own (422 ``VALIDATION_ERROR``).
    """
    try:
        return model.model_validate(request.query_params)
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


def _json(body: Any, status_code: int = status.HTTP_200_OK, **headers: str) -> Response:
    """``body`` as JSON, serialised once with orjson (UTC times end in ``Z``).

    Skips FastAPI's second validation against the response model
    (docs/benchmarks.md); the shapes are the declared models', and the
    schemathesis test holds every response to them.
    """
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z),
        status_code=status_code,
        headers=headers or None,
        media_type="application/json",
    )


def _task_response(stored: StoredTask, status_code: int = status.HTTP_200_OK) -> Response:
    """``{"data": task}`` with the task's ``ETag``."""
    return _json({"data": stored.fields}, status_code, ETag=stored.etag)


@router.get(
    "",
    operation_id="listTasks",
    summary="List tasks",
    description=(
        "A page of the user's tasks, filtered, searched and sorted. `total` counts all "
        "matches. Ties are broken by `id` in the direction of `order`; tasks without a "
        "`due_date` sort last. A page past the end is an empty `data` with the true `total`."
    ),
    response_model=TaskPage,
    openapi_extra=query_parameters(TaskQuery),
)
async def list_tasks(request: Request, user_id: str) -> Response:
    query = validated_query(TaskQuery, request)
    tasks, total = await service.list_tasks(app_engine(request), user_id, query)
    return _json({"data": tasks, "total": total, "page": query.page, "page_size": query.page_size})


@router.post(
    "",
    operation_id="createTask",
    summary="Create a task",
    description="Creates a task. Answers with `Location` and `ETag` headers.",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskEnvelope,
    responses={
        201: {
            "headers": {
                "Location": {"description": "URL of the new task.", "schema": {"type": "string"}},
                **ETAG_HEADER,
            }
        },
        **BODY_ERRORS,
    },
)
async def create_task(request: Request, user_id: str, body: TaskCreate) -> Response:
    stored = await service.create_task(app_engine(request), user_id, body)
    response = _task_response(stored, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/{user_id}/tasks/{stored.id}"
    return response


@router.get(
    "/{task_id}",
    operation_id="getTask",
    summary="Get a task",
    description="One task, with its `ETag`. `If-None-Match` with the current ETag gives 304.",
    response_model=TaskEnvelope,
    responses={200: {"headers": ETAG_HEADER}, 304: {"description": "Not modified."}, **NOT_FOUND},
    openapi_extra=IF_NONE_MATCH,
)
async def get_task(request: Request, user_id: str, task_id: TaskId) -> Response:
    stored = await service.get_task(app_engine(request), user_id, task_id)
    if etag_matches(request.headers.get("if-none-match"), stored.etag, weak=True):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": stored.etag})
    return _task_response(stored)


@router.put(
    "/{task_id}",
    operation_id="replaceTask",
    summary="Replace a task",
    description=(
        "Full replacement: `title` is required and omitted optional fields return to their "
        "defaults. Idempotent. Honours `If-Match`."
    ),
    response_model=TaskEnvelope,
    responses={200: {"headers": ETAG_HEADER}, **NOT_FOUND, **PRECONDITION, **BODY_ERRORS},
    openapi_extra=IF_MATCH,
)
async def replace_task(
    request: Request, user_id: str, task_id: TaskId, body: TaskCreate
) -> Response:
    stored = await service.replace_task(
        app_engine(request), user_id, task_id, body, request.headers.get("if-match")
    )
    return _task_response(stored)


@router.patch(
    "/{task_id}",
    operation_id="updateTask",
    summary="Update a task",
    description=(
        "Partial update: only the fields sent change; `null` clears `description` or "
        "`due_date`. Honours `If-Match`."
    ),
    response_model=TaskEnvelope,
    responses={200: {"headers": ETAG_HEADER}, **NOT_FOUND, **PRECONDITION, **BODY_ERRORS},
    openapi_extra=IF_MATCH,
)
async def update_task(
    request: Request, user_id: str, task_id: TaskId, body: TaskUpdate
) -> Response:
    stored = await service.update_task(
        app_engine(request), user_id, task_id, body, request.headers.get("if-match")
    )
    return _task_response(stored)


@router.delete(
    "/{task_id}",
    operation_id="deleteTask",
    summary="Delete a task",
    description="Deletes the task. A second DELETE of the same id is 404. Honours `If-Match`.",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**NOT_FOUND, **PRECONDITION},
    openapi_extra=IF_MATCH,
)
async def delete_task(request: Request, user_id: str, task_id: TaskId) -> Response:
    await service.delete_task(
        app_engine(request), user_id, task_id, request.headers.get("if-match")
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "/{task_id}/complete",
    operation_id="completeTask",
    summary="Toggle or set completion",
    description=(
        'Without a body, toggles `completed`. With `{"completed": true|false}`, sets it '
        "(idempotent). `completed_at` is set when the task becomes completed and cleared "
        "when it is reopened. Honours `If-Match`."
    ),
    response_model=TaskEnvelope,
    responses={200: {"headers": ETAG_HEADER}, **NOT_FOUND, **PRECONDITION, **BODY_ERRORS},
    openapi_extra=IF_MATCH,
)
async def complete_task(
    request: Request,
    user_id: str,
    task_id: TaskId,
    body: Annotated[CompleteRequest | None, Body()] = None,
) -> Response:
    completed = body.completed if body is not None else None
    stored = await service.complete_task(
        app_engine(request), user_id, task_id, completed, request.headers.get("if-match")
    )
    return _task_response(stored)
