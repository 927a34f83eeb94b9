"""Load benchmark of the Todo API against a minimal baseline, on one machine, in one run.

    uv run python bench/run.py [--duration 10 --connections 32 --rounds 3 --scenarios ...]

What one run does (docs/benchmarks.md has the reading of a full run):

1. Creates a fresh PostgreSQL database ``todo_bench`` on the local server,
   migrates it with ``uv run todo-api migrate`` and seeds a user with 1,000
   tasks, one with 10,000 and a "writer" with 1,000 (for create/complete, so
   that writes never change what the list scenarios read).
2. Starts the service (``uv run todo-api serve``) and the baseline
   (``bench/baseline/app.py`` under uvicorn), 1 worker each; checks one
   response per scenario from both in Python (status, JSON shape, and for
   reads the same JSON from both); then for each scenario, for each round,
   runs ``wrk`` (warm-up, then timed) against service and baseline in
   alternating order. Around each timed run it reads the CPU time
   (utime+stime from /proc) of the server's whole process tree and of the
   PostgreSQL backends of the bench database, and VmHWM of each worker.
3. 1-connection runs of the 1k and 10k users' first page (latency without
   queueing), an open-loop fixed-rate run at half of the measured maximum
   rate (p99), EXPLAIN ANALYZE of the service's list query for the 10k user,
   and optionally a py-spy profile of the service under one scenario's load.
4. The same with 2 workers for a subset of scenarios.
5. Prints a Markdown report and writes it (and the raw numbers as JSON) to
   ``bench/results/<timestamp>.md``/``.json``.

``--soak SECONDS`` instead runs only the list scenario against the service
for that long, sampling each worker's RSS every 10 s.

Any non-2xx response, unexpected status, body that does not start like the
expected envelope, or socket error in a run fails that scenario (exit
status 1): a fast error is never counted as speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bench_measure as bm
import bench_setup as bs

RESULTS_DIR = bm.RESULTS_DIR
APPS = ("service", "baseline")
CREATE_BODY = '{"title":"Benchmark task","priority":"high","tags":["Work","errands"]}'
USER_PLAN = {"u1k": 1_000, "u10k": 10_000, "writer": 1_000}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One request type driven by wrk."""

    name: str
    title: str
    script: str
    user: str
    query: str = ""
    shape: str = "single"
    status: int = 200
    by_id: bool = False
    body: str | None = None
    method: str = "GET"

    def path(self, user_id: str) -> str:
        return f"/api/{user_id}/tasks{self.query}"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("list_first", "list, first page", "get.lua", "u1k", shape="list"),
        Scenario("list_page20", "list, page 20", "get.lua", "u1k", "?page=20", "list"),
        Scenario(
            "list_filtered",
            f"list, status=pending&tag={bs.COMMON_TAG}",
            "get.lua",
            "u1k",
            f"?status=pending&tag={bs.COMMON_TAG}",
            "list",
        ),
        Scenario(
            "list_search",
            f"list, q={bs.SEARCH_WORD}",
            "get.lua",
            "u1k",
            f"?q={bs.SEARCH_WORD}",
            "list",
        ),
        Scenario(
            "list_first_10k", "list, first page, 10k-task user", "get.lua", "u10k", shape="list"
        ),
        Scenario("get", "get by id", "get_by_id.lua", "u1k", by_id=True),
        Scenario(
            "create",
            "create with 2 tags",
            "create.lua",
            "writer",
            status=201,
            body=CREATE_BODY,
            method="POST",
        ),
        Scenario(
            "complete", "complete (toggle)", "complete.lua", "writer", by_id=True, method="PATCH"
        ),
    )
}
DEFAULT_2W = "list_first,get,create"


@dataclass(slots=True)
class Report:
    """Everything measured in one invocation; rendered to Markdown and JSON."""

    started: datetime
    command: str
    args: dict[str, Any]
    machine: dict[str, str] = field(default_factory=dict)
    seed: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    fixed_rate: list[dict[str, Any]] = field(default_factory=list)
    explain: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    soak: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


# --- helpers -----------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def version_of(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def machine_info(pg_version: str) -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=bm.REPO,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "src", "pyproject.toml", "uv.lock"],
        cwd=bm.REPO,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    packages = (
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "sqlmodel",
        "asyncpg",
        "pydantic",
        "orjson",
        "pyjwt",
        "uvloop",
        "httptools",
    )
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "postgresql": pg_version,
        "python": platform.python_version(),
        "wrk": " ".join((wrk.stdout or wrk.stderr or "?").split()[:2]),
        "packages": ", ".join(f"{p} {version_of(p)}" for p in packages),
        "commit": commit + (" + uncommitted changes in src/" if dirty else ""),
        "loadavg_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(value: float, digits: int = 1) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


