"""Read replicas behind a primary engine: where a session's read runs, and replicas that are down.

``create_engine(read_urls=...)`` (or ``DB_READ_URLS``) builds one engine per
replica and attaches them to the primary engine it returns; sessions keep
being bound to the primary alone. ``asyncdata._transactions.read`` asks
``choose`` for a replica (the rule is ``asyncdata._routing``'s) and runs the
read with the session routed to it: ``RoutingSession.get_bind`` then hands
out the replica for every statement of that read, so it is one connection
and, as on the primary, one round trip per statement. Everything else (writes,
``transaction(db)`` blocks, reads after the session wrote, the caller's own
``db.execute``) uses the primary, as SQLAlchemy's default ``get_bind`` does.

A replica that cannot be reached is reported with a ``RuntimeWarning`` and a
log warning, left out for a few seconds, and the read runs on another replica
or the primary: reads keep working while a replica is down. Disposing the
primary engine disposes its replicas.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from asyncdata._faults import describe, one_line
from asyncdata._routing import ReplicaSet

__all__ = [
    "RoutingSession",
    "attach",
    "choose",
    "has_replicas",
    "leave_out",
    "replicas_of",
    "routed",
]

log = logging.getLogger("asyncdata")

_ROUTE = "asyncdata.route"
_groups: WeakKeyDictionary[Engine, ReplicaSet[AsyncEngine]] = WeakKeyDictionary()


def attach(primary: AsyncEngine, replicas: Sequence[AsyncEngine]) -> None:
    """Make ``replicas`` serve ``primary``'s reads outside transactions; disposed with it."""
    if not replicas:
        return
    _groups[primary.sync_engine] = ReplicaSet(tuple(replicas))
    event.listen(primary.sync_engine, "engine_disposed", _dispose_replicas)


def replicas_of(primary: AsyncEngine) -> tuple[AsyncEngine, ...]:
    """The replica engines attached to ``primary`` (empty: it has none)."""
    group = _groups.get(primary.sync_engine)
    return group.members if group is not None else ()


def has_replicas(primary: Engine) -> bool:
    """Whether reads on ``primary`` (a sync engine) may go to replicas."""
    return primary in _groups


def _dispose_replicas(engine: Engine) -> None:
    # Runs inside the primary's AsyncEngine.dispose(), in its greenlet: sync dispose works.
    group = _groups.get(engine)
    for replica in group.members if group is not None else ():
        replica.sync_engine.dispose()


class RoutingSession(Session):
    """The sync session under asyncdata's sessions: a read routed to a replica runs there."""

    def get_bind(
        self,
        mapper: Any = None,
        *,
        clause: Any = None,
        bind: Any = None,
        **kw: Any,
    ) -> Engine | Connection:
        route: Engine | None = self.info.get(_ROUTE)
        if route is not None:
            return route
        return super().get_bind(mapper, clause=clause, bind=bind, **kw)


def _group(db: AsyncSession) -> ReplicaSet[AsyncEngine] | None:
    bind = db.sync_session.bind
    return _groups.get(bind) if isinstance(bind, Engine) else None


def choose(db: AsyncSession, *, written: bool) -> AsyncEngine | None:
    """The replica for ``db``'s next read outside a transaction, or ``None`` for the primary.

    ``None`` too when the session is not bound to an engine with replicas
    (e.g. bound to a connection, as test fixtures do).
    """
    group = _group(db)
    if group is None:
        return None
    return group.choose(time.monotonic(), written=written)


@contextmanager
def routed(db: AsyncSession, replica: AsyncEngine | None) -> Iterator[None]:
    """Every statement ``db`` runs inside goes to ``replica`` (``None``: no routing)."""
    if replica is None:
        yield
        return
    db.sync_session.info[_ROUTE] = replica.sync_engine
    try:
        yield
    finally:
        db.sync_session.info.pop(_ROUTE, None)


def leave_out(db: AsyncSession, replica: AsyncEngine, exc: BaseException) -> None:
    """``replica`` could not be reached: warn, and skip it for a while."""
    group = _group(db)
    if group is None:
        return
    now = time.monotonic()
    if group.is_out(replica, now):
        return  # another task found it down a moment ago and has warned
    group.leave_out(replica, now)
    message = (
        f"read replica {describe(replica.url)} is unreachable "
        f"({one_line(exc, replica.url)}); reads skip it for {group.retry_after_s:g} s "
        "and go to another replica or the primary"
    )
    log.warning(message)
    try:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    except RuntimeWarning:
        # Warnings turned into errors (python -W error) must not fail the read: it goes on.
        log.debug("the replica warning was turned into an error; the read goes on")
