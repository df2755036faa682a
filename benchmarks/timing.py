"""Alternating rounds and the statistics of their samples.

Peers take turns within every round (A B C D, A B C D, ...), so whatever
drifts during a run (CPU frequency, caches, the database's own state, a
neighbour's load) falls on all of them alike. Each sample times ``calls``
consecutive calls and records the time per item; a full collection runs
before each sample, untimed, so no peer pays for another's garbage.
"""

from __future__ import annotations

import gc
import itertools
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

__all__ = ["Summary", "alternate", "percentile", "summarize"]

Call = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Summary:
    """Seconds per item: the median and the spread of one peer's samples."""

    median: float
    p10: float
    p25: float
    p75: float
    p90: float
    rounds: int
    calls: int

    @property
    def iqr_pct(self) -> float:
        """Interquartile range as a percentage of the median."""
        return 100 * (self.p75 - self.p25) / self.median if self.median else math.nan


def percentile(values: Sequence[float], share: float) -> float:
    """Linear-interpolated percentile (``share`` from 0 to 1) of non-empty ``values``."""
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(samples: Sequence[float], calls: int) -> Summary:
    return Summary(
        median=percentile(samples, 0.5),
        p10=percentile(samples, 0.1),
        p25=percentile(samples, 0.25),
        p75=percentile(samples, 0.75),
        p90=percentile(samples, 0.9),
        rounds=len(samples),
        calls=calls,
    )


async def alternate(
    peers: Mapping[str, Call],
    arguments: Callable[[int], tuple[Any, ...]],
    *,
    rounds: int,
    calls: int,
    items: int = 1,
    reset: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, list[float]]:
    """Seconds per item of each peer, one sample per round.

    ``arguments(n)`` gives the n-th call's arguments (never reused, so unique
    emails stay unique); they are built before the clock starts. ``reset`` runs
    untimed after every sample (and after the untimed warm-up call of each peer).
    """
    numbers = itertools.count()
    for call in peers.values():
        await call(*arguments(next(numbers)))
        if reset is not None:
            await reset()
    samples: dict[str, list[float]] = {key: [] for key in peers}
    for _ in range(rounds):
        for key, call in peers.items():
            batch = [arguments(next(numbers)) for _ in range(calls)]
            gc.collect()
            started = perf_counter()
            for args in batch:
                await call(*args)
            elapsed = perf_counter() - started
            samples[key].append(elapsed / (calls * items))
            if reset is not None:
                await reset()
    return samples