class Deadline:
    """The whole invocation's time bound: later measurements are skipped, not started."""

    def __init__(self, minutes: float) -> None:
        self.end = time.monotonic() + minutes * 60

    def left(self) -> float:
        return self.end - time.monotonic()


@contextlib.contextmanager
def running(servers: list[bm.Server]) -> Iterator[list[bm.Server]]:
    """Start the servers; stop them whatever happens."""
    try:
        for server in servers:
            log(f"starting {server.app} ({server.workers} worker) on port {server.port}")
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


# --- checks -------------------------------------------------------------------------


def check_scenario(scenario: Scenario, server: bm.Server, users: dict[str, bs.BenchUser]) -> Any:
    """One request through httpx; asserts status and shape. Returns the parsed body."""
    user = users[scenario.user]
    base = f"/api/{user.user_id}/tasks"
    if scenario.name == "complete":
        before = bm.request_once(server.base_url, "GET", f"{base}/{user.id_hi}", user.token)
        bm._check(before.status_code == 200, f"GET before complete: {before.status_code}")
        response = bm.request_once(
            server.base_url, "PATCH", f"{base}/{user.id_hi}/complete", user.token
        )
    elif scenario.by_id:
        response = bm.request_once(server.base_url, "GET", f"{base}/{user.id_lo}", user.token)
    else:
        response = bm.request_once(
            server.base_url,
            scenario.method,
            scenario.path(user.user_id),
            user.token,
            scenario.body,
        )
    bm._check(
        response.status_code == scenario.status,
        f"status {response.status_code} (want {scenario.status}): {response.text[:200]}",
    )
    bm._check(
        response.headers.get("content-type", "").startswith("application/json"), "content-type"
    )
    body = response.json()
    bm.check_envelope(body, scenario.shape, user.user_id)
    if scenario.shape == "list":
        data = body["data"]
        page = 20 if "page=20" in scenario.query else 1
        bm._check(body["page"] == page and body["page_size"] == 20, "page/page_size")
        if not scenario.query:
            bm._check(body["total"] == user.task_count, f"total {body['total']}")
            bm._check(len(data) == 20, "first page is not full")
            stamps = [t["created_at"] for t in data]
            bm._check(stamps == sorted(stamps, reverse=True), "not newest first")
        if "page=20" in scenario.query:
            bm._check(len(data) == 20, "page 20 is not full")
        if "status=pending" in scenario.query:
            bm._check(bool(data) and body["total"] < user.task_count, "filter kept everything")
            bm._check(all(not t["completed"] for t in data), "status filter")
            bm._check(all(bs.COMMON_TAG in t["tags"] for t in data), "tag filter")
        if "q=" in scenario.query:
            word = bs.SEARCH_WORD
            bm._check(bool(data), "search found nothing")
            bm._check(
                all(word in (t["title"] + (t["description"] or "")).lower() for t in data),
                "search result without the word",
            )
    elif scenario.name == "create":
        bm._check(body["data"]["tags"] == ["work", "errands"], f"tags {body['data']['tags']}")
        bm._check(bool(response.headers.get("location")), "no Location header")
    elif scenario.name == "complete":
        was = before.json()["data"]["completed"]
        bm._check(body["data"]["completed"] is (not was), "complete did not toggle")
    else:
        bm._check(body["data"]["id"] == user.id_lo, "wrong task")
    if scenario.method == "GET":
        bm._check(bool(response.headers.get("etag")) or scenario.shape == "list", "no ETag")
    return body


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    if type(a) is not type(b):
        return f"{where or '.'}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}.{key}: missing on one side"
            diff = first_difference(a[key], b[key], f"{where}.{key}")
            if diff:
                return diff
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = first_difference(x, y, f"{where}[{i}]")
            if diff:
                return diff
        return None
    return None if a == b else f"{where}: {a!r} vs {b!r}"


def check_all(
    scenarios: list[Scenario],
    servers: dict[str, bm.Server],
    users: dict[str, bs.BenchUser],
    report: Report,
    phase: str,
) -> list[Scenario]:
    """Check every scenario on both servers; returns those that passed."""
    passed = []
    for scenario in scenarios:
        bodies: dict[str, Any] = {}
        try:
            for app in APPS:
                bodies[app] = check_scenario(scenario, servers[app], users)
        except (bm.ShapeError, ValueError, KeyError) as exc:
            message = f"{phase} {scenario.name}: {app} check failed: {exc}"
            log("FAIL " + message)
            report.failed.append(message)
            continue
        passed.append(scenario)
        note = "status and shape OK on both"
        if scenario.method == "GET":
            diff = first_difference(bodies["service"], bodies["baseline"])
            if diff:
                report.warnings.append(
                    f"{phase} {scenario.name}: service and baseline JSON differ at {diff}"
                )
                note += "; JSON differs (see warnings)"
            else:
                note += "; identical JSON from both"
        report.checks.append(f"{phase} {scenario.name}: {note}")
    return passed


