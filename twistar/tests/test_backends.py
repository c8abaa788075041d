"""
Tests that every backend stores and returns values exactly (or refuses
them), matches C{IS NULL} conditions, reads large results in batches, stands
concurrency, survives a server restart, and works through each supported
driver.
"""

from __future__ import annotations

import gc
import math
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any

from twisted.internet import defer, threads
from twisted.trial import unittest

from twistar.dbconfig.mysql import ReconnectingMySQLConnectionPool
from twistar.dbconfig.postgres import PostgreSQLDBConfig, PsycopgDBConfig
from twistar.dbobject import DBObject
from twistar.exceptions import (
    ConnectionLostError,
    DatabaseError,
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
    callInWork,
    closePool,
    makePool,
    waitUntilReachable,
)
from twistar.tests.models import User
from twistar.tests.servercontrol import serverFromEnvironment
from twistar.tests.test_logging import captureQueries
from twistar.utils import dictToWhere, transaction


class ValuesTest(DBObject):
    """
    A row of every type.
    """


class UniqueCode(DBObject):
    """
    A model on C{uniques}, whose C{code} is unique.
    """

    TABLENAME = "uniques"


class Number(DBObject):
    """
    A model on C{numbers}, whose C{n} is an unconstrained C{NUMERIC}
    (C{DECIMAL(65, 30)} on MySQL).
    """


Registry.register(ValuesTest, UniqueCode, Number)

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
        return value  # a Decimal everywhere
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


