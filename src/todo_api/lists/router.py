"""The six list routes of the API contract ("Lists"), under ``/api/{user_id}/lists``:
HTTP shape only.

As for tasks: authentication, the path owner check (403) and the API rate
limit are the router's ``user_guard``; ownership of each list lives in the
repository's statements (404 for another user's list).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request, Response, status

from todo_api.auth.dependencies import AuthenticatedRoute, user_guard
from todo_api.kit.conditional import Precondition, not_modified
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
from todo_api.lists import service
from todo_api.lists.repository import StoredList
from todo_api.lists.schemas import (
    ListCreate,
    ListEnvelope,
    ListId,
    ListMove,
    ListPage,
    ListQuery,
    ListUpdate,
)
from todo_api.lists.service import list_etag
from todo_api.resources import resources

DOCS = ResourceDocs(
    "list",
    '"7.3.12.5"',
    "/api/3kQx9mW2pL7vN4rT8yB1cF6hJ0dS5aGe/lists/7",
    etag_note=" (it changes with the list's counts too)",
)
CONDITIONAL_WRITE = DOCS.conditional_write(ListEnvelope)

router = APIRouter(
    prefix="/api/{user_id}/lists",
    tags=["lists"],
    route_class=AuthenticatedRoute,
    dependencies=[Depends(user_guard)],
    responses=COMMON_ERRORS,
)

ListIdPath = Annotated[ListId, Path(description="The list's id.")]


def _database(request: Request) -> Database:
    return resources(request).database


def _precondition(request: Request) -> Precondition:
    return Precondition(request.headers.get("if-match"))


def _list_response(stored: StoredList, status_code: int = status.HTTP_200_OK) -> Response:
    """``{"data": list}`` with the list's ``ETag``."""
    return json_response({"data": stored.fields}, status_code, ETag=list_etag(stored))


@router.get(
    "",
    operation_id="listLists",
    summary="List lists",
    description=(
        "A page of the user's lists in manual order (`position`, then `id`), the inbox "
        "among them, each with its task counts."
    ),
    response_model=ListPage,
    openapi_extra=query_parameters(ListQuery),
)
async def list_lists(request: Request, user_id: str) -> Response:
    query = validated_query(ListQuery, request)
    lists, total = await service.list_lists(
        _database(request), user_id, query.page, query.page_size
    )
    return json_response(page_body(lists, total, query.page, query.page_size))


@router.post(
    "",
    operation_id="createList",
    summary="Create a list",
    description="Creates a list, last in the user's order. Answers with `Location` and `ETag`.",
    status_code=status.HTTP_201_CREATED,
    response_model=ListEnvelope,
    responses=DOCS.created(),
)
async def create_list(request: Request, user_id: str, body: ListCreate) -> Response:
    stored = await service.create_list(_database(request), user_id, body.name)
    response = _list_response(stored, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/{user_id}/lists/{stored.id}"
    return response


@router.get(
    "/{list_id}",
    operation_id="getList",
    summary="Get a list",
    description="One list with its counts and `ETag`. `If-None-Match` with it gives 304.",
    **DOCS.conditional_get(ListEnvelope),
)
async def get_list(request: Request, user_id: str, list_id: ListIdPath) -> Response:
    stored = await service.get_list(_database(request), user_id, list_id)
    etag = list_etag(stored)
    if not_modified(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    return _list_response(stored)


@router.patch(
    "/{list_id}",
    operation_id="updateList",
    summary="Rename a list",
    description="Changes the list's `name`. Honours `If-Match`.",
    **CONDITIONAL_WRITE,
)
async def update_list(
    request: Request, user_id: str, list_id: ListIdPath, body: ListUpdate
) -> Response:
    stored = await service.rename_list(
        _database(request), user_id, list_id, body.name, _precondition(request)
    )
    return _list_response(stored)


@router.delete(
    "/{list_id}",
    operation_id="deleteList",
    summary="Delete a list and its tasks",
    description=(
        "Deletes the list **and its tasks**. The inbox cannot be deleted (409 `CONFLICT`). "
        "Honours `If-Match`."
    ),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        **DOCS.not_found,
        409: error_doc("The list is the inbox, which cannot be deleted (`CONFLICT`)."),
        **DOCS.precondition,
    },
    openapi_extra=DOCS.if_match,
)
async def delete_list(request: Request, user_id: str, list_id: ListIdPath) -> Response:
    await service.delete_list(_database(request), user_id, list_id, _precondition(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{list_id}/move",
    operation_id="moveList",
    summary="Reorder a list",
    description=(
        "`after_id` one of the user's other lists puts this one right after it; `null` puts "
        "it first; omitted (or no body), last. Writes this list alone. Honours `If-Match`."
    ),
    **CONDITIONAL_WRITE,
)
async def move_list(
    request: Request,
    user_id: str,
    list_id: ListIdPath,
    body: Annotated[ListMove | None, Body()] = None,
) -> Response:
    body = body or ListMove()
    after_id = body.after_id if "after_id" in body.model_fields_set else LAST
    stored = await service.move_list(
        _database(request), user_id, list_id, after_id, _precondition(request)
    )
    return _list_response(stored)
