"""A load generator for the leaderboard: many clients hammering one endpoint, for a fixed time.

Each client sends its next request as soon as the previous one is answered (closed loop, no
back-off: a hostile client ignores ``Retry-After``). The result counts answers by status, notes
refusals (429/503) that lack ``Retry-After``, and counts transport errors by kind.

The clients use aiohttp: httpx's pool spends ~6 ms of CPU per request with 200 connections open,
which caps it near 70 requests/s on a 2-core machine, far below what the server answers.

Run ``python -m agimeter.testing.compare_load BASE_URL PATH?QUERY [...] --clients 200 --seconds 10``:
it prints one JSON object. The clients run in this process only, so a latency probe can run in
another process without sharing an event loop (or a GIL) with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

import aiohttp
from pydantic import BaseModel, ConfigDict

REFUSALS = (429, 503)


class LoadResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clients: int
    seconds: float  # from the first request to the last answer
    requests: int  # answered (any status) plus transport errors
    statuses: dict[str, int]  # HTTP status -> answers
    refusals_without_retry_after: int
    transport_errors: dict[str, int]  # exception type -> count
    answered_per_s: float
    ok_per_s: float  # 200 answers per second


async def hammer(base: str, paths: list[str], clients: int, seconds: float, timeout: float = 30.0) -> LoadResult:
    """``clients`` concurrent loops over ``paths`` (client i starts at path i mod len) for ``seconds``."""
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    no_retry_after = 0
    start = time.monotonic()
    deadline = start + seconds

    async def client_loop(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal no_retry_after
        turn = index
        while time.monotonic() < deadline:
            path = paths[turn % len(paths)]
            turn += 1
            try:
                async with session.get(base + path) as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as err:
                errors[type(err).__name__] += 1
                continue
            statuses[response.status] += 1
            if response.status in REFUSALS and "Retry-After" not in response.headers:
                no_retry_after += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        await asyncio.gather(*(client_loop(session, i) for i in range(clients)))
    elapsed = time.monotonic() - start
    answered = sum(statuses.values())
    return LoadResult(
        clients=clients,
        seconds=elapsed,
        requests=answered + sum(errors.values()),
        statuses={str(code): n for code, n in sorted(statuses.items())},
        refusals_without_retry_after=no_retry_after,
        transport_errors=dict(errors),
        answered_per_s=answered / elapsed,
        ok_per_s=statuses[200] / elapsed,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("base", help="server base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("paths", nargs="+", help="request paths with their query, used in turn")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    result = asyncio.run(hammer(args.base, args.paths, args.clients, args.seconds, args.timeout))
    print(json.dumps(result.model_dump(mode="json")), flush=True)


if __name__ == "__main__":
    main()
