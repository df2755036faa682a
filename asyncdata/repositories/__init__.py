"""Awaitable repositories, one per model, over a caller-owned ``AsyncSession``."""

from asyncdata.repositories._paging import Page
from asyncdata.repositories.admin_log import AdminLogRepository
from asyncdata.repositories.base import BATCH_SIZE, AppendOnlyRepository, Repository
from asyncdata.repositories.booking import BookingRepository
from asyncdata.repositories.date_override import DateOverrideRepository
from asyncdata.repositories.specialist import (
    DayOffRepository,
    ScheduleRepository,
    SpecialistRepository,
)
from asyncdata.repositories.user_session import UserSessionRepository

__all__ = [
    "BATCH_SIZE",
    "AdminLogRepository",
    "AppendOnlyRepository",
    "BookingRepository",
    "DateOverrideRepository",
    "DayOffRepository",
    "Page",
    "Repository",
    "ScheduleRepository",
    "SpecialistRepository",
    "UserSessionRepository",
]
