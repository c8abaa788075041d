# -*- test-case-name: twistar.tests.test_transaction,twistar.tests.test_retry -*-
"""
L{GreenTransactionWorker}: what L{twistar.txnworker.TransactionWorker} does
for a transaction on a L{PostgresPool<twistar.pgpool.PostgresPool>},
without a thread: the connection is held (L{PostgresPool.hold}) from the
transaction's first statement to its end, and the queued statements run
on it in order, each in the connection's greenlet (L{PostgresPool.runOn}).

The synchronous cursor interface of L{Transaction<twistar.transaction.
Transaction>} (C{txn.execute(...)}, C{txn.fetchall()}) runs at once on the
held connection: called in the transaction's own work (a function given a
cursor), it is that work's statement; called from the reactor's code, it
blocks the reactor until the server answers (no other work runs
meanwhile), and it needs a statement of the transaction to have run first
(the connection is taken then).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from twistar.exceptions import (
    ConnectionLostError,
    TransactionError,
    TransactionTimeoutError,
    TwistarError,
)
from twistar.pool import PoolWork, exhausted, waitLimitOf
from twistar.querylog import threadTransaction
from twistar.txnworker import WorkerBase, translated

if TYPE_CHECKING:
    from twistar.dbconfig.base import InteractionBase
    from twistar.pgpool import PostgresPool

_log = Logger(namespace="twistar")

_Report = Callable[[bool, Any], None]


class GreenTransactionWorker(WorkerBase):
    """
    The held connection of one top-level transaction on a L{PostgresPool},
    running the work queued by the transaction and its savepoints, in
    order, on the reactor's thread.

    @ivar threadId: always C{None}: no pool thread runs the transaction.
    """

    threadId: int | None = None

    def __init__(
        self, pool: PostgresPool, config: InteractionBase, isolation: str | None,
        timeout: float,
    ) -> None:
        super().__init__(pool, config, isolation)
        self.queue: deque[tuple[Any, Any, Any, _Report, PoolWork | None]] = deque()
        # The error that stops the transaction: later statements fail.
        self.error: BaseException | None = None
        self.holding: Deferred[Any] | None = None
        self.reopened = False
        self.returned = False
        # A safety net: the reactor side rolls back at the timeout itself.
        self.deadline = pool._reactor.callLater(timeout + 30.0, self.outlived)

    # -- the interface of TransactionWorker ---------------------------------

    def submit(self, func: Callable[..., Any] | str, args: Any, kw: Any,
               report: _Report, work: PoolWork | None = None) -> None:
        """
        Queue C{func(cursor, *args, **kw)}, or C{"commit"} or C{"rollback"};
        C{report(ok, result)} is called when it has run (at once if the
        transaction has ended).

        @param work: the state of a statement, which is skipped if it was
            cancelled before its turn.
        """
        if self.closed:
            self.answerClosed(func, report)
            return
        self.queue.append((func, args, kw, report, work))
        self.next()

    def closeUnstarted(self, error: BaseException) -> bool:
        """
        End the transaction with C{error} if it has no connection yet:
        everything queued fails.

        @return: whether it had none.
        """
        if self.started or self.closed:
            return False
        self.closed = True
        self.closedError = error
        self.stopTimers()
        if self.holding is not None:
            self.holding.cancel()
        self.answerQueued()
        return True

    def answerQueued(self) -> None:
        """
        Answer everything queued, now that the transaction has ended.
        """
        while self.queue:
            func, _, _, report, _ = self.queue.popleft()
            self.answerClosed(func, report)

    def stopTimers(self) -> None:
        """
        Stop the wait limit's timer and the safety net's.
        """
        self.stopWaitTimer()
        if self.deadline.active():
            self.deadline.cancel()

    def level(self) -> str | None:
        """
        @return: the isolation level of the transaction (C{None} when it is
            the database's default).
        """
        return self.isolation

    def interrupt(self) -> None:
        """
        Stop the statement running now, if any, so that a rollback can
        follow at once: the server is asked to cancel it (from a thread);
        the connection is closed at the end rather than reused, as the
        request may arrive late.
        """
        if not self.busy or self.connection is None:
            return
        interrupter = self.config.interrupter(cast(Any, self.pool), self.connection)
        if interrupter is None:
            return
        self.interrupted = True
        self.interruptWith(interrupter)

    def outlived(self) -> None:
        """
        The transaction outlived its timeout by far (its code never ended
        it): roll it back and give the connection back.
        """
        if self.closed:
            return
        self.closedError = TransactionTimeoutError(
            "the transaction was rolled back: it outlived its timeout"
        )
        self.queue.appendleft(("rollback", (), {}, lambda ok, result: None, None))
        self.next()

    # -- running the queue ---------------------------------------------------

    def next(self) -> None:
        """
        Run the next queued work, unless work runs or the connection is
        being taken.
        """
        while self.queue and not self.busy and self.holding is None and not self.closed:
            func, args, kw, report, work = self.queue[0]
            if func in ("commit", "rollback"):
                self.queue.popleft()
                self.end(func, report)
                return
            if self.connection is None and self.error is None:
                self.hold()
                return
            if self.error is None and work is not None and not work.start():
                self.queue.popleft()
                report(False, CancelledError())
                continue
            self.queue.popleft()
            if self.error is not None:
                failed = TransactionError(f"the transaction has failed: {self.error}")
                failed.__cause__ = self.error
                report(False, failed)
                continue
            self.busy = True
            self.pool.runOn(self.connection, self.runStatement, func, args, kw).addCallbacks(
                self.ran, self.failed, callbackArgs=(report,), errbackArgs=(report,))

    def runStatement(self, connection: Any, func: Callable[..., Any], args: Any, kw: Any) -> Any:
        """
        Run C{func(cursor, *args, **kw)}, in the connection's greenlet.
        """
        threadTransaction(self.number)
        try:
            return func(self.cursor, *args, **kw)
        finally:
            threadTransaction(None)

    def ran(self, result: Any, report: _Report) -> None:
        """
        A statement ran: report its result, and run the next.
        """
        self.busy = False
        report(True, result)
        self.next()

    def failed(self, failure: Failure, report: _Report) -> None:
        """
        A statement failed: report its error (translated), which stops the
        transaction if the connection is lost or the server rolled back.
        """
        self.busy = False
        error = cast(BaseException, failure.value)
        if self.isLost(error):
            lost = ConnectionLostError("the connection was lost in a transaction")
            lost.__cause__ = error
            self.error = lost
            report(False, lost)
        else:
            twistarError = translated(self.config, error)
            if isinstance(twistarError, self.config.transactionAbortingErrors):
                # The server rolled the whole transaction back.
                self.error = twistarError
            report(False, twistarError)
        self.next()

    def isLost(self, error: BaseException) -> bool:
        """
        @return: whether C{error} means the connection is gone.
        """
        return self.connection is not None and self.config.isConnectionLost(
            error, self.connection
        )

    # -- the connection ------------------------------------------------------

    def hold(self) -> None:
        """
        Take a connection of the pool, then begin the transaction on it.
        """
        limit = waitLimitOf(self.pool)
        if limit is not None and self.waitTimer is None:
            self.waitTimer = self.pool._reactor.callLater(
                limit, self.closeUnstarted, exhausted(self.pool, limit))
        self.holding = self.pool.hold()
        self.holding.addCallbacks(self.held, self.notHeld)

    def held(self, connection: Any) -> None:
        """
        The pool gave C{connection}: begin the transaction on it.
        """
        self.holding = None
        if self.closed:
            self.pool.release(connection)
            return
        self.started = True
        self.stopWaitTimer()
        self.connection = connection
        self.returned = False
        self.busy = True
        self.pool.runOn(connection, self.begin).addCallbacks(self.begun, self.beginFailed)

    def notHeld(self, failure: Failure) -> None:
        """
        The pool could not give a connection: the transaction fails.
        """
        self.holding = None
        if self.closed:
            return  # given up (closeUnstarted)
        self.started = True
        self.stopWaitTimer()
        self.error = self.connectError(cast(BaseException, failure.value))
        self.next()

    def connectError(self, error: BaseException) -> BaseException:
        """
        @return: the error of a transaction whose pool could not give it a
            connection because of C{error}.
        """
        if isinstance(error, self.pool.dbapi.Error) and not isinstance(error, TwistarError):
            lost = self.config._connectionLost(f"cannot connect to the database: {error}", error)
            lost.__cause__ = error
            return lost
        return translated(self.config, error)

    def begin(self, connection: Any) -> None:
        """
        Begin the transaction, at its isolation level (in the connection's
        greenlet).
        """
        self.cursor = connection.cursor()
        threadTransaction(self.number)
        try:
            self.config.run(self.cursor, "BEGIN", [])
            if self.isolation:
                statement = self.config.isolationStatement(self.isolation)
                if statement:
                    self.config.run(self.cursor, statement, [])
        finally:
            threadTransaction(None)

    def begun(self, _: Any) -> None:
        """
        The transaction has begun: run the queued work.
        """
        self.busy = False
        self.next()

    def beginFailed(self, failure: Failure) -> None:
        """
        Beginning failed: on a dead connection, once more on another; else
        the transaction fails.
        """
        self.busy = False
        error = cast(BaseException, failure.value)
        lost = self.isLost(error)
        self.giveBack()
        if lost and not self.reopened:
            # The pool's connection was dead: begin once more on another.
            self.reopened = True
            self.started = False
            self.connection = None
            self.next()
            return
        self.error = translated(self.config, error)
        self.next()

    def giveBack(self) -> None:
        """
        Give the connection back to the pool (closed if an interrupt may
        still reach it); rolled back by the pool if a transaction is open.
        The transaction keeps it as C{connection}, to run nothing more.
        """
        connection, self.cursor = self.connection, None
        if connection is None or self.returned:
            return
        self.returned = True
        if self.interrupted:
            connection.close()
        self.pool.release(connection)

    def end(self, how: str, report: _Report) -> None:
        """
        Commit or roll back (C{how}), give the connection back, and end.
        """
        if self.connection is None or self.error is not None:
            self.finish()
            if self.error is None:
                report(True, None)
            else:
                report(how == "rollback", self.error)
            return
        self.busy = True
        self.pool.runOn(self.connection, self.ending, how).addBoth(self.ended, how, report)

    def ending(self, connection: Any, how: str) -> None:
        """
        Commit or roll back, in the connection's greenlet; after a commit
        on a database with replicas, read the primary's log position.
        """
        if self.config.LOG:
            self.config.log(how.upper(), (), {})
        getattr(connection, how)()
        if how == "commit" and self.written is not None:
            self.logPosition = self.config.readLogPosition(connection)

    def ended(self, outcome: Any, how: str, report: _Report) -> None:
        """
        The commit or rollback ended with C{outcome}: report it.
        """
        self.busy = False
        error = outcome.value if isinstance(outcome, Failure) else None
        lost = error is not None and self.isLost(error)
        self.finish()
        if error is None or how != "commit":
            report(True, None)
        elif lost:
            failed = ConnectionLostError(
                "the connection failed while committing; the commit may or may not have "
                "been applied"
            )
            failed.__cause__ = error
            report(False, failed)
        else:
            # The database refused the commit (a serialization failure, a
            # deferred constraint): it rolled everything back.
            report(False, translated(self.config, error))

    def finish(self) -> None:
        """
        The transaction has ended: give the connection back, and answer
        whatever was queued after the end.
        """
        self.closed = True
        self.stopTimers()
        self.giveBack()
        self.answerQueued()

    # -- the synchronous cursor interface ------------------------------------

    def runSync(self, func: Callable[..., Any], args: Any) -> Any:
        """
        Run C{func(cursor, *args)} now on the transaction's connection (see
        L{twistar.greenworker}).

        @raise TransactionError: if the transaction has ended or failed, has
            no connection yet, or (called from the reactor's code) a
            statement of it is running.
        """
        from greenlet import getcurrent

        inWork = getcurrent().parent is not None
        if self.closed or self.error is not None:
            raise self.closedError or self.error or TransactionError(
                "the transaction has ended")
        if self.connection is None:
            self.holdNow()
        if self.busy and not inWork:
            raise TransactionError(
                "a synchronous call on a transaction of a PostgresPool cannot run while "
                "a statement of it runs"
            )
        try:
            return func(self.cursor, *args)
        except BaseException as e:
            raise translated(self.config, e) from e

    def holdNow(self) -> None:
        """
        Take a free connection of the pool and begin the transaction on it,
        blocking, for a synchronous call made before any statement.

        @raise TransactionError: if no connection is free now.
        """
        if self.holding is not None:
            raise TransactionError(
                "a synchronous call on a transaction of a PostgresPool cannot run while "
                "it waits for a connection"
            )
        taken: list[Any] = []
        holding = self.pool.hold()
        holding.addBoth(taken.append)
        if not taken:
            holding.cancel()
            raise TransactionError(
                "a synchronous call on a transaction of a PostgresPool needs a free "
                "connection, or one of its statements to have run first"
            )
        self.started = True
        if isinstance(taken[0], Failure):
            self.error = self.connectError(cast(BaseException, taken[0].value))
            raise self.error
        self.stopWaitTimer()
        self.connection = taken[0]
        self.returned = False
        try:
            self.begin(self.connection)
        except BaseException as e:
            self.giveBack()
            self.error = translated(self.config, e)
            raise self.error from e
