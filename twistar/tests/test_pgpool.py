"""
Tests for L{twistar.pgpool.PostgresPool}, on the PostgreSQL server of the
test run (directly, also when the run goes through PgBouncer).
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet import reactor, task
from twisted.internet.defer import CancelledError, Deferred, gatherResults
from twisted.trial import unittest

from twistar.connection import POSTGRES, parseURL
from twistar.exceptions import ConnectionLostError, TwistarError
from twistar.tests.helpers import (
    DBTestCase,
    Pause,
    backend,
    closePool,
    makePool,
    poolBusy,
    poolConnections,
    poolSize,
    runTurn,
    testDatabase,
    unpooledURL,
)
from twistar.tests.models import User
from twistar.transaction import transaction

try:
    import greenlet  # noqa: F401
    import psycopg
except ImportError:
    psycopg = None  # type: ignore[assignment]


def serverKeywords() -> dict[str, Any]:
    """
    @return: the libpq parameters of the test run's PostgreSQL server
        (itself, not a pooler in front of it).
    """
    url = unpooledURL()
    assert url is not None
    keywords = dict(parseURL(url).connectKeywords)
    keywords.pop("prepare_threshold", None)
    return keywords


async def sleep(seconds: float) -> None:
    """
    Let the reactor run for C{seconds}.
    """
    await task.deferLater(reactor, seconds, lambda: None)


class PoolCase(unittest.TestCase):
    """
    A test case making L{PostgresPool}s on the test run's PostgreSQL
    server, with a table of names; no tests of its own.
    """

    if backend() != POSTGRES:
        skip = "PostgresPool is for PostgreSQL; this run's database is not"
    elif psycopg is None:
        skip = "PostgresPool needs psycopg 3 and greenlet"

    timeout = 60

    async def setUp(self) -> None:
        self.keywords = serverKeywords()
        self.table = f"pgpool_items_{os.getpid()}"
        self.admin = self.makePool(maxSize=2)
        # Cleanups run last first: the table goes before the pool.
        self.addCleanup(self.admin.runOperation, f"DROP TABLE IF EXISTS {self.table}")
        await self.admin.runOperation(
            f"CREATE TABLE IF NOT EXISTS {self.table} (id serial PRIMARY KEY, name text)"
            f"; TRUNCATE {self.table}")

    def makePool(self, **sizes: Any) -> Any:
        """
        @return: a started L{PostgresPool} on the test server, closed at the
            test's end.
        """
        from twistar.pgpool import PostgresPool

        pool = PostgresPool("", reactor=reactor, **sizes, **self.keywords)
        pool.start()
        self.addCleanup(pool.close)
        return pool

    async def names(self) -> list[str]:
        """
        @return: the names in the test table, in insertion order.
        """
        rows = await self.admin.runQuery(f"SELECT name FROM {self.table} ORDER BY id")
        return [row[0] for row in rows]

    async def activity(self, pid: int) -> tuple[str, str] | None:
        """
        @return: the state and query of the server process C{pid}, or
            C{None} if it has gone.
        """
        rows = await self.admin.runQuery(
            "SELECT state, query FROM pg_stat_activity WHERE pid = %s", (pid,))
        return tuple(rows[0]) if rows else None


class PostgresPoolTests(PoolCase):
    """
    L{PostgresPool} runs work in greenlets on the reactor's thread.
    """

    async def test_surface(self) -> None:
        """
        The pool names its driver as adbapi does, starts when the reactor
        runs, and refuses work once closed.
        """
        from twistar.pgpool import PostgresPool

        pool = PostgresPool("", reactor=reactor, **self.keywords)
        self.addCleanup(pool.close)
        self.assertEqual((pool.dbapiName, pool.dbapi, pool._reactor), ("psycopg", psycopg, reactor))
        # As an adbapi pool, it starts when the reactor runs: here at once.
        self.assertTrue(pool.running)
        self.assertEqual(await pool.runQuery("SELECT %s::int + 1", (41,)), [(42,)])
        pool.close()
        self.assertFalse(pool.running)
        with self.assertRaises(TwistarError):
            await pool.runQuery("SELECT 1")

    def test_badSizes(self) -> None:
        """
        The sizes must satisfy 0 <= minSize <= maxSize, 1 <= maxSize.
        """
        from twistar.pgpool import PostgresPool

        for minSize, maxSize in [(2, 1), (-1, 3), (0, 0)]:
            self.assertRaises(TwistarError, PostgresPool, "", minSize, maxSize, reactor)
        for seconds in (-0.1, float("nan"), None):
            self.assertRaises(TwistarError, PostgresPool, "", reactor=reactor,
                              busyPollSeconds=seconds)

    async def test_work(self) -> None:
        """
        runInteraction runs a function of a cursor and commits after it;
        runOperation and runQuery run one statement.
        """
        pool = self.makePool(maxSize=2)

        def insert(cursor: Any, name: str) -> int:
            cursor.execute(f"INSERT INTO {self.table} (name) VALUES (%s) RETURNING id", (name,))
            return int(cursor.fetchone()[0])

        first = await pool.runInteraction(insert, "a")
        await pool.runOperation(f"INSERT INTO {self.table} (name) VALUES (%s)", ("b",))
        rows = await pool.runQuery(f"SELECT id, name FROM {self.table} ORDER BY id")
        self.assertEqual(rows[0], (first, "a"))
        self.assertEqual(await self.names(), ["a", "b"])

    async def test_errorsRollBack(self) -> None:
        """
        Work that raises is rolled back and fails with its exception: the
        driver's as it is.
        """
        pool = self.makePool(maxSize=1)

        def failing(cursor: Any, error: Exception | None) -> None:
            cursor.execute(f"INSERT INTO {self.table} (name) VALUES ('gone')")
            if error is not None:
                raise error
            cursor.execute("SELECT * FROM no_such_table_here")

        with self.assertRaises(psycopg.errors.UndefinedTable):
            await pool.runInteraction(failing, None)
        with self.assertRaises(ZeroDivisionError):
            await pool.runInteraction(failing, ZeroDivisionError())
        self.assertEqual(await self.names(), [])
        # The connection serves the next work.
        self.assertEqual(await pool.runQuery("SELECT 1"), [(1,)])

    async def test_nextTurn(self) -> None:
        """
        Work given with C{nextTurn} takes its connection on the reactor's
        next turn: one closed meanwhile is dropped and the work runs on a
        new one; on a pool closed meanwhile it fails and never runs.
        """
        pool = self.makePool(maxSize=1)
        [(pid,)] = await pool.runQuery("SELECT pg_backend_pid()")
        running = pool.runGreen(
            lambda connection: connection.execute("SELECT pg_backend_pid()").fetchone()[0],
            nextTurn=True)
        [connection] = poolConnections(pool)
        connection.close()
        self.assertNotEqual(await running, pid)
        ran: list[int] = []
        running = pool.runGreen(lambda connection: ran.append(1), nextTurn=True)
        pool.close()
        with self.assertRaises(TwistarError):
            await running
        self.assertEqual(ran, [])

    async def test_queueBeyondMaxSize(self) -> None:
        """
        Work beyond C{maxSize} waits for a free connection, first come first
        served, on no more than C{maxSize} connections.
        """
        pool = self.makePool(maxSize=2)
        started: list[int] = []

        def work(connection: Any, number: int) -> int:
            started.append(number)
            return int(connection.execute(
                "SELECT pg_backend_pid(), pg_sleep(0.02)").fetchone()[0])

        pids = await gatherResults([pool.runGreen(work, n) for n in range(8)])
        self.assertEqual(started, list(range(8)))
        self.assertEqual(len(set(pids)), 2)

    async def test_burstPausesCollector(self) -> None:
        """
        While L{BURST_SIZE} works or more wait for a connection, the
        automatic garbage collector is off (see L{BurstCollection}); it is
        on again once none waits, and off as the application left it.
        """
        from twistar.slicing import BURST_SIZE

        self.addCleanup(gc.enable if gc.isenabled() else gc.disable)
        gc.enable()
        pool = self.makePool(maxSize=2)
        seen: list[bool] = []

        def work(connection: Any) -> None:
            seen.append(gc.isenabled())
            connection.execute("SELECT 1")

        few = [pool.runGreen(work) for _ in range(BURST_SIZE // 2)]
        self.assertTrue(gc.isenabled())
        many = [pool.runGreen(work) for _ in range(BURST_SIZE)]
        self.assertFalse(gc.isenabled())
        await gatherResults(few + many)
        self.assertTrue(gc.isenabled())
        self.assertIn(False, seen)
        gc.disable()
        await gatherResults([pool.runGreen(work) for _ in range(BURST_SIZE * 2)])
        self.assertFalse(gc.isenabled())

    async def test_runGreen(self) -> None:
        """
        runGreen gives the connection, in autocommit mode, to a function
        that begins and commits itself; a transaction it leaves open is
        rolled back.
        """
        pool = self.makePool(maxSize=1)

        def insert(connection: Any, name: str, commit: bool) -> str:
            self.assertTrue(connection.autocommit)
            connection.execute("BEGIN")
            connection.execute(f"INSERT INTO {self.table} (name) VALUES (%s)", (name,))
            if commit:
                connection.commit()
            return name

        self.assertEqual(await pool.runGreen(insert, "kept", True), "kept")
        await pool.runGreen(insert, "open", False)
        self.assertEqual(await self.names(), ["kept"])
        states = await pool.runGreen(lambda c: c.pgconn.transaction_status)
        self.assertEqual(states, psycopg.pq.TransactionStatus.IDLE)

    async def test_hold(self) -> None:
        """
        A held connection runs several works in one transaction; other work
        waits until it is released, which rolls back what is left open.
        """
        pool = self.makePool(maxSize=1)
        connection = await pool.hold()
        await pool.runOn(connection, lambda connection: connection.execute("BEGIN"))

        def insert(connection: Any, name: str) -> int:
            connection.execute(f"INSERT INTO {self.table} (name) VALUES (%s)", (name,))
            return int(connection.execute("SELECT txid_current()").fetchone()[0])

        waiting = pool.runQuery(f"SELECT count(*) FROM {self.table}")
        first = await pool.runOn(connection, insert, "one")
        second = await pool.runOn(connection, insert, "two")
        self.assertEqual(first, second)
        self.assertFalse(waiting.called)
        pool.release(connection)
        self.assertEqual(await waiting, [(0,)])
        self.assertEqual(await self.names(), [])
        self.assertRaises(TwistarError, pool.release, connection)

    async def test_cancelRunning(self) -> None:
        """
        Cancelling running work cancels its statement on the server: the
        connection, idle again, serves the next work.
        """
        pool = self.makePool(maxSize=1)
        [(pid,)] = await pool.runQuery("SELECT pg_backend_pid()")
        sleeping = pool.runQuery("SELECT pg_sleep(1000)")
        while (await self.activity(pid)) != ("active", "SELECT pg_sleep(1000)"):
            await sleep(0.01)
        sleeping.cancel()
        with self.assertRaises(CancelledError):
            await sleeping
        self.assertEqual(await pool.runQuery("SELECT pg_backend_pid()"), [(pid,)])
        self.assertEqual(await self.activity(pid), ("idle", "SELECT pg_backend_pid()"))
        self.assertEqual(pool._busyPoll.inFlight, 0)

    async def test_cancelQueued(self) -> None:
        """
        Work cancelled while it waits for a connection never runs.
        """
        pool = self.makePool(maxSize=1)
        connection = await pool.hold()
        queued = pool.runOperation(f"INSERT INTO {self.table} (name) VALUES ('never')")
        queued.cancel()
        with self.assertRaises(CancelledError):
            await queued
        pool.release(connection)
        await pool.runOperation(f"INSERT INTO {self.table} (name) VALUES ('after')")
        self.assertEqual(await self.names(), ["after"])

    async def test_deadConnectionReplaced(self) -> None:
        """
        A connection that the server ends is dropped and a new one serves
        the next work; the pool stays within C{maxSize}.
        """
        pool = self.makePool(maxSize=1)
        [(pid,)] = await pool.runQuery("SELECT pg_backend_pid()")
        self.assertEqual(await self.admin.runQuery("SELECT pg_terminate_backend(%s)", (pid,)),
                         [(True,)])
        while await self.activity(pid) is not None:
            await sleep(0.01)
        try:
            [(newPid,)] = await pool.runQuery("SELECT pg_backend_pid()")
        except psycopg.OperationalError:
            # The work started before the reactor saw the connection end.
            [(newPid,)] = await pool.runQuery("SELECT pg_backend_pid()")
        self.assertNotEqual(newPid, pid)
        self.assertEqual(len(pool._idle) + len(pool._busy), 1)

    async def test_connectFails(self) -> None:
        """
        When no connection can be made, each work waiting for one fails with
        the driver's error.
        """
        from twistar.pgpool import PostgresPool

        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        pool = PostgresPool("", minSize=0, maxSize=2, reactor=reactor,
                            **{**self.keywords, "host": "127.0.0.1", "port": port})
        self.addCleanup(pool.close)
        works = [pool.runQuery("SELECT 1") for _ in range(5)]
        for work in works:
            with self.assertRaises(psycopg.OperationalError):
                await work

    async def test_reactorRuns(self) -> None:
        """
        The reactor runs while statements wait for the server: a looping
        call ticks during each of 100 statements.
        """
        pool = self.makePool(maxSize=4)
        ticks = [0]

        def tick() -> None:
            ticks[0] += 1

        looping = task.LoopingCall(tick)
        looping.start(0)
        self.addCleanup(looping.stop)

        def statement(cursor: Any) -> int:
            before = ticks[0]
            cursor.execute("SELECT pg_sleep(0.001)")
            return ticks[0] - before

        during = await gatherResults([pool.runInteraction(statement) for _ in range(100)])
        self.assertEqual([n for n in during if n < 1], [])

    async def test_busyPoll(self) -> None:
        """
        While a statement waits for the server, the reactor polls without
        sleeping (a timeout of 0) as long as C{busyPollSeconds} allows, and
        not once the answer has come; with C{busyPollSeconds=0} it sleeps.
        """
        timeouts: list[float | None] = []
        iterate = reactor.doIteration  # type: ignore[attr-defined]

        def recorded(timeout: float | None) -> None:
            timeouts.append(timeout)
            iterate(timeout)

        self.patch(reactor, "doIteration", recorded)

        async def zeroTimeouts(pool: Any, statement: str) -> int:
            del timeouts[:]
            await pool.runOperation(statement)
            return timeouts.count(0)

        polling = self.makePool(maxSize=1, busyPollSeconds=60)
        sleeping = self.makePool(maxSize=1, busyPollSeconds=0)
        for pool in (polling, sleeping):
            await pool.runOperation("SELECT 1")  # connected
        self.assertGreater(await zeroTimeouts(polling, "SELECT pg_sleep(0.2)"), 100)
        self.assertLess(await zeroTimeouts(sleeping, "SELECT pg_sleep(0.2)"), 20)
        del timeouts[:]
        await sleep(0.2)
        self.assertLess(timeouts.count(0), 20)
        self.assertEqual((polling._busyPoll.inFlight, sleeping._busyPoll.inFlight), (0, 0))

    async def test_sliceShared(self) -> None:
        """
        The connections whose work resumes in one turn of the reactor share
        the turn's slice (L{TurnSlice}): once a work has used it up, the
        others resume on later turns, one a turn while each uses up a
        slice; work that uses little resumes in the same turn.
        """
        from twistar.pgpool import waitFor
        from twistar.turnslice import SLICE_SECONDS

        turns = [0]
        iterate = reactor.doIteration  # type: ignore[attr-defined]

        def counted(timeout: float | None) -> None:
            turns[0] += 1
            iterate(timeout)

        self.patch(reactor, "doIteration", counted)
        pool = self.makePool(minSize=4, maxSize=4)
        await gatherResults([pool.runQuery("SELECT pg_sleep(0.01)") for _ in range(4)])

        async def resumedIn(seconds: float) -> list[int]:
            go: Deferred[None] = Deferred()

            def work(connection: Any) -> int:
                waitFor(go)
                turn = turns[0]
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    pass
                return turn

            running = [pool.runGreen(work) for _ in range(4)]
            await sleep(0.01)  # each parked in waitFor
            go.callback(None)
            return list(await gatherResults(running))

        long = await resumedIn(SLICE_SECONDS * 1.2)
        self.assertEqual(len(set(long)), 4, long)
        short = await resumedIn(SLICE_SECONDS / 100)
        # One turn; two if the process was stopped for a slice meanwhile.
        self.assertLessEqual(len(set(short)), 2, short)

    async def test_sliceInLine(self) -> None:
        """
        A connection whose answer comes while another's work runs long (and
        gives the reactor turns) waits in line behind it for a slice or
        two, not until that work ends.
        """
        from twistar.pgpool import giveTurn

        pool = self.makePool(minSize=2, maxSize=2)
        await gatherResults([pool.runQuery("SELECT pg_sleep(0.01)") for _ in range(2)])

        def bulk(connection: Any) -> None:
            end = time.perf_counter() + 0.3
            while time.perf_counter() < end:
                giveTurn()

        bulkDone = pool.runGreen(bulk)
        self.assertEqual(await pool.runQuery("SELECT 1"), [(1,)])
        self.assertFalse(bulkDone.called)
        await bulkDone

    async def test_turnDueInLongStep(self) -> None:
        """
        Work that has run longer than a slice without looking at the time
        is due to give the reactor a turn, in a turn whose slice it began.
        """
        from twistar.pgpool import turnDue
        from twistar.turnslice import SLICE_SECONDS

        def work(connection: Any) -> list[bool]:
            due = [turnDue()]
            end = time.perf_counter() + SLICE_SECONDS * 1.4
            while time.perf_counter() < end:
                pass
            return due + [turnDue() for _ in range(3)]

        pool = self.makePool(maxSize=1)
        await pool.runOperation("SELECT 1")
        await sleep(0.01)
        self.assertEqual(await pool.runGreen(work), [False, True, True, True])

    async def test_close(self) -> None:
        """
        Closing the pool fails the work waiting for a connection and the
        work running (the driver's error), and cancels its statement.
        """
        pool = self.makePool(maxSize=1)
        [(pid,)] = await pool.runQuery("SELECT pg_backend_pid()")
        running = pool.runQuery("SELECT pg_sleep(1000)")
        queued = pool.runQuery("SELECT 1")
        while (await self.activity(pid)) != ("active", "SELECT pg_sleep(1000)"):
            await sleep(0.01)
        pool.close()
        with self.assertRaises(TwistarError):
            await queued
        with self.assertRaises(psycopg.OperationalError):
            await running
        self.assertEqual(pool._busyPoll.inFlight, 0)
        while (await self.activity(pid)) is not None:
            await sleep(0.01)

    def test_asyncioReactor(self) -> None:
        """
        The pool works on Twisted's asyncio reactor too (in a subprocess).
        """
        script = (
            "import sys, json\n"
            "from twisted.internet import asyncioreactor\n"
            "asyncioreactor.install()\n"
            "from twisted.internet import reactor, defer, task\n"
            "from twistar.pgpool import PostgresPool\n"
            "async def main():\n"
            "    pool = PostgresPool('', maxSize=2, **json.loads(sys.argv[1]))\n"
            "    rows = await defer.gatherResults([pool.runQuery('SELECT %s::int', (n,))\n"
            "                                      for n in range(5)])\n"
            "    rows.append(await pool.runInteraction(\n"
            "        lambda cursor: cursor.execute('SELECT 7').fetchall()))\n"
            "    pool.close()\n"
            "    print(rows)\n"
            "task.react(lambda _: defer.ensureDeferred(main()))\n"
        )
        import json

        import twistar

        # The subprocess imports the twistar under test (not an installed one).
        source = os.path.dirname(os.path.dirname(os.path.abspath(twistar.__file__)))
        path = os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))
        output = subprocess.run(
            [sys.executable, "-c", script, json.dumps(self.keywords)],
            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": path},
        )
        self.assertEqual(output.stdout.strip(), str([[(n,)] for n in range(5)] + [[(7,)]]),
                         output.stderr)


class _Turns:
    """
    A reactor's C{callLater} for calls made at once (delay 0), each run on
    the next L{turn}.

    @ivar pending: the calls of the next turn, not cancelled.
    """

    def __init__(self) -> None:
        self.pending: list[_TurnCall] = []

    def callLater(self, delay: float, func: Callable[[], object]) -> _TurnCall:
        assert delay == 0, delay
        call = _TurnCall(self, func)
        self.pending.append(call)
        return call

    def turn(self) -> None:
        """
        Run the calls of this turn (those they make wait for the next).
        """
        calls, self.pending = self.pending, []
        for call in calls:
            call.func()


class _TurnCall:
    def __init__(self, turns: _Turns, func: Callable[[], object]) -> None:
        self.turns = turns
        self.func = func

    def cancel(self) -> None:
        self.turns.pending.remove(self)


class TurnSliceTests(unittest.SynchronousTestCase):
    """
    Tests for L{TurnSlice}, with a fake clock and fake time.
    """

    def setUp(self) -> None:
        from twistar.turnslice import TurnSlice

        self.clock = task.Clock()
        self.now = 100.0
        self.slice = TurnSlice(self.clock, lambda: self.now)

    def test_slice(self) -> None:
        """
        A slice begins with a step and is used up after C{SLICE_SECONDS};
        once it has run a fifth of that, the reactor's next turn (a timed
        call) is to end it, and the next step begins a new one.
        """
        from twistar.turnslice import SLICE_SECONDS

        self.slice.stepBegins()
        self.assertEqual(self.slice.began, 100.0)
        self.now += SLICE_SECONDS / 10
        self.assertFalse(self.slice.usedUp())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.now += SLICE_SECONDS / 2
        self.assertFalse(self.slice.usedUp())
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.now += SLICE_SECONDS / 2
        self.assertTrue(self.slice.usedUp())
        self.slice.stepEnds()
        self.assertTrue(self.slice.usedUp())
        self.clock.advance(0)
        self.assertFalse(self.slice.usedUp())
        self.slice.stepBegins()
        self.assertEqual(self.slice.began, self.now)

    def test_longStep(self) -> None:
        """
        A step that has run longer than a slice without looking at the time
        has used it up, when it looks and after it ends.
        """
        from twistar.turnslice import SLICE_SECONDS

        self.slice.stepBegins()
        self.now += SLICE_SECONDS * 3
        self.assertTrue(self.slice.usedUp())
        self.slice.stepEnds()
        self.assertTrue(self.slice.usedUp())
        self.slice.stepBegins()
        self.assertEqual(self.slice.began, 100.0)

    def test_shortStepsThenIdle(self) -> None:
        """
        Steps too short to schedule the slice's end leave it to end by
        itself: between steps, once C{SLICE_SECONDS} have passed since it
        began, it is over, and the next step begins a new one.
        """
        from twistar.turnslice import SLICE_SECONDS

        self.slice.stepBegins()
        self.now += SLICE_SECONDS / 10
        self.slice.stepEnds()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.now += SLICE_SECONDS
        self.assertFalse(self.slice.usedUp())
        self.slice.stepBegins()
        self.assertEqual(self.slice.began, self.now)

    def test_endCancelled(self) -> None:
        """
        If the call ending the slice is cancelled, the slice ends anyway:
        it is not used up for ever.
        """
        from twistar.turnslice import SLICE_SECONDS

        self.slice.stepBegins()
        self.now += SLICE_SECONDS * 2
        self.slice.stepEnds()
        self.assertTrue(self.slice.usedUp())
        for call in list(self.clock.calls):
            call.cancel()
        self.assertFalse(self.slice.usedUp())
        self.slice.stepBegins()
        self.assertEqual(self.slice.began, self.now)

    def test_inLine(self) -> None:
        """
        What waits in line resumes on later turns, in the order it came,
        while each turn's new slice lasts: the first of a turn in any case.
        """
        from twistar.turnslice import SLICE_SECONDS

        resumed: list[str] = []

        def long(name: str) -> None:
            resumed.append(name)
            self.slice.stepBegins()
            self.now += SLICE_SECONDS * 2
            self.slice.stepEnds()

        self.slice.later(lambda: long("a"))
        self.slice.later(lambda: resumed.append("b"))
        self.slice.later(lambda: long("c"))
        self.slice.later(lambda: resumed.append("d"))
        self.assertEqual(resumed, [])
        runTurn(self.clock)
        self.assertEqual(resumed, ["a"])
        self.slice.later(lambda: resumed.append("e"))
        runTurn(self.clock)
        self.assertEqual(resumed, ["a", "b", "c"])
        runTurn(self.clock)
        self.assertEqual(resumed, ["a", "b", "c", "d", "e"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_backInLine(self) -> None:
        """
        Work resumed from the line that goes back in line (long work giving
        the reactor a turn) waits for the next turn, behind the others: one
        slice a turn, whoever schedules what.
        """
        from twistar.turnslice import SLICE_SECONDS

        resumed: list[str] = []

        def long() -> None:
            resumed.append("long")
            self.slice.stepBegins()
            self.now += SLICE_SECONDS * 2
            self.slice.later(long)
            self.slice.stepEnds()

        self.slice.later(long)
        self.slice.later(lambda: resumed.append("short"))
        for _ in range(3):
            runTurn(self.clock)
        self.assertEqual(resumed, ["long", "short", "long", "long"])
        drains = [call for call in self.clock.getDelayedCalls()
                  if getattr(call.func, "__name__", None) == "_drain"]
        self.assertEqual(len(drains), 1)

    def test_perReactor(self) -> None:
        """
        L{turnSlice} gives each reactor its one L{TurnSlice}, which does
        not keep the reactor alive, even with a call to end its slice
        pending.
        """
        from twistar.turnslice import SLICE_SECONDS, _turnSlices, turnSlice

        other = task.Clock()
        self.assertIs(turnSlice(self.clock), turnSlice(self.clock))
        otherSlice = turnSlice(other)
        self.assertIsNot(turnSlice(self.clock), otherSlice)
        otherSlice._now = lambda: self.now
        otherSlice.stepBegins()
        self.now += SLICE_SECONDS
        otherSlice.stepEnds()
        self.assertEqual(len(other.getDelayedCalls()), 1)
        gc.collect()  # other tests' clocks, left for the collector
        count = len(_turnSlices)
        del other, otherSlice
        gc.collect()
        self.assertEqual(len(_turnSlices), count - 1)


class BusyPollTests(unittest.TestCase):
    """
    L{BusyPoll} keeps the reactor turning while statements are in flight,
    for at most its C{seconds} after the latest was sent.
    """

    def setUp(self) -> None:
        from twistar import busypoll

        self.now = 100.0
        self.patch(busypoll, "monotonic", lambda: self.now)
        self.reactor = _Turns()

    def turns(self) -> int:
        """
        @return: how many calls the next turn has.
        """
        return len(self.reactor.pending)

    def test_turnsWhileInFlight(self) -> None:
        """
        A statement sent makes the reactor turn at once, again and again,
        until it is answered.
        """
        from twistar.busypoll import BusyPoll

        poll = BusyPoll(self.reactor, 0.001)
        poll.sent()
        poll.sent()
        self.assertEqual(self.turns(), 1)
        for _ in range(3):
            self.reactor.turn()
            self.assertEqual(self.turns(), 1)
        poll.answered()
        self.reactor.turn()
        self.assertEqual(self.turns(), 1)
        poll.answered()
        self.reactor.turn()
        self.assertEqual((self.turns(), poll.inFlight), (0, 0))

    def test_window(self) -> None:
        """
        The reactor stops turning C{seconds} after the latest statement was
        sent, though it is not answered; another statement sent starts it
        again.
        """
        from twistar.busypoll import BusyPoll

        poll = BusyPoll(self.reactor, 0.001)
        poll.sent()
        self.now += 0.0005
        poll.sent()
        self.now += 0.0009
        self.reactor.turn()
        self.assertEqual(self.turns(), 1)
        self.now += 0.0002
        self.reactor.turn()
        self.assertEqual(self.turns(), 0)
        poll.sent()
        self.assertEqual((self.turns(), poll.inFlight), (1, 3))

    def test_off(self) -> None:
        """
        With C{seconds} 0 the reactor is never made to turn; L{BusyPoll.stop}
        stops it; C{seconds} must be a number >= 0.
        """
        from twistar.busypoll import BusyPoll

        poll = BusyPoll(self.reactor, 0)
        poll.sent()
        self.assertEqual((self.turns(), poll.inFlight), (0, 1))
        poll = BusyPoll(self.reactor, 1)
        poll.sent()
        poll.stop()
        self.assertEqual(self.turns(), 0)
        for bad in (-1, float("inf"), "1", False):
            self.assertRaises(TwistarError, BusyPoll, self.reactor, bad)


class TracedPool(DBTestCase):
    """
    A test case whose registry's pool is a L{PostgresPool} of one
    connection, whose statements it can trace; no tests of its own.
    """

    if backend() != POSTGRES or parseURL(testDatabase()).threads:
        skip = "the run's pool is no PostgresPool"
    elif psycopg is None:
        skip = "PostgresPool needs psycopg 3 and greenlet"

    timeout = 60
    # One connection: the trace sees every statement the pool sends.
    poolArgs = {"cp_min": 1, "cp_max": 1}

    async def setUp(self) -> None:
        await super().setUp()
        self.admin = makePool(cp_min=1, cp_max=1)
        self.addCleanup(closePool, self.admin)

    async def names(self) -> list[str]:
        """
        @return: the first names in C{users}, in insertion order.
        """
        rows = await self.config.select("users", orderby="id")
        return [row["first_name"] for row in rows]

    async def idle(self) -> None:
        """
        Wait until the pool has its connection open, and free.
        """
        await self.config.count("users")
        while poolBusy(self.pool):
            await sleep(0.01)
        self.assertEqual(poolSize(self.pool), 1)

    async def roundTrips(
        self, writes: Callable[[], Awaitable[None]]
    ) -> list[tuple[list[str], str]]:
        """
        Run C{writes} with libpq's protocol trace on the pool's connection.

        @return: for each round trip: the tags of the statements that the
            server completed (C{ERROR} for one that failed), and the
            transaction status it then reported (C{I} idle, C{T} in a
            transaction, C{E} in a failed one). Round trips that only
            prepared a statement are left out: psycopg prepares one, in a
            round trip of its own, the fifth time a connection runs it.
        """
        await self.idle()
        [connection] = poolConnections(self.pool)
        path = self.mktemp()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        try:
            connection.pgconn.trace(fd)
            connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                await writes()
            finally:
                # Flushes the trace. (psycopg never closes the stream it
                # opened on fd: it stays behind, empty.)
                connection.pgconn.untrace()
        finally:
            os.close(fd)
        self.assertEqual(poolConnections(self.pool), [connection])
        trips: list[tuple[list[str], str]] = []
        tags: list[str] = []
        prepared = False
        with open(path) as trace:
            for line in trace:
                # F(rontend) or B(ackend), length, message type, its fields.
                origin, _, kind, *fields = line.rstrip("\n").split("\t")
                if origin != "B":
                    continue
                if kind == "ParseComplete":
                    prepared = True
                elif kind == "CommandComplete":
                    tags.append(fields[0].strip().strip('"'))
                elif kind == "ErrorResponse":
                    tags.append("ERROR")
                elif kind == "ReadyForQuery":
                    if tags or not prepared:
                        trips.append((tags, fields[0].strip()))
                    tags = []
                    prepared = False
        return trips

    async def lockedRow(self, userId: int) -> tuple[Pause, Deferred[None], int]:
        """
        Lock the row of user C{userId} in a transaction on another pool.

        @return: the L{Pause} that ends the transaction when released, the
            transaction's L{Deferred}, and its server process id.
        """
        pause = Pause()
        pids: list[int] = []

        def hold(cursor: Any) -> None:
            cursor.execute(
                "SELECT pg_backend_pid() FROM users WHERE id = %s FOR UPDATE", (userId,))
            pids.append(cursor.fetchone()[0])
            pause()

        locker = makePool(cp_min=1, cp_max=1)
        self.addCleanup(closePool, locker)
        held = locker.runInteraction(hold)
        self.addCleanup(pause.release)
        await pause.reached
        return pause, held, pids[0]

    async def waitingFor(self, lockerPid: int) -> int:
        """
        @return: the server process id of the pool's connection, once its
            statement waits for a lock that C{lockerPid} holds.
        """
        query = "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
        while not (rows := await self.admin.runQuery(query, (lockerPid,))):
            await sleep(0.01)
        [(pid,)] = rows
        [connection] = poolConnections(self.pool)
        self.assertEqual(pid, connection.info.backend_pid)
        return int(pid)

    async def terminate(self, pid: int) -> None:
        """
        End the server process C{pid}, and wait until it has gone.
        """
        await self.admin.runQuery("SELECT pg_terminate_backend(%s)", (pid,))
        query = "SELECT 1 FROM pg_stat_activity WHERE pid = %s"
        while await self.admin.runQuery(query, (pid,)):
            await sleep(0.01)


class OneStatementWritesTests(TracedPool):
    """
    On a L{PostgresPool}, outside a transaction, a write of one statement
    given alone in its turn runs without C{BEGIN} and C{COMMIT} (several are
    pipelined: see L{twistar.tests.test_pipelining}); it starts on the
    reactor's next turn, and once started it is neither undone by a cancel
    nor run again after a lost connection.
    """

    async def test_oneRoundTrip(self) -> None:
        """
        Saving a new object and a loaded one, and the low-level C{insert}
        of a row: each is one round trip, its statement alone, outside a
        transaction. Writes of many rows (the low-level C{update} and
        C{delete}, C{updateAll}, C{deleteAll}), a C{createMany} and a
        transaction run between C{BEGIN} and C{COMMIT}.
        """
        await User(first_name="warm").save()  # the schema is read once

        async def writes() -> None:
            user: Any = await User(first_name="new").save()
            user.first_name = "changed"
            await user.save()
            await self.config.insert("users", {"first_name": "low"})

        self.assertEqual(await self.roundTrips(writes), [
            (["INSERT 0 1"], "I"), (["UPDATE 1"], "I"), (["INSERT 0 1"], "I"),
        ])

        async def manyRows() -> None:
            await self.config.update("users", {"age": 3}, where=["first_name = ?", "low"])
            await self.config.delete("users", where=["first_name = ?", "low"])
            await User.where(first_name="changed").updateAll(age=4)
            await User.where(age=4).deleteAll()

        self.assertEqual(await self.roundTrips(manyRows), [
            (["BEGIN"], "T"), (["UPDATE 1"], "T"), (["COMMIT"], "I"),
            (["BEGIN"], "T"), (["DELETE 1"], "T"), (["COMMIT"], "I"),
            (["BEGIN"], "T"), (["UPDATE 1"], "T"), (["COMMIT"], "I"),
            (["BEGIN"], "T"), (["DELETE 1"], "T"), (["COMMIT"], "I"),
        ])

        @transaction
        async def inTransaction(txn: Any) -> None:
            await User(first_name="txn").save()

        async def atomic() -> None:
            await User.createMany([User(first_name="a"), User(first_name="b")])
            await inTransaction()

        self.assertEqual(await self.roundTrips(atomic), [
            (["BEGIN"], "T"), (["INSERT 0 2"], "T"), (["COMMIT"], "I"),
            (["BEGIN"], "T"), (["INSERT 0 1"], "T"), (["COMMIT"], "I"),
        ])
        self.assertEqual(await self.names(), ["warm", "a", "b", "txn"])

    async def test_cancelInCallersTurn(self) -> None:
        """
        A one-statement write cancelled in the turn it was called, while the
        pool's connection is free, fails with C{CancelledError} and writes
        nothing.
        """
        await User(first_name="kept").save()
        writes = [
            lambda: User(first_name="new").save(),
            lambda: self.config.insert("users", {"first_name": "low"}),
        ]
        for write in writes:
            await self.idle()
            d = write()
            d.cancel()
            await self.assertFailure(d, CancelledError)
        await self.idle()
        self.assertEqual(await self.names(), ["kept"])

    async def test_cancelOnceStarted(self) -> None:
        """
        Cancelling a save whose C{UPDATE} has reached the server (waiting
        for a row lock) fails the caller's L{Deferred} with
        C{CancelledError} but does not undo the update.
        """
        user: Any = await User(first_name="before").save()
        pause, held, lockerPid = await self.lockedRow(user.id)
        user.first_name = "after"
        saving = user.save()
        await self.waitingFor(lockerPid)
        saving.cancel()
        await self.assertFailure(saving, CancelledError)
        pause.release()
        await held
        await self.idle()
        self.assertEqual(await self.names(), ["after"])

    async def test_lostConnectionNotRetried(self) -> None:
        """
        A save whose connection is lost while its C{UPDATE} runs fails with
        L{ConnectionLostError} (its commit "may or may not" have been
        applied) and is not run again; the pool serves the next call.
        """
        user: Any = await User(first_name="before").save()
        pause, held, lockerPid = await self.lockedRow(user.id)
        user.first_name = "after"
        saving = user.save()
        pid = await self.waitingFor(lockerPid)
        await self.terminate(pid)
        # Run again, the update would now get the lock and succeed.
        pause.release()
        await held
        error = await self.assertFailure(saving, ConnectionLostError)
        self.assertIn("may or may not have been applied", str(error))
        self.assertEqual(await self.names(), ["before"])
        await User(first_name="next").save()
        self.assertEqual(await self.names(), ["before", "next"])
