"""
Tests that every backend stores and returns values exactly, stands
concurrency, survives a server restart, and works through each supported
driver.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any

from twisted.internet import defer, reactor, threads
from twisted.trial import unittest

from twistar.dbconfig.mysql import ReconnectingMySQLConnectionPool
from twistar.dbconfig.postgres import PostgreSQLDBConfig
from twistar.dbobject import DBObject
from twistar.exceptions import (
    ConnectionLostError,
    IntegrityError,
    TwistarError,
    UnsupportedValueError,
)
from twistar.registry import Registry
from twistar.tests.helpers import (
    MYSQL,
    POSTGRES,
    SQLITE,
    TABLES,
    DBTestCase,
    _createTables,
    closePool,
    makePool,
)
from twistar.tests.models import User
from twistar.tests.servers import serverFromEnvironment
from twistar.utils import transaction


class ValuesTest(DBObject):
    """
    A row of every type.
    """


class UniqueCode(DBObject):
    """
    A model on C{uniques}, whose C{code} is unique.
    """

    TABLENAME = "uniques"


Registry.register(ValuesTest, UniqueCode)

TEXTS = [
    "",
    "plain",
    "it's \"quoted\" `back` \\ backslash \\' \\\\",
    "percent % %s %(x)s ? ?? :1 $1",
    "unicode: café ñ 日本語 ελληνικά",
    "emoji: 🎉🐍👍🏽",
    "new\nline\ttab\r",
    "x" * 5000,
]


def normalise(backend: str, column: str, value: Any) -> Any:
    """
    @return: C{value} as read from C{backend}, in the Python type it was
        written as (SQLite keeps dates, times and decimals as text, and
        booleans as integers; MySQL returns times as timedeltas).
    """
    if value is None:
        return None
    if column == "a_bool":
        return bool(value)
    if column == "a_bytes":
        return bytes(value)
    if column == "a_decimal":
        return Decimal(str(value))
    if column == "a_time" and isinstance(value, timedelta):
        return (datetime.min + value).time()
    if backend == SQLITE and isinstance(value, str):
        parse = {
            "a_date": date.fromisoformat,
            "a_time": clock.fromisoformat,
            "a_datetime": datetime.fromisoformat,
        }.get(column)
        if parse is not None:
            return parse(value)
    return value


class RoundTripTests(DBTestCase):
    """
    Values of every supported type come back exactly as they were saved.
    """

    async def roundTrip(self, **values: Any) -> None:
        """
        Save a row with C{values}, read it back (by C{find} and by the
        low-level C{select}), and compare.
        """
        saved = await ValuesTest(**values).save()
        loaded = await ValuesTest.find(saved.id)
        row = await self.config.select("values_tests", id=saved.id)
        for column, expected in values.items():
            for got in (getattr(loaded, column), row[column]):
                self.assertEqual(
                    normalise(self.backend, column, got), expected,
                    f"{column}: wrote {expected!r}, read {got!r}",
                )

    async def test_none(self) -> None:
        """
        C{None} is stored as NULL in every column type.
        """
        columns = [c.split()[0] for c in TABLES["values_tests"] if not c.startswith("id ")]
        await self.roundTrip(**{column: None for column in columns})

    async def test_numbers(self) -> None:
        """
        Booleans, 32- and 64-bit integers, floats and decimals.
        """
        for flag in (True, False):
            await self.roundTrip(a_bool=flag)
        for number in (0, -1, 2**31 - 1, -(2**31)):
            await self.roundTrip(a_int=number)
        for number in (2**63 - 1, -(2**63), 2**40 + 3):
            await self.roundTrip(a_bigint=number)
        for real in (0.0, -1.5, 3.141592653589793, 1e-300, 1.7976931348623157e308):
            await self.roundTrip(a_float=real)
        for decimal in (Decimal("1234.5"), Decimal("-0.25"), Decimal("99999999.125")):
            await self.roundTrip(a_decimal=decimal)

    async def test_texts(self) -> None:
        """
        Text with quotes, backslashes, placeholders, percent signs, unicode
        and emoji, through save, C{findBy} and update.
        """
        for text in TEXTS:
            await self.roundTrip(a_str=text)
            (found,) = await ValuesTest.findBy(a_str=text)
            self.assertEqual(found.a_str, text)
            found.a_str = text + "!"
            await found.save()
            self.assertEqual((await ValuesTest.find(found.id)).a_str, text + "!")
            await found.delete()

    async def test_bytes(self) -> None:
        """
        Bytes, through the driver's C{Binary}, as plain C{bytes}, as a
        C{bytearray} and as a C{memoryview}.
        """
        Binary = Registry.getDBAPIClass("Binary")
        data = bytes(range(256)) * 3
        await self.roundTrip(a_bytes=data)
        for other in (bytearray(data), memoryview(data)):
            saved = await ValuesTest(a_bytes=other).save()
            self.assertEqual(bytes((await ValuesTest.find(saved.id)).a_bytes), data)
        saved = await ValuesTest(a_bytes=Binary(data)).save()
        self.assertEqual(bytes((await ValuesTest.find(saved.id)).a_bytes), data)

    async def test_bytearrayChangedInPlace(self) -> None:
        """
        A saved C{bytearray} changed in place is written by the next save.
        """
        saved = await ValuesTest(a_bytes=bytearray(b"ab")).save()
        saved.a_bytes.extend(b"cd")
        await saved.save()
        self.assertEqual(bytes((await ValuesTest.find(saved.id)).a_bytes), b"abcd")

    async def test_datesAndTimes(self) -> None:
        """
        Dates, times and datetimes (with microseconds).
        """
        await self.roundTrip(
            a_date=date(2024, 2, 29),
            a_time=clock(13, 14, 15, 123456),
            a_datetime=datetime(1999, 12, 31, 23, 59, 58, 999999),
        )
        Date = Registry.getDBAPIClass("Date")
        saved = await ValuesTest(a_date=Date(2000, 1, 1)).save()
        loaded = await ValuesTest.find(saved.id)
        self.assertEqual(normalise(self.backend, "a_date", loaded.a_date), date(2000, 1, 1))

    async def test_dialectQuoting(self) -> None:
        """
        A C{?} inside each database's own quoting and comments is not a
        placeholder: dollar quoting and C{E''} strings on PostgreSQL, C{#}
        comments and backslash escapes on MySQL.
        """
        await User(first_name="it's ?", age=1).save()
        await User(first_name="other", age=2).save()
        where = {
            SQLITE: ["first_name = 'it''s ?' /* ? */ AND age = ? -- ?", 1],
            POSTGRES: ["(first_name = $$it's ?$$ OR first_name = E'it\\'s ?') AND age = ?", 1],
            MYSQL: ["first_name = 'it\\'s ?' AND age = ? # ?", 1],
        }[self.backend]
        self.assertEqual([u.first_name for u in await User.find(where=where)], ["it's ?"])

    async def test_emptyInsert(self) -> None:
        """
        An object with no attributes is inserted with the database's
        defaults and gets an id.
        """
        first = await User().save()
        second = await User().save()
        self.assertIsNotNone(first.id)
        self.assertNotEqual(first.id, second.id)
        self.assertEqual(await User.count(), 2)

    async def test_driverExceptionsStillCatchable(self) -> None:
        """
        A translated error is both a twistar exception and the driver's, so
        code written to catch the driver's exceptions keeps working.
        """
        await UniqueCode(code="a").save()
        with self.assertRaises(IntegrityError) as caught:
            await UniqueCode(code="a").save()
        driver = self.pool.dbapi
        self.assertIsInstance(caught.exception, driver.IntegrityError)
        self.assertIsInstance(caught.exception.__cause__, driver.IntegrityError)
        self.assertEqual(caught.exception.args, caught.exception.__cause__.args)


class ConcurrencyTests(DBTestCase):
    """
    Many calls issued at once on the default pool.
    """

    async def test_concurrentSavesAndFinds(self) -> None:
        """
        2000 saves and finds issued at once all succeed, and every row is
        present exactly once.
        """
        names = [f"c{i}" for i in range(2000)]
        saves = [User(first_name=name, age=i).save() for i, name in enumerate(names)]
        finds = [User.find(where=["age < ?", i % 50]) for i in range(2000)]
        results = await defer.gatherResults(saves + finds, consumeErrors=True)
        saved = results[:2000]
        self.assertEqual(len({user.id for user in saved}), 2000)
        rows = await self.config.select("users", select="first_name")
        self.assertEqual(sorted(row["first_name"] for row in rows), sorted(names))


def restartableServer(testCase: unittest.TestCase) -> Any:
    """
    @return: the server of this test run, to stop and start; skips the test
        where there is no server (SQLite, or a server given by URL), but
        fails under CI if a server backend has none.
    """
    if testCase.backend == SQLITE:  # type: ignore[attr-defined]
        raise unittest.SkipTest("SQLite has no server to restart")
    server = serverFromEnvironment()
    if server is None:
        if os.environ.get("CI") == "true":
            testCase.fail("no restartable server under CI: run scripts/run_tests.py")
        raise unittest.SkipTest("the server was not started by scripts/run_tests.py")
    return server


class ReconnectTests(DBTestCase):
    """
    A pool with C{cp_reconnect=True} survives a restart of the server.
    """

    async def setUp(self) -> None:
        await super().setUp()
        self.server = restartableServer(self)
        self.pool = makePool(cp_reconnect=True)
        Registry.DBPOOL = self.pool
        self.addCleanup(closePool, self.pool)

    async def stopServer(self) -> None:
        await threads.deferToThread(self.server.stop)
        self.addCleanup(self.ensureRunning)

    def ensureRunning(self) -> None:
        if not self.server.isRunning():
            self.server.start()

    async def test_restart(self) -> None:
        """
        Calls made while the server is down fail promptly with
        L{ConnectionLostError}; calls after it is back succeed on every pool
        connection; no committed row is lost or written twice.
        """
        before = [await User(first_name=f"b{i}").save() for i in range(20)]
        await defer.gatherResults([User.find(u.id) for u in before])
        await self.stopServer()
        for _ in range(3):
            started = time.monotonic()
            with self.assertRaises(ConnectionLostError) as caught:
                await User(first_name="down").save()
            self.assertLess(time.monotonic() - started, 10)
            # Also the driver's class, when the driver reported it.
            cause = caught.exception.__cause__
            if isinstance(cause, self.pool.dbapi.Error):
                self.assertIsInstance(caught.exception, type(cause))
        await threads.deferToThread(self.server.start)
        after = await defer.gatherResults(
            [User(first_name=f"a{i}").save() for i in range(20)], consumeErrors=True
        )
        self.assertEqual(len(after), 20)
        for user in before + after:
            self.assertEqual((await User.find(user.id)).first_name, user.first_name)
        rows = await self.config.select("users", select="first_name")
        self.assertEqual(
            sorted(row["first_name"] for row in rows),
            sorted([f"b{i}" for i in range(20)] + [f"a{i}" for i in range(20)]),
        )

    async def test_transactionsAfterRestart(self) -> None:
        """
        After the server restarted, transactions on a reconnecting pool
        succeed at once, each pool connection being found dead before the
        transaction ran anything on it; their work is committed once.
        """

        @transaction
        async def add(txn: Any, name: str) -> int:
            await User(first_name=name).save()
            return await User.count()

        @transaction(isolation="SERIALIZABLE")
        async def addSerializable(txn: Any, name: str) -> None:
            await User(first_name=name).save()

        # Give every pool thread a connection.
        await defer.gatherResults([add(f"b{i}") for i in range(self.pool.max)])
        await threads.deferToThread(self.server.stop)
        await threads.deferToThread(self.server.start)
        names = [f"a{i}" for i in range(self.pool.max + 1)]
        for name in names[:3]:
            await add(name)
        for name in names[3:]:
            await addSerializable(name)
        rows = await self.config.select("users", select="first_name")
        self.assertEqual(
            sorted(row["first_name"] for row in rows),
            sorted([f"b{i}" for i in range(self.pool.max)] + names),
        )

    async def test_connectionKilledMidInteraction(self) -> None:
        """
        An interaction whose connection is killed after a statement ran runs
        again only where the server undid that statement: on PostgreSQL it
        is replayed and succeeds; on MySQL (a MyISAM table keeps the row) it
        fails with L{ConnectionLostError}. The row is written exactly once.
        """
        engine = " ENGINE=MyISAM" if self.backend == MYSQL else ""
        await self.pool.runOperation(f"CREATE TABLE killed (n INTEGER){engine}")
        self.addCleanup(self.pool.runOperation, "DROP TABLE killed")
        killer = makePool(cp_min=1, cp_max=1)
        self.addCleanup(closePool, killer)
        ownId, kill = {
            MYSQL: ("SELECT CONNECTION_ID()", "KILL {}"),
            POSTGRES: ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
        }[self.backend]
        attempts = []

        def work(cursor: Any) -> None:
            attempts.append(1)
            cursor.execute("INSERT INTO killed (n) VALUES (1)")
            if len(attempts) == 1:
                cursor.execute(ownId)
                (connectionId,) = cursor.fetchone()
                threads.blockingCallFromThread(
                    reactor, killer.runQuery, kill.format(int(connectionId))
                )
            cursor.execute("SELECT 1")

        if self.backend == MYSQL:
            with self.assertRaises(ConnectionLostError):
                await self.config.runInteraction(work)
            self.assertEqual(len(attempts), 1)
        else:
            await self.config.runInteraction(work)
            self.assertEqual(len(attempts), 2)
        self.assertEqual(await self.config.count("killed"), 1)

    async def test_reconnectingMySQLPool(self) -> None:
        """
        C{ReconnectingMySQLConnectionPool} runs interactions again after the
        server was restarted, without a failed call.
        """
        if self.backend != MYSQL:
            raise unittest.SkipTest("ReconnectingMySQLConnectionPool is for MySQL")
        pool = makePool(cp_reconnect=False)
        pool.close()
        reconnecting = ReconnectingMySQLConnectionPool(
            "MySQLdb", *pool.connargs, **pool.connkw
        )
        self.addCleanup(closePool, reconnecting)
        reconnecting.start()
        self.assertEqual(await reconnecting.runQuery("SELECT 1"), ((1,),))
        await threads.deferToThread(self.server.stop)
        await threads.deferToThread(self.server.start)
        for _ in range(reconnecting.max + 1):
            self.assertEqual(await reconnecting.runQuery("SELECT 1"), ((1,),))


class DriverTests(unittest.TestCase):
    """
    The second driver of each server database: psycopg (3) for PostgreSQL
    and PyMySQL for MySQL, through the whole model API.
    """

    async def setUp(self) -> None:
        kind = DBTestCase.backend
        if kind == SQLITE:
            raise unittest.SkipTest("SQLite has one driver")
        self.driver = {POSTGRES: "psycopg", MYSQL: "pymysql"}[kind]
        self.pool = makePool(driver=self.driver)
        Registry.DBPOOL = self.pool
        self.addCleanup(closePool, self.pool)
        await self.pool.runInteraction(_createTables, kind, {"users": TABLES["users"],
                                                            "uniques": TABLES["uniques"]})

    async def test_models(self) -> None:
        """
        Save, find, findBy, update, delete, a transaction rolled back, a
        literal percent sign, and a unique violation (with the driver's
        exception attributes), through the other driver.
        """
        self.assertEqual(Registry.getConfig().paramstyle, "format")
        user = await User(first_name="100% O'Brien ?", age=3).save()
        self.assertEqual((await User.find(user.id)).first_name, "100% O'Brien ?")
        (found,) = await User.findBy(first_name="100% O'Brien ?")
        found.age = 4
        await found.save()
        self.assertEqual((await User.find(where=["first_name LIKE '100%'"]))[0].age, 4)

        @transaction
        async def fails(txn: Any) -> None:
            await User(first_name="gone").save()
            raise ValueError()

        with self.assertRaises(TwistarError):
            await fails()
        self.assertEqual(await User.count(), 1)
        await UniqueCode(code="x").save()
        with self.assertRaises(IntegrityError) as caught:
            await UniqueCode(code="x").save()
        error = caught.exception
        self.assertIsInstance(error, self.pool.dbapi.IntegrityError)
        self.assertEqual(error.args, error.__cause__.args)
        if self.driver == "psycopg":
            self.assertEqual(error.sqlstate, "23505")
            self.assertEqual(error.diag.sqlstate, "23505")
        await found.delete()
        self.assertEqual(await User.count(), 0)

    async def test_valuesTheDriverRefuses(self) -> None:
        """
        Values this driver cannot encode fail with L{UnsupportedValueError}
        naming the value, as with the first driver.
        """
        refused: list[tuple[str, Any]] = [("first_name", "x\ud800")]
        if self.driver == "psycopg":
            refused.append(("first_name", "a\x00b"))
        else:
            refused += [("age", float("nan")), ("age", Decimal("-Infinity"))]
        for column, value in refused:
            with self.assertRaises(UnsupportedValueError) as caught:
                await User(**{column: value}).save()
            self.assertIn(repr(value), str(caught.exception))
        self.assertEqual(await User.count(), 0)

    def test_config(self) -> None:
        """
        Both PostgreSQL drivers get the PostgreSQL configuration.
        """
        if self.driver == "psycopg":
            self.assertIsInstance(Registry.getConfig(), PostgreSQLDBConfig)


class ImportTests(unittest.TestCase):
    """
    Importing twistar imports no database driver.
    """

    def test_noDriverImported(self) -> None:
        """
        After importing every twistar module, no driver module is loaded.
        """
        code = (
            "import sys, twistar, twistar.dbobject, twistar.registry, twistar.utils, "
            "twistar.relationships, twistar.validation, twistar.dbconfig.base, "
            "twistar.dbconfig.postgres, twistar.dbconfig.mysql, twistar.dbconfig.sqlite\n"
            "print(sorted(m for m in ('psycopg2', 'psycopg', 'MySQLdb', 'pymysql') "
            "if m in sys.modules))"
        )
        output = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        self.assertEqual(output.strip(), "[]")
