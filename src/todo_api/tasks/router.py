"""The eight task routes of the API contract ("Tasks"), all under ``/api/{user_id}/tasks``:
HTTP shape only.

Authentication, the path owner check (403) and the API rate limit are one
dependency on the router, ``user_guard``; ownership of each task lives in
the repository's statements (404 for another user's task).

The routes declare their path parameters and body, and read the rest from
the request: the database from the app's resources; the conditional headers
``If-Match`` and ``If-None-Match``, which carry no validation; the list's
query string, validated as ``TaskQuery`` (``validated_query``). The last two
are documented with ``openapi_extra``: FastAPI solves each declared
dependency or parameter per request (docs/design.md, "The hot path declares
only what clients send").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request, Response, status

from todo_api.auth.dependencies import AuthenticatedRoute, user_guard
from todo_api.kit.columns import MAX_INT64
from todo_api.kit.conditional import Precondition, entity_tag, not_modified
from todo_api.kit.database import Database
from todo_api.kit.errors import error_doc
from todo_api.kit.pagination import page_body
from todo_api.kit.positions import LAST
from todo_api.kit.resource_docs import COMMON_ERRORS, ResourceDocs
from todo_api.kit.routing import (
    json_response,
    query_parameters,
    validated_query,
)
from todo_api.kit.text import DECIMAL_DIGITS
from todo_api.resources import resources
from todo_api.tasks import service
from todo_api.tasks.repository import StoredTask
from todo_api.tasks.schemas import (
    CompleteRequest,
    TaskCreate,
    TaskEnvelope,
    TaskMove,
    TaskPage,
    TaskQuery,
    TaskUpdate,
)

DOCS = ResourceDocs("task", '"42.1"', "/api/3kQx9mW2pL7vN4rT8yB1cF6hJ0dS5aGe/tasks/42")
CONDITIONAL_WRITE = DOCS.conditional_write(TaskEnvelope)
MOVED_MEANWHILE = {
    409: error_doc("The task kept being moved by other requests meanwhile (`CONFLICT`); retry.")
}
"""What the routes that write a task under ``If-Match`` and answer with it declare."""

router = APIRouter(
    prefix="/api/{user_id}/tasks",
    tags=["tasks"],
    route_class=AuthenticatedRoute,
    dependencies=[Depends(user_guard)],
    responses=COMMON_ERRORS,
)

TaskId = Annotated[int, Path(ge=1, le=MAX_INT64, description="The task's id."), DECIMAL_DIGITS]


def _database(request: Request) -> Database:
    return resources(request).database


def _precondition(request: Request) -> Precondition:
    return Precondition(request.headers.get("if-match"))


def _task_response(stored: StoredTask, status_code: int = status.HTTP_200_OK) -> Response:
    """``{"data": task}`` with the task's ``ETag``."""
    return json_response(
        {"data": stored.fields}, status_code, ETag=entity_tag(stored.id, stored.version)
    )


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
    found = resources(request)
    tasks, total, next_cursor = await service.list_tasks(
        found.database, user_id, query, found.cursors
    )
    body = page_body(tasks, total, query.page, query.page_size)
    return json_response({**body, "next_cursor": next_cursor})


@router.post(
    "",
    operation_id="createTask",
    summary="Create a task",
    description="Creates a task. Answers with `Location` and `ETag` headers.",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskEnvelope,
    responses=DOCS.created(),
)
async def create_task(request: Request, user_id: str, body: TaskCreate) -> Response:
    stored = await service.create_task(_database(request), user_id, body)
    response = _task_response(stored, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/{user_id}/tasks/{stored.id}"
    return response


@router.get(
    "/{task_id}",
    operation_id="getTask",
    summary="Get a task",
    description="One task, with its `ETag`. `If-None-Match` with the current ETag gives 304.",
    **DOCS.conditional_get(TaskEnvelope),
)
async def get_task(request: Request, user_id: str, task_id: TaskId) -> Response:
    stored = await service.get_task(_database(request), user_id, task_id)
    etag = entity_tag(stored.id, stored.version)
    if not_modified(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    return _task_response(stored)


@router.put(
    "/{task_id}",
    operation_id="replaceTask",
    summary="Replace a task",
    description=(
        "Full replacement: `title` is required and omitted optional fields return to their "
        "defaults. Idempotent. Honours `If-Match`."
    ),
    **CONDITIONAL_WRITE,
)
async def replace_task(
    request: Request, user_id: str, task_id: TaskId, body: TaskCreate
) -> Response:
    database, precondition = _database(request), _precondition(request)
    stored = await service.write_task(database, user_id, task_id, body, precondition)
    return _task_response(stored)


@router.patch(
    "/{task_id}",
    operation_id="updateTask",
    summary="Update a task",
    description=(
        "Partial update: only the fields sent change; `null` clears `description` or "
        "`due_date`. Honours `If-Match`."
    ),
    **CONDITIONAL_WRITE,
)
async def update_task(
    request: Request, user_id: str, task_id: TaskId, body: TaskUpdate
) -> Response:
    database, precondition = _database(request), _precondition(request)
    stored = await service.write_task(database, user_id, task_id, body, precondition)
    return _task_response(stored)


@router.delete(
    "/{task_id}",
    operation_id="deleteTask",
    summary="Delete a task",
    description="Deletes the task. A second DELETE of the same id is 404. Honours `If-Match`.",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**DOCS.not_found, **DOCS.precondition},
    openapi_extra=DOCS.if_match,
)
async def delete_task(request: Request, user_id: str, task_id: TaskId) -> Response:
    await service.delete_task(_database(request), user_id, task_id, _precondition(request))
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
    **CONDITIONAL_WRITE,
)
async def complete_task(
    request: Request,
    user_id: str,
    task_id: TaskId,
    body: Annotated[CompleteRequest | None, Body()] = None,
) -> Response:
    completed = body.completed if body is not None else None
    stored = await service.complete_task(
        _database(request), user_id, task_id, completed, _precondition(request)
    )
    return _task_response(stored)


@router.post(
    "/{task_id}/move",
    operation_id="moveTask",
    summary="Move a task",
    description=(
        "Moves the task to another list, under another parent (`null`: top level) or to "
        "another place among its siblings. `list_id` and `parent_id` default to where it "
        "is; `after_id` a sibling there puts it right after that sibling, `null` first, "
        "omitted last (no body: last where it is). Subtasks follow their parent to another "
        "list; a subtask sent to another list without `parent_id` joins its top level. "
        "Writes the task alone, however long the list. Honours `If-Match`."
    ),
    **{
        **CONDITIONAL_WRITE,
        "responses": {**CONDITIONAL_WRITE["responses"], **MOVED_MEANWHILE},
    },
)
async def move_task(
    request: Request,
    user_id: str,
    task_id: TaskId,
    body: Annotated[TaskMove | None, Body()] = None,
) -> Response:
    body = body or TaskMove()
    sent = body.model_fields_set
    destination = service.Destination(
        list_id=body.list_id,
        parent_id=body.parent_id if "parent_id" in sent else service.KEEP,
        after_id=body.after_id if "after_id" in sent else LAST,
    )
    stored = await service.move_task(
        _database(request), user_id, task_id, destination, _precondition(request)
    )
    return _task_response(stored)
