# -*- test-case-name: twistar.tests.test_reactor -*-
"""
Bulk work that keeps the reactor turning.

Work on many objects that belongs on the reactor thread (validating them,
running their hooks, setting their ids) runs through L{inSlices}: a few
milliseconds at a time, with a turn of the reactor between slices. Objects
made in bulk on a pool thread are made under L{collectorPaused}, so that the
garbage collector does not scan the growing heap again and again meanwhile,
holding the GIL (and so stopping the reactor) each time. Python work on many
rows or objects on a pool thread runs under L{bulkOnPoolThread}: one pool
thread at a time, so that the reactor's thread does not wait for the GIL
behind all of them.
"""

from __future__ import annotations

import contextvars
import gc
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any, Protocol, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.python.threadable import isInIOThread

from twistar.turnslice import SLICE_SECONDS, TurnSlice, turnSlice

T = TypeVar("T")

# Results told from a Deferred without isinstance, which is slow for it (an ABC).
_PLAIN = frozenset({type(None), bool})


class Clock(Protocol):
    """
    What L{inSlices} schedules its slices with: an C{IReactorTime} (which
    L{TurnSlice} refers to weakly: it and its timed calls must allow weak
    references, as Twisted's reactors and C{task.Clock} do).
    """

    def callLater(self, delay: float, func: Callable[..., Any], /, *args: Any) -> Any:
        """
        Call C{func(*args)} in C{delay} seconds.
        """


class PoolRegistry(Protocol):
    """
    Where L{inSlices} finds the current pool: the
    L{twistar.registry.Registry}, which sits above this module.
    """

    @property
    def DBPOOL(self) -> Any:
        """The current connection pool, or C{None}."""


registry: PoolRegistry | None = None
"""Whose pool's reactor runs the slices by default; L{twistar.registry}
sets it."""


def inSlices(
    func: Callable[[T], Any], items: Iterable[T], cancellable: bool = True,
    clock: Clock | None = None,
) -> Deferred[list[Any]]:
    """
    Call C{func(item)} for each of C{items}, in order, in slices, letting
    the reactor run between slices. The slices are those of the reactor's
    L{TurnSlice}, of L{SLICE_SECONDS} a turn, which all bulk calls and the
    L{PostgresPool<twistar.pgpool.PostgresPool>}s' connections share: items
    that fit in what is left of this turn's slice are all done before this
    returns, without waiting for the reactor; once it is used up, the next
    items wait in line for a later turn (and then run in the reactor's
    greenlet). A result that is a L{Deferred} is waited for while the next
    items go on.

    @param cancellable: whether cancelling the returned L{Deferred} stops
        the calls (and cancels the Deferreds still awaited). Pass C{False}
        for work that must be finished once begun: the calls then go on
        whatever the caller does.
    @param clock: the reactor whose turns the slices share; by default the
        reactor of L{Registry.DBPOOL}'s pool, else the global reactor.
    @return: a L{Deferred} of the results in order, each awaited Deferred
        replaced by its result. It fails with the first failure, from
        C{func} (no later item is then called) or from a result.
    """
    return _Slices(func, list(items), cancellable, clock).done


