# -*- test-case-name: twistar.tests.test_pgpool -*-
"""
A connection of a L{PostgresPool<twistar.pgpool.PostgresPool>} and its
worker greenlet: L{Channel} hands psycopg 3's waits for the server to the
reactor, and runs each L{ChannelWork} given to it; work running there lets
the reactor run with L{waitFor}, L{turnDue} and L{giveTurn}.

A connection's C{wait} (see L{greenConnectionClass}) parks the worker
greenlet and switches back to the reactor's greenlet, which switches to the
worker again when the socket is ready. The worker greenlet is kept for the
connection's life (a new greenlet per call would cost more than the round
trip), and the reactor watches the socket for reading all along, so that a
connection the server closes while it is idle is dropped at once.

Neither psycopg nor greenlet is imported until a connection is made.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from twistar.exceptions import ConnectionLostError, TwistarError
from twistar.turnslice import turnSlice

_log = Logger(namespace="twistar")

_READY_R = 1
_READY_W = 2
"""psycopg's C{Ready.R} and C{Ready.W} (C{selectors.EVENT_READ} and
C{EVENT_WRITE}), also its C{Wait.R} and C{Wait.W}."""

_greenConnection: Any = None


def greenConnectionClass() -> Any:
    """
    @return: the subclass of C{psycopg.Connection} that the pool connects
        with (made on the first call, so that importing this module imports
        neither psycopg nor greenlet). Its C{wait}, called by psycopg for
        every exchange with the server, gives the wait to the connection's
        L{Channel} when it runs in that channel's worker greenlet, and
        blocks as usual anywhere else.
    """
    global _greenConnection
    if _greenConnection is None:
        import psycopg

        class GreenConnection(psycopg.Connection):
            _channel: Channel | None = None

            def wait(self, gen: Any, *args: Any, **kw: Any) -> Any:
                channel = self._channel
                if channel is None or not channel.inWorker():
                    return super().wait(gen, *args, **kw)
                return channel.wait(gen, kw.get("timeout"))

        _greenConnection = GreenConnection
    return _greenConnection


def _rootGreenlet() -> Any:
    """
    @return: the main greenlet of this thread: the one the reactor runs in.
    """
    from greenlet import getcurrent

    current = getcurrent()
    while current.parent is not None:
        current = current.parent
    return current


def _readyNow(fd: int, state: int) -> int:
    """
    @return: which of the events of C{state} (psycopg's C{Wait} flags) the
        socket C{fd} is ready for right now, without waiting.
    """
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, (select.POLLIN if state & _READY_R else 0)
                        | (select.POLLOUT if state & _READY_W else 0))
        events = poller.poll(0)
        if not events:
            return 0
        flags = events[0][1]
        return (_READY_R if flags & select.POLLIN else 0) | (
            _READY_W if flags & select.POLLOUT else 0)
    readable, writable, _ = select.select(
        [fd] if state & _READY_R else [], [fd] if state & _READY_W else [], [], 0)
    return (_READY_R if readable else 0) | (_READY_W if writable else 0)


class ChannelWork:
    """
    One call given to the pool: queued for a connection, then running on one.

    @ivar body: the function the worker greenlet runs, given the connection
        and this work.
    @ivar channel: the channel it runs on, once it runs.
    @ivar cancelled: whether its L{deferred} was cancelled.
    @ivar pipelined: whether it may share a pipeline with other work (see
        L{PostgresPool.runGreen<twistar.pgpool.PostgresPool.runGreen>}).
    """

    def __init__(
        self, body: Callable[[Any, ChannelWork], Any], func: Callable[..., Any],
        args: tuple[Any, ...], kw: dict[str, Any], pipelined: bool = False,
    ) -> None:
        self.body = body
        self.func = func
        self.args = args
        self.kw = kw
        self.pipelined = pipelined
        self.channel: Channel | None = None
        self.cancelled = False
        self.deferred: Deferred[Any] = Deferred(self._cancel)

    def _cancel(self, _: Deferred[Any]) -> None:
        self.cancelled = True
        if self.channel is not None:
            self.channel.interrupt()


class Channel:
    """
    One pooled connection: its worker greenlet, and its socket as the
    reactor watches it (an C{IReadDescriptor} and C{IWriteDescriptor}).

    @ivar work: the work running on it, or C{None} when it is idle or held.
    @ivar held: whether
        L{PostgresPool.hold<twistar.pgpool.PostgresPool.hold>} gave it out.
    @ivar wakeDue: whether its parked worker waits in line to resume (with
        the events C{dueReady}; see L{twistar.turnslice.TurnSlice.later}).
    @ivar turn: the slice its work shares with the other connections'
        work, and with bulk work on objects, in a turn of the reactor.
    """

    def __init__(self, pool: Any, connection: Any) -> None:
        """
        @param pool: the L{PostgresPool<twistar.pgpool.PostgresPool>} it
            belongs to.
        @param connection: its open connection (of L{greenConnectionClass}).
        """
        from greenlet import getcurrent, greenlet

        self.getcurrent = getcurrent
        self.pool = pool
        self.reactor = pool._reactor
        self.connection = connection
        # libpq closes its socket when the connection breaks, and the number
        # may then be reused: the reactor watches a duplicate of it instead.
        self.fd: int = os.dup(connection.pgconn.socket)
        self.work: ChannelWork | None = None
        self.held = False
        self.closed = False
        self.root = _rootGreenlet()
        self.worker = greenlet(self._serve, parent=self.root)
        self.worker.channel = self
        self.outcome: tuple[bool, Any] | None = None
        self.parked = False
        self.wakeDue = False
        self.dueReady = 0
        self.wantRead = False
        self.writing = False
        self.turn = turnSlice(self.reactor)
        connection._channel = self
        self.reactor.addReader(self)

    # -- in the worker greenlet ----------------------------------------

    def inWorker(self) -> bool:
        """
        @return: whether the caller runs in this channel's worker greenlet.
        """
        return self.getcurrent() is self.worker

    def _serve(self, work: ChannelWork) -> None:
        """
        The worker greenlet: run each work given by L{start}, then put the
        connection back to idle (rolled back if a transaction is open), and
        switch back to the reactor with the outcome.
        """
        from greenlet import GreenletExit

        while True:
            try:
                if work.cancelled:
                    raise CancelledError()
                outcome: tuple[bool, Any] = (True, work.body(self.connection, work))
            except GreenletExit:
                raise
            except BaseException:
                outcome = (False, Failure())
            connection = self.connection
            if (not self.held and not connection.closed
                    and connection.pgconn.transaction_status != 0):
                try:
                    connection.rollback()
                except Exception:
                    pass
            self.outcome = outcome
            work = self.root.switch()

    def wait(self, gen: Any, timeout: float | None) -> Any:
        """
        Run psycopg's generator C{gen} (it yields the events it waits for,
        and is sent those that happened), parking the worker greenlet until
        the reactor sees the socket ready. Called by the connection's
        C{wait}, in the worker greenlet.

        @param timeout: seconds after which psycopg's C{_WaitTimeout} is
            raised, or C{None}.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            state = next(gen)
            while True:
                ready = 0
                if state & _READY_W and not self.turn.usedUp():
                    ready = _readyNow(self.fd, state)
                if not ready:
                    ready = self._park(state, deadline)
                state = gen.send(ready)
                if ready == 0 and deadline is not None and time.monotonic() >= deadline:
                    from psycopg import errors

                    raise errors._WaitTimeout("wait timeout expired")
        except StopIteration as stop:
            return stop.value

    def waitFor(self, d: Deferred[Any]) -> Any:
        """
        Park the worker greenlet until C{d} fires (see L{waitFor}).
        """
        box: list[Any] = []

        def fired(result: Any) -> None:
            box.append(result)
            if self.parked:
                self._wake(0)

        d.addBoth(fired)
        if not box:
            self.wantRead = False
            self.parked = True
            self.root.switch()
            if not box:
                raise ConnectionLostError("the connection was closed while its work waited")
        result = box[0]
        if isinstance(result, Failure):
            result.raiseException()
        return result

    def _park(self, state: int, deadline: float | None) -> int:
        """
        Switch to the reactor until the socket is ready for an event of
        C{state} (or until C{deadline}).

        @return: the events that happened (0 at the deadline).
        """
        if self.closed or self.connection.pgconn.status != 0:
            return _READY_R  # the driver finds the connection closed or broken
        self.wantRead = bool(state & _READY_R)
        if state & _READY_W:
            self.reactor.addWriter(self)
            self.writing = True
        timer = None
        if deadline is not None:
            timer = self.reactor.callLater(
                max(0.0, deadline - time.monotonic()), self._wake, 0)
        self.parked = True
        busyPoll = self.pool._busyPoll if self.wantRead else None
        if busyPoll is not None:
            busyPoll.sent()
        try:
            ready: int = self.root.switch()
        finally:
            if busyPoll is not None:
                busyPoll.answered()
        if timer is not None and timer.active():
            timer.cancel()
        return ready

    # -- in the reactor's greenlet -------------------------------------

    def start(self, work: ChannelWork) -> None:
        """
        Run C{work} in the worker greenlet (from the reactor's greenlet: if
        called from a worker, on the reactor's next turn).
        """
        work.channel = self
        self.work = work
        if self.getcurrent() is not self.root:
            self.reactor.callLater(0, self._switch, work)
            return
        self._switch(work)

    def _switch(self, value: Any) -> None:
        """
        Switch to the worker greenlet until it parks or ends its work; at
        its end, fire the work's L{Deferred} and give the connection back.
        """
        self.parked = False
        turn = self.turn
        turn.stepBegins()
        try:
            self.worker.switch(value)
        finally:
            turn.stepEnds()
        outcome, self.outcome = self.outcome, None
        if outcome is None:
            return
        work, self.work = self.work, None
        assert work is not None
        self.pool._finished(self)
        if not work.cancelled:
            ok, result = outcome
            if ok:
                work.deferred.callback(result)
            else:
                work.deferred.errback(result)

    def _wake(self, ready: int) -> None:
        """
        Resume the parked worker with the events C{ready}; on a later turn
        of the reactor, in line, when this turn's slice is used up (see
        L{twistar.turnslice.TurnSlice}), or when called from a greenlet
        other than the reactor's.
        """
        if not self.parked:
            return
        if self.wakeDue:
            self.dueReady |= ready
            return
        if self.getcurrent() is not self.root or self.turn.usedUp():
            self.dueReady = ready
            self.wakeDue = True
            self.turn.later(self._dueWake)
            return
        self._resume(ready)

    def _dueWake(self) -> None:
        """
        Resume the worker with the events its wake waited with (unless
        L{close} did meanwhile).
        """
        if not self.wakeDue:
            return
        self.wakeDue = False
        if self.parked:
            self._resume(self.dueReady)

    def _resume(self, ready: int) -> None:
        self.wantRead = False
        if self.writing:
            self.reactor.removeWriter(self)
            self.writing = False
        self._switch(ready)

    def doRead(self) -> None:
        """
        The socket is readable: wake the worker if it waits for it; while
        idle, read what came (a notice, or the server closing the
        connection: then drop it).
        """
        if self.parked and self.wantRead:
            self._wake(_READY_R)
            return
        pgconn = self.connection.pgconn
        try:
            pgconn.consume_input()
        except Exception:
            pass
        if pgconn.status != 0:
            if self.work is None and not self.held:
                self.pool._drop(self)
            else:
                # Nothing more will come; the work finds out when it waits.
                self.reactor.removeReader(self)

    def doWrite(self) -> None:
        """
        The socket is writable: wake the worker.
        """
        self._wake(_READY_W)

    def connectionLost(self, reason: Failure) -> None:
        """
        The reactor stopped watching the socket (it broke, or the reactor
        stops): drop the connection; work running on it fails.
        """
        self.pool._drop(self)

    def fileno(self) -> int:
        """
        @return: the connection's socket.
        """
        return self.fd

    def logPrefix(self) -> str:
        """
        @return: the name of the reactor's log context.
        """
        return "PostgresPool"

    def interrupt(self) -> None:
        """
        Ask the server, from a thread, to cancel the statement that the
        running work waits for: it fails, and the work is rolled back.
        """
        if self.closed:
            return
        cancel = self.connection.pgconn.get_cancel()
        deferToThreadPool(self.reactor, self.reactor.getThreadPool(), cancel.cancel).addErrback(
            lambda failure: _log.failure("cancelling a statement failed", failure))

    def close(self) -> None:
        """
        Stop watching the socket and close the connection; work running on
        it fails with the driver's error, and its statement is cancelled.
        """
        if self.closed:
            return
        if self.parked:
            self.interrupt()
        self.closed = True
        self.reactor.removeReader(self)
        if self.writing:
            self.reactor.removeWriter(self)
            self.writing = False
        os.close(self.fd)
        self.connection.close()
        if self.parked and self.getcurrent() is self.root:
            self.wakeDue = False
            self._resume(_READY_R)
        elif self.parked:
            self._wake(_READY_R)


