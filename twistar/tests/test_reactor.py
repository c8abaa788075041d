"""
Tests for L{twistar.slicing} and for the reactor turning while twistar
works on many objects: C{createMany}, C{all()} and eager loading.
"""

from __future__ import annotations

import contextvars
import gc
import threading
import time
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet import task
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from twistar import slicing
from twistar.dbobject import DBObject
from twistar.exceptions import ValidationError
from twistar.registry import Registry
from twistar.slicing import (
    BURST_PAUSE_SECONDS,
    BURST_SIZE,
    BurstCollection,
    bulkOnPoolThread,
    collectorPaused,
    inSlices,
)
from twistar.tests.helpers import DBTestCase, runTurn
from twistar.tests.models import User
from twistar.turnslice import SLICE_SECONDS, turnSlice
from twistar.utils import transaction

# Generous bounds for a busy two-core machine. Without slicing, the reactor
# thread works on 20,000 objects for several hundred milliseconds in one go.
MOST_REACTOR_CPU = 0.1
"""Seconds of CPU the reactor thread may use without turning."""
LONGEST_WAIT = 0.5
"""Seconds the reactor may go without turning, whatever the cause."""
FEWEST_TURNS = 5
"""Turns the reactor must make during one big call."""

reactor: Any = _reactor
_label: contextvars.ContextVar[str] = contextvars.ContextVar("label", default="none")


