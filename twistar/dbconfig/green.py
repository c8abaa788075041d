# -*- test-case-name: twistar.tests.test_pgpool -*-
"""
L{GreenRunner}: running work on a L{PostgresPool}, in greenlets of the
reactor's thread.

Each call is a L{_GreenCall}: its work runs in the caller's context, between
C{BEGIN} and C{COMMIT} or (reads, or a write of one statement) without them;
cancelling it before the commit cancels the statement on the server; work
whose connection was lost before the commit runs once more. A write of one
statement commits as it runs (with the others given in the same reactor
turn, in one pipeline: see L{twistar.pipelining}): once started, cancelling
it changes nothing, and a lost connection fails it, its outcome unknown.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.python.failure import Failure

from twistar.dbconfig.statements import LogPosition, StatementRunner
from twistar.exceptions import TwistarError
from twistar.pgpool import PostgresPool
from twistar.pool import PoolWork, cancellable, exhausted, raiseIfCancelled


class GreenRunner(StatementRunner):
    """
    L{StatementRunner}, running work on a L{PostgresPool}.
    """

    def _runGreen(
        self, pool: PostgresPool, func: Callable[..., Any], args: Sequence[Any],
        kw: Mapping[str, Any], then: Callable[[Any], Any] | None, work: PoolWork,
        position: LogPosition | None, context: contextvars.Context | None,
        limit: float | None, read: bool, oneStatement: bool,
    ) -> Deferred[Any]:
        """
        L{_runOnPool<twistar.dbconfig.runner.Runner._runOnPool>} on a
        L{PostgresPool}: C{func} runs with L{PostgresPool.runGreen}, in the
        caller's context, between C{BEGIN} and C{COMMIT} (without them when
        C{read}: each statement then commits alone, one round trip; with
        C{oneStatement} the statement commits alone, or with those of the
        other such writes given in the same turn, in one pipeline, unless
        the primary's log position is to be kept). Cancelling it before
        the commit cancels the running
        statement on the server and rolls back; work that finds its
        connection lost before committing runs once more, on a new
        connection.
        """
        call = _GreenCall(self, pool, func, args, kw, work, position, limit, read, oneStatement)
        done = call.submit(True).addErrback(call.retried)
        result = call.result = cancellable(work, done, then, call.cancelled, context)
        if call.timer is not None:
            result.addBoth(call.stopTimer)
        return result

    def _interactGreen(
        self, connection: Any, func: Callable[..., Any], args: Any, kw: Any, work: PoolWork,
        position: LogPosition | None, first: bool, read: bool, oneStatement: bool,
    ) -> Any:
        """
        L{_interact<twistar.dbconfig.runner.Runner._interact>} on a
        connection of a L{PostgresPool} (in autocommit mode), in its worker
        greenlet.

        @param first: whether this is the work's first attempt (not the one
            after a lost connection).
        @raise _LostBeforeCommit: if the connection was lost before the
            commit (nothing was applied); a one-statement write raises
            L{twistar.exceptions.ConnectionLostError} instead (it may have
            been applied).
        """
        if first:
            raiseIfCancelled(work)
        elif work.cancelledWhileRunning:
            raise CancelledError()
        alone = read or oneStatement
        if oneStatement:
            work.commit()  # its commit begins with its statement
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


def _runIn(connection: Any, context: contextvars.Context, func: Callable[..., Any],
           *args: Any) -> Any:
    return context.run(func, connection, *args)


class _GreenCall:
    """
    One call of L{GreenRunner._runGreen}: its work's attempts on the pool, and
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
        self, runner: GreenRunner, pool: PostgresPool, func: Callable[..., Any],
        args: Sequence[Any], kw: Mapping[str, Any], work: PoolWork,
        position: LogPosition | None, limit: float | None, read: bool, oneStatement: bool,
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
            pipelined=self.oneStatement and self.position is None,
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
