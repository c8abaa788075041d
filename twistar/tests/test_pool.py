"""
Tests for L{twistar.pool}: how long twistar calls wait for a connection, and
cancelling them.
"""

from __future__ import annotations

import threading
from typing import Any

from twisted.internet import reactor, task
from twisted.internet.defer import CancelledError, Deferred

from twistar.exceptions import (
    PoolExhaustedError,
    TransactionError,
    TransactionTimeoutError,
    TwistarError,
)
from twistar.tests.helpers import DBTestCase, Pause, makePool, poolBusy, poolSize
from twistar.tests.models import FavoriteColor, Picture, User
from twistar.transaction import transaction


async def sleep(seconds: float) -> None:
    """
    Let the reactor run for C{seconds}.
    """
    await task.deferLater(reactor, seconds, lambda: None)


async def poolIdle(pool: Any) -> None:
    """
    Wait until no work runs on, or waits for, C{pool}'s threads (its
    connections, for a PostgresPool).
    """
    for _ in range(1000):
        if not poolBusy(pool):
            return
        await sleep(0.01)
    raise AssertionError("the pool stayed busy")


class Holder:
    """
    Keeps one pool thread (connection) busy until released, with raw
    adbapi work.
    """

    def __init__(self, pool: Any) -> None:
        self.pause = Pause()
        self.done = pool.runInteraction(lambda cursor: self.pause())

    async def waitStarted(self) -> None:
        """
        Wait until the holder runs on its thread.
        """
        await self.pause.reached

    async def finish(self) -> None:
        """
        Let the thread go and wait for it.
        """
        self.pause.release()
        await self.done


async def userNames() -> list[str]:
    """
    @return: the first names in C{users}, sorted.
    """
    return sorted(user.first_name for user in await User.all())


class HeldPoolTestCase(DBTestCase):
    """
    A test case whose pool has one connection, held by L{Holder} from the
    start of each test.
    """

    poolArgs: dict[str, Any] = {"cp_min": 1, "cp_max": 1}

    async def setUp(self) -> None:
        await super().setUp()
        self.holder = Holder(self.pool)
        self.addCleanup(self.holder.pause.release)
        await self.holder.waitStarted()


class WaitLimitTests(HeldPoolTestCase):
    """
    A pool with a wait limit fails calls and transactions that wait longer
    for a connection with L{PoolExhaustedError}, without running them.
    """

    poolArgs = {"waitLimit": 0.3, "cp_min": 1, "cp_max": 1}

    async def test_callGivesUp(self) -> None:
        """
        A save that waits longer than the limit fails with
        L{PoolExhaustedError} while the pool is still busy; it never runs,
        even once the connection is free, and the object stays unsaved.
        """
        user = User(first_name="waited")
        error = await self.assertFailure(user.save(), PoolExhaustedError)
        self.assertIn("0.3 s", str(error))
        self.assertFalse(self.holder.done.called)
        await self.holder.finish()
        await poolIdle(self.pool)
        self.assertIsNone(user.id)
        self.assertEqual(await userNames(), [])
        await User(first_name="later").save()
        self.assertEqual(await userNames(), ["later"])

    async def test_readGivesUp(self) -> None:
        """
        Reads wait at most the limit too.
        """
        await self.assertFailure(User.count(), PoolExhaustedError)
        await self.assertFailure(User.find(1), PoolExhaustedError)
        await self.holder.finish()
        self.assertEqual(await User.count(), 0)

    async def test_transactionGivesUp(self) -> None:
        """
        A transaction that waits longer than the limit fails with
        L{TransactionError} caused by L{PoolExhaustedError}, and none of
        its work is done.
        """

        @transaction
        async def create(txn: Any) -> None:
            await User(first_name="in transaction").save()

        error = await self.assertFailure(create(), TransactionError)
        self.assertIsInstance(error.__cause__, PoolExhaustedError)
        self.assertFalse(self.holder.done.called)
        await self.holder.finish()
        await poolIdle(self.pool)
        self.assertEqual(await userNames(), [])

    async def test_startedCallsAreNotLimited(self) -> None:
        """
        The limit is on waiting for a connection only: a call that got one
        in time may run longer.
        """
        await self.holder.finish()

        def slow(cursor: Any) -> str:
            threading.Event().wait(0.5)
            return "finished"

        self.assertEqual(await self.config.runInteraction(slow), "finished")


