# -*- test-case-name: twistar.tests.test_pgpool -*-
"""
L{TurnSlice}: the one slice of a turn of the reactor that the connections
of a reactor's L{PostgresPool<twistar.pgpool.PostgresPool>}s share (see
L{twistar.pgchannel}).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from twistar.slicing import SLICE_SECONDS

_MARK = SLICE_SECONDS / 5
"""How long a L{TurnSlice} runs before the reactor's next turn is to end
it."""


class TurnSlice:
    """
    The one slice of C{SLICE_SECONDS} a turn of the reactor that the work
    of all its L{PostgresPool<twistar.pgpool.PostgresPool>}s' connections
    shares: timed each from its own start, twenty connections whose answers
    came in one turn would hold the reactor for twenty slices. Once the
    slice is used up, a parked worker that its answer would wake resumes
    on the reactor's next turn instead, and running work that calls
    L{giveTurn<twistar.pgchannel.giveTurn>} waits for that turn; a new
    slice begins there.

    Telling turns apart costs a timed call, scheduled only once the slice
    has run L{_MARK} seconds: a turn whose steps are short (a statement or
    two) costs a few clock readings. A slice that no step saw run that long
    is over, when the next step begins, once C{SLICE_SECONDS} have passed
    since it began: the reactor has turned since.

    @ivar began: when the slice began (a C{perf_counter} time), or C{None}.
    @ivar stepping: whether a worker's step runs (between L{stepBegins} and
        L{stepEnds}).
    """

    def __init__(self, clock: Any, now: Callable[[], float] = time.perf_counter) -> None:
        """
        @param clock: the reactor (kept by a weak reference).
        @param now: the clock read.
        """
        self._clock = weakref.ref(clock)
        self._now = now
        self.began: float | None = None
        self.stepping = False
        self._ending: Any = None

    def stepBegins(self) -> None:
        """
        Called when a worker's step begins: in a new slice if the last one
        is over.
        """
        self._endIfDue()
        now = self._now()
        began = self.began
        if began is None or (self._ending is None and now - began >= SLICE_SECONDS):
            self.began = now
        self.stepping = True

    def stepEnds(self) -> None:
        """
        Called when a worker's step ends (it parks, or its work ends).
        """
        self.stepping = False
        self._markUsed(self._now())

    def usedUp(self) -> bool:
        """
        @return: whether the slice is used up: during a step, the step is to
            give the reactor a turn; between steps, a worker is to resume on
            the reactor's next turn.
        """
        self._endIfDue()
        began = self.began
        if began is None:
            return False
        now = self._now()
        if not self.stepping and self._ending is None and now - began >= SLICE_SECONDS:
            return False  # over: the next step begins a new one
        self._markUsed(now)
        return now - began >= SLICE_SECONDS

    def _markUsed(self, now: float) -> None:
        """
        Once the slice has run L{_MARK} seconds, have the reactor's next
        turn end it.
        """
        began = self.began
        if self._ending is None and began is not None and now - began >= _MARK:
            clock = self._clock()
            if clock is not None:
                self._ending = clock.callLater(0, self._end)

    def _endIfDue(self) -> None:
        """
        End the slice if the call ending it was cancelled (by code
        cancelling all of the reactor's timed calls, say).
        """
        ending = self._ending
        if ending is not None and not ending.active():
            self._end()

    def _end(self) -> None:
        self.began = None
        self._ending = None


_turnSlices: weakref.WeakKeyDictionary[Any, TurnSlice] = weakref.WeakKeyDictionary()


def turnSlice(reactor: Any) -> TurnSlice:
    """
    @return: the L{TurnSlice} of C{reactor}.
    """
    shared = _turnSlices.get(reactor)
    if shared is None:
        shared = _turnSlices[reactor] = TurnSlice(reactor)
    return shared
