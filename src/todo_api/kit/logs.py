"""Logging set-up: text for a terminal, one JSON object per line for collectors.

``LOG_FORMAT=json`` uses python-json-logger; every record carries the request
id (asgi-correlation-id's filter, as ``request_id``). Access records add ``method``, ``route``,
``status``, ``duration_ms`` and ``user_id`` (see ``AccessLogMiddleware``). uvicorn's
``color_message`` (its message again, with ANSI colour codes, for its own
formatter) is left out: a collector would store it as a field.
"""

from __future__ import annotations

import logging.config
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS

LogFormat = Literal["text", "json"]


def logging_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict for our loggers and uvicorn's."""
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "correlation_id": "request_id",
            },
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            # Record attributes that are not fields: the standard ones, and uvicorn's.
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
        }
    else:
        formatter = {
            "format": "%(asctime)s %(levelname)-7s [%(correlation_id)s] %(name)s: %(message)s",
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {
                "()": "asgi_correlation_id.CorrelationIdFilter",
                "default_value": "-",
            }
        },
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "todo_api": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            # Our AccessLogMiddleware writes the access log, with the route template.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure_logging(level: str, fmt: LogFormat) -> None:
    """Apply ``logging_config(level, fmt)`` to this process."""
    logging.config.dictConfig(logging_config(level, fmt))
