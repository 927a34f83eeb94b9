"""``GET /api/health``: a real database round trip, for load balancers.

The one route whose error body is not the envelope (the API contract, "Health").
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from todo_api import __version__
from todo_api.kit.errors import DATABASE_RETRY_AFTER_SECONDS
from todo_api.resources import resources

HEALTH_TIMEOUT_SECONDS = 5.0


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    version: str


router = APIRouter(tags=["health"])


@router.get(
    "/api/health",
    operation_id="getHealth",
    summary="Health check",
    description=(
        "200 when the database answers; 503 with `Retry-After` when it does not. No authentication."
    ),
    response_model=Health,
    responses={503: {"model": Health, "description": "The database is unreachable."}},
)
async def health(request: Request) -> JSONResponse:
    if await resources(request).database.ping(HEALTH_TIMEOUT_SECONDS):
        body = Health(status="ok", database="ok", version=__version__)
        return JSONResponse(body.model_dump())
    body = Health(status="degraded", database="unreachable", version=__version__)
    return JSONResponse(
        body.model_dump(),
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )
