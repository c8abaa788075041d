"""
Tests for retried transactions (the C{retry} of L{twistar.transaction}):
the mechanics on every backend, with functions that fail as the database
would, and real races on PostgreSQL and MariaDB that C{retry} survives.
"""

from __future__ import annotations

from typing import Any
from unittest import SkipTest

from twisted.internet import defer, reactor, task

from twistar.dbobject import DBObject
from twistar.exceptions import (
    ConcurrencyError,
    ConnectionLostError,
    DeadlockError,
    IntegrityError,
    LockTimeoutError,
    SerializationError,
    TransactionError,
    TransactionTimeoutError,
)
from twistar.tests.helpers import MYSQL, POSTGRES, SQLITE, DBTestCase
from twistar.transaction import DEFAULT_RETRY_ON
from twistar.utils import runInTransaction, transaction


class Attempter(DBObject):
    """
    A model on the C{users} table that records its after-hooks.
    """

    TABLENAME = "users"
    committed: list[str] = []
    rolledBack: list[str] = []

    def afterCommit(self) -> None:
        Attempter.committed.append(self.first_name)

    def afterRollback(self) -> None:
        Attempter.rolledBack.append(self.first_name)


class Tally(DBObject):
    """
    A row of C{scores}, unique by C{(player, game)}.
    """

    TABLENAME = "scores"


async def names() -> list[str]:
    """
    @return: the sorted first names in C{users}, read outside any transaction.
    """
    return sorted(user.first_name for user in await Attempter.all())


