# -*- test-case-name: twistar.tests.test_transaction,twistar.tests.test_retry -*-
"""
L{TransactionWorker}: the pool thread and connection that one top-level
transaction (L{twistar.transaction.Transaction}) holds from its start to
its end, running the statements queued by the reactor side, in order.
"""

from __future__ import annotations

import contextvars
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet import threads
from twisted.internet.defer import CancelledError, Deferred
from twisted.logger import Logger

from twistar.exceptions import ConnectionLostError, TransactionError, TransactionTimeoutError
from twistar.pool import PoolWork, exhausted, waitLimitOf
from twistar.querylog import threadTransaction
from twistar.replicas import UNKNOWN_POSITION, WrittenPositions

if TYPE_CHECKING:
    from twisted.enterprise.adbapi import ConnectionPool

    from twistar.dbconfig.base import InteractionBase

_log = Logger(namespace="twistar")
_numbers = itertools.count(1)


def nextTransactionNumber() -> int:
    """
    @return: the number of a new top-level transaction, unique in the
        process (see L{twistar.transaction.Transaction.number}).
    """
    return next(_numbers)


class WorkerBase:
    """
    What the two kinds of transaction worker share: L{TransactionWorker},
    on a pool thread, and L{twistar.greenworker.GreenTransactionWorker},
    without one.
    """

    busy: bool
    """Whether a statement of the transaction is running."""
    closedError: BaseException | None
    """Why the transaction ended early, if it did."""
    waitTimer: Any
    """The timer of the pool's wait limit, or C{None}."""
    pool: Any
    """The pool whose connection the transaction holds."""
    pending: dict[Deferred[Any], contextvars.Context | None]
    """The Deferreds of queued or running statements, with the contexts to
    fire them in (used on the reactor thread only)."""

    def __init__(self, pool: Any, config: InteractionBase, isolation: str | None) -> None:
        self.pool = pool
        self.config = config
        self.isolation = isolation
        self.number = nextTransactionNumber()
        self.started = False
        self.closed = False
        self.closedError = None
        self.connection: Any = None
        self.cursor: Any = None
        self.busy = False
        # An interrupt was sent: it may reach the connection late.
        self.interrupted = False
        # For a retried transaction: the objects written in it, by id(), with
        # their attributes from before their first write.
        self.snapshots: dict[int, tuple[Any, dict[str, Any]]] | None = None
        # On a database with replicas: the writes of the context that began
        # it, and the primary's log position after its commit.
        self.written: WrittenPositions | None = None
        self.logPosition: Any = UNKNOWN_POSITION
        self.pending = {}
        self.waitTimer = None

    def stopWaitTimer(self) -> None:
        """
        Called on the reactor thread once the transaction has its connection.
        """
        if self.waitTimer is not None and self.waitTimer.active():
            self.waitTimer.cancel()

    def answerClosed(self, func: Any, report: Callable[[bool, Any], None]) -> None:
        """
        Answer work submitted after the end: a rollback succeeds (there is
        nothing to roll back), anything else fails.
        """
        if func == "rollback":
            report(True, None)
        else:
            report(False, self.closedError or TransactionError("the transaction has ended"))

    def abandon(self, error: BaseException) -> None:
        """
        Fail the Deferreds of the statements still queued or running with
        C{error}, without waiting for them. Called on the reactor thread.
        """
        while self.pending:
            d, context = self.pending.popitem()
            if context is None:
                d.errback(error)
            else:
                context.copy().run(d.errback, error)

    def interruptWith(self, interrupter: Callable[[], None]) -> None:
        """
        Call C{interrupter} (which stops the running statement, and may
        block) in a thread; a failure while the statement still runs is
        logged (once it is over, it is no matter).
        """

        def stop() -> None:
            try:
                interrupter()
            except Exception:
                if self.busy:
                    _log.failure("could not interrupt a statement of a timed-out transaction")

        self.pool._reactor.callInThread(stop)


