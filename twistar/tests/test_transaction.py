"""
Tests for L{twistar.transaction}: isolation, non-blocking execution, nesting,
the C{async with} form, hooks and never leaking a connection.
"""

from __future__ import annotations

import gc
import time
from typing import Any
from unittest import SkipTest
from urllib.parse import urlparse

from twisted.enterprise import adbapi
from twisted.internet import defer, reactor, task

from twistar.context import currentTransaction
from twistar.dbobject import DBObject
from twistar.exceptions import (
    ConnectionLostError,
    SerializationError,
    TransactionError,
    TransactionTimeoutError,
)
from twistar.pgpool import PostgresPool
from twistar.registry import Registry
from twistar.tests.helpers import (
    POSTGRES,
    SQLITE,
    DBTestCase,
    closePool,
    makePool,
    poolConnections,
    testDatabase,
)
from twistar.utils import gather, runInTransaction, transaction


class Transactor(DBObject):
    """
    A model on the C{users} table for these tests.
    """

    TABLENAME = "users"
    committed: list[Any] = []
    rolledBack: list[Any] = []

    def afterCommit(self) -> None:
        Transactor.committed.append(self.first_name)

    def afterRollback(self) -> None:
        Transactor.rolledBack.append(self.first_name)


def sleep(seconds: float) -> defer.Deferred[None]:
    """
    @return: a L{Deferred} that fires after C{seconds}.
    """
    return task.deferLater(reactor, seconds, lambda: None)


async def names(where: Any = None) -> list[str]:
    """
    @return: the sorted first names in C{users}, read outside any transaction.
    """
    users = await Transactor.find(where=where)
    return sorted(user.first_name for user in users)


