"""asyncdata: an async data layer for appointment booking on SQLAlchemy 2 and Alembic."""

from asyncdata.database import (
    create_engine,
    db_session,
    dispose_engine,
    get_db,
    get_engine,
    init_db,
    transaction,
)
from asyncdata.errors import (
    AsyncDataError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    TransientError,
    ValidationError,
)
from asyncdata.models import (
    AdminLog,
    Base,
    Booking,
    BookingStatus,
    DayOff,
    Schedule,
    Specialist,
    UserSession,
)
from asyncdata.repositories import (
    AdminLogRepository,
    BookingRepository,
    DayOffRepository,
    Page,
    ScheduleRepository,
    SpecialistRepository,
    UserSessionRepository,
)

__all__ = [
    "AdminLog",
    "AdminLogRepository",
    "AsyncDataError",
    "Base",
    "Booking",
    "BookingRepository",
    "BookingStatus",
    "ConfigurationError",
    "ConflictError",
    "DayOff",
    "DayOffRepository",
    "NotFoundError",
    "Page",
    "Schedule",
    "ScheduleRepository",
    "Specialist",
    "SpecialistRepository",
    "TransientError",
    "UserSession",
    "UserSessionRepository",
    "ValidationError",
    "create_engine",
    "db_session",
    "dispose_engine",
    "get_db",
    "get_engine",
    "init_db",
    "transaction",
]
__version__ = "0.1.0"
