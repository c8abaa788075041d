"""
PostgreSQL, through C{psycopg2} or C{psycopg} (version 3).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from twistar.dbconfig.base import InteractionBase

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


class PostgreSQLDBConfig(InteractionBase):
    """
    PostgreSQL: C{%s} placeholders, the insert id from C{INSERT ... RETURNING}.
    """

    paramstyle = "format"
    sqlLexicon = "postgres"
    insertReturnsId = True
    sequenceArguments = True
    maxParameters = 65535

    def schemaQuery(self, tablename: str) -> tuple[str, list[Any]]:
        return (
            "SELECT attname FROM pg_catalog.pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            [self.quoteIdentifier(tablename)],
        )

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

    def isMissingTable(self, error: BaseException) -> bool:
        code = getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)
        return code == _UNDEFINED_TABLE

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
