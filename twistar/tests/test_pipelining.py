"""
Tests for L{twistar.pipelining}: on a L{PostgresPool}, one-statement writes
given in one reactor turn share a pipeline and a commit, and each still
gets its own outcome.
"""

from __future__ import annotations

import time
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, DeferredList, gatherResults

from twistar import pipelining
from twistar.exceptions import (
    ConnectionLostError,
    DatabaseError,
    PoolExhaustedError,
    StaleObjectError,
    TwistarError,
    UnsupportedValueError,
)
from twistar.pipelining import PIPELINE_SIZE
from twistar.querylog import QueryRecorder
from twistar.tests.models import Draft, User
from twistar.tests.test_pgpool import PoolCase, TracedPool, sleep

try:
    import psycopg
except ImportError:
    psycopg = None  # type: ignore[assignment]  # the tests are skipped


async def outcomes(writes: list[Deferred[Any]]) -> list[tuple[bool, Any]]:
    """
    @return: each write's success and result (or failure), once all ended.
    """
    return await DeferredList(writes, consumeErrors=True)


class PipelinedWritesTests(TracedPool):
    """
    Saves and low-level inserts given in one turn run, on the next, in one
    pipeline: one round trip and one commit. When one of their statements
    fails, each runs again alone, so that only it fails.
    """

    async def test_onePipeline(self) -> None:
        """
        New and loaded objects saved, and a row inserted, in one turn: their
        statements go to the server in one round trip, in one transaction,
        and each object gets its own id.
        """
        loaded: Any = await User(first_name="loaded").save()
        loaded.first_name = "changed"
        first, second = User(first_name="first"), User(first_name="second")

        async def writes() -> None:
            results = await outcomes([
                first.save(), loaded.save(), second.save(),
                self.config.insert("users", {"first_name": "low"}),
            ])
            self.assertTrue(all(ok for ok, _ in results), results)

        self.assertEqual(await self.roundTrips(writes), [
            (["BEGIN", "INSERT 0 1", "UPDATE 1", "INSERT 0 1", "INSERT 0 1", "COMMIT"], "I"),
        ])
        self.assertEqual(await self.names(), ["changed", "first", "second", "low"])
        rows = await self.config.select("users", orderby="id")
        self.assertEqual([first.id, second.id], [row["id"] for row in rows[1:3]])

    async def test_pipelineSize(self) -> None:
        """
        Of the saves given in one turn, each pipeline takes at most
        L{PIPELINE_SIZE}.
        """
        await User(first_name="warm").save()
        users = [User(first_name=f"user {index}") for index in range(2 * PIPELINE_SIZE + 5)]

        async def writes() -> None:
            await outcomes([user.save() for user in users])

        trips = await self.roundTrips(writes)
        # Each with its BEGIN and COMMIT.
        self.assertEqual([len(tags) for tags, _ in trips], [PIPELINE_SIZE + 2] * 2 + [7])
        self.assertEqual(len({user.id for user in users}), len(users))
        self.assertEqual(await self.names(), ["warm"] + [user.first_name for user in users])

    async def test_rounds(self) -> None:
        """
        Works that read before writing (here the table's columns, not read
        yet) send their reads in one pipeline, then their writes in the
        next.
        """
        await self.idle()
        self.config.schemas.pop("users", None)
        users = [User(first_name="one"), User(first_name="two")]

        async def writes() -> None:
            await outcomes([user.save() for user in users])

        self.assertEqual(await self.roundTrips(writes), [
            (["BEGIN", "SELECT 5", "SELECT 5", "COMMIT"], "I"),
            (["BEGIN", "INSERT 0 1", "INSERT 0 1", "COMMIT"], "I"),
        ])
        self.assertEqual(await self.names(), ["one", "two"])

    async def test_failedStatement(self) -> None:
        """
        When a statement of a pipeline fails, its transaction rolls back
        and each statement runs again alone: only the failing save fails,
        the others are written once, and the query log sees each statement
        once, with its own outcome (and psycopg logs no warning).
        """
        await User(first_name="warm").save()
        good, bad, other = User(first_name="good"), User(age="many"), User(first_name="other")

        async def writes() -> None:
            with QueryRecorder() as recorder, self.assertNoLogs("psycopg", "WARNING"):
                results = await outcomes([good.save(), bad.save(), other.save()])
            self.assertEqual([ok for ok, _ in results], [True, False, True])
            results[1][1].trap(DatabaseError)
            self.assertEqual(recorder.count, 3)
            self.assertEqual(
                [record.error is not None for record in recorder.records],
                [False, True, False],
            )

        self.assertEqual(await self.roundTrips(writes), [
            (["BEGIN", "INSERT 0 1", "ERROR"], "E"),
            (["ROLLBACK"], "I"),
            (["INSERT 0 1"], "I"),
            (["ERROR"], "I"),
            (["INSERT 0 1"], "I"),
        ])
        self.assertEqual(await self.names(), ["warm", "good", "other"])
        self.assertIsNone(bad.id)
        self.assertEqual(await self.config.count("users"), 3)

    async def test_lastStatementFailed(self) -> None:
        """
        When the last statement of a pipeline fails, its error may reach
        the client while it sends C{COMMIT} (here, each statement sent is
        followed by a pause): nothing is committed, each statement runs
        again alone, and psycopg logs no warning.
        """
        await User(first_name="warm").save()
        run = pipelining._Statement.run

        def slowRun(statement: Any) -> None:
            run(statement)
            time.sleep(0.02)

        self.patch(pipelining._Statement, "run", slowRun)
        for round in range(5):
            good, other, bad = (
                User(first_name=f"good {round}"), User(first_name=f"other {round}"),
                User(age="many"))
            with self.assertNoLogs("psycopg", "WARNING"):
                results = await outcomes([good.save(), other.save(), bad.save()])
            self.assertEqual([ok for ok, _ in results], [True, True, False])
            results[2][1].trap(DatabaseError)
            self.assertIsNone(bad.id)
        self.assertEqual(await self.names(), ["warm"] + [
            name for round in range(5) for name in (f"good {round}", f"other {round}")])

    async def test_failedBeforeSending(self) -> None:
        """
        A statement that the driver refuses before sending it (a text with
        a NUL character) ends the pipeline without a C{COMMIT}: what was
        sent is rolled back, and each statement runs again alone.
        """
        await User(first_name="warm").save()
        good, bad, other = (
            User(first_name="good"), User(first_name="nul\x00"), User(first_name="other"))

        async def writes() -> None:
            results = await outcomes([good.save(), bad.save(), other.save()])
            self.assertEqual([ok for ok, _ in results], [True, False, True])
            results[1][1].trap(UnsupportedValueError)

        self.assertEqual(await self.roundTrips(writes), [
            (["BEGIN", "INSERT 0 1"], "T"),
            (["ROLLBACK"], "I"),
            (["INSERT 0 1"], "I"),
            (["INSERT 0 1"], "I"),
        ])
        self.assertEqual(await self.names(), ["warm", "good", "other"])

    async def test_staleObject(self) -> None:
        """
        Two copies of one optimistically locked row saved in one pipeline:
        the first writes, the second finds the row at a newer version.
        """
        draft: Any = await Draft(title="first").save()
        mine, theirs = await Draft.find(draft.id), await Draft.find(draft.id)
        mine.title, theirs.title = "mine", "theirs"

        async def writes() -> None:
            results = await outcomes([mine.save(), theirs.save()])
            self.assertTrue(results[0][0])
            results[1][1].trap(StaleObjectError)

        trips = await self.roundTrips(writes)
        self.assertEqual(trips, [(["BEGIN", "UPDATE 1", "UPDATE 0", "COMMIT"], "I")])
        saved = await Draft.find(draft.id)
        self.assertEqual((saved.title, saved.lock_version), ("mine", mine.lock_version))

    async def test_waitLimit(self) -> None:
        """
        Saves whose pipeline waits longer than the pool's C{waitLimit} for a
        connection fail with L{PoolExhaustedError}, and never run.
        """
        await self.idle()
        held = await self.pool.hold()
        self.pool.waitLimit = 0.1
        self.addCleanup(setattr, self.pool, "waitLimit", None)
        results = await outcomes([User(first_name=name).save() for name in ("a", "b")])
        for ok, failure in results:
            self.assertFalse(ok)
            failure.trap(PoolExhaustedError)
        self.pool.release(held)
        await self.idle()
        self.assertEqual(await self.names(), [])

    async def test_cancelledInCallersTurn(self) -> None:
        """
        A save cancelled in the turn it was given is left out of the
        pipeline; the others are written.
        """
        await User(first_name="warm").save()
        writes = [User(first_name=name).save() for name in ("first", "cancelled", "last")]
        writes[1].cancel()
        results = await outcomes(writes)
        self.assertEqual([ok for ok, _ in results], [True, False, True])
        results[1][1].trap(CancelledError)
        self.assertEqual(await self.names(), ["warm", "first", "last"])

    async def test_lostConnection(self) -> None:
        """
        When the connection is lost while its pipeline runs, each of its
        saves fails with L{ConnectionLostError} (it "may or may not" have
        been applied) and none runs again; the pool serves the next call.
        """
        user: Any = await User(first_name="before").save()
        pause, held, lockerPid = await self.lockedRow(user.id)
        user.first_name = "after"
        saving = [user.save(), User(first_name="new").save()]
        pid = await self.waitingFor(lockerPid)
        await self.terminate(pid)
        pause.release()
        await held
        for ok, failure in await outcomes(saving):
            self.assertFalse(ok)
            failure.trap(ConnectionLostError)
            self.assertIn("may or may not have been applied", str(failure.value))
        self.assertEqual(await self.names(), ["before"])
        await User(first_name="next").save()
        self.assertEqual(await self.names(), ["before", "next"])


