"""
SQLite, through the standard library's C{sqlite3} module.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from operator import ne
from typing import Any

from twistar.dbconfig.base import InteractionBase
from twistar.exceptions import (
    ImaginaryTableError,
    InvalidIdentifierError,
    LockTimeoutError,
    SerializationError,
    UnsupportedValueError,
)

# Messages of SQL errors, for Python versions whose sqlite3 errors carry no
# error code.
_SQL_ERROR_TEXTS = (
    "syntax error", "incomplete input", "unrecognized token", "no such column",
    "has no column named", "no such function",
)

# Result codes; SQLITE_BUSY_SNAPSHOT is an extended code of SQLITE_BUSY.
_BUSY, _LOCKED, _BUSY_SNAPSHOT = 5, 6, 517
# The messages of those codes, for Python versions whose sqlite3 errors carry
# no error code (they cannot tell SQLITE_BUSY_SNAPSHOT from SQLITE_BUSY).
_MESSAGE_CODES = {
    "database is locked": _BUSY, "database table is locked": _LOCKED,
    "database schema is locked": _LOCKED,
}

# Declared column types whose values are read as Decimal.
_DECIMAL_TYPES = ("DECIMAL", "NUMERIC")
_INT64 = range(-(2**63), 2**63)
# Summing values of only these types is NaN when one of them is.
_NUMBERS = frozenset({bool, int, float})

# (Database, table name) -> (its list in the registry's schema cache when read,
# the readers of its DECIMAL/NUMERIC columns or None).
_readers: dict[tuple[str, str], tuple[list[str], dict[str, Callable[[Any], Any]] | None]] = {}


def _storedDecimal(value: Decimal) -> str | float:
    """
    @return: what SQLite is sent for C{value}: its C{str()}, or a float
        infinity for an infinite one.
    @raise UnsupportedValueError: for a value SQLite would not give back
        equal. SQLite turns the text of a number into a REAL (of which it
        keeps 15 significant digits) in a DECIMAL or NUMERIC column, unless
        it is a 64-bit integer; it stores NaN as NULL.
    """
    if value.is_finite():
        _, digits, exponent = value.as_tuple()
        significant = len(digits)
        while significant and digits[significant - 1] == 0:
            significant -= 1
        if significant <= 15 and (not significant or -307 <= value.adjusted() <= 307):
            return str(value)
        if exponent == 0 and int(value) in _INT64:
            return str(value)
        reason = "SQLite keeps 15 significant digits of a number that is not a 64-bit integer"
    elif value.is_infinite():
        return float(value)
    else:
        reason = "SQLite stores NaN as NULL"
    raise UnsupportedValueError(f"cannot store a Decimal value ({value!r}): {reason}")


def _storedFloat(value: float) -> float:
    """
    @return: C{value}.
    @raise UnsupportedValueError: for NaN, which SQLite stores as NULL.
    """
    if value != value:
        raise UnsupportedValueError(
            f"cannot store a float value ({value!r}): SQLite stores NaN as NULL"
        )
    return value


def _refuseNaN(values: list[Any], types: set[type]) -> None:
    """
    L{_storedFloat} for every float of C{values}, which are of storable
    C{types}. Numbers only are summed (a NaN makes the sum NaN); otherwise
    NaN is the one such value that differs from itself.

    @raise UnsupportedValueError: for NaN.
    """
    if types.issubset(_NUMBERS):
        try:
            total = sum(values)
        except OverflowError:  # an int too large for a float
            total = math.nan
        if total == total:
            return
    if any(map(ne, values, values)):
        for value in values:
            if type(value) is float:
                _storedFloat(value)


def _readDecimal(value: Any) -> Any:
    """
    @return: a number read from a DECIMAL or NUMERIC column as a C{Decimal}:
        a REAL as the shortest decimal that reads back as it (so a stored
        C{Decimal} of at most 15 digits comes back with them, and a stored
        float loses nothing); text and bytes unchanged.
    """
    if type(value) is float:
        return Decimal(repr(value))
    if type(value) is int:
        return Decimal(value)
    return value


class SQLiteDBConfig(InteractionBase):
    """
    SQLite: C{?} placeholders, the insert id from C{cursor.lastrowid}.

    Dates and times are stored as text, as C{str()} writes them;
    C{timedelta} values and NaN cannot be stored. A C{Decimal} is sent as
    text too, and must have at most 15 significant digits (or be a 64-bit
    integer): SQLite stores it as a number in DECIMAL and NUMERIC columns,
    whose values are read back as C{Decimal}s.
    """

    paramstyle = "qmark"
    # Not '"': SQLite reads a double-quoted name that is no column as a string
    # literal, so a misspelt column would silently match nothing.
    identifierQuote = "`"
    maxParameters = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
    supportsRowLocks = False
    upsertReturns = sqlite3.sqlite_version_info >= (3, 35)
    insertReturning = upsertReturns
    offsetWithoutLimit = " LIMIT -1"
    isolationLevels = frozenset({"SERIALIZABLE"})
    # A transaction takes the write lock when it begins (waiting for it up to
    # the busy timeout): one that read first could not upgrade its lock later.
    beginStatement = "BEGIN IMMEDIATE"
    valueAdapters = {
        Decimal: _storedDecimal, float: _storedFloat, date: str, datetime: str, time: str,
    }
    batchChecks = {float: _refuseNaN}
    storableTypes = InteractionBase.storableTypes - {timedelta}
    # A write waited longer than the connection's timeout (SQLITE_BUSY), or
    # met a lock inside the process (SQLITE_LOCKED); a read transaction
    # cannot write since another connection wrote (SQLITE_BUSY_SNAPSHOT).
    errorClasses = {
        _BUSY: LockTimeoutError, _LOCKED: LockTimeoutError,
        _BUSY_SNAPSHOT: SerializationError,
    }

    # Introspection: the PRAGMA table-valued functions.
    tablesQuery = (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_'"
    )
    columnsQuery = 'SELECT name, type, NOT "notnull" FROM pragma_table_info(?) ORDER BY cid'
    primaryKeyQuery = "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk"
    foreignKeysQuery = (
        'SELECT id, "from", "table", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq'
    )
    uniqueKeysQuery = (
        "SELECT il.name, ii.name FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii"
        " WHERE il.\"unique\" AND il.origin <> 'pk' AND NOT il.partial ORDER BY il.name, ii.seqno"
    )
    # A declared type means what SQLite's type affinity makes of it (INT
    # anywhere in it: an integer); dates and times are read as text, and
    # booleans as integers.
    pythonTypes = (
        (r"^bool", "bool | int"),
        (r"datetime|timestamp", "datetime | str"),
        (r"date", "date | str"),
        (r"time", "time | str"),
        (r"int", "int"),
        (r"char|clob|text", "str"),
        (r"blob", "bytes"),
        (r"real|floa|doub", "float"),
        (r"decimal|numeric", "Decimal"),
    )

    def schemaQuery(self, tablename: str) -> tuple[str, list[Any]]:
        return "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", [tablename]

    def schemaRead(self, tablename: str, columns: list[str], rows: Sequence[Any]) -> None:
        decimals: dict[str, Callable[[Any], Any]] = {
            name: _readDecimal for name, declared in rows
            if declared.upper().startswith(_DECIMAL_TYPES)
        }
        _readers[self.database, tablename] = (columns, decimals or None)

    def columnReaders(
        self, txn: Any, tablename: str
    ) -> Mapping[str, Callable[[Any], Any]] | None:
        known = _readers.get((self.database, tablename))
        if known is None or known[0] is not self.schemas.get(tablename):
            # Read the schema again: the cache was cleared, or filled elsewhere.
            self.schemas.pop(tablename, None)
            try:
                self.getSchema(tablename, txn)
            except (ImaginaryTableError, InvalidIdentifierError):
                return None  # no table of that name: the select says what is wrong
            known = _readers.get((self.database, tablename))
        return None if known is None else known[1]

    def isolationStatement(self, level: str) -> str | None:
        return None

    def emptyTables(self, txn: Any, tablenames: Sequence[str]) -> None:
        # Foreign keys (when enforced) are checked at the end of the
        # transaction, when every table is empty; the savepoint opens one
        # (the pragma lasts until its end) if none is open.
        self.run(txn, "SAVEPOINT twistar_empty_tables", [])
        self.run(txn, "PRAGMA defer_foreign_keys = ON", [])
        super().emptyTables(txn, tablenames)
        self.run(txn, "RELEASE twistar_empty_tables", [])

    def storedTimestamp(self, now: datetime, declared: str) -> Any:
        # Text, as str() writes a naive datetime, which a reload gives back.
        return str(now.replace(tzinfo=None))

    def batchIds(self, txn: Any, count: int) -> list[Any]:
        last = txn.lastrowid
        return list(range(last - count + 1, last + 1))

    def lastInsertIDQuery(self) -> str:
        return "SELECT last_insert_rowid()"

    def interrupter(self, pool: Any, connection: Any) -> Callable[[], None]:
        return connection.interrupt  # type: ignore[no-any-return]

    def errorCode(self, error: BaseException) -> Any:
        code = getattr(error, "sqlite_errorcode", None)
        if code is None:
            return _MESSAGE_CODES.get(str(error).partition(":")[0])
        # The extended code where it has a class of its own, else the primary.
        return code if code in self.errorClasses else code & 0xFF

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