class _Slices:
    """
    The state of one L{inSlices} call. Its L{Deferred} refers to it (to
    cancel it), so it lets go of the items and results once it is done.

    @ivar next: the index of the next item to call C{func} on.
    @ivar awaited: the Deferreds returned by C{func} that have not fired,
        by item index.
    @ivar stopped: no more items are to be called (after a failure or a
        cancellation).
    """

    def __init__(
        self, func: Callable[[Any], Any], items: list[Any], cancellable: bool,
        clock: Clock | None,
    ) -> None:
        self.func = func
        self.items = items
        self.end = len(items)
        self.turn = _turnOf(clock)
        self.results: list[Any] = [None] * len(items)
        self.next = 0
        self.stride = 1
        self.awaited: dict[int, Deferred[Any]] = {}
        self.stopped = False
        self.done: Deferred[list[Any]] = Deferred(self.cancel if cancellable else None)
        if self.end and self.turn.usedUp():
            self.goOnLater()
        else:
            self.run()

    def run(self) -> None:
        """
        Call C{func} on items until the turn's slice is used up, then wait
        in line for a later turn (in the context of this one).
        """
        if self.stopped:
            return
        turn = self.turn
        # Called in a step already (a PostgresPool's worker's, say), it is
        # part of that step.
        turn.stepBegins()
        try:
            index = self.sliceOfItems()
        finally:
            turn.stepEnds()
        if self.stopped:
            return
        if index < self.end:
            self.goOnLater()
        else:
            self.items = []
            self.finishIfDone()

    def sliceOfItems(self) -> int:
        """
        Call C{func} on items from L{next} on, until the turn's slice is used
        up, the items end, or the calls stop.

        @return: the index of the next item to call.
        """
        func, items, results, end, turn = self.func, self.items, self.results, self.end, self.turn
        index = self.next
        # The slice is checked every `stride` items, about 16 times a slice.
        stride = self.stride
        checkAt = index + stride
        checked = perf_counter()
        while index < end:
            try:
                result = func(items[index])
            except BaseException:
                self.fail(Failure())
                return index
            if type(result) in _PLAIN or not isinstance(result, Deferred):
                results[index] = result
            else:
                self.awaited[index] = result
                result.addCallbacks(
                    self.got, self.failed, callbackArgs=(index,), errbackArgs=(index,)
                )
                if self.stopped:
                    return index
            index += 1
            if index >= checkAt:
                if self.stopped or turn.usedUp():
                    break
                now = perf_counter()
                if now - checked < SLICE_SECONDS / 16:
                    stride = min(stride * 2, 256)
                elif stride > 1:
                    stride //= 2
                checked = now
                checkAt = index + stride
        self.next = index
        self.stride = stride
        return index

    def goOnLater(self) -> None:
        """
        Wait in line for a later turn's slice, then L{run} (in the context
        of this call).
        """
        context = contextvars.copy_context()
        self.turn.later(lambda: context.run(self.run))

    def got(self, value: Any, index: int) -> Any:
        del self.awaited[index]
        if not self.stopped:
            self.results[index] = value
            self.finishIfDone()
        return value

    def failed(self, failure: Failure, index: int) -> None:
        del self.awaited[index]
        self.fail(failure)

    def finishIfDone(self) -> None:
        if self.next == self.end and not self.awaited:
            results, self.results = self.results, []
            if not self.done.called:
                self.done.callback(results)

    def fail(self, failure: Failure) -> None:
        """
        Stop at the first failure and fire L{done} with it; later ones are
        dropped.
        """
        if self.stopped:
            return
        self.stop()
        if not self.done.called:
            self.done.errback(failure)

    def cancel(self, done: Deferred[list[Any]]) -> None:
        self.stop()
        for awaited in list(self.awaited.values()):
            awaited.cancel()

    def stop(self) -> None:
        self.stopped = True
        self.items, self.results = [], []


def _turnOf(clock: Clock | None) -> TurnSlice:
    """
    @return: the L{TurnSlice} of C{clock}; by default of the reactor of
        L{Registry.DBPOOL}'s pool, else of the global reactor.
    """
    reactor: Any = clock or getattr(getattr(registry, "DBPOOL", None), "_reactor", None)
    if reactor is None:
        from twisted.internet import reactor
    return turnSlice(reactor)


BULK_WAIT_SECONDS = 0.5
"""The longest a pool thread waits for another's L{bulkOnPoolThread} block
before it goes on all the same: a block whose user code (a C{toHash}, a
C{KEY_GENERATOR}) waits for work on another pool thread then costs at most
this, and cannot hang the pool."""

_bulkLock = threading.RLock()


def _newBulkLock() -> None:
    """
    Give a forked process a lock of its own (the parent's may have been
    held by a thread the child does not have).
    """
    global _bulkLock
    _bulkLock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_newBulkLock)