# --- measuring phases ------------------------------------------------------------------


def spec_for(scenario: Scenario, users: dict[str, bs.BenchUser]) -> bm.WrkSpec:
    user = users[scenario.user]
    return bm.WrkSpec(
        script=scenario.script,
        path=scenario.path(user.user_id),
        token=user.token,
        status=scenario.status,
        shape=scenario.shape,
        id_lo=user.id_lo,
        id_hi=user.id_hi,
        body=scenario.body,
    )


def record(
    report: Report, phase: str, scenario: str, app: str, rnd: int, result: bm.RunMeasure
) -> None:
    row = {"phase": phase, "scenario": scenario, "app": app, "round": rnd}
    row |= {k: v for k, v in asdict(result).items() if k != "raw"}
    report.runs.append(row)
    flag = f"  FAILURES: {result.failure_detail}" if result.failures else ""
    log(
        f"{phase} {scenario:<15} {app:<8} r{rnd}: {result.rps:8.1f} req/s  "
        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms  "
        f"cpu {result.server_cpu_us:6.0f} us/req  db {result.db_cpu_us:5.0f} us/req  "
        f"other {result.other_load_pct:4.1f}%{flag}"
    )
    if result.failures:
        message = f"{phase} {scenario} {app} round {rnd}: {result.failure_detail}"
        report.failed.append(message)


def measure_rounds(
    scenarios: list[Scenario],
    servers: dict[str, bm.Server],
    users: dict[str, bs.BenchUser],
    report: Report,
    phase: str,
    args: argparse.Namespace,
    deadline: Deadline,
    *,
    connections: int,
    seconds: int,
    warmup: int,
) -> None:
    """For each scenario, ``rounds`` rounds of service and baseline, alternating.

    Each scenario starts on fresh planner statistics (``bs.vacuum_analyze``).
    """
    for scenario in scenarios:
        asyncio.run(bs.vacuum_analyze(bs.admin_dsn(args.pg_url, args.db_name)))
        spec = spec_for(scenario, users)
        for rnd in range(1, args.rounds + 1):
            order = APPS if rnd % 2 else APPS[::-1]
            for app in order:
                if deadline.left() < warmup + seconds + 10:
                    report.skipped.append(f"{phase} {scenario.name} {app} r{rnd} (time bound)")
                    continue
                result = bm.timed_run(
                    servers[app],
                    spec,
                    database=args.db_name,
                    connections=connections,
                    threads=args.threads,
                    seconds=seconds,
                    warmup=warmup,
                    quiet_wait=args.quiet_wait,
                    quiet_below=args.quiet_below,
                )
                record(report, phase, scenario.name, app, rnd, result)


def fixed_rate_runs(
    servers: dict[str, bm.Server],
    users: dict[str, bs.BenchUser],
    report: Report,
    args: argparse.Namespace,
    deadline: Deadline,
) -> None:
    """Open-loop list_first at half of each server's own median max rate."""
    user = users["u1k"]
    path = SCENARIOS["list_first"].path(user.user_id)
    for app in APPS:
        rates = [
            r["rps"]
            for r in report.runs
            if r["phase"] == "1w" and r["scenario"] == "list_first" and r["app"] == app
        ]
        if not rates:
            report.skipped.append("fixed-rate run: list_first was not measured")
            return
        if deadline.left() < args.fixed_rate_seconds + 15:
            report.skipped.append(f"fixed-rate {app} (time bound)")
            continue
        rate = median(rates) / 2
        log(f"fixed rate: {app} at {rate:.0f} req/s for {args.fixed_rate_seconds} s")
        result = bm.fixed_rate(
            servers[app].port,
            path,
            user.token,
            rate,
            args.fixed_rate_seconds,
            connections=args.connections,
        )
        row = {"app": app, "max_rps": median(rates)} | asdict(result)
        report.fixed_rate.append(row)
        log(
            f"fixed rate: {app} achieved {result.achieved_rps:.0f} req/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, failures {result.failures}"
        )
        if result.failures:
            report.failed.append(f"fixed-rate {app}: {result.failures} failures {result.statuses}")


def package_of(frame: str) -> str:
    """``"func (sqlalchemy/orm/session.py:12)"`` → ``sqlalchemy``; a stdlib module → its name."""
    location = frame.rpartition(" (")[2].rstrip(")")
    path = location.rpartition(":")[0] or location
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") or "(native / unknown)"


