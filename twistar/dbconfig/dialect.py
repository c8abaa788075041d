# -*- test-case-name: twistar.tests.test_sql -*-
"""
L{Dialect}: what sets one database's SQL apart, and building statements
in it.

A database is a small subclass that sets data here (paramstyle, identifier
quote, empty-insert clause, capabilities) and overrides a few methods
(schema query, isolation statement). Statements are built from that data,
without a connection. Reading SQL text and checking names is in
L{twistar.dbconfig.sqltext}.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from twisted.logger import Logger

from twistar.dbconfig.builder import Column, compileSelect, selectOf
from twistar.dbconfig.sqltext import (
    Limit,
    Where,
    checkIdentifier,
    checkLimit,
    checkWhere,
    convertPlaceholders,
    placeholderColumns,
    quotedName,
    safeText,
)
from twistar.dbconfig.writes import Delete, Update, compileDelete, compileInsert, compileUpdate
from twistar.exceptions import (
    InvalidIdentifierError,
    PlaceholderCountError,
    TwistarError,
    UnsupportedValueError,
)
from twistar.replicas import DEFAULT_DATABASE, ReplicaSet

if TYPE_CHECKING:
    from twisted.enterprise.adbapi import ConnectionPool

_queryLog = Logger(namespace="twistar")


_STORABLE_TYPES = frozenset({
    type(None), bool, int, float, str, bytes, bytearray, memoryview,
    Decimal, date, time, datetime, timedelta,
})

# The precision in a declared type: DATETIME(3), timestamp(0) with time zone.
_PRECISION = re.compile(r"\((\d)\)")


class RegistryView(Protocol):
    """
    What the SQL layer reads of the L{twistar.registry.Registry}, which sits
    above it (see L{Dialect.registry}).
    """

    @classmethod
    def poolOf(cls, database: str = ...) -> ConnectionPool | None:
        """The pool of a database's primary; C{None} until one is set."""

    @classmethod
    def schemasOf(cls, database: str = ...) -> dict[str, list[str]]:
        """The cached column names of each table of a database."""

    @classmethod
    def replicasOf(cls, database: str = ...) -> ReplicaSet | None:
        """The replicas of a database, or C{None} if it has none."""


class _NoRegistry:
    """
    L{Dialect.registry} until L{twistar.registry} is imported: no pool yet.
    """

    _schemas: ClassVar[dict[str, list[str]]] = {}

    @classmethod
    def poolOf(cls, database: str = DEFAULT_DATABASE) -> None:
        return None

    @classmethod
    def schemasOf(cls, database: str = DEFAULT_DATABASE) -> dict[str, list[str]]:
        return cls._schemas

    @classmethod
    def replicasOf(cls, database: str = DEFAULT_DATABASE) -> None:
        return None


