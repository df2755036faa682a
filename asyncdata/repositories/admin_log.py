"""The admin audit log: append-only, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

from asyncdata.errors import ValidationError
from asyncdata.models import AdminLog
from asyncdata.repositories.base import Repository

__all__ = ["AdminLogRepository"]


class AdminLogRepository(Repository[AdminLog]):
    model = AdminLog
    default_order = ("-created_at", "-id")
    search_fields = ("action", "resource_type", "ip_address", "user_agent")

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
        """One admin's entries, newest first."""
        return await self.list_where(AdminLog.admin_id == admin_id)

    async def get_by_resource(self, resource_type: str, resource_id: int) -> list[AdminLog]:
        """Entries about one resource, newest first."""
        return await self.list_where(
            AdminLog.resource_type == resource_type, AdminLog.resource_id == resource_id
        )

    async def get_by_action(self, action: str) -> list[AdminLog]:
        """Entries of one action, newest first."""
        return await self.list_where(AdminLog.action == action)

    async def get_between(self, start: datetime, end: datetime) -> list[AdminLog]:
        """Entries with ``start <= created_at < end`` (both timezone-aware), newest first."""
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValidationError(
                    f"{name}={value!r}: must be a timezone-aware datetime", fields=[name]
                )
        return await self.list_where(AdminLog.created_at >= start, AdminLog.created_at < end)

    def _append_only(self, call: str) -> NoReturn:
        raise ValidationError(f"the admin log is append-only: {call} is not allowed")

    async def update(self, id: int, data: Mapping[str, Any], **options: Any) -> NoReturn:
        self._append_only("update")

    async def delete(self, id: int) -> NoReturn:
        self._append_only("delete")

    async def hard_delete(self, id: int) -> NoReturn:
        self._append_only("hard_delete")
