"""Measuring: server processes, /proc counters, wrk runs, a fixed-rate client, checks.

Used by ``bench/run.py``. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from todo_api.tasks.schemas import Task

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
LUA_DIR = BENCH_DIR / "lua"
RESULTS_DIR = BENCH_DIR / "results"
"""Where every bench writes its reports (git-ignored)."""


def results_stem(name: str) -> Path:
    """``RESULTS_DIR/<UTC timestamp>-<name>``, a report's path without its suffix (the
    directory made if missing)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    return RESULTS_DIR / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{name}"


# --- /proc ------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may hold spaces and parentheses: split after the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (0 if it is gone)."""
    fields = _stat_fields(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0


def children_map() -> dict[int, list[int]]:
    """ppid → child pids, for every process."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children = children_map()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def status_kb(pid: int, key: str) -> int:
    """A ``kB`` line of /proc/<pid>/status (``VmHWM``, ``VmRSS``), 0 if absent."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def postgres_backends(database: str) -> list[int]:
    """Backends connected to ``database`` (from their process titles)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            args = cmdline(int(entry))
            if not args or not args[0].startswith("postgres: "):
                continue
            # "postgres: [15/main: ]user database host(port) state"
            words = args[0].split()[1:]
            if words and words[0].endswith(":"):
                words = words[1:]
            if len(words) >= 2 and words[1] == database:
                pids.append(int(entry))
    return pids


def system_busy_ticks() -> int:
    """All CPUs' busy time (everything but idle and iowait), in clock ticks."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values[:8]) - values[3] - values[4]


def background_load_pct(window: float = 1.0) -> float:
    """Busy share of the whole machine over ``window`` seconds, in percent.

    Called while no benchmark traffic runs, so it is everyone else's load.
    """
    before = system_busy_ticks()
    time.sleep(window)
    return (system_busy_ticks() - before) / CLK_TCK / (window * NCPU) * 100


def wait_for_quiet(max_seconds: float, below_pct: float) -> float:
    """Wait up to ``max_seconds`` for the background load to fall under ``below_pct``.

    Returns the last load measured (the run goes ahead either way).
    """
    deadline = time.monotonic() + max_seconds
    load = background_load_pct()
    while load >= below_pct and time.monotonic() < deadline:
        load = background_load_pct()
    return load


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


# --- servers ----------------------------------------------------------------


@dataclass
class Server:
    """One server under test, started in its own session so it can be stopped as a group."""

    app: str  # "service" or "baseline"
    workers: int
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        workers = str(self.workers)
        if self.app == "service":
            return [
                "uv",
                "run",
                "--no-sync",
                "todo-api",
                "serve",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--workers",
                workers,
            ]
        return [
            "uv",
            "run",
            "--no-sync",
            "uvicorn",
            "app:app",
            "--app-dir",
            str(BENCH_DIR / "baseline"),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            workers,
            "--log-level",
            "warning",
            "--no-access-log",
        ]

    def start(self, timeout: float = 120) -> None:
        """Start and wait until it answers ``/api/health`` with every worker up and idle."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), cwd=REPO, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited at start; see {self.log_path}")
            try:
                if httpx.get(self.base_url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            self.stop()
            raise RuntimeError(f"{self.app} not healthy in {timeout:.0f}s; see {self.log_path}")
        # Every worker started and no start-up work left (imports, migrations).
        while time.monotonic() < deadline:
            if len(self.worker_pids()) == self.workers and self._idle():
                return
        self.stop()
        raise RuntimeError(f"{self.app}: {self.workers} idle workers not seen in {timeout:.0f}s")

    def _idle(self, window: float = 1.0, threshold: float = 0.03) -> bool:
        before = self.cpu_ticks()
        time.sleep(window)
        return (self.cpu_ticks() - before) / CLK_TCK / window < threshold

    def pids(self) -> list[int]:
        assert self.process is not None
        return tree(self.process.pid)

    def worker_pids(self) -> list[int]:
        """The processes that serve requests.

        With several workers, uvicorn's spawned children; with one, the
        Python process under ``uv run``.
        """
        python = [p for p in self.pids() if "python" in os.path.basename(cmdline(p)[0] or "")]
        python = [p for p in python if not any("resource_tracker" in a for a in cmdline(p))]
        spawned = [p for p in python if any("spawn_main" in a for a in cmdline(p))]
        return spawned or python[:1]

    def cpu_ticks(self) -> int:
        return sum(cpu_ticks(p) for p in self.pids())

    def peak_rss_kb(self) -> list[int]:
        return [status_kb(p, "VmHWM") for p in self.worker_pids()]

    def rss_kb(self) -> list[int]:
        return [status_kb(p, "VmRSS") for p in self.worker_pids()]

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to its process group, SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(10)
        # Stragglers in the group (workers whose parent died first).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


# --- wrk --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrkSpec:
    """What one scenario asks of wrk."""

    script: str
    path: str
    token: str
    status: int
    shape: str
    id_lo: int = 1
    id_hi: int = 1
    body: str | None = None


@dataclass(slots=True)
class RunMeasure:
    """One timed run against one server."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    failures: int
    failure_detail: str
    server_cpu_us: float
    db_cpu_us: float
    other_load_pct: float
    peak_rss_mb: float
    raw: dict[str, Any] = field(default_factory=dict)


def wrk_available() -> str | None:
    return shutil.which("wrk")


def wrk_command(
    spec: WrkSpec, base_url: str, connections: int, threads: int, seconds: int
) -> tuple[list[str], dict[str, str]]:
    """The ``wrk`` command line and environment (read by ``lua/common.lua``) for ``spec``."""
    env = os.environ | {
        "BENCH_TOKEN": spec.token,
        "BENCH_PATH": spec.path,
        "BENCH_ID_LO": str(spec.id_lo),
        "BENCH_ID_HI": str(spec.id_hi),
        "BENCH_BODY": spec.body or "",
        "BENCH_STATUS": str(spec.status),
        "BENCH_SHAPE": spec.shape,
    }
    command = [
        "wrk",
        "-t",
        str(min(threads, connections)),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_DIR / spec.script),
        base_url,
    ]
    return command, env


