"""The four ways of doing the same work that the suite times against each other.

Every peer offers the same coroutine methods, one per operation. Each call is
self-contained, the way a request handler would make it: it opens its own
session (or uses the raw connection), does the work, commits if it writes, and
returns what the caller would get. A peer without an equivalent of an
operation does not override it, and the report prints ``n/a`` there.
"""

from __future__ import annotations

import warnings
from datetime import date
from typing import Any, ClassVar

from benchmarks.database import Target

__all__ = ["Peer", "available_peers"]


class Peer:
    """Base of the peers: holds the target database; subclasses implement the operations."""

    key: ClassVar[str]
    label: ClassVar[str]

    def __init__(self, target: Target) -> None:
        self.target = target
        self.sessions = target.sessions

    def supports(self, operation: str) -> bool:
        """Whether this peer implements ``operation`` (overrides the base method)."""
        return getattr(type(self), operation) is not getattr(Peer, operation)

    # The operations and the arguments every peer receives. ----------------------

    async def get_by_id(self, id: int) -> Any:
        """One specialist by primary key."""
        raise NotImplementedError

    async def create(self, data: dict[str, Any]) -> Any:
        """Insert one specialist and commit."""
        raise NotImplementedError

    async def update(self, id: int, bio: str) -> Any:
        """Change one specialist's bio and commit."""
        raise NotImplementedError

    async def search(self, needle: str) -> list[Any]:
        """Active specialists whose text fields contain ``needle``, ignoring case; 50, by name."""
        raise NotImplementedError

    async def get_all(self) -> list[Any]:
        """The first 50 active specialists by name, with schedules and days off loaded."""
        raise NotImplementedError

    async def create_many(self, rows: list[dict[str, Any]]) -> Any:
        """Insert all bookings (deriving ``starts_at``/``ends_at``) and commit."""
        raise NotImplementedError

    async def slots(self, specialist_id: int, on_date: date) -> list[Any]:
        """The free slot starts of one day (or, for the raw driver, the rows they need)."""
        raise NotImplementedError

    async def book(self, row: dict[str, Any]) -> Any:
        """One booking, committed, on its own pooled connection."""
        raise NotImplementedError

    async def availability(self, specialist_ids: list[int], first: date, days: int) -> Any:
        """Free slot starts of every specialist on every day from ``first``, in one call:
        ``{specialist_id: {date: [start, ...]}}``."""
        raise NotImplementedError

    async def availability_by_day(self, specialist_ids: list[int], first: date, days: int) -> Any:
        """The same answer, built from one single-day slot search per specialist and day."""
        raise NotImplementedError


def available_peers(target: Target) -> tuple[list[Peer], dict[str, str]]:
    """The peers in table order, and why any optional one is missing."""
    from benchmarks.peers.handwritten import HandwrittenPeer
    from benchmarks.peers.library import AsyncdataPeer
    from benchmarks.peers.raw import RawPeer

    peers: list[Peer] = [AsyncdataPeer(target), HandwrittenPeer(target)]
    missing: dict[str, str] = {}
    try:
        with warnings.catch_warnings():
            # advanced-alchemy still decorates its mixins with declarative_mixin, which
            # SQLAlchemy 2.1 deprecates: its warning, not ours.
            warnings.simplefilter("ignore", DeprecationWarning)
            from benchmarks.peers.advanced import AdvancedAlchemyPeer
    except ImportError as exc:
        missing["advanced_alchemy"] = f"not importable ({exc}): pip install .[bench]"
    else:
        peers.append(AdvancedAlchemyPeer(target))
    peers.append(RawPeer(target))
    return peers, missing