def busy(seconds: float) -> None:
    """
    Keep the CPU busy for C{seconds}.
    """
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class Ticker:
    """
    Watches the reactor: a timer every millisecond counts its turns, the
    longest wall-clock time between two, and the most CPU time its thread
    used between two (which, unlike the wall-clock time, does not grow when
    other processes take the CPU).

    The CPU time leaves out the garbage collector's full collections on the
    reactor's thread: one scans the whole process's heap (here, all that the
    test run has left alive), whoever's allocation set it off, and on a
    thread pool it lands on whichever thread allocates. The wall-clock time
    counts them.
    """

    def __init__(self) -> None:
        self.turns = 0
        self.longestWait = 0.0
        self.mostCPU = 0.0
        self.collecting = 0.0
        self._call: Any = None
        self._thread = threading.get_ident()
        self._collectionStart = 0.0

    def start(self) -> None:
        """
        Start counting.
        """
        gc.callbacks.append(self._collection)
        self._last = (time.perf_counter(), time.thread_time())
        self._call = reactor.callLater(0.001, self._tick)

    def _collection(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self._thread or info["generation"] != 2:
            return
        if phase == "start":
            self._collectionStart = time.thread_time()
        else:
            self.collecting += time.thread_time() - self._collectionStart

    def _tick(self) -> None:
        now = (time.perf_counter(), time.thread_time())
        self.turns += 1
        self.longestWait = max(self.longestWait, now[0] - self._last[0])
        self.mostCPU = max(self.mostCPU, now[1] - self._last[1] - self.collecting)
        self.collecting = 0.0
        self._last = now
        self._call = reactor.callLater(0.001, self._tick)

    def stop(self) -> None:
        """
        Stop counting, counting the time since the last turn too.
        """
        self._call.cancel()
        self._tick()
        self._call.cancel()
        gc.callbacks.remove(self._collection)


class Sketch(DBObject):
    """
    A model on C{pictures} with an C{async} hook and validator.
    """

    TABLENAME = "pictures"

    async def beforeCreate(self) -> bool:
        return self.name != "skip"


async def _sizeGiven(obj: Sketch) -> None:
    if obj.size is None:
        obj.errors.add("size", "is missing.")


Sketch.validatesPresenceOf("name")
Sketch.addValidator(_sizeGiven)


class Drawing(DBObject):
    """
    A model on C{pictures} without validators or hooks.
    """

    TABLENAME = "pictures"


class InSlicesTests(SynchronousTestCase):
    """
    Tests for L{inSlices}, with a fake clock.
    """

    def setUp(self) -> None:
        self.clock = task.Clock()

    def runSlices(self) -> None:
        """
        Run the scheduled slices until none is left.
        """
        while self.clock.getDelayedCalls():
            self.clock.advance(0)

    def test_fewDoneAtOnce(self) -> None:
        """
        Items that take less than a slice are all done before L{inSlices}
        returns, with nothing scheduled: the results, in order.
        """
        d = inSlices(lambda x: x * 2, [1, 2, 3], clock=self.clock)
        self.assertEqual(self.successResultOf(d), [2, 4, 6])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_slices(self) -> None:
        """
        Work longer than a slice stops when the slice's time is up and goes
        on at a later turn of the reactor, in order.
        """
        called: list[int] = []

        def work(item: int) -> int:
            called.append(item)
            busy(SLICE_SECONDS / 4)
            return -item

        d = inSlices(work, range(40), clock=self.clock)
        self.assertNoResult(d)
        self.assertLess(len(called), 40)
        self.runSlices()
        self.assertEqual(called, list(range(40)))
        self.assertEqual(self.successResultOf(d), [-i for i in range(40)])

    def test_awaited(self) -> None:
        """
        A L{Deferred} result is waited for while the later items go on;
        its result takes its place.
        """
        waiting: Deferred[str] = Deferred()
        called: list[int] = []

        def work(item: int) -> Any:
            called.append(item)
            return waiting if item == 0 else succeed(item)

        d = inSlices(work, [0, 1, 2], clock=self.clock)
        self.assertEqual(called, [0, 1, 2])
        self.assertNoResult(d)
        waiting.callback("late")
        self.assertEqual(self.successResultOf(d), ["late", 1, 2])

    def test_sharedDeferred(self) -> None:
        """
        The same L{Deferred} returned for several items gives each its
        result.
        """
        shared: Deferred[str] = Deferred()
        d = inSlices(lambda item: shared, [0, 1], clock=self.clock)
        shared.callback("both")
        self.assertEqual(self.successResultOf(d), ["both", "both"])

    def test_raises(self) -> None:
        """
        When C{func} raises, the L{Deferred} fails with that error and no
        later item is called.
        """
        called: list[int] = []

        def work(item: int) -> None:
            called.append(item)
            if item == 1:
                raise ValueError(item)

        d = inSlices(work, [0, 1, 2], clock=self.clock)
        self.failureResultOf(d, ValueError)
        self.assertEqual(called, [0, 1])

    def test_resultFails(self) -> None:
        """
        When a L{Deferred} result fails, the L{Deferred} fails with that
        error; later failures are dropped (not logged as unhandled) and later
        results ignored.
        """
        first: Deferred[None] = Deferred()
        second: Deferred[None] = Deferred()
        third: Deferred[str] = Deferred()
        d = inSlices(lambda item: item, [first, second, third], clock=self.clock)
        first.errback(ValueError("first"))
        self.assertEqual(str(self.failureResultOf(d, ValueError).value), "first")
        second.errback(KeyError("second"))
        third.callback("third")
        self.assertEqual(self.successResultOf(third), "third")
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_cancel(self) -> None:
        """
        Cancelling stops the calls between slices and cancels the
        L{Deferred} results still awaited.
        """
        called: list[int] = []
        cancelled: list[Deferred[None]] = []

        def work(item: int) -> Deferred[None]:
            called.append(item)
            busy(SLICE_SECONDS / 4)
            return Deferred(cancelled.append)

        d = inSlices(work, range(40), clock=self.clock)
        count = len(called)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.runSlices()
        self.assertEqual(len(called), count)
        self.assertEqual(len(cancelled), count)

    def test_notCancellable(self) -> None:
        """
        With C{cancellable=False}, cancelling fails the L{Deferred} but
        every item is still called.
        """
        called: list[int] = []

        def work(item: int) -> None:
            called.append(item)
            busy(SLICE_SECONDS / 4)

        d = inSlices(work, range(40), cancellable=False, clock=self.clock)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.runSlices()
        self.assertEqual(called, list(range(40)))

    def test_context(self) -> None:
        """
        Later slices run in the context of the call, so they see its
        context variables (and so its transaction).
        """
        seen: list[str] = []

        def work(item: int) -> None:
            seen.append(_label.get())
            busy(SLICE_SECONDS / 4)

        def start() -> Deferred[list[Any]]:
            _label.set("caller")
            return inSlices(work, range(40), clock=self.clock)

        d = contextvars.copy_context().run(start)
        self.runSlices()
        self.successResultOf(d)
        self.assertEqual(set(seen), {"caller"})


    def test_sharedSlice(self) -> None:
        """
        Calls made at once share each turn's one slice (with a
        L{PostgresPool}'s connections): a call made once it is used up
        waits in line, and each later turn does about one slice of work
        in all, the calls taking turns.
        """
        called: list[tuple[int, int]] = []

        def work(call: int) -> Any:
            def one(item: int) -> None:
                called.append((call, item))
                busy(SLICE_SECONDS / 4)
            return one

        done = [inSlices(work(call), range(12), clock=self.clock) for call in range(3)]
        self.assertEqual({call for call, _ in called}, {0})
        perTurn = [len(called)]
        while self.clock.getDelayedCalls():
            before = len(called)
            runTurn(self.clock)
            perTurn.append(len(called) - before)
        for call, d in enumerate(done):
            self.assertEqual(self.successResultOf(d), [None] * 12)
            self.assertEqual([item for made, item in called if made == call], list(range(12)))
        # A slice holds four items; a turn may begin one more before its
        # clock is read.
        self.assertLessEqual(max(perTurn), 5)
        self.assertEqual(sum(perTurn), 36)
        firstTurns = [next(index for index, (made, _) in enumerate(called) if made == call)
                      for call in range(3)]
        self.assertLess(firstTurns[2], len(called) - 12, "the calls take turns")

    def test_inStep(self) -> None:
        """
        Called during a step of a L{PostgresPool}'s worker (which the turn's
        slice is timing), the items are part of that step: the step goes on
        after them.
        """
        turn = turnSlice(self.clock)
        turn.stepBegins()
        d = inSlices(lambda item: item * 2, [1, 2], clock=self.clock)
        self.assertEqual(self.successResultOf(d), [2, 4])
        self.assertTrue(turn.stepping)
        turn.stepEnds()


    def test_stepInItem(self) -> None:
        """
        An item that runs a step of its own (a query on a L{PostgresPool}
        connection, say) leaves the call's slice as it was: the call still
        stops when it is used up.
        """
        turn = turnSlice(self.clock)
        called: list[int] = []

        def work(item: int) -> None:
            called.append(item)
            if item == 0:
                turn.stepBegins()
                turn.stepEnds()
                busy(SLICE_SECONDS * 1.2)
            else:
                busy(SLICE_SECONDS / 50)

        d = inSlices(work, range(100), clock=self.clock)
        self.assertNoResult(d)
        self.assertLess(len(called), 50)
        self.runSlices()
        self.assertEqual(called, list(range(100)))

    def test_reactorNotRunning(self) -> None:
        """
        On a reactor that is not running (before C{reactor.run()}), whose
        turn would end the slice, a call begins a new slice once the last
        has run its time: its items are done at once, not kept in line.
        """
        self.clock.running = False  # type: ignore[attr-defined]
        d = inSlices(lambda item: busy(SLICE_SECONDS * 1.2), [0], clock=self.clock)
        self.successResultOf(d)
        self.assertNotEqual(self.clock.getDelayedCalls(), [])  # the slice's end
        busy(SLICE_SECONDS * 1.2)
        self.assertEqual(self.successResultOf(inSlices(str, [5], clock=self.clock)), ["5"])


class BulkOnPoolThreadTests(SynchronousTestCase):
    """
    L{bulkOnPoolThread}: one pool thread at a time; the reactor's thread
    never waits for it.
    """

    def test_oneThreadAtOnce(self) -> None:
        """
        Blocks on several threads run one after the other.
        """
        inside: list[int] = []
        overlaps: list[int] = []

        def block() -> None:
            with bulkOnPoolThread():
                inside.append(1)
                overlaps.append(len(inside))
                time.sleep(0.01)
                inside.pop()

        threads = [threading.Thread(target=block) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(overlaps, [1] * 4)

    def enteredWhileHeld(self) -> bool:
        """
        Enter a block here while another thread is in one.

        @return: whether this one began before the other ended.
        """
        held = threading.Event()
        release = threading.Event()
        left: list[bool] = []

        def holder() -> None:
            with bulkOnPoolThread():
                held.set()
                release.wait(5)
                left.append(True)

        thread = threading.Thread(target=holder)
        thread.start()
        self.assertTrue(held.wait(5))
        with bulkOnPoolThread():
            entered = not left
        release.set()
        thread.join()
        return entered

    def test_reactorThread(self) -> None:
        """
        On the reactor's thread, a block does not wait for a pool thread's.
        """
        main = threading.get_ident()
        self.patch(slicing, "isInIOThread", lambda: threading.get_ident() == main)
        self.assertTrue(self.enteredWhileHeld())

    def test_boundedWait(self) -> None:
        """
        A pool thread waits at most L{BULK_WAIT_SECONDS} for another's
        block (whose user code might wait for the waiting thread's work),
        then goes on; the block's lock is then not left held.
        """
        self.patch(slicing, "BULK_WAIT_SECONDS", 0.05)
        self.patch(slicing, "isInIOThread", lambda: False)
        self.assertTrue(self.enteredWhileHeld())
        self.assertTrue(slicing._bulkLock.acquire(blocking=False))
        slicing._bulkLock.release()


class CollectorPausedTests(SynchronousTestCase):
    """
    Tests for L{collectorPaused}.
    """

    def setUp(self) -> None:
        self.addCleanup(gc.enable if gc.isenabled() else gc.disable)
        gc.enable()

    def test_nested(self) -> None:
        """
        The collector is off inside the blocks, and back on when the
        outermost one ends, even when they end in another order.
        """
        outer = collectorPaused()
        inner = collectorPaused()
        outer.__enter__()
        inner.__enter__()
        self.assertFalse(gc.isenabled())
        outer.__exit__(None, None, None)
        self.assertFalse(gc.isenabled())
        inner.__exit__(None, None, None)
        self.assertTrue(gc.isenabled())

    def test_leftOff(self) -> None:
        """
        A collector that was off stays off.
        """
        gc.disable()
        with collectorPaused():
            pass
        self.assertFalse(gc.isenabled())


class BurstCollectionTests(SynchronousTestCase):
    """
    Tests for L{BurstCollection}.
    """

    def setUp(self) -> None:
        self.addCleanup(gc.enable if gc.isenabled() else gc.disable)
        gc.enable()
        self.clock = task.Clock()
        self.burst = BurstCollection(self.clock)
        self.addCleanup(self.burst.end)
        self.collections: list[int] = []

        here = threading.get_ident()

        def collected(phase: str, info: dict[str, int]) -> None:
            if phase == "start" and threading.get_ident() == here:
                self.collections.append(info["generation"])

        gc.callbacks.append(collected)
        self.addCleanup(gc.callbacks.remove, collected)

    def test_burst(self) -> None:
        """
        The collector is off from L{BURST_SIZE} waiting works until none
        waits; in between, each call makes a collection of the youngest
        generation once it is due, and none of the others.
        """
        self.burst.waiting(BURST_SIZE - 1)
        self.assertTrue(gc.isenabled())
        self.burst.waiting(BURST_SIZE)
        self.assertEqual((gc.isenabled(), self.burst.paused), (False, True))
        # The counts as the collector keeps them (other threads freeing
        # objects lower them): none due, then the youngest generation's.
        threshold = gc.get_threshold()[0]
        self.patch(gc, "get_count", lambda: (threshold - 1, 0, 0))
        self.burst.waiting(5)
        self.assertEqual(self.collections, [])
        self.patch(gc, "get_count", lambda: (threshold, 9, 9))
        self.burst.waiting(5)
        self.assertFalse(gc.isenabled())
        self.assertEqual(self.collections, [0])
        self.burst.waiting(0)
        self.assertEqual((gc.isenabled(), self.burst.paused), (True, False))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_tooLong(self) -> None:
        """
        After L{BURST_PAUSE_SECONDS} the collector is on again, and stays on
        until no work has waited; then a burst pauses it again.
        """
        self.burst.waiting(BURST_SIZE)
        self.clock.advance(BURST_PAUSE_SECONDS)
        self.assertTrue(gc.isenabled())
        self.burst.waiting(BURST_SIZE * 2)
        self.assertTrue(gc.isenabled())
        self.burst.waiting(0)
        self.burst.waiting(BURST_SIZE)
        self.assertFalse(gc.isenabled())
        self.burst.end()
        self.assertTrue(gc.isenabled())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_leftOff(self) -> None:
        """
        A collector the application turned off stays off, and the burst
        makes no collections.
        """
        gc.disable()
        self.burst.waiting(BURST_SIZE)
        self.patch(gc, "get_count", lambda: (gc.get_threshold()[0], 0, 0))
        self.burst.waiting(5)
        self.burst.waiting(0)
        self.assertFalse(gc.isenabled())
        self.assertEqual(self.collections, [])


class ReactorTurnsTests(DBTestCase):
    """
    The reactor keeps turning while twistar works on many objects.
    """

    def assertTurning(self, ticker: Ticker) -> None:
        """
        Assert that the reactor turned often enough while C{ticker} watched.
        """
        self.assertGreaterEqual(ticker.turns, FEWEST_TURNS)
        self.assertLess(ticker.mostCPU, MOST_REACTOR_CPU)
        self.assertLess(ticker.longestWait, LONGEST_WAIT)

    async def test_createMany(self) -> None:
        """
        C{createMany} of 20,000 objects with validators and an C{async}
        hook lets the reactor turn throughout.
        """
        sketches = [Sketch(name=f"s{i}", size=i) for i in range(20_000)]
        await Sketch.count()
        ticker = Ticker()
        ticker.start()
        created = await Sketch.createMany(sketches)
        ticker.stop()
        self.assertEqual(len(created), 20_000)
        self.assertTurning(ticker)

    async def test_all(self) -> None:
        """
        C{all()} over 50,000 rows lets the reactor turn throughout.
        """
        await self.config.insertMany(
            "pictures", [{"name": f"p{i}", "size": i} for i in range(50_000)]
        )
        ticker = Ticker()
        ticker.start()
        drawings = await Drawing.all()
        ticker.stop()
        self.assertEqual(len(drawings), 50_000)
        self.assertTurning(ticker)

    async def test_eager(self) -> None:
        """
        Loading 5,000 users with their 20,000 pictures eagerly lets the
        reactor turn throughout.
        """
        await self.config.insertMany("users", [{"first_name": f"u{i}"} for i in range(5_000)])
        ids = [row[0] for row in await self.pool.runQuery("SELECT id FROM users")]
        await self.config.insertMany(
            "pictures", [{"name": "p", "user_id": i} for i in ids for _ in range(4)]
        )
        ticker = Ticker()
        ticker.start()
        users = await User.all(include=["pictures"])
        ticker.stop()
        self.assertEqual(sum([len(await user.pictures.get()) for user in users]), 20_000)
        self.assertTurning(ticker)


class CreateManyInSlicesTests(DBTestCase):
    """
    C{createMany} of many objects, whose steps run in slices.
    """

    async def test_order(self) -> None:
        """
        The objects are validated, their C{async} hooks run, and they are
        inserted: C{createMany} fires with them in order (less those a hook
        cancelled), each with the id of its row.
        """
        sketches = [Sketch(name="skip" if i % 100 == 0 else f"s{i}", size=i)
                    for i in range(5_000)]
        created = await Sketch.createMany(sketches)
        expected = [s for s in sketches if s.name != "skip"]
        self.assertEqual(list(map(id, created)), list(map(id, expected)))
        rows = await self.pool.runQuery("SELECT id, name, size FROM pictures")
        self.assertEqual(sorted(rows), sorted((s.id, s.name, s.size) for s in created))
        self.assertEqual([s.id for s in sketches if s.name == "skip"], [None] * 50)

    async def test_invalid(self) -> None:
        """
        An invalid object among many fails C{createMany} with
        L{ValidationError} naming it; no hook runs and nothing is inserted.
        """
        hooked: list[Any] = []

        class Checked(Sketch):
            async def beforeCreate(self) -> bool:
                hooked.append(self)
                return True

        sketches = [Checked(name=f"s{i}", size=None if i == 4_321 else i) for i in range(5_000)]
        with self.assertRaises(ValidationError) as caught:
            await Checked.createMany(sketches)
        self.assertEqual(caught.exception.objects, [sketches[4_321]])
        self.assertEqual(sketches[4_321].errors.errorsFor("size"), ["Size is missing."])
        self.assertEqual(hooked, [])
        self.assertEqual(await Sketch.count(), 0)

    async def cancelWhile(self, step: str) -> None:
        """
        Cancel a C{createMany} of 20,000 objects from its C{step}
        (C{"validate"} or C{"hook"}) once it has reached the 1,000th object,
        and check that it stopped there and inserted nothing.
        """
        calls = {"validate": 0, "hook": 0}
        started: list[Deferred[Any]] = []

        def count(name: str) -> None:
            calls[name] += 1
            if name == step and calls[name] == 1_000:
                # Later: the first slice runs before createMany returns.
                reactor.callLater(0, lambda: started[0].cancel())

        class Cancelled(DBObject):
            TABLENAME = "pictures"

            def beforeCreate(self) -> bool:
                count("hook")
                return True

        Cancelled.addValidator(lambda obj: count("validate"))
        objects = [Cancelled(name=f"c{i}") for i in range(20_000)]
        await Cancelled.count()
        started.append(Cancelled.createMany(objects))
        with self.assertRaises(CancelledError):
            await started[0]
        self.assertLess(calls[step], 20_000)
        if step == "validate":
            self.assertEqual(calls["hook"], 0)
        await task.deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(await Cancelled.count(), 0)
        self.assertEqual({obj.id for obj in objects}, {None})

    async def test_cancelValidating(self) -> None:
        """
        Cancelling C{createMany} while it validates stops it: no hook runs,
        nothing is inserted.
        """
        await self.cancelWhile("validate")

    async def test_cancelHooks(self) -> None:
        """
        Cancelling C{createMany} while it runs the hooks stops it: nothing
        is inserted.
        """
        await self.cancelWhile("hook")

    async def test_inTransaction(self) -> None:
        """
        Inside a transaction, the slices of C{createMany} run in it: the
        objects are inserted in it, and their C{afterCommit} hooks run once
        it commits.
        """
        committed: list[Any] = []

        class Committed(DBObject):
            TABLENAME = "pictures"

            def afterCommit(self) -> None:
                committed.append(self)

        # Slow enough that each step takes many slices.
        Committed.addValidator(lambda obj: busy(SLICE_SECONDS / 50))
        objects = [Committed(name=f"t{i}") for i in range(1_000)]

        @transaction
        async def create(txn: Any) -> int:
            await Committed.createMany(objects)
            self.assertEqual(committed, [])
            return int(await Committed.count())

        self.assertEqual(await create(), 1_000)
        self.assertEqual(committed, objects)


class RegistryReactorTests(SynchronousTestCase):
    """
    L{inSlices} schedules its slices on the reactor of the current pool.
    """

    def test_poolReactor(self) -> None:
        """
        Without a C{clock}, the next slice is scheduled on the reactor of
        L{Registry.DBPOOL}.
        """
        clock = task.Clock()

        class Pool:
            _reactor = clock

        self.patch(Registry, "DBPOOL", Pool())
        d = inSlices(lambda item: busy(SLICE_SECONDS / 4), range(40))
        self.assertNoResult(d)
        while clock.getDelayedCalls():
            clock.advance(0)
        self.assertEqual(self.successResultOf(d), [None] * 40)
