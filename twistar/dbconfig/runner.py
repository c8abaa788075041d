# -*- test-case-name: twistar.tests.test_dbconfig,twistar.tests.test_transaction -*-
"""
L{Runner}: running statements on the pool's threads, and reading results.

Every statement runs on a pool thread: in an interaction of its own
(committed at its end; with a reconnecting pool, run again on a new
connection if the old one was dead and nothing can have been applied), or
on the connection of the running transaction (L{twistar.context}).
Waiting for and cancelling pool work is in L{twistar.pool}. Results are
read in batches, through a streaming cursor where the driver has one, with
the database's conversions of column values applied.
"""

from __future__ import annotations

import contextvars
import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import count
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.python.failure import Failure

from twistar.context import currentTransaction
from twistar.dbconfig.errors import ErrorTranslation
from twistar.exceptions import (
    ConnectionLostError,
    ImaginaryTableError,
    InvalidIdentifierError,
    PoolExhaustedError,
    TwistarError,
    UnknownColumnError,
    UnsupportedValueError,
)
from twistar.pgpool import PostgresPool, giveTurn
from twistar.pool import (
    PoolWork,
    cancellable,
    deferToPool,
    exhausted,
    raiseIfCancelled,
    waitLimitOf,
)
from twistar.querylog import ObservedStatement, observed, resultContext, rowsRead, watched
from twistar.replicas import (
    DEFAULT_DATABASE,
    UNKNOWN_POSITION,
    Check,
    Replica,
    ReplicaBehind,
    ReplicaSet,
    WrittenPositions,
    dueCheck,
    primaryForced,
    writerContext,
    writesOfContext,
    writtenPosition,
)
from twistar.slicing import ROWS_PER_COLLECTION, collectorPaused

# Names for the savepoints of atomic work inside transactions.
_savepointNumbers = count(1)

def utcNow() -> datetime:
    """
    @return: the time now, in UTC: the one clock of timestamps.
    """
    return datetime.now(timezone.utc)


# (Database, table name) -> (its list in the registry's schema cache when
# read, the declared type of each of its columns).
_declared: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {}


