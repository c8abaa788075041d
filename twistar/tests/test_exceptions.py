"""
Tests for L{twistar.exceptions}: deadlocks, serialization failures and lock
waits provoked for real on each backend and driver, and the classes they
become.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, DeferredList
from twisted.trial import unittest

from twistar.exceptions import (
    ConcurrencyError,
    DatabaseError,
    DeadlockError,
    LockTimeoutError,
    OperationalError,
    PoolExhaustedError,
    ProgrammingError,
    SerializationError,
    TransactionError,
    TwistarError,
)
from twistar.registry import Registry
from twistar.tests.helpers import (
    MYSQL,
    POSTGRES,
    SQLITE,
    DBTestCase,
    closePool,
    initDB,
    makePool,
)
from twistar.utils import transaction

# A statement that makes this transaction's lock waits short.
_SHORT_LOCK_WAIT = {
    POSTGRES: "SET LOCAL lock_timeout = '100ms'",
    MYSQL: "SET SESSION innodb_lock_wait_timeout = 1",
}

# Whether sqlite3's errors carry their error code (Python 3.11 and later);
# without it SQLITE_BUSY_SNAPSHOT cannot be told from SQLITE_BUSY.
_SQLITE_CODES = sys.version_info >= (3, 11)


class ConcurrencyErrorTests(DBTestCase):
    """
    Transactions that collide fail with L{TransactionError} caused by a
    L{ConcurrencyError} subclass, which is also of the driver's class; with
    the first driver of each database.

    @ivar ids: the ids of two rows of C{tallies}, named C{"a"} and C{"b"}.
    """

    secondDriver = False

    async def setUp(self) -> None:
        driver = None
        if self.secondDriver:
            if self.backend == SQLITE:
                raise unittest.SkipTest("SQLite has one driver")
            driver = {POSTGRES: "psycopg", MYSQL: "pymysql"}[self.backend]
        self.pool = await initDB(self, driver=driver)
        self.config = Registry.getConfig()
        self.ids = [await self.config.insert("tallies", {"name": name, "count": 0})
                    for name in ("a", "b")]

    def assertCaused(self, error: BaseException, twistarClass: type[TwistarError]) -> None:
        """
        Assert that C{error} is a L{TransactionError} caused by a
        C{twistarClass} that is also of the class of the driver's exception,
        itself the C{__cause__}, with the same C{args}.
        """
        self.assertIsInstance(error, TransactionError)
        self.assertIsInstance(error.__cause__, twistarClass)
        self.assertTranslated(error.__cause__)

    def assertTranslated(self, error: BaseException | None) -> None:
        """
        Assert that C{error} is a twistar exception that is also of the
        class of the driver's exception it was translated from.
        """
        original = error.__cause__ if error is not None else None
        self.assertIsInstance(original, self.pool.dbapi.OperationalError)
        self.assertNotIsInstance(original, TwistarError)
        self.assertIsInstance(error, type(original))
        self.assertEqual(error.args, original.args)  # type: ignore[union-attr]

    async def counts(self) -> list[int]:
        """
        @return: the C{count} of rows C{"a"} and C{"b"}.
        """
        rows = await self.config.select("tallies", orderby="name")
        return [row["count"] for row in rows]

    async def holding(
        self, id: int, then: Callable[[], Awaitable[Any]]
    ) -> Any:
        """
        Await C{then()} while a transaction holds a write lock on row
        C{id}; that transaction then commits.

        @return: what C{then()} returned.
        """
        held: Deferred[None] = Deferred()
        release: Deferred[None] = Deferred()

        @transaction
        async def hold(txn: Any) -> None:
            await self.config.update("tallies", {"count": 1}, where=["id = ?", id])
            held.callback(None)
            await release

        holder = hold()
        try:
            await held
            return await then()
        finally:
            release.callback(None)
            await holder

    async def crossLocks(
        self, then: Callable[[int, int], Awaitable[Any]]
    ) -> list[BaseException]:
        """
        Run two transactions that each lock one row, wait until the other
        has locked the other row, then await C{then(mine, theirs)}, which
        writes the other row (a deadlock).

        @return: the failures of the two transactions.
        """
        locked: list[Deferred[None]] = [Deferred(), Deferred()]

        @transaction
        async def cross(txn: Any, mine: int, theirs: int, index: int) -> None:
            await self.config.update("tallies", {"count": 1}, where=["id = ?", mine])
            locked[index].callback(None)
            await locked[1 - index]
            await then(mine, theirs)

        first, second = self.ids
        results = await DeferredList(
            [cross(first, second, 0), cross(second, first, 1)], consumeErrors=True
        )
        return [result.value for ok, result in results if not ok]

    async def test_deadlock(self) -> None:
        """
        Of two transactions that each lock one row and then wait for the
        other's, one commits and the other fails with a L{DeadlockError}
        cause, as the database broke the deadlock.
        """
        if self.backend == SQLITE:
            raise unittest.SkipTest("SQLite writes one transaction at a time: no deadlocks")

        async def writeTheirs(mine: int, theirs: int) -> None:
            await self.config.update("tallies", {"count": 2}, where=["id = ?", theirs])

        failures = await self.crossLocks(writeTheirs)
        self.assertEqual(len(failures), 1, failures)
        self.assertCaused(failures[0], DeadlockError)
        self.assertEqual(sorted(await self.counts()), [1, 2])

    async def test_deadlockVictimGoingOn(self) -> None:
        """
        A deadlock victim whose function catches the L{DeadlockError} and
        goes on writing still fails, and nothing it wrote stays: on MySQL
        and MariaDB the server rolled its whole transaction back, so twistar
        refuses to commit what came after (it would be committed alone).
        """
        if self.backend == SQLITE:
            raise unittest.SkipTest("SQLite writes one transaction at a time: no deadlocks")

        async def writeTheirsOrMine(mine: int, theirs: int) -> None:
            try:
                await self.config.update("tallies", {"count": 2}, where=["id = ?", theirs])
            except DeadlockError:
                await self.config.update("tallies", {"count": 5}, where=["id = ?", mine])

        failures = await self.crossLocks(writeTheirsOrMine)
        self.assertEqual(len(failures), 1, failures)
        self.assertIsInstance(failures[0], TransactionError)
        if self.backend == MYSQL:
            self.assertCaused(failures[0], DeadlockError)
        self.assertEqual(sorted(await self.counts()), [1, 2])

    async def test_serializationFailure(self) -> None:
        """
        A transaction that read a row, then writes it after another
        transaction changed it, fails with a L{SerializationError} cause:
        PostgreSQL at C{REPEATABLE READ}, MariaDB with
        C{innodb_snapshot_isolation}.
        """
        if self.backend == SQLITE:
            raise unittest.SkipTest(
                "SQLite transactions take the write lock when they begin: no other "
                "write comes between their read and their write"
            )
        if self.backend == MYSQL:
            rows = await self.config.execute("SHOW VARIABLES LIKE 'innodb_snapshot_isolation'")
            if not rows:
                raise unittest.SkipTest("this server has no innodb_snapshot_isolation")
        first = self.ids[0]

        @transaction(isolation="REPEATABLE READ")
        async def stale(txn: Any) -> None:
            if self.backend == MYSQL:
                await self.config.executeOperation("SET SESSION innodb_snapshot_isolation = ON")
            await self.config.select("tallies", id=first)
            # Another connection changes the row and commits.
            await self.pool.runInteraction(
                lambda cursor: cursor.execute(f"UPDATE tallies SET name = 'c' WHERE id = {first}")
            )
            await self.config.update("tallies", {"count": 3}, where=["id = ?", first])

        error = await self.assertFailure(stale(), TransactionError)
        self.assertCaused(error, SerializationError)
        self.assertEqual(await self.counts(), [0, 0])

    async def test_lockWaitTimeout(self) -> None:
        """
        A transaction whose wait for a lock outlasts its lock timeout fails
        with a L{LockTimeoutError} cause; the holder of the lock commits. On
        SQLite, the lock is the database's write lock, which a transaction
        waits for when it begins, up to the connection's C{timeout}.
        """
        first = self.ids[0]
        waitPool = self.pool
        if self.backend == SQLITE:
            waitPool = adbapi.ConnectionPool(
                "sqlite3", *self.pool.connargs, check_same_thread=False, timeout=0.1
            )
            self.addCleanup(closePool, waitPool)

        @transaction
        async def wait(txn: Any) -> None:
            if self.backend != SQLITE:
                await self.config.executeOperation(_SHORT_LOCK_WAIT[self.backend])
            await self.config.update("tallies", {"count": 2}, where=["id = ?", first])

        async def waitOn() -> BaseException:
            Registry.DBPOOL = waitPool
            try:
                return await self.assertFailure(wait(), TransactionError)
            finally:
                Registry.DBPOOL = self.pool

        error = await self.holding(first, waitOn)
        self.assertCaused(error, LockTimeoutError)
        self.assertEqual(await self.counts(), [1, 0])

    async def test_noWait(self) -> None:
        """
        C{SELECT ... FOR UPDATE NOWAIT} of a locked row, outside a
        transaction, fails at once with L{LockTimeoutError}.
        """
        if self.backend == SQLITE:
            raise unittest.SkipTest("SQLite has no row locks")
        first = self.ids[0]
        query = f"SELECT id FROM tallies WHERE id = {first} FOR UPDATE NOWAIT"
        error = await self.holding(
            first, lambda: self.assertFailure(self.config.execute(query), LockTimeoutError)
        )
        self.assertTranslated(error)


class SecondDriverConcurrencyErrorTests(ConcurrencyErrorTests):
    """
    L{ConcurrencyErrorTests} with the second driver of each server database:
    psycopg (3) for PostgreSQL, PyMySQL for MariaDB.
    """

    secondDriver = True


class SQLiteLockTests(unittest.TestCase):
    """
    SQLite's lock errors, on an SQLite pool whatever the test backend.
    """

    def setUp(self) -> None:
        self.pool = makePool(url=SQLITE)
        Registry.DBPOOL = self.pool
        self.addCleanup(closePool, self.pool)

    async def test_tableLocked(self) -> None:
        """
        Reading a table of a shared-cache database that another connection
        is writing fails with L{LockTimeoutError} (C{SQLITE_LOCKED}).
        """
        uri = f"file:locked{id(self)}?mode=memory&cache=shared"
        writer = sqlite3.connect(uri, uri=True, isolation_level=None)
        self.addCleanup(writer.close)
        writer.execute("CREATE TABLE things (name TEXT)")
        writer.execute("BEGIN")
        writer.execute("INSERT INTO things VALUES ('x')")
        self.addCleanup(writer.execute, "ROLLBACK")
        pool = adbapi.ConnectionPool("sqlite3", uri, uri=True, check_same_thread=False)
        Registry.DBPOOL = pool
        self.addCleanup(closePool, pool)
        error = await self.assertFailure(
            Registry.getConfig().execute("SELECT name FROM things"), LockTimeoutError
        )
        self.assertIsInstance(error, sqlite3.OperationalError)
        self.assertIn("locked", str(error))

    async def test_staleSnapshot(self) -> None:
        """
        Work that opened a deferred transaction itself, read, and then
        writes after another connection wrote fails with
        L{SerializationError} (C{SQLITE_BUSY_SNAPSHOT}); on Python 3.10,
        whose errors carry no code, with L{LockTimeoutError}.
        """
        (path,) = self.pool.connargs
        config = Registry.getConfig()
        await config.executeOperation("CREATE TABLE things (name TEXT)")
        await config.executeOperation("INSERT INTO things VALUES ('x')")

        def stale(cursor: Any) -> None:
            cursor.execute("BEGIN")
            cursor.execute("SELECT name FROM things").fetchall()
            other = sqlite3.connect(path, isolation_level=None)
            try:
                other.execute("UPDATE things SET name = 'y'")
            finally:
                other.close()
            cursor.execute("UPDATE things SET name = 'z'")

        error = await self.assertFailure(
            config.runInteraction(stale), SerializationError if _SQLITE_CODES else LockTimeoutError
        )
        self.assertIsInstance(error, sqlite3.OperationalError)
        self.assertEqual(await config.execute("SELECT name FROM things"), [("y",)])

    def test_messagesWithoutCodes(self) -> None:
        """
        An error without C{sqlite_errorcode} (as on Python 3.10) is
        classified by its message.
        """
        config = Registry.getConfig()
        for message, expected in [
            ("database is locked", LockTimeoutError),
            ("database table is locked: things", LockTimeoutError),
            ("database schema is locked: main", LockTimeoutError),
            ("disk I/O error", OperationalError),
            ("no such column: nope", ProgrammingError),
        ]:
            translated = config.translateError(sqlite3.OperationalError(message))
            self.assertIsInstance(translated, expected)
            self.assertEqual(type(translated).__name__, expected.__name__)
            self.assertIsInstance(translated, sqlite3.OperationalError)


class HierarchyTests(unittest.TestCase):
    """
    Where the concurrency and pool errors sit among twistar's exceptions.
    """

    def test_hierarchy(self) -> None:
        """
        L{DeadlockError}, L{SerializationError} and L{LockTimeoutError} are
        L{ConcurrencyError}s, so L{OperationalError}s; L{PoolExhaustedError}
        is no L{DatabaseError}, since no database reported it.
        """
        for klass in (DeadlockError, SerializationError, LockTimeoutError):
            self.assertTrue(issubclass(klass, ConcurrencyError))
        self.assertTrue(issubclass(ConcurrencyError, OperationalError))
        self.assertTrue(issubclass(PoolExhaustedError, TwistarError))
        self.assertFalse(issubclass(PoolExhaustedError, DatabaseError))
