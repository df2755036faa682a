"""Which server a read goes to: the routing rule over plain values, no ORM.

A read outside ``transaction(db)`` goes to a replica, taken in turn (round
robin) so that the load spreads; everything else goes to the primary. A
session that has written reads from the primary from then on, so it always
sees its own writes (a replica may lag behind by a moment). A replica found
unreachable is left out for ``retry_after_s`` seconds, then tried again; while
every replica is out, reads go to the primary. ``asyncdata._replicas`` applies
this to engines and sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["REPLICA_RETRY_S", "ReplicaSet"]

T = TypeVar("T")

REPLICA_RETRY_S = 5.0
"""How long a replica found unreachable is left out before reads try it again."""


@dataclass
class ReplicaSet(Generic[T]):
    """The replicas of one primary and which of them are left out until when.

    ``members`` are whatever the caller routes to (engines, names); ``choose``
    returns one of them or ``None`` for "the primary". Times are the caller's
    monotonic clock, in seconds.
    """

    members: tuple[T, ...]
    retry_after_s: float = REPLICA_RETRY_S
    _out_until: list[float] = field(default_factory=list, repr=False)
    _turn: int = 0

    def __post_init__(self) -> None:
        self._out_until = [0.0] * len(self.members)

    def choose(self, now: float, *, written: bool) -> T | None:
        """The replica for the next read outside a transaction, or ``None`` for the primary.

        ``written``: the session has written, so it must see its writes.
        """
        if written:
            return None
        count = len(self.members)
        for step in range(count):
            index = (self._turn + step) % count
            if self._out_until[index] <= now:
                self._turn = (index + 1) % count
                return self.members[index]
        return None

    def leave_out(self, member: T, now: float) -> None:
        """``member`` could not be reached: skip it for ``retry_after_s`` seconds."""
        for index, candidate in enumerate(self.members):
            if candidate is member:
                self._out_until[index] = now + self.retry_after_s

    def is_out(self, member: T, now: float) -> bool:
        """Whether ``member`` is being left out at ``now``."""
        return any(
            candidate is member and until > now
            for candidate, until in zip(self.members, self._out_until, strict=True)
        )
