"""Peak memory of asyncdata's ``create_many``, traced with ``tracemalloc``.

The input rows are built before tracing starts (they are the caller's), so
what is traced is the call's own allocation. Of that, ``retained`` is what is
still alive when the call returns (the returned models), and ``transient =
peak - retained`` is the working memory the call needed on the way. Streaming
in batches keeps the transient part flat as the row count grows; the retained
part grows with it by contract (every model is returned).
"""

from __future__ import annotations

import gc
import tracemalloc
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.database import Target
from benchmarks.operations import delete_new_bookings
from benchmarks.peers import Peer
from benchmarks.workload import Dataset, booking_rows

__all__ = ["MEMORY_GROWTH_LIMIT", "MemoryUse", "measure_memory"]

MEMORY_GROWTH_LIMIT = 1.25
"""transient(most rows) / transient(fewest rows) above this means memory grows with rows."""


@dataclass(frozen=True)
class MemoryUse:
    rows: int
    peak_bytes: int
    retained_bytes: int

    @property
    def transient_bytes(self) -> int:
        return self.peak_bytes - self.retained_bytes

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "transient_bytes": self.transient_bytes}


async def measure_memory(
    peer: Peer, target: Target, data: Dataset, counts: tuple[int, ...]
) -> list[MemoryUse]:
    """One traced ``create_many`` per count (caches warmed first); the rows are deleted after."""
    found = []
    for count in counts:
        rows = booking_rows(data.specialist_ids, count, data.first_day, tag="memory")
        await peer.create_many(rows[: min(count, 1_000)])
        await delete_new_bookings(target, data)
        gc.collect()
        tracemalloc.start()
        try:
            result = await peer.create_many(rows)
            retained, peak = tracemalloc.get_traced_memory()
            del result
        finally:
            tracemalloc.stop()
        found.append(MemoryUse(count, peak, retained))
        await delete_new_bookings(target, data)
    return found


def growth(uses: list[MemoryUse]) -> float:
    """transient(most rows) / transient(fewest rows)."""
    return uses[-1].transient_bytes / max(uses[0].transient_bytes, 1)