def _wrk(spec: WrkSpec, port: int, connections: int, threads: int, seconds: int) -> dict[str, Any]:
    command, env = wrk_command(spec, f"http://{HOST}:{port}", connections, threads, seconds)
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            parsed: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
            return parsed
    raise RuntimeError(
        f"wrk gave no result ({result.returncode}): {result.stderr or result.stdout}"
    )


def failures_of(raw: dict[str, Any]) -> tuple[int, str]:
    """Every kind of failure wrk saw, as a count and a short description."""
    keys = (
        "non2xx",
        "unexpected_status",
        "bad_body",
        "connect_errors",
        "read_errors",
        "write_errors",
        "timeouts",
    )
    parts = {k: int(raw.get(k, 0)) for k in keys if raw.get(k)}
    # non2xx is a subset of unexpected_status: count each failed response once.
    total = sum(v for k, v in parts.items() if k != "non2xx")
    detail = ", ".join(f"{k}={v}" for k, v in parts.items())
    if raw.get("first_bad"):
        detail += f"; first: {raw['first_bad'][:160]}"
    return total, detail


def timed_run(
    server: Server,
    spec: WrkSpec,
    *,
    database: str,
    connections: int,
    threads: int,
    seconds: int,
    warmup: int,
    quiet_wait: float = 0,
    quiet_below: float = 100,
) -> RunMeasure:
    """Warm up, then one timed wrk run with CPU, RSS and load counters around it.

    With ``quiet_wait``, first waits (at most that many seconds) for the rest
    of the machine to use less than ``quiet_below`` percent of it.
    """
    if quiet_wait > 0:
        wait_for_quiet(quiet_wait, quiet_below)
    failures = 0
    detail = ""
    if warmup > 0:
        warm = _wrk(spec, server.port, connections, threads, warmup)
        failures, detail = failures_of(warm)
        if failures:
            detail = "warm-up: " + detail
    db_pids = postgres_backends(database)
    server_before = server.cpu_ticks()
    db_before = {p: cpu_ticks(p) for p in db_pids}
    busy_before = system_busy_ticks()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    wall_before = time.monotonic()

    raw = _wrk(spec, server.port, connections, threads, seconds)

    wall = time.monotonic() - wall_before
    server_ticks = server.cpu_ticks() - server_before
    db_ticks = sum(cpu_ticks(p) - db_before.get(p, 0) for p in postgres_backends(database))
    busy = system_busy_ticks() - busy_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    wrk_seconds = (children.ru_utime + children.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    self_seconds = (own.ru_utime + own.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
    other = busy / CLK_TCK - (server_ticks + db_ticks) / CLK_TCK - wrk_seconds - self_seconds
    run_failures, run_detail = failures_of(raw)
    requests = int(raw["requests"])
    measured_seconds = raw["duration_us"] / 1e6
    return RunMeasure(
        requests=requests,
        seconds=measured_seconds,
        rps=requests / measured_seconds if measured_seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        failures=failures + run_failures,
        failure_detail="; ".join(d for d in (detail, run_detail) if d),
        server_cpu_us=server_ticks / CLK_TCK * 1e6 / requests if requests else 0.0,
        db_cpu_us=db_ticks / CLK_TCK * 1e6 / requests if requests else 0.0,
        other_load_pct=max(0.0, other) / (wall * NCPU) * 100,
        peak_rss_mb=max(server.peak_rss_kb() or [0]) / 1024,
        raw=raw,
    )


# --- fixed-rate (open-loop) client ---------------------------------------------


@dataclass(slots=True)
class FixedRateResult:
    target_rps: float
    achieved_rps: float
    sent: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    failures: int
    statuses: dict[int, int]


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _fixed_rate(
    port: int, path: str, token: str, rate: float, seconds: float, connections: int
) -> FixedRateResult:
    """Open loop: request *i* is due at ``start + i / rate`` whatever happened before.

    Latency runs from the due time to the end of the response, so a request
    that waited for a free connection counts its wait (no coordinated
    omission). Keep-alive HTTP/1.1 over ``connections`` sockets.
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection(HOST, port))
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    failures = 0

    async def one(due: float) -> None:
        nonlocal failures
        reader, writer = await idle.get()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            payload = await reader.readexactly(length)
            statuses[status] += 1
            if status != 200 or not payload.startswith(b'{"data":['):
                failures += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            failures += 1
            writer.close()
            reader, writer = await asyncio.open_connection(HOST, port)
        finally:
            idle.put_nowait((reader, writer))
        latencies.append(loop.time() - due)

    total = int(rate * seconds)
    start = loop.time() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    elapsed = loop.time() - start
    while not idle.empty():
        idle.get_nowait()[1].close()
    ordered = sorted(latencies)
    return FixedRateResult(
        target_rps=rate,
        achieved_rps=len(latencies) / elapsed if elapsed else 0.0,
        sent=total,
        p50_ms=_percentile(ordered, 50) * 1000,
        p99_ms=_percentile(ordered, 99) * 1000,
        max_ms=(ordered[-1] if ordered else 0.0) * 1000,
        failures=failures,
        statuses=dict(statuses),
    )


def fixed_rate(
    port: int, path: str, token: str, rate: float, seconds: float, connections: int = 64
) -> FixedRateResult:
    """``_fixed_rate`` on uvloop (less client CPU on a shared 2-core machine)."""
    try:
        import uvloop

        return uvloop.run(_fixed_rate(port, path, token, rate, seconds, connections))
    except ImportError:
        return asyncio.run(_fixed_rate(port, path, token, rate, seconds, connections))


# --- response checks (before timing) --------------------------------------------

TASK_KEYS = frozenset(Task.model_fields)


class ShapeError(AssertionError):
    pass


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ShapeError(message)


def _check_time(value: Any, name: str, nullable: bool) -> None:
    if value is None:
        _check(nullable, f"{name} is null")
        return
    _check(isinstance(value, str) and value.endswith("Z"), f"{name} not RFC 3339 UTC: {value!r}")
    datetime.fromisoformat(value)


def check_task(task: Any, user_id: str) -> None:
    """A task object of api.md, field by field."""
    _check(isinstance(task, dict), "task is not an object")
    _check(set(task) == TASK_KEYS, f"task keys {sorted(task)}")
    _check(isinstance(task["id"], int) and task["id"] > 0, "id")
    _check(task["user_id"] == user_id, "user_id is not the path's")
    _check(isinstance(task["title"], str) and bool(task["title"]), "title")
    _check(task["description"] is None or isinstance(task["description"], str), "description")
    _check(isinstance(task["completed"], bool), "completed")
    _check(task["priority"] in {"low", "medium", "high"}, "priority")
    _check(isinstance(task["tags"], list) and all(isinstance(t, str) for t in task["tags"]), "tags")
    _check_time(task["completed_at"], "completed_at", nullable=True)
    _check(
        task["completed"] == (task["completed_at"] is not None),
        "completed_at does not match completed",
    )
    _check_time(task["due_date"], "due_date", nullable=True)
    _check_time(task["created_at"], "created_at", nullable=False)
    _check_time(task["updated_at"], "updated_at", nullable=False)


def check_envelope(body: Any, shape: str, user_id: str) -> None:
    """``{"data": task}`` or ``{"data": [...], "total", "page", "page_size"}``, with the
    service's ``next_cursor`` (a string or null; the baseline has no keyset pages)."""
    _check(isinstance(body, dict), "body is not an object")
    if shape == "list":
        keys = set(body) - {"next_cursor"}
        _check(keys == {"data", "total", "page", "page_size"}, f"keys {sorted(body)}")
        cursor = body.get("next_cursor")
        _check(cursor is None or (isinstance(cursor, str) and bool(cursor)), "next_cursor")
        _check(isinstance(body["data"], list), "data is not a list")
        _check(isinstance(body["total"], int) and body["total"] >= len(body["data"]), "total")
        _check(isinstance(body["page"], int) and isinstance(body["page_size"], int), "page")
        _check(len(body["data"]) <= body["page_size"], "more rows than page_size")
        for task in body["data"]:
            check_task(task, user_id)
    else:
        _check(set(body) == {"data"}, f"keys {sorted(body)}")
        check_task(body["data"], user_id)


def request_once(
    base_url: str, method: str, path: str, token: str, body: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return httpx.request(method, base_url + path, headers=headers, content=body, timeout=10)