class WaitTests(HeldPoolTestCase):
    """
    Waiting for a connection without a pool wait limit.
    """

    async def test_callsWait(self) -> None:
        """
        Without a wait limit a call waits until a connection is free (as
        with a plain C{adbapi} pool).
        """
        saving = User(first_name="patient").save()
        await sleep(0.3)
        self.assertFalse(saving.called)
        await self.holder.finish()
        await saving
        self.assertEqual(await userNames(), ["patient"])

    async def test_transactionTimeoutCountsTheWait(self) -> None:
        """
        A transaction's timeout includes the wait for a connection: it fails
        at its timeout, while the pool is still busy, with
        L{TransactionTimeoutError} caused by L{PoolExhaustedError}, and none
        of its work is done afterwards.
        """

        @transaction(timeout=0.3)
        async def create(txn: Any) -> None:
            await User(first_name="too late").save()

        error = await self.assertFailure(create(), TransactionTimeoutError)
        self.assertIsInstance(error.__cause__, PoolExhaustedError)
        self.assertIn("waiting for a free connection", str(error))
        self.assertFalse(self.holder.done.called)
        await self.holder.finish()
        await poolIdle(self.pool)
        self.assertEqual(await userNames(), [])
        self.assertEqual(poolSize(self.pool), 1)

    async def test_blockTimeoutCountsTheWait(self) -> None:
        """
        The same for C{async with transaction(timeout=...)}.
        """

        async def block() -> None:
            async with transaction(timeout=0.3):
                await User(first_name="too late").save()

        d = Deferred.fromCoroutine(block())
        await self.assertFailure(d, TransactionTimeoutError)
        self.assertFalse(self.holder.done.called)
        await self.holder.finish()
        await poolIdle(self.pool)
        self.assertEqual(await userNames(), [])

    async def test_cancelWaitingCall(self) -> None:
        """
        Cancelling a save that waits for a connection: it never runs.
        """
        user = User(first_name="cancelled")
        saving = user.save()
        saving.cancel()
        await self.assertFailure(saving, CancelledError)
        await self.holder.finish()
        await poolIdle(self.pool)
        self.assertIsNone(user.id)
        self.assertEqual(await userNames(), [])


class WaitLimitOptionTests(DBTestCase):
    """
    The C{waitLimit} option of L{ConnectionPool}.
    """

    def test_badLimits(self) -> None:
        """
        A wait limit must be a positive number of seconds.
        """
        for bad in (0, -1, "1", True, float("inf"), float("nan")):
            with self.assertRaises(TwistarError, msg=repr(bad)):
                makePool(waitLimit=bad)

    def test_plainPoolAttribute(self) -> None:
        """
        A bad C{waitLimit} set on another pool object fails the call with
        L{TwistarError} before anything is sent.
        """
        self.pool.waitLimit = "soon"
        with self.assertRaises(TwistarError):
            User.count()


