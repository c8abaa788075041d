"""
PostgreSQL, through C{psycopg2} or C{psycopg} (version 3).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from twistar.dbconfig.base import InteractionBase
from twistar.dbconfig.sqltext import placeholdersAfterIs
from twistar.exceptions import (
    DeadlockError,
    LockTimeoutError,
    SerializationError,
    UnsupportedValueError,
)

_UNDEFINED_TABLE = "42P01"
# WAL pages (XLOG_BLCKSZ, as PostgreSQL is built by default) and the size of
# the header of a page that does not start a segment.
_WAL_PAGE = 8192
_WAL_PAGE_HEADER = 24

# Type OIDs of columns whose values the drivers return as immutable objects:
# bool, bytea, "char", name, int8, int2, int4, text, oid, float4, float8,
# money, bpchar, varchar, date, time, timestamp, timestamptz, interval,
# timetz, numeric, uuid. Other columns (arrays, json, hstore...) may hold
# lists and dicts.
_SCALAR_TYPES = frozenset({
    16, 17, 18, 19, 20, 21, 23, 25, 26, 700, 701, 790, 1042, 1043, 1082, 1083, 1114, 1184,
    1186, 1266, 1700, 2950,
})

# A numbered placeholder, as psycopg (3) sends it as it is ($1, $2...).
_NUMBERED = re.compile(r"\$[0-9]+")

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
    formatsInClient = True
    valueAdapters = {Decimal: _psycopg2Decimal}
    # SQLSTATEs: deadlock_detected, serialization_failure, lock_not_available.
    errorClasses = {
        "40P01": DeadlockError, "40001": SerializationError, "55P03": LockTimeoutError,
    }
    # The insert position: past this session's commit record even when the
    # commit returned before the WAL was written (synchronous_commit off).
    logPositionQuery = "SELECT pg_current_wal_insert_lsn()::text"
    replicaStateQuery = (
        "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
        "ELSE pg_current_wal_insert_lsn() END::text, "
        "CASE WHEN NOT pg_is_in_recovery() "
        "OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
        "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END::float8"
    )
    """A standby's replay position and lag: 0 once it has replayed all it
    received, else the age of the last transaction it replayed."""

    def parseLogPosition(self, value: Any) -> int:
        high, _, low = str(value).partition("/")
        position = (int(high, 16) << 32) + int(low, 16)
        if position % _WAL_PAGE == _WAL_PAGE_HEADER:
            # Just past a page's header: the last record ended at the page's
            # start, which is where a standby that replayed it stands.
            position -= _WAL_PAGE_HEADER
        return position

    def logPositionReached(self, position: Any, wanted: Any) -> bool:
        return bool(position >= wanted)

    def replicaState(self, cursor: Any, lagToo: bool = True) -> tuple[Any, float | None]:
        # One statement reads both.
        self.run(cursor, self.replicaStateQuery, [])
        text, lag = cursor.fetchone()
        return (None if text is None else self.parseLogPosition(text)), lag

    # Introspection: pg_catalog, for the tables of the current schema (and
    # the order of the columns of composite keys).
    tablesQuery = (
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    )
    columnsQuery = (
        "SELECT attname, format_type(atttypid, atttypmod), NOT attnotnull "
        "FROM pg_catalog.pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    )
    primaryKeyQuery = (
        "SELECT a.attname FROM pg_catalog.pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(col, n) "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.col "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY k.n"
    )
    foreignKeysQuery = (
        "SELECT c.conname, a.attname, t.relname, r.attname FROM pg_catalog.pg_constraint c "
        "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(col, ref, n) "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.col "
        "JOIN pg_catalog.pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = k.ref "
        "JOIN pg_catalog.pg_class t ON t.oid = c.confrelid "
        "WHERE c.contype = 'f' AND c.conrelid = to_regclass(%s) ORDER BY c.conname, k.n"
    )
    uniqueKeysQuery = (
        "SELECT i.indexrelid, a.attname FROM pg_catalog.pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(col, n) "
        "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.col "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND NOT i.indisprimary "
        "AND i.indpred IS NULL ORDER BY i.indexrelid, k.n"
    )

    def tableArgument(self, tablename: str) -> Any:
        # to_regclass reads a name as SQL does: quoted, it keeps its case.
        return self.quoteIdentifier(tablename)

    def emptyTables(self, txn: Any, tablenames: Sequence[str]) -> None:
        # One TRUNCATE: no foreign key between them is in the way; CASCADE
        # empties the tables whose foreign keys name them too.
        if tablenames:
            names = ", ".join(map(self.quoteIdentifier, tablenames))
            self.run(txn, f"TRUNCATE {names} CASCADE", [])

    def scratchStatements(self, name: str, pooled: bool = False) -> tuple[str, str]:
        quoted = self.quoteIdentifier(name)
        if pooled:
            # A transaction pooler keeps no search path (a session's
            # setting): a database of its own, whose server connections the
            # pooler may keep open (FORCE: PostgreSQL 13).
            return f"CREATE DATABASE {quoted}", f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
        return f"CREATE SCHEMA {quoted}", f"DROP SCHEMA IF EXISTS {quoted} CASCADE"

    def scratchURL(self, url: str, name: str, pooled: bool = False) -> str:
        parts = urlsplit(url)
        if pooled:
            return parts._replace(path="/" + quote(name)).geturl()
        # A schema, first and only in the connections' search path.
        options = parse_qsl(parts.query, keep_blank_values=True)
        given = " ".join(value for key, value in options if key == "options")
        options = [(key, value) for key, value in options if key != "options"]
        options.append(("options", f"{given} -c search_path={name}".strip()))
        return parts._replace(query=urlencode(options, quote_via=quote)).geturl()

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
        return _mutablePositions([column[1] for column in description])

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
    # The values go to the server apart from the statement.
    formatsInClient = False
    numberedPlaceholder = "${}"

    def placeholderColumns(self, query: str) -> tuple[tuple[str | None, ...], frozenset[str]]:
        # A multi-row INSERT of bulkCursor's numbers its placeholders in order.
        return super().placeholderColumns(_NUMBERED.sub("%s", query))

    def resultColumns(self, cursor: Any) -> tuple[tuple[str, ...], tuple[int, ...]]:
        # From the result itself: psycopg's description makes an object
        # for every column each time it is read (about 5 us a column).
        result = cursor.pgresult
        if result is None:
            return super().resultColumns(cursor)
        encoding = cursor.connection.info.encoding
        count = result.nfields
        return (
            tuple(result.fname(index).decode(encoding) for index in range(count)),
            _mutablePositions([result.ftype(index) for index in range(count)]),
        )

    def bulkCursor(self, txn: Any) -> Any:
        # psycopg parses a statement for its %s placeholders in Python (and
        # caches it only up to 4 kB): about 1.5 us a placeholder, most of
        # the time of a multi-row INSERT. A raw cursor sends $1, $2... as
        # they are.
        import psycopg

        return psycopg.RawCursor(txn.connection)

    def run(self, txn: Any, query: str, args: Sequence[Any], adapt: bool = True) -> Any:
        # twistar's INSERTs have no conditions.
        if args and not query.startswith("INSERT") and _IS.search(query):
            split = placeholdersAfterIs(query, self.sqlLexicon)
            if split is not None and len(split[0]) == len(args) + 1:
                query, args = _inlineTruthValues(split, args)
        return super().run(txn, query, args, adapt)


def _mutablePositions(types: Sequence[int]) -> tuple[int, ...]:
    """
    @param types: the type OIDs of a result's columns.
    @return: the positions of the columns whose values may be mutable.
    """
    return tuple(index for index, oid in enumerate(types) if oid not in _SCALAR_TYPES)


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
