"""Generated TypeScript clients compile (issue 15, "Typed clients"; docs/api.md).

The OpenAPI document of ``create_app`` goes through ``openapi-typescript`` with
its default options, and ``clients/todo-client.ts`` (a plain ``fetch`` client
that creates a task with only a title, lists with filters, patches a part,
reads ``ETag`` and ``Location``, and switches on ``error_code``) must then pass
``tsc --noEmit`` under ``clients/tsconfig.json`` (strict). Both tools are pinned
in ``clients/package-lock.json``; ``.ci/run`` installs them with ``npm ci``,
and this module does when they are missing. TypeScript is pinned at the last
5.x: openapi-typescript builds its output with TypeScript's compiler API (peer
dependency ``typescript ^5.x``), which TypeScript 7 does not ship. Needs Node;
CI has it and must run this test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from todo_api.main import close_resources, create_app

CLIENTS = Path(__file__).resolve().parent.parent / "clients"
GENERATED = CLIENTS / "generated" / "api.d.ts"
PINNED = ("openapi-typescript", "typescript")
NPM_CI_TIMEOUT_SECONDS = 300
TOOL_TIMEOUT_SECONDS = 180


def _skip_reason() -> str | None:
    for tool in ("node", "npm", "npx"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


_reason = _skip_reason()
if _reason and os.environ.get("CI"):
    raise RuntimeError(f"CI must run the TypeScript client check: {_reason}")
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")


def _run(*command: str, timeout: float = TOOL_TIMEOUT_SECONDS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=CLIENTS, capture_output=True, text=True, timeout=timeout, check=False
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(str(part) for part in result.args)
    return f"$ {command} (exit {result.returncode})\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed() -> None:
    """The pinned tools in ``clients/node_modules``, with ``npm ci`` when they are missing
    (``.ci/run`` has already run it)."""
    if all((CLIENTS / "node_modules" / name / "package.json").is_file() for name in PINNED):
        return
    result = _run("npm", "ci", "--no-audit", "--no-fund", timeout=NPM_CI_TIMEOUT_SECONDS)
    if result.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"npm ci failed in {CLIENTS}:\n{_output(result)}")
        pytest.skip(f"npm ci failed in {CLIENTS} (offline?): {result.stderr[-500:]}")


@pytest.fixture(scope="module")
async def document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's OpenAPI document, as ``todo-api openapi`` prints it, in a file."""
    folder = tmp_path_factory.mktemp("typescript")
    app = create_app(make_settings(f"sqlite:///{folder / 'unused.db'}"))
    try:
        document: dict[str, Any] = app.openapi()
    finally:
        await close_resources(app)
    path = folder / "openapi.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def test_generated_types_compile_against_the_client(installed: None, document: Path) -> None:
    GENERATED.unlink(missing_ok=True)

    generated = _run("npx", "--no", "--", "openapi-typescript", str(document), "-o", str(GENERATED))
    assert generated.returncode == 0, _output(generated)
    assert GENERATED.is_file(), _output(generated)

    checked = _run("npx", "--no", "--", "tsc", "--noEmit", "-p", str(CLIENTS))
    assert checked.returncode == 0, _output(checked) + _output(generated)
