# -*- test-case-name: twistar.tests.test_pgpool -*-
"""
L{TurnSlice}: the one slice of a turn of the reactor that the connections
of a reactor's L{PostgresPool<twistar.pgpool.PostgresPool>}s (see
L{twistar.pgchannel}) and twistar's bulk work on objects (see
L{twistar.slicing.inSlices}) share.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

SLICE_SECONDS = 0.005
"""How long the work of one turn of the reactor runs (see L{TurnSlice})
before the reactor gets a turn."""

_MARK = SLICE_SECONDS / 5
"""How long a L{TurnSlice} runs before the call that ends it (on the
reactor's next turn) is scheduled."""


class TurnSlice:
    """
    The one slice of C{SLICE_SECONDS} a turn of the reactor that the work
    of all its L{PostgresPool<twistar.pgpool.PostgresPool>}s' connections
    and all its L{inSlices<twistar.slicing.inSlices>} calls share: timed
    each from its own start, twenty connections whose answers came in one
    turn, or twenty bulk calls, would hold the reactor for twenty slices.
    Once the slice is used up, a parked worker that its answer would wake,
    running work that gives the reactor a turn
    (L{giveTurn<twistar.pgchannel.giveTurn>}), and bulk work's next slice
    wait in line (L{later}): on each later turn, a new slice begins and
    they resume in the order they came while it lasts (the first always),
    so that none waits for another's bulk work to end.

    Telling turns apart costs a timed call, scheduled only once the slice
    has run L{_MARK} seconds: a turn whose steps are short (a statement or
    two) costs a few clock readings. A slice that no step saw run that long
    is over, when the next step begins, once C{SLICE_SECONDS} have passed
    since it began: the reactor has turned since.

    A step is what runs between L{stepBegins} and L{stepEnds}: a worker's,
    until it parks or its work ends, or a slice of bulk work; steps may nest
    (a bulk call's item may run a worker's step), the outermost counts. A
    reactor that is not running (before C{reactor.run()}, in a synchronous
    test) does not turn: each step then begins a new slice once the last
    one has run C{SLICE_SECONDS}, as if it had.

    The reactor, and the timed calls (which refer to it), are held by weak
    references.

    @ivar began: when the slice began (a C{perf_counter} time), or C{None}.
    """

    def __init__(self, clock: Any, now: Callable[[], float] = time.perf_counter) -> None:
        """
        @param clock: the reactor.
        @param now: the clock read.
        """
        self._clock = weakref.ref(clock)
        self._now = now
        self.began: float | None = None
        self._depth = 0
        self._ending: weakref.ref[Any] | None = None
        self._waiting: deque[Callable[[], object]] = deque()
        self._draining: weakref.ref[Any] | None = None

    @property
    def stepping(self) -> bool:
        """
        Whether a step runs.
        """
        return self._depth > 0

    def stepBegins(self) -> None:
        """
        Called when a step begins: in a new slice if the last one is over.
        """
        self._depth += 1
        if self._depth > 1:
            return
        self._endIfCancelled()
        now = self._now()
        began = self.began
        if began is None or self._over(now - began):
            self.began = now

    def stepEnds(self) -> None:
        """
        Called when a step ends (a worker parks, or its work ends).
        """
        self._depth -= 1
        if not self._depth:
            self._markUsed(self._now())

    def usedUp(self) -> bool:
        """
        @return: whether the slice is used up: during a step, the step is to
            give the reactor a turn; between steps, a worker or bulk work is
            to wait in line (L{later}) before it goes on.
        """
        self._endIfCancelled()
        began = self.began
        if began is None:
            return False
        now = self._now()
        if not self._depth and self._over(now - began):
            return False  # the next step begins a new one
        self._markUsed(now)
        return now - began >= SLICE_SECONDS

    def _over(self, elapsed: float) -> bool:
        """
        @return: whether a slice that began C{elapsed} seconds ago is over:
            it has run C{SLICE_SECONDS}, and the reactor has turned since
            (no call to end it is pending) or does not turn.
        """
        if elapsed < SLICE_SECONDS:
            return False
        if self._ending is None:
            return True
        clock = self._clock()
        return clock is None or not getattr(clock, "running", True)

    def later(self, resume: Callable[[], object]) -> None:
        """
        Call C{resume} (in the reactor's greenlet) on a later turn, after
        those given before it, once the slice of that turn allows.
        """
        self._waiting.append(resume)
        if not _pending(self._draining):
            self._draining = self._schedule(self._drain)

    def _drain(self) -> None:
        """
        On a new turn: begin a new slice and resume those waiting in line,
        in order, while it lasts (the first in any case).
        """
        self._draining = None
        ending = None if self._ending is None else self._ending()
        if ending is not None and ending.active():
            ending.cancel()
        self._end()
        waiting = self._waiting
        first = True
        while waiting and (first or not self.usedUp()):
            first = False
            waiting.popleft()()
        if waiting and not _pending(self._draining):
            self._draining = self._schedule(self._drain)

    def _markUsed(self, now: float) -> None:
        """
        Once the slice has run L{_MARK} seconds, have the reactor's next
        turn end it.
        """
        began = self.began
        if self._ending is None and began is not None and now - began >= _MARK:
            self._ending = self._schedule(self._end)

    def _schedule(self, func: Callable[[], None]) -> weakref.ref[Any] | None:
        """
        @return: a weak reference to the call of C{func} on the reactor's
            next turn (C{None} if the reactor is gone).
        """
        clock = self._clock()
        return None if clock is None else weakref.ref(clock.callLater(0, func))

    def _endIfCancelled(self) -> None:
        """
        End the slice if the call ending it was cancelled (by code
        cancelling all of the reactor's timed calls, say).
        """
        if self._ending is not None and not _pending(self._ending):
            self._end()

    def _end(self) -> None:
        self.began = None
        self._ending = None


def _pending(call: weakref.ref[Any] | None) -> bool:
    """
    @return: whether the timed call C{call} refers to is still to run.
    """
    alive = None if call is None else call()
    return alive is not None and bool(alive.active())


_turnSlices: weakref.WeakKeyDictionary[Any, TurnSlice] = weakref.WeakKeyDictionary()


def turnSlice(reactor: Any) -> TurnSlice:
    """
    @return: the L{TurnSlice} of C{reactor}.
    """
    shared = _turnSlices.get(reactor)
    if shared is None:
        shared = _turnSlices[reactor] = TurnSlice(reactor)
    return shared
