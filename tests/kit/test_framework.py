"""What this code relies on in FastAPI, Starlette, SQLAlchemy and pydantic, one test each.

Each test builds a tiny app or statement against the library itself (not
our whole app) and names, in its docstring, the behaviour and the file of
ours that relies on it, so that an upgrade that changes the behaviour fails
here, with the reason, rather than in production. Several are internals
rather than documented API (the route list, compiled-statement attributes);
those say so.

The oldest releases these pass on, with the rest of the suite: FastAPI
0.133.0 (the first that allows Starlette 1.x), Starlette 1.7.0
(``RequestBodyLimitMiddleware`` is 1.6.0, ``scope["route"]`` on Starlette's
own routes 1.7.0), SQLAlchemy 2.0.38 (a queue pool for aiosqlite files),
pydantic 2.9.0 (``$ref`` beside ``default`` in a JSON schema).

No ``from __future__ import annotations`` here: FastAPI reads the annotations
of the handlers defined inside the tests, and names local to a test would not
resolve from strings.
"""

import asyncio
import enum
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response, params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, Field
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, QueuePool
from sqlalchemy.sql.compiler import SQLCompiler
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from todo_api.kit.compiled import UnsupportedStatement, compiled_statement
from todo_api.kit.database import Database
from todo_api.kit.database_url import normalise_database_url
from todo_api.kit.engine import create_engine
from todo_api.kit.errors import ErrorBody
from todo_api.kit.routing import query_parameters, serve_routes

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
ASYNCPG: Dialect = postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]
"""The dialect ``Database`` compiles for on PostgreSQL."""

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def client_of(app: ASGIApp) -> httpx.AsyncClient:
    """An httpx client speaking ASGI to ``app`` (no network, no lifespan)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


THINGS = Table(
    "things",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(50)),
    Column("size", Integer),
)


# --- FastAPI -----------------------------------------------------------------------------


async def test_routes_put_in_the_app_route_list_are_served_as_their_router_declared_them() -> None:
    """FastAPI: routes put straight into ``app.router.routes`` are matched in list
    order, ahead of the app's own, and keep their router's prefix, dependencies,
    ``responses`` and ``route_class``; ``app.openapi()`` lists them.

    Relied on by ``src/todo_api/kit/routing.py`` (``serve_routes``) and
    ``src/todo_api/main.py``. Internal: ``app.router.routes`` is Starlette's
    route list, and that an ``APIRouter``'s routes are complete (prefix,
    dependencies, route class) before inclusion is FastAPI's implementation.
    """
    dependency_calls: list[str] = []

    def router_dependency(request: Request) -> None:
        dependency_calls.append(request.url.path)

    class MarkedRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def marked(request: Request) -> Response:
                response = await handler(request)
                response.headers["x-route-class"] = "marked"
                return response

            return marked

    first = APIRouter(
        prefix="/api/{user_id}/things",
        tags=["things"],
        route_class=MarkedRoute,
        dependencies=[Depends(router_dependency)],
        responses={418: {"description": "A teapot"}},
    )
    second = APIRouter(prefix="/api/{user_id}/things")

    @first.get("/special", operation_id="firstSpecial")
    async def special(user_id: str) -> dict[str, str]:
        return {"served_by": "first", "user_id": user_id}

    @second.get("/{thing_id}", operation_id="secondById")
    async def by_id(user_id: str, thing_id: str) -> dict[str, str]:
        return {"served_by": "second", "thing_id": thing_id}

    app = FastAPI()

    @app.get("/api/{user_id}/things/{thing_id}", include_in_schema=False)
    async def app_by_id(user_id: str, thing_id: str) -> dict[str, str]:
        return {"served_by": "app"}

    serve_routes(app, [first, second])

    assert app.router.routes[0] is first.routes[0]
    assert app.router.routes[1] is second.routes[0]
    async with client_of(app) as client:
        special_response = await client.get("/api/u1/things/special")
        by_id_response = await client.get("/api/u1/things/7")

    # "/special" also matches second's "/{thing_id}" and the app's own route: first wins.
    assert special_response.status_code == 200, special_response.text
    assert special_response.json() == {"served_by": "first", "user_id": "u1"}
    assert special_response.headers.get("x-route-class") == "marked"
    # The served routes come ahead of the app's own route for the same path.
    assert by_id_response.json() == {"served_by": "second", "thing_id": "7"}
    assert "x-route-class" not in by_id_response.headers
    assert dependency_calls == ["/api/u1/things/special"]

    paths = app.openapi()["paths"]
    operation = paths["/api/{user_id}/things/special"]["get"]
    assert operation["operationId"] == "firstSpecial"
    assert operation["tags"] == ["things"]
    assert operation["responses"]["418"]["description"] == "A teapot"
    assert paths["/api/{user_id}/things/{thing_id}"]["get"]["operationId"] == "secondById"


class BearerGuard(SecurityBase):
    """A dependency shaped as ``todo_api.auth.dependencies.UserGuard``: a
    ``SecurityBase`` that reads the token with an ``OAuth2PasswordBearer`` and
    takes its ``model`` and ``scheme_name``."""

    def __init__(self, scheme: OAuth2PasswordBearer) -> None:
        self.scheme = scheme
        self.model = scheme.model
        self.scheme_name = scheme.scheme_name
        self.calls = 0

    async def __call__(self, request: Request) -> str | None:
        self.calls += 1
        return await self.scheme(request)


async def test_a_dependency_on_the_router_and_the_handler_runs_once_per_request() -> None:
    """FastAPI: a dependency declared in a router's ``dependencies`` and again as a
    handler parameter is called once per request (the dependency cache).

    Relied on by ``src/todo_api/auth/dependencies.py`` (``user_guard``, which
    counts the request against the rate limit) with
    ``src/todo_api/tasks/router.py``: a route that declared the guard again
    would otherwise count each request twice.
    """
    guard = BearerGuard(OAuth2PasswordBearer(tokenUrl="/token", auto_error=False))
    router = APIRouter(prefix="/api", dependencies=[Depends(guard)])

    @router.get("/whoami")
    async def whoami(token: Annotated[str | None, Depends(guard)]) -> dict[str, str | None]:
        return {"token": token}

    app = FastAPI()
    serve_routes(app, [router])
    async with client_of(app) as client:
        first = await client.get("/api/whoami", headers={"Authorization": "Bearer t1"})
        assert guard.calls == 1
        second = await client.get("/api/whoami", headers={"Authorization": "Bearer t2"})
        assert guard.calls == 2

    assert first.json() == {"token": "t1"}
    assert second.json() == {"token": "t2"}


async def test_a_security_base_with_the_bearer_model_is_documented_as_that_scheme() -> None:
    """FastAPI: a ``SecurityBase`` subclass that copies ``model`` and
    ``scheme_name`` from an ``OAuth2PasswordBearer`` is documented as that OAuth2
    scheme, in ``components.securitySchemes`` and on each operation that depends
    on it (router dependency or handler parameter), and reading the token
    through the bearer (``auto_error=False``) gives the token or ``None``.

    Relied on by ``src/todo_api/auth/dependencies.py`` (``UserGuard``): the
    Authorize button of ``/docs`` and generated clients depend on it.
    Internal: FastAPI finds security schemes by ``isinstance(call, SecurityBase)``
    and reads ``model``/``scheme_name`` as attributes; subclassing
    ``SecurityBase`` for one's own scheme is not documented.
    """
    bearer = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False, description="Bearer.")
    guard = BearerGuard(bearer)
    guarded = APIRouter(prefix="/guarded", dependencies=[Depends(guard)])
    as_parameter = APIRouter(prefix="/me")
    public = APIRouter(prefix="/public")

    @guarded.get("", operation_id="guardedByRouter")
    async def by_router() -> dict[str, str]:
        return {}

    @as_parameter.get("", operation_id="guardedByParameter")
    async def by_parameter(token: Annotated[str | None, Depends(guard)]) -> dict[str, str | None]:
        return {"token": token}

    @public.get("", operation_id="open")
    async def open_route() -> dict[str, str]:
        return {}

    app = FastAPI()
    serve_routes(app, [guarded, as_parameter, public])
    document = app.openapi()

    assert guard.scheme_name == "OAuth2PasswordBearer"
    assert document["components"]["securitySchemes"] == {
        "OAuth2PasswordBearer": {
            "type": "oauth2",
            "flows": {"password": {"scopes": {}, "tokenUrl": "/token"}},
            "description": "Bearer.",
        }
    }
    paths = document["paths"]
    assert paths["/guarded"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert paths["/me"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert "security" not in paths["/public"]["get"]

    async with client_of(app) as client:
        anonymous = await client.get("/me")
        with_token = await client.get("/me", headers={"Authorization": "Bearer abc"})
    assert anonymous.status_code == 200, anonymous.text
    assert anonymous.json() == {"token": None}
    assert with_token.json() == {"token": "abc"}


async def test_unparsable_json_bodies_raise_what_json_route_turns_into_422() -> None:
    """FastAPI: a JSON body with bad syntax raises ``RequestValidationError`` with
    an error of type ``"json_invalid"``; a body that is not UTF-8 raises a
    Starlette ``HTTPException`` 400 whose ``__cause__`` is a ``ValueError``. Both
    are raised out of the route handler, where a route class sees them.

    Relied on by ``src/todo_api/kit/routing.py`` (``JSONRoute``, which turns
    both into 422 ``field_errors.body``) and ``src/todo_api/auth/dependencies.py``
    (``AuthenticatedRoute``). Internal: the error type, the 400 and its cause
    are how FastAPI's request handler reports them, not documented API.
    """
    raised: list[Exception] = []

    class ObservingRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def observed(request: Request) -> Response:
                try:
                    return await handler(request)
                except Exception as exc:
                    raised.append(exc)
                    raise

            return observed

    class Item(BaseModel):
        title: str

    router = APIRouter(route_class=ObservingRoute)

    @router.post("/items")
    async def create(item: Item) -> dict[str, str]:
        return {"title": item.title}

    app = FastAPI()
    serve_routes(app, [router])
    json_type = {"Content-Type": "application/json"}
    async with client_of(app) as client:
        valid = await client.post("/items", content=b'{"title": "ok"}', headers=json_type)
        bad_syntax = await client.post("/items", content=b'{"title": ', headers=json_type)
        not_utf8 = await client.post("/items", content=b'{"title": "\xff"}', headers=json_type)

    assert valid.status_code == 200, valid.text
    assert bad_syntax.status_code == 422, bad_syntax.text
    assert not_utf8.status_code == 400, not_utf8.text
    assert len(raised) == 2
    syntax_error, encoding_error = raised
    assert isinstance(syntax_error, RequestValidationError)
    assert [error["type"] for error in syntax_error.errors()] == ["json_invalid"]
    assert isinstance(encoding_error, StarletteHTTPException)
    assert encoding_error.status_code == 400
    assert isinstance(encoding_error.__cause__, ValueError)


def test_a_form_body_route_has_a_form_field_info() -> None:
    """FastAPI: for a route whose body is a form (``OAuth2PasswordRequestForm`` as a
    dependency), ``route.body_field.field_info`` is a ``fastapi.params.Form``;
    for a JSON body it is a ``params.Body`` that is not a ``Form``.

    Relied on by ``src/todo_api/kit/routing.py`` (``JSONRoute`` leaves form
    routes alone, so ``POST /api/auth/token`` is not refused with 415).
    Internal: ``APIRoute.body_field`` and its ``field_info`` are not
    documented API.
    """

    class Item(BaseModel):
        title: str

    router = APIRouter()

    @router.post("/token")
    async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
        return {"username": form.username}

    @router.post("/items")
    async def create(item: Item) -> dict[str, str]:
        return {"title": item.title}

    form_route, json_route = router.routes
    assert isinstance(form_route, APIRoute)
    assert isinstance(json_route, APIRoute)
    assert form_route.body_field is not None
    assert isinstance(form_route.body_field.field_info, params.Form)
    assert json_route.body_field is not None
    assert isinstance(json_route.body_field.field_info, params.Body)
    assert not isinstance(json_route.body_field.field_info, params.Form)


# --- Starlette ---------------------------------------------------------------------------


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    """A request body without a length: httpx sends it ``Transfer-Encoding: chunked``."""
    for part in parts:
        yield part


async def test_the_body_limit_makes_reading_a_chunked_body_over_it_raise_413() -> None:
    """Starlette: under ``RequestBodyLimitMiddleware``, reading a chunked body
    (no ``Content-Length``) that goes over the limit makes ``request.body()``
    raise an ``HTTPException`` with status 413; a body within it reads whole.

    Relied on by ``src/todo_api/kit/middleware.py`` (``BodyLimitMiddleware``
    counts chunked bodies with it).
    """
    raised: list[Exception] = []

    async def endpoint(request: Request) -> PlainTextResponse:
        assert "content-length" not in request.headers
        assert request.headers.get("transfer-encoding") == "chunked"
        try:
            body = await request.body()
        except Exception as exc:
            raised.append(exc)
            raise
        return PlainTextResponse(f"read {len(body)}")

    app = Starlette(routes=[Route("/", endpoint, methods=["POST"])])
    limited = RequestBodyLimitMiddleware(app, max_body_size=10)
    async with client_of(limited) as client:
        within = await client.post("/", content=chunks(b"x" * 5, b"x" * 5))
        over = await client.post("/", content=chunks(b"x" * 6, b"x" * 6))

    assert within.text == "read 10"
    assert over.status_code == 413
    assert len(raised) == 1
    assert isinstance(raised[0], StarletteHTTPException)
    assert raised[0].status_code == 413


async def test_the_body_limit_413_reaches_a_fastapi_apps_http_exception_handler() -> None:
    """FastAPI with Starlette: the 413 that ``RequestBodyLimitMiddleware`` raises
    while FastAPI reads a chunked JSON body reaches the app's handler for
    Starlette's ``HTTPException`` (and the route never runs).

    Relied on by ``src/todo_api/kit/middleware.py`` (``BodyLimitMiddleware``)
    and ``src/todo_api/kit/errors.py`` (``_http_exception_handler`` writes it
    as 413 ``PAYLOAD_TOO_LARGE``).
    """
    handled: list[int] = []
    ran: list[str] = []

    class Item(BaseModel):
        title: str

    app = FastAPI()

    @app.post("/items")
    async def create(item: Item) -> dict[str, str]:
        ran.append(item.title)
        return {"title": item.title}

    async def on_http_exception(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        handled.append(exc.status_code)
        return PlainTextResponse("envelope", status_code=exc.status_code)

    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    limited = RequestBodyLimitMiddleware(app, max_body_size=20)
    json_type = {"Content-Type": "application/json"}
    async with client_of(limited) as client:
        within = await client.post(
            "/items", content=chunks(b'{"title":', b'"a"}'), headers=json_type
        )
        over = await client.post(
            "/items", content=chunks(b'{"title": "', b"x" * 20, b'"}'), headers=json_type
        )

    assert within.status_code == 200, within.text
    assert over.status_code == 413
    assert over.text == "envelope"
    assert handled == [413]
    assert ran == ["a"]


class RouteRecorder:
    """An outer ASGI middleware that reads ``scope["route"]`` after the app ran,
    as ``todo_api.kit.middleware.AccessLogMiddleware`` does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes: list[Any] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        self.routes.append(scope.get("route"))


