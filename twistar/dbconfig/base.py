# -*- test-case-name: twistar.tests.test_sql,twistar.tests.test_dbconfig -*-
"""
L{InteractionBase}: building statements and running them.

A database is a small subclass that sets data (paramstyle, identifier quote,
empty-insert clause, capabilities) and overrides a few methods (schema query,
connection-loss test). Every statement runs on a pool thread: in a fresh
interaction, or on the connection of the running transaction. Reading SQL
text and checking names is in L{twistar.dbconfig.sqltext}; waiting for and
cancelling pool work in L{twistar.pool}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import chain, count
from operator import itemgetter
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from twisted.enterprise import adbapi
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.logger import Logger

from twistar import exceptions
from twistar.dbconfig.sqltext import (
    Limit,
    Where,
    bothWheres,
    checkIdentifier,
    checkLimit,
    checkWhere,
    convertPlaceholders,
    quotedName,
    safeText,
)
from twistar.exceptions import (
    CannotRefreshError,
    ConnectionLostError,
    DBObjectSaveError,
    ImaginaryTableError,
    InvalidIdentifierError,
    InvalidQueryError,
    PlaceholderCountError,
    TwistarError,
    UnsupportedValueError,
)
from twistar.pool import PoolWork, deferToPool, exhausted, raiseIfCancelled, waitLimitOf
from twistar.registry import Registry
from twistar.slicing import inSlices
from twistar.transaction import currentTransaction

if TYPE_CHECKING:
    from twistar.dbobject import DBObject

_queryLog = Logger(namespace="twistar")


_STORABLE_TYPES = frozenset({
    type(None), bool, int, float, str, bytes, bytearray, memoryview,
    Decimal, date, time, datetime, timedelta,
})
_INT64 = range(-(2**63), 2**63)

# Names for the savepoints of atomic work inside transactions.
_savepointNumbers = count(1)

class InteractionBase:
    """
    The SQL layer shared by every database; subclasses set the dialect data.

    Methods that take a C{txn} run synchronously on it (inside
    L{runInteraction}); the others return a L{Deferred}.
    """

    LOG: ClassVar[bool] = False
    """Log every query and its arguments through C{twisted.logger}."""

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
    supportsUpdateLimit: ClassVar[bool] = False
    """C{UPDATE ... LIMIT n} is valid SQL (else an C{id IN (SELECT ...)} is used)."""
    sequenceArguments: ClassVar[bool] = False
    """The driver expands a list or tuple argument (for C{IN ?})."""
    maxParameters: ClassVar[int] = 999
    """The most parameters one statement may have."""
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
    batchChecks: ClassVar[dict[type, Callable[[list[Any]], None]]] = {}
    """For a type whose L{valueAdapters} entry only checks values (returning
    them unchanged): a check of a whole batch of values of several types,
    raising as that entry would, faster than a call per value."""
    fetchSize: ClassVar[int] = 1000
    """Rows fetched at a time when reading a result: other threads (the
    reactor's) run between batches, while a driver's C{fetchall} of a large
    result would hold the GIL until all its rows are built."""
    transactionAbortingErrors: ClassVar[tuple[type[TwistarError], ...]] = ()
    """Translated errors after which the server has rolled back the whole
    transaction (not just the statement): the transaction cannot go on."""
    errorClasses: ClassVar[Mapping[Any, type[TwistarError]]] = {}
    """The twistar exception class of each error code (see L{errorCode})
    that has one of its own."""


    def __init__(self) -> None:
        self._queries: dict[tuple[Any, ...], tuple[str, int]] = {}

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
        pool = Registry.DBPOOL
        binary = getattr(getattr(pool, "dbapi", None), "Binary", None)
        return isinstance(binary, type) and isinstance(value, binary)

    # -- running statements ---------------------------------------------

    def executeTxn(self, txn: Any, query: str, *args: Any) -> Any:
        """
        Run raw SQL, written in the driver's paramstyle, on C{txn}.

        @return: what the cursor's C{execute} returns.
        """
        if self.LOG:
            self.log(query, args, {})
        return txn.execute(query, *args)

    def execute(self, query: str, *args: Any) -> Deferred[list[Any]]:
        """
        Run raw SQL in the driver's paramstyle.

        @return: a L{Deferred} of its result rows (tuples).
        """

        def run(txn: Any) -> list[Any]:
            self.executeTxn(txn, query, *args)
            return list(txn.fetchall()) if txn.description is not None else []

        return self.runInteraction(run)

    def executeOperation(self, query: str, *args: Any) -> Deferred[None]:
        """
        Run raw SQL in the driver's paramstyle that returns no rows.
        """

        def run(txn: Any) -> None:
            self.executeTxn(txn, query, *args)

        return self.runInteraction(run)

    def runInteraction(self, func: Callable[..., Any], *args: Any, **kw: Any) -> Deferred[Any]:
        """
        Run C{func(txn, *args, **kw)} on a pool thread, like
        C{ConnectionPool.runInteraction}; inside a running transaction it runs
        on that transaction's connection instead.

        Driver exceptions are translated into L{twistar.exceptions} classes.
        When the pool has C{cp_reconnect=True}, an interaction whose connection
        turns out to be dead before it committed is retried once on a new
        connection; nothing is retried once its commit may have reached the
        server.
        """
        return self.runWork(func, args, kw)

    def runAtomic(self, func: Callable[..., Any], *args: Any, **kw: Any) -> Deferred[Any]:
        """
        L{runInteraction} for work of several statements that must succeed
        or fail together: inside a running transaction it runs in a
        savepoint, so that if it fails none of its statements stay (and the
        transaction can go on, also on PostgreSQL).
        """
        return self.runWork(func, args, kw, atomic=True)

    def runWork(
        self, func: Callable[..., Any], args: Sequence[Any] = (),
        kw: Mapping[str, Any] | None = None, atomic: bool = False,
        then: Callable[[Any], Any] | None = None,
    ) -> Deferred[Any]:
        """
        Run C{func(cursor, *args, **kw)} as L{runInteraction} does (as
        L{runAtomic} does with C{atomic}).

        Cancelling the returned L{Deferred} before the work has committed
        undoes it: work still waiting for a connection never runs, work
        running is rolled back (inside a transaction, the transaction can
        then only roll back). Once the commit has begun, cancelling changes
        nothing. A pool with a C{waitLimit} (see L{twistar.pool}) fails work
        that waited that long for a connection with L{PoolExhaustedError}.

        @param then: applied (on the reactor) to the work's result once it
            has run, even if the caller cancelled too late to stop it: it
            updates the objects the work wrote.
        """
        kw = kw or {}
        txn = currentTransaction()
        pool = self.pool
        if txn is not None and txn.pool is pool:
            if atomic:
                return txn.runWork(self._inSavepoint, (func, args, kw), {}, then)
            return txn.runWork(func, args, kw, then)
        limit = waitLimitOf(pool)
        work = PoolWork()
        reactor = pool._reactor
        interaction = (pool, func, args, kw, True, work)
        if limit is None:
            return deferToPool(reactor, pool.threadpool, work, self._interact, interaction, then)

        def giveUp() -> None:
            if work.drop() and not result.called:
                result.errback(exhausted(pool, limit))

        def stopTimer(_: Any = None) -> Any:
            if timer.active():
                timer.cancel()
            return _

        def thenStop(value: Any) -> Any:
            stopTimer()
            return value if then is None else then(value)

        timer = reactor.callLater(limit, giveUp)
        result = deferToPool(
            reactor, pool.threadpool, work, self._interact, interaction, thenStop, stopTimer
        )
        result.addErrback(stopTimer)
        return result

    def _inSavepoint(
        self, cursor: Any, func: Callable[..., Any], args: Any, kw: Any
    ) -> Any:
        name = f"twistar_op{next(_savepointNumbers)}"
        self.run(cursor, f"SAVEPOINT {name}", [])
        try:
            result = func(cursor, *args, **kw)
        except BaseException:
            try:
                self.run(cursor, f"ROLLBACK TO SAVEPOINT {name}", [])
            except Exception:
                pass  # the connection is gone; the original error says more
            raise
        self.run(cursor, f"RELEASE SAVEPOINT {name}", [])
        return result

    @property
    def pool(self) -> adbapi.ConnectionPool:
        """The current L{Registry.DBPOOL}, which must not be closed."""
        pool = Registry.DBPOOL
        if pool is None:
            raise TwistarError("Registry.DBPOOL is not set")
        # Not running, and no start pending: closed (its work would never run).
        if not pool.running and getattr(pool, "startID", None) is None:
            raise TwistarError("Registry.DBPOOL is closed: assign an open pool to it")
        return pool

    def _interact(
        self, pool: adbapi.ConnectionPool, func: Callable[..., Any], args: Any, kw: Any,
        translate: bool = True, work: PoolWork | None = None,
    ) -> Any:
        raiseIfCancelled(work)
        attempts = 2 if pool.reconnect and self.replayable else 1
        for attempt in range(1, attempts + 1):
            connection = self.connect(pool, translate)
            try:
                cursor = connection.cursor()
                result = func(cursor, *args, **kw)
                cursor.close()
            except BaseException as e:
                alive = self.rollback(pool, connection, e)
                if not alive and attempt < attempts:
                    continue
                self.raiseTranslated(e, translate, lost=not alive)
            if work is not None and not work.commit():
                # Cancelled while it ran: undo it.
                cancelled = CancelledError()
                self.rollback(pool, connection, cancelled)
                raise cancelled
            try:
                connection.commit()
            except BaseException as e:
                alive = self.rollback(pool, connection, e)
                self.raiseTranslated(e, translate, lost=not alive, committing=True)
            return result
        raise AssertionError("unreachable")

    def connect(self, pool: adbapi.ConnectionPool, translate: bool = True) -> Any:
        """
        @return: this pool thread's DB-API connection; on a reconnecting pool
            where work cannot be run again (not L{replayable}), one checked
            to be alive.
        @raise ConnectionLostError: if no connection can be made (the
            driver's own exception when not C{translate}).
        """
        try:
            connection = pool.connect()
            if pool.reconnect and not self.replayable and not self.isAlive(connection):
                self.drop(pool, connection)
                connection = pool.connect()
            return connection
        except Exception as e:
            if not translate:
                raise
            raise _connectionLost(f"cannot connect to the database: {e}", e) from e

    def rollback(self, pool: adbapi.ConnectionPool, connection: Any, error: BaseException) -> bool:
        """
        Roll back after C{error}; if the connection is dead, drop it from the
        pool so the next use of this thread reconnects.

        @return: whether the connection is still usable.
        """
        if not self.isConnectionLost(error, connection):
            try:
                connection.rollback()
                return True
            except Exception:
                pass
        self.drop(pool, connection)
        return False

    def drop(self, pool: adbapi.ConnectionPool, connection: Any) -> None:
        """
        Close C{connection} (of this pool thread) and forget it, so that the
        thread's next use reconnects.
        """
        tid = pool.threadID()
        if pool.connections.get(tid) is connection:
            del pool.connections[tid]
        try:
            connection.close()
        except Exception:
            pass

    def isAlive(self, connection: Any) -> bool:
        """
        @return: whether C{connection} still reaches the server (one round
            trip); used where work cannot be run again.
        """
        return True

    def interrupter(
        self, pool: adbapi.ConnectionPool, connection: Any
    ) -> Callable[[], None] | None:
        """
        Called on C{connection}'s thread.

        @return: a function that, called from another thread (not the
            reactor's: it may block), stops the statement running on
            C{connection}, which then fails; C{None} if there is no way.
        """
        return None

    def isConnectionLost(self, error: BaseException, connection: Any) -> bool:
        """
        @return: whether C{error} means the connection is dead.
        """
        return isinstance(error, (adbapi.ConnectionLost, ConnectionLostError))

    def translateError(self, error: BaseException) -> BaseException:
        """
        @return: the twistar exception for a driver exception (the caller
            chains the original as C{__cause__}); other exceptions unchanged.
        """
        if isinstance(error, TwistarError) or not isinstance(error, Exception):
            return error
        dbapi = getattr(Registry.DBPOOL, "dbapi", None)
        if dbapi is None or not isinstance(error, getattr(dbapi, "Error", ())):
            return error
        twistarClass: type[TwistarError] = exceptions.DatabaseError
        coded = self.errorClasses.get(self.errorCode(error))
        if coded is not None:
            twistarClass = coded
        elif self.isMissingTable(error):
            twistarClass = ImaginaryTableError
        elif self.isProgrammingError(error):
            twistarClass = exceptions.ProgrammingError
        else:
            for name, candidate in (
                ("IntegrityError", exceptions.IntegrityError),
                ("ProgrammingError", exceptions.ProgrammingError),
                ("InterfaceError", ConnectionLostError),
                ("OperationalError", exceptions.OperationalError),
            ):
                if isinstance(error, getattr(dbapi, name, ())):
                    twistarClass = candidate
                    break
        try:
            translated = _driverCompatible(twistarClass, type(error))(*error.args)
        except Exception:
            return twistarClass(safeText(error))
        # Attributes the driver set on its exception (sqlite3's sqlite_errorcode).
        translated.__dict__.update(vars(error))
        return translated

    def raiseTranslated(
        self, error: BaseException, translate: bool = True, lost: bool = False,
        committing: bool = False,
    ) -> NoReturn:
        """
        Raise the twistar exception for C{error}, chained to it; or C{error}
        itself when it is not a driver exception or not C{translate}.

        @param lost: the connection died: raise L{ConnectionLostError}.
        @param committing: C{error} happened while committing.
        """
        if not translate:
            raise error
        if lost:
            raise _connectionLost(
                "the database connection was lost while committing; the commit may "
                "or may not have been applied" if committing else
                "the database connection was lost; nothing was committed",
                error,
            ) from error
        translated = self.translateError(error)
        if translated is error:
            raise error
        raise translated from error

    def errorCode(self, error: BaseException) -> Any:
        """
        @return: the database's code for a driver error (its key in
            L{errorClasses}), or C{None}.
        """
        return None

    def isMissingTable(self, error: BaseException) -> bool:
        """
        @return: whether a driver error says a table does not exist.
        """
        return False

    def isProgrammingError(self, error: BaseException) -> bool:
        """
        @return: whether a driver error of a class other than
            C{ProgrammingError} says the SQL itself is wrong (syntax error,
            unknown column).
        """
        return False

    # -- SQL generation ---------------------------------------------------

    def limitClause(self, limit: Limit) -> str:
        """
        @return: the C{LIMIT}/C{OFFSET} clause (with its leading space), or
            an empty string.
        """
        checked = checkLimit(limit)
        if checked is None:
            return ""
        count, offset = checked
        clause = f" LIMIT {count}"
        if offset is not None:
            clause += f" OFFSET {offset}"
        return clause

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
        args = [] if id is None else [id]
        if where is not None:
            args.extend(checkWhere(where)[1:])
        # Checked on every call: the cache cannot tell 1 from 1.0 or True.
        checkLimit(limit)
        key = ("select", tablename, id is None, where and where[0], group, limit, orderby, select)
        build = self._buildSelect
        query = self._memo(key, args, build, tablename, id, where, group, limit, orderby, select)
        return query, args

    def _buildSelect(
        self, tablename: str, id: Any, where: Where | None, group: str | None, limit: Limit,
        orderby: str | None, select: str | None,
    ) -> str:
        for name, fragment in (("group", group), ("orderby", orderby), ("select", select)):
            if fragment is not None and not isinstance(fragment, str):
                raise InvalidQueryError(
                    f"{name} must be an SQL fragment (a str), not {safeText(fragment):.80}"
                )
        if id is not None:
            idWhere: list[Any] = ["id = ?", id]
            where = idWhere if where is None else bothWheres(idWhere, where)
        trusted = self.fragment
        parts = [f"SELECT {trusted(select or '*')} FROM {self.quoteIdentifier(tablename)}"]
        args: list[Any] = []
        if where is not None:
            condition, args = self.whereToString(where)
            parts.append(f" WHERE {condition}")
        if group:
            parts.append(f" GROUP BY {trusted(group)}")
        if orderby:
            parts.append(f" ORDER BY {trusted(orderby)}")
        parts.append(self.limitClause(limit))
        return "".join(parts)

    def _memo(self, key: tuple[Any, ...], args: list[Any], build: Callable[..., str],
              *buildArgs: Any) -> str:
        """
        @return: the query C{build(*buildArgs)} made, remembered under C{key}
            (which names everything it depends on but the argument values);
            C{args} are checked against it.
        """
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
        self.checkValues(args, "where argument", self.sequenceArguments)
        return query

    def buildInsert(self, tablename: str, columns: Sequence[str], returnId: bool) -> str:
        """
        @return: an C{INSERT} of one row with C{columns}, in the driver's
            paramstyle; with C{returnId}, returning C{id} where supported.
        """
        key = ("insert", tablename, tuple(columns), returnId)
        return self._memo(key, [], self._buildInsert, tablename, columns, returnId)

    def _buildInsert(self, tablename: str, columns: Sequence[str], returnId: bool) -> str:
        table = self.quoteIdentifier(tablename)
        if columns:
            values = ", ".join([self.placeholder] * len(columns))
            names = ", ".join(self.escapeColNames(columns))
            query = f"INSERT INTO {table} ({names}) VALUES ({values})"
        else:
            query = f"INSERT INTO {table} {self.emptyInsertClause}"
        if returnId and self.insertReturnsId:
            query += " RETURNING " + self.quoteIdentifier("id")
        return query

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
        table = self.quoteIdentifier(tablename)
        sets = ", ".join(f"{name} = {self.placeholder}" for name in self.escapeColNames(columns))
        query = f"UPDATE {table} SET {sets}"
        if limit is not None and not self.supportsUpdateLimit:
            checkLimit(limit)
            idColumn = self.quoteIdentifier("id")
            inner, _ = self.buildSelect(tablename, where=where, limit=limit, select=idColumn)
            return f"{query} WHERE {idColumn} IN ({inner})"
        if where is not None:
            condition, _ = self.whereToString(where)
            query += f" WHERE {condition}"
        if limit is not None:
            query += self.limitClause(limit)
        return query

    def buildDelete(self, tablename: str, where: Where | None) -> tuple[str, list[Any]]:
        """
        @return: a C{DELETE} statement and its arguments.
        """
        query = f"DELETE FROM {self.quoteIdentifier(tablename)}"
        if where is None:
            return query, []
        condition, args = self.whereToString(where)
        return f"{query} WHERE {condition}", args

    def schemaQuery(self, tablename: str) -> tuple[str, list[Any]]:
        """
        @return: a query whose rows' first items are the columns of
            C{tablename}, in order, and that returns no rows (never an error)
            for a missing table.
        """
        raise NotImplementedError

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

    # -- running SQL on a cursor -------------------------------------------

    def run(self, txn: Any, query: str, args: Sequence[Any], adapt: bool = True) -> Any:
        """
        Run C{query} (already in the driver's paramstyle) on C{txn}, logging
        it when L{LOG} is set.

        @param adapt: apply L{valueAdapters} to C{args} (C{False} when the
            caller did).
        """
        if self.LOG:
            self.log(query, args, {})
        adapters = self.valueAdapters
        if adapt and adapters and not adapters.keys().isdisjoint(map(type, args)):
            args = [adapters[type(a)](a) if type(a) in adapters else a for a in args]
        elif not isinstance(args, (list, tuple)):
            args = list(args)
        try:
            return txn.execute(query, args)
        except Exception as e:
            refused = self.refusedValues(e, args)
            if not refused:
                raise
            raise UnsupportedValueError(f"cannot store {refused[0]!r:.80}: {e}") from e

    def refusedValues(self, error: Exception, args: Sequence[Any]) -> list[Any]:
        """
        @return: the values among C{args} that the driver could not encode,
            making it raise C{error} before the statement ran; empty when
            C{error} is about something else.
        """
        if isinstance(error, UnicodeEncodeError):
            return [a for a in args if isinstance(a, str) and _unencodable(a)]
        if isinstance(error, OverflowError):
            return [a for a in args if type(a) is int and a not in _INT64]
        return []

    def _doselect(
        self, txn: Any, query: str, args: Sequence[Any], tablename: str, one: bool = False
    ) -> Any:
        """
        Run a select (in the driver's paramstyle) on C{txn}.

        @return: one dict or C{None} when C{one}; otherwise a list of dicts
            keyed by column name.
        """
        readers = self.columnReaders(txn, tablename)
        with self.manyRowsCursor(txn, not one) as cursor:
            self.run(cursor, query, args)
            names = [d[0] for d in cursor.description]
            convert = _rowConverter(names, readers)
            if one:
                row = cursor.fetchone()
                if row is None:
                    return None
                return dict(zip(names, row if convert is None else convert(row)))
            return [dict(zip(names, row)) for row in self.fetchRows(cursor, convert)]

    @contextmanager
    def manyRowsCursor(self, txn: Any, many: bool = True) -> Iterator[Any]:
        """
        The cursor to run a select on whose rows are then fetched with
        L{fetchRows}: C{txn} itself, or (when C{many} and the dialect has
        one, see L{streamingCursor}) a streaming cursor, closed at the end.
        """
        cursor = self.streamingCursor(txn) if many else None
        if cursor is None:
            yield txn
            return
        try:
            yield cursor
        finally:
            cursor.close()

    def streamingCursor(self, txn: Any) -> Any:
        """
        @return: a new cursor of C{txn}'s connection that reads a result from
            the server as its rows are fetched, where C{txn} would build all
            of them at once, holding the GIL (and so stalling the reactor)
            meanwhile; C{None} (the default) where C{txn} does not.
        """
        return None

    def fetchRows(
        self, txn: Any, convert: Callable[[Sequence[Any]], Sequence[Any]] | None = None
    ) -> list[Any]:
        """
        Fetch the rest of C{txn}'s result, L{fetchSize} rows at a time.

        @param convert: applied to each row.
        @return: the rows.
        """
        size = self.fetchSize
        rows: list[Any] = []
        while True:
            batch = txn.fetchmany(size)
            rows.extend(batch if convert is None else map(convert, batch))
            # Fewer rows than asked for: there are no more (PEP 249).
            if len(batch) < size:
                return rows

    def columnReaders(
        self, txn: Any, tablename: str
    ) -> Mapping[str, Callable[[Any], Any]] | None:
        """
        Called on C{txn} before a select of C{tablename}'s rows runs.

        @return: the conversions of values (never C{None}) read from the
            columns of C{tablename} that have one, by column name; C{None}
            (the default) when the driver's values are returned as they are.
        """
        return None

    def schemaRead(self, tablename: str, columns: list[str], rows: Sequence[Any]) -> None:
        """
        Called when L{getSchema} has read the columns of C{tablename}.

        @param columns: the list now in L{Registry.SCHEMAS}.
        @param rows: the rows of L{schemaQuery}.
        """

    def getSchema(self, tablename: str, txn: Any = None) -> Any:
        """
        The column names of C{tablename}, cached in L{Registry.SCHEMAS}.

        @return: the list when given a C{txn}, otherwise a L{Deferred} of it.
        @raise ImaginaryTableError: if the table does not exist.
        """
        if txn is None:
            cached = Registry.SCHEMAS.get(tablename)
            if cached is not None:
                return succeed(cached)
            return self.runInteraction(lambda txn: self.getSchema(tablename, txn))
        columns = Registry.SCHEMAS.get(tablename)
        if columns is None:
            self.quoteIdentifier(tablename)
            query, args = self.schemaQuery(tablename)
            self.run(txn, query, args)
            rows = txn.fetchall()
            columns = [row[0] for row in rows]
            if not columns:
                raise ImaginaryTableError(f"table {tablename!r} does not exist")
            Registry.SCHEMAS[tablename] = columns
            self.schemaRead(tablename, columns, rows)
        return columns

    def mutableColumns(self, description: Sequence[Any]) -> tuple[int, ...]:
        """
        @param description: a cursor's C{description}.
        @return: the positions of the columns whose values the driver may
            return as mutable objects (lists, dicts).
        """
        return ()

    def hasColumn(self, txn: Any, tablename: str, column: str) -> bool:
        """
        @return: whether table C{tablename} exists and has C{column}; C{False}
            also for names that are not identifiers.
        """
        try:
            return column in self.getSchema(tablename, txn)
        except (ImaginaryTableError, InvalidIdentifierError):
            return False

    def getLastInsertID(self, txn: Any) -> Any:
        """
        @return: the id generated by the last insert on C{txn}'s connection.
        """
        self.run(txn, self.lastInsertIDQuery(), [])
        return txn.fetchone()[0]

    # -- the low-level CRUD API ---------------------------------------------

    def select(
        self,
        tablename: str,
        id: Any = None,
        where: Where | None = None,
        group: str | None = None,
        limit: Limit = None,
        orderby: str | None = None,
        select: str | None = None,
    ) -> Deferred[Any]:
        """
        Select rows as dicts keyed by column name.

        @return: a L{Deferred} of one dict (or C{None}) when C{id} is given or
            C{limit} is 1, otherwise of a list of dicts.
        """
        one = id is not None or limit == 1
        query, args = self.buildSelect(tablename, id, where, group, limit, orderby, select)
        return self.runInteraction(self._doselect, query, args, tablename, one)

    def insert(self, tablename: str, vals: dict[str, Any], txn: Any = None) -> Any:
        """
        Insert one row.

        @return: the new row's id (C{None} for a table without an C{id}
            column): itself when given a C{txn}, otherwise a L{Deferred}.
        """
        _requireMapping("insert", vals)
        columns = list(vals)
        values = list(vals.values())
        self.escapeColNames(columns)
        self.checkValues(values, columns)
        if txn is None:
            return self.runInteraction(lambda cursor: self.insert(tablename, vals, cursor))
        returnId = "id" in self.getSchema(tablename, txn)
        return self.insertRow(txn, tablename, columns, values, returnId)

    def insertRow(
        self, txn: Any, tablename: str, columns: Sequence[str], values: Sequence[Any],
        returnId: bool,
    ) -> Any:
        """
        Insert one row of checked values on C{txn}.

        @return: the new id when C{returnId}, otherwise C{None}.
        """
        self.run(txn, self.buildInsert(tablename, columns, returnId), values)
        if not returnId:
            return None
        if self.insertReturnsId:
            return txn.fetchone()[0]
        return txn.lastrowid

    def insertMany(self, tablename: str, vals: Sequence[dict[str, Any]]) -> Deferred[None]:
        """
        Insert many rows (dicts) in a few multi-row statements, in one
        interaction. Rows may have different keys: a missing key inserts
        C{NULL}. Every row, name and value is checked before the first
        statement is sent.
        """
        if isinstance(vals, (Mapping, str, bytes)):
            raise InvalidQueryError(
                f"insertMany takes a list of dicts, one per row, not a {type(vals).__name__}"
            )
        rows = vals if isinstance(vals, list) else list(vals)
        if not rows:
            return succeed(None)
        self.quoteIdentifier(tablename)
        return self.runAtomic(self._insertMany, tablename, rows)

    def _insertMany(self, txn: Any, tablename: str, rows: list[dict[str, Any]]) -> None:
        try:
            columns, batches = self._rowBatches(rows)
        except (TypeError, AttributeError):
            for index, row in enumerate(rows):
                if not isinstance(row, Mapping):
                    raise InvalidQueryError(
                        f"insertMany rows must be dicts; row {index} is {safeText(row):.80}"
                    ) from None
            raise
        if columns:
            self.insertBatches(txn, tablename, columns, batches, False)
        else:
            self.insertRows(txn, tablename, [], [()] * len(rows), False)

    def _rowBatches(self, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
        """
        @return: the columns of C{rows} (dicts), and their values in checked
            batches (see L{checkedBatches}); no columns when every row is
            empty.
        @raise TypeError: (or C{AttributeError}) if a row is not a dict.
        """
        if not any(rows):
            if not all(isinstance(row, Mapping) for row in rows):
                raise TypeError("rows must be dicts")
            return [], []
        columns = list(rows[0])
        self.escapeColNames(columns)
        try:
            batches = self.checkedBatches(
                _uniformBatches(rows, columns, self.rowsPerStatement(len(columns))), columns
            )
        except _KeysDiffer:
            columns = list(dict.fromkeys(chain.from_iterable(rows)))
            self.escapeColNames(columns)
            size = self.rowsPerStatement(len(columns))
            batches = self.checkedBatches(
                (
                    [row.get(c) for row in rows[start:start + size] for c in columns]
                    for start in range(0, len(rows), size)
                ),
                columns,
            )
        return columns, batches

    def rowsPerStatement(self, width: int) -> int:
        """
        @return: how many rows of C{width} values one multi-row C{INSERT}
            takes, within the driver's parameter limit.
        """
        return max(1, min(1000, self.maxParameters // max(1, width)))

    def insertRows(
        self, txn: Any, tablename: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
        returnIds: bool,
    ) -> list[Any]:
        """
        Insert rows of values for C{columns} on C{txn}, in multi-row
        statements sized to the driver's parameter limit. All values are
        checked before the first statement is sent.

        @return: the new ids, in order, when C{returnIds}; otherwise C{[]}.
        """
        if not columns:
            return [self.insertRow(txn, tablename, [], [], returnIds) for _ in rows]
        batches = self.rowBatches(columns, rows)
        return self.insertBatches(txn, tablename, columns, batches, returnIds)

    def rowBatches(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> list[list[Any]]:
        """
        @return: C{rows} (values of C{columns}) in checked batches for
            L{insertBatches}.
        @raise UnsupportedValueError: for a value the driver cannot store.
        """
        size = self.rowsPerStatement(len(columns))
        return self.checkedBatches(
            (
                list(chain.from_iterable(rows[start:start + size]))
                for start in range(0, len(rows), size)
            ),
            columns,
        )

    def checkedBatches(
        self, batches: Iterable[list[Any]], columns: Sequence[str]
    ) -> list[list[Any]]:
        """
        Check each batch (values of C{columns}, one row after another) as
        soon as it is made, while its values are still in the processor's
        caches, and apply L{valueAdapters}.

        @return: the checked batches.
        @raise UnsupportedValueError: for a value the driver cannot store.
        """
        plain = self.storableTypes.difference(self.valueAdapters)
        return [
            batch if plain.issuperset(map(type, batch)) else self.adaptedBatch(batch, columns)
            for batch in batches
        ]

    def insertBatches(
        self, txn: Any, tablename: str, columns: Sequence[str], batches: list[list[Any]],
        returnIds: bool,
    ) -> list[Any]:
        """
        L{insertRows} for batches from L{checkedBatches}, of at most
        L{rowsPerStatement} rows each.
        """
        width = len(columns)
        rowPlaceholders = "(" + ", ".join([self.placeholder] * width) + ")"
        head = (
            f"INSERT INTO {self.quoteIdentifier(tablename)} "
            f"({', '.join(self.escapeColNames(columns))}) VALUES "
        )
        returning = " RETURNING " + self.quoteIdentifier("id") if (
            returnIds and self.insertReturnsId
        ) else ""
        queries: dict[int, str] = {}
        ids: list[Any] = []
        for batch in batches:
            size = len(batch) // width
            query = queries.get(size)
            if query is None:
                query = queries[size] = head + ", ".join([rowPlaceholders] * size) + returning
            self.run(txn, query, batch, adapt=False)
            if returning:
                ids.extend(row[0] for row in txn.fetchall())
            elif returnIds:
                ids.extend(self.batchIds(txn, size))
        return ids

    def adaptedBatch(self, batch: list[Any], columns: Sequence[str]) -> list[Any]:
        """
        @return: C{batch} (values of C{columns}, one row after another) with
            L{valueAdapters} applied.
        @raise UnsupportedValueError: for a value the driver cannot store.
        """
        types = set(map(type, batch))
        if not self.storableTypes.issuperset(types):
            width = len(columns)
            for start in range(0, len(batch), width):
                self.checkValues(batch[start:start + width], columns)
        adapters = self.valueAdapters
        checks = self.batchChecks
        converted = types.intersection(adapters).difference(checks)
        if converted:
            batch = [adapters[type(a)](a) if type(a) in converted else a for a in batch]
        for kind in types.intersection(checks):
            checks[kind](batch)
        return batch

    def batchIds(self, txn: Any, count: int) -> list[Any]:
        """
        @return: the ids of the C{count} rows inserted by the last multi-row
            C{INSERT} on C{txn} (for databases without C{RETURNING}).
        """
        raise NotImplementedError

    def update(
        self,
        tablename: str,
        args: dict[str, Any],
        where: Where | None = None,
        txn: Any = None,
        limit: int | None = None,
    ) -> Any:
        """
        Update the rows matching C{where} (all rows when C{None}).

        @return: the number of rows changed: itself when given a C{txn},
            otherwise a L{Deferred}.
        """
        _requireMapping("update", args)
        if not args:
            raise InvalidQueryError("update needs at least one column to set")
        columns = list(args)
        values = list(args.values())
        self.checkValues(values, columns)
        query, whereArgs = self.buildUpdate(tablename, columns, where, limit)
        if txn is None:
            return self.runInteraction(self._runCount, query, values + whereArgs)
        return self._runCount(txn, query, values + whereArgs)

    def _runCount(self, txn: Any, query: str, args: Sequence[Any]) -> int:
        self.run(txn, query, args)
        return int(txn.rowcount)

    def delete(self, tablename: str, where: Where | None = None) -> Deferred[int]:
        """
        Delete the rows matching C{where} (all rows when C{None}).

        @return: a L{Deferred} of the number of rows deleted.
        """
        query, args = self.buildDelete(tablename, where)
        return self.runInteraction(self._runCount, query, args)

    def count(self, tablename: str, where: Where | None = None) -> Deferred[int]:
        """
        @return: a L{Deferred} of the number of rows matching C{where}.
        """
        query, args = self.buildSelect(tablename, where=where, select="COUNT(*)")
        return self.runInteraction(self._fetchScalar, query, args)

    def _fetchScalar(self, txn: Any, query: str, args: Sequence[Any]) -> int:
        self.run(txn, query, args)
        return int(txn.fetchone()[0])

    # -- objects ------------------------------------------------------------

    def insertObj(
        self, obj: DBObject, written: Callable[[DBObject], Any] | None = None
    ) -> Deferred[DBObject]:
        """
        Insert C{obj}'s column attributes that are not C{None}; set its C{id}.

        @param written: called with C{obj} once its row is written, even if
            the caller cancelled too late to stop it.
        @return: a L{Deferred} of C{obj}.
        """

        def inserted(result: tuple[Any, Any]) -> DBObject:
            saved, newId = result
            obj._setSaved(saved, newId)
            if written is not None:
                written(obj)
            return obj

        return self.runWork(self._insertObj, (obj,), then=inserted)

    def _insertObj(self, txn: Any, obj: DBObject) -> tuple[Any, Any]:
        tablename = obj.tablename()
        columns = self.getSchema(tablename, txn)
        values = obj.toHash(columns, exclude=["id"] if obj.id is None else None)
        names = list(values)
        self.checkValues(values.values(), names)
        newId = self.insertRow(txn, tablename, names, list(values.values()), True)
        # The new id is set on the reactor, and recorded as saved there.
        return obj._savedState(columns), newId if "id" in columns else None

    def insertObjs(
        self, objects: Sequence[DBObject], written: Callable[[DBObject], Any] | None = None
    ) -> Deferred[Sequence[DBObject]]:
        """
        Insert new objects of one class in multi-row statements, in one
        interaction, as L{insertObj} does for one; set their ids once the
        rows are written. Every value is checked before the first statement
        is sent.

        @param written: called with each object once the rows are written,
            even if the caller cancelled too late to stop it.
        @return: a L{Deferred} of C{objects}.
        """

        def assign(result: list[tuple[DBObject, Any, Any]]) -> Deferred[Sequence[DBObject]]:

            def setId(inserted: tuple[DBObject, Any, Any]) -> None:
                obj, saved, newId = inserted
                obj._setSaved(saved, newId)
                if written is not None:
                    written(obj)

            # The rows are written: every object gets its id, whatever the
            # caller does meanwhile.
            return inSlices(setId, result, cancellable=False).addCallback(lambda _: objects)

        return self.runWork(self._insertObjs, (objects,), atomic=True, then=assign)

    def _insertObjs(
        self, txn: Any, objects: Sequence[DBObject]
    ) -> list[tuple[DBObject, Any, Any]]:
        """
        @return: each object inserted, with its saved state (see
            L{DBObject._savedState}) and its new id, for the reactor to set.
        """
        if not objects:
            return []
        tablename = objects[0].tablename()
        columns = self.getSchema(tablename, txn)
        shapes: dict[tuple[str, ...], list[tuple[DBObject, list[Any]]]] = {}
        for obj in objects:
            values = obj.toHash(columns, exclude=["id"])
            shapes.setdefault(tuple(values), []).append((obj, list(values.values())))
        # Every shape's values are checked before anything is sent.
        checked = [
            (names, members, self.rowBatches(names, [values for _, values in members]))
            for names, members in shapes.items()
        ]
        inserted: list[tuple[DBObject, Any, Any]] = []
        for names, members, batches in checked:
            ids = (
                self.insertBatches(txn, tablename, names, batches, True) if names
                else [self.insertRow(txn, tablename, [], [], True) for _ in members]
            )
            inserted.extend(
                (obj, obj._savedState(columns), newId)
                for (obj, _), newId in zip(members, ids)
            )
        return inserted

    def updateObj(
        self, obj: DBObject, written: Callable[[DBObject], Any] | None = None
    ) -> Deferred[DBObject]:
        """
        Write C{obj}'s changed column attributes to its row (all of them when
        it was not loaded from the database); skip the C{UPDATE} when nothing
        changed.

        @param written: called with C{obj} once its row is written, even if
            the caller cancelled too late to stop it.
        @return: a L{Deferred} of C{obj}.
        """

        def updated(saved: Any) -> DBObject:
            obj._setSaved(saved)
            if written is not None:
                written(obj)
            return obj

        return self.runWork(self._updateObj, (obj,), then=updated)

    def _updateObj(self, txn: Any, obj: DBObject) -> Any:
        tablename = obj.tablename()
        columns = self.getSchema(tablename, txn)
        changes = obj._changedValues(columns)
        changes.pop("id", None)
        if changes:
            names = list(changes)
            self.checkValues(changes.values(), names)
            query, args = self.buildUpdate(tablename, names, ["id = ?", obj.id], None)
            self.run(txn, query, list(changes.values()) + args)
            # MySQL counts only the rows it changed: look before failing.
            if txn.rowcount == 0 and not self._rowExists(txn, tablename, obj.id):
                raise DBObjectSaveError(
                    f"{obj!r} was not saved: {tablename} has no row with id {obj.id!r} "
                    f"(deleted, or its insert was rolled back)"
                )
        return obj._savedState(columns)

    def _rowExists(self, txn: Any, tablename: str, id: Any) -> bool:
        query, args = self.buildSelect(tablename, id=id, select="1")
        self.run(txn, query, args)
        return txn.fetchone() is not None

    def refreshObj(self, obj: DBObject) -> Deferred[DBObject]:
        """
        Reload C{obj}'s attributes from its row.

        @return: a L{Deferred} of C{obj}.
        @raise CannotRefreshError: (in the Deferred) if the row is gone.
        """
        return self.runInteraction(self._refreshObj, obj)

    def _refreshObj(self, txn: Any, obj: DBObject) -> DBObject:
        tablename = obj.tablename()
        if obj.id is None:
            raise CannotRefreshError(f"{obj!r} has not been saved, so it has no row")
        query, args = self.buildSelect(tablename, id=obj.id)
        readers = self.columnReaders(txn, tablename)
        self.run(txn, query, args)
        row = txn.fetchone()
        if row is None:
            raise CannotRefreshError(f"{tablename} has no row with id {obj.id!r}")
        columns = tuple(d[0] for d in txn.description)
        convert = _rowConverter(columns, readers)
        obj.__dict__.update(zip(columns, row if convert is None else convert(row)))
        obj._markSaved(columns)
        return obj

    def selectObjects(
        self, klass: type[DBObject], query: str, args: Sequence[Any], one: bool
    ) -> Deferred[Any]:
        """
        Run a select on C{klass}'s table and build objects from the rows on
        the pool thread (without running C{afterInit}).

        @return: a L{Deferred} of one object or C{None} when C{one}, otherwise
            of a list of objects.
        """
        return self.runInteraction(self._selectObjects, klass, query, args, one)

    def selectKeyedObjects(
        self, klass: type[DBObject], query: str, args: Sequence[Any]
    ) -> Deferred[list[tuple[Any, Any]]]:
        """
        Run a select (in the driver's paramstyle) whose last column is a key
        and the others are columns of C{klass}'s table.

        @return: a L{Deferred} of a list of C{(key, object)} pairs, the
            objects built without running C{afterInit}.
        """

        def select(txn: Any) -> list[tuple[Any, Any]]:
            readers = self.columnReaders(txn, klass.tablename())
            with self.manyRowsCursor(txn) as cursor:
                self.run(cursor, query, args)
                description = cursor.description
                columns = tuple(d[0] for d in description)[:-1]
                rows = self.fetchRows(cursor, _rowConverter(columns, readers))
            mutable = self.mutableColumns(description[:-1])
            objects = klass._fromRows(columns, [row[:-1] for row in rows], mutable)
            return [(row[-1], obj) for row, obj in zip(rows, objects)]

        return self.runInteraction(select)

    def _selectObjects(
        self, txn: Any, klass: type[DBObject], query: str, args: Sequence[Any], one: bool
    ) -> Any:
        readers = self.columnReaders(txn, klass.tablename())
        with self.manyRowsCursor(txn, not one) as cursor:
            self.run(cursor, query, args)
            description = cursor.description
            columns = tuple(d[0] for d in description)
            convert = _rowConverter(columns, readers)
            if one:
                row = cursor.fetchone()
                if row is None:
                    return None
                mutable = self.mutableColumns(description)
                return klass._fromRow(
                    columns, row if convert is None else convert(row), mutable
                )
            rows = self.fetchRows(cursor, convert)
        return klass._fromRows(columns, rows, self.mutableColumns(description))


_COMPATIBLE: dict[tuple[type, type], type[TwistarError]] = {}


def _driverCompatible(twistarClass: type[TwistarError], driverClass: type) -> type[TwistarError]:
    """
    @return: a subclass of both C{twistarClass} and the driver's exception
        class, so code that catches the driver's exceptions still catches
        twistar's translation, named like C{twistarClass} (as tracebacks
        show it); C{twistarClass} if they cannot be combined.
    """
    key = (twistarClass, driverClass)
    if key not in _COMPATIBLE:
        namespace: dict[str, Any] = {"__module__": twistarClass.__module__}
        for klass in driverClass.__mro__:
            if klass in BaseException.__mro__:
                continue
            for name, value in vars(klass).items():
                if not name.startswith("__") and hasattr(type(value), "__set__"):
                    namespace.setdefault(name, _readFromCause(name))
        try:
            _COMPATIBLE[key] = type(
                twistarClass.__name__, (twistarClass, driverClass), namespace
            )
        except TypeError:
            _COMPATIBLE[key] = twistarClass
    return _COMPATIBLE[key]


def _rowConverter(
    names: Sequence[str], readers: Mapping[str, Callable[[Any], Any]] | None
) -> Callable[[Sequence[Any]], tuple[Any, ...]] | None:
    """
    @param names: the names of a result's first columns.
    @param readers: conversions by column name (see
        L{InteractionBase.columnReaders}).
    @return: a function converting a row's values in the columns of C{names}
        that have a reader (leaving C{None} alone), or C{None} when none has.
    """
    if not readers:
        return None
    found = [(index, readers[name]) for index, name in enumerate(names) if name in readers]
    if not found:
        return None

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for index, read in found:
            if values[index] is not None:
                values[index] = read(values[index])
        return tuple(values)

    return convert


def _requireMapping(method: str, values: Any) -> None:
    """
    @raise InvalidQueryError: unless C{values} is a dict of column values.
    """
    if not isinstance(values, Mapping):
        raise InvalidQueryError(
            f"{method} takes a dict of column values, not {safeText(values):.80}"
        )


def _connectionLost(message: str, cause: BaseException) -> TwistarError:
    """
    @return: a L{ConnectionLostError}, also of the class of C{cause} when that
        is a driver exception.
    """
    if isinstance(cause, getattr(getattr(Registry.DBPOOL, "dbapi", None), "Error", ())):
        try:
            return _driverCompatible(ConnectionLostError, type(cause))(message)
        except Exception:
            pass
    return ConnectionLostError(message)


def _readFromCause(name: str) -> property:
    """
    @return: a property that reads attribute C{name} (one the driver's
        exception class computes, such as psycopg2's C{pgcode} or C{diag})
        from the original exception, the C{__cause__}.
    """
    return property(lambda self: getattr(self.__cause__, name, None))


class _KeysDiffer(Exception):
    """
    The rows given to C{insertMany} do not all have the same keys.
    """


def _uniformBatches(
    rows: list[dict[str, Any]], columns: list[str], size: int
) -> Iterator[list[Any]]:
    """
    @return: the values of C{rows} (dicts) for C{columns}, one row after
        another, in lists of C{size} rows.
    @raise _KeysDiffer: (while iterating) unless every row has exactly the
        keys C{columns}.
    """
    width = len(columns)
    if not width:
        raise _KeysDiffer()
    getter = itemgetter(*columns)
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        values = map(getter, chunk)
        try:
            batch = list(values if width == 1 else chain.from_iterable(values))
        except KeyError:
            raise _KeysDiffer() from None
        # Every row has the keys of columns; the same count means no others.
        if sum(map(len, chunk)) != width * len(chunk):
            raise _KeysDiffer()
        yield batch


def _unencodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False
