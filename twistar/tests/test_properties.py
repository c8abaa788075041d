"""
Property tests with C{hypothesis}: arbitrary values (texts, integers at
their limits, decimals, floats, dates and times) round-trip exactly or are
refused, and arbitrary strings used as names either work as intended or
raise a clear twistar error, without changing rows they should not (checked
through a separate connection). Each test runs on every backend, and again
through the second driver of each server database.

C{hypothesis} cannot drive a test that waits on the database from inside
trial's reactor, so each test first draws its examples synchronously with
L{drawExamples} (derandomized, no example database: the same examples on
every run), then runs each one against the database and reports every
failing example at the end.

C{hypothesis} comes with twistar's C{test} extra (C{pip install
'twistar[test]'}); without it these tests skip, saying so.
"""

import math
import re
from datetime import date
from decimal import Decimal

from twisted.internet.defer import maybeDeferred

from twistar.exceptions import (
    InvalidIdentifierError,
    TwistarError,
    UnknownColumnError,
    UnsupportedValueError,
)
from twistar.tests.helpers import MYSQL, POSTGRES, SQLITE
from twistar.tests.models import Member, SafetySample
from twistar.tests.test_backends import normalise
from twistar.tests.test_logging import captureQueries
from twistar.tests.test_safety import INJECTED_NAMES, SafetyTestCase
from twistar.utils import _VALUE_KEYWORDS, dictToWhere

NO_HYPOTHESIS: str | None = None
try:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
except ImportError:
    NO_HYPOTHESIS = ("needs hypothesis, which twistar's test extra installs:"
                     " pip install 'twistar[test]'")

_PLAIN_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

USERS_COLUMNS = ("id", "first_name", "last_name", "age", "dob")
COLUMN_VALUES = {"first_name": "P", "last_name": "Q", "age": 7, "dob": date(2001, 2, 3)}

# A string value no row holds, and that no database reads as 0 or 1.
NO_MATCH = "-98765.4321 \u2603 no such value"

TRICKY_TEXT = [
    "'", "''", '"', "`", "?", "??", "%", "%s", "%%", "%(x)s", "%d", "\\", "\\'", '\\"',
    "\\\\", "\\0", "\\n", ";", "--", "/*", "*/", " ", "\t", "\n", "\r\n", "\u00e9",
    "\u00df", "\u202e", "\ufeff", "\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\u4e2d\u6587", "\U00010348", "\uffff",
]

SAMPLED_NAMES = list(USERS_COLUMNS) + INJECTED_NAMES + [
    "First_Name", "AGE", "ID", "null", "true", "select", "where", "order", "user",
    "current_user", "rowid", "oid", "ctid", "a_str", "first_name ", " first_name",
    "__class__", "__dict__", "save", "errors", "_savedColumns", "_savedValues", "_deleted",
    "tablename",
]


def drawExamples(strategy, count):
    """
    @return: up to C{count} examples of C{strategy}, the same on every run.
    """
    examples = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=(Phase.generate,))
    @given(strategy)
    def record(value):
        examples.append(value)

    record()
    return examples


def textStrategy(backend):
    """
    @return: a strategy of texts every backend can store (no lone
        surrogates; no NUL on PostgreSQL), rich in quotes, placeholder
        markers, backslashes and unicode, sometimes very long, or C{None}.
    """
    alphabet = st.characters(
        exclude_categories=("Cs",), exclude_characters="\x00" if backend == POSTGRES else ""
    )
    mixed = st.lists(
        st.one_of(st.sampled_from(TRICKY_TEXT), st.text(alphabet, max_size=6)), max_size=12
    ).map("".join)
    long = st.tuples(st.text(alphabet, min_size=1, max_size=8), st.integers(1000, 70000)).map(
        lambda t: (t[0] * t[1])[:t[1]]
    )
    return st.one_of(st.none(), mixed, st.text(alphabet, max_size=40), long)


# Decimals at the edges of DECIMAL(20, 6) and of SQLite's 15 digits.
SPECIAL_DECIMALS = [
    "0", "-0", "0.1", "1.10", "0.000001", "-0.000001", "12345678901234.123456",
    "99999999999999.999999", "-99999999999999.999999", "99999999999999", "99999999999999.9",
    "9999999999999.99", "1234567890.12345", "1234567890.123456", "1E+13", "0E-6",
]

SPECIAL_FLOATS = [
    0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
    -1.7976931348623157e308, 0.1, 1 / 3, 1e15 + 0.3, math.inf, -math.inf, math.nan,
]

