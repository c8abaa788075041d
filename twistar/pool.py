# -*- test-case-name: twistar.tests.test_pool -*-
"""
Work sent to a pool thread: how long it may wait for one, and cancelling it.

A twistar call that needs a connection queues its work for one of the pool's
threads. L{PoolWork} is the state that work shares between the reactor (which
may cancel it, or stop waiting for a thread) and the pool thread (which starts
it and commits it), so that cancelling before the commit undoes everything and
cancelling after it changes nothing.

C{twistar.pool.PostgresPool} is L{twistar.pgpool.PostgresPool} (imported
when first used), the pool without threads for PostgreSQL.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet.defer import CancelledError, Deferred
from twisted.python.failure import Failure

from twistar.busypoll import finiteSeconds
from twistar.exceptions import PoolExhaustedError, TwistarError


class ConnectionPool(adbapi.ConnectionPool):
    """
    An C{adbapi.ConnectionPool} whose twistar calls wait at most C{waitLimit}
    seconds for a free connection (for a pool thread, which holds one).

    A call still waiting then fails with L{PoolExhaustedError} and never
    runs; a transaction waiting then fails with L{TransactionError} caused by
    it. Without C{waitLimit} calls wait as long as it takes (a transaction up
    to its own timeout), as with a plain C{adbapi.ConnectionPool}.

    Any pool object with a C{waitLimit} attribute is treated the same way.
    """

    waitLimit: float | None = None
    """Seconds a call may wait for a free connection; C{None}: no limit."""

    def __init__(
        self, dbapiName: str, *connargs: Any, waitLimit: float | None = None, **connkw: Any
    ) -> None:
        """
        @param waitLimit: seconds a call may wait for a free connection, or
            C{None} for no limit. The other arguments are those of
            C{adbapi.ConnectionPool}.
        @raise TwistarError: if C{waitLimit} is not a positive number.
        """
        self.waitLimit = _checkedWaitLimit(waitLimit)
        super().__init__(dbapiName, *connargs, **connkw)  # type: ignore[no-untyped-call]


def __getattr__(name: str) -> Any:
    # twistar.pool.PostgresPool, imported when first used.
    if name == "PostgresPool":
        from twistar.pgpool import PostgresPool

        return PostgresPool
    raise AttributeError(f"module 'twistar.pool' has no attribute {name!r}")


def waitLimitOf(pool: Any) -> float | None:
    """
    @return: the seconds a call may wait for a free connection of C{pool}, or
        C{None} for no limit.
    @raise TwistarError: if the pool's C{waitLimit} is not a positive number.
    """
    return _checkedWaitLimit(getattr(pool, "waitLimit", None))


def _checkedWaitLimit(limit: Any) -> float | None:
    if limit is None:
        return None
    seconds = finiteSeconds(limit)
    if seconds is None or seconds <= 0:
        raise TwistarError(f"waitLimit must be a positive number of seconds, not {limit!r:.80}")
    return seconds


def exhausted(pool: Any, limit: float) -> PoolExhaustedError:
    """
    @return: the error of a call that waited C{limit} seconds for a free
        connection of C{pool}.
    """
    size = getattr(pool, "max", None)
    busy = f"all {size} connections" if size else "every connection"
    return PoolExhaustedError(
        f"no database connection became free within {limit:g} s ({busy} of the pool "
        f"stayed busy); the call did not run"
    )


_QUEUED, _RUNNING, _COMMITTING, _DROPPED, _CANCELLED = range(5)


class PoolWork:
    """
    The state of one piece of work queued for a pool thread.

    The reactor calls L{cancel} and L{drop}; the pool thread calls L{start}
    before running the work and L{commit} before committing it. A lock makes
    each of these see the others' outcome.
    """

    __slots__ = ("_lock", "_state")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _QUEUED

    def start(self) -> bool:
        """
        Called on the pool thread before the work runs.

        @return: whether to run it (C{False} once it was cancelled or given
            up while it waited).
        """
        with self._lock:
            if self._state != _QUEUED:
                return False
            self._state = _RUNNING
            return True

    def commit(self) -> bool:
        """
        Called on the pool thread when the work has run, before its commit.

        @return: whether to commit; C{False} when it was cancelled while it
            ran, and must be rolled back.
        """
        with self._lock:
            if self._state != _RUNNING:
                return False
            self._state = _COMMITTING
            return True

    def drop(self) -> bool:
        """
        Give up work that has not started; it will not run.

        @return: whether it had not started (and now never will).
        """
        with self._lock:
            if self._state != _QUEUED:
                return False
            self._state = _DROPPED
            return True

    @property
    def cancelledWhileRunning(self) -> bool:
        """
        Whether the work was cancelled after it had started and before its
        commit (so it is to be undone).
        """
        return self._state == _CANCELLED

    def cancel(self) -> bool:
        """
        Cancel the work: if it has not started it never runs; if it is
        running it is rolled back instead of committed; once its commit has
        begun nothing changes.

        @return: whether it had started (so it may have taken effect).
        """
        with self._lock:
            state = self._state
            if state == _QUEUED:
                self._state = _DROPPED
            elif state == _RUNNING:
                self._state = _CANCELLED
            return state not in (_QUEUED, _DROPPED)


def cancellable(
    work: PoolWork, done: Deferred[Any], then: Callable[[Any], Any] | None = None,
    onCancel: Callable[[bool], None] | None = None,
    context: contextvars.Context | None = None,
) -> Deferred[Any]:
    """
    @param done: fires with the work's result once it has run (it is never
        cancelled itself by this function).
    @param then: applied to a successful result before the caller sees it,
        even when the caller has cancelled meanwhile (the work committed
        anyway): it updates the objects the work wrote.
    @param onCancel: called with L{PoolWork.cancel}'s answer when the caller
        cancels.
    @param context: the context to fire the result in (by default, the one
        C{done} fires in).
    @return: a L{Deferred} of C{done}'s result (through C{then}) whose
        cancellation cancels C{work}; a result that arrives after the
        caller cancelled is dropped.
    """

    call = _PoolCall(None, work, then, onCancel, context)
    done.addBoth(call.settle)
    return call.result


def deferToPool(
    reactor: Any, threadpool: Any, work: PoolWork, func: Callable[..., Any], args: Sequence[Any],
    then: Callable[[Any], Any] | None = None, onCancel: Callable[[bool], None] | None = None,
    context: contextvars.Context | None = None,
) -> Deferred[Any]:
    """
    Run C{func(*args)} on a thread of C{threadpool}, as Twisted's
    C{deferToThreadPool} does, for L{cancellable} C{work}; with one
    L{Deferred} instead of two, as every twistar call outside transactions
    comes this way.

    @param then: as for L{cancellable}; it may return a L{Deferred}.
    @param onCancel: as for L{cancellable}.
    @param context: the context to fire the result in (by default, the
        reactor's).
    @return: a L{Deferred} of the result (through C{then}) whose
        cancellation cancels C{work}.
    """
    call = _PoolCall(reactor, work, then, onCancel, context)
    threadpool.callInThreadWithCallback(call.onResult, func, *args)
    return call.result


class _PoolCall:
    """
    One call of L{deferToPool}: its L{Deferred} and what fires it (one
    object with slots, rather than closures: many calls may be pending).
    """

    __slots__ = ("reactor", "work", "then", "onCancel", "context", "result")

    def __init__(
        self, reactor: Any, work: PoolWork, then: Callable[[Any], Any] | None,
        onCancel: Callable[[bool], None] | None, context: contextvars.Context | None = None,
    ) -> None:
        self.reactor = reactor
        self.work = work
        self.then = then
        self.onCancel = onCancel
        self.context = context
        self.result: Deferred[Any] = Deferred(self.cancel)

    def cancel(self, _: Deferred[Any]) -> None:
        started = self.work.cancel()
        if self.onCancel is not None:
            self.onCancel(started)

    def onResult(self, ok: bool, value: Any) -> None:
        """
        Called on the pool thread with the work's outcome.
        """
        if self.context is None:
            self.reactor.callFromThread(self.deliver, ok, value)
        else:
            self.reactor.callFromThread(self.context.run, self.deliver, ok, value)

    def settle(self, value: Any) -> None:
        """
        L{deliver} the result of a L{Deferred}: a L{Failure} or a value.
        """
        if self.context is None:
            self.deliver(not isinstance(value, Failure), value)
        else:
            self.context.run(self.deliver, not isinstance(value, Failure), value)

    def deliver(self, ok: bool, value: Any) -> None:
        if ok and self.then is not None:
            try:
                value = self.then(value)
            except BaseException:
                value = Failure()
            if isinstance(value, Deferred):
                value.addBoth(self.fire)
                return
        self.fire(value)

    def fire(self, value: Any) -> None:
        result = self.result
        if result.called:
            return  # cancelled or given up: the caller has its answer
        if isinstance(value, Failure):
            result.errback(value)
        else:
            result.callback(value)


def raiseIfCancelled(work: PoolWork | None) -> None:
    """
    Called on the pool thread before running C{work}.

    @raise CancelledError: if C{work} was cancelled or given up before it
        started; it must not run.
    """
    if work is not None and not work.start():
        raise CancelledError()
