"""
Tests for read replicas (L{twistar.replicas}, L{Registry.addReplica}) on
real replication: a PostgreSQL hot standby streaming from the test
database's server, or a MariaDB GTID replica of it, named by
C{TWISTAR_TEST_REPLICA} (C{scripts/run_tests.py} starts one and sets it).

Where a read ran is seen twice: each L{Replica} counts the reads it ran,
and the view C{server_roles} answers, on the server that reads it, whether
that server is a replica. While a replica's replay is paused
(C{pg_wal_replay_pause()}, C{STOP SLAVE SQL_THREAD}), a row written since
is on the primary only, so a read that finds it did not run on the replica,
and one that misses it did.

A test runs each "request" in a context of its own (L{newContext}), as a
service running each request in its own coroutine does: the writes of one
context make its reads wait for the replica, not those of the others.
"""

from __future__ import annotations

import contextvars
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from twisted.internet import defer, reactor, threads
from twisted.internet.task import deferLater
from twisted.trial import unittest

from twistar.dbconfig.mysql import MySQLDBConfig
from twistar.dbconfig.postgres import PostgreSQLDBConfig
from twistar.exceptions import SerializationError, TwistarError
from twistar.registry import Registry
from twistar.replicas import Replica, onPrimary, writesOfContext, writtenPosition
from twistar.tests.helpers import (
    MYSQL,
    POSTGRES,
    SQLITE,
    DBTestCase,
    closePool,
    makePool,
    restoreRegistry,
    testDatabase,
)
from twistar.tests.models import Picture, User
from twistar.tests.servercontrol import (
    REPLICA_ENV_VAR,
    ServerControl,
    replicaFromEnvironment,
)
from twistar.transaction import transaction

T = TypeVar("T")

POLL_TIMEOUT = 20.0
"""Seconds a test waits for a replica to catch up (or come back)."""


def underCI() -> bool:
    """
    @return: whether the tests run under CI (C{CI} is set), where a missing
        replica fails them.
    """
    return bool(os.environ.get("CI", "").strip())


def requireReplica(testCase: unittest.TestCase, what: str) -> None:
    """
    Skip C{testCase} (fail it under CI) for want of C{what}.
    """
    message = f"no {what}: run the tests with scripts/run_tests.py, which starts one"
    if underCI():
        testCase.fail(message)
    raise unittest.SkipTest(message)


