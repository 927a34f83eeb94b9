"""Instructions per request of one task route through ``create_app()``, counted by callgrind.

CPU time per request moves by 10 % and more between runs on a shared
machine (``route_cpu.py get`` read 648 to 903 µs for the same code within
one session); the number of instructions a request executes moves by
0.6 % at most. So a change to the request path is weighed here first, as a ratio
of instructions against the code before it, and then in ``run.py``.

    uv run python bench/route_instructions.py get [--requests 640] [--concurrency 8]

The script runs itself under ``valgrind --tool=callgrind`` (Debian package
``valgrind``) with instrumentation off, seeds the database as
``route_cpu.py`` does (``todo_bench_layers``, recreated), warms up, counts
exactly ``--requests`` requests and prints instructions per request. Only
this process is counted (authentication, FastAPI, the service, asyncpg's
side of each round trip), not PostgreSQL. About 40 s a run. Fewer requests
in flight than ``route_cpu.py``: under valgrind a request is some 50 times
slower, and 32 at a time would outwait the pool's timeout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop
from layers import SCENARIOS, add_common_arguments, cpu_per_request, scenario_call

CHILD = "ROUTE_INSTRUCTIONS_CHILD"


def callgrind_control(*arguments: str) -> None:
    subprocess.run(
        ["callgrind_control", *arguments, str(os.getpid())],
        check=True,
        text=True,
        capture_output=True,
    )


async def count(args: argparse.Namespace) -> None:
    """In the child, under callgrind: instrument exactly the counted requests."""
    async with scenario_call(args.pg_url, args.scenario) as call:
        await cpu_per_request(call, 20 * args.concurrency, args.concurrency)  # warm-up
        callgrind_control("--instr=on")
        await cpu_per_request(call, args.requests, args.concurrency)
        callgrind_control("--dump")
        callgrind_control("--instr=off")


def run_under_callgrind(args: argparse.Namespace) -> int:
    """Instructions per request: the child's one dump, divided by the requests counted."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is missing: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory(prefix="route-instructions-") as directory:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={directory}/callgrind.out.%p",
            sys.executable,
            __file__,
            *sys.argv[1:],
        ]
        child = subprocess.run(
            command, env={**os.environ, CHILD: "1"}, capture_output=True, text=True
        )
        dumps = list(Path(directory).glob("callgrind.out.*.1"))  # part 1: the --dump
        if child.returncode != 0 or len(dumps) != 1:
            sys.stderr.write(child.stdout + child.stderr)
            raise SystemExit(f"the counted run failed (exit {child.returncode})")
        totals = [line for line in dumps[0].read_text().splitlines() if line.startswith("totals:")]
        instructions = int(totals[0].split()[1])
    counted: int = args.requests // args.concurrency * args.concurrency
    return round(instructions / counted)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--requests", type=int, default=640, help="requests counted")
    add_common_arguments(parser)
    parser.set_defaults(concurrency=8)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if os.environ.get(CHILD):
        uvloop.run(count(arguments))
    else:
        per_request = run_under_callgrind(arguments)
        print(
            f"{arguments.scenario}: {per_request:,} instructions per request "
            f"({arguments.requests} counted, {arguments.concurrency} in flight)"
        )
