"""CPU per request of one task route through ``create_app()``, in-process, in a loop.

The steadiest reading of what a change to the request path costs: no HTTP,
no other app alternating, just ``bench/layers.py``'s calls to the whole
service (middleware, authentication, rate limit, route, database) for
``--seconds``, in batches of ``--requests`` with 32 in flight; it prints the
median CPU µs per request over the batches (one batch's spread is about
±2 µs here). Run it before and after a change, in one session. It is also
the loop to profile:

    uv run python bench/route_cpu.py get --seconds 15
    uvx py-spy record -r 500 --format raw -o get.raw -- .venv/bin/python bench/route_cpu.py get

It drops and recreates the database ``todo_bench_layers`` on the local
PostgreSQL server (``--pg-url``, loopback only), seeded as ``run.py`` does.
"""

from __future__ import annotations

import argparse
import statistics
import time

import uvloop
from layers import SCENARIOS, add_common_arguments, cpu_per_request, scenario_call


async def main(args: argparse.Namespace) -> None:
    async with scenario_call(args.pg_url, args.scenario) as call:
        await cpu_per_request(call, 200, args.concurrency)  # warm-up: pool, statement caches
        batches: list[float] = []
        until = time.monotonic() + args.seconds
        while time.monotonic() < until:
            batches.append(await cpu_per_request(call, args.requests, args.concurrency))
    print(
        f"{args.scenario}: {statistics.median(batches):.1f} CPU µs per request "
        f"(median of {len(batches)} batches of {args.requests}, {args.concurrency} in flight)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--seconds", type=float, default=15.0, help="how long to loop")
    parser.add_argument("--requests", type=int, default=640, help="requests per batch")
    add_common_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse_args()))