@pytest.mark.parametrize("framework", ["starlette", "fastapi"])
async def test_the_matched_route_is_in_the_scope_after_the_app_ran(framework: str) -> None:
    """Starlette (and FastAPI's ``APIRoute``): after the app has run, the scope an
    outer middleware passed in holds ``scope["route"]``, the matched route, whose
    ``.path`` is the template, not the requested path; a request that matches no
    route leaves none.

    Relied on by ``src/todo_api/kit/middleware.py`` (``AccessLogMiddleware``
    logs the route template). The docs pages are Starlette routes (Starlette
    sets it for them from 1.7.0, documented), the API's FastAPI routes
    (``APIRoute.matches`` sets it, also on older Starlette): both are checked.
    """
    app: Starlette
    route: Any
    if framework == "starlette":

        async def endpoint(_request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok")

        app = Starlette(routes=[Route("/users/{user_id}/tasks", endpoint)])
        route = app.routes[0]
    else:
        router = APIRouter(prefix="/users/{user_id}")

        @router.get("/tasks")
        async def tasks(user_id: str) -> dict[str, str]:
            return {"user_id": user_id}

        app = FastAPI()
        serve_routes(app, [router])
        route = router.routes[0]

    recorder = RouteRecorder(app)
    async with client_of(recorder) as client:
        found = await client.get("/users/u42/tasks")
        missing = await client.get("/nowhere")

    assert found.status_code == 200, found.text
    assert missing.status_code == 404
    assert recorder.routes[0] is route
    assert recorder.routes[0].path == "/users/{user_id}/tasks"
    assert recorder.routes[1] is None


# --- SQLAlchemy --------------------------------------------------------------------------


def without_casts(sql: str) -> str:
    """``sql`` without the asyncpg dialect's bind casts (``$1::VARCHAR(50)`` → ``$1``),
    whose spelling varies between releases and matters to nobody here."""
    return re.sub(r"::[A-Z]+(\(\d+\))?", "", sql)


def test_a_statement_compiled_for_asyncpg_exposes_its_parameters() -> None:
    """SQLAlchemy: a statement compiled for the asyncpg dialect has ``$n``
    parameters, ``positiontup`` (their names in order), ``binds`` (each name's
    ``BindParameter``, typed as the column it is compared with),
    ``construct_params(...)`` (the given values plus the statement's own bound
    values), and empty ``post_compile_params``/``literal_execute_params`` for
    plain ``bindparam``s, non-empty for ``.in_([1, 2])`` and
    ``literal_execute``. An ``update()``/``insert()`` compiled with
    ``column_keys=[...]`` sets exactly the named columns, ignoring keys that
    are not columns.

    Relied on by ``src/todo_api/kit/compiled.py`` (``CompiledStatement``) and
    ``src/todo_api/kit/database.py`` (asyncpg runs the compiled SQL).
    Internal: ``positiontup``, ``binds``, ``post_compile_params``,
    ``literal_execute_params`` and compiling with ``column_keys`` are
    ``SQLCompiler`` attributes and arguments, not documented API.
    """
    dialect = ASYNCPG
    statement = select(THINGS.c.id).where(
        THINGS.c.size == bindparam("wanted_size"),
        THINGS.c.name == bindparam("wanted_name"),
        THINGS.c.id > 5,
    )
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)

    assert " ".join(without_casts(compiled.string).split()) == (
        "SELECT things.id FROM things "
        "WHERE things.size = $1 AND things.name = $2 AND things.id > $3"
    )
    assert list(compiled.positiontup or ()) == ["wanted_size", "wanted_name", "id_1"]
    assert isinstance(compiled.binds["wanted_name"].type, String)
    assert isinstance(compiled.binds["wanted_size"].type, Integer)
    assert compiled.construct_params({"wanted_size": 3, "wanted_name": "a"}) == {
        "wanted_size": 3,
        "wanted_name": "a",
        "id_1": 5,
    }
    assert not compiled.post_compile_params
    assert not compiled.literal_execute_params

    expanding = select(THINGS.c.id).where(THINGS.c.id.in_([1, 2])).compile(dialect=dialect)
    assert isinstance(expanding, SQLCompiler)
    assert expanding.post_compile_params or expanding.literal_execute_params
    literal = (
        select(THINGS.c.id)
        .where(THINGS.c.id == bindparam("x", 1, literal_execute=True))
        .compile(dialect=dialect)
    )
    assert isinstance(literal, SQLCompiler)
    assert literal.post_compile_params or literal.literal_execute_params

    change = update(THINGS).where(THINGS.c.id == bindparam("thing_id"))
    some = change.compile(dialect=dialect, column_keys=["name", "thing_id", "not_a_column"])
    assert isinstance(some, SQLCompiler)
    assert without_casts(some.string) == "UPDATE things SET name=$1 WHERE things.id = $2"
    assert list(some.positiontup or ()) == ["name", "thing_id"]
    assert some.construct_params({"name": "n", "thing_id": 7, "not_a_column": 0}) == {
        "name": "n",
        "thing_id": 7,
    }
    both = change.compile(dialect=dialect, column_keys=["name", "size", "thing_id"])
    assert without_casts(both.string) == ("UPDATE things SET name=$1, size=$2 WHERE things.id = $3")
    added = (
        insert(THINGS)
        .returning(THINGS.c.id)
        .compile(dialect=dialect, column_keys=["name", "owner"])
    )
    assert without_casts(added.string) == (
        "INSERT INTO things (name) VALUES ($1) RETURNING things.id"
    )


