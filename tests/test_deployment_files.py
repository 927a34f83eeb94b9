"""The deployment files agree with the docs and the code (issue 15, "Deployment files").

No Docker engine runs here, so ``Dockerfile``, ``.dockerignore``, ``compose.yaml``
and ``.github/workflows/ci.yml`` are parsed and checked against what README.md,
docs/operations.md, ``.ci/run``, ``pyproject.toml`` and the code say: the serve
command and its console script, the port, the health path, a non-root user, the
health checks, the services, the test and lint commands, the Python versions.
"""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from todo_api import cli
from todo_api.health import router as health_router

ROOT = Path(__file__).resolve().parent.parent
VENV = "/app/.venv"
PYTHON_VERSIONS = {"3.12", "3.13"}
# What .ci/run runs after installing, and the workflow must run too.
CI_COMMANDS = (
    "uv sync --locked",
    "uv run pytest",
    "uv run ruff check",
    "uv run ruff format --check",
    "uv run mypy",
)


def read(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def load_yaml(relative: str) -> dict[str, Any]:
    document = yaml.safe_load(read(relative))
    assert isinstance(document, dict), f"{relative} is not a mapping"
    return document


# ---------------------------------------------------------------- what the docs say


@cache
def documented_port() -> int:
    """The port of ``todo-api serve`` in operations.md's command table."""
    match = re.search(r"`todo-api serve \[[^`]*--port (\d+)\]", read("docs/operations.md"))
    assert match, "docs/operations.md no longer documents the default port"
    return int(match.group(1))


@cache
def documented_health_path() -> str:
    match = re.search(r"\*\*Health check\*\*: `GET (/\S+)`", read("docs/operations.md"))
    assert match, "docs/operations.md no longer documents the health check"
    return match.group(1)


def readme_command(comment: str) -> str:
    """The README's command line whose trailing comment starts with ``comment``."""
    match = re.search(rf"^(uv run [^#\n]*?)\s+# {re.escape(comment)}", read("README.md"), re.M)
    assert match, f"README.md has no command commented {comment!r}"
    return match.group(1)


def test_the_docs_and_the_code_agree_on_port_and_health_path() -> None:
    assert documented_port() == 8000
    assert inspect.signature(cli.serve).parameters["port"].default == documented_port()
    assert documented_health_path() == "/api/health"
    assert documented_health_path() in {getattr(r, "path", None) for r in health_router.routes}
    assert readme_command("the service") == "uv run todo-api serve"
    assert readme_command("the test suite") == "uv run pytest"


# ---------------------------------------------------------------- Dockerfile


class Stage:
    def __init__(self, base: str, name: str | None) -> None:
        self.base = base
        self.name = name
        self.instructions: list[tuple[str, str]] = []

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs: continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


@cache
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    """The global ``ARG`` defaults and the stages, in order."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction, args in dockerfile_instructions(read("Dockerfile")):
        if instruction == "FROM":
            base, _, name = args.partition(" AS ") if " AS " in args else args.partition(" as ")
            for arg, value in global_args.items():
                base = base.replace("${" + arg + "}", value)
            stages.append(Stage(base.strip(), name.strip() or None))
        elif not stages:
            assert instruction == "ARG", f"{instruction} before the first FROM"
            arg, _, value = args.partition("=")
            global_args[arg] = value.strip("\"'")
        else:
            stages[-1].instructions.append((instruction, args))
    return global_args, stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for match in re.finditer(r'(\w+)=("[^"]*"|\S+)', args):
            env[match.group(1)] = match.group(2).strip('"')
    return env


def exec_form(args: str) -> list[str]:
    assert args.startswith("["), f"not the exec (JSON) form: {args}"
    value = json.loads(args)
    assert isinstance(value, list)
    return [str(item) for item in value]


def healthcheck_command() -> list[str]:
    args = dockerfile()[1][-1].last("HEALTHCHECK")
    options, separator, command = args.partition(" CMD ")
    assert separator, f"HEALTHCHECK without CMD: {args}"
    assert all(option.startswith("--") for option in options.split()), options
    return exec_form(command)


def test_dockerfile_is_multi_stage_with_uv() -> None:
    _, stages = dockerfile()
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder.name, "the build stage is named, so the runtime stage can copy from it"
    assert any(args.startswith("--from=ghcr.io/astral-sh/uv:") for args in builder.all("COPY"))
    syncs = [args for args in builder.all("RUN") if "uv sync" in args]
    assert syncs, "the build stage runs uv sync"
    for args in syncs:
        assert "--locked" in args and "--no-dev" in args, args
        assert "--mount=type=cache,target=/root/.cache/uv" in args, args
    assert env_of(builder).get("UV_COMPILE_BYTECODE") == "1"
    assert env_of(builder).get("UV_PROJECT_ENVIRONMENT") == VENV
    # The environment refers to its interpreter by path: the same Python image for both.
    assert builder.base == runtime.base
    assert re.fullmatch(r"python:3\.12-slim(-\w+)?", runtime.base), runtime.base
    assert (ROOT / ".python-version").read_text().strip() == "3.12"
    # The runtime stage carries the environment only: no uv, no sources.
    assert runtime.all("COPY") == [f"--from={builder.name} {VENV} {VENV}"]


def test_dockerfile_serves_the_documented_command_on_the_documented_port() -> None:
    runtime = dockerfile()[1][-1]
    scripts = tomllib.loads(read("pyproject.toml"))["project"]["scripts"]
    command = exec_form(runtime.last("CMD"))
    assert command == readme_command("the service").removeprefix("uv run ").split()
    assert command[0] in scripts
    env = env_of(runtime)
    assert env["PATH"].split(":")[0] == f"{VENV}/bin", "the console script is on PATH"
    assert env["HOST"] == "0.0.0.0"  # noqa: S104 - the container's port is published
    assert env["PORT"] == str(documented_port())
    assert runtime.all("EXPOSE") == [str(documented_port())]
    assert not runtime.all("ENTRYPOINT")


def test_dockerfile_runs_as_a_non_root_user() -> None:
    runtime = dockerfile()[1][-1]
    names = [instruction for instruction, _ in runtime.instructions]
    user = runtime.last("USER")
    assert user.split(":")[0] not in {"root", "0"}
    # Numeric, so that Kubernetes' runAsNonRoot can verify it.
    assert re.fullmatch(r"\d+(:\d+)?", user), user
    assert len(names) - 1 - names[::-1].index("USER") < names.index("CMD")


def test_dockerfile_healthcheck_calls_the_health_path() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"], "the slim image has no curl"
    assert f"+ '{documented_health_path()}'" in command[2]
    assert "os.environ.get('PORT', '8000')" in command[2]
    options = dockerfile()[1][-1].last("HEALTHCHECK")
    timeout = re.search(r"--timeout=(\d+)s", options)
    # The service's own database check may take 5 s before it answers 503.
    assert timeout and int(timeout.group(1)) > 5


# ---------------------------------------------------------------- .dockerignore


def dockerignore_excludes(path: str) -> bool:
    """Whether the build context leaves ``path`` out (last matching pattern wins)."""
    excluded = False
    for raw in read(".dockerignore").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = "".join(
            ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
            for part in re.split(r"(\*\*|\*)", pattern)
        )
        parts = path.split("/")
        prefixes = ("/".join(parts[:n]) for n in range(1, len(parts) + 1))
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "src/todo_api/main.py",
        "src/todo_api/py.typed",
        *sorted(p.name for p in ROOT.glob("LICENSE*")),
    ],
)
def test_build_context_keeps_what_the_build_needs(path: str) -> None:
    assert not dockerignore_excludes(path)


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".git/HEAD",
        ".venv/bin/python",
        "todo.db",
        "tests/test_health.py",
        "tests/betterauth/node_modules/better-auth/package.json",
        "clients/node_modules/typescript/package.json",
        "src/todo_api/__pycache__/main.cpython-312.pyc",
        ".mypy_cache/3.12/x.json",
        "bench/run.py",
    ],
)
def test_build_context_leaves_out_the_rest(path: str) -> None:
    assert dockerignore_excludes(path)


def test_readme_named_in_pyproject_is_in_the_build_context() -> None:
    readme = tomllib.loads(read("pyproject.toml"))["project"]["readme"]
    assert not dockerignore_excludes(readme)


# ---------------------------------------------------------------- compose.yaml


def test_compose_runs_the_api_on_postgres_and_optional_redis() -> None:
    services = load_yaml("compose.yaml")["services"]
    api, postgres, redis = services["api"], services["postgres"], services["redis"]
    assert api["build"] == "."
    assert "command" not in api, "the image's CMD is the documented command"
    assert any(str(port).endswith(f":{documented_port()}") for port in api["ports"])

    environment = api["environment"]
    assert re.fullmatch(r"postgresql://[^@]+@postgres:5432/\w+", environment["DATABASE_URL"])
    assert environment["BETTER_AUTH_SECRET"].startswith("${BETTER_AUTH_SECRET:?")
    documented = set(re.findall(r"^([A-Z_]+)=", read(".env.example"), re.M))
    # Read by todo-api serve (HOST/PORT) or by uvicorn (FORWARDED_ALLOW_IPS).
    assert set(environment) - documented <= {"HOST", "PORT", "FORWARDED_ALLOW_IPS"}

    assert api["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert postgres["image"].split(":")[1].split(".")[0] == "17"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in load_yaml("compose.yaml")["volumes"]

    assert redis["profiles"] == ["redis"]
    # Without the profile Redis is not started; depending on it then is an error
    # unless the dependency is optional.
    assert api["depends_on"]["redis"]["required"] is False


def test_compose_healthcheck_is_the_image_healthcheck() -> None:
    api = load_yaml("compose.yaml")["services"]["api"]
    assert api["healthcheck"]["test"] == ["CMD", *healthcheck_command()]


# ---------------------------------------------------------------- the workflow


@cache
def workflow() -> dict[str, Any]:
    return load_yaml(".github/workflows/ci.yml")


def workflow_job() -> dict[str, Any]:
    jobs = workflow()["jobs"]
    assert len(jobs) == 1
    job: dict[str, Any] = next(iter(jobs.values()))
    return job


def run_lines(job: dict[str, Any]) -> list[str]:
    return [
        line.strip()
        for step in job["steps"]
        for line in str(step.get("run", "")).splitlines()
        if line.strip()
    ]


def test_workflow_runs_what_ci_run_runs() -> None:
    ci_run = read(".ci/run")
    job = workflow_job()
    lines = run_lines(job)
    for command in CI_COMMANDS:
        assert command in ci_run, f".ci/run no longer runs {command}"
        assert command in lines, f"the workflow does not run {command}"
    # The README's test command, on every Python version (no condition on the step).
    test_steps = [s for s in job["steps"] if readme_command("the test suite") in str(s.get("run"))]
    assert test_steps and all("if" not in step for step in test_steps)
    npm = [s for s in job["steps"] if str(s.get("run", "")).startswith("npm ci")]
    assert "tests/betterauth" in {step.get("working-directory") for step in npm}


def test_workflow_has_the_services_and_test_urls() -> None:
    job = workflow_job()
    assert {"postgres", "redis"} <= set(job["services"])
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    assert any("5432:5432" in str(port) for port in job["services"]["postgres"]["ports"])
    assert any("6379:6379" in str(port) for port in job["services"]["redis"]["ports"])
    for service in ("postgres", "redis"):
        assert "--health-cmd" in job["services"][service]["options"]
    env = job["env"]
    assert env["TEST_DATABASE_URL"].startswith("postgresql://postgres@127.0.0.1:5432/")
    assert env["TEST_REDIS_URL"].startswith("redis://127.0.0.1:6379/")


def test_workflow_python_and_node_versions() -> None:
    job = workflow_job()
    versions = [str(version) for version in job["strategy"]["matrix"]["python-version"]]
    assert set(versions) == PYTHON_VERSIONS
    requires = tomllib.loads(read("pyproject.toml"))["project"]["requires-python"]
    assert requires == f">={min(versions)}"
    assert job["env"]["UV_PYTHON"] == "${{ matrix.python-version }}"
    node = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-node@")]
    assert node and str(node[0]["with"]["node-version"]) == "20"
    assert any(str(s.get("uses", "")).startswith("astral-sh/setup-uv@") for s in job["steps"])


def test_workflow_actions_are_pinned_to_releases() -> None:
    # PyYAML reads the key `on` as True (YAML 1.1).
    triggers = next(value for key, value in workflow().items() if key in ("on", True))
    assert {"push", "pull_request"} <= set(triggers)
    for step in workflow_job()["steps"]:
        if "uses" in step:
            ref = step["uses"].partition("@")[2]
            # A major tag, or a full release where the action publishes no major tag
            # (astral-sh/setup-uv since v8); never a branch.
            assert re.fullmatch(r"v\d+(\.\d+\.\d+)?", ref), step["uses"]
