"""How routes are declared and served: the JSON route class, serving routers'
routes flat, JSON responses, query models validated by the route, and the
OpenAPI entries for what a route reads from the request itself.

Why routes read some inputs themselves (the list's query string, the
conditional headers) rather than declaring them: FastAPI solves every
declared dependency and parameter on every request, and on the hot path
that was a large part of a request's CPU (docs/design.md, "The hot path
declares only what clients send").
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine, Sequence
from functools import lru_cache
from typing import Any, get_origin

import orjson
import pydantic_core
from fastapi import APIRouter, FastAPI, Request, Response, params, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from todo_api.kit.errors import MalformedBody, UnsupportedMediaType


def serve_routes(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Serve the routers' routes from the app's own route list, ahead of any other.

    Not ``app.include_router``: in FastAPI 0.165 an included router is a
    route of its own that matches each request twice (docs/benchmarks.md,
    "Before and after"). These routers are complete as declared (prefix,
    tags, dependencies, route class, responses), so including them would add
    nothing. One thing an inclusion gives is not given here:
    ``app.dependency_overrides`` do not reach these routes (apps are
    configured through ``Settings``, the tests included). Call it before the
    OpenAPI document is first built, as ``create_app`` does: FastAPI caches
    the document.
    """
    app.router.routes[:0] = [route for router in routers for route in router.routes]


def json_response(body: Any, status_code: int = status.HTTP_200_OK, **headers: str) -> Response:
    """``body`` as JSON, serialised once with orjson (UTC times end in ``Z``).

    Skips FastAPI's second validation against the response model; the shapes
    are the declared models', and the schemathesis test holds every response
    to them.
    """
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z),
        status_code=status_code,
        headers=headers or None,
        media_type="application/json",
    )


@lru_cache(maxsize=64)
def _repeatable(model: type[BaseModel]) -> frozenset[str]:
    """The names of ``model``'s list-typed fields: a query parameter that may repeat."""
    return frozenset(
        name for name, field in model.model_fields.items() if get_origin(field.annotation) is list
    )


def validated_query[Model: BaseModel](model: type[Model], request: Request) -> Model:
    """The request's query string validated as ``model``: a list-typed field gets every
    value of its name (``tag=a&tag=b``), any other field the last one.

    What FastAPI does for ``Annotated[Model, Query()]``, without its per-field
    extraction.

    Raises:
        RequestValidationError: a parameter is invalid; locations are
            ``("query", name)``, as FastAPI's own (422 ``VALIDATION_ERROR``).
    """
    query = request.query_params
    values: dict[str, Any] = dict(query)
    for name in _repeatable(model) & values.keys():
        values[name] = query.getlist(name)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


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


def header_parameter(name: str, description: str) -> dict[str, Any]:
    """``openapi_extra`` that documents an optional request header the route reads itself."""
    parameter = {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }
    return {"parameters": [parameter]}


def request_body_schema(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a request body model: each property's ``default`` said in
    its description instead of as ``default``.

    openapi-typescript (by default, ``defaultNonNullable``) types a property of a
    component schema that has a ``default`` as always present. That is right for a
    response, which always carries it, and wrong for a request body: ``TaskCreate``
    would require ``completed`` and ``priority``. The value is unchanged, and
    ``null`` defaults are never written (FastAPI drops them from the document).
    """
    for field in schema.get("properties", {}).values():
        if "default" not in field:
            continue
        default = field.pop("default")
        if default is not None:
            said = f"Default: `{json.dumps(default)}`."
            field["description"] = (
                f"{field['description']} {said}" if "description" in field else said
            )


def never_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of an optional field that refuses ``null``: its schema
    without the ``null`` alternative.

    For a field typed ``X | None`` only so that "not sent" has a value, while a
    validator refuses an explicit ``null`` (``TaskUpdate.title``): clients then
    see ``title?: string``, not ``title?: string | null``.
    """
    alternatives = schema.pop("anyOf", None)
    if alternatives is None:
        return
    (kept,) = [alternative for alternative in alternatives if alternative != {"type": "null"}]
    schema.update(kept)


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class JSONRequest(Request):
    """A request whose JSON body is parsed strictly, at a cost bounded by its size.

    Starlette's ``json.loads`` takes lone surrogates (``"\\ud800"``), which no
    database stores, and recurses with the nesting until Python's recursion
    limit. pydantic-core's parser (jiter) refuses both: lone surrogates, and
    nesting deeper than its limit (about 200 levels, far beyond any body of
    the contract). It also refuses a leading UTF-8 byte order mark, which
    RFC 8259 §8.1 forbids senders to add (``json.loads`` skipped it). Its
    error is raised as ``json.JSONDecodeError``, which FastAPI reports as
    ``json_invalid`` (422 ``field_errors.body``).
    """

    async def json(self) -> Any:
        body = await self.body()
        try:
            return pydantic_core.from_json(body)
        except ValueError as exc:
            raise json.JSONDecodeError(str(exc), "", 0) from None


class JSONRoute(APIRoute):
    """An ``APIRoute`` that refuses bodies that are not JSON as the contract says.

    A body with a non-JSON ``Content-Type`` is 415 ``UNSUPPORTED_MEDIA_TYPE``
    (FastAPI would validate it as raw bytes); a body that does not parse,
    whether bad JSON syntax or not UTF-8 (FastAPI answers the latter with a
    bare 400), is 422 with ``field_errors.body`` (the API contract, "Details"). A
    request without a body (no ``Content-Length`` or ``0``, no chunked
    transfer) is left alone.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        field_info = getattr(self.body_field, "field_info", None)
        takes_json = self.body_field is not None and not isinstance(field_info, params.Form)
        if not takes_json:
            return handler

        async def guarded(request: Request) -> Response:
            request = JSONRequest(request.scope, request.receive)
            headers = request.headers
            has_body = headers.get("content-length", "0") != "0" or "chunked" in headers.get(
                "transfer-encoding", ""
            )
            if has_body and not _is_json(headers.get("content-type", "")):
                raise UnsupportedMediaType()
            try:
                return await handler(request)
            except RequestValidationError as exc:
                for error in exc.errors():
                    if error.get("type") == "json_invalid":
                        raise MalformedBody(error.get("ctx", {}).get("error")) from None
                raise
            except StarletteHTTPException as exc:
                if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
                    raise MalformedBody() from None
                raise

        return guarded