class RetryTests(DBTestCase):
    """
    The mechanics of C{retry}, with functions that raise the error a
    collision would cause (a L{ConcurrencyError} raised by the function
    itself counts as one the database reported).
    """

    async def setUp(self) -> None:
        await super().setUp()
        Attempter.committed = []
        Attempter.rolledBack = []

    def failingFirst(self, *errors: BaseException) -> tuple[Any, list[int]]:
        """
        @return: a transaction function that saves a user named after its
            attempt, then raises C{errors[n]} in attempt C{n} (once they
            run out it returns the attempt number), and the list whose one
            item counts its attempts.
        """
        calls = [0]

        async def work(txn: Any) -> int:
            calls[0] += 1
            await Attempter(first_name=f"attempt{calls[0]}").save()
            if calls[0] <= len(errors):
                raise errors[calls[0] - 1]
            return calls[0]

        return work, calls

    async def test_retriesSerializationAndDeadlock(self) -> None:
        """
        An attempt that fails with a L{SerializationError} or a
        L{DeadlockError} runs again in a new transaction: only the attempt
        that committed left its row, and its result is returned.
        """
        work, calls = self.failingFirst(SerializationError("a"), DeadlockError("b"))
        self.assertEqual(await transaction(retry=2)(work)(), 3)
        self.assertEqual(calls, [3])
        self.assertEqual(await names(), ["attempt3"])

    async def test_runInTransaction(self) -> None:
        """
        C{runInTransaction} takes C{retry} too, and passes the other
        arguments on to the function.
        """
        calls = [0]

        async def work(txn: Any, first: str, last: str = "") -> None:
            calls[0] += 1
            await Attempter(first_name=first, last_name=last).save()
            if calls[0] == 1:
                raise SerializationError("collided")

        await runInTransaction(work, "ann", last="lee", retry=1)
        self.assertEqual(calls, [2])
        (user,) = await Attempter.all()
        self.assertEqual((user.first_name, user.last_name), ("ann", "lee"))

    async def test_withoutRetryUnchanged(self) -> None:
        """
        Without C{retry} (or with C{retry=0}) nothing runs again, and the
        error is the one of a plain transaction.
        """
        for retry in (None, 0):
            work, calls = self.failingFirst(SerializationError("collided"))
            run = transaction(work) if retry is None else transaction(retry=retry)(work)
            error = await self.assertFailure(run(), TransactionError)
            self.assertIs(type(error), TransactionError)
            self.assertIsInstance(error.__cause__, SerializationError)
            self.assertEqual(str(error), "transaction failed, rolled back: "
                             "SerializationError('collided')")
            self.assertEqual(calls, [1])
        self.assertEqual(await names(), [])

    async def test_givesUp(self) -> None:
        """
        When every attempt fails, the error is that of the last attempt (a
        L{TransactionError} caused by the L{ConcurrencyError}), and says how
        many attempts were made; nothing stays.
        """
        last = DeadlockError("third")
        work, calls = self.failingFirst(SerializationError("1"), DeadlockError("2"), last)
        error = await self.assertFailure(transaction(retry=2)(work)(), TransactionError)
        self.assertIs(error.__cause__, last)
        self.assertEqual(
            str(error), "transaction failed, rolled back: DeadlockError('third') (3 attempts)"
        )
        self.assertEqual(calls, [3])
        self.assertEqual(await names(), [])

    async def test_otherErrorsNotRetried(self) -> None:
        """
        Errors other than those of C{retryOn} end the transaction at the
        first attempt: the function's own, a constraint violation, a lost
        connection (the commit may have been applied), a timeout, and a
        L{LockTimeoutError} unless asked for.
        """
        errors: list[BaseException] = [
            ValueError("mine"), ConnectionLostError("lost"), LockTimeoutError("waited"),
        ]
        for raised in errors:
            work, calls = self.failingFirst(raised)
            error = await self.assertFailure(transaction(retry=3)(work)(), TransactionError)
            self.assertIs(error.__cause__, raised)
            self.assertTrue(str(error).endswith(" (1 attempt)"), str(error))
            self.assertEqual(calls, [1])
        calls = [0]

        @transaction(retry=3)
        async def violate(txn: Any) -> None:
            calls[0] += 1
            await self.config.insert("uniques", {"code": "x"})
            await self.config.insert("uniques", {"code": "x"})

        error = await self.assertFailure(violate(), TransactionError)
        self.assertIsInstance(error.__cause__, IntegrityError)
        self.assertEqual(calls, [1])

        @transaction(retry=3, timeout=0.1)
        async def slow(txn: Any) -> None:
            calls[0] += 1
            await task.deferLater(reactor, 0.5, lambda: None)

        await self.assertFailure(slow(), TransactionTimeoutError)
        self.assertEqual(calls, [2])
        self.assertEqual(await names(), [])

    async def test_retryOn(self) -> None:
        """
        C{retryOn} chooses the causes retried: L{LockTimeoutError} only when
        named, and then the defaults only when named too.
        """
        work, calls = self.failingFirst(LockTimeoutError("waited"))
        await transaction(retry=1, retryOn=(LockTimeoutError,))(work)()
        self.assertEqual(calls, [2])
        work, calls = self.failingFirst(DeadlockError("broken"))
        await self.assertFailure(
            transaction(retry=1, retryOn=LockTimeoutError)(work)(), TransactionError
        )
        self.assertEqual(calls, [1])
        work, calls = self.failingFirst(LockTimeoutError("a"), DeadlockError("b"))
        await runInTransaction(work, retry=2, retryOn=(*DEFAULT_RETRY_ON, LockTimeoutError))
        self.assertEqual(calls, [3])
        work, calls = self.failingFirst(LockTimeoutError("a"), SerializationError("b"))
        await transaction(retry=2, retryOn=ConcurrencyError)(work)()
        self.assertEqual(calls, [3])

    async def test_hooks(self) -> None:
        """
        C{afterCommit} runs once, for the objects of the attempt that
        committed; each failed attempt calls the C{afterRollback} of the
        objects it wrote.
        """
        work, _ = self.failingFirst(SerializationError("a"), DeadlockError("b"))
        await transaction(retry=2)(work)()
        self.assertEqual(Attempter.committed, ["attempt3"])
        self.assertEqual(Attempter.rolledBack, ["attempt1", "attempt2"])

    async def test_objectsPutBack(self) -> None:
        """
        Objects written in a failed attempt get back the attributes they
        had before it: a new object has no id again and is inserted by the
        next attempt, a loaded one keeps its unsaved changes (so the next
        save writes them again), a deleted one is deleted again.
        """
        loaded: Any = await Attempter(first_name="old", age=1).save()
        doomed = await Attempter(first_name="doomed").save()
        doomedId = doomed.id
        new = Attempter(first_name="new")
        loaded.age = 2
        seen: list[tuple[Any, Any, Any]] = []

        @transaction(retry=1)
        async def work(txn: Any) -> None:
            seen.append((new.id, loaded.age, doomed.id))
            await new.save()
            await loaded.save()
            await doomed.delete()
            if len(seen) == 1:
                raise SerializationError("collided")

        await work()
        self.assertEqual(seen[0], seen[1])
        self.assertEqual(seen[1], (None, 2, doomedId))
        self.assertEqual(await names(), ["new", "old"])
        self.assertEqual((await Attempter.find(loaded.id)).age, 2)
        self.assertEqual((await Attempter.find(new.id)).first_name, "new")
        self.assertIsNone(await Attempter.find(doomedId))

    async def test_manyObjectsPutBack(self) -> None:
        """
        Objects of a C{createMany} or an C{upsert} in a failed attempt get
        back the attributes they had before it (no ids), and the next
        attempt writes them once.
        """
        created = [Attempter(first_name=f"c{i}") for i in range(3)]
        upserted = [Tally(player=f"u{i}", game=1, points=1) for i in range(2)]
        seen: list[list[Any]] = []

        @transaction(retry=1)
        async def work(txn: Any) -> None:
            seen.append([obj.id for obj in created + upserted])
            await Attempter.createMany(created)
            await Tally.upsert(upserted, uniqueBy=["player", "game"])
            if len(seen) == 1:
                raise SerializationError("collided")

        await work()
        self.assertEqual(seen, [[None] * 5, [None] * 5])
        self.assertEqual(await names(), ["c0", "c1", "c2"])
        self.assertEqual(sorted(tally.player for tally in await Tally.all()), ["u0", "u1"])
        self.assertTrue(all(obj.id is not None for obj in created + upserted))

    async def test_objectsPutBackAfterLastAttempt(self) -> None:
        """
        With C{retry}, objects written in the last, failed attempt get
        their attributes back too; without it they keep them, as after any
        rolled back transaction.
        """
        restored = Attempter(first_name="restored")
        kept = Attempter(first_name="kept")

        async def work(txn: Any, obj: Attempter) -> None:
            await obj.save()
            raise SerializationError("collided")

        await self.assertFailure(runInTransaction(work, restored, retry=1), TransactionError)
        await self.assertFailure(runInTransaction(work, kept), TransactionError)
        self.assertIsNone(restored.id)
        self.assertIsNotNone(kept.id)
        self.assertEqual(await names(), [])

    async def test_nestedRunsOnce(self) -> None:
        """
        A transaction given C{retry} that starts inside another is a
        savepoint and runs once; its failure reaches the enclosing
        transaction, which runs again if it was given C{retry}.
        """
        calls = {"inner": 0, "outer": 0}

        @transaction(retry=5)
        async def inner(txn: Any) -> None:
            calls["inner"] += 1
            await Attempter(first_name=f"inner{calls['inner']}").save()
            if calls["inner"] == 1:
                raise SerializationError("collided")

        @transaction(retry=1)
        async def outer(txn: Any) -> None:
            calls["outer"] += 1
            await inner()

        await outer()
        self.assertEqual(calls, {"inner": 2, "outer": 2})
        self.assertEqual(await names(), ["inner2"])

    async def test_cancelWhilePausing(self) -> None:
        """
        Cancelling the call between two attempts fails it with
        C{CancelledError}, and no attempt follows.
        """
        calls = [0]
        pending: list[defer.Deferred[Any]] = []

        class Canceller(Attempter):
            def afterRollback(self) -> None:
                # Runs as the failed attempt ends, before the pause begins.
                reactor.callLater(0, pending[0].cancel)  # type: ignore[arg-type]

        async def work(txn: Any) -> None:
            calls[0] += 1
            await Canceller(first_name="x").save()
            raise SerializationError("collided")

        pending.append(runInTransaction(work, retry=3))
        await self.assertFailure(pending[0], defer.CancelledError)
        await task.deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(calls, [1])
        self.assertEqual(await names(), [])

    async def test_badOptions(self) -> None:
        """
        C{retry} that is not an C{int} of 0 or more, and C{retryOn} that is
        not a L{ConcurrencyError} subclass or a tuple of them, fail with
        L{TransactionError} before anything runs.
        """
        calls = [0]

        def work(txn: Any) -> None:
            calls[0] += 1

        retries: list[Any] = [-1, 1.0, "2", True, None]
        for retry in retries:
            with self.assertRaises(TransactionError):
                transaction(retry=retry)
            await self.assertFailure(runInTransaction(work, retry=retry), TransactionError)
        retryOns: list[Any] = [(), ValueError, (DeadlockError, ValueError), [DeadlockError],
                               "DeadlockError", ConnectionLostError]
        for retryOn in retryOns:
            with self.assertRaises(TransactionError):
                transaction(retry=1, retryOn=retryOn)
            await self.assertFailure(
                runInTransaction(work, retry=1, retryOn=retryOn), TransactionError
            )
        self.assertEqual(calls, [0])

    async def test_asyncWithRefused(self) -> None:
        """
        C{async with transaction(retry=...)} fails with L{TransactionError}
        before the block runs: a block cannot be run again.
        """
        ran = []
        with self.assertRaises(TransactionError) as caught:
            async with transaction(retry=2):
                ran.append(True)
        self.assertIn("@transaction(retry=...)", str(caught.exception))
        self.assertEqual(ran, [])
        async with transaction(retry=0):
            ran.append(True)
        self.assertEqual(ran, [True])


