"""The tag picker route of the API contract ("Tags"), ``GET /api/{user_id}/tags``:
HTTP shape only.

Authentication, the path owner check (403) and the API rate limit are one
dependency on the router, ``user_guard``, as for the task routes; the owner
filter lives in the repository's statement. The query string is read from the
request and validated as ``TagQuery`` (``validated_query``), and documented
with ``openapi_extra`` (docs/design.md, "The hot path declares only what
clients send").
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from todo_api.auth.dependencies import AuthenticatedRoute, user_guard
from todo_api.kit.database import Database
from todo_api.kit.pagination import page_body
from todo_api.kit.resource_docs import COMMON_ERRORS
from todo_api.kit.routing import json_response, query_parameters, validated_query
from todo_api.resources import resources
from todo_api.tags import service
from todo_api.tags.schemas import TagPage, TagQuery

router = APIRouter(
    prefix="/api/{user_id}/tags",
    tags=["tags"],
    route_class=AuthenticatedRoute,
    dependencies=[Depends(user_guard)],
    responses=COMMON_ERRORS,
)


def _database(request: Request) -> Database:
    return resources(request).database


@router.get(
    "",
    operation_id="listTags",
    summary="List tags",
    description=(
        "A page of the tags that at least one of the user's tasks carries, sorted by "
        "name, each with `task_count`, the number of the user's tasks that carry it. "
        "`total` counts all such tags. A tag no task carries any more is not listed. "
        "A page past the end is an empty `data` with the true `total`."
    ),
    response_model=TagPage,
    openapi_extra=query_parameters(TagQuery),
)
async def list_tags(request: Request, user_id: str) -> Response:
    query = validated_query(TagQuery, request)
    tags, total = await service.list_tags(_database(request), user_id, query)
    return json_response(page_body(tags, total, query.page, query.page_size))
