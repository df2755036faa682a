"""The booking lifecycle: holds, idempotent requests, references, status moves, history.

``BookingLifecycle`` is the part of ``BookingRepository`` that writes history: every
create, reschedule, update and status move records a ``BookingChange`` row in the same
write (so a failed call leaves none). The rules it applies are the plain functions of
``asyncdata._lifecycle`` and ``asyncdata._availability``; statements shared with
``BookingRepository`` are in ``asyncdata.repositories._history``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from typing import Any

from sqlalchemy import JSON, Row, String, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from asyncdata._arguments import check_id
from asyncdata._availability import check_minutes, check_move
from asyncdata._lifecycle import (
    Kind,
    change_kind,
    check_actor,
    check_hold_move,
    check_idempotency_key,
    check_reference,
    created_values,
    diff,
    fingerprint,
    hold_expiry,
)
from asyncdata.errors import ConflictError, ValidationError
from asyncdata.models import Booking, BookingChange, BookingStatus, UTCDateTime, utcnow
from asyncdata.models.booking import new_reference
from asyncdata.models.folded import folded_sources
from asyncdata.repositories._history import (
    BOOKINGS,
    CHANGES,
    History,
    entry,
    expire_holds,
    keyed,
    record,
)
from asyncdata.repositories.base import Repository

__all__ = ["BookingLifecycle"]


class BookingLifecycle(Repository[Booking]):
    """Creates (plain, held, keyed), updates, reschedules and status moves, with history.

    A base of ``BookingRepository``, which supplies the placement rules (``prepare``).
    """

    model = Booking

    def validate(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        values = super().validate(data, partial=partial)
        if values.get("status") == BookingStatus.HELD:
            raise ValidationError(
                "status=held: only hold() makes a held booking, and nothing moves back to it",
                fields=["status"],
            )
        return values

    # -- creating -----------------------------------------------------------------

    async def hold(
        self, data: Mapping[str, Any], *, minutes: int = 10, idempotency_key: str | None = None
    ) -> Booking:
        """Reserve a slot for ``minutes`` (1 to 1440): a booking with status ``held``.

        Placed by the same rules as ``create`` (availability always enforced). Until
        ``hold_expires_at`` it blocks its slot; then it blocks nobody. Move it on with
        ``confirm``, ``update(id, {"status": "pending"})`` or ``cancel`` before then.
        ``data`` must not name a status.
        """
        check_minutes(minutes, "minutes", high=1440)
        return await self._create_booking(
            data, enforce=True, key=idempotency_key, hold_minutes=minutes
        )

    async def _create_booking(
        self,
        data: Mapping[str, Any],
        *,
        enforce: bool,
        key: str | None,
        hold_minutes: int | None = None,
    ) -> Booking:
        values = self.validate(data, partial=False)
        key = check_idempotency_key(key)
        if hold_minutes is not None:
            if "status" in values:
                raise ValidationError(
                    f"status={values['status']}: a hold is always held; leave status out",
                    fields=["status"],
                )
            values["status"] = BookingStatus.HELD
        request = None
        if key is not None:
            call = "create" if hold_minutes is None else "hold"
            request = fingerprint(call, values, enforce=enforce, minutes=hold_minutes)
        async with self.writing(values) as handle:
            if (
                key is not None
                and request is not None
                and (found := await keyed(self.session, key, request)) is not None
            ):
                return found
            now = utcnow()
            values = await self.prepare(values, None, enforce=enforce)
            if hold_minutes is not None:
                values["hold_expires_at"] = hold_expiry(now, hold_minutes)
            if key is not None and request is not None:
                values |= {"idempotency_key": key, "request_fingerprint": request}
            kind = Kind.CREATED if hold_minutes is None else Kind.HELD
            logged = self.session.get_bind().dialect.name == "postgresql"
            if logged:
                row = await self._insert_logged(values, key, entry(0, kind, None, None, at=now))
            else:
                inserted = await self.session.scalars(self._insert_keyed(key), [values])
                row = inserted.one_or_none()
            if row is None:
                # A request with the same key committed between our lookup and our insert
                # (PostgreSQL, different specialists: nothing else serialised the two).
                assert key is not None and request is not None
                if (found := await keyed(self.session, key, request)) is None:
                    raise ConflictError(
                        f"idempotency_key={key!r} is taken", fields=["idempotency_key"]
                    )
                return found
            handle.created([row])
            if not logged:
                history = entry(row.id, kind, None, created_values(values), at=now)
                await record(self.session, [history])
        return row

    async def _insert_logged(
        self, values: dict[str, Any], key: str | None, history: History
    ) -> Booking | None:
        """PostgreSQL: the booking and its history entry in one statement (a data-modifying
        CTE), one round trip less while the specialist's lock is held. None if ``key`` was
        taken meanwhile (``ON CONFLICT DO NOTHING``: then no history either)."""
        at = history["changed_at"]
        # What the ORM insert's column defaults would fill in: a CTE gets none of them.
        row = {"reference": new_reference(), "created_at": at, "updated_at": at}
        row |= {"status": BookingStatus.PENDING, **values}
        for name, (sources, folder) in folded_sources(Booking).items():
            row[name] = folder(*(row.get(source) for source in sources))
        stmt = postgresql.insert(BOOKINGS).values(row)
        if key is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
        booked = stmt.returning(*BOOKINGS.c).cte("booked")
        change = select(
            booked.c.id,
            literal(at, UTCDateTime()),
            literal(history["kind"], String()),
            literal(created_values(values), JSON()),
        )
        logged = insert(CHANGES).from_select(["booking_id", "changed_at", "kind", "new"], change)
        both = select(booked).add_cte(logged.cte("logged"))
        stored = (await self.session.execute(both)).one_or_none()
        return None if stored is None else self._adopt(stored._asdict())

    def _insert_keyed(self, key: str | None) -> Any:
        """The insert; with a key, one that yields no row if the key is taken already."""
        if key is None:
            return self._insert
        name = self.session.get_bind().dialect.name
        dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
        return (
            dialect_insert(Booking)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(Booking)
            .execution_options(populate_existing=True)
        )

    async def _insert_batch(self, batch: list[dict[str, Any]]) -> list[Booking]:
        """``create_many``'s insert, with one history statement per batch."""
        rows = await super()._insert_batch(batch)
        now = utcnow()
        await record(
            self.session,
            (
                entry(row.id, Kind.CREATED, None, created_values(values), at=now)
                for row, values in zip(rows, batch, strict=True)
            ),
        )
        return rows

    # -- changing -----------------------------------------------------------------

    async def _update(
        self,
        id: int,
        data: Mapping[str, Any],
        *,
        enforce: bool,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Booking:
        values = self.validate(data, partial=True)
        actor, reason = check_actor(actor, reason)
        async with self.writing(values):
            current = await self._require(id)
            now = utcnow()
            moving = "status" in values and values["status"] != current.status
            if moving:
                check_hold_move(current.status, current.hold_expires_at, now, booking_id=id)
                if current.status == BookingStatus.HELD:
                    values["hold_expires_at"] = None
            values = await self.prepare(values, current, enforce=enforce)
            old, new = diff(current._asdict(), values)
            values["updated_at"] = now
            await self.session.execute(update(self._table).where(self._pk == id).values(values))
            if new:
                history = entry(id, change_kind(new), old, new, actor=actor, reason=reason, at=now)
                await record(self.session, [history])
        return self._adopt({**current._asdict(), **values})

    async def reschedule(
        self,
        id: int,
        booking_date: date,
        booking_time: time,
        duration_minutes: int | None = None,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Booking:
        """Move a pending or confirmed booking, by the same rules as ``create``; the
        history entry (``rescheduled``) records ``actor`` and ``reason``."""
        data: dict[str, Any] = {"booking_date": booking_date, "booking_time": booking_time}
        if duration_minutes is not None:
            data["duration_minutes"] = duration_minutes
        if check_id(id) is None:
            raise self._not_found(id)
        return await self._update(id, data, enforce=True, actor=actor, reason=reason)

    async def _move(
        self,
        id: int,
        target: BookingStatus,
        *,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Booking:
        """Compare-and-set: the update only applies if the status is still the one checked.

        A booking already in ``target`` is returned unchanged (no history entry): a retried
        or concurrent identical move succeeds.
        """
        if check_id(id) is None:
            raise self._not_found(id)
        actor, reason = check_actor(actor, reason)
        async with self.writing({"id": id, "status": target}):
            seen = await self._row(id)
            if seen.status != target:
                seen = await self._apply_move(seen, target, actor=actor, reason=reason)
        return self._adopt(seen._asdict())

    async def _row(self, id: int) -> Row[Any]:
        table = self._table
        row = (await self.session.execute(select(table).where(table.c.id == id))).one_or_none()
        if row is None:
            raise self._not_found(id)
        return row

    async def _apply_move(
        self, seen: Row[Any], target: BookingStatus, *, actor: str | None, reason: str | None
    ) -> Row[Any]:
        now = utcnow()
        check_hold_move(seen.status, seen.hold_expires_at, now, booking_id=seen.id)
        check_move(seen.status, target, booking_id=seen.id)
        table = self._table
        conditions = [table.c.id == seen.id, table.c.status == seen.status]
        changes: dict[str, Any] = {"status": target, "updated_at": now}
        if seen.status == BookingStatus.HELD:
            # The database decides at the same instant: a hold expiring meanwhile stays put.
            conditions.append(table.c.hold_expires_at > now)
            changes["hold_expires_at"] = None
        stmt = update(table).where(*conditions).values(changes).returning(*table.c)
        row = (await self.session.execute(stmt)).one_or_none()
        if row is None:
            again = await self._row(seen.id)
            if again.status == target:
                return again  # the same move, made concurrently: ours is a retry
            check_hold_move(again.status, again.hold_expires_at, now, booking_id=seen.id)
            raise ConflictError(
                f"booking id={seen.id} changed concurrently (it was {seen.status}, now "
                f"{again.status}); {target} not applied",
                fields=["status"],
            )
        old, new = diff(seen._asdict(), changes)
        history = entry(seen.id, str(target), old, new, actor=actor, reason=reason, at=now)
        await record(self.session, [history])
        return row

    async def confirm(self, id: int, *, actor: str | None = None) -> Booking:
        """pending or held (unexpired) → confirmed; already confirmed: returned as is."""
        return await self._move(id, BookingStatus.CONFIRMED, actor=actor)

    async def cancel(
        self, id: int, *, reason: str | None = None, actor: str | None = None
    ) -> Booking:
        """pending, held (unexpired) or confirmed → cancelled; the slot is free at once.
        ``reason`` and ``actor`` go to the history entry (``notes`` is left alone)."""
        return await self._move(id, BookingStatus.CANCELLED, actor=actor, reason=reason)

    async def complete(self, id: int, *, actor: str | None = None) -> Booking:
        """confirmed → completed."""
        return await self._move(id, BookingStatus.COMPLETED, actor=actor)

    async def mark_no_show(self, id: int, *, actor: str | None = None) -> Booking:
        """confirmed → no_show."""
        return await self._move(id, BookingStatus.NO_SHOW, actor=actor)

    async def release_expired_holds(self) -> int:
        """Cancel every expired hold (history kind ``expired``); returns how many. Writes
        that need a slot do this for their specialist anyway: the sweep is for tidiness
        and for ``get_by_status("held")``."""
        async with self.writing():
            return await expire_holds(self.session, utcnow())

    # -- reading ------------------------------------------------------------------

    async def get_by_reference(self, reference: str) -> Booking | None:
        """The booking with this public reference, or None. A value that cannot be a
        reference (not text, or not 16-64 URL-safe characters) is a ValidationError."""
        wanted = check_reference(reference)
        return await self.first_where(Booking.reference == wanted)

    async def get_history(self, booking_id: int) -> list[BookingChange]:
        """The booking's history, oldest first (one statement); [] for an unknown booking
        (every stored booking has at least its ``created`` or ``held`` entry)."""
        if (checked := check_id(booking_id, "booking_id")) is None:
            return []
        stmt = (
            select(BookingChange)
            .where(BookingChange.booking_id == checked)
            .order_by(BookingChange.id)
        )
        return list(await self._scalars(stmt))