class NumberTests(DBTestCase):
    """
    Decimals and floats come back equal, or are refused before any SQL is
    sent; none is changed on the way.
    """

    async def setUp(self) -> None:
        await super().setUp()
        numeric = "DECIMAL(65, 30)" if self.backend == MYSQL else "NUMERIC"
        await self.pool.runInteraction(
            _createTables, self.backend, {"numbers": ["id {pk}", f"n {numeric}"]}
        )

    async def assertRefused(self, value: Any, **columns: Any) -> None:
        """
        Assert that saving C{columns} (a C{ValuesTest}) fails with
        L{UnsupportedValueError} naming C{value}, and writes nothing.
        """
        before = await ValuesTest.count()
        with self.assertRaises(UnsupportedValueError) as caught:
            await ValuesTest(**columns).save()
        self.assertIn(repr(value), str(caught.exception))
        self.assertEqual(await ValuesTest.count(), before)

    async def test_decimalColumn(self) -> None:
        """
        A C{Decimal} in a C{DECIMAL(20, 6)} column comes back as an equal
        C{Decimal} through C{find}, C{refresh}, C{select} and
        C{selectKeyedObjects}. SQLite keeps 15 significant digits of a
        number that is not an integer: there a decimal with more is
        refused, where it used to come back as a float
        (C{12345678901234.123}).
        """
        values = [Decimal("0.1"), Decimal("1.10"), Decimal("-99999999999999.9"),
                  Decimal("12345678901234"), Decimal("0.000001")]
        precise = Decimal("12345678901234.123456")
        if self.backend == SQLITE:
            await self.assertRefused(precise, a_decimal=precise)
        else:
            values.append(precise)
        for value in values:
            saved = await ValuesTest(a_decimal=value).save()
            query = self.config.convertQuery(
                "SELECT values_tests.*, id AS k FROM values_tests WHERE id = ?", [saved.id]
            )
            ((key, keyed),) = await self.config.selectKeyedObjects(ValuesTest, query, [saved.id])
            self.assertEqual(key, saved.id)
            for read in [
                (await ValuesTest.find(saved.id)).a_decimal,
                (await saved.refresh()).a_decimal,
                (await self.config.select("values_tests", id=saved.id))["a_decimal"],
                keyed.a_decimal,
            ]:
                self.assertEqual((type(read), read), (Decimal, value))

    async def test_decimalInTextColumn(self) -> None:
        """
        A C{Decimal} in a text column is stored as text: C{str()} of it.
        """
        saved = await ValuesTest(a_str=Decimal("1.10")).save()
        self.assertEqual((await ValuesTest.find(saved.id)).a_str, "1.10")

    async def test_nonFiniteDecimals(self) -> None:
        """
        PostgreSQL stores a C{Decimal} NaN and infinities exactly, and finds
        them (psycopg2 used to write every one as NaN); SQLite stores the
        infinities (as REALs); the other NaNs, and all of them on MySQL,
        are refused before any SQL is sent. Nothing is changed on the way.
        """
        stored = {
            POSTGRES: ["NaN", "Infinity", "-Infinity", "-NaN"],
            SQLITE: ["Infinity", "-Infinity"],
            MYSQL: [],
        }[self.backend]
        for text in ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"]:
            value = Decimal(text)
            if text not in stored:
                with self.assertRaises(UnsupportedValueError) as caught:
                    await Number(n=value).save()
                self.assertIn(repr(value), str(caught.exception))
                continue
            saved = await Number(n=value).save()
            read = (await Number.find(saved.id)).n
            self.assertIsInstance(read, Decimal)
            if value.is_nan():
                self.assertTrue(read.is_nan())
            else:
                self.assertEqual(read, value)
                (found,) = await Number.find(where=["n = ?", value])
                self.assertEqual(found.id, saved.id)
        self.assertEqual(await Number.count(), len(stored))

    async def test_infinityInNumericColumnWithScale(self) -> None:
        """
        A C{NUMERIC(20, 6)} column of PostgreSQL cannot hold an infinity:
        the database refuses it (nothing is written).
        """
        if self.backend != POSTGRES:
            raise unittest.SkipTest("PostgreSQL only: MySQL and SQLite are tested above")
        with self.assertRaises(DatabaseError):
            await ValuesTest(a_decimal=Decimal("Infinity")).save()
        self.assertEqual(await ValuesTest.count(), 0)

    async def test_nonFiniteFloats(self) -> None:
        """
        A float infinity is stored and read back on SQLite and PostgreSQL,
        and NaN on PostgreSQL; NaN on SQLite (which would store C{NULL}) and
        both on MySQL are refused before any SQL is sent.
        """
        stored = {POSTGRES: ["inf", "-inf", "nan"], SQLITE: ["inf", "-inf"], MYSQL: []}
        for text in ["inf", "-inf", "nan"]:
            value = float(text)
            if text not in stored[self.backend]:
                await self.assertRefused(value, a_float=value)
                continue
            saved = await ValuesTest(a_float=value).save()
            read = (await ValuesTest.find(saved.id)).a_float
            self.assertEqual(repr(read), text)

    async def test_nonFiniteFloatsInsertMany(self) -> None:
        """
        C{insertMany} stores the float infinities where C{save} does (both
        in one column, whose sum is NaN), and refuses NaN where C{save}
        does, among other numbers (also an integer too large for a float)
        in any row, writing nothing.
        """
        if self.backend != MYSQL:
            rows = [{"a_float": v} for v in (math.inf, 1, -math.inf, 2.5)]
            await self.config.insertMany("values_tests", rows)
            stored = await self.config.select("values_tests", orderby="id", select="a_float")
            self.assertEqual([row["a_float"] for row in stored], [math.inf, 1, -math.inf, 2.5])
            await self.config.delete("values_tests")
        if self.backend == POSTGRES:
            return
        for others in ([1, 2.5, 3.0], [2**1100, 2.5]):
            for index in range(len(others) + 1):
                values = others[:index] + [math.nan] + others[index:]
                with self.assertRaises(UnsupportedValueError) as caught:
                    await self.config.insertMany(
                        "values_tests", [{"a_float": v} for v in values]
                    )
                self.assertIn("nan", str(caught.exception))
        self.assertEqual(await ValuesTest.count(), 0)

    async def test_columnTypesReadOnce(self) -> None:
        """
        Reading rows costs no query for column types: SQLite reads a
        table's declared types along with its column names (once, and again
        after L{Registry.SCHEMAS} is cleared); the others need none.
        """
        queries = captureQueries(self)
        Registry.SCHEMAS.clear()
        await ValuesTest(a_decimal=Decimal("1.5")).save()
        queries.reset()
        await ValuesTest.all()
        await ValuesTest.all()
        self.assertEqual(len(queries.all()), 2)
        Registry.SCHEMAS.clear()
        queries.reset()
        (loaded,) = await ValuesTest.all()
        self.assertEqual((type(loaded.a_decimal), loaded.a_decimal), (Decimal, Decimal("1.5")))
        self.assertEqual(len(queries.all()), 2 if self.backend == SQLITE else 1)