async def test_our_compiled_statements_refuse_parameters_rendered_at_execution(
    tmp_path: Path,
) -> None:
    """SQLAlchemy's ``post_compile_params`` as ``src/todo_api/kit/compiled.py``
    (``compiled_statement``) reads it: an expanding ``IN`` is refused with
    ``UnsupportedStatement`` for PostgreSQL, and by ``Database.reading()`` on
    SQLite too (``src/todo_api/kit/database.py``), where SQLAlchemy itself would
    run it; the same statement without it runs.
    """
    refused = select(THINGS.c.id).where(THINGS.c.id.in_([1, 2]))
    accepted = select(THINGS.c.id).where(THINGS.c.id == bindparam("thing_id"))
    with pytest.raises(UnsupportedStatement):
        compiled_statement(refused, ASYNCPG, {})
    assert compiled_statement(accepted, ASYNCPG, {}).parameter_names == ("thing_id",)

    engine = create_engine(normalise_database_url(f"sqlite:///{tmp_path / 'compiled.db'}"))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(THINGS.metadata.create_all)
            await connection.execute(insert(THINGS), [{"id": 1}, {"id": 2}])
        database = Database(engine)
        async with database.reading() as statements:
            with pytest.raises(UnsupportedStatement):
                await statements.fetch(refused, {})
            assert await statements.fetch(accepted, {"thing_id": 2}) == [{"id": 2}]
    finally:
        await engine.dispose()