# The values each integer column holds, in bits.
INTEGER_BITS = {"a_int": 32, "a_bigint": 64}

INTEGER_EDGES = [
    0, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63),
    -(2**63) - 1, 2**64, -(2**64), 10**30,
]


def decimalStrategy():
    """
    @return: a strategy of decimals that fit a C{DECIMAL(20, 6)} column (up
        to 14 digits before the point, up to 6 after, so up to 20
        significant digits), or C{None}.
    """

    def scaled(places):
        bound = 10 ** (14 + places)
        return st.integers(-bound + 1, bound - 1).map(lambda n: Decimal(n).scaleb(-places))

    return st.one_of(
        st.none(), st.integers(0, 6).flatmap(scaled),
        st.sampled_from([Decimal(text) for text in SPECIAL_DECIMALS]),
    )


def sqliteKeeps(value):
    """
    @return: whether SQLite gives back C{value} (a C{Decimal} within 64-bit
        integers) equal: it has at most 15 significant digits, or is an
        integer written without an exponent.
    """
    _, digits, exponent = value.as_tuple()
    return exponent == 0 or len("".join(map(str, digits)).rstrip("0")) <= 15


def nameStrategy():
    """
    @return: a strategy of names: columns, near-columns, keywords,
        injection attempts, plain identifiers and arbitrary text.
    """
    return st.one_of(
        st.sampled_from(SAMPLED_NAMES),
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
        st.text(max_size=20),
    )


def short(value):
    """
    @return: a repr of C{value} short enough for a failure message.
    """
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:100]}... ({len(value)} long)"


class PropertyTestCase(SafetyTestCase):
    """
    Runs drawn examples one by one, collecting the failing ones.
    """

    skip = NO_HYPOTHESIS

    async def check(self, examples, checkOne):
        """
        Run C{await checkOne(example)} for every example; fail at the end
        listing each example that failed and why.
        """
        self.assertGreater(len(examples), 10)
        failures = []
        for example in examples:
            try:
                await checkOne(example)
            except Exception as e:
                failures.append(f"{short(example)}: {type(e).__name__}: {short(str(e))}")
        self.assertEqual(failures, [], f"{len(failures)} of {len(examples)} examples failed")

    def sameText(self, stored, expected):
        """
        @return: whether C{stored} equals C{expected} for C{=} (MySQL's
            PAD SPACE collations ignore trailing spaces).
        """
        if self.backend == MYSQL and stored is not None and expected is not None:
            return stored.rstrip(" ") == expected.rstrip(" ")
        return stored == expected


