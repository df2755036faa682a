"""The admin audit log: append-only, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from asyncdata._validation import check_id, check_instant, check_text
from asyncdata.models import AdminLog
from asyncdata.repositories.searchable import Searchable

__all__ = ["AdminLogRepository"]


class AdminLogRepository(Searchable[AdminLog]):
    model = AdminLog
    default_order = ("-created_at", "-id")

    async def log(
        self,
        admin_id: int,
        action: str,
        *,
        resource_type: str | None = None,
        resource_id: int | None = None,
        details: dict[str, Any] | None = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
    ) -> AdminLog:
        """Append one entry."""
        return await self.create(
            {
                "admin_id": admin_id,
                "action": action,
                "resource_type": resource_type,
                "resource_id": resource_id,
                "details": details,
                "ip_address": ip_address,
                "user_agent": user_agent,
            }
        )

    async def get_by_admin(self, admin_id: int) -> list[AdminLog]:
        """One admin's entries, newest first ([] for an id no row can have)."""
        if (wanted := check_id(admin_id, "admin_id", bits=64)) is None:
            return []
        return await self.list_where(AdminLog.admin_id == wanted)

    async def get_by_resource(
        self, resource_type: str | None, resource_id: int | None
    ) -> list[AdminLog]:
        """Entries about one resource, newest first; None matches an entry without one."""
        kind = check_text(resource_type, "resource_type", optional=True)
        column = AdminLog.resource_id
        same_id: ColumnElement[bool]
        if resource_id is None:
            same_id = column.is_(None)
        elif (wanted := check_id(resource_id, "resource_id", bits=64)) is None:
            return []
        else:
            same_id = column == wanted
        same_type = (
            AdminLog.resource_type.is_(None) if kind is None else AdminLog.resource_type == kind
        )
        return await self.list_where(same_type, same_id)

    async def get_by_action(self, action: str) -> list[AdminLog]:
        """Entries of one action, newest first."""
        return await self.list_where(AdminLog.action == check_text(action, "action"))

    async def get_between(self, start: datetime, end: datetime) -> list[AdminLog]:
        """Entries with ``start <= created_at < end`` (both timezone-aware), newest first."""
        first, last = check_instant(start, "start"), check_instant(end, "end")
        return await self.list_where(AdminLog.created_at >= first, AdminLog.created_at < last)