class TransactionTests(DBTestCase):
    """
    Tests for the C{transaction} decorator and its forms.
    """

    async def setUp(self) -> None:
        await super().setUp()
        Transactor.committed = []
        Transactor.rolledBack = []

    async def test_commits(self) -> None:
        """
        The function's writes are committed and its result is returned.
        """

        @transaction
        async def create(txn: Any, name: str) -> str:
            await Transactor(first_name=name).save()
            return "done"

        self.assertEqual(await create("ann"), "done")
        self.assertEqual(await names(), ["ann"])

    async def test_rollbackOnException(self) -> None:
        """
        An exception rolls back everything and fails with L{TransactionError}
        whose cause is the original exception.
        """

        @transaction
        async def create(txn: Any) -> None:
            await Transactor(first_name="ann").save()
            await Transactor(first_name="bob").save()
            raise ValueError("no")

        error = await self.assertFailure(defer.ensureDeferred(create()), TransactionError)
        self.assertIsInstance(error.__cause__, ValueError)
        self.assertEqual(await names(), [])

    async def test_callbackChainJoins(self) -> None:
        """
        Calls made in callbacks chained on the transaction's calls run in
        the transaction, and are rolled back with it.
        """

        @transaction
        def create(txn: Any) -> defer.Deferred[Any]:
            d = Transactor(first_name="ann").save()
            d.addCallback(lambda _: Transactor(first_name="bob").save())
            d.addCallback(lambda _: Transactor.count())
            d.addCallback(lambda count: self.assertEqual(count, 2))
            d.addCallback(lambda _: 1 / 0)
            return d

        await self.assertFailure(create(), TransactionError)
        self.assertEqual(await names(), [])

    async def test_inlineCallbacksJoins(self) -> None:
        """
        An C{inlineCallbacks} generator called by the function runs in it.
        """

        @defer.inlineCallbacks
        def two(txn: Any) -> Any:
            yield Transactor(first_name="ann").save()
            yield Transactor(first_name="bob").save()
            raise KeyError("x")

        await self.assertFailure(runInTransaction(two), TransactionError)
        self.assertEqual(await names(), [])

    async def test_outsideWorkIsIsolated(self) -> None:
        """
        Saves made outside a transaction while it is open are not part of
        it: they survive its rollback, and it cannot see them uncommitted.
        """
        started = defer.Deferred[None]()
        release = defer.Deferred[None]()

        @transaction
        async def inside(txn: Any) -> None:
            await Transactor(first_name="inside").save()
            started.callback(None)
            await release
            raise RuntimeError("roll back")

        result = defer.ensureDeferred(inside())
        await started
        outside = defer.gatherResults(
            [Transactor(first_name=f"out{i}").save() for i in range(5)]
        )
        if self.backend != "sqlite":
            # SQLite has one writer at a time: there the saves wait for the
            # transaction to end instead.
            await outside
        release.callback(None)
        await outside
        await self.assertFailure(result, TransactionError)
        self.assertEqual(await names(), [f"out{i}" for i in range(5)])

    async def test_overlappingTransactions(self) -> None:
        """
        Two transactions open at once each see only their own uncommitted
        rows; one commits and one rolls back. On SQLite, where a transaction
        takes the write lock when it begins, the second one's statements run
        once the first has ended.
        """
        firstWrote = defer.Deferred[None]()
        secondChecked = defer.Deferred[None]()
        firstDone = defer.Deferred[None]()
        seen: dict[str, list[str]] = {}

        @transaction
        async def first(txn: Any) -> None:
            await Transactor(first_name="first").save()
            seen["first"] = sorted(u.first_name for u in await Transactor.all())
            firstWrote.callback(None)
            if self.backend != SQLITE:
                await secondChecked
            raise RuntimeError("first rolls back")

        @transaction
        async def second(txn: Any) -> None:
            await firstWrote
            seen["second-before"] = sorted(u.first_name for u in await Transactor.all())
            secondChecked.callback(None)
            await firstDone
            await Transactor(first_name="second").save()
            seen["second-after"] = sorted(u.first_name for u in await Transactor.all())

        d1 = defer.ensureDeferred(first())
        d2 = defer.ensureDeferred(second())
        await self.assertFailure(d1, TransactionError)
        firstDone.callback(None)
        await d2
        self.assertEqual(seen["first"], ["first"])
        self.assertEqual(seen["second-before"], [])
        self.assertEqual(seen["second-after"], ["second"])
        self.assertEqual(await names(), ["second"])

    async def test_reactorKeepsTicking(self) -> None:
        """
        While a transaction runs hundreds of queries, a 10 ms C{LoopingCall}
        keeps ticking: the reactor never waits on the database.
        """
        ticks: list[float] = []
        loop = task.LoopingCall(lambda: ticks.append(time.monotonic()))
        # What earlier tests left in this process stays out of the
        # collector's full collections, whose pause grows with the whole
        # heap (doc/performance.md): only this test's objects count.
        gc.collect()
        gc.freeze()
        loop.start(0.01)

        @transaction
        async def busy(txn: Any) -> None:
            for i in range(500):
                await Transactor(first_name=f"u{i}").save()
            for _ in range(100):
                await Transactor.count()

        try:
            await busy()
        finally:
            loop.stop()
            gc.unfreeze()
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        self.assertGreater(len(ticks), 2)
        self.assertLess(max(gaps), 0.05, f"largest gap between ticks: {max(gaps):.3f} s")
        self.assertEqual(await Transactor.count(), 500)

    async def test_savepointNesting(self) -> None:
        """
        A transaction inside a running one is a savepoint: its failure
        rolls back only its own work, reaches the outer code, and the outer
        transaction goes on and commits.
        """

        @transaction
        async def inner(txn: Any) -> None:
            await Transactor(first_name="inner").save()
            raise ValueError("inner fails")

        @transaction
        async def outer(txn: Any) -> list[str]:
            await Transactor(first_name="before").save()
            try:
                await inner()
            except TransactionError as e:
                self.assertIsInstance(e.__cause__, ValueError)
            await Transactor(first_name="after").save()
            return sorted(u.first_name for u in await Transactor.all())

        self.assertEqual(await outer(), ["after", "before"])
        self.assertEqual(await names(), ["after", "before"])

    async def test_nestedSuccessJoins(self) -> None:
        """
        A nested transaction that succeeds is part of the outer one: the
        outer rollback undoes it too.
        """

        @transaction
        async def inner(txn: Any) -> None:
            await Transactor(first_name="inner").save()

        @transaction
        async def outer(txn: Any) -> None:
            await inner()
            raise RuntimeError("outer fails")

        await self.assertFailure(defer.ensureDeferred(outer()), TransactionError)
        self.assertEqual(await names(), [])

    async def test_findOrCreateInside(self) -> None:
        """
        C{findOrCreate}, which uses a transaction, works inside one.
        """

        @transaction
        async def make(txn: Any) -> tuple[Any, Any]:
            first = await Transactor.findOrCreate(first_name="ann")
            again = await Transactor.findOrCreate(first_name="ann")
            return first, again

        first, again = await make()
        self.assertEqual(first, again)
        self.assertEqual(await names(), ["ann"])

    async def test_asyncWith(self) -> None:
        """
        C{async with transaction()} commits at the end of the block, and on
        an exception rolls back and lets the exception through.
        """
        async with transaction() as txn:
            self.assertIs(currentTransaction(), txn)
            await Transactor(first_name="kept").save()
        self.assertIsNone(currentTransaction())
        with self.assertRaises(ZeroDivisionError):
            async with transaction():
                await Transactor(first_name="dropped").save()
                raise ZeroDivisionError("roll back")
        self.assertEqual(await names(), ["kept"])

    async def test_asyncWithCallbacks(self) -> None:
        """
        Callbacks chained inside an C{async with} block run in it.
        """
        with self.assertRaises(KeyError):
            async with transaction():
                d = Transactor(first_name="a").save()
                d.addCallback(lambda _: Transactor(first_name="b").save())
                await d
                raise KeyError("roll back")
        self.assertEqual(await names(), [])

    async def test_isolationLevel(self) -> None:
        """
        An isolation level the database supports is accepted; an unknown one
        fails with L{TransactionError} before anything runs.
        """

        @transaction(isolation="serializable")
        async def create(txn: Any) -> None:
            await Transactor(first_name="ann").save()

        await create()
        self.assertEqual(await names(), ["ann"])

        @transaction(isolation="chaotic")
        async def bad(txn: Any) -> None:
            await Transactor(first_name="bob").save()

        await self.assertFailure(defer.ensureDeferred(bad()), TransactionError)
        self.assertEqual(await names(), ["ann"])

    async def test_nestedIsolation(self) -> None:
        """
        A nested transaction runs at the enclosing one's isolation level:
        asking for that level is fine, asking for another fails with
        L{TransactionError} before anything runs (also when the enclosing
        one uses the database's default, except on SQLite, which is always
        serializable), and the enclosing transaction can go on.
        """
        server = self.backend != "sqlite"

        @transaction(isolation="SERIALIZABLE")
        async def serializable(txn: Any) -> None:
            async with transaction(isolation="serializable"):
                await Transactor(first_name="same").save()
            if server:
                with self.assertRaises(TransactionError):
                    async with transaction(isolation="READ COMMITTED"):
                        await Transactor(first_name="never").save()

        @transaction
        async def default(txn: Any) -> None:
            await Transactor(first_name="default").save()
            if server:
                with self.assertRaises(TransactionError):
                    async with transaction(isolation="SERIALIZABLE"):
                        await Transactor(first_name="never").save()
            else:
                async with transaction(isolation="SERIALIZABLE"):
                    await Transactor(first_name="sqlite").save()

        await serializable()
        await default()
        self.assertEqual(await names(), ["default", "same"] + ([] if server else ["sqlite"]))

    async def test_afterCommitAndRollbackHooks(self) -> None:
        """
        C{afterCommit} runs once the enclosing transaction commits (at once
        without one); C{afterRollback} runs when it rolls back.
        """
        await Transactor(first_name="plain").save()
        self.assertEqual(Transactor.committed, ["plain"])

        @transaction
        async def commits(txn: Any) -> None:
            await Transactor(first_name="c").save()
            self.assertEqual(Transactor.committed, ["plain"])

        await commits()
        self.assertEqual(Transactor.committed, ["plain", "c"])

        @transaction
        async def rollsBack(txn: Any) -> None:
            await Transactor(first_name="r").save()
            raise ValueError()

        await self.assertFailure(defer.ensureDeferred(rollsBack()), TransactionError)
        self.assertEqual(Transactor.rolledBack, ["r"])
        self.assertEqual(Transactor.committed, ["plain", "c"])

    async def test_synchronousCursor(self) -> None:
        """
        The transaction given to the function has the cursor methods of an
        C{adbapi} transaction, running on its connection.
        """
        config = self.config

        @transaction
        def raw(txn: Any) -> list[Any]:
            p = config.placeholder
            txn.execute(f"INSERT INTO users (first_name) VALUES ({p})", ("raw",))
            txn.execute(f"SELECT first_name FROM users WHERE first_name = {p}", ("raw",))
            return list(txn.fetchall())

        rows = await raw()
        self.assertEqual([tuple(row) for row in rows], [("raw",)])
        self.assertEqual(await names(), ["raw"])

    async def assertPoolIdle(self) -> None:
        """
        Wait until no pool thread (no connection of a PostgresPool) is busy,
        then check a query still works.
        """

        def busy() -> int:
            if isinstance(self.pool, PostgresPool):
                return self.pool.busy
            return len(self.pool.threadpool.working)

        for _ in range(200):
            if not busy():
                break
            await sleep(0.01)
        self.assertEqual(busy(), 0)
        self.assertIsInstance(await Transactor.count(), int)

    async def test_noLeakOnError(self) -> None:
        """
        A failed transaction gives its connection back.
        """

        @transaction
        async def fails(txn: Any) -> None:
            await Transactor(first_name="x").save()
            raise ValueError()

        for _ in range(self.pool.max + 2):
            await self.assertFailure(defer.ensureDeferred(fails()), TransactionError)
        await self.assertPoolIdle()

    async def test_noLeakOnCancel(self) -> None:
        """
        Cancelling a transaction's Deferred rolls it back and gives its
        connection back.
        """
        never = defer.Deferred[None]()

        @transaction
        async def waits(txn: Any) -> None:
            await Transactor(first_name="x").save()
            await never

        d = defer.ensureDeferred(waits())
        await sleep(0.05)
        d.cancel()
        await self.assertFailure(d, defer.CancelledError)
        await self.assertPoolIdle()
        self.assertEqual(await names(), [])

    async def test_noLeakOnTimeout(self) -> None:
        """
        A function whose Deferred never fires is rolled back at the timeout,
        failing with L{TransactionTimeoutError}.
        """

        @transaction(timeout=0.3)
        def hangs(txn: Any) -> defer.Deferred[None]:
            return Transactor(first_name="x").save().addCallback(
                lambda _: defer.Deferred()
            )

        await self.assertFailure(hangs(), TransactionTimeoutError)
        await self.assertPoolIdle()
        self.assertEqual(await names(), [])

    async def test_timeoutInterruptsLockWait(self) -> None:
        """
        A transaction whose statement waits for a lock that another
        transaction holds fails with L{TransactionTimeoutError} at its
        timeout, in both forms: the waiting statement is interrupted, not
        waited for until the lock is released. The holder is unaffected.
        """
        await Transactor(first_name="row", age=1).save()
        locked: defer.Deferred[None] = defer.Deferred()
        release: defer.Deferred[None] = defer.Deferred()
        # Without the interruption the waiters would end only after this.
        safety: Any = reactor.callLater(30, release.callback, None)  # type: ignore[arg-type]
        self.addCleanup(lambda: safety.cancel() if safety.active() else None)

        @transaction(timeout=60)
        async def holder(txn: Any) -> None:
            await self.config.update("users", {"age": 2}, where=["first_name = ?", "row"])
            locked.callback(None)
            await release

        interrupted: list[Any] = []

        @transaction(timeout=0.5)
        async def waiter(txn: Any) -> None:
            interrupted.append(txn._worker)
            await self.config.update("users", {"age": 3}, where=["first_name = ?", "row"])

        async def blockWaiter() -> None:
            async with transaction(timeout=0.5):
                await self.config.update("users", {"age": 4}, where=["first_name = ?", "row"])

        holding = holder()
        await locked
        await self.assertFailure(waiter(), TransactionTimeoutError)
        with self.assertRaises(TransactionTimeoutError):
            await blockWaiter()
        self.assertFalse(release.called, "the waiters ended only when the lock was released")
        release.callback(None)
        await holding
        await self.assertPoolIdle()
        (row,) = await Transactor.findBy(first_name="row")
        self.assertEqual(row.age, 2)
        # The interrupt may reach the server late: the interrupted
        # connection is not kept for the pool thread's later work.
        (worker,) = interrupted
        self.assertTrue(worker.interrupted)
        self.assertNotIn(worker.connection, poolConnections(self.pool))

    async def test_badOptions(self) -> None:
        """
        A timeout that is not a positive number of seconds, or an isolation
        that is not a level name (also for a nested transaction), fails with
        L{TransactionError} before anything runs, and leaves the pool free.
        """
        timeouts: list[Any] = [-1, 0, float("nan"), float("inf"), "5", True]
        for timeout in timeouts:
            with self.assertRaises(TransactionError):
                transaction(timeout=timeout)
        isolations: list[Any] = [5, b"SERIALIZABLE", ["SERIALIZABLE"]]
        for isolation in isolations:
            with self.assertRaises(TransactionError):
                transaction(isolation=isolation)

        @transaction
        async def outer(txn: Any) -> None:
            await Transactor(first_name="kept").save()
            with self.assertRaises(TransactionError):
                async with transaction(isolation="bogus"):
                    pass

        await outer()
        await self.assertPoolIdle()
        self.assertEqual(await names(), ["kept"])

    async def test_blockUsedTwice(self) -> None:
        """
        One C{transaction()} block entered again while in use fails with
        L{TransactionError} and leaves the first use working; used again
        after it ended, it starts a new transaction.
        """
        block = transaction()
        async with block:
            await Transactor(first_name="a").save()
            with self.assertRaises(TransactionError):
                async with block:
                    pass
            await Transactor(first_name="b").save()
        async with block:
            await Transactor(first_name="c").save()
        await self.assertPoolIdle()
        self.assertEqual(await names(), ["a", "b", "c"])

    async def test_blockTimeout(self) -> None:
        """
        An C{async with transaction(timeout=...)} block still running at its
        timeout is rolled back, and ends with L{TransactionTimeoutError}.
        """
        with self.assertRaises(TransactionTimeoutError):
            async with transaction(timeout=0.2):
                await Transactor(first_name="late").save()
                await sleep(0.4)
        await self.assertPoolIdle()
        self.assertEqual(await names(), [])

    async def test_poolReassigned(self) -> None:
        """
        A transaction belongs to the pool it started on; code using another
        pool inside it does not join it.
        """
        other = makePool()
        self.addCleanup(other.close)
        self.assertIs(Registry.DBPOOL, self.pool)

        @transaction
        async def check(txn: Any) -> Any:
            self.assertIs(txn.pool, self.pool)
            return currentTransaction()

        self.assertIsNotNone(await check())