def profile_service(
    server: bm.Server,
    users: dict[str, bs.BenchUser],
    report: Report,
    args: argparse.Namespace,
    stamp: str,
) -> None:
    """py-spy on the service's worker while wrk drives ``--py-spy-scenario``; top functions."""
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        report.skipped.append(
            "py-spy profile: py-spy not on PATH; run `uv run --with py-spy python bench/run.py "
            "--py-spy 15`"
        )
        return
    scenario = args.py_spy_scenario
    spec = spec_for(SCENARIOS[scenario], users)
    seconds = args.py_spy
    output = RESULTS_DIR / f"{stamp}-pyspy-{scenario}.txt"
    command, env = bm.wrk_command(
        spec, server.base_url, args.connections, args.threads, seconds + 6
    )
    log(f"py-spy: profiling the service worker for {seconds} s under {scenario} load")
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as load:
        time.sleep(3)
        worker = server.worker_pids()[0]
        spy = subprocess.run(
            [
                py_spy,
                "record",
                "--pid",
                str(worker),
                "--duration",
                str(seconds),
                "--rate",
                "250",
                "--nonblocking",
                "--function",
                "--format",
                "raw",
                "--output",
                str(output),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
        out, _ = load.communicate(timeout=seconds + 40)
    if spy.returncode != 0 or not output.exists():
        report.skipped.append(f"py-spy failed: {(spy.stderr or spy.stdout)[-500:]}")
        return
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in output.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    by_package: Counter[str] = Counter()
    for frame, count in own.items():
        by_package[package_of(frame)] += count
    ours = [(f, c) for f, c in inclusive.most_common() if "todo_api/" in f and "cli.py" not in f]
    report.profile = {
        "scenario": scenario,
        "file": str(output.relative_to(bm.REPO)),
        "samples": total,
        "seconds": seconds,
        "own": [(f, c) for f, c in own.most_common(15)],
        "by_package": by_package.most_common(12),
        "inclusive": ours[:15],
        "wrk": next((ln for ln in out.splitlines() if ln.startswith("BENCH_RESULT")), ""),
    }


def phase(
    workers: int,
    scenarios: list[Scenario],
    users: dict[str, bs.BenchUser],
    report: Report,
    args: argparse.Namespace,
    env: dict[str, str],
    deadline: Deadline,
    stamp: str,
) -> None:
    """Start service and baseline with ``workers`` workers and measure ``scenarios``."""
    name = f"{workers}w"
    logs = RESULTS_DIR / f"{stamp}-servers.log"
    servers = {app: bm.Server(app, workers, env, logs) for app in APPS}
    with running(list(servers.values())):
        report.machine[f"workers_{name}"] = ", ".join(
            f"{app}: pids {servers[app].worker_pids()}" for app in APPS
        )
        passed = check_all(scenarios, servers, users, report, name)
        measure_rounds(
            passed,
            servers,
            users,
            report,
            name,
            args,
            deadline,
            connections=args.connections,
            seconds=args.duration,
            warmup=args.warmup,
        )
        if workers == 1:
            lists = [s for s in passed if s.name in {"list_first", "list_first_10k"}]
            if len(lists) == 2:
                log("1-connection latency of the 1k and 10k users' first pages")
                measure_rounds(
                    lists,
                    servers,
                    users,
                    report,
                    "1w-c1",
                    args,
                    deadline,
                    connections=1,
                    seconds=args.latency_seconds,
                    warmup=1,
                )
            fixed_rate_runs(servers, users, report, args, deadline)
            if args.py_spy:
                profile_service(servers["service"], users, report, args, stamp)
        for app in APPS:
            report.machine[f"peak_rss_{name}_{app}"] = str(
                [round(kb / 1024, 1) for kb in servers[app].peak_rss_kb()]
            )


def soak(
    users: dict[str, bs.BenchUser],
    report: Report,
    args: argparse.Namespace,
    env: dict[str, str],
    stamp: str,
) -> None:
    """list_first against the service for ``--soak`` seconds, RSS sampled every 10 s."""
    server = bm.Server("service", 1, env, RESULTS_DIR / f"{stamp}-servers.log")
    spec = spec_for(SCENARIOS["list_first"], users)
    samples: list[dict[str, Any]] = []
    with running([server]):
        check_scenario(SCENARIOS["list_first"], server, users)
        command, env_wrk = bm.wrk_command(
            spec, server.base_url, args.connections, args.threads, args.soak
        )
        started = time.monotonic()
        samples.append({"t": 0, "rss_mb": [round(kb / 1024, 1) for kb in server.rss_kb()]})
        with subprocess.Popen(command, env=env_wrk, stdout=subprocess.PIPE, text=True) as load:
            while load.poll() is None and time.monotonic() - started < args.soak + 30:
                time.sleep(min(10, max(0.1, args.soak + 1 - (time.monotonic() - started))))
                sample = {
                    "t": round(time.monotonic() - started),
                    "rss_mb": [round(kb / 1024, 1) for kb in server.rss_kb()],
                    "hwm_mb": [round(kb / 1024, 1) for kb in server.peak_rss_kb()],
                    "cpu_s": round(server.cpu_ticks() / bm.CLK_TCK, 1),
                }
                samples.append(sample)
                log(f"soak t={sample['t']}s rss {sample['rss_mb']} MB")
            if load.poll() is None:
                load.kill()
            out, _ = load.communicate(timeout=30)
    raw: dict[str, Any] = next(
        (json.loads(ln[13:]) for ln in out.splitlines() if ln.startswith("BENCH_RESULT")), {}
    )
    failures, detail = bm.failures_of(raw) if raw else (1, "no wrk result")
    report.soak = {"seconds": args.soak, "samples": samples, "wrk": raw, "failures": failures}
    if failures:
        report.failed.append(f"soak: {detail}")


# --- report ---------------------------------------------------------------------------


def aggregate(report: Report, phase_name: str) -> dict[tuple[str, str], dict[str, float]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in report.runs:
        if row["phase"] == phase_name:
            groups.setdefault((row["scenario"], row["app"]), []).append(row)
    out = {}
    for key, rows in groups.items():
        out[key] = {
            name: median([r[name] for r in rows])
            for name in (
                "rps",
                "p50_ms",
                "p99_ms",
                "server_cpu_us",
                "db_cpu_us",
                "other_load_pct",
                "peak_rss_mb",
            )
        }
        out[key]["failures"] = sum(r["failures"] for r in rows)
        out[key]["rounds"] = len(rows)
    return out


def results_table(report: Report, phase_name: str) -> list[str]:
    agg = aggregate(report, phase_name)
    if not agg:
        return ["(not measured)"]
    lines = [
        "| scenario | app | req/s | p50 ms | p99 ms | server CPU µs/req | DB CPU µs/req "
        "| peak RSS/worker MB | failed responses | other load % |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name in SCENARIOS:
        for app in APPS:
            m = agg.get((name, app))
            if m is None:
                continue
            lines.append(
                f"| {name} | {app} | {fmt(m['rps'], 0)} | {fmt(m['p50_ms'], 2)} | "
                f"{fmt(m['p99_ms'], 2)} | {fmt(m['server_cpu_us'], 0)} | "
                f"{fmt(m['db_cpu_us'], 0)} | {fmt(m['peak_rss_mb'], 0)} | "
                f"{int(m['failures'])} | {fmt(m['other_load_pct'], 0)} |"
            )
    lines += ["", "Ratios, service / baseline (medians):", ""]
    lines += [
        "| scenario | req/s | server CPU per request | p50 latency | p99 latency |",
        "|---|--:|--:|--:|--:|",
    ]
    for name in SCENARIOS:
        s, b = agg.get((name, "service")), agg.get((name, "baseline"))
        if s and b:
            lines.append(
                f"| {name} | {fmt(ratio(s['rps'], b['rps']), 2)} | "
                f"{fmt(ratio(s['server_cpu_us'], b['server_cpu_us']), 2)} | "
                f"{fmt(ratio(s['p50_ms'], b['p50_ms']), 2)} | "
                f"{fmt(ratio(s['p99_ms'], b['p99_ms']), 2)} |"
            )
    return lines


def targets(report: Report) -> list[str]:
    one = aggregate(report, "1w")
    c1 = aggregate(report, "1w-c1")
    rows: list[tuple[str, str, bool | None]] = []

    def rps_ratio(name: str) -> float:
        s, b = one.get((name, "service")), one.get((name, "baseline"))
        return ratio(s["rps"], b["rps"]) if s and b else float("nan")

    def add(label: str, value: float, ok: Callable[[float], bool], shown: str) -> None:
        rows.append((label, shown, None if value != value else ok(value)))

    v = rps_ratio("list_first")
    add("list first page: req/s service/baseline ≥ 0.5", v, lambda x: x >= 0.5, fmt(v, 2))
    s, b = one.get(("list_first", "service")), one.get(("list_first", "baseline"))
    v = ratio(s["server_cpu_us"], b["server_cpu_us"]) if s and b else float("nan")
    add("list first page: server CPU/request ≤ 2x baseline", v, lambda x: x <= 2, fmt(v, 2) + "x")
    for name, floor in (("get", 0.5), ("complete", 0.5), ("create", 0.4)):
        v = rps_ratio(name)
        add(f"{name}: req/s service/baseline ≥ {floor}", v, floor.__le__, fmt(v, 2))
    fixed = next((r for r in report.fixed_rate if r["app"] == "service"), None)
    v = fixed["p99_ms"] if fixed else float("nan")
    add(
        "p99 at half the max rate ≤ 25 ms (service, list first page)",
        v,
        lambda x: x <= 25,
        f"{fmt(v, 2)} ms at {fmt(fixed['target_rps'], 0)} req/s" if fixed else "n/a",
    )
    for label, table in (("1 connection", c1), (f"{report.args['connections']} connections", one)):
        big, small = table.get(("list_first_10k", "service")), table.get(("list_first", "service"))
        v = ratio(big["p50_ms"], small["p50_ms"]) if big and small else float("nan")
        add(
            f"10k user's first page p50 ≤ 1.5x the 1k user's ({label})",
            v,
            lambda x: x <= 1.5,
            fmt(v, 2) + "x",
        )
    rss = [r["peak_rss_mb"] for r in report.runs if r["phase"] == "1w" and r["app"] == "service"]
    v = max(rss) if rss else float("nan")
    add("one worker's peak RSS ≤ 150 MB (service, VmHWM)", v, lambda x: x <= 150, fmt(v, 0) + " MB")
    bad = sum(r["failures"] for r in report.runs) + sum(r["failures"] for r in report.fixed_rate)
    rows.append(("zero non-2xx / failed responses (all runs, both apps)", str(bad), bad == 0))
    lines = ["| target (1 worker, medians) | measured | met |", "|---|--:|:-:|"]
    for label, shown, ok in rows:
        lines.append(
            f"| {label} | {shown} | {'n/a' if ok is None else ('yes' if ok else '**no**')} |"
        )
    return lines


def render(report: Report) -> str:
    a = report.args
    m = report.machine
    out = [
        f"# Todo API benchmark, {report.started.strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"Command: `{report.command}`",
        "",
        "## Machine",
        "",
        "| nproc | CPU | kernel | PostgreSQL | Python | wrk |",
        "|---|---|---|---|---|---|",
        f"| {m.get('nproc')} | {m.get('cpu')} | {m.get('kernel')} | {m.get('postgresql')} | "
        f"{m.get('python')} | {m.get('wrk')} |",
        "",
        f"- packages: {m.get('packages')}",
        f"- commit: {m.get('commit')}",
        f"- load average at start: {m.get('loadavg_start')}, at end: {m.get('loadavg_end')}",
        f"- settings: {a['connections']} connections, {a['threads']} wrk thread(s), "
        f"{a['warmup']} s warm-up + {a['duration']} s per run, {a['rounds']} rounds, "
        "service and baseline alternating; client, servers and PostgreSQL share the machine",
        f"- seed: {report.seed.get('summary', '')}",
        "",
    ]
    if report.soak:
        out += soak_section(report)
    else:
        out += ["## 1 worker", "", *results_table(report, "1w"), ""]
        c1 = aggregate(report, "1w-c1")
        if c1:
            out += [
                "## Latency of the first page: 10k-task user vs 1k-task user",
                "",
                "| measure | app | 1k user p50 ms | 10k user p50 ms | ratio |",
                "|---|---|--:|--:|--:|",
            ]
            for label, table in (
                ("1 connection", c1),
                (f"{a['connections']} connections", aggregate(report, "1w")),
            ):
                for app in APPS:
                    small, big = table.get(("list_first", app)), table.get(("list_first_10k", app))
                    if small and big:
                        out.append(
                            f"| {label} | {app} | {fmt(small['p50_ms'], 2)} | "
                            f"{fmt(big['p50_ms'], 2)} | "
                            f"{fmt(ratio(big['p50_ms'], small['p50_ms']), 2)} |"
                        )
            out.append("")
        if report.fixed_rate:
            out += [
                "## p99 at half the maximum rate (open loop, list first page)",
                "",
                "Python asyncio client (uvloop), keep-alive connections, requests due at "
                "fixed intervals; latency counted from the due time (no coordinated "
                "omission).",
                "",
                "| app | max req/s (median) | target req/s | achieved | p50 ms | p99 ms "
                "| max ms | failed |",
                "|---|--:|--:|--:|--:|--:|--:|--:|",
            ]
            for r in report.fixed_rate:
                out.append(
                    f"| {r['app']} | {fmt(r['max_rps'], 0)} | {fmt(r['target_rps'], 0)} | "
                    f"{fmt(r['achieved_rps'], 0)} | {fmt(r['p50_ms'], 2)} | "
                    f"{fmt(r['p99_ms'], 2)} | "
                    f"{fmt(r['max_ms'], 1)} | {r['failures']} |"
                )
            out.append("")
        out += ["## 2 workers", "", *results_table(report, "2w"), ""]
        one, two = aggregate(report, "1w"), aggregate(report, "2w")
        scaling = [
            f"| {name} | {app} | "
            f"{fmt(ratio(two[(name, app)]['rps'], one[(name, app)]['rps']), 2)} |"
            for name in SCENARIOS
            for app in APPS
            if (name, app) in one and (name, app) in two
        ]
        if scaling:
            out += [
                "2 workers / 1 worker, req/s:",
                "",
                "| scenario | app | ratio |",
                "|---|---|--:|",
                *scaling,
                "",
            ]
        out += ["## Targets", "", *targets(report), ""]
        if report.explain:
            out += [
                "## EXPLAIN ANALYZE: first page of the 10k-task user",
                "",
                f"Statements {report.explain['source']}.",
                "",
            ]
            for sql, plan in report.explain["statements"]:
                out += ["```sql", sql.strip(), "```", "```", plan, "```", ""]
        if report.profile:
            p = report.profile
            out += [
                f"## py-spy: service worker under {p['scenario']} load ({p['seconds']} s, "
                f"{p['samples']} samples, raw stacks in `{p['file']}`)",
                "",
                "Top 15 by own time:",
                "",
                "| function | own % |",
                "|---|--:|",
            ]
            out += [f"| `{f}` | {fmt(100 * c / p['samples'], 1)} |" for f, c in p["own"]]
            out += ["", "Own time by package:", "", "| package | own % |", "|---|--:|"]
            out += [f"| {k} | {fmt(100 * c / p['samples'], 1)} |" for k, c in p["by_package"]]
            out += [
                "",
                "The service's own functions, inclusive time:",
                "",
                "| function | inclusive % |",
                "|---|--:|",
            ]
            out += [f"| `{f}` | {fmt(100 * c / p['samples'], 1)} |" for f, c in p["inclusive"]]
            out.append("")
    out += ["## Checks before timing", ""] + [f"- {c}" for c in report.checks] + [""]
    if report.warnings:
        out += ["## Warnings", ""] + [f"- {w}" for w in report.warnings] + [""]
    if report.skipped:
        out += ["## Skipped", ""] + [f"- {s}" for s in report.skipped] + [""]
    out += ["## Failures", ""]
    out += [f"- {f}" for f in report.failed] if report.failed else ["none"]
    out += [
        "",
        "## Every run",
        "",
        "| phase | scenario | app | round | req/s | p50 ms | p99 ms "
        "| CPU µs/req | DB µs/req | RSS MB | failed | other load % |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in report.runs:
        out.append(
            f"| {r['phase']} | {r['scenario']} | {r['app']} | {r['round']} | {fmt(r['rps'], 0)} | "
            f"{fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {fmt(r['server_cpu_us'], 0)} | "
            f"{fmt(r['db_cpu_us'], 0)} | {fmt(r['peak_rss_mb'], 0)} | {r['failures']} | "
            f"{fmt(r['other_load_pct'], 0)} |"
        )
    return "\n".join(out) + "\n"


def soak_section(report: Report) -> list[str]:
    s = report.soak
    out = [
        f"## Soak: list first page for {s['seconds']} s (service, 1 worker)",
        "",
        "| t s | RSS MB per worker | VmHWM MB | server CPU s |",
        "|--:|---|---|--:|",
    ]
    for sample in s["samples"]:
        out.append(
            f"| {sample['t']} | {sample['rss_mb']} | {sample.get('hwm_mb', '')} | "
            f"{sample.get('cpu_s', '')} |"
        )
    rss = [x["rss_mb"][0] for x in s["samples"][1:] if x["rss_mb"]]
    if len(rss) >= 2:
        out += [
            "",
            f"RSS from the first to the last sample under load: {rss[0]:.1f} → "
            f"{rss[-1]:.1f} MB ({rss[-1] - rss[0]:+.1f} MB).",
        ]
    w = s["wrk"]
    if w:
        out += [
            "",
            f"wrk: {w['requests']} requests, {w['requests'] / (w['duration_us'] / 1e6):.0f}"
            f" req/s, p50 {w['p50_us'] / 1000:.2f} ms, p99 {w['p99_us'] / 1000:.2f} ms, "
            f"failed {s['failures']}.",
        ]
    return [*out, ""]


# --- main ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the Todo API against a minimal Starlette+asyncpg baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per timed run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario (median)")
    parser.add_argument(
        "--scenarios", default="all", help=f"comma list of {', '.join(SCENARIOS)}, or all"
    )
    parser.add_argument(
        "--scenarios-2w",
        default=DEFAULT_2W,
        help="scenarios for the 2-worker comparison ('' to skip it)",
    )
    parser.add_argument(
        "--latency-seconds", type=int, default=3, help="seconds per 1-connection latency run"
    )
    parser.add_argument(
        "--fixed-rate-seconds",
        type=int,
        default=None,
        help="seconds of the half-max-rate run (default: --duration)",
    )
    parser.add_argument(
        "--py-spy",
        type=int,
        default=0,
        metavar="SECONDS",
        help="profile the service under load with py-spy (0: off)",
    )
    parser.add_argument(
        "--py-spy-scenario",
        choices=sorted(SCENARIOS),
        default="list_first",
        help="the load py-spy profiles under",
    )
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="SECONDS",
        help="only run list_first against the service this long, sampling RSS",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each timed run, wait up to this long for other processes to quieten",
    )
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=25,
        metavar="PERCENT",
        help="'quiet': the rest of the machine uses less than this share of all CPUs",
    )
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="the local PostgreSQL server (loopback only)",
    )
    parser.add_argument("--db-name", default="todo_bench", help="database to (re)create")
    parser.add_argument(
        "--max-minutes", type=float, default=25, help="time bound of the whole invocation"
    )
    args = parser.parse_args(argv)
    if args.fixed_rate_seconds is None:
        args.fixed_rate_seconds = args.duration
    for option in ("scenarios", "scenarios_2w"):
        raw = getattr(args, option)
        names = list(SCENARIOS) if raw == "all" else [n for n in raw.split(",") if n]
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            parser.error(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
        setattr(args, option, names)
    if args.connections < 1 or args.duration < 1 or args.rounds < 1:
        parser.error("connections, duration and rounds must be positive")
    return args


def estimate_seconds(args: argparse.Namespace) -> float:
    per_run = args.warmup + args.duration + 1.5
    total = 60 + len(args.scenarios) * args.rounds * 2 * per_run
    total += 2 * args.rounds * 2 * (args.latency_seconds + 2.5) + 2 * args.fixed_rate_seconds
    if args.scenarios_2w:
        total += 40 + len(args.scenarios_2w) * args.rounds * 2 * per_run
    return float(total + args.py_spy)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if bm.wrk_available() is None:
        print(
            "wrk is not installed. On Debian/Ubuntu: apt-get update && apt-get install -y wrk",
            file=sys.stderr,
        )
        return 2
    deadline = Deadline(args.max_minutes)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(exist_ok=True)
    command = "uv run python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = Report(started=started, command=command.strip(), args=vars(args).copy())
    if not args.soak:
        log(f"estimated time: {estimate_seconds(args) / 60:.1f} min (bound {args.max_minutes} min)")

    database_url = f"{bs.admin_dsn(args.pg_url, args.db_name)}"
    env = bs.server_env(database_url, str(RESULTS_DIR / ".pycache"))
    log(f"creating database {args.db_name}")
    pg_version = asyncio.run(bs.recreate_database(args.pg_url, args.db_name))
    report.machine = machine_info(pg_version)
    log("migrating (uv run todo-api migrate)")
    bs.migrate(database_url, env)
    log("seeding")
    ttl = timedelta(seconds=max(args.soak, args.max_minutes * 60) + 3600)
    seeded = asyncio.run(bs.seed(database_url, USER_PLAN, ttl))
    users = seeded.users
    autovacuum = "on" if asyncio.run(bs.vacuum_analyze(database_url)) else "off"
    report.seed = {
        "summary": (
            f"{seeded.tasks} tasks and {seeded.task_tags} task-tag links for "
            + ", ".join(f"{u.key} ({u.task_count})" for u in users.values())
            + f", COPY in {seeded.seconds:.1f} s; tags 0-3 per task, common tag "
            f"'{bs.COMMON_TAG}', search word '{bs.SEARCH_WORD}'; "
            f"VACUUM ANALYZE before each scenario (server autovacuum: {autovacuum})"
        ),
        "users": {k: asdict(u) | {"token": "<redacted>"} for k, u in users.items()},
    }
    log(report.seed["summary"])
    status = 0
    try:
        if args.soak:
            soak(users, report, args, env, stamp)
        else:
            log("EXPLAIN ANALYZE of the 10k user's first page")
            explained = asyncio.run(
                bs.explain_list(database_url, database_url, users["u10k"].user_id)
            )
            report.explain = asdict(explained)
            scenarios = [SCENARIOS[n] for n in args.scenarios]
            phase(1, scenarios, users, report, args, env, deadline, stamp)
            if args.scenarios_2w:
                if deadline.left() > 120:
                    two = [SCENARIOS[n] for n in args.scenarios_2w]
                    phase(2, two, users, report, args, env, deadline, stamp)
                else:
                    report.skipped.append("2-worker phase (time bound)")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        report.failed.append(f"aborted: {exc}")
        log(f"ABORTED: {exc}")
        status = 1
    report.machine["loadavg_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    text = render(report)
    (RESULTS_DIR / f"{stamp}.md").write_text(text)
    (RESULTS_DIR / f"{stamp}.json").write_text(
        json.dumps(asdict(report), default=str, indent=1) + "\n"
    )
    print(text)
    log(f"written {RESULTS_DIR.relative_to(bm.REPO)}/{stamp}.md and .json")
    if report.failed:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