class RoundTripTests(PropertyTestCase):
    """
    Arbitrary texts, integers and C{None} round-trip exactly through save,
    find, findBy and update.
    """

    async def test_text(self):
        """
        A text (or C{None}) is stored and read back exactly, found by
        C{findBy} and by a where argument, and replaced exactly by an
        update; the table, read through another connection, holds exactly
        the last values.
        """
        examples = drawExamples(st.tuples(textStrategy(self.backend),
                                          textStrategy(self.backend)), 60)
        expected = {}

        async def checkOne(example):
            first, second = example
            obj = await SafetySample(a_str=first).save()
            self.assertEqual((await SafetySample.find(obj.id)).a_str, first)
            found = await SafetySample.findBy(a_str=first)
            self.assertIn(obj.id, [o.id for o in found])
            for other in found:
                self.assertTrue(self.sameText(other.a_str, first), short(other.a_str))
            if first is not None:
                found = await SafetySample.find(where=["a_str = ? AND id = ?", first, obj.id])
                self.assertEqual([o.id for o in found], [obj.id])
            obj.a_str = second
            await obj.save()
            self.assertEqual((await SafetySample.find(obj.id)).a_str, second)
            expected[obj.id] = second

        await self.check(examples, checkOne)
        rows = await self.observer.runQuery("SELECT id, a_str FROM values_tests")
        stored = {rowId: value for rowId, value in rows if rowId in expected}
        self.assertEqual(stored, expected)

    async def test_integers(self):
        """
        64-bit integers (and C{None}) in C{a_bigint}, and 32-bit ones in
        C{a_int}, are stored, found and updated exactly.
        """
        bigint = st.one_of(
            st.none(), st.integers(-2**63, 2**63 - 1),
            st.integers(2**53, 2**63 - 1), st.integers(-2**63, -2**53),
            st.sampled_from([2**63 - 1, -2**63, 2**53 + 1, -2**53 - 1, 2**31, -2**31 - 1]),
        )
        int32 = st.one_of(st.none(), st.integers(-2**31, 2**31 - 1))
        examples = drawExamples(st.tuples(bigint, int32, bigint), 100)
        expected = {}

        async def checkOne(example):
            big, small, newBig = example
            obj = await SafetySample(a_bigint=big, a_int=small).save()
            found = await SafetySample.find(obj.id)
            self.assertEqual((found.a_bigint, found.a_int), (big, small))
            self.assertEqual(type(found.a_bigint), type(big))
            found = await SafetySample.findBy(a_bigint=big, a_int=small)
            self.assertIn(obj.id, [o.id for o in found])
            self.assertEqual({(o.a_bigint, o.a_int) for o in found}, {(big, small)})
            found.sort(key=lambda o: o.id)
            obj = found[-1]
            obj.a_bigint = newBig
            await obj.save()
            self.assertEqual((await SafetySample.find(obj.id)).a_bigint, newBig)
            expected[obj.id] = (newBig, small)

        await self.check(examples, checkOne)
        rows = await self.observer.runQuery("SELECT id, a_bigint, a_int FROM values_tests")
        stored = {row[0]: (row[1], row[2]) for row in rows if row[0] in expected}
        self.assertEqual(stored, expected)

    async def test_integerBoundaries(self):
        """
        An integer that fits C{a_int} (32 bits; 64 on SQLite) or
        C{a_bigint} (64 bits) is stored and read back exactly; one beyond
        fails with a twistar error (L{UnsupportedValueError}, before any SQL
        runs, on SQLite) and writes nothing.
        """
        examples = drawExamples(st.tuples(
            st.sampled_from(sorted(INTEGER_BITS)),
            st.one_of(st.sampled_from(INTEGER_EDGES), st.integers(-(2**65), 2**65)),
        ), 60)
        expected = {}

        async def checkOne(example):
            column, value = example
            bits = 64 if self.backend == SQLITE else INTEGER_BITS[column]
            if -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
                obj = await SafetySample(**{column: value}).save()
                self.assertEqual(getattr(await SafetySample.find(obj.id), column), value)
                expected[obj.id] = value
                return
            failed = SafetySample(**{column: value}).save()
            error = await self.assertFailure(failed, TwistarError)
            if self.backend == SQLITE:
                self.assertIsInstance(error, UnsupportedValueError)

        await self.check(examples, checkOne)
        rows = await self.observer.runQuery(
            "SELECT id, a_int, a_bigint, a_str FROM values_tests"
        )
        stored = {row[0]: row[1] if row[1] is not None else row[2]
                  for row in rows if row[3] != "sample"}
        self.assertEqual(stored, expected)

    async def test_decimals(self):
        """
        A decimal that fits C{a_decimal} (C{DECIMAL(20, 6)}) is stored and
        read back as an equal C{Decimal} by C{find}, C{refresh} and the
        low-level C{select}, is found by C{findBy} and replaced by an
        update. On SQLite, which keeps 15 significant digits of a number
        that is not an integer, a decimal with more is refused with
        L{UnsupportedValueError}, and nothing is written.
        """
        examples = drawExamples(st.tuples(decimalStrategy(), decimalStrategy()), 80)
        expected = {}

        def kept(value):
            return value is None or self.backend != SQLITE or sqliteKeeps(value)

        def assertSame(read, value):
            self.assertEqual(read, value)
            self.assertIsInstance(read, type(value))

        async def checkOne(example):
            first, second = example
            if not kept(first):
                await self.assertFailure(
                    SafetySample(a_decimal=first).save(), UnsupportedValueError
                )
                return
            obj = await SafetySample(a_decimal=first).save()
            expected[obj.id] = first
            assertSame((await SafetySample.find(obj.id)).a_decimal, first)
            assertSame((await obj.refresh()).a_decimal, first)
            assertSame((await self.config.select("values_tests", id=obj.id))["a_decimal"], first)
            self.assertIn(obj.id, [o.id for o in await SafetySample.findBy(a_decimal=first)])
            obj.a_decimal = second
            if not kept(second):
                await self.assertFailure(obj.save(), UnsupportedValueError)
                return
            await obj.save()
            expected[obj.id] = second
            assertSame((await SafetySample.find(obj.id)).a_decimal, second)

        await self.check(examples, checkOne)
        self.assertEqual(
            {o.id: o.a_decimal for o in await SafetySample.all() if o.a_str != "sample"},
            expected,
        )

    async def test_floats(self):
        """
        A float (subnormal, infinite and NaN ones too) is stored in
        C{a_float} and read back equal (NaN as NaN), also through the other
        connection, and found by C{findBy}; where the database cannot hold
        it (NaN on SQLite, which would store NULL; NaN and infinities on
        MySQL) it is refused with L{UnsupportedValueError}, in a save and
        in a where, and nothing is written.
        """
        examples = drawExamples(
            st.one_of(st.none(), st.floats(), st.sampled_from(SPECIAL_FLOATS)), 80
        )
        expected = {}

        def refused(value):
            if value is None:
                return False
            if self.backend == MYSQL:
                return not math.isfinite(value)
            return self.backend == SQLITE and math.isnan(value)

        def same(read, value):
            if value is not None and math.isnan(value):
                return read is not None and math.isnan(read)
            return read == value

        async def checkOne(value):
            if refused(value):
                await self.assertFailure(SafetySample(a_float=value).save(), UnsupportedValueError)
                await self.assertFailure(
                    SafetySample.find(where=["a_float = ?", value]), UnsupportedValueError
                )
                return
            obj = await SafetySample(a_float=value).save()
            expected[obj.id] = value
            read = (await SafetySample.find(obj.id)).a_float
            self.assertTrue(same(read, value), f"read {read!r}")
            if value is None or not math.isnan(value):
                self.assertIn(obj.id, [o.id for o in await SafetySample.findBy(a_float=value)])

        await self.check(examples, checkOne)
        rows = await self.observer.runQuery("SELECT id, a_float FROM values_tests")
        stored = {rowId: value for rowId, value in rows if rowId in expected}
        self.assertEqual(set(stored), set(expected))
        self.assertEqual(
            [rowId for rowId, value in expected.items() if not same(stored[rowId], value)], []
        )

    async def test_datesAndTimes(self):
        """
        Any date, naive datetime and time (with microseconds) is stored and
        read back equal (SQLite gives back the text C{str()} wrote), and
        found by C{findBy}.
        """
        examples = drawExamples(st.tuples(
            st.none() | st.dates(), st.none() | st.datetimes(), st.none() | st.times()
        ), 60)
        columns = ("a_date", "a_datetime", "a_time")

        async def checkOne(example):
            values = dict(zip(columns, example))
            obj = await SafetySample(**values).save()
            found = await SafetySample.find(obj.id)
            self.assertEqual(
                tuple(normalise(self.backend, c, getattr(found, c)) for c in columns), example
            )
            self.assertIn(obj.id, [o.id for o in await SafetySample.findBy(**values)])

        await self.check(examples, checkOne)