@contextmanager
def bulkOnPoolThread() -> Iterator[None]:
    """
    Run a block of Python work on many rows or objects (no statement sent),
    on a pool thread, one pool thread at a time (a thread waits at most
    L{BULK_WAIT_SECONDS} for another's block). CPython lets one thread run
    Python at a time, and a thread waiting for the GIL gets it after a
    switch interval (5 ms) only if no other waiting thread takes it first:
    with ten threads doing bulk work, the reactor's thread would wait behind
    several of them in turn (ten C{createMany}s at once on an adbapi pool:
    about 50-75 ms). One at a time is as fast (they could only run one at a
    time anyway). On the reactor's thread once it runs (where a
    L{PostgresPool<twistar.pgpool.PostgresPool>} runs its work, which shares
    the reactor's turns: L{TurnSlice}), nothing.
    """
    if isInIOThread():
        yield
        return
    lock = _bulkLock
    held = lock.acquire(timeout=BULK_WAIT_SECONDS)
    try:
        yield
    finally:
        if held:
            lock.release()


ROWS_PER_COLLECTION = 10_000
"""How many rows (or objects) are made under L{collectorPaused} between two
collections of the youngest generation."""

# How many collectorPaused blocks are open, in any thread, and whether the
# collector is to be turned back on when the last one ends.
_pauseLock = threading.Lock()
_pause = {"open": 0, "resume": False}


@contextmanager
def collectorPaused() -> Iterator[None]:
    """
    Keep the automatic garbage collector from running, in every thread,
    while many long-lived objects are made: as the heap grows it would
    otherwise scan all of it again and again, each time holding the GIL for
    milliseconds or more. It is turned back on when the last open block
    ends (if it was on when the first began).
    """
    pauseCollector()
    try:
        yield
    finally:
        resumeCollector()


def pauseCollector() -> None:
    """
    Open a pause of the automatic garbage collector, as L{collectorPaused}
    does; L{resumeCollector} closes it.
    """
    with _pauseLock:
        if _pause["open"] == 0:
            _pause["resume"] = gc.isenabled()
            gc.disable()
        _pause["open"] += 1


def resumeCollector() -> None:
    """
    Close a pause that L{pauseCollector} opened.
    """
    with _pauseLock:
        _pause["open"] -= 1
        if _pause["open"] == 0 and _pause["resume"]:
            gc.enable()


BURST_SIZE = 100
"""How much outstanding work makes a burst, for L{BurstCollection}."""

BURST_PAUSE_SECONDS = 1.0
"""The longest a L{BurstCollection} keeps the older generations paused."""


class BurstCollection:
    """
    The garbage collection of a connection pool's bursts of work: while
    L{BURST_SIZE} works or more wait (for the reactor's next turn or for a
    connection), the automatic collector is paused but for collections of
    the youngest generation, which the pool makes as work ends. The objects
    of each waiting work live until it ends: the collector would otherwise
    move them to the older generations, the oldest would grow by a quarter
    and be scanned whole (in a small process, about 50 ms holding the GIL
    for 2,000 waiting saves) though none of them is garbage by then. The
    pause ends when no work waits, or after L{BURST_PAUSE_SECONDS} (and
    then not again before no work waits), so that a steady load still gets
    full collections.

    @ivar paused: whether the collector is paused for this pool now.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.paused = False
        self._limit: Any = None
        self._tooLong = False

    def waiting(self, count: int) -> None:
        """
        Called when work is given or ends, with how many works wait.
        """
        if not count:
            self._tooLong = False
            self.end()
        elif self.paused:
            threshold = gc.get_threshold()[0]
            if threshold and gc.get_count()[0] >= threshold and _pause["resume"]:
                gc.collect(0)
        elif count >= BURST_SIZE and not self._tooLong:
            self.paused = True
            pauseCollector()
            self._limit = self.clock.callLater(BURST_PAUSE_SECONDS, self._pausedTooLong)

    def _pausedTooLong(self) -> None:
        self._limit = None
        self._tooLong = True
        self.end()

    def end(self) -> None:
        """
        End the pause, if any (also when the pool closes).
        """
        if not self.paused:
            return
        self.paused = False
        if self._limit is not None:
            self._limit.cancel()
            self._limit = None
        resumeCollector()
