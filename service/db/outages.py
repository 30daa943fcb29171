"""Database errors that mean the database cannot serve now (an outage, not a bug in facever), and why."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# connection refused or lost, server shutting down, file read-only or full, lock wait exhausted, pool exhausted
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)

_MESSAGES = {
    "unreachable": "the database cannot be reached",
    "read_only": "the database is read-only and cannot take writes",
    "full": "the database's disk is full",
    "busy": "the database is busy",
    "io_error": "the database's storage failed to read or write",
}
# SQLite result codes (sqlite3 errors' sqlite_errorname, extended codes included by prefix)
_SQLITE = {"SQLITE_READONLY": "read_only", "SQLITE_FULL": "full", "SQLITE_BUSY": "busy", "SQLITE_LOCKED": "busy",
           "SQLITE_IOERR": "io_error", "SQLITE_CANTOPEN": "unreachable"}
# Postgres SQLSTATEs: 53100 disk_full, class 53 other insufficient resources (e.g. too many connections)
_POSTGRES = {"53100": "full", "53": "busy"}


def outage_reason(error: Exception) -> str:
    """One of unreachable | read_only | full | busy | io_error, for an error of UNAVAILABLE."""
    if isinstance(error, PoolTimeout):
        return "busy"
    driver = error.orig if isinstance(error, DBAPIError) else None
    sqlite_name = getattr(driver, "sqlite_errorname", None)
    if sqlite_name:
        return next((reason for prefix, reason in _SQLITE.items() if sqlite_name.startswith(prefix)), "io_error")
    state = getattr(driver, "sqlstate", None) or ""
    return _POSTGRES.get(state) or _POSTGRES.get(state[:2]) or "unreachable"


def outage_message(reason: str) -> str:
    return f"{_MESSAGES[reason]}; try again later"