def waitFor(d: Deferred[Any]) -> Any:
    """
    Wait for C{d} in work running on a
    L{PostgresPool<twistar.pgpool.PostgresPool>} connection (in its
    greenlet): the reactor goes on meanwhile; the work's connection stays
    its own.

    @return: C{d}'s result.
    @raise Exception: C{d}'s failure.
    @raise TwistarError: if not called in such work.
    """
    from greenlet import getcurrent

    channel = getattr(getcurrent(), "channel", None)
    if not isinstance(channel, Channel):
        raise TwistarError("waitFor is for work running on a PostgresPool connection")
    return channel.waitFor(d)


def _dueChannel() -> Channel | None:
    """
    @return: the channel of the work running in this greenlet, if the
        reactor turn's slice is used up (see
        L{twistar.turnslice.TurnSlice}); else C{None}.
    """
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return None
    channel = getattr(greenlet.getcurrent(), "channel", None)
    if not isinstance(channel, Channel) or not channel.turn.usedUp():
        return None
    return channel


def turnDue() -> bool:
    """
    @return: whether L{giveTurn} would let the reactor run a turn now.
    """
    return _dueChannel() is not None


def giveTurn() -> None:
    """
    In work running on a L{PostgresPool<twistar.pgpool.PostgresPool>}
    connection that has run a while without waiting for the server (reading
    a large result, say): let the reactor run a turn first. Elsewhere (on a
    thread), nothing.
    """
    channel = _dueChannel()
    if channel is None:
        return
    turn: Deferred[None] = Deferred()
    channel.turn.later(lambda: turn.callback(None))
    channel.waitFor(turn)