class CancelTests(DBTestCase):
    """
    Cancelling the Deferred of a write before it commits rolls it back and
    leaves the objects as they were; after the commit it changes nothing.
    """

    def blocked(self, write: Any) -> tuple[Deferred[Any], Pause]:
        """
        Start C{write(cursor)} through twistar, holding its thread after it
        ran until released.

        @return: its Deferred, and the pause it reaches once it ran.
        """
        pause = Pause()
        self.addCleanup(pause.release)

        def work(cursor: Any) -> None:
            write(cursor)
            pause()

        return self.config.runInteraction(work), pause

    def insertUser(self, name: str) -> Any:
        """
        @return: a function inserting a user called C{name} on a cursor.
        """
        query = self.config.buildInsert("users", ["first_name"], False)
        return lambda cursor: self.config.run(cursor, query, [name])

    async def test_cancelSaves(self) -> None:
        """
        Twenty saves, each cancelled as soon as it is made, all fail with
        C{CancelledError}. Those cancelled before their commit began (all
        but the rare one whose thread got that far first) are not
        committed and their objects stay unsaved; the others are saved, and
        their objects know it.
        """
        users: list[Any] = [User(first_name=f"user{i}") for i in range(20)]
        saves = []
        for user in users:
            d = user.save()
            d.cancel()
            saves.append(d)
        for d in saves:
            await self.assertFailure(d, CancelledError)
        await poolIdle(self.pool)
        saved = sorted(user.first_name for user in users if user.id is not None)
        self.assertEqual(await userNames(), saved)
        self.assertLess(len(saved), 10)

    async def test_cancelRunningWrite(self) -> None:
        """
        A write cancelled while it runs is rolled back.
        """
        d, pause = self.blocked(self.insertUser("running"))
        await pause.reached
        d.cancel()
        await self.assertFailure(d, CancelledError)
        pause.release()
        await poolIdle(self.pool)
        self.assertEqual(await userNames(), [])

    async def test_cancelAfterCommit(self) -> None:
        """
        Cancelling once the write has committed changes nothing.
        """
        user = User(first_name="kept")
        d = user.save()
        await d
        d.cancel()
        self.assertIsNotNone(user.id)
        self.assertEqual(await userNames(), ["kept"])

    async def test_cancelUpdate(self) -> None:
        """
        A cancelled update leaves the row and the object's dirty state as
        they were: saving again writes the change.
        """
        user: Any = await User(first_name="before").save()
        user.first_name = "after"
        d = user.save()
        d.cancel()
        await self.assertFailure(d, CancelledError)
        await poolIdle(self.pool)
        self.assertEqual(await userNames(), ["before"])
        await user.save()
        self.assertEqual(await userNames(), ["after"])

    async def test_cancelDelete(self) -> None:
        """
        A cancelled delete leaves the row and the object alive.
        """
        user = await User(first_name="alive").save()
        userId = user.id
        d = user.delete()
        d.cancel()
        await self.assertFailure(d, CancelledError)
        await poolIdle(self.pool)
        self.assertEqual(user.id, userId)
        self.assertEqual(await userNames(), ["alive"])

    async def test_cancelCreateMany(self) -> None:
        """
        A cancelled C{createMany} inserts nothing and sets no id.
        """
        users = [User(first_name=f"many{i}") for i in range(50)]
        d = User.createMany(users)
        d.cancel()
        await self.assertFailure(d, CancelledError)
        await poolIdle(self.pool)
        self.assertEqual(await User.count(), 0)
        self.assertEqual({user.id for user in users}, {None})

    async def test_cancelDeleteAll(self) -> None:
        """
        A cancelled C{deleteAll} deletes nothing.
        """
        await User(first_name="stays").save()
        d = User.deleteAll()
        d.cancel()
        await self.assertFailure(d, CancelledError)
        await poolIdle(self.pool)
        self.assertEqual(await userNames(), ["stays"])

    async def test_cancelRelationshipSet(self) -> None:
        """
        A cancelled has-many or HABTM C{set}/C{clear} changes no link.
        """
        user = await User(first_name="owner").save()
        picture = await Picture(name="pic").save()
        color = await FavoriteColor(name="red").save()
        # Each is cancelled as soon as it is made: making the next one first
        # would let the pool thread commit this one meanwhile.
        for change in (lambda: user.pictures.set([picture]),
                       lambda: user.favorite_colors.set([color])):
            d = change()
            d.cancel()
            await self.assertFailure(d, CancelledError)
        await poolIdle(self.pool)
        self.assertEqual(await user.pictures.get(), [])
        self.assertEqual(await user.favorite_colors.get(), [])
        await user.pictures.set([picture])
        await user.favorite_colors.set([color])
        for change in (user.pictures.clear, user.favorite_colors.clear):
            d = change()
            d.cancel()
            await self.assertFailure(d, CancelledError)
        await poolIdle(self.pool)
        self.assertEqual([p.id for p in await user.pictures.get()], [picture.id])
        self.assertEqual([c.id for c in await user.favorite_colors.get()], [color.id])

    async def test_cancelInTransactionRollsBack(self) -> None:
        """
        Inside a transaction, a write cancelled while it ran makes the
        transaction roll back at its end, even if the cancellation was
        caught: nothing of it is committed.
        """
        with self.assertRaises(TransactionError) as caught:
            async with transaction():
                await User(first_name="first").save()
                d, pause = self.blocked(self.insertUser("cancelled"))
                await pause.reached
                d.cancel()
                pause.release()
                try:
                    await d
                except CancelledError:
                    pass
        self.assertIn("cancelled", str(caught.exception))
        self.assertEqual(await userNames(), [])

    async def test_cancelledWorkNotAppliedInTransaction(self) -> None:
        """
        Inside a transaction, work cancelled while it runs is not applied to
        the objects (its C{then} is not called: its rows go with the
        rollback), and the transaction fails.
        """
        applied: list[Any] = []
        with self.assertRaises(TransactionError):
            async with transaction():
                pause = Pause()
                self.addCleanup(pause.release)

                def write(cursor: Any) -> str:
                    self.insertUser("cancelled")(cursor)
                    pause()
                    return "written"

                d = self.config.runWork(write, then=applied.append)
                await pause.reached
                d.cancel()
                pause.release()
                await self.assertFailure(d, CancelledError)
                await User.count()  # the write has ended
        self.assertEqual(applied, [])
        self.assertEqual(await userNames(), [])

    async def test_cancelQueuedInTransaction(self) -> None:
        """
        Inside a transaction, a write cancelled before its turn is skipped,
        and the rest of the transaction commits.
        """

        @transaction
        async def work(txn: Any) -> None:
            first, pause = self.blocked(self.insertUser("first"))
            second = User(first_name="second").save()
            second.cancel()
            pause.release()
            await first
            await self.assertFailure(second, CancelledError)
            await User(first_name="third").save()

        await work()
        self.assertEqual(await userNames(), ["first", "third"])

    async def test_cancelTransaction(self) -> None:
        """
        Cancelling a transaction's Deferred while its function waits rolls
        it back.
        """
        started = Deferred[None]()

        @transaction
        async def work(txn: Any) -> None:
            await User(first_name="written").save()
            task.deferLater(reactor, 0, started.callback, None)
            await sleep(10)

        d = work()
        await started
        d.cancel()
        await self.assertFailure(d, CancelledError)
        await poolIdle(self.pool)
        self.assertEqual(await userNames(), [])

    async def test_cancelledTransactionGoingOn(self) -> None:
        """
        A cancelled transaction rolls back even if its function catches the
        cancellation and returns normally.
        """
        started = Deferred[None]()

        @transaction
        async def work(txn: Any) -> None:
            await User(first_name="written").save()
            task.deferLater(reactor, 0, started.callback, None)
            try:
                await sleep(10)
            except CancelledError:
                pass
            await User(first_name="after").save()

        d = work()
        await started
        d.cancel()
        await self.assertFailure(d, CancelledError)
        await poolIdle(self.pool)
        self.assertEqual(await userNames(), [])


class WaitLimitSecondDriverTests(WaitLimitTests):
    """
    L{WaitLimitTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


class WaitSecondDriverTests(WaitTests):
    """
    L{WaitTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


class CancelSecondDriverTests(CancelTests):
    """
    L{CancelTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True