async def poll(check: Callable[[], Awaitable[bool]], what: str,
               timeout: float = POLL_TIMEOUT) -> None:
    """
    Call C{check} every few milliseconds until it gives C{True}.

    @raise AssertionError: if it has not after C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout}s")
        await deferLater(reactor, 0.02, lambda: None)


def newContext() -> contextvars.Context:
    """
    @return: a context of its own (a request's), with no writes yet, for
        L{inContext}.
    """
    context = contextvars.copy_context()
    context.run(writesOfContext)
    return context


def inContext(
    context: contextvars.Context, coroutine: Callable[[], Awaitable[T]]
) -> defer.Deferred[T]:
    """
    Run C{coroutine()} in (a copy of) C{context}: its writes are those of
    C{context}'s other coroutines.
    """

    async def run() -> T:
        return await coroutine()

    return context.run(defer.ensureDeferred, run())


def _makeServerRoles(txn: Any, kind: str) -> None:
    """
    Make the view C{server_roles}: one row whose column C{replica} says
    whether the server reading it is a replica.
    """
    if kind == POSTGRES:
        txn.execute("CREATE OR REPLACE VIEW server_roles AS SELECT pg_is_in_recovery() AS replica")
        return
    # The replica runs read-only, its primary does not.
    txn.execute(
        "CREATE FUNCTION IF NOT EXISTS twistar_read_only() RETURNS INTEGER "
        "NOT DETERMINISTIC NO SQL SQL SECURITY INVOKER RETURN @@read_only"
    )
    txn.execute(
        "CREATE OR REPLACE SQL SECURITY INVOKER VIEW server_roles AS "
        "SELECT twistar_read_only() AS replica"
    )


_viewsMade: set[str] = set()


async def serverRole(primary: bool = False) -> str:
    """
    @param primary: read on the primary (C{Registry.getConfig(primary=True)}).
    @return: C{"replica"} or C{"primary"}: the server a low-level read of
        C{server_roles} ran on.
    """
    rows = await Registry.getConfig(primary=primary).select("server_roles")
    return "replica" if rows[0]["replica"] else "primary"


def closedPort() -> int:
    """
    @return: a port of 127.0.0.1 nothing listens on.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class FakePool:
    """
    Just enough of a connection pool for the registry's checks.
    """

    def __init__(self, dbapiName: str) -> None:
        self.dbapiName = dbapiName


class AddReplicaTests(unittest.SynchronousTestCase):
    """
    L{Registry.addReplica} and L{Registry.removeReplica}, without replication.
    """

    def setUp(self) -> None:
        restoreRegistry(self)
        Registry.DBPOOL = FakePool("psycopg2")  # type: ignore[assignment]

    def test_sqlite(self) -> None:
        """
        SQLite has no replicas: a SQLite pool is refused as one, and so is
        any replica of a SQLite database.
        """
        pool = makePool(SQLITE)
        self.addCleanup(closePool, pool)
        Registry.DBPOOL = None
        error = self.assertRaises(TwistarError, Registry.addReplica, pool)
        self.assertIn("sqlite3", str(error))
        Registry.DBPOOL = pool
        self.assertRaises(TwistarError, Registry.addReplica, pool)
        self.assertRaises(TwistarError, Registry.addReplica, FakePool("psycopg2"))
        self.assertIsNone(Registry.replicasOf())

    def test_addAndRemove(self) -> None:
        """
        Replicas are kept in the order they are added, with their settings,
        until removed.
        """
        first, second = FakePool("psycopg2"), FakePool("psycopg2")
        Registry.addReplica(first)  # type: ignore[arg-type]
        Registry.addReplica(second, maxLag=2, checkInterval=0.5, retryAfter=3)  # type: ignore[arg-type]
        replicas = Registry.replicasOf()
        assert replicas is not None
        self.assertEqual([r.pool for r in replicas.replicas], [first, second])
        replica = replicas.replicas[1]
        self.assertEqual(
            (replica.maxLag, replica.checkInterval, replica.retryAfter, replica.reads),
            (2.0, 0.5, 3.0, 0),
        )
        Registry.removeReplica(first)  # type: ignore[arg-type]
        self.assertEqual([r.pool for r in Registry.replicasOf().replicas], [second])  # type: ignore[union-attr]
        self.assertRaises(TwistarError, Registry.removeReplica, first)
        Registry.removeReplica(second)  # type: ignore[arg-type]
        self.assertIsNone(Registry.replicasOf())

    def test_refused(self) -> None:
        """
        Bad settings, a bad database name, something that is not a pool and
        a pool of another driver than the primary's are refused with
        L{TwistarError}, adding nothing.
        """
        pool = FakePool("psycopg2")
        for name in ("maxLag", "checkInterval", "retryAfter"):
            for value in (-1, float("inf"), float("nan"), "1", True, None):
                self.assertRaises(TwistarError, Registry.addReplica, pool, **{name: value})
        for database in ("", None, 3):
            self.assertRaises(TwistarError, Registry.addReplica, pool, database)
        for other in (object(), None, FakePool("psycopg"), FakePool("MySQLdb"),
                      FakePool("oracledb")):
            self.assertRaises(TwistarError, Registry.addReplica, other)
        Registry.addDatabase("mine", FakePool("MySQLdb"))  # type: ignore[arg-type]
        self.assertRaises(TwistarError, Registry.addReplica, pool, "mine")
        self.assertIsNone(Registry.replicasOf())
        self.assertIsNone(Registry.replicasOf("mine"))
        self.assertRaises(TwistarError, Registry.removeReplica, pool, "nowhere")


class LogPositionTests(unittest.SynchronousTestCase):
    """
    The log positions of each database, as read and compared.
    """

    def test_postgresLSN(self) -> None:
        """
        A PostgreSQL LSN is a 64-bit number; one just past a WAL page's
        header is read as the page's start, where a standby that replayed
        the last record stands.
        """
        config = PostgreSQLDBConfig()
        self.assertEqual(config.parseLogPosition("1/2A"), (1 << 32) + 0x2A)
        self.assertEqual(config.parseLogPosition("0/4002018"), 0x4002000)
        self.assertEqual(config.parseLogPosition("0/4002019"), 0x4002019)
        self.assertTrue(config.logPositionReached(0x4002000, 0x4002000))
        self.assertFalse(config.logPositionReached(0x4001FFF, 0x4002000))

    def test_mariadbGTIDs(self) -> None:
        """
        A MariaDB position is a sequence number per replication domain; it
        is reached when every domain's is.
        """
        config = MySQLDBConfig()
        self.assertEqual(config.parseLogPosition(b"0-1-42,2-5-7"), {0: 42, 2: 7})
        self.assertEqual(config.parseLogPosition(""), {})
        self.assertTrue(config.logPositionReached({0: 42, 2: 8}, {0: 42, 2: 7}))
        self.assertFalse(config.logPositionReached({0: 43}, {0: 42, 2: 7}))
        self.assertTrue(config.logPositionReached({0: 1}, {}))


class ServerTestCase(DBTestCase):
    """
    A test of a server database, which can have replicas (skipped on
    SQLite, which cannot).
    """

    async def setUp(self) -> None:
        if self.backend == SQLITE:
            raise unittest.SkipTest("SQLite has no replicas (see AddReplicaTests.test_sqlite)")
        await super().setUp()
        restoreRegistry(self)

    async def written(self, coroutine: Callable[[], Awaitable[T]]) -> T:
        """
        @return: the result of C{coroutine()}, run in a context of its own
            (so its writes leave the test's reads alone).
        """
        return await inContext(newContext(), coroutine)

    def addReplica(
        self, pool: Any, maxLag: float = 30.0, checkInterval: float = 1.0,
        retryAfter: float = 5.0,
    ) -> Replica:
        """
        Add C{pool} as a replica of the default database for this test,
        with L{Registry.addReplica}'s settings.

        @return: its L{Replica}.
        """
        Registry.addReplica(
            pool, maxLag=maxLag, checkInterval=checkInterval, retryAfter=retryAfter
        )
        replicas = Registry.replicasOf()
        assert replicas is not None
        return replicas.replicas[-1]

    async def readAll(self, users: list[User]) -> None:
        """
        Read each of C{users} at once, checking what each read finds.
        """
        found = await defer.gatherResults([User.find(u.id) for u in users], consumeErrors=True)
        self.assertEqual([u.first_name for u in found], [u.first_name for u in users])


class FailingReplicaTests(ServerTestCase):
    """
    A replica that cannot be reached (a pool of a port nothing listens on):
    no read fails, and it is tried again after its C{retryAfter}.
    """

    async def test_unreachable(self) -> None:
        """
        Many reads at once on a database whose replica is unreachable all
        succeed, on the primary; the replica is set aside, then tried
        again after its C{retryAfter}.
        """
        parts = urlsplit(testDatabase())
        url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{closedPort()}"))
        pool = makePool(url, self.pool.dbapiName)
        self.addCleanup(closePool, pool)
        users = await self.written(
            lambda: User.createMany([User(first_name=f"u{i}") for i in range(20)])
        )
        replica = self.addReplica(pool, retryAfter=0.2)
        started = time.monotonic()
        for _ in range(5):
            await self.readAll(users)
        self.assertEqual(replica.reads, 0)
        failedUntil = replica.unusableUntil
        self.assertGreater(failedUntil, started)

        async def triedAgain() -> bool:
            await self.readAll(users[:1])
            return replica.unusableUntil > failedUntil

        await poll(triedAgain, "the replica to be tried again")
        self.assertEqual(replica.reads, 0)


class ReplicaTests(ServerTestCase):
    """
    Reads on the replica of C{TWISTAR_TEST_REPLICA}.

    @ivar replica: the L{Replica} added for the test: it checks its lag
        once a minute unless a test says otherwise.
    """

    async def setUp(self) -> None:
        if self.backend != SQLITE and not os.environ.get(REPLICA_ENV_VAR, "").strip():
            requireReplica(self, f"replica ({REPLICA_ENV_VAR} is not set)")
        await super().setUp()
        if testDatabase() not in _viewsMade:
            await self.pool.runInteraction(_makeServerRoles, self.backend)
            _viewsMade.add(testDatabase())
        self.paused = False
        self.replicaPool = makePool(
            os.environ[REPLICA_ENV_VAR].strip(), self.pool.dbapiName, cp_reconnect=True
        )
        self.addCleanup(closePool, self.replicaPool)
        self.addCleanup(self.resume)
        await self.waitForReplica()
        self.replica = self.addReplica(self.replicaPool, checkInterval=60, retryAfter=0.2)

    # -- replication --------------------------------------------------------------

    async def primaryPosition(self) -> Any:
        """
        @return: the primary's log position now.
        """
        config = Registry.getConfig()
        assert config.logPositionQuery is not None
        rows = await self.pool.runQuery(config.logPositionQuery)
        return config.parseLogPosition(rows[0][0])

    async def waitForReplica(self) -> None:
        """
        Wait until the replica replicates (its lag is known) and has
        replayed everything committed so far.
        """
        config = Registry.getConfig()
        wanted = await self.primaryPosition()

        async def reached() -> bool:
            position, lag = await self.replicaPool.runInteraction(config.replicaState)
            return (
                position is not None and lag is not None
                and config.logPositionReached(position, wanted)
            )

        await poll(reached, "the replica to catch up")

    async def pause(self) -> None:
        """
        Stop the replica replaying what the primary writes (it still
        receives it) until L{resume}.
        """
        statement = {POSTGRES: "SELECT pg_wal_replay_pause()", MYSQL: "STOP SLAVE SQL_THREAD"}
        await self.replicaPool.runOperation(statement[self.backend])
        self.paused = True

    async def resume(self) -> None:
        """
        Let the replica replay again.
        """
        if self.paused:
            statement = {POSTGRES: "SELECT pg_wal_replay_resume()",
                         MYSQL: "START SLAVE SQL_THREAD"}
            await self.replicaPool.runOperation(statement[self.backend])
            self.paused = False

    async def replicaRows(self) -> int:
        """
        @return: how many rows C{users} has on the replica, read without
            twistar.
        """
        rows = await self.replicaPool.runQuery("SELECT COUNT(*) FROM users")
        return int(rows[0][0])

    async def onReplica(self, read: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """
        @return: what C{read()} gives, and whether it read on the replica.
        """
        before = self.replica.reads
        value = await read()
        return value, self.replica.reads > before

    # -- tests ------------------------------------------------------------------------

    async def test_readsOnReplica(self) -> None:
        """
        Reads outside transactions, in a context that wrote nothing, run on
        the replica: finders, the query layer, eager loading, refresh and
        the low-level API. The C{primary=True} config reads the primary.
        """
        users = await self.written(lambda: User.createMany(
            [User(first_name=f"u{i}", age=i) for i in range(5)]
        ))
        await self.written(lambda: Picture(name="p", user_id=users[0].id).save())
        await self.waitForReplica()
        self.assertIsNone(writtenPosition(self.pool))
        before = self.replica.reads
        self.assertEqual(await serverRole(), "replica")
        self.assertEqual((await User.find(users[1].id)).first_name, "u1")
        self.assertEqual(await User.count(), 5)
        self.assertEqual(await User.where("age > ?", 2).order("id").pluck("first_name"),
                         ["u3", "u4"])
        loaded = await User.find(users[0].id, include=["pictures"])
        self.assertEqual(self.replica.reads - before, 6)
        self.assertEqual([p.name for p in await loaded.pictures.get()], ["p"])
        self.assertEqual(await Registry.getConfig().count("users"), 5)
        await loaded.refresh()
        self.assertEqual(self.replica.reads - before, 8)
        self.assertEqual(await serverRole(primary=True), "primary")
        self.assertEqual(await Registry.getConfig(primary=True).count("users"), 5)
        self.assertEqual(self.replica.reads - before, 8)

    async def test_inTurn(self) -> None:
        """
        Reads go to the replicas in turn.
        """
        otherPool = makePool(os.environ[REPLICA_ENV_VAR].strip(), self.pool.dbapiName)
        self.addCleanup(closePool, otherPool)
        other = self.addReplica(otherPool, checkInterval=60)
        before = (self.replica.reads, other.reads)
        for _ in range(10):
            self.assertEqual(await serverRole(), "replica")
        self.assertEqual((self.replica.reads - before[0], other.reads - before[1]), (5, 5))

    async def test_readYourWrites(self) -> None:
        """
        While the replica does not replay, a context that wrote reads what
        it wrote (from the primary), a context that did not reads the
        replica (stale); once the replica has caught up, the writer reads
        the replica again.
        """
        old = await self.written(lambda: User(first_name="old", age=1).save())
        await self.waitForReplica()
        # Its lag is checked now, not again for a minute.
        self.assertEqual((await self.onReplica(User.count))[1], True)
        await self.pause()
        writer = newContext()

        async def write() -> User:
            old.first_name = "changed"
            await old.save()
            return await User(first_name="new", age=2).save()

        new = await inContext(writer, write)
        # Another context reads the replica, which has not replayed them.
        self.assertEqual(await self.onReplica(lambda: User.find(new.id)), (None, True))
        found, onReplica = await self.onReplica(lambda: User.find(old.id))
        self.assertEqual((found.first_name, onReplica), ("old", True))
        # From now on, a lagging replica is set aside for a moment only.
        self.replica.checkInterval = 0.05

        async def readBack() -> None:
            self.assertEqual((await User.find(new.id)).first_name, "new")
            self.assertEqual((await User.find(old.id)).first_name, "changed")
            self.assertEqual(await User.count(), 2)
            self.assertEqual(await User.where(age=2).pluck("first_name"), ["new"])
            self.assertEqual(await Registry.getConfig().count("users", where=["age = ?", 2]), 1)
            await old.refresh()
            self.assertEqual(old.first_name, "changed")

        before = self.replica.reads
        await inContext(writer, readBack)
        self.assertEqual(self.replica.reads, before)
        await self.resume()

        async def backOnReplica() -> bool:
            found, onReplica = await self.onReplica(lambda: User.find(new.id))
            self.assertEqual(found.first_name, "new")
            return onReplica

        await poll(lambda: inContext(writer, backOnReplica), "the writer to read the replica")

    async def readAfterWrite(self, request: Callable[[], Any]) -> None:
        """
        Run C{request}, which writes a user and reads it back (asserting it
        finds it), while the replica does not replay; check that the
        replica has not the user, so the read ran on the primary.
        """
        # Checked now (not again for a minute): the read goes where the
        # writes of its context say.
        self.assertTrue((await self.onReplica(User.count))[1])
        await self.pause()
        # In a copy of this test's context, which has written nothing.
        self.assertIsNone(writtenPosition(self.pool))
        await defer.ensureDeferred(request())
        self.assertEqual(await self.replicaRows(), 0)

    async def test_readAfterAwaitedWrite(self) -> None:
        """
        A read after an awaited write, in the same coroutine, sees it.
        """

        async def request() -> None:
            user = await User(first_name="awaited").save()
            self.assertIsNotNone(await User.find(user.id))

        await self.readAfterWrite(request)

    async def test_readInWriteCallback(self) -> None:
        """
        A read made in the callback of a write sees it.
        """

        async def request() -> None:
            found = await User(first_name="chained").save().addCallback(
                lambda user: User.find(user.id)
            )
            self.assertIsNotNone(found)

        await self.readAfterWrite(request)

    async def test_readInTransactionCallback(self) -> None:
        """
        A read made in the callback of a transaction sees what it wrote.
        """

        @transaction
        async def work(txn: Any) -> User:
            return await User(first_name="transaction").save()

        async def request() -> None:
            found = await work().addCallback(lambda user: User.find(user.id))
            self.assertIsNotNone(found)

        await self.readAfterWrite(request)

    async def test_readAfterRetriedTransaction(self) -> None:
        """
        A read after a transaction that committed at its second attempt sees
        what it wrote.
        """
        attempts = []

        @transaction(retry=1)
        async def work(txn: Any) -> User:
            attempts.append(txn)
            user = await User(first_name="retried").save()
            if len(attempts) == 1:
                raise SerializationError("conflict")
            return user

        async def request() -> None:
            user = await work()
            self.assertIsNotNone(await User.find(user.id))

        await self.readAfterWrite(request)
        self.assertEqual(len(attempts), 2)

    async def test_readAfterWriteInlineCallbacks(self) -> None:
        """
        A read after a write, in the same C{inlineCallbacks} generator, sees
        it.
        """

        @defer.inlineCallbacks
        def request() -> Any:
            user = yield User(first_name="generator").save()
            found = yield User.find(user.id)
            self.assertIsNotNone(found)

        await self.readAfterWrite(request)

    async def test_updatesInARow(self) -> None:
        """
        With replication running (the replica a little behind), each read
        after a write sees that write.
        """

        async def request() -> None:
            user = await User(first_name="counter", age=0).save()
            for value in range(1, 30):
                user.age = value
                await user.save()
                self.assertEqual((await User.find(user.id)).age, value)
                self.assertEqual(await User.where(age=value).count(), 1)

        await inContext(newContext(), request)

    async def test_transaction(self) -> None:
        """
        A transaction never reads the replica, and the reads after its
        commit see what it wrote.
        """
        await self.pause()
        before = self.replica.reads

        async def request() -> None:
            async with transaction():
                user = await User(first_name="in", age=1).save()
                self.assertEqual((await User.find(user.id)).first_name, "in")
                self.assertEqual(await User.count(), 1)
                self.assertEqual(await serverRole(), "primary")
                await User.where(age=1).lock().all()
                self.assertEqual(await user.pictures.get(), [])
            self.assertEqual(await User.count(), 1)

            @transaction
            async def decorated(txn: Any) -> None:
                await User(first_name="decorated").save()
                self.assertEqual(await User.count(), 2)
                self.assertEqual(await serverRole(), "primary")

            await decorated()
            self.assertEqual(await User.count(), 2)

        await inContext(newContext(), request)
        self.assertEqual(self.replica.reads, before)
        self.assertEqual(await self.replicaRows(), 0)

    async def test_onPrimary(self) -> None:
        """
        C{onPrimary()} and C{Model.using(primary=True)} read the primary,
        even in a context that wrote nothing.
        """
        self.assertTrue((await self.onReplica(User.count))[1])
        await self.pause()
        user = await self.written(lambda: User(first_name="new").save())
        self.assertEqual(await self.onReplica(lambda: User.find(user.id)), (None, True))
        before = self.replica.reads
        with onPrimary():
            self.assertEqual(await User.count(), 1)
            self.assertEqual(await serverRole(), "primary")
        async with onPrimary():
            self.assertEqual((await User.find(user.id)).first_name, "new")
        primary = User.using(primary=True)
        self.assertEqual((await primary.find(user.id)).first_name, "new")
        self.assertEqual(await primary.count(), 1)
        self.assertEqual(await primary.where(first_name="new").pluck("id"), [user.id])
        self.assertEqual(self.replica.reads, before)
        self.assertEqual(await serverRole(), "replica")

    async def test_maxLag(self) -> None:
        """
        A replica lagging more than its C{maxLag} is set aside: reads of
        contexts that wrote nothing go to the primary, until it catches up.
        """
        Registry.removeReplica(self.replicaPool)
        self.replica = self.addReplica(self.replicaPool, maxLag=0.2, checkInterval=0.05)
        self.assertTrue((await self.onReplica(User.count))[1])
        await self.pause()
        user = await self.written(lambda: User(first_name="new").save())

        async def setAside() -> bool:
            found, onReplica = await self.onReplica(lambda: User.find(user.id))
            return not onReplica

        await poll(setAside, "the lagging replica to be set aside")
        for _ in range(3):
            found, onReplica = await self.onReplica(lambda: User.find(user.id))
            self.assertEqual((found.first_name, onReplica), ("new", False))
        await self.resume()

        async def usedAgain() -> bool:
            return (await self.onReplica(User.count))[1]

        await poll(usedAgain, "the replica to be used again")

    async def test_stopped(self) -> None:
        """
        While the replica stops, many reads at once all succeed (on the
        primary once the replica is down); once it is back, it is used
        again after its C{retryAfter}.
        """
        control = replicaFromEnvironment()
        if control is None:
            requireReplica(self, "replica to stop (TWISTAR_TEST_REPLICA_STATE is not set)")
        assert control is not None
        self.addCleanup(self.ensureRunning, control)
        users = await self.written(
            lambda: User.createMany([User(first_name=f"u{i}") for i in range(50)])
        )
        await self.waitForReplica()
        self.assertTrue((await self.onReplica(lambda: self.readAll(users)))[1])
        started = time.monotonic()
        stopping = threads.deferToThread(control.stop)
        batches = 0
        while not stopping.called or batches < 3:
            await self.readAll(users)
            batches += 1
        await stopping
        down = self.replica.reads
        for _ in range(3):
            await self.readAll(users)
        self.assertEqual(self.replica.reads, down)
        self.assertGreater(self.replica.unusableUntil, started)
        await threads.deferToThread(control.start)

        async def usedAgain() -> bool:
            return (await self.onReplica(lambda: self.readAll(users[:1])))[1]

        await poll(usedAgain, "the restarted replica to be used again")

    @staticmethod
    def ensureRunning(control: ServerControl) -> defer.Deferred[None]:
        """
        Start the replica again if a test left it stopped.
        """

        def ensure() -> None:
            if not control.isRunning():
                control.start()

        return threads.deferToThread(ensure)


class SecondDriverReplicaTests(ReplicaTests):
    """
    L{ReplicaTests} through the backend's other driver.
    """

    secondDriver = True


class SecondDriverFailingReplicaTests(FailingReplicaTests):
    """
    L{FailingReplicaTests} through the backend's other driver.
    """

    secondDriver = True