class PipelinedWorkTests(PoolCase):
    """
    L{PostgresPool.runGreen} with C{pipelined}: the work given in one turn
    runs in pipelines.
    """

    def insert(self, name: str) -> Any:
        """
        @return: work inserting C{name} into the test table, returning the
            row's id and the id of the transaction it ran in.
        """

        def work(connection: Any) -> tuple[int, int]:
            cursor = connection.cursor()
            cursor.execute(
                f"INSERT INTO {self.table} (name) VALUES (%s) RETURNING id, txid_current()",
                (name,))
            row: tuple[int, int] = cursor.fetchone()
            return row

        return work

    async def test_oneTransaction(self) -> None:
        """
        Pipelined work given in one turn runs in one transaction, each with
        its own result; work given without C{pipelined} runs alone.
        """
        pool = self.makePool(maxSize=1)
        rows = await gatherResults([
            pool.runGreen(self.insert(name), pipelined=True) for name in ("a", "b", "c")])
        self.assertEqual(len({rowId for rowId, _ in rows}), 3)
        self.assertEqual(len({txid for _, txid in rows}), 1)
        rows = await gatherResults([pool.runGreen(self.insert(name)) for name in ("d", "e")])
        self.assertEqual(len({txid for _, txid in rows}), 2)
        self.assertEqual(await self.names(), ["a", "b", "c", "d", "e"])

    async def test_cursorFactory(self) -> None:
        """
        A connection's C{cursor_factory} class is kept (its C{execute}
        pipelined); with a factory that is no cursor class, the work runs
        one after the other.
        """
        kinds = []

        def insertWith(name: str) -> Any:
            insert = self.insert(name)

            def work(connection: Any) -> tuple[int, int]:
                kinds.append(type(connection.cursor()))
                return insert(connection)  # type: ignore[no-any-return]

            return work

        pool = self.makePool(maxSize=1, cursor_factory=psycopg.ClientCursor)
        rows = await gatherResults([
            pool.runGreen(insertWith(name), pipelined=True) for name in ("a", "b")])
        self.assertEqual(len({txid for _, txid in rows}), 1)
        self.assertTrue(all(issubclass(kind, psycopg.ClientCursor) for kind in kinds))

        def makeCursor(connection: Any, **kw: Any) -> Any:
            return psycopg.Cursor(connection, **kw)

        pool = self.makePool(maxSize=1, cursor_factory=makeCursor)
        rows = await gatherResults([
            pool.runGreen(insertWith(name), pipelined=True) for name in ("c", "d")])
        self.assertEqual(len({txid for _, txid in rows}), 2)
        self.assertEqual(await self.names(), ["a", "b", "c", "d"])

    async def test_closeWhileQueued(self) -> None:
        """
        Closing the pool fails each work of a pipeline waiting for a
        connection with L{TwistarError}.
        """
        pool = self.makePool(maxSize=1)
        await pool.hold()
        works = [pool.runGreen(self.insert(name), pipelined=True) for name in ("a", "b")]
        await sleep(0.05)
        pool.close()
        for ok, failure in await outcomes(works):
            self.assertFalse(ok)
            failure.trap(TwistarError)
        self.assertEqual(await self.names(), [])

    async def test_closeWhileRunning(self) -> None:
        """
        Closing the pool while a pipeline runs fails each of its works with
        the driver's error; none of them is committed.
        """
        pool = self.makePool(maxSize=1)
        [(pid,)] = await pool.runQuery("SELECT pg_backend_pid()")

        def sleeping(connection: Any) -> None:
            connection.cursor().execute("SELECT pg_sleep(1000)")

        works = [
            pool.runGreen(self.insert("a"), pipelined=True),
            pool.runGreen(sleeping, pipelined=True),
        ]
        while (await self.activity(pid)) != ("active", "SELECT pg_sleep(1000)"):
            await sleep(0.01)
        pool.close()
        for ok, failure in await outcomes(works):
            self.assertFalse(ok)
            failure.trap(psycopg.OperationalError)
        self.assertEqual(await self.names(), [])