class TransactionWorker(WorkerBase):
    """
    The pool thread and connection of one top-level transaction, running the
    work queued by the transaction and its savepoints, in order.
    """

    def __init__(
        self, pool: ConnectionPool, config: InteractionBase, isolation: str | None,
        timeout: float,
    ) -> None:
        super().__init__(pool, config, isolation)
        # A safety net: the reactor side rolls back at the timeout itself.
        self.deadline = time.monotonic() + timeout + 30.0
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.threadId: int | None = None
        self.lock = threading.Lock()
        self.interrupter: Callable[[], None] | None = None
        limit = waitLimitOf(pool)
        if limit is not None:
            self.waitTimer = pool._reactor.callLater(
                limit, self.closeUnstarted, exhausted(pool, limit)
            )
        threads.deferToThreadPool(pool._reactor, pool.threadpool, self.loop).addErrback(
            lambda failure: _log.failure("transaction worker failed", failure)
        )

    def submit(self, func: Callable[..., Any] | str, args: Any, kw: Any,
               report: Callable[[bool, Any], None], work: PoolWork | None = None) -> None:
        """
        Queue C{func(cursor, *args, **kw)}, or C{"commit"} or C{"rollback"};
        C{report(ok, result)} is called (on the pool thread, or at once if
        the transaction has ended) when it has run.

        @param work: the state of a statement, which is skipped if it was
            cancelled before its turn.
        """
        with self.lock:
            if not self.closed:
                self.queue.put((func, args, kw, report, work))
                return
        self.answerClosed(func, report)

    def closeUnstarted(self, error: BaseException) -> bool:
        """
        End the transaction with C{error} if it is still waiting for a pool
        thread: it will never connect, and everything queued fails. Called
        on the reactor thread.

        @return: whether it was still waiting.
        """
        with self.lock:
            if self.started or self.closed:
                return False
            self.closed = True
            self.closedError = error
        self.stopWaitTimer()
        self.answerQueued()
        return True

    def answerQueued(self) -> None:
        """
        Answer everything queued, now that the transaction has ended.
        """
        while True:
            try:
                func, _, _, report, _ = self.queue.get_nowait()
            except queue.Empty:
                break
            self.answerClosed(func, report)

    def loop(self) -> None:
        """
        Run on the pool thread: hold its connection and do the queued work
        until the transaction ends.
        """
        with self.lock:
            if self.closed:
                return  # given up while it waited for this thread
            self.started = True
        if self.waitTimer is not None:
            self.pool._reactor.callFromThread(self.stopWaitTimer)
        self.threadId = threading.get_ident()
        threadTransaction(self.number)
        try:
            self.work()
        finally:
            threadTransaction(None)
            with self.lock:
                self.closed = True
            self.answerQueued()

    def open(self) -> BaseException | None:
        """
        Connect and begin; with a reconnecting pool, once more on a new
        connection if the pool's was dead.

        @return: the error that stops the transaction, if any.
        """
        for attempt in (1, 2):
            try:
                self.connection = self.config.connect(self.pool)
                self.cursor = self.connection.cursor()
                self.interrupter = self.config.interrupter(self.pool, self.connection)
                # Beginning may wait for a lock (SQLite's write lock).
                self.busy = True
                try:
                    self.begin()
                finally:
                    self.busy = False
                return None
            except BaseException as e:
                lost = self.isLost(e)
                self.discard(e)
                if not (lost and self.pool.reconnect and attempt == 1):
                    return translated(self.config, e)
        raise AssertionError("unreachable")

    def level(self) -> str | None:
        """
        @return: the isolation level of the transaction (C{None} when it is
            the database's default, not known here).
        """
        if self.isolation is None and len(self.config.isolationLevels) == 1:
            (only,) = self.config.isolationLevels
            return only
        return self.isolation

    def isLost(self, error: BaseException) -> bool:
        """
        @return: whether C{error} means the connection is gone.
        """
        return self.connection is not None and self.config.isConnectionLost(
            error, self.connection
        )

    def runFirst(self, func: Callable[..., Any], args: Any, kw: Any) -> Any:
        """
        Run the transaction's first work; with a reconnecting pool, again on
        a new connection if the pool's was dead (nothing had run on it).
        """
        try:
            return func(self.cursor, *args, **kw)
        except BaseException as e:
            if not (self.pool.reconnect and self.config.replayable and self.isLost(e)):
                raise
            self.discard(e)
        error = self.open()
        if error is not None:
            raise error
        return func(self.cursor, *args, **kw)

    def work(self) -> None:
        """
        Run the queued work in order, opening the connection and beginning
        the transaction at the first statement.
        """
        # Connected and begun at the first statement: the order in which
        # transactions take locks when they begin (SQLite's write lock) is
        # that of their first statements, and one running none holds none.
        error: BaseException | None = None
        opened = False
        first = True
        while True:
            try:
                item = self.queue.get(timeout=1.0)
            except queue.Empty:
                if not self.pool.running or time.monotonic() > self.deadline:
                    self.end("rollback")
                    self.closedError = TransactionTimeoutError(
                        "the transaction was rolled back: it outlived its timeout "
                        "or its pool was closed"
                    )
                    return
                continue
            func, args, kw, report, work = item
            if func in ("commit", "rollback"):
                if error is not None:
                    report(func == "rollback", error)
                    return
                try:
                    self.end(func)
                except BaseException as e:
                    report(False, e)
                else:
                    if func == "commit" and self.written is not None:
                        self.logPosition = self.config.readLogPosition(self.connection)
                    report(True, None)
                return
            if error is None and work is not None and not work.start():
                report(False, CancelledError())
                continue
            if error is None and not opened:
                opened = True
                error = self.open()
            if error is not None:
                failed = TransactionError(f"the transaction has failed: {error}")
                failed.__cause__ = error
                report(False, failed)
                continue
            self.busy = True
            try:
                result = self.runFirst(func, args, kw) if first else func(self.cursor, *args, **kw)
            except BaseException as e:
                self.busy = False
                if self.isLost(e):
                    error = ConnectionLostError("the connection was lost in a transaction")
                    error.__cause__ = e
                    self.discard(e)
                    report(False, error)
                else:
                    twistarError = translated(self.config, e)
                    if isinstance(twistarError, self.config.transactionAbortingErrors):
                        # The server rolled the whole transaction back.
                        error = twistarError
                    report(False, twistarError)
            else:
                self.busy = False
                report(True, result)
            first = False

    def interrupt(self) -> None:
        """
        Stop the statement running now, if any (one waiting for a lock, say),
        so that a rollback can follow at once. Called on the reactor thread.
        """
        interrupter = self.interrupter
        if interrupter is None or not self.busy:
            return
        self.interrupted = True
        self.interruptWith(interrupter)

    def begin(self) -> None:
        """
        Begin the transaction on the connection, at its isolation level.
        """
        if self.config.beginStatement:
            self.config.run(self.cursor, self.config.beginStatement, [])
        if self.isolation:
            statement = self.config.isolationStatement(self.isolation)
            if statement:
                self.config.run(self.cursor, statement, [])

    def end(self, how: str) -> None:
        """
        Commit or roll back (C{how}), and give the connection back.
        """
        if self.connection is None:
            return
        try:
            self._end(how)
        finally:
            if self.interrupted:
                # The interrupt (a cancel request or MySQL's KILL QUERY, sent
                # from another thread) may reach the server after the
                # statement it was for: the connection is closed, not kept
                # for this thread's next work, which it could stop.
                self.config.drop(self.pool, self.connection)

    def _end(self, how: str) -> None:
        try:
            if self.config.LOG:
                self.config.log(how.upper(), (), {})
            getattr(self.connection, how)()
        except BaseException as e:
            lost = self.isLost(e)
            self.discard(e)
            if how != "commit":
                return
            if lost:
                raise ConnectionLostError(
                    "the connection failed while committing; the commit may or may "
                    "not have been applied"
                ) from e
            # The database refused the commit (a serialization failure, a
            # deferred constraint): it rolled everything back.
            raise translated(self.config, e)

    def discard(self, error: BaseException) -> None:
        """
        Drop a connection that failed, so this thread reconnects next time.
        """
        if self.connection is not None:
            self.config.rollback(self.pool, self.connection, error)


def translated(config: InteractionBase, error: BaseException) -> BaseException:
    """
    @return: C{error} as a twistar exception (see C{translateError}), the
        driver's error as its C{__cause__}.
    """
    twistarError = config.translateError(error)
    if twistarError is not error:
        twistarError.__cause__ = error
    return twistarError