class Dialect:
    """
    One database's SQL: the data a database subclass sets, and the
    statements built from it in the driver's paramstyle.
    """

    registry: ClassVar[RegistryView] = _NoRegistry
    """Where the pool and the schema cache are: L{twistar.registry} sets it
    to its C{Registry}. The SQL layer sits below the registry, so it never
    imports it."""

    database: str = DEFAULT_DATABASE
    """The name of the database whose pools run this config's statements
    (see L{Registry.addDatabase<twistar.registry.Registry.addDatabase>})."""
    primaryOnly: bool = False
    """Whether reads go to the database's primary too, never to a replica."""

    LOG: ClassVar[bool] = False
    """Log every query and its arguments through C{twisted.logger}."""
    QUERY_EVENTS: ClassVar[bool] = False
    """Emit a structured event for every statement on C{twisted.logger}
    (see L{twistar.querylog}): at debug level, at error level when it
    fails."""
    SLOW_QUERY: ClassVar[float | None] = None
    """Seconds: a statement that takes at least this long is an event at
    warning level (see L{twistar.querylog}); C{None} for none."""

    # The dialect: what a database subclass sets.
    paramstyle: ClassVar[str] = "qmark"
    """The driver's paramstyle: C{qmark} (C{?}) or C{format} (C{%s})."""
    identifierQuote: ClassVar[str] = '"'
    """The character that quotes table and column names."""
    sqlLexicon: ClassVar[str] = "standard"
    """How strings and comments are written, for L{convertPlaceholders}."""
    emptyInsertClause: ClassVar[str] = "DEFAULT VALUES"
    """What follows C{INSERT INTO table} for a row of defaults only."""
    insertReturnsId: ClassVar[bool] = False
    """Get new ids with C{INSERT ... RETURNING id} (else C{cursor.lastrowid})."""
    insertReturning: ClassVar[bool] = False
    """C{INSERT ... RETURNING} can give back any columns, such as a key the
    database made (else only an auto-increment one is known, from
    C{cursor.lastrowid})."""
    returningInOrder: ClassVar[bool] = False
    """A multi-row C{INSERT ... RETURNING} returns its rows in the order of
    its values (else a key is read back one row at a time)."""
    upsertClause: ClassVar[str] = "ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    """What follows the values of an upsert that updates: C{{keys}} are the
    unique key's columns, C{{sets}} the assignments (see L{insertedValue})."""
    upsertIgnoreClause: ClassVar[str] = "ON CONFLICT ({keys}) DO NOTHING"
    """What follows the values of an upsert that leaves an existing row
    alone; C{{key}} is the key's first column."""
    insertedValue: ClassVar[str] = "excluded.{column}"
    """How an upsert's assignment names the value a row would have had."""
    upsertReturns: ClassVar[bool] = False
    """An upsert can return columns of the rows it wrote (C{RETURNING});
    else they are selected by key after it."""
    upsertLookupLock: ClassVar[str | None] = None
    """The locking clause of that select, where a plain one could miss
    rows the upsert wrote (a snapshot taken before a row was committed)."""
    supportsUpdateLimit: ClassVar[bool] = False
    """C{UPDATE ... LIMIT n} is valid SQL (else an C{id IN (SELECT ...)} is used)."""
    sequenceArguments: ClassVar[bool] = False
    """The driver expands a list or tuple argument (for C{IN ?})."""
    maxParameters: ClassVar[int] = 999
    """The most parameters one statement may have."""
    supportsRowLocks: ClassVar[bool] = True
    """C{SELECT ... FOR UPDATE} and its kin lock rows (else they are left
    out: the transaction already holds a lock on the whole database)."""
    offsetWithoutLimit: ClassVar[str] = ""
    """What comes before C{OFFSET n} in a select that has no limit."""
    derivedTableForSubqueries: ClassVar[bool] = False
    """An C{IN (SELECT ...)} subquery must select from a derived table (it
    may neither have a limit nor read the table being changed)."""
    isolationLevels: ClassVar[frozenset[str]] = frozenset(
        {"READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"}
    )
    """The isolation levels a transaction may ask for."""
    beginStatement: ClassVar[str | None] = None
    """A statement that opens a transaction, where the driver does not."""
    replayable: ClassVar[bool] = True
    """Work whose connection died before it committed left nothing behind,
    so a reconnecting pool may run it again on a new connection."""
    valueAdapters: ClassVar[dict[type, Callable[[Any], Any]]] = {}
    """Conversions applied to argument values of these exact types."""
    storableTypes: ClassVar[frozenset[type]] = _STORABLE_TYPES
    """The types of values the driver stores (their subclasses too)."""
    batchChecks: ClassVar[dict[type, Callable[[list[Any], set[type]], None]]] = {}
    """For a type whose L{valueAdapters} entry only checks values (returning
    them unchanged): a check of the values of one column of a batch (given
    with the set of their types, which holds this one), raising as that
    entry would, faster than a call per value."""
    timestampDigits: ClassVar[int] = 6
    """The digits of a second that a timestamp column declared without a
    precision keeps."""
    fetchSize: ClassVar[int] = 1000
    """Rows fetched at a time when reading a result: other threads (the
    reactor's) run between batches, while a driver's C{fetchall} of a large
    result would hold the GIL until all its rows are built."""
    transactionAbortingErrors: ClassVar[tuple[type[TwistarError], ...]] = ()
    """Translated errors after which the server has rolled back the whole
    transaction (not just the statement): the transaction cannot go on."""
    errorClasses: ClassVar[Mapping[Any, type[TwistarError]]] = {}
    """The twistar exception class of each error code (see C{errorCode})
    that has one of its own."""

    logPositionQuery: ClassVar[str | None] = None
    """The query of the primary's position in its replication log (after
    a commit, for read-your-writes on replicas); C{None} for a database
    whose replicas twistar cannot use."""

    def __init__(self) -> None:
        self._queries: dict[tuple[Any, ...], tuple[str, int]] = {}

    # -- replication (for databases with a logPositionQuery) ----------------

    def parseLogPosition(self, value: Any) -> Any:
        """
        @param value: what C{logPositionQuery} returned.
        @return: the position, in a form L{logPositionReached} compares.
        """
        return value

    def logPositionReached(self, position: Any, wanted: Any) -> bool:
        """
        @return: whether log position C{position} is at or past C{wanted}.
        """
        raise NotImplementedError(f"{type(self).__name__} has no replicas")

    def replicaState(self, cursor: Any, lagToo: bool = True) -> tuple[Any, float | None]:
        """
        Read, on a replica's C{cursor}, how far it has replayed the primary's
        log.

        @param lagToo: read its lag too (else the lag returned is 0).
        @return: its replay position and its lag in seconds (C{None} if
            unknown: replication is broken or stopped).
        """
        raise NotImplementedError(f"{type(self).__name__} has no replicas")

    @property
    def placeholder(self) -> str:
        """The driver's placeholder, C{?} or C{%s}."""
        return "?" if self.paramstyle == "qmark" else "%s"

    # -- logging --------------------------------------------------------

    def log(self, query: Any, args: Any, kwargs: Any) -> None:
        """
        Log a query and its arguments; never raises, whatever their types.
        """
        try:
            _queryLog.info(
                "TWISTAR query: {query} args: {args} kwargs: {kwargs}",
                query=safeText(query), args=safeText(args), kwargs=safeText(kwargs),
            )
        except Exception:
            pass

    def placeholderColumns(self, query: str) -> tuple[tuple[str | None, ...], frozenset[str]]:
        """
        @param query: a statement in the driver's paramstyle.
        @return: what L{twistar.dbconfig.sqltext.placeholderColumns} reads
            of it: the column of each placeholder, and the names in it.
        """
        return placeholderColumns(query, self.placeholder, self.sqlLexicon)

    # -- identifiers, wheres and values -----------------------------------

    def quoteIdentifier(self, name: str) -> str:
        """
        @return: C{name} quoted for this database; a C{schema.table} name has
            each part quoted.
        @raise InvalidIdentifierError: if a part is not a plain identifier.
        """
        if not isinstance(name, str):
            raise InvalidIdentifierError(f"{name!r} is not a valid SQL identifier")
        return quotedName(name, self.identifierQuote, True)

    def escapeColNames(self, colnames: Iterable[str]) -> list[str]:
        """
        @return: the column names, each checked and quoted.
        @raise InvalidIdentifierError: for a name that is not a plain identifier.
        """
        q = self.identifierQuote
        return [quotedName(name, q, False) if isinstance(name, str) else checkIdentifier(name)
                for name in colnames]

    def convertQuery(self, query: str, args: Sequence[Any]) -> str:
        """
        @return: C{query} (written with C{?}) in the driver's paramstyle.
        @raise PlaceholderCountError: if the placeholders and C{args} differ
            in number.
        """
        converted, count = convertPlaceholders(query, self.placeholder, self.sqlLexicon)
        if count != len(args):
            raise PlaceholderCountError(
                f"query has {count} placeholder(s) but {len(args)} argument(s) "
                f"were given: {query!r}"
            )
        return converted

    def fragment(self, sql: str) -> str:
        """
        @return: C{sql}, a trusted fragment without placeholders (an
            C{orderby}, say), as the driver reads it: C{%} doubled for the
            C{%s} drivers, which format the whole statement.
        """
        return sql if self.placeholder == "?" else sql.replace("%", "%%")

    def whereToString(self, where: Where | None) -> tuple[str, list[Any]]:
        """
        @param where: C{[condition, arg, ...]} with C{?} placeholders.
        @return: the condition in the driver's paramstyle and its arguments.
        @raise InvalidQueryError: if C{where} is not a list or tuple starting
            with a string, or the placeholder count is wrong.
        """
        where = checkWhere(where)
        args = list(where[1:])
        self.checkValues(args, "where argument", self.sequenceArguments)
        return self.convertQuery(where[0], args), args

    def checkValues(
        self, values: Iterable[Any], name: str | Iterable[str], sequencesAllowed: bool = False
    ) -> None:
        """
        Reject values the driver cannot store, before anything is sent.

        @param name: what the values are, for the message: a single word, or
            one name per value.
        @raise UnsupportedValueError: naming the offending value.
        """
        if not isinstance(values, (list, tuple)):
            values = list(values)
        storable = self.storableTypes
        if storable.issuperset(map(type, values)):
            return
        names = [name] if isinstance(name, str) else list(name)
        for index, value in enumerate(values):
            if type(value) in storable or isinstance(value, tuple(storable)):
                continue
            if sequencesAllowed and isinstance(value, (list, tuple)):
                self.checkValues(value, names[0] if len(names) == 1 else names[index])
                continue
            if self.driverAdapts(value):
                continue
            label = names[0] if len(names) == 1 else names[index]
            raise UnsupportedValueError(
                f"cannot store a {type(value).__name__} value ({safeText(value)}) "
                f"for {label!r}"
            )

    def driverAdapts(self, value: Any) -> bool:
        """
        @return: whether the driver can store C{value}, of a type outside the
            standard ones (for instance a driver's own C{Binary} or C{Json}).
        """
        pool = self.registry.poolOf(self.database)
        binary = getattr(getattr(pool, "dbapi", None), "Binary", None)
        return isinstance(binary, type) and isinstance(value, binary)

    # -- SQL generation ---------------------------------------------------

    def buildSelect(
        self,
        tablename: str,
        id: Any = None,
        where: Where | None = None,
        group: str | None = None,
        limit: Limit = None,
        orderby: str | None = None,
        select: str | None = None,
    ) -> tuple[str, list[Any]]:
        """
        @return: a C{SELECT} statement in the driver's paramstyle and its
            arguments. C{group}, C{orderby} and C{select} are trusted SQL.
        """
        statement = selectOf(tablename, id, where, group, limit, orderby, select)
        query, args = compileSelect(self, statement)
        self.checkValues(args, "where argument", self.sequenceArguments)
        return query, args

    def _memo(self, key: tuple[Any, ...], args: list[Any], build: Callable[..., str],
              *buildArgs: Any) -> str:
        """
        @return: the query C{build(*buildArgs)} made, remembered under C{key}
            (which names everything it depends on but the argument values);
            C{args} are checked against it.
        """
        if args:
            self.checkValues(args, "where argument", self.sequenceArguments)
        try:
            hit = self._queries.get(key)
        except TypeError:  # an unhashable part, such as a list limit
            return build(*buildArgs)
        if hit is None:
            query = build(*buildArgs)
            if len(self._queries) < 4096:
                self._queries[key] = (query, len(args))
            return query
        query, count = hit
        if count != len(args):
            raise PlaceholderCountError(
                f"query has {count} placeholder(s) but {len(args)} argument(s) were given: "
                f"{query!r}"
            )
        return query

    def buildInsert(
        self, tablename: str, columns: Sequence[str], returnId: bool | tuple[str, ...]
    ) -> str:
        """
        @return: an C{INSERT} of one row with C{columns}, in the driver's
            paramstyle; with C{returnId}, returning C{id} where supported
            (or returning the columns C{returnId} names).
        """
        key = ("insert", tablename, tuple(columns), returnId)
        return self._memo(key, [], compileInsert, self, tablename, columns, returnId)

    def buildUpdate(
        self, tablename: str, columns: Sequence[str], where: Where | None, limit: int | None
    ) -> tuple[str, list[Any]]:
        """
        @return: an C{UPDATE} setting C{columns} (their values come first in
            the arguments, then the returned ones).
        """
        args = [] if where is None else list(checkWhere(where)[1:])
        key = ("update", tablename, tuple(columns), where and where[0], limit)
        return self._memo(key, args, self._buildUpdate, tablename, columns, where, limit), args

    def _buildUpdate(
        self, tablename: str, columns: Sequence[str], where: Where | None, limit: int | None
    ) -> str:
        if limit is not None:
            checkLimit(limit)
        rows = selectOf(tablename, None, where, None, limit, None, None)
        # The values are placeholders here: the caller puts them first.
        update = Update(rows, tuple((Column(checkIdentifier(name)), None) for name in columns))
        return compileUpdate(self, update)[0]

    def buildDelete(self, tablename: str, where: Where | None) -> tuple[str, list[Any]]:
        """
        @return: a C{DELETE} statement and its arguments.
        """
        if where is not None:
            self.checkValues(checkWhere(where)[1:], "where argument", self.sequenceArguments)
        return compileDelete(self, Delete(selectOf(tablename, None, where, None, None, None, None)))

    def schemaQuery(self, tablename: str) -> tuple[str, list[Any]]:
        """
        @return: a query whose rows' first items are the columns of
            C{tablename}, in order, and their second items the columns'
            declared types; it returns no rows (never an error) for a
            missing table.
        """
        raise NotImplementedError

    def storedTimestamp(self, now: datetime, declared: str) -> Any:
        """
        @param now: an aware datetime in UTC.
        @param declared: a column's declared type, as L{schemaQuery} reads it.
        @return: C{now} as that column keeps it, and as a reload gives it
            back: cut to the digits of a second the column keeps (its
            declared precision, else L{timestampDigits}); aware in a column
            with a time zone, naive (in UTC) otherwise.
        """
        match = _PRECISION.search(declared)
        digits = int(match.group(1)) if match else self.timestampDigits
        if digits < 6:
            step = 10 ** (6 - digits)
            now = now.replace(microsecond=now.microsecond // step * step)
        return now if "with time zone" in declared.lower() else now.replace(tzinfo=None)

    def typedValue(self, placeholder: str, declared: str) -> str:
        """
        @param declared: a column's declared type, as L{schemaQuery} reads it.
        @return: how a value (C{placeholder}) is written where the database
            cannot tell its type from the column, as a C{CASE} result of an
            update: C{placeholder} unchanged (the default).
        """
        return placeholder

    def isolationStatement(self, level: str) -> str | None:
        """
        @return: the statement that sets the isolation level of the
            transaction about to start (one of L{isolationLevels}), or C{None}
            when nothing needs to be run.
        """
        return f"SET TRANSACTION ISOLATION LEVEL {level}"

    def lastInsertIDQuery(self) -> str:
        """
        @return: the query that returns the id of the last insert.
        """
        raise NotImplementedError
