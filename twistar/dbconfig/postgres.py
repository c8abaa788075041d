"""
PostgreSQL, through C{psycopg2} or C{psycopg} (version 3).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from twistar.dbconfig.base import InteractionBase
from twistar.dbconfig.sqltext import placeholdersAfterIs
from twistar.exceptions import (
    DeadlockError,
    LockTimeoutError,
    SerializationError,
    UnsupportedValueError,
)

_UNDEFINED_TABLE = "42P01"

# Type OIDs of columns whose values the drivers return as immutable objects:
# bool, bytea, "char", name, int8, int2, int4, text, oid, float4, float8,
# money, bpchar, varchar, date, time, timestamp, timestamptz, interval,
# timetz, numeric, uuid. Other columns (arrays, json, hstore...) may hold
# lists and dicts.
_SCALAR_TYPES = frozenset({
    16, 17, 18, 19, 20, 21, 23, 25, 26, 700, 701, 790, 1042, 1043, 1082, 1083, 1114, 1184,
    1186, 1266, 1700, 2950,
})

# What is written for psycopg (3) in place of an argument after IS or IS NOT.
_TRUTH_VALUES = {None: "NULL", True: "TRUE", False: "FALSE"}
_IS = re.compile(r"(?i)\bIS\b")
_NAN = Decimal("NaN")


def _storedDecimal(value: Decimal) -> Decimal:
    """
    @return: C{value}; C{Decimal('NaN')} for a NaN with a sign, which
        PostgreSQL would not read.
    @raise UnsupportedValueError: for a signaling NaN, which would come
        back as a quiet one.
    """
    if value.is_nan():
        if value.is_snan():
            raise UnsupportedValueError(
                f"cannot store a Decimal value ({value!r}): PostgreSQL has no signaling NaN"
            )
        return _NAN
    return value


def _psycopg2Decimal(value: Decimal) -> Any:
    """
    @return: C{value}, or for NaN and the infinities an object psycopg2
        writes as that C{numeric} value (psycopg2 itself writes them all as
        NaN).
    @raise UnsupportedValueError: for a signaling NaN.
    """
    if value.is_finite():
        return value
    return _NumericLiteral(str(_storedDecimal(value)))


class _NumericLiteral:
    """
    A C{numeric} constant, as psycopg2 adapts objects: through
    C{__conform__} and C{getquoted}.
    """

    def __init__(self, text: str) -> None:
        self.quoted = f"'{text}'::numeric".encode()

    def __conform__(self, protocol: Any) -> _NumericLiteral:
        return self

    def getquoted(self) -> bytes:
        return self.quoted


class PostgreSQLDBConfig(InteractionBase):
    """
    PostgreSQL through psycopg2: C{%s} placeholders, the insert id from
    C{INSERT ... RETURNING}.

    A C{Decimal} NaN or infinity is stored as that C{numeric} value
    (infinities need PostgreSQL 14 and an unconstrained C{NUMERIC} column);
    a signaling NaN is refused.
    """

    paramstyle = "format"
    sqlLexicon = "postgres"
    insertReturnsId = True
    insertReturning = True
    returningInOrder = True
    upsertReturns = True
    sequenceArguments = True
    maxParameters = 65535
    valueAdapters = {Decimal: _psycopg2Decimal}
    # SQLSTATEs: deadlock_detected, serialization_failure, lock_not_available.
    errorClasses = {
        "40P01": DeadlockError, "40001": SerializationError, "55P03": LockTimeoutError,
    }

    def schemaQuery(self, tablename: str) -> tuple[str, list[Any]]:
        return (
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            [self.quoteIdentifier(tablename)],
        )

    def typedValue(self, placeholder: str, declared: str) -> str:
        # A CASE result is typed from its values, not the column it is
        # assigned to: the column's type is given.
        return f"CAST({placeholder} AS {declared})"

    def mutableColumns(self, description: Sequence[Any]) -> tuple[int, ...]:
        return tuple(
            index for index, column in enumerate(description) if column[1] not in _SCALAR_TYPES
        )

    def lastInsertIDQuery(self) -> str:
        return "SELECT lastval()"

    def isConnectionLost(self, error: BaseException, connection: Any) -> bool:
        return (
            super().isConnectionLost(error, connection)
            or bool(getattr(connection, "closed", False))
            or bool(getattr(connection, "broken", False))
        )

    def interrupter(self, pool: Any, connection: Any) -> Callable[[], None]:
        return connection.cancel  # type: ignore[no-any-return]

    def errorCode(self, error: BaseException) -> Any:
        # The SQLSTATE: psycopg2's pgcode, psycopg's sqlstate.
        return getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)

    def isMissingTable(self, error: BaseException) -> bool:
        return bool(self.errorCode(error) == _UNDEFINED_TABLE)

    def refusedValues(self, error: Exception, args: Sequence[Any]) -> list[Any]:
        if "NUL" in str(error):  # psycopg2's ValueError, psycopg's DataError
            return [a for a in args if isinstance(a, str) and "\x00" in a]
        return super().refusedValues(error, args)

    def driverAdapts(self, value: Any) -> bool:
        if super().driverAdapts(value) or hasattr(value, "getquoted"):
            return True
        psycopg2 = sys.modules.get("psycopg2.extensions")
        if psycopg2 is not None and (type(value), psycopg2.ISQLQuote) in psycopg2.adapters:
            return True
        psycopg = sys.modules.get("psycopg")
        if psycopg is not None:
            try:
                psycopg.adapters.get_dumper(type(value), psycopg.adapt.PyFormat.AUTO)
                return True
            except Exception:
                return False
        return False


class PsycopgDBConfig(PostgreSQLDBConfig):
    """
    PostgreSQL through psycopg (version 3), which sends the arguments apart
    from the statement (server-side binding), where C{IS $1} is no valid
    SQL: an argument C{None}, C{True} or C{False} right after C{IS} or
    C{IS NOT} (as in the wheres of L{twistar.utils.dictToWhere}) is written
    into the statement as C{NULL}, C{TRUE} or C{FALSE}.
    """

    # psycopg writes a Decimal NaN and the infinities itself.
    valueAdapters = {Decimal: _storedDecimal}

    def run(self, txn: Any, query: str, args: Sequence[Any], adapt: bool = True) -> Any:
        # twistar's INSERTs have no conditions.
        if args and not query.startswith("INSERT") and _IS.search(query):
            split = placeholdersAfterIs(query, self.sqlLexicon)
            if split is not None and len(split[0]) == len(args) + 1:
                query, args = _inlineTruthValues(split, args)
        return super().run(txn, query, args, adapt)


def _inlineTruthValues(
    split: tuple[tuple[str, ...], frozenset[int]], args: Sequence[Any]
) -> tuple[str, list[Any]]:
    """
    @param split: a query cut at its placeholders, and the positions of
        those right after C{IS} or C{IS NOT} (see L{placeholdersAfterIs}).
    @return: the query with the arguments C{None}, C{True} and C{False} of
        those placeholders written into it, and the other arguments.
    """
    pieces, afterIs = split
    parts = [pieces[0]]
    kept = []
    for index, arg in enumerate(args):
        if index in afterIs and (arg is None or arg is True or arg is False):
            parts.append(_TRUTH_VALUES[arg])
        else:
            parts.append("%s")
            kept.append(arg)
        parts.append(pieces[index + 1])
    return "".join(parts), kept
