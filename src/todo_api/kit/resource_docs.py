"""What the OpenAPI document says of a user's resource (a task, a list): its error
answers, its ``ETag`` and ``Location`` headers, its conditional request headers.

One place for the words every resource router repeats, so that a generated
client sees the same shapes for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from todo_api.kit.errors import error_doc
from todo_api.kit.routing import header_parameter

Responses = dict[int | str, dict[str, Any]]

COMMON_ERRORS: Responses = {
    401: error_doc("Missing, malformed or expired token (`UNAUTHORIZED`)."),
    403: error_doc("The path's `user_id` is not the token's subject (`FORBIDDEN`)."),
    422: error_doc("A field failed validation (`VALIDATION_ERROR`); see `field_errors`."),
    429: error_doc("Over the rate limit (`RATE_LIMITED`); see `Retry-After`."),
    503: error_doc("The database is unreachable (`SERVICE_UNAVAILABLE`); see `Retry-After`."),
}
"""What any route under ``/api/{user_id}`` may answer."""

BODY_ERRORS: Responses = {
    413: error_doc("Body over the size limit (`PAYLOAD_TOO_LARGE`)."),
    415: error_doc("Body is not JSON (`UNSUPPORTED_MEDIA_TYPE`)."),
}
"""What a route that reads a body may answer besides."""


@dataclass(frozen=True)
class ResourceDocs:
    """The document's words for one kind of resource: ``noun`` (``"task"``), an ETag and
    a path as examples, and what its ETag changes with, if more than its own writes."""

    noun: str
    etag_example: str
    path_example: str
    etag_note: str = ""

    @property
    def not_found(self) -> Responses:
        return {404: error_doc(f"No such {self.noun} for this user (`NOT_FOUND`).")}

    @property
    def precondition(self) -> Responses:
        return {
            412: error_doc(
                f"`If-Match` does not match the {self.noun}'s current ETag (`PRECONDITION_FAILED`)."
            )
        }

    @property
    def etag_header(self) -> dict[str, Any]:
        return {
            "ETag": {
                "description": (
                    f"Strong validator of this {self.noun}{self.etag_note}: "
                    "send it back in `If-Match`."
                ),
                "required": True,
                "schema": {"type": "string", "examples": [self.etag_example]},
            }
        }

    @property
    def location_header(self) -> dict[str, Any]:
        return {
            "Location": {
                "description": f"Path of the new {self.noun}.",
                "required": True,
                "schema": {"type": "string", "examples": [self.path_example]},
            }
        }

    @property
    def if_match(self) -> dict[str, Any]:
        return header_parameter(
            "If-Match", f"Write only if the {self.noun}'s ETag is still this one (else 412)."
        )

    def conditional_get(self, envelope: type) -> dict[str, Any]:
        """What a ``GET`` of one resource declares: 200 and 304 with the ETag, 404,
        ``If-None-Match``."""
        return {
            "response_model": envelope,
            "responses": {
                200: {"headers": self.etag_header},
                304: {
                    "description": "Not modified: `If-None-Match` names the current ETag.",
                    "headers": self.etag_header,
                },
                **self.not_found,
            },
            "openapi_extra": header_parameter(
                "If-None-Match",
                f"Answer 304 without a body if the {self.noun}'s ETag is one of these.",
            ),
        }

    def conditional_write(self, envelope: type) -> dict[str, Any]:
        """What a route that writes one resource under ``If-Match`` and answers with it
        declares."""
        return {
            "response_model": envelope,
            "responses": {
                200: {"headers": self.etag_header},
                **self.not_found,
                **self.precondition,
                **BODY_ERRORS,
            },
            "openapi_extra": self.if_match,
        }

    def created(self) -> Responses:
        """What a create declares: 201 with ``Location`` and ``ETag``."""
        return {201: {"headers": {**self.location_header, **self.etag_header}}, **BODY_ERRORS}