class NumberSecondDriverTests(NumberTests):
    """
    L{NumberTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


class IsNullTests(DBTestCase):
    """
    Conditions with a placeholder after C{IS} or C{IS NOT}, as
    L{dictToWhere} writes for C{None}, work on every driver (psycopg 3
    binds arguments on the server, where C{IS $1} is a syntax error).
    """

    async def setUp(self) -> None:
        await super().setUp()
        self.nameless = await User(age=1).save()
        self.named = await User(first_name="it is ?", last_name="x", age=2).save()

    async def test_dictToWhere(self) -> None:
        """
        A where from L{dictToWhere} with a C{None} value finds, counts,
        updates and deletes the rows whose column is C{NULL}.
        """
        where = dictToWhere({"first_name": None, "age": 1})
        self.assertEqual([u.id for u in await User.find(where=where)], [self.nameless.id])
        self.assertEqual(await User.count(where), 1)
        changed = await self.config.update("users", {"age": 3}, where=["first_name is ?", None])
        self.assertEqual(changed, 1)
        self.assertEqual((await User.find(self.nameless.id)).age, 3)
        self.assertEqual(await User.deleteAll(dictToWhere({"last_name": None})), 1)
        self.assertEqual([u.id for u in await User.all()], [self.named.id])

    async def test_isNot(self) -> None:
        """
        C{IS NOT ?} with C{None}, in any case and spacing, and next to a
        string and a comment that look like conditions.
        """
        queries = captureQueries(self)
        where = ["first_name Is  Not\n ? AND first_name <> 'is ?' /* is ? */ AND age = ?", None, 2]
        self.assertEqual([u.id for u in await User.find(where=where)], [self.named.id])
        if isinstance(self.config, PsycopgDBConfig):
            self.assertIn("first_name Is  Not\n NULL AND", queries.all()[-1])

    async def test_isTrue(self) -> None:
        """
        C{IS ?} and C{IS NOT ?} with C{True} and C{False} match booleans
        (MySQL, whose drivers write them as 1 and 0, has no C{IS 1}).
        """
        if self.backend == MYSQL:
            raise unittest.SkipTest("MySQL reads IS 1 as a syntax error")
        yes = await ValuesTest(a_bool=True).save()
        no = await ValuesTest(a_bool=False).save()
        for where, expected in [
            (["a_bool IS ?", True], [yes.id]), (["a_bool IS ?", False], [no.id]),
            (["a_bool IS NOT ?", True], [no.id]),
        ]:
            self.assertEqual([v.id for v in await ValuesTest.find(where=where)], expected)

    async def test_otherValuesStayArguments(self) -> None:
        """
        A value that is not C{None}, C{True} or C{False} after C{IS} stays
        an argument: where the database allows it, it is compared.
        """
        if self.backend == MYSQL:
            raise unittest.SkipTest("MySQL has no IS DISTINCT FROM")
        where = ["first_name IS NOT DISTINCT FROM ?", "it is ?"]
        self.assertEqual([u.id for u in await User.find(where=where)], [self.named.id])
        if self.backend == POSTGRES:
            with self.assertRaises(TwistarError):  # IS 'x' is no SQL there
                await User.find(where=["last_name IS ?", "x"])


class IsNullSecondDriverTests(IsNullTests):
    """
    L{IsNullTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


class _CountingCursor:
    """
    A DB-API cursor that records the sizes asked of C{fetchmany}.
    """

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.sizes: list[int] = []
        self.collecting: list[bool] = []

    def fetchmany(self, size: int) -> Any:
        self.sizes.append(size)
        self.collecting.append(gc.isenabled())
        return self.cursor.fetchmany(size)

    def fetchall(self) -> Any:
        raise AssertionError("fetchall holds the GIL for a whole result")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)


class BulkInsertTests(DBTestCase):
    """
    Multi-row C{INSERT}s: through psycopg 3, on a raw cursor with numbered
    placeholders, which psycopg does not parse.
    """

    async def test_placeholders(self) -> None:
        """
        C{insertMany} and C{createMany} write every value as given (also
        texts that look like placeholders, and C{None}), and return the ids
        in order; through psycopg 3 their statements number their
        placeholders, elsewhere they use the driver's own.
        """
        queries = captureQueries(self)
        texts = ["%s", "$1", "?", "%%", None, "it's"]
        await self.config.insertMany("users", [{"first_name": t, "age": i}
                                               for i, t in enumerate(texts)])
        users = await User.createMany([User(first_name=t, age=10 + i)
                                       for i, t in enumerate(texts)])
        # One for insertMany; createMany's object without a name is apart.
        inserts = [q for q in queries if q.startswith("INSERT INTO")]
        self.assertEqual(len(inserts), 3)
        numbered = isinstance(self.config, PsycopgDBConfig)
        for insert in inserts:
            self.assertEqual("$1" in insert, numbered)
            self.assertEqual(self.config.placeholder in insert, not numbered)
        rows = await self.pool.runQuery("SELECT id, first_name, age FROM users ORDER BY age")
        self.assertEqual([(row[1], row[2]) for row in rows],
                         [(t, i) for i, t in enumerate(texts)]
                         + [(t, 10 + i) for i, t in enumerate(texts)])
        self.assertEqual([user.id for user in users], [row[0] for row in rows[6:]])


