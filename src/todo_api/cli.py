"""The ``todo-api`` command (operations.md, "Commands"): serve, migrate, openapi."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from todo_api.config import Settings, SettingsError, get_settings
from todo_api.kit.logs import configure_logging, logging_config
from todo_api.kit.server import GuardedHttpToolsProtocol, run_server

app = typer.Typer(
    help="Todo API: a multi-user task service for Next.js + Better Auth front ends.",
    no_args_is_help=True,
    add_completion=False,
)


def _settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        typer.echo(f"todo-api: {exc}", err=True)
        raise typer.Exit(code=2) from None


def _migrate(settings: Settings) -> None:
    from todo_api.migrate import upgrade_to_head

    try:
        upgrade_to_head(settings.database_url)
    except (OSError, TimeoutError) as exc:
        typer.echo(f"todo-api: cannot reach the database to migrate it: {exc}", err=True)
        raise typer.Exit(code=1) from None
    except Exception as exc:
        if type(exc).__module__.startswith(("sqlalchemy", "asyncpg", "sqlite3")):
            typer.echo(f"todo-api: migration failed: {type(exc).__name__}: {exc}", err=True)
            raise typer.Exit(code=1) from None
        raise


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="HOST", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Migrate the database to the latest revision, then serve the API."""
    settings = _settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    _migrate(settings)
    if settings.secret_was_generated:
        # Every worker must verify the tokens the others issue: share one secret.
        os.environ["BETTER_AUTH_SECRET"] = settings.better_auth_secret
    if settings.metrics_enabled:  # before the workers import prometheus_client
        from todo_api.kit.metrics import prepare_multiprocess_directory

        prepare_multiprocess_directory(processes=1 if reload else workers)
    config = uvicorn.Config(
        "todo_api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=None if reload else workers,
        reload=reload,
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,
        proxy_headers=True,
        # Header size limit and read timeouts (docs/operations.md, "Limits").
        http=GuardedHttpToolsProtocol,
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        timeout_graceful_shutdown=20,
        # Importing the app takes seconds on a small machine without a bytecode
        # cache; uvicorn's default 5 s would kill and restart workers in a loop.
        timeout_worker_healthcheck=60,
    )
    from todo_api.main import ready_message

    if not run_server(config, ready_message(settings)):
        raise typer.Exit(code=STARTUP_FAILURE)


@app.command()
def migrate() -> None:
    """Migrate the database to the latest revision and exit."""
    settings = _settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    _migrate(settings)
    typer.echo("database is at the latest revision")


@app.command()
def openapi() -> None:
    """Print the OpenAPI document (JSON) to standard output."""
    from todo_api.main import create_app

    settings = _settings_or_exit()
    document = create_app(settings.model_copy(update={"docs_enabled": True})).openapi()
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":  # pragma: no cover
    app()
