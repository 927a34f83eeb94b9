# ruff: noqa: S608 (the baseline is SQL strings on purpose; every value is a bound parameter)
"""The benchmark's baseline: the same four task routes in as little code as is honest.

A minimal Starlette app with an asyncpg pool and orjson. It is the reference
the service is measured against (bench/run.py), not a product: it uses SQL
strings, validates only what the benchmark sends, and has no middleware. It
does the work every implementation of the contract must do:

* verifies the HS256 bearer token with PyJWT on every request (no cache),
  ``sub`` and ``exp`` required, 30 s leeway, under ``BETTER_AUTH_SECRET``;
* checks the owner: path ``user_id`` must equal ``sub``, else 403;
* runs the statements the service sends (src/todo_api/tasks/service.py),
  written out as SQL:
  - list: one statement, the page (same filters, order, ``LIMIT``/``OFFSET``)
    joined to its tags, ``total`` summed from the user's ``task_counts``
    rows (kept by triggers) when the only filter is ``status``, else from a
    ``count(*)`` subquery; the total alone only for an empty page past the
    first;
  - get: one statement, the task joined to its tags;
  - create (with tags), one statement of data-modifying CTEs: insert the
    task, top level in the user's inbox and last there (the ``position``
    column's default), its missing tags (sorted, ``ON CONFLICT DO
    UPDATE``), its links;
  - complete (toggle), one statement: the task and its tags ``FOR UPDATE OF
    tasks``, then ``UPDATE``;
* answers with the same JSON (``{"data": [...], "total", "page",
  "page_size"}``, ``{"data": task}``), times in RFC 3339 UTC with ``Z``, the
  ``ETag`` (and ``Location`` on create) headers.

Reads run without an explicit transaction, as the service's do (one
statement is one snapshot).

Run: ``DATABASE_URL=... BETTER_AUTH_SECRET=... uv run uvicorn app:app
--app-dir bench/baseline --workers 1``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

LEEWAY_SECONDS = 30
PRIORITY_NAMES = {1: "low", 2: "medium", 3: "high"}
PRIORITY_RANKS = {name: rank for rank, name in PRIORITY_NAMES.items()}

TASK_COLUMNS = (
    "tasks.id, tasks.user_id, tasks.list_id, tasks.parent_id, tasks.position, "
    "tasks.title, tasks.description, tasks.completed, "
    "tasks.completed_at, tasks.priority, tasks.due_date, tasks.created_at, "
    "tasks.updated_at, tasks.version"
)
PAGE_COLUMNS = TASK_COLUMNS.replace("tasks.", "page.")
WITH_TAGS = (
    "LEFT OUTER JOIN task_tags ON task_tags.task_id = {0}.id "
    "LEFT OUTER JOIN tags ON tags.id = task_tags.tag_id"
)
GET_TASK = (
    f"SELECT {TASK_COLUMNS}, tags.name AS tag FROM tasks {WITH_TAGS.format('tasks')} "
    "WHERE tasks.id = $1 AND tasks.user_id = $2 ORDER BY task_tags.position"
)
INSERT_TASK = (
    "INSERT INTO tasks (user_id, list_id, title, description, completed, completed_at, "
    "priority, due_date, version, created_at, updated_at) "
    "VALUES ($1::varchar, (SELECT id FROM lists WHERE user_id = $1 AND is_inbox), "
    f"$2, $3, $4, $5, $6, $7, 1, $8, $8) RETURNING {TASK_COLUMNS}"
)
"""A new task, top level in the user's inbox, last there (``position``'s column default).
``$1::varchar``: else the subquery's ``user_id = $1`` deduces ``text`` first, against the
column's ``varchar`` (``inconsistent types deduced for parameter $1``)."""
CREATE_TAGGED_TASK = (
    f"WITH task AS ({INSERT_TASK}), "
    "existing AS (SELECT id, name FROM tags WHERE user_id = $1 AND name = ANY($9::varchar[])), "
    "created AS (INSERT INTO tags (user_id, name) SELECT $1, n.name "
    "FROM unnest($10::varchar[]) AS n(name) WHERE n.name NOT IN (SELECT name FROM existing) "
    "ON CONFLICT (user_id, name) DO UPDATE SET name = excluded.name RETURNING id, name), "
    "tag_ids AS (SELECT id, name FROM existing UNION ALL SELECT id, name FROM created), "
    "linked AS (INSERT INTO task_tags (task_id, tag_id, position) "
    "SELECT task.id, tag_ids.id, (w.ordinality - 1)::smallint FROM task JOIN tag_ids ON true "
    "JOIN unnest($9::varchar[]) WITH ORDINALITY AS w(name, ordinality) ON tag_ids.name = w.name) "
    "SELECT * FROM task"
)
"""The service's create with tags, one statement: the task, its missing tags, its links."""
OLD_TAGS = (
    "coalesce((SELECT array_agg(tags.name ORDER BY task_tags.position) FROM task_tags "
    "JOIN tags ON tags.id = task_tags.tag_id WHERE task_tags.task_id = tasks.id), '{}')"
)
WRITE_COMPLETED = (
    f"WITH old AS (SELECT {TASK_COLUMNS}, {OLD_TAGS} AS tags FROM tasks "
    "WHERE tasks.id = $1 AND tasks.user_id = $2 FOR UPDATE OF tasks), "
    "new AS (UPDATE tasks SET completed = coalesce($3, NOT tasks.completed), "
    "completed_at = CASE WHEN coalesce($3, NOT tasks.completed) AND NOT tasks.completed THEN $4 "
    "WHEN coalesce($3, NOT tasks.completed) THEN tasks.completed_at END, "
    "version = tasks.version + 1, updated_at = $4 FROM old WHERE tasks.id = old.id "
    f"AND ($3::boolean IS NULL OR tasks.completed IS DISTINCT FROM $3) RETURNING {TASK_COLUMNS}) "
    "SELECT old.tags, coalesce(new.id, old.id) AS id, "
    "coalesce(new.user_id, old.user_id) AS user_id, "
    "coalesce(new.list_id, old.list_id) AS list_id, "
    "CASE WHEN new.id IS NULL THEN old.parent_id ELSE new.parent_id END AS parent_id, "
    "coalesce(new.position, old.position) AS position, "
    "coalesce(new.title, old.title) AS title, "
    "CASE WHEN new.id IS NULL THEN old.description ELSE new.description END AS description, "
    "coalesce(new.completed, old.completed) AS completed, "
    "CASE WHEN new.id IS NULL THEN old.completed_at ELSE new.completed_at END AS completed_at, "
    "coalesce(new.priority, old.priority) AS priority, "
    "CASE WHEN new.id IS NULL THEN old.due_date ELSE new.due_date END AS due_date, "
    "coalesce(new.created_at, old.created_at) AS created_at, "
    "coalesce(new.updated_at, old.updated_at) AS updated_at, "
    "coalesce(new.version, old.version) AS version FROM old LEFT JOIN new ON true"
)
"""The service's complete (toggle, or set), one statement: lock, update if it changes, return."""


