# -*- test-case-name: twistar.tests.test_pgpool -*-
"""
A PostgreSQL connection pool without threads: L{PostgresPool}.

Work given to the pool is a synchronous function, as with
C{twisted.enterprise.adbapi}: C{func(cursor, *args)} calls C{execute} and
C{fetch*}. The pool runs it in a greenlet (the C{greenlet} package) on the
reactor's thread, over a psycopg 3 connection whose waits for the server
do not block (see L{twistar.pgchannel}). No statement crosses to a thread,
so one call costs a round trip and a reactor turn. Connections are made in
the reactor's thread pool (a few milliseconds, rarely). One-statement
writes given in one turn may share a pipeline (see L{twistar.pipelining}).

Needs psycopg 3 and greenlet (C{pip install twistar[psycopg]}); neither is
imported until a pool is made.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from twistar.busypoll import BUSY_POLL_SECONDS, BusyPoll, checkedBusyPoll
from twistar.exceptions import ConnectionLostError, TwistarError
from twistar.pgchannel import (
    Channel,
    ChannelWork,
    giveTurn,
    greenConnectionClass,
    turnDue,
    waitFor,
)
from twistar.pipelining import PIPELINE_SIZE, runPipelined
from twistar.slicing import BurstCollection

__all__ = ["PostgresPool", "giveTurn", "turnDue", "waitFor"]

_log = Logger(namespace="twistar")


class PostgresPool:
    """
    A pool of psycopg 3 connections to one PostgreSQL database, with the
    surface of C{adbapi.ConnectionPool} that twistar uses, whose work runs
    on the reactor's thread (see L{twistar.pgpool}).

    The connections are in autocommit mode: L{runInteraction} sends
    C{BEGIN} and C{COMMIT} around its function, L{runQuery} and
    L{runOperation} send their statement alone. Work waits, first come
    first served, for a free connection when all C{maxSize} are busy.
    Cancelling the L{Deferred} of work that runs asks the server to cancel
    its statement; the work fails and is rolled back, and its connection
    serves the next work (pipelined work, see L{runGreen}, is neither
    stopped nor undone once it runs). A connection found broken is closed and
    dropped; the next work that needs one makes a new one.

    @ivar dbapiName: C{"psycopg"}, as for an adbapi pool of psycopg 3.
    @ivar running: whether the pool was started and not closed.
    @ivar min: the connections opened at the start.
    @ivar max: the most connections open at once.
    @ivar startID: the reactor's C{callWhenRunning} of L{start}, until it
        has run (as in adbapi).
    """

    dbapiName = "psycopg"
    waitLimit: float | None = None
    """Seconds a twistar call may wait for a free connection (see
    L{twistar.pool.ConnectionPool}); C{None}: no limit."""

    def __init__(
        self, conninfo: str, minSize: int = 1, maxSize: int = 10, reactor: Any = None,
        *, openFun: Callable[[Any], object] | None = None,
        busyPollSeconds: float = BUSY_POLL_SECONDS, **connectKw: Any,
    ) -> None:
        """
        @param conninfo: a libpq connection string or URL.
        @param minSize: the connections opened at the start.
        @param maxSize: the most connections open at once (at least 1).
        @param reactor: the reactor (default: the global one).
        @param openFun: called with each new connection, in the thread that
            made it (as adbapi's C{cp_openfun}).
        @param busyPollSeconds: for how long after a statement is sent the
            reactor polls without sleeping, while statements are in flight
            (see L{twistar.busypoll}; 0: never).
        @param connectKw: more arguments of C{psycopg.Connection.connect}
            (but C{autocommit}: the pool's connections are in autocommit
            mode, and send C{BEGIN} for a transaction).
        @raise TwistarError: if the sizes are not 0 <= minSize <= maxSize,
            1 <= maxSize, or C{busyPollSeconds} is no number >= 0.
        """
        if not 0 <= minSize <= maxSize or maxSize < 1:
            raise TwistarError(f"need 0 <= minSize <= maxSize and maxSize >= 1, "
                               f"not {minSize} and {maxSize}")
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = globalReactor
        self._reactor: Any = reactor
        self.conninfo = conninfo
        self.connectKw = connectKw
        self.openFun = openFun
        self.min = minSize
        self.max = maxSize
        self.running = False
        self._closed = False
        self._idle: list[Channel] = []
        self._busy: set[Channel] = set()
        self._opening = 0
        self._queue: deque[ChannelWork] = deque()
        self._nextTurn: list[ChannelWork] = []
        self._burst = BurstCollection(reactor)
        self._busyPoll = BusyPoll(reactor, busyPollSeconds)
        self._shutdownID: Any = None
        self.startID: Any = reactor.callWhenRunning(self._start)

    @property
    def size(self) -> int:
        """
        How many connections are open (or being opened).
        """
        return self._size()

    @property
    def busyPollSeconds(self) -> float:
        """
        For how long after a statement is sent the reactor polls without
        sleeping, while statements are in flight (see L{twistar.busypoll});
        0: never. Settable.
        """
        return self._busyPoll.seconds

    @busyPollSeconds.setter
    def busyPollSeconds(self, seconds: float) -> None:
        self._busyPoll.seconds = checkedBusyPoll(seconds)

    @property
    def waiting(self) -> int:
        """
        How much work waits for a free connection.
        """
        return len(self._queue)

    @property
    def busy(self) -> int:
        """
        How many connections run work or are held (by a transaction).
        """
        return len(self._busy)

    @property
    def openfun(self) -> Callable[[Any], object] | None:
        """
        L{openFun}, under the name of adbapi's attribute.
        """
        return self.openFun

    @property
    def connargs(self) -> tuple[str]:
        """
        The positional arguments of C{psycopg.connect} for this pool's
        database (as in adbapi): its C{conninfo}.
        """
        return (self.conninfo,)

    @property
    def connkw(self) -> dict[str, Any]:
        """
        The keyword arguments of C{psycopg.connect} for this pool's database
        (as in adbapi), but C{autocommit}.
        """
        return dict(self.connectKw)

    @property
    def dbapi(self) -> Any:
        """
        The psycopg module (for its exceptions).
        """
        import psycopg

        return psycopg

    def _start(self) -> None:
        self.startID = None
        self.start()

    def start(self) -> None:
        """
        Open the first C{min} connections (in the background) and close the
        pool when the reactor stops. Called when the reactor runs.
        """
        if self.running or self._closed:
            return
        self.running = True
        self._shutdownID = self._reactor.addSystemEventTrigger(
            "during", "shutdown", self._finalClose)
        for _ in range(self.min - self._size()):
            self._open(logFailure=True)

    def _finalClose(self) -> None:
        self._shutdownID = None
        self.close()

    def close(self) -> None:
        """
        Close every connection: work waiting for one fails with a
        L{TwistarError}, work running fails with the driver's error.
        """
        if self._closed:
            return
        self._closed = True
        self.running = False
        if self.startID is not None:
            # callWhenRunning's trigger (a call made at once gives None).
            self._reactor.removeSystemEventTrigger(self.startID)
            self.startID = None
        if self._shutdownID is not None:
            self._reactor.removeSystemEventTrigger(self._shutdownID)
            self._shutdownID = None
        queued, self._queue = self._queue, deque()
        self._burst.end()
        for work in queued:
            work.deferred.errback(TwistarError("the connection pool is closed"))
        for channel in [*self._idle, *self._busy]:
            channel.close()
        self._idle.clear()
        self._busyPoll.stop()

    # -- the work ----------------------------------------------------------

    def runInteraction(self, func: Callable[..., Any], *args: Any, **kw: Any) -> Deferred[Any]:
        """
        Run C{func(cursor, *args, **kw)} in a transaction on a free
        connection: committed after it returns, rolled back if it raises.

        @return: a L{Deferred} of what C{func} returns, or of its exception
            (the driver's as it is).
        """
        return self._submit(_interaction, func, args, kw)

    def runQuery(self, *args: Any, **kw: Any) -> Deferred[list[Any]]:
        """
        Run one statement (C{cursor.execute(*args, **kw)}) alone: without
        C{BEGIN}, PostgreSQL runs it in a transaction of its own (one round
        trip, where C{BEGIN}, the statement and C{COMMIT} take three).

        @return: a L{Deferred} of its rows.
        """
        return self._submit(_query, _fetchAll, args, kw)

    def runOperation(self, *args: Any, **kw: Any) -> Deferred[None]:
        """
        Run one statement as L{runQuery} does, without fetching rows.

        @return: a L{Deferred} that fires with C{None}.
        """
        return self._submit(_query, _noRows, args, kw)

    def runGreen(
        self, func: Callable[..., Any], *args: Any, nextTurn: bool = False,
        pipelined: bool = False,
    ) -> Deferred[Any]:
        """
        Run C{func(connection, *args)} on a free connection (in autocommit
        mode), in a greenlet; C{func} sends C{BEGIN} and commits or rolls
        back itself. A transaction that it leaves open is rolled back before
        the connection serves other work.

        @param nextTurn: start C{func} on the reactor's next turn at the
            earliest (not at once when a connection is free), so that a
            caller cancelling in the turn it called stops it before it sends
            anything.
        @param pipelined: C{func} only runs C{execute} on cursors of
            C{connection.cursor()} and reads their results (no
            C{executemany}, C{copy}, C{stream}, server-side cursors,
            C{BEGIN} or commit: in a pipeline, those would block the reactor
            or break the pipeline): work so given in one turn may run (on
            the next) in one pipeline with others on one connection, their
            statements sent together and committed together (see
            L{twistar.pipelining}). Once it runs, cancelling it changes
            nothing. Implies C{nextTurn}.
        @return: a L{Deferred} of what C{func} returns, or of its exception.
        """
        return self._submit(_direct, func, args, {}, nextTurn or pipelined, pipelined)

    def runWithConnection(self, func: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """
        L{runGreen}, under the name of adbapi's method (whose C{func} is
        also given a connection; here one in autocommit mode).
        """
        return self.runGreen(func, *args)

    def hold(self) -> Deferred[Any]:
        """
        Take a connection for a while (a transaction), for L{runOn}; give it
        back with L{release}.

        @return: a L{Deferred} of the connection, when one is free.
        """
        return self._submit(_holding, _noRows, (), {})

    def runOn(self, connection: Any, func: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """
        Run C{func(connection, *args)} in a greenlet on C{connection}, which
        L{hold} gave and no other work runs on.

        @return: a L{Deferred} of what C{func} returns, or of its exception.
        """
        channel = connection._channel
        if channel is None or not channel.held or channel.work is not None:
            raise TwistarError("runOn needs a held connection with no work running")
        work = ChannelWork(_direct, func, args, {})
        if channel.closed:
            work.deferred.errback(TwistarError("the connection pool is closed"))
        else:
            channel.start(work)
        return work.deferred

    def release(self, connection: Any) -> None:
        """
        Give back a connection that L{hold} gave (rolled back first if a
        transaction is open on it).
        """
        channel = connection._channel
        if channel is None or not channel.held or channel.work is not None:
            raise TwistarError("release needs a held connection with no work running")
        channel.held = False
        if channel.closed or connection.closed or connection.pgconn.transaction_status == 0:
            self._finished(channel)
        else:
            channel.start(ChannelWork(_direct, _noRows, (), {}))

    # -- connections -----------------------------------------------------

    def _size(self) -> int:
        return len(self._idle) + len(self._busy) + self._opening

    def _submit(
        self, body: Callable[[Any, ChannelWork], Any], func: Callable[..., Any],
        args: tuple[Any, ...], kw: dict[str, Any], nextTurn: bool = False,
        pipelined: bool = False,
    ) -> Deferred[Any]:
        work = ChannelWork(body, func, args, kw, pipelined)
        if nextTurn and not self._closed:
            if not self._nextTurn:
                self._reactor.callLater(0, self._dispatchNextTurn)
            self._nextTurn.append(work)
        else:
            self._dispatch(work)
        self._burst.waiting(len(self._nextTurn) + len(self._queue))
        return work.deferred

    def _dispatchNextTurn(self) -> None:
        """
        L{_dispatch} the work given for the reactor's next turn, in order;
        pipelined work in pipelines of up to L{PIPELINE_SIZE} works.
        """
        works, self._nextTurn = self._nextTurn, []
        pipeline: list[ChannelWork] = []
        for work in works:
            if not work.pipelined or work.cancelled:
                self._dispatch(work)
                continue
            pipeline.append(work)
            if len(pipeline) == PIPELINE_SIZE:
                self._dispatchPipeline(pipeline)
                pipeline = []
        if pipeline:
            self._dispatchPipeline(pipeline)

    def _dispatchPipeline(self, works: list[ChannelWork]) -> None:
        """
        L{_dispatch} C{works} as one work running them in a pipeline (one
        alone as itself).
        """
        if len(works) == 1:
            self._dispatch(works[0])
            return
        pipeline = ChannelWork(_pipelined, _noRows, (works,), {})
        pipeline.deferred.addCallbacks(
            _reportOutcomes, _reportFailure, callbackArgs=(works,), errbackArgs=(works,))
        self._dispatch(pipeline)

    def _dispatch(self, work: ChannelWork) -> None:
        """
        Run C{work} on an idle connection, or queue it (opening a connection
        if the pool may): unless it was cancelled before this.
        """
        deferred = work.deferred
        if work.cancelled:
            return
        if self._closed:
            deferred.errback(TwistarError("the connection pool is closed"))
            return
        while self._idle:
            channel = self._idle.pop()
            if channel.connection.closed:
                self._drop(channel)
                continue
            self._busy.add(channel)
            self._run(channel, work)
            return
        self._queue.append(work)
        deferred.addErrback(self._unqueue, work)
        if self._size() < self.max:
            self._open()

    def _unqueue(self, failure: Failure, work: ChannelWork) -> Failure:
        if work.cancelled and work in self._queue:
            self._queue.remove(work)
        return failure

    def _run(self, channel: Channel, work: ChannelWork) -> None:
        if work.body is _holding:
            channel.held = True
            work.deferred.callback(channel.connection)
        else:
            channel.start(work)

    def _open(self, logFailure: bool = False) -> None:
        """
        Open one more connection (in a thread); it serves the first queued
        work, or the first queued work fails with the error (with none, the
        error is logged if C{logFailure}).
        """
        self._opening += 1
        opened = deferToThreadPool(
            self._reactor, self._reactor.getThreadPool(), self._connect)

        def ready(connection: Any) -> None:
            self._opening -= 1
            if self._closed:
                connection.close()
                return
            channel = Channel(self, connection)
            self._busy.add(channel)
            self._finished(channel)

        def failed(failure: Failure) -> None:
            self._opening -= 1
            if not self._queue:
                if logFailure:
                    # A warning, not an error: the next work tries again.
                    _log.warn("cannot open a PostgreSQL connection: {error}",
                              error=failure.value)
                return
            self._queue.popleft().deferred.errback(failure)
            if self._queue and self._size() < self.max:
                self._open()  # for the next work: each fails on its own try

        opened.addCallbacks(ready, failed)

    def _connect(self) -> Any:
        """
        @return: a new connection (called in a thread: it blocks).
        """
        connection = greenConnectionClass().connect(
            self.conninfo, **{**self.connectKw, "autocommit": True})
        if self.openFun is not None:
            try:
                self.openFun(connection)
            except BaseException:
                connection.close()
                raise
        return connection

    def _finished(self, channel: Channel) -> None:
        """
        C{channel}'s work ended: give it to the first queued work, or make
        it idle; drop it if it is broken.
        """
        if channel.held:
            return
        connection = channel.connection
        if channel.closed or connection.closed:
            self._drop(channel)
            if self._queue and not self._closed and self._size() < self.max:
                self._open()
            return
        if self._queue:
            self._run(channel, self._queue.popleft())
        else:
            self._busy.discard(channel)
            self._idle.append(channel)
        self._burst.waiting(len(self._nextTurn) + len(self._queue))

    def _drop(self, channel: Channel) -> None:
        """
        Close C{channel} and forget it.
        """
        channel.close()
        self._busy.discard(channel)
        if channel in self._idle:
            self._idle.remove(channel)


def _interaction(connection: Any, work: ChannelWork) -> Any:
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        result = work.func(cursor, *work.args, **work.kw)
        if work.cancelled:
            raise CancelledError()
        connection.commit()
        return result


def _query(connection: Any, work: ChannelWork) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(*work.args, **work.kw)
        return work.func(cursor)


def _direct(connection: Any, work: ChannelWork) -> Any:
    return work.func(connection, *work.args)


def _pipelined(connection: Any, work: ChannelWork) -> list[tuple[bool, Any] | None]:
    return runPipelined(connection, work.args[0], _pause)


def _pause() -> None:
    """
    L{giveTurn}, in work running in a pipeline; if the connection closes
    meanwhile, the next statement finds it closed.
    """
    try:
        giveTurn()
    except ConnectionLostError:
        pass


def _reportOutcomes(outcomes: list[tuple[bool, Any] | None], works: list[ChannelWork]) -> None:
    """
    Fire the L{Deferred} of each work of a pipeline with its outcome
    (unless it was cancelled).
    """
    for work, outcome in zip(works, outcomes):
        if outcome is not None and not work.cancelled:
            ok, result = outcome
            if ok:
                work.deferred.callback(result)
            else:
                work.deferred.errback(result)


def _reportFailure(failure: Failure, works: list[ChannelWork]) -> None:
    """
    Fail each work of a pipeline that could not run (unless cancelled).
    """
    for work in works:
        if not work.cancelled:
            work.deferred.errback(failure)


def _holding(connection: Any, work: ChannelWork) -> None:
    raise AssertionError("a hold runs no work")


def _fetchAll(cursor: Any) -> list[Any]:
    rows: list[Any] = cursor.fetchall()
    return rows


def _noRows(*_: Any) -> None:
    return None