class RetryRaceTests(DBTestCase):
    """
    Real collisions on the server databases, each survived by C{retry} with
    exactly one committed effect per transaction; without C{retry} the
    loser fails as before. SQLite, which writes one transaction at a time,
    has none.

    @ivar ids: the ids of two rows of C{tallies}.
    """

    async def setUp(self) -> None:
        if self.backend == SQLITE:
            raise SkipTest("SQLite writes one transaction at a time: no such collisions")
        await super().setUp()
        self.ids = [await self.config.insert("tallies", {"name": name, "count": 0})
                    for name in ("a", "b")]

    async def counts(self) -> list[int]:
        """
        @return: the C{count} of both rows of C{tallies}.
        """
        rows = await self.config.select("tallies", orderby="name")
        return [row["count"] for row in rows]

    async def race(
        self, retry: int, isolation: str | None, first: Any, then: Any
    ) -> tuple[list[BaseException], list[int]]:
        """
        Run two transactions at once; each awaits C{first(index)}, and in
        its first attempt waits until the other has done so too, then
        awaits C{then(index)}.

        @return: the failures of the two, and how many times each ran.
        """
        ready: list[defer.Deferred[None]] = [defer.Deferred(), defer.Deferred()]
        calls = [0, 0]

        @transaction(isolation=isolation, retry=retry)
        async def racer(txn: Any, index: int) -> None:
            calls[index] += 1
            await first(index)
            if calls[index] == 1:
                task.deferLater(reactor, 0, ready[index].callback, None)
                await ready[1 - index]
            await then(index)

        results = await defer.DeferredList([racer(0), racer(1)], consumeErrors=True)
        return [result.value for ok, result in results if not ok], calls

    async def bump(self, index: int) -> None:
        """
        Add one to the C{count} of row C{index}, in one statement.
        """
        count = self.config.quoteIdentifier("count")
        await self.config.executeOperation(
            f"UPDATE tallies SET {count} = {count} + 1 WHERE id = {self.config.placeholder}",
            (self.ids[index],),
        )

    async def readThenWrite(self, retry: int) -> tuple[list[BaseException], list[int]]:
        """
        Two SERIALIZABLE transactions read the count of row 0, then both
        write it plus one: PostgreSQL fails the second writer with a
        serialization failure, MariaDB (whose serializable reads lock the
        row) one of them with a deadlock.
        """
        seen = [0, 0]

        async def read(index: int) -> None:
            row = await self.config.select("tallies", id=self.ids[0])
            seen[index] = row["count"]

        async def write(index: int) -> None:
            await self.config.update(
                "tallies", {"count": seen[index] + 1}, where=["id = ?", self.ids[0]]
            )

        return await self.race(retry, "SERIALIZABLE", read, write)

    def collision(self) -> type[ConcurrencyError]:
        """
        @return: what the database fails the loser of L{readThenWrite} with.
        """
        return {POSTGRES: SerializationError, MYSQL: DeadlockError}[self.backend]

    async def test_readThenWriteRetried(self) -> None:
        """
        With C{retry}, both read-then-write transactions commit: the loser
        ran twice, and the count went up by two.
        """
        failures, calls = await self.readThenWrite(retry=3)
        self.assertEqual(failures, [])
        self.assertEqual(sorted(calls), [1, 2])
        self.assertEqual(await self.counts(), [2, 0])

    async def test_readThenWriteWithoutRetry(self) -> None:
        """
        Without C{retry}, the loser fails with L{TransactionError} caused by
        the database's error, and only the winner's write stays.
        """
        failures, calls = await self.readThenWrite(retry=0)
        self.assertEqual(len(failures), 1, failures)
        self.assertIs(type(failures[0]), TransactionError)
        self.assertIsInstance(failures[0].__cause__, self.collision())
        self.assertNotIn("attempt", str(failures[0]))
        self.assertEqual(calls, [1, 1])
        self.assertEqual(await self.counts(), [1, 0])

    async def crossBumps(self, retry: int) -> tuple[list[BaseException], list[int]]:
        """
        Two transactions each bump one row, then the other's: a deadlock.
        """
        return await self.race(
            retry, None, self.bump, lambda index: self.bump(1 - index)
        )

    async def test_deadlockRetried(self) -> None:
        """
        With C{retry}, both transactions of a deadlock commit: the victim
        ran twice, and each row was bumped once by each.
        """
        failures, calls = await self.crossBumps(retry=3)
        self.assertEqual(failures, [])
        self.assertEqual(sorted(calls), [1, 2])
        self.assertEqual(await self.counts(), [2, 2])

    async def test_deadlockWithoutRetry(self) -> None:
        """
        Without C{retry}, the deadlock victim fails with L{TransactionError}
        caused by L{DeadlockError}, and only the other's bumps stay.
        """
        failures, calls = await self.crossBumps(retry=0)
        self.assertEqual(len(failures), 1, failures)
        self.assertIsInstance(failures[0].__cause__, DeadlockError)
        self.assertEqual(calls, [1, 1])
        self.assertEqual(await self.counts(), [1, 1])