class FetchTests(DBTestCase):
    """
    Results are fetched L{InteractionBase.fetchSize} rows at a time, so
    other threads (the reactor's) run between batches.
    """

    async def test_batches(self) -> None:
        """
        Every read path fetches in batches of C{fetchSize} rows, stopping at
        the first short batch, and returns every row, in order, whether the
        count is a multiple of the batch size or not.
        """
        self.patch(type(self.config), "fetchSize", 4)
        config = self.config
        await config.getSchema("users")  # read with fetchall
        for count in (0, 3, 4, 9):
            await User.deleteAll()
            await config.insertMany("users", [{"first_name": f"u{i}", "age": i}
                                              for i in range(count)])
            names = [f"u{i}" for i in range(count)]
            query, args = config.buildSelect("users", orderby="age")
            keyed = config.convertQuery("SELECT users.*, age FROM users ORDER BY age", [])
            sizes, rows, objects = await self.pool.runInteraction(self.read, query, args)
            self.assertEqual(sizes, [4] * (count // 4 + 1) * 2)
            self.assertEqual([row["first_name"] for row in rows], names)
            self.assertEqual([user.first_name for user in objects], names)
            pairs = await config.selectKeyedObjects(User, keyed, [])
            self.assertEqual([(key, user.first_name) for key, user in pairs],
                             list(enumerate(names)))
            self.assertEqual([user.first_name for user in await User.all()], names)

    async def test_collectorPaused(self) -> None:
        """
        The garbage collector is paused while rows are fetched past the
        first batch, and on again once they are all fetched.
        """
        self.patch(type(self.config), "fetchSize", 4)
        await self.config.insertMany("users", [{"first_name": f"u{i}"} for i in range(10)])
        query, args = self.config.buildSelect("users")

        def fetch(txn: Any) -> tuple[list[bool], int, bool]:
            cursor = _CountingCursor(txn)
            self.config.run(cursor, query, args)
            rows = self.config.fetchRows(cursor)
            return cursor.collecting, len(rows), gc.isenabled()

        self.assertTrue(gc.isenabled())
        collecting, count, after = await self.pool.runInteraction(fetch)
        self.assertEqual((collecting, count, after), ([True, False, False], 10, True))

    def read(self, txn: Any, query: str, args: list[Any]) -> tuple[list[int], Any, Any]:
        """
        Run C{query} through C{_doselect} and C{_selectObjects} on C{txn}.

        @return: the sizes asked of C{fetchmany}, the rows and the objects.
        """
        cursor = _CountingCursor(txn)
        config = self.config
        streaming = config.streamingCursor

        def countedStreaming(txn: Any) -> Any:
            # The dialect's streaming cursor (MySQLdb's), counted too.
            made = streaming(txn)
            if made is None:
                return None
            counted = _CountingCursor(made)
            counted.sizes = cursor.sizes
            return counted

        self.patch(config, "streamingCursor", countedStreaming)
        rows = config._doselect(cursor, query, args, "users")
        objects = config._selectObjects(cursor, User, query, args, False)
        return cursor.sizes, rows, objects

    async def test_streamingCursor(self) -> None:
        """
        MySQLdb builds every row of a result in C{execute}, holding the GIL:
        selects of many rows run on its streaming C{SSCursor} instead. The
        other drivers' cursors need none.
        """
        streaming = await self.pool.runInteraction(self.config.streamingCursor)
        if self.pool.dbapiName == "MySQLdb":
            import MySQLdb.cursors

            self.assertIsInstance(streaming, MySQLdb.cursors.SSCursor)
            streaming.close()
        else:
            self.assertIsNone(streaming)


class FetchSecondDriverTests(FetchTests):
    """
    L{FetchTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


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
        results: list[Any] = await defer.gatherResults(
            [*saves, *finds], consumeErrors=True
        )
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
            waitUntilReachable()

    async def startServer(self) -> None:
        """
        Start the server again, and wait until new connections reach it
        (through PgBouncer, not at once: see L{waitUntilReachable}).
        """
        await threads.deferToThread(self.server.start)
        await threads.deferToThread(waitUntilReachable)

    async def test_restart(self) -> None:
        """
        Calls made while the server is down fail promptly with
        L{ConnectionLostError} (through PgBouncer, once its
        C{query_wait_timeout} is over: the test's is a few seconds); calls
        after it is back succeed on every pool connection; no committed row
        is lost or written twice.
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
        await self.startServer()
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
        await self.startServer()
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
                callInWork(killer.runQuery, kill.format(int(connectionId)))
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
            refused += [("first_name", "a\x00b"), ("age", Decimal("sNaN"))]
        else:
            refused += [("age", float("nan")), ("age", Decimal("-Infinity"))]
        for column, value in refused:
            with self.assertRaises(UnsupportedValueError) as caught:
                await User(**{column: value}).save()
            self.assertIn(repr(value), str(caught.exception))
        self.assertEqual(await User.count(), 0)

    def test_config(self) -> None:
        """
        psycopg gets the PostgreSQL configuration for psycopg (3).
        """
        if self.driver == "psycopg":
            self.assertIsInstance(Registry.getConfig(), PsycopgDBConfig)
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