async def test_an_aiosqlite_file_database_gets_a_queue_pool_by_default(tmp_path: Path) -> None:
    """SQLAlchemy: ``create_async_engine`` for an aiosqlite file URL, without a
    ``poolclass``, pools its connections in a queue pool that takes
    ``pool_size``/``max_overflow`` (before 2.0.38 it was a ``NullPool``, which
    refuses them with ``TypeError``).

    Relied on by ``src/todo_api/kit/engine.py`` (``create_engine`` gives
    SQLite one pooled connection, so writers queue instead of failing with
    "database is locked").
    """
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'default.db'}", pool_size=1, max_overflow=0
    )
    try:
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.size() == 1
        async with engine.connect() as connection:
            first = (await connection.get_raw_connection()).driver_connection
        async with engine.connect() as connection:  # the same connection, pooled
            assert (await connection.get_raw_connection()).driver_connection is first
    finally:
        await engine.dispose()


async def test_a_checkout_listener_raising_disconnection_gets_a_fresh_connection(
    tmp_path: Path,
) -> None:
    """SQLAlchemy: a pool ``checkout`` listener that raises ``DisconnectionError``
    makes the pool discard that connection and check out a newly opened one (a
    new ``connect`` event) instead of failing the checkout, with no overflow.

    Relied on by ``src/todo_api/kit/database.py`` (``Database.discard_older``
    and its checkout listener). Documented ("Disconnect Handling -
    Pessimistic", custom checkout listeners).
    """
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
        poolclass=AsyncAdaptedQueuePool,  # the PostgreSQL engine's pool
        pool_size=1,
        max_overflow=0,
        pool_timeout=5,
    )
    opened: list[Any] = []
    discard_up_to = 0

    def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        opened.append(dbapi_connection)
        record.info["generation"] = len(opened)

    def on_checkout(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if record.info["generation"] <= discard_up_to:
            raise DisconnectionError("opened before the database went away")

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "checkout", on_checkout)
    try:
        async with engine.connect() as connection:
            first = (await connection.get_raw_connection()).driver_connection
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
        async with engine.connect() as connection:  # kept: not stale yet
            assert (await connection.get_raw_connection()).driver_connection is first
        assert len(opened) == 1

        discard_up_to = 1
        async with engine.connect() as connection:
            second = (await connection.get_raw_connection()).driver_connection
            assert (await connection.execute(text("SELECT 2"))).scalar() == 2
        assert len(opened) == 2
        assert second is not first
    finally:
        await engine.dispose()