class InsertManyTests(PropertyTestCase):
    """
    C{insertMany} stores any rows exactly, whatever keys each row has and
    wherever the statement boundaries fall.
    """

    async def test_rows(self):
        """
        Rows with any subset of the columns (a missing key stores C{NULL}),
        sent with any number of rows per statement, are all stored, in
        order, each with exactly its values.
        """
        columns = ("a_str", "a_int", "a_float", "a_date")
        optional = {
            "a_str": textStrategy(self.backend),
            "a_int": st.none() | st.integers(-(2**31), 2**31 - 1),
            "a_float": st.none() | st.floats(allow_nan=False, allow_infinity=False),
            "a_date": st.none() | st.dates(date(1000, 1, 1), date(9999, 12, 31)),
        }
        rows = st.lists(st.fixed_dictionaries({}, optional=optional), max_size=30)
        examples = drawExamples(st.tuples(rows, st.integers(1, 12)), 25)

        async def checkOne(example):
            rows, maxParameters = example
            self.patch(type(self.config), "maxParameters", maxParameters)
            await self.config.delete("values_tests")
            await self.config.insertMany("values_tests", rows)
            stored = await self.config.select(
                "values_tests", orderby="id", select=", ".join(columns)
            )
            self.assertEqual(
                [tuple(str(row[c]) if c == "a_date" else row[c] for c in columns)
                 for row in stored],
                [tuple(str(row.get(c)) if c == "a_date" else row.get(c) for c in columns)
                 for row in rows],
            )

        await self.check(examples, checkOne)


