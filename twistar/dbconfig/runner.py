# -*- test-case-name: twistar.tests.test_dbconfig,twistar.tests.test_transaction -*-
"""
L{Runner}: running statements on the database's pools.

Every statement runs on a pool thread (in a greenlet of the reactor's
thread on a L{PostgresPool}, see L{twistar.dbconfig.green}): in an
interaction of its own (committed at its end; with a reconnecting pool, run
again on a new connection if the old one was dead and nothing can have been
applied), or on the connection of the running transaction
(L{twistar.context}); reads may run on a replica (L{twistar.replicas}).
Waiting for and cancelling pool work is in L{twistar.pool}; running
statements on a cursor and reading results, in
L{twistar.dbconfig.statements}.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.python.failure import Failure

from twistar.context import currentTransaction
from twistar.dbconfig.green import GreenRunner
from twistar.dbconfig.statements import LogPosition
from twistar.exceptions import ConnectionLostError, PoolExhaustedError, TwistarError
from twistar.pgpool import PostgresPool
from twistar.pool import PoolWork, deferToPool, exhausted, raiseIfCancelled, waitLimitOf
from twistar.querylog import resultContext, watched
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


class Runner(GreenRunner):
    """
    L{GreenRunner}, running work on the database's pools (a pool's threads,
    a L{PostgresPool}'s greenlets, the running transaction, a replica): the
    calls that start work return a L{Deferred}; the others serve that work
    where it runs (connecting, rolling back, interrupting).
    """

    # -- running statements ---------------------------------------------

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
            (the statement commits alone, or with those of the other such
            writes given in the same reactor turn, in one pipeline: see
            L{twistar.pipelining}), and its commit counts as begun
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
        position: LogPosition | None = None, context: contextvars.Context | None = None,
        read: bool = False, oneStatement: bool = False,
    ) -> Deferred[Any]:
        """
        Run C{func(cursor, *args, **kw)} in an interaction of its own on
        C{pool} (see L{runWork}); on a L{PostgresPool}, in a greenlet of the
        reactor's thread (see
        L{_runGreen<twistar.dbconfig.green.GreenRunner._runGreen>}).

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
        position = LogPosition()

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

    # -- the pool -----------------------------------------------------------

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

    def _interact(
        self, pool: adbapi.ConnectionPool, func: Callable[..., Any], args: Any, kw: Any,
        translate: bool = True, work: PoolWork | None = None,
        position: LogPosition | None = None,
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

    # -- the schema ---------------------------------------------------------

    def getSchema(self, tablename: str, txn: Any = None) -> Any:
        """
        The column names of C{tablename}, cached in
        L{schemas<twistar.dbconfig.statements.StatementRunner.schemas>}.

        @return: the list when given a C{txn}, otherwise a L{Deferred} of it.
        @raise ImaginaryTableError: if the table does not exist.
        """
        if txn is None:
            cached = self.schemas.get(tablename)
            if cached is not None:
                return succeed(cached)
            return self.runInteraction(lambda txn: self.getSchema(tablename, txn))
        return super().getSchema(tablename, txn)


def _isOpen(pool: Any) -> bool:
    # Not running, and no start pending: closed (its work would never run).
    return bool(pool.running) or getattr(pool, "startID", None) is not None
