"""The task routes' one dependency: the authorized owner of ``/api/{user_id}/tasks``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from todo_api.auth.deps import AuthenticatedRoute, authorize_path_owner, oauth2_scheme


@dataclass(frozen=True, slots=True)
class TaskOwner:
    """The caller, authorized as the path's ``{user_id}``, and the engine of their tasks."""

    user_id: str
    engine: AsyncEngine


async def authorize_task_owner(
    request: Request, user_id: str, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> TaskOwner:
    """Authorize the caller for ``/api/{user_id}/tasks...`` (``authorize_path_owner``).

    One dependency gives a task route its authorization, the owner's id and
    the engine: FastAPI solves every parameter and sub-dependency on every
    request, and these were 6 % of a get's CPU as three (docs/benchmarks.md).

    Raises:
        Unauthorized: no valid bearer token (401).
        Forbidden: the path ``{user_id}`` is not the token's ``sub`` (403).
        RateLimited: the user is over ``RATE_LIMIT_API`` (429).
    """
    principal = await authorize_path_owner(request, user_id, token)
    return TaskOwner(user_id=principal.user_id, engine=request.app.state.engine)


OwnerDep = Annotated[TaskOwner, Depends(authorize_task_owner)]


class TaskRoute(AuthenticatedRoute):
    """A route of the task router that cannot be declared without ``OwnerDep``.

    Secure by default: a task route that forgot its owner check would serve
    one user's tasks to another, so declaring one is a ``TypeError`` at import.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if not any(d.call is authorize_task_owner for d in self.dependant.dependencies):
            raise TypeError(f"task route {path} {self.methods} must take an OwnerDep")