class Runner(ErrorTranslation):
    """
    L{ErrorTranslation}, running statements: methods that take a C{txn}
    run synchronously on it (inside L{runInteraction}); the others return
    a L{Deferred}.
    """

    # -- running statements ---------------------------------------------

    def executeTxn(self, txn: Any, query: str, *args: Any) -> Any:
        """
        Run raw SQL, written in the driver's paramstyle, on C{txn}.

        @return: what the cursor's C{execute} returns.
        """
        if self.LOG:
            self.log(query, args, {})
        watch = observed(self)
        if watch is None:
            return txn.execute(query, *args)
        statement = ObservedStatement(watch, self, txn, query, args[0] if args else None)
        try:
            result = txn.execute(query, *args)
        except Exception as e:
            statement.failed(e)
            raise
        statement.ran()
        return result

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

    def runRead(self, func: Callable[..., Any], *args: Any, **kw: Any) -> Deferred[Any]:
        """
        L{runInteraction} for work that only reads: outside a transaction it
        may run on a replica of the database (see L{twistar.replicas}).
        """
        return self.runWork(func, args, kw, read=True)

    def runWork(
        self, func: Callable[..., Any], args: Sequence[Any] = (),
        kw: Mapping[str, Any] | None = None, atomic: bool = False,
        then: Callable[[Any], Any] | None = None, read: bool = False,
        oneStatement: bool = False,
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
        @param read: whether the work only reads; outside a transaction,
            it then runs on a replica when the database has one that has
            replayed the running context's writes.
        @param oneStatement: whether the work writes with one statement
            (after reads, if any): outside a transaction, on a
            L{PostgresPool}, it then runs without C{BEGIN} and C{COMMIT}
            (the statement commits alone), and its commit counts as begun
            when it starts: cancelling it then changes nothing, and a lost
            connection fails it (its outcome unknown) instead of running it
            again.
        """
        kw = kw or {}
        txn = currentTransaction()
        pool = self.pool
        if txn is not None and txn.pool is pool:
            if atomic:
                return txn.runWork(self._inSavepoint, (func, args, kw), {}, then)
            return txn.runWork(func, args, kw, then)
        replicas = self.registry.replicasOf(self.database)
        if replicas is None:
            return self._runOnPool(pool, func, args, kw, then, read=read, oneStatement=oneStatement)
        if not read:
            return self._writeOnPrimary(pool, func, args, kw, then, oneStatement)
        if self.primaryOnly or primaryForced():
            return self._runOnPool(pool, func, args, kw, then, read=True)
        return self._readOnReplica(replicas, func, args, kw, then)

    def _runOnPool(
        self, pool: adbapi.ConnectionPool, func: Callable[..., Any], args: Sequence[Any],
        kw: Mapping[str, Any], then: Callable[[Any], Any] | None,
        position: _LogPosition | None = None, context: contextvars.Context | None = None,
        read: bool = False, oneStatement: bool = False,
    ) -> Deferred[Any]:
        """
        Run C{func(cursor, *args, **kw)} in an interaction of its own on
        C{pool} (see L{runWork}); on a L{PostgresPool}, in a greenlet of the
        reactor's thread (see L{_runGreen}).

        @param position: where to keep the primary's log position after the
            commit.
        @param context: the context to fire the result in (by default, see
            L{resultContext}).
        @param read: the work only reads (on a L{PostgresPool}, it then runs
            without C{BEGIN} and C{COMMIT}).
        @param oneStatement: the work writes with one statement (see
            L{runWork}).
        """
        limit = waitLimitOf(pool)
        work = PoolWork()
        reactor = pool._reactor
        func = watched(self, func)
        if context is None:
            context = resultContext()
        if isinstance(pool, PostgresPool):
            return self._runGreen(
                pool, func, args, kw, then, work, position, context, limit, read, oneStatement
            )
        interaction = (pool, func, args, kw, True, work, position)
        if limit is None:
            return deferToPool(
                reactor, pool.threadpool, work, self._interact, interaction, then, None, context
            )

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
            reactor, pool.threadpool, work, self._interact, interaction, thenStop, stopTimer,
            context,
        )
        result.addErrback(stopTimer)
        return result

    def _runGreen(
        self, pool: PostgresPool, func: Callable[..., Any], args: Sequence[Any],
        kw: Mapping[str, Any], then: Callable[[Any], Any] | None, work: PoolWork,
        position: _LogPosition | None, context: contextvars.Context | None,
        limit: float | None, read: bool, oneStatement: bool,
    ) -> Deferred[Any]:
        """
        L{_runOnPool} on a L{PostgresPool}: C{func} runs with
        L{PostgresPool.runGreen}, in the caller's context, between C{BEGIN}
        and C{COMMIT} (without them when C{read} or C{oneStatement}: each
        statement then commits alone, one round trip). Cancelling it before
        the commit cancels the running statement on the server and rolls
        back; work that finds its connection lost before committing runs
        once more, on a new connection.
        """
        call = _GreenCall(self, pool, func, args, kw, work, position, limit, read, oneStatement)
        done = call.submit(True).addErrback(call.retried)
        result = call.result = cancellable(work, done, then, call.cancelled, context)
        if call.timer is not None:
            result.addBoth(call.stopTimer)
        return result

    def _interactGreen(
        self, connection: Any, func: Callable[..., Any], args: Any, kw: Any, work: PoolWork,
        position: _LogPosition | None, first: bool, read: bool, oneStatement: bool,
    ) -> Any:
        """
        L{_interact} on a connection of a L{PostgresPool} (in autocommit
        mode), in its worker greenlet.

        @param first: whether this is the work's first attempt (not the one
            after a lost connection).
        @raise _LostBeforeCommit: if the connection was lost before the
            commit (nothing was applied).
        """
        if first:
            raiseIfCancelled(work)
        elif work.cancelledWhileRunning:
            raise CancelledError()
        alone = read or oneStatement
        if oneStatement and not work.commit():
            raise CancelledError()  # given up meanwhile
        try:
            cursor = connection.cursor()
            if not alone:
                cursor.execute("BEGIN")
            result = func(cursor, *args, **kw)
            cursor.close()
        except BaseException as e:
            if self.isConnectionLost(e, connection):
                if oneStatement:
                    self.raiseTranslated(e, lost=True, committing=True)
                raise _LostBeforeCommit(self._lostError(e)) from e
            self._rollbackGreen(connection)
            self.raiseTranslated(e)
        if not oneStatement and not work.commit():
            # Cancelled while it ran: undo it. The server's cancel request
            # may still be on its way, and could stop the connection's next
            # statement: the pool drops the connection.
            connection.close()
            raise CancelledError()
        if not alone:
            try:
                connection.commit()
            except BaseException as e:
                alive = not self.isConnectionLost(e, connection)
                if alive:
                    self._rollbackGreen(connection)
                self.raiseTranslated(e, lost=not alive, committing=True)
        if position is not None:
            position.value = self.readLogPosition(connection)
        return result

    def _rollbackGreen(self, connection: Any) -> None:
        try:
            connection.rollback()
        except Exception:
            pass  # lost: the pool drops it

    def _lostError(self, error: BaseException) -> BaseException:
        try:
            self.raiseTranslated(error, lost=True)
        except BaseException as e:
            return e
        raise AssertionError("unreachable")

    # -- replicas -----------------------------------------------------------

    def _writeOnPrimary(
        self, pool: adbapi.ConnectionPool, func: Callable[..., Any], args: Sequence[Any],
        kw: Mapping[str, Any], then: Callable[[Any], Any] | None, oneStatement: bool,
    ) -> Deferred[Any]:
        """
        Run work that may write on the primary of a database with replicas,
        keeping the primary's log position after it in the running context.
        """
        written = writesOfContext()
        position = _LogPosition()

        def record(value: Any) -> Any:
            self.rememberWrite(written, position.value)
            return value if then is None else then(value)

        return self._runOnPool(
            pool, func, args, kw, record, position, writerContext(), oneStatement=oneStatement
        )

    def rememberWrite(self, written: WrittenPositions, position: Any) -> None:
        """
        Keep C{position}, the primary's log position after a write, in
        C{written}: later reads in that context wait for replicas to reach it.
        """
        pool = self.pool
        known = written.positions.get(pool)
        if known is None or known is UNKNOWN_POSITION or position is UNKNOWN_POSITION:
            written.positions[pool] = position
        elif not self.logPositionReached(known, position):
            written.positions[pool] = position

    def readLogPosition(self, connection: Any) -> Any:
        """
        Called on C{connection} (of the primary) after a commit.

        @return: the primary's log position now, or L{UNKNOWN_POSITION} if
            it cannot be read.
        """
        assert self.logPositionQuery is not None
        try:
            cursor = connection.cursor()
            self.run(cursor, self.logPositionQuery, [])
            position = self.parseLogPosition(cursor.fetchone()[0])
            cursor.close()
            connection.rollback()
            return position
        except Exception:
            return UNKNOWN_POSITION

    def _readOnReplica(
        self, replicas: ReplicaSet, func: Callable[..., Any], args: Sequence[Any],
        kw: Mapping[str, Any], then: Callable[[Any], Any] | None,
    ) -> Deferred[Any]:
        """
        Run a read on the first replica, in turn, that is up and has replayed
        the running context's writes; on the primary if none has.
        """
        wanted = writtenPosition(self.pool)
        if wanted is UNKNOWN_POSITION:
            return self._runOnPool(self.pool, func, args, kw, then)
        candidates = [replica for replica in replicas.inTurn() if _isOpen(replica.pool)]
        running: list[Deferred[Any]] = []
        result: Deferred[Any] = Deferred(lambda d: running[-1].cancel())

        def attempt(index: int) -> None:
            if index == len(candidates):
                running.append(self._runOnPool(self.pool, func, args, kw, then))
                running[-1].chainDeferred(result)
                return
            replica = candidates[index]
            check = dueCheck(replica, wanted, self.logPositionReached)
            running.append(self._runOnPool(
                replica.pool, self._readChecked, (replica, check, wanted, func, args, kw), {},
                then,
            ))
            running[-1].addCallbacks(
                succeeded, failed, callbackArgs=(replica,), errbackArgs=(replica, index)
            )

        def succeeded(value: Any, replica: Replica) -> None:
            replica.reads += 1
            result.callback(value)

        def failed(failure: Failure, replica: Replica, index: int) -> None:
            if failure.check(ReplicaBehind):
                attempt(index + 1)
            elif failure.check(ConnectionLostError, PoolExhaustedError):
                replica.failed()
                attempt(index + 1)
            else:
                result.errback(failure)

        attempt(0)
        return result

    def _readChecked(
        self, cursor: Any, replica: Replica, check: Check, wanted: Any,
        func: Callable[..., Any], args: Sequence[Any], kw: Mapping[str, Any],
    ) -> Any:
        """
        Run a read on C{cursor}, of C{replica}; first read what C{check}
        says of the replica.

        @raise ReplicaBehind: if it lags beyond its C{maxLag} or has not
            replayed C{wanted}.
        """
        if check:
            lagToo = check is Check.LAG
            position, lag = self.replicaState(cursor, lagToo)
            replica.checked(position, lagToo)
            if lag is None or lag > replica.maxLag:
                replica.lagging()
                raise ReplicaBehind()
            if wanted is not None and not self.logPositionReached(position, wanted):
                raise ReplicaBehind()
        return func(cursor, *args, **kw)

    def _inSavepoint(
        self, cursor: Any, func: Callable[..., Any], args: Any, kw: Any
    ) -> Any:
        name = self.savepoint(cursor)
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

    def savepoint(self, txn: Any) -> str:
        """
        Set a new savepoint on C{txn}.

        @return: its name, for C{ROLLBACK TO SAVEPOINT} and C{RELEASE SAVEPOINT}.
        """
        name = f"twistar_op{next(_savepointNumbers)}"
        self.run(txn, f"SAVEPOINT {name}", [])
        return name

    @property
    def pool(self) -> adbapi.ConnectionPool:
        """The pool of this database's primary (L{Registry.DBPOOL} for the
        default database), which must not be closed."""
        pool = self.registry.poolOf(self.database)
        named = "Registry.DBPOOL" if self.database == DEFAULT_DATABASE else (
            f"the pool of database {self.database!r}"
        )
        if pool is None:
            raise TwistarError(f"{named} is not set")
        if not _isOpen(pool):
            raise TwistarError(f"{named} is closed: assign an open pool to it")
        return pool

    @property
    def schemas(self) -> dict[str, list[str]]:
        """The cached column names of this database's tables, by table name
        (L{Registry.SCHEMAS} for the default database)."""
        return self.registry.schemasOf(self.database)

    def _interact(
        self, pool: adbapi.ConnectionPool, func: Callable[..., Any], args: Any, kw: Any,
        translate: bool = True, work: PoolWork | None = None,
        position: _LogPosition | None = None,
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
            if position is not None:
                position.value = self.readLogPosition(connection)
            return result
        raise AssertionError("unreachable")

    def connect(self, pool: adbapi.ConnectionPool, translate: bool = True) -> Any:
        """
        @return: this pool thread's DB-API connection; on a reconnecting pool
            where work cannot be run again (not C{replayable}), one checked
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
            raise self._connectionLost(f"cannot connect to the database: {e}", e) from e

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

    # -- running SQL on a cursor -------------------------------------------

    def run(self, txn: Any, query: str, args: Sequence[Any], adapt: bool = True) -> Any:
        """
        Run C{query} (already in the driver's paramstyle) on C{txn}, logging
        it when C{LOG} is set, and telling L{twistar.querylog} about it when
        that observes it.

        @param adapt: apply C{valueAdapters} to C{args} (C{False} when the
            caller did).
        """
        if self.LOG:
            self.log(query, args, {})
        watch = observed(self)
        given = args
        adapters = self.valueAdapters
        if adapt and adapters and not adapters.keys().isdisjoint(map(type, args)):
            args = [adapters[type(a)](a) if type(a) in adapters else a for a in args]
        elif not isinstance(args, (list, tuple)):
            args = given = list(args)
        statement = None if watch is None else ObservedStatement(watch, self, txn, query, given)
        giveTurn()  # on a PostgresPool, the reactor's thread runs this
        try:
            result = txn.execute(query, args)
        except Exception as e:
            refused = self.refusedValues(e, args)
            error = None
            if refused:
                error = UnsupportedValueError(f"cannot store {refused[0]!r:.80}: {e}")
            if statement is not None:
                statement.failed(error or e)
            if error is None:
                raise
            raise error from e
        if statement is not None:
            statement.ran()
        return result

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
            convert = rowConverter(names, readers)
            if one:
                row = cursor.fetchone()
                if row is None:
                    return None
                return dict(zip(names, row if convert is None else convert(row)))
            return [dict(zip(names, row)) for row in self.fetchRows(cursor, convert)]

    def selectRows(
        self, txn: Any, query: str, args: Sequence[Any], tablename: str | None,
        most: int | None = None,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """
        Run a select (in the driver's paramstyle) on C{txn}, reading values
        as L{columnReaders} says for C{tablename}'s columns (when given).

        @param most: read at most this many rows.
        @return: the column names and the rows.
        """
        readers = None if tablename is None else self.columnReaders(txn, tablename)
        with self.manyRowsCursor(txn, most is None) as cursor:
            self.run(cursor, query, args)
            names = [d[0] for d in cursor.description]
            convert = rowConverter(names, readers)
            if most is None:
                return names, list(self.fetchRows(cursor, convert))
            rows = cursor.fetchmany(most)
        return names, [tuple(row) if convert is None else convert(row) for row in rows]

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

    def matchedRows(self, cursor: Any) -> int:
        """
        @return: how many rows the C{UPDATE} just run on C{cursor} matched
            (whether or not it changed their values).
        """
        return int(cursor.rowcount)

    def fetchRows(
        self, txn: Any, convert: Callable[[Sequence[Any]], Sequence[Any]] | None = None
    ) -> list[Any]:
        """
        Fetch the rest of C{txn}'s result, C{fetchSize} rows at a time.
        Past the first batch, the rows are fetched under
        L{collectorPaused}, with a collection of the youngest generation
        every L{ROWS_PER_COLLECTION} rows (which stops tracking the tuples
        of plain values): otherwise the collector scans the growing list
        of rows again and again.

        @param convert: applied to each row.
        @return: the rows.
        """
        size = self.fetchSize
        batch = txn.fetchmany(size)
        rows = list(batch if convert is None else map(convert, batch))
        # Fewer rows than asked for: there are no more (PEP 249).
        if len(batch) == size:
            collectAt = ROWS_PER_COLLECTION
            with collectorPaused():
                while len(batch) == size:
                    giveTurn()  # on a PostgresPool, the reactor's thread runs this
                    if len(rows) >= collectAt:
                        gc.collect(0)
                        collectAt += ROWS_PER_COLLECTION
                    batch = txn.fetchmany(size)
                    rows.extend(batch if convert is None else map(convert, batch))
        rowsRead(txn, len(rows))
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

        @param columns: the list now in L{schemas}.
        @param rows: the rows of C{schemaQuery}.
        """

    def getSchema(self, tablename: str, txn: Any = None) -> Any:
        """
        The column names of C{tablename}, cached in L{schemas}.

        @return: the list when given a C{txn}, otherwise a L{Deferred} of it.
        @raise ImaginaryTableError: if the table does not exist.
        """
        if txn is None:
            cached = self.schemas.get(tablename)
            if cached is not None:
                return succeed(cached)
            return self.runInteraction(lambda txn: self.getSchema(tablename, txn))
        columns = self.schemas.get(tablename)
        if columns is None:
            self.quoteIdentifier(tablename)
            query, args = self.schemaQuery(tablename)
            self.run(txn, query, args)
            rows = txn.fetchall()
            columns = [row[0] for row in rows]
            if not columns:
                raise ImaginaryTableError(f"table {tablename!r} does not exist")
            self.schemas[tablename] = columns
            _declared[self.database, tablename] = (columns, {row[0]: str(row[1]) for row in rows})
            self.schemaRead(tablename, columns, rows)
        return columns

    def timestampValues(
        self, txn: Any, tablename: str, names: Sequence[str], now: datetime
    ) -> dict[str, Any]:
        """
        @param names: columns of C{tablename}.
        @param now: an aware datetime in UTC.
        @return: C{now} as each column of C{names} keeps it (see
            C{storedTimestamp}), by name.
        """
        declared = self.declaredTypes(txn, tablename)
        for name in names:
            if name not in declared:
                raise UnknownColumnError(f"TIMESTAMPS: {tablename} has no column {name!r}")
        return {name: self.storedTimestamp(now, declared[name]) for name in names}

    def declaredTypes(self, txn: Any, tablename: str) -> dict[str, str]:
        """
        @return: the declared type of each column of C{tablename}, as
            C{schemaQuery} reads it, by name (read with L{getSchema}).
        """
        known = _declared.get((self.database, tablename))
        if known is None or known[0] is not self.schemas.get(tablename):
            # Read the schema again: the cache was cleared, or filled elsewhere.
            self.schemas.pop(tablename, None)
            self.getSchema(tablename, txn)
            known = _declared[self.database, tablename]
        return known[1]

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


def _runIn(connection: Any, context: contextvars.Context, func: Callable[..., Any],
           *args: Any) -> Any:
    return context.run(func, connection, *args)


class _GreenCall:
    """
    One call of L{Runner._runGreen}: its work's attempts on the pool, and
    what cancels them (an object with slots rather than closures: many
    calls may be pending at once).

    @ivar running: the L{Deferred} of the work's current attempt.
    @ivar timer: the call giving up waiting for a connection, if any.
    @ivar result: the caller's L{Deferred}.
    """

    __slots__ = (
        "runner", "pool", "func", "args", "kw", "work", "position", "limit", "read",
        "oneStatement", "callerContext", "running", "timer", "result",
    )

    def __init__(
        self, runner: Runner, pool: PostgresPool, func: Callable[..., Any],
        args: Sequence[Any], kw: Mapping[str, Any], work: PoolWork,
        position: _LogPosition | None, limit: float | None, read: bool, oneStatement: bool,
    ) -> None:
        self.runner = runner
        self.pool = pool
        self.func = func
        self.args = args
        self.kw = kw
        self.work = work
        self.position = position
        self.limit = limit
        self.read = read
        self.oneStatement = oneStatement
        self.callerContext = contextvars.copy_context()
        self.running: Deferred[Any] | None = None
        self.result: Deferred[Any] | None = None
        self.timer = None if limit is None else pool._reactor.callLater(limit, self.giveUp)

    def submit(self, first: bool) -> Deferred[Any]:
        """
        Give the work to the pool, in a copy of the caller's context as it
        was when the work was given (each attempt's own).

        @param first: whether this is the first attempt.
        """
        running = self.running = self.pool.runGreen(
            _runIn, self.callerContext.copy(), self.runner._interactGreen, self.func,
            self.args, self.kw, self.work, self.position, first, self.read,
            self.oneStatement, nextTurn=self.oneStatement,
        )
        return running

    def retried(self, failure: Failure) -> Any:
        """
        Run the work again after its connection was lost before it
        committed (unless it was cancelled meanwhile).
        """
        if failure.check(_LostBeforeCommit) and not self.work.cancelledWhileRunning:
            return self.submit(False).addErrback(self.unwrapped)
        return self.unwrapped(failure)

    def unwrapped(self, failure: Failure) -> Any:
        """
        @return: C{failure}, or raise the error the caller is to see.
        """
        error = failure.value
        if isinstance(error, _LostBeforeCommit):
            raise error.error
        if isinstance(error, self.pool.dbapi.Error) and not isinstance(error, TwistarError):
            # The pool could not open a connection for the work.
            raise self.runner._connectionLost(
                f"cannot connect to the database: {error}", error) from error
        return failure

    def cancelled(self, started: bool) -> None:
        """
        The caller cancelled: stop the attempt unless its commit began.
        """
        self.stopTimer()
        if (not started or self.work.cancelledWhileRunning) and self.running is not None:
            self.running.cancel()

    def giveUp(self) -> None:
        """
        The work waited C{limit} seconds for a connection: fail it.
        """
        if self.work.drop():
            result = self.result
            if result is not None and not result.called:
                result.errback(exhausted(self.pool, self.limit or 0.0))
            if self.running is not None:
                self.running.cancel()

    def stopTimer(self, value: Any = None) -> Any:
        """
        Stop waiting to give up; pass C{value} on.
        """
        timer = self.timer
        if timer is not None and timer.active():
            timer.cancel()
        return value


class _LostBeforeCommit(Exception):
    """
    Work on a L{PostgresPool} found its connection lost before committing:
    it may run again on a new connection.

    @ivar error: the L{ConnectionLostError} to raise if it does not.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _LogPosition:
    """
    The primary's log position after a write, read on the pool thread.
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = UNKNOWN_POSITION


def _isOpen(pool: Any) -> bool:
    # Not running, and no start pending: closed (its work would never run).
    return bool(pool.running) or getattr(pool, "startID", None) is not None


def rowConverter(
    names: Sequence[str], readers: Mapping[str, Callable[[Any], Any]] | None
) -> Callable[[Sequence[Any]], tuple[Any, ...]] | None:
    """
    @param names: the names of a result's first columns.
    @param readers: conversions by column name (see
        L{Runner.columnReaders}).
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