@pytest.fixture
async def postgresql_engine() -> AsyncIterator[AsyncEngine]:
    """An engine on ``TEST_DATABASE_URL`` with one pooled connection and no overflow."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    target = normalise_database_url(TEST_DATABASE_URL)
    engine = create_async_engine(
        target.url, connect_args=target.connect_args, pool_size=1, max_overflow=0, pool_timeout=5
    )
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_raw_connection_is_asyncpg_and_close_gives_it_back_synchronously(
    postgresql_engine: AsyncEngine,
) -> None:
    """SQLAlchemy: ``await AsyncEngine.raw_connection()`` checks out a pooled
    connection whose ``.driver_connection`` is asyncpg's own ``Connection``; its
    ``close()``, a plain call outside any greenlet, gives it back to the pool at
    once, sending nothing to the server (no transaction was opened through
    SQLAlchemy's adapter, so the reset on return has nothing to roll back), and
    the next checkout gets the same asyncpg connection.

    Relied on by ``src/todo_api/kit/database.py`` (``Database._driver_connection``:
    a cancelled request cannot abandon a synchronous return halfway).
    ``raw_connection()`` and ``driver_connection`` are documented; that
    ``close()`` needs no greenlet here is the asyncpg adapter's implementation.
    """
    engine = postgresql_engine
    pooled = await engine.raw_connection()
    first = pooled.driver_connection
    assert isinstance(first, asyncpg.Connection)
    sent: list[str] = []
    first.add_query_logger(lambda record: sent.append(record.query))
    async with first.transaction():  # as Database.unit_of_work, on the driver itself
        assert await first.fetchval("SELECT 1") == 1
    await asyncio.sleep(0)  # asyncpg calls query loggers soon after, not at once
    assert sent == ["BEGIN;", "SELECT 1", "COMMIT;"]  # the logger sees what is sent
    sent.clear()

    pooled.close()

    await asyncio.sleep(0)
    assert sent == []
    assert not first.is_closed()
    assert isinstance(engine.pool, QueuePool)
    assert engine.pool.checkedout() == 0
    again = await engine.raw_connection()
    assert again.driver_connection is first
    again.close()


async def test_invalidate_outside_a_greenlet_terminates_the_asyncpg_connection_at_once(
    postgresql_engine: AsyncEngine,
) -> None:
    """SQLAlchemy: ``invalidate(exc)`` on a raw pooled connection, a plain call
    outside any greenlet, terminates the asyncpg connection at once, even in the
    middle of a query (no graceful close that waits for the server), and frees
    its place in the pool: the next checkout is a new asyncpg connection
    (another server process), with no overflow.

    Relied on by ``src/todo_api/kit/database.py`` (``Database._driver_connection``
    discards a connection a failure or a cancellation may have left
    mid-protocol). ``invalidate`` is documented; that it terminates rather than
    closes outside a greenlet is the asyncio adapter's implementation.
    """
    engine = postgresql_engine
    pooled = await engine.raw_connection()
    first = pooled.driver_connection
    assert isinstance(first, asyncpg.Connection)
    first_pid = first.get_server_pid()
    busy = asyncio.ensure_future(first.fetchval("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)  # the query is on the server
    assert not busy.done()

    started = time.monotonic()
    pooled.invalidate(RuntimeError("cancelled mid-query"))
    assert time.monotonic() - started < 0.5

    assert first.is_closed()
    with pytest.raises(asyncpg.ConnectionDoesNotExistError):
        await busy
    replacement = await engine.raw_connection()
    second = replacement.driver_connection
    try:
        assert isinstance(second, asyncpg.Connection)
        assert second is not first
        assert second.get_server_pid() != first_pid
        assert await second.fetchval("SELECT pg_terminate_backend($1)", first_pid) in {True, False}
    finally:
        replacement.close()


# --- pydantic ----------------------------------------------------------------------------


def test_the_error_envelope_omits_unset_field_errors_and_keeps_field_order() -> None:
    """pydantic: ``model_dump_json(exclude_none=True)`` leaves out ``field_errors``
    when it is ``None`` and writes the fields in declaration order (``detail``,
    ``error_code``, ``field_errors``, ``request_id``), whatever order they were
    given in.

    Relied on by ``src/todo_api/kit/errors.py`` (``error_response`` writes the
    envelope of api.md, "Conventions").
    """
    bare = ErrorBody(request_id="r1", error_code="NOT_FOUND", detail="Task not found")
    assert bare.model_dump_json(exclude_none=True) == (
        '{"detail":"Task not found","error_code":"NOT_FOUND","request_id":"r1"}'
    )
    with_fields = ErrorBody(
        request_id="r2",
        field_errors={"title": ["Field required"]},
        error_code="VALIDATION_ERROR",
        detail="Request validation failed",
    )
    assert with_fields.model_dump_json(exclude_none=True) == (
        '{"detail":"Request validation failed","error_code":"VALIDATION_ERROR",'
        '"field_errors":{"title":["Field required"]},"request_id":"r2"}'
    )


class Status(enum.StrEnum):
    all = "all"
    pending = "pending"


class StatusQuery(BaseModel):
    status: Status = Field(default=Status.all, description="Which tasks.")


def test_an_enum_field_with_a_default_refers_to_its_definition_directly() -> None:
    """pydantic (2.9 on): ``model_json_schema()`` writes a field typed as an enum,
    with a default or a description, as ``{"$ref": ..., "default": ...,
    "description": ...}``, not wrapped in ``allOf``; so a query parameter
    documented from it carries the enum itself.

    Relied on by ``src/todo_api/kit/routing.py`` (``query_parameters`` writes
    each ``$ref`` in place; the list's ``status`` parameter shows its ``enum``).
    """
    schema = StatusQuery.model_json_schema()
    assert schema["properties"]["status"] == {
        "$ref": "#/$defs/Status",
        "default": "all",
        "description": "Which tasks.",
    }
    (parameter,) = query_parameters(StatusQuery)["parameters"]
    assert parameter["schema"]["enum"] == ["all", "pending"]
    assert parameter["schema"]["default"] == "all"
    assert parameter["description"] == "Which tasks."