class HTTPError(Exception):
    """An error answered with the contract's envelope (without a request id)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """orjson with ``Z`` for UTC, as the service writes times."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_UTC_Z),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def error_response(error: HTTPError) -> Response:
    return json_response({"detail": error.detail, "error_code": error.code}, error.status)


def owner(request: Request) -> str:
    """The path's ``user_id`` after verifying the token and that it is its ``sub``."""
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPError(401, "UNAUTHORIZED", "Not authenticated")
    try:
        claims = jwt.decode(
            token,
            request.app.state.secret,
            algorithms=["HS256"],
            leeway=LEEWAY_SECONDS,
            options={"require": ["sub", "exp"]},
        )
    except jwt.PyJWTError:
        raise HTTPError(401, "UNAUTHORIZED", "Not authenticated") from None
    user_id: str = request.path_params["user_id"]
    if claims.get("sub") != user_id:
        raise HTTPError(403, "FORBIDDEN", "Not allowed")
    return user_id


def task_json(row: Mapping[str, Any], tags: list[str]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "list_id": row["list_id"],
        "parent_id": row["parent_id"],
        "position": row["position"],
        "title": row["title"],
        "description": row["description"],
        "completed": row["completed"],
        "completed_at": row["completed_at"],
        "priority": PRIORITY_NAMES[row["priority"]],
        "due_date": row["due_date"],
        "tags": tags,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def tasks_with_tags(rows: Sequence[asyncpg.Record]) -> list[tuple[asyncpg.Record, list[str]]]:
    """Rows of (task columns..., ``tag``), one per task and tag, folded in order."""
    tasks: dict[int, tuple[asyncpg.Record, list[str]]] = {}
    for row in rows:
        task = tasks.setdefault(row["id"], (row, []))
        if row["tag"] is not None:
            task[1].append(row["tag"])
    return list(tasks.values())


def positive_int(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPError(422, "VALIDATION_ERROR", f"{name} is not an integer") from None
    if not 1 <= value <= maximum:
        raise HTTPError(422, "VALIDATION_ERROR", f"{name} out of range")
    return value


def escape_like(text: str) -> str:
    """Literal text for ``ILIKE ... ESCAPE '/'`` (as SQLAlchemy's ``autoescape``)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


async def list_tasks(request: Request) -> Response:
    """GET /api/{user_id}/tasks: status, tag, q, page, page_size; newest first."""
    try:
        user_id = owner(request)
        page = positive_int(request, "page", 1, 2**63 - 1)
        page_size = positive_int(request, "page_size", 20, 100)
    except HTTPError as error:
        return error_response(error)
    params: list[Any] = [user_id]
    where = ["tasks.user_id = $1"]
    status = request.query_params.get("status", "all")
    if status == "pending":
        where.append("tasks.completed = false")
    elif status == "completed":
        where.append("tasks.completed = true")
    tag = request.query_params.get("tag")
    if tag:
        params.append(tag.strip().lower())
        where.append(
            "tasks.id IN (SELECT task_tags.task_id FROM task_tags "
            "JOIN tags ON tags.id = task_tags.tag_id "
            f"WHERE tags.user_id = $1 AND tags.name = ${len(params)})"
        )
    q = request.query_params.get("q")
    if q and q.strip():
        params.append(escape_like(q.strip()))
        n = len(params)
        where.append(
            f"(lower(tasks.title) LIKE '%' || lower(${n}) || '%' ESCAPE '/' "
            f"OR lower(tasks.description) LIKE '%' || lower(${n}) || '%' ESCAPE '/')"
        )
    conditions = " AND ".join(where)
    if not tag and not (q and q.strip()):
        counted = {"pending": "total - completed", "completed": "completed"}.get(status, "total")
        count_sql = (
            f"SELECT CAST(coalesce(sum({counted}), 0) AS BIGINT) FROM task_counts "
            "WHERE user_id = $1"
        )
    else:
        count_sql = f"SELECT count(*) FROM tasks WHERE {conditions}"
    params += [page_size, (page - 1) * page_size]
    sql = (
        f"SELECT {PAGE_COLUMNS}, tags.name AS tag, ({count_sql}) AS total FROM ("
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE {conditions} "
        "ORDER BY tasks.created_at DESC, tasks.id DESC "
        f"LIMIT ${len(params) - 1} OFFSET ${len(params)}) AS page {WITH_TAGS.format('page')} "
        "ORDER BY page.created_at DESC, page.id DESC, task_tags.position"
    )
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        rows = await connection.fetch(sql, *params)
        if rows:
            total = rows[0]["total"]
        elif page == 1:
            total = 0
        else:
            total = await connection.fetchval(count_sql, *params[:-2])
    data = [task_json(row, tags) for row, tags in tasks_with_tags(rows)]
    return json_response({"data": data, "total": total, "page": page, "page_size": page_size})


def task_id_of(request: Request) -> int:
    task_id: int = request.path_params["task_id"]
    if not 1 <= task_id <= 2**63 - 1:
        raise HTTPError(422, "VALIDATION_ERROR", "task_id out of range")
    return task_id


def etag(row: Mapping[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{row["id"]}.{row["version"]}"'}


async def get_task(request: Request) -> Response:
    """GET /api/{user_id}/tasks/{task_id}."""
    try:
        user_id = owner(request)
        task_id = task_id_of(request)
    except HTTPError as error:
        return error_response(error)
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        found = tasks_with_tags(await connection.fetch(GET_TASK, task_id, user_id))
    if not found:
        return error_response(HTTPError(404, "NOT_FOUND", "Task not found"))
    row, tags = found[0]
    return json_response({"data": task_json(row, tags)}, headers=etag(row))


def normalised_tags(raw: object) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.strip() for t in raw):
        raise HTTPError(422, "VALIDATION_ERROR", "tags must be a list of non-empty strings")
    seen: dict[str, None] = {}
    for tag in raw:
        seen.setdefault(tag.strip().lower(), None)
    if len(seen) > 10 or any(len(t) > 30 for t in seen):
        raise HTTPError(422, "VALIDATION_ERROR", "at most 10 tags of at most 30 characters")
    return list(seen)


def parse_time(raw: object) -> datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise HTTPError(422, "VALIDATION_ERROR", "due_date must be a date-time")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise HTTPError(422, "VALIDATION_ERROR", "due_date must be a date-time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def create_task(request: Request) -> Response:
    """POST /api/{user_id}/tasks with ``title`` and optional fields and ``tags``."""
    try:
        user_id = owner(request)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise HTTPError(422, "VALIDATION_ERROR", "body is not JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(422, "VALIDATION_ERROR", "body must be an object")
        title = body.get("title")
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200:
            raise HTTPError(422, "VALIDATION_ERROR", "title must be 1 to 200 characters")
        description = body.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > 1000
        ):
            raise HTTPError(422, "VALIDATION_ERROR", "description must be at most 1000 characters")
        completed = body.get("completed", False)
        if not isinstance(completed, bool):
            raise HTTPError(422, "VALIDATION_ERROR", "completed must be a boolean")
        priority = PRIORITY_RANKS.get(body.get("priority", "medium"))
        if priority is None:
            raise HTTPError(422, "VALIDATION_ERROR", "priority must be low, medium or high")
        due_date = parse_time(body.get("due_date"))
        tags = normalised_tags(body.get("tags"))
    except HTTPError as error:
        return error_response(error)
    now = datetime.now(UTC)
    pool: asyncpg.Pool = request.app.state.pool
    values = (
        user_id,
        title.strip(),
        description.strip() if isinstance(description, str) else None,
        completed,
        now if completed else None,
        priority,
        due_date,
        now,
    )
    async with pool.acquire() as connection:  # one statement: no BEGIN/COMMIT, as the service
        if tags:
            row = await connection.fetchrow(CREATE_TAGGED_TASK, *values, tags, sorted(tags))
        else:
            row = await connection.fetchrow(INSERT_TASK, *values)
    headers = etag(row) | {"Location": f"/api/{user_id}/tasks/{row['id']}"}
    return json_response({"data": task_json(row, tags)}, status=201, headers=headers)


async def complete_task(request: Request) -> Response:
    """PATCH /api/{user_id}/tasks/{task_id}/complete: toggle, or set with a body."""
    try:
        user_id = owner(request)
        task_id = task_id_of(request)
        raw = await request.body()
        wanted: bool | None = None
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise HTTPError(422, "VALIDATION_ERROR", "body is not JSON") from None
            if not isinstance(body, dict) or not isinstance(body.get("completed"), bool):
                raise HTTPError(422, "VALIDATION_ERROR", "completed must be a boolean")
            wanted = body["completed"]
    except HTTPError as error:
        return error_response(error)
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:  # one statement, as the service
        task = await connection.fetchrow(
            WRITE_COMPLETED, task_id, user_id, wanted, datetime.now(UTC)
        )
    if task is None:
        return error_response(HTTPError(404, "NOT_FOUND", "Task not found"))
    return json_response({"data": task_json(task, list(task["tags"]))}, headers=etag(task))


async def health(request: Request) -> Response:
    """GET /api/health: the database answers."""
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        await connection.fetchval("SELECT 1")
    return json_response({"status": "ok", "database": "ok", "version": "baseline"})


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://`` (SQLAlchemy spelling) → ``postgresql://`` for asyncpg."""
    scheme, sep, rest = url.partition("://")
    return ("postgresql" + sep + rest) if scheme.startswith("postgres") else url


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # The service's SQLAlchemy pool: 20 connections (DB_POOL_SIZE).
    app.state.pool = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["DATABASE_URL"]),
        min_size=1,
        max_size=int(os.environ.get("BASELINE_POOL_SIZE", "20")),
    )
    app.state.secret = os.environ["BETTER_AUTH_SECRET"]
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/api/health", health),
        Route("/api/{user_id}/tasks", list_tasks, methods=["GET"]),
        Route("/api/{user_id}/tasks", create_task, methods=["POST"]),
        Route("/api/{user_id}/tasks/{task_id:int}", get_task, methods=["GET"]),
        Route("/api/{user_id}/tasks/{task_id:int}/complete", complete_task, methods=["PATCH"]),
    ],
    lifespan=lifespan,
)
