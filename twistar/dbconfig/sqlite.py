"""
SQLite, through the standard library's C{sqlite3} module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from twistar.dbconfig.base import InteractionBase

# Messages of SQL errors, for Python versions whose sqlite3 errors carry no
# error code.
_SQL_ERROR_TEXTS = (
    "syntax error", "incomplete input", "unrecognized token", "no such column",
    "has no column named", "no such function",
)


class SQLiteDBConfig(InteractionBase):
    """
    SQLite: C{?} placeholders, the insert id from C{cursor.lastrowid}.

    Dates, times and decimals are stored as text, as C{str()} writes them;
    C{timedelta} values cannot be stored.
    """

    paramstyle = "qmark"
    # Not '"': SQLite reads a double-quoted name that is no column as a string
    # literal, so a misspelt column would silently match nothing.
    identifierQuote = "`"
    maxParameters = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
    isolationLevels = frozenset({"SERIALIZABLE"})
    beginStatement = "BEGIN"
    valueAdapters = {Decimal: str, date: str, datetime: str, time: str}
    storableTypes = InteractionBase.storableTypes - {timedelta}

    def schemaQuery(self, tablename: str) -> tuple[str, list[Any]]:
        return "SELECT name FROM pragma_table_info(?) ORDER BY cid", [tablename]

    def isolationStatement(self, level: str) -> str | None:
        return None

    def batchIds(self, txn: Any, count: int) -> list[Any]:
        last = txn.lastrowid
        return list(range(last - count + 1, last + 1))

    def lastInsertIDQuery(self) -> str:
        return "SELECT last_insert_rowid()"

    def interrupter(self, pool: Any, connection: Any) -> Callable[[], None]:
        return connection.interrupt  # type: ignore[no-any-return]

    def isMissingTable(self, error: BaseException) -> bool:
        return str(error).startswith("no such table")

    def isProgrammingError(self, error: BaseException) -> bool:
        # sqlite3 raises OperationalError for bad SQL too; SQLITE_ERROR (1) is
        # the code of SQL errors, the others are operational.
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return bool(code == 1)
        message = str(error)
        return any(text in message for text in _SQL_ERROR_TEXTS)
