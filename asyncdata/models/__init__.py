"""The ORM models. Every relationship is ``lazy="raise"``: load it with ``load=``."""

from asyncdata.models import _fts, _scale  # noqa: F401  (register the scale indexes)
from asyncdata.models.admin_log import AdminLog
from asyncdata.models.base import NAMING_CONVENTION, Base, UTCDateTime, utcnow
from asyncdata.models.booking import Booking, BookingStatus
from asyncdata.models.booking_change import BookingChange
from asyncdata.models.date_override import DateOverride
from asyncdata.models.specialist import DayOff, Schedule, Specialist
from asyncdata.models.user_session import UserSession

__all__ = [
    "NAMING_CONVENTION",
    "AdminLog",
    "Base",
    "Booking",
    "BookingChange",
    "BookingStatus",
    "DateOverride",
    "DayOff",
    "Schedule",
    "Specialist",
    "UTCDateTime",
    "UserSession",
    "utcnow",
]