class NameTests(PropertyTestCase):
    """
    Arbitrary strings used as C{findBy} keys, C{insert} keys,
    L{dictToWhere} keys and attribute names either work as intended or
    raise a clear error, and never change rows they should not.
    """

    async def setUp(self):
        await super().setUp()
        self.seed = await Member(**COLUMN_VALUES).save()
        self.target = await Member(first_name="T", last_name="U", age=9).save()
        self.rows = await self.userRows()

    async def userRows(self):
        """
        @return: a L{Deferred} of the rows of C{users} read through the
            other connection, as a dict of id to a dict of column to C{str}
            of the value.
        """
        rows = await self.observer.runQuery(
            "SELECT id, first_name, last_name, age, dob FROM users"
        )
        return {row[0]: dict(zip(USERS_COLUMNS, map(str, row))) for row in rows}

    async def assertRows(self, changes):
        """
        Assert that C{users} holds the rows it held, with C{changes} (id to
        the dict of its columns that changed, or to all its columns for a
        new row) applied, and no other change.
        """
        rows = await self.userRows()
        expected = {rowId: dict(row) for rowId, row in self.rows.items()}
        for rowId, change in changes.items():
            expected.setdefault(rowId, {column: "None" for column in USERS_COLUMNS})
            expected[rowId].update({k: str(v) for k, v in change.items()}, id=str(rowId))
        self.assertEqual(rows, expected)
        self.rows = rows

    async def test_names(self):
        """
        For each name: C{findBy} works for a column and raises
        L{UnknownColumnError} otherwise; C{insert} raises
        L{InvalidIdentifierError} before any SQL for a name that is not a
        plain identifier, writes the row for a column, and writes nothing
        when the database refuses; L{dictToWhere} accepts only plain
        identifiers, and a where built from it never deletes a row; C{save}
        writes a column attribute and ignores every other name, on insert
        and on update.
        """
        examples = drawExamples(nameStrategy(), 80)
        await self.config.getSchema("users")
        queries = captureQueries(self)

        async def checkOne(name):
            plain = bool(_PLAIN_IDENTIFIER.match(name))
            isColumn = name in USERS_COLUMNS
            value = COLUMN_VALUES.get(name, "v")

            try:
                found = await Member.findBy(**{name: self.seed.id if name == "id" else value})
            except UnknownColumnError as e:
                self.assertFalse(isColumn, "findBy refused a column")
                self.assertIn(repr(name), str(e))
            else:
                self.assertTrue(isColumn, "findBy accepted a name that is no column")
                self.assertIn(self.seed.id, [m.id for m in found])

            if name.lower() != "id":
                queries.reset()
                try:
                    newId = await maybeDeferred(self.config.insert, "users", {name: value})
                except InvalidIdentifierError:
                    self.assertFalse(plain, "insert refused a plain identifier")
                    self.assertEqual(queries.all(), [])
                    await self.assertRows({})
                except TwistarError:
                    self.assertTrue(plain and not isColumn, "insert refused a column")
                    await self.assertRows({})
                else:
                    self.assertTrue(plain, "insert accepted a name that is no identifier")
                    self.assertIn(name.lower(), USERS_COLUMNS)
                    await self.assertRows({newId: {name.lower(): value}})

            try:
                where = dictToWhere({name: NO_MATCH})
            except InvalidIdentifierError:
                self.assertFalse(
                    plain and name.lower() not in _VALUE_KEYWORDS,
                    "dictToWhere refused a plain identifier that is no value keyword",
                )
            else:
                self.assertTrue(plain, "dictToWhere accepted a name that is no identifier")
                for call in (Member.count, Member.deleteAll):
                    try:
                        self.assertEqual(await call(where), 0)
                    except TwistarError:
                        pass
                await self.assertRows({})

            if not hasattr(Member, name) and name != "id":
                obj = Member(first_name="S")
                setattr(obj, name, value)
                await obj.save()
                row = {column: "None" for column in USERS_COLUMNS}
                row["first_name"] = "S"
                if isColumn:
                    row[name] = value
                await self.assertRows({obj.id: row})
                target = await Member.find(self.target.id)
                setattr(target, name, value)
                await target.save()
                await self.assertRows({target.id: {name: value}} if isColumn else {})

        await self.check(examples, checkOne)


class RoundTripSecondDriverTests(RoundTripTests):
    """
    L{RoundTripTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


class InsertManySecondDriverTests(InsertManyTests):
    """
    L{InsertManyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


class NameSecondDriverTests(NameTests):
    """
    L{NameTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True
