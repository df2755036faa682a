"""Where asyncdata spends its extra time: one operation under cProfile, asyncdata beside
the hand-written peer.

``python -m benchmarks --backend sqlite --profile update`` runs the operation's calls
for both peers under ``cProfile`` and prints, per call, the cumulative time of every
asyncdata and SQLAlchemy function, sorted by how much more asyncdata spends in it.
Profiled times are inflated (roughly 1.5-2x) but their differences point at the cost.
"""

from __future__ import annotations

import cProfile
import itertools
import pstats
import re
from dataclasses import dataclass

from benchmarks.database import BENCH_DATABASE, open_target
from benchmarks.operations import bind, build_operations
from benchmarks.peers import available_peers
from benchmarks.seed import seed
from benchmarks.workload import Sizes

__all__ = ["profile_operation"]

_SHOWN = re.compile(r"asyncdata/|sqlalchemy/(orm|sql|engine|ext/asyncio|util/concurrency)")
_PEERS = ("asyncdata", "handwritten")


@dataclass(frozen=True)
class _Cost:
    calls: float
    cumulative_us: float


def _per_call(stats: pstats.Stats, calls: int) -> dict[str, _Cost]:
    found = {}
    for (path, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        name = f"{path.split('site-packages/')[-1].split('/main/')[-1]}:{function}"
        if _SHOWN.search(name):
            found[name] = _Cost(row[1] / calls, row[3] / calls * 1e6)
    return found


async def profile_operation(
    backend: str,
    key: str,
    *,
    pg_url: str | None = None,
    calls: int | None = None,
    top: int = 30,
    database: str = BENCH_DATABASE,
) -> str:
    """The report for operation ``key``; ``calls`` defaults to ten rounds' worth."""
    sizes = Sizes(memory_rows=())
    async with open_target(backend, pg_url, database=database) as target:
        data = await seed(target, sizes)
        operations = {op.key: op for op in build_operations(target, data, sizes)}
        if key not in operations:
            raise ValueError(f"no operation {key!r} on {backend}: choose from {sorted(operations)}")
        operation = operations[key]
        count = calls or operation.calls * 10
        numbers = itertools.count()
        costs: dict[str, dict[str, _Cost]] = {}
        totals: dict[str, float] = {}
        peers = {peer.key: peer for peer in available_peers(target)[0]}
        for peer_key in _PEERS:
            call = bind(operation, peers[peer_key])
            assert call is not None
            profiler = cProfile.Profile()
            for index in range(count + 3):
                args = operation.arguments(next(numbers))
                if index >= 3:  # the first calls warm the caches, unprofiled
                    profiler.enable()
                await call(*args)
                profiler.disable()
                if operation.reset is not None:
                    await operation.reset()
            stats = pstats.Stats(profiler)
            costs[peer_key] = _per_call(stats, count)
            totals[peer_key] = stats.total_tt / count * 1e6  # type: ignore[attr-defined]
        if operation.finish is not None:
            await operation.finish()
    mine, theirs = costs["asyncdata"], costs["handwritten"]
    rows = sorted(
        mine.items(),
        key=lambda item: item[1].cumulative_us - theirs.get(item[0], _Cost(0, 0)).cumulative_us,
        reverse=True,
    )
    lines = [
        f"{key} on {backend}, {count} profiled calls each: asyncdata "
        f"{totals['asyncdata']:,.0f} µs/call, hand-written {totals['handwritten']:,.0f} µs/call "
        "(profiled; a coroutine's every resume counts as a call)",
        f"{'function':<78} {'calls':>6} {'µs/call':>9} | {'hand calls':>10} {'µs/call':>9}",
    ]
    for name, cost in rows[:top]:
        other = theirs.get(name, _Cost(0, 0))
        lines.append(
            f"{name[-78:]:<78} {cost.calls:6.1f} {cost.cumulative_us:9.1f} | "
            f"{other.calls:10.1f} {other.cumulative_us:9.1f}"
        )
    return "\n".join(lines)