class ContentionTests(DBTestCase):
    """
    Concurrent transactions that read before they write (as a model's first
    save does, looking up its table's columns) all succeed, on SQLite too,
    where each waits for the write lock.
    """

    async def test_readThenWrite(self) -> None:
        """
        Twenty concurrent transactions that each read, then write, all
        commit, also when each must look up the table's columns first.
        """
        Registry.SCHEMAS.clear()

        @transaction
        async def readThenWrite(txn: Any, number: int) -> None:
            await Transactor.count()
            await Transactor(first_name=f"writer{number}").save()

        await gather(readThenWrite(number) for number in range(20))
        self.assertEqual(len(await names()), 20)

    async def test_writersAndTransactions(self) -> None:
        """
        Plain saves running alongside transactions all succeed.
        """
        Registry.SCHEMAS.clear()

        @transaction
        async def readThenWrite(txn: Any, number: int) -> None:
            await Transactor.find(where=["first_name = ?", "nobody"])
            await Transactor(first_name=f"txn{number}").save()

        work = [readThenWrite(number) for number in range(10)]
        work += [Transactor(first_name=f"plain{number}").save() for number in range(40)]
        await gather(work)
        self.assertEqual(len(await names()), 50)


class TransactionCauseTests(DBTestCase):
    """
    A failed transaction keeps what made it fail as C{__cause__}.
    """

    def unreachablePool(self) -> Any:
        """
        @return: a pool of this backend that cannot connect.
        """
        if self.backend == SQLITE:
            pool = adbapi.ConnectionPool(
                "sqlite3", "/nonexistent-twistar-dir/test.db", check_same_thread=False
            )
        else:
            url = urlparse(testDatabase())
            pool = makePool(url._replace(netloc=f"{url.username}@127.0.0.1:1").geturl())
        self.addCleanup(closePool, pool)
        return pool

    async def test_cannotConnect(self) -> None:
        """
        A transaction that cannot connect fails with L{TransactionError}
        caused by L{ConnectionLostError}, in both forms.
        """
        Registry.DBPOOL = self.unreachablePool()

        @transaction
        async def work(txn: Any) -> None:
            await Transactor.count()

        error = await self.assertFailure(work(), TransactionError)
        self.assertIsInstance(error.__cause__, ConnectionLostError)
        with self.assertRaises(TransactionError) as caught:
            async with transaction():
                await Transactor.count()
        self.assertIsInstance(caught.exception.__cause__, ConnectionLostError)

    async def test_serializationFailureAtCommit(self) -> None:
        """
        A serialization failure that PostgreSQL reports at COMMIT fails the
        transaction with L{TransactionError} caused by L{SerializationError}
        (nothing was committed), not L{ConnectionLostError}; the connection
        goes on working. With psycopg2 and psycopg 3.
        """
        if self.backend != POSTGRES:
            raise SkipTest("only PostgreSQL reports serialization failures at COMMIT")
        for driver in ("psycopg2", "psycopg"):
            pool = makePool(driver=driver)
            self.addCleanup(closePool, pool)
            Registry.DBPOOL = pool
            await Transactor.deleteAll()
            error: Any = await self.assertFailure(
                defer.ensureDeferred(self.writeSkew()), TransactionError
            )
            self.assertIsInstance(error.__cause__, SerializationError, driver)
            self.assertTrue(str(error).startswith("commit failed"), str(error))
            self.assertNotIsInstance(error.__cause__, ConnectionLostError)
            self.assertEqual(sorted(await names()), ["first"])
            self.assertEqual(await Transactor.count(), 1)

    async def writeSkew(self) -> None:
        """
        Two serializable transactions each read what the other writes; the
        second to commit fails at its COMMIT.
        """
        secondRead: defer.Deferred[None] = defer.Deferred()
        firstWrote: defer.Deferred[None] = defer.Deferred()
        secondWrote: defer.Deferred[None] = defer.Deferred()

        @transaction(isolation="SERIALIZABLE")
        async def first(txn: Any) -> None:
            await Transactor.count(where=["last_name = ?", "a"])
            await secondRead
            await Transactor(first_name="first", last_name="b").save()
            firstWrote.callback(None)
            await secondWrote

        @transaction(isolation="SERIALIZABLE")
        async def second(txn: Any) -> None:
            await Transactor.count(where=["last_name = ?", "b"])
            task.deferLater(reactor, 0, secondRead.callback, None)
            await firstWrote
            await Transactor(first_name="second", last_name="a").save()
            task.deferLater(reactor, 0, secondWrote.callback, None)
            await firstDone

        firstDone = first()
        await second()
