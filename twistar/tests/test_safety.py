"""
Tests that no key, name, limit or value can inject SQL, that placeholders are
converted lexically, that every bad input fails with a clear twistar error
before any SQL is sent, and that driver errors are translated.

Whether the tables changed is always checked through a separate connection
(L{SafetyTestCase.snapshot}), so nothing the tested pool holds can hide it.
"""

import sys
from datetime import date, timedelta
from decimal import Decimal

from twisted.enterprise import adbapi
from twisted.internet.defer import maybeDeferred
from twisted.trial.unittest import SynchronousTestCase

from twistar import exceptions
from twistar.dbconfig.mysql import MySQLDBConfig
from twistar.dbconfig.postgres import PostgreSQLDBConfig
from twistar.dbconfig.sqlite import SQLiteDBConfig
from twistar.dbobject import DBObject
from twistar.exceptions import (
    ClassNotRegisteredError,
    DBObjectSaveError,
    ImaginaryTableError,
    IntegrityError,
    InvalidIdentifierError,
    InvalidQueryError,
    PlaceholderCountError,
    ProgrammingError,
    TwistarError,
    UnknownColumnError,
    UnsupportedValueError,
)
from twistar.registry import Registry
from twistar.tests.helpers import DBTestCase, closePool, initDB
from twistar.tests.models import (
    FavoriteColor,
    Imaginary,
    Member,
    Picture,
    SafetyHaunted,
    SafetyOwner,
    SafetySample,
    Unique,
    User,
)
from twistar.tests.test_logging import captureQueries
from twistar.utils import dictToWhere, joinMultipleWheres, joinWheres, transaction

# Keys, column and table names that try to smuggle SQL in.
INJECTED_NAMES = [
    "id = 1; DELETE FROM users; --",
    "first_name) VALUES ('x'); DELETE FROM users; --",
    'first_name" = 1; DELETE FROM users; --',
    "first_name` = 1; DELETE FROM users; -- ",
    "first_name = first_name OR 1 = 1 --",
    "1; DELETE FROM users",
    "users; DROP TABLE users",
    "age\x00",
    "age\n",
    "first name",
    "",
    "9lives",
    "na\u00efve",
    "users.first_name",
    "first_name/**/",
]

# Values that look like SQL; as parameters they must be plain data.
INJECTED_VALUES = [
    "x' OR '1'='1",
    "x'; DELETE FROM users; --",
    'x"; DELETE FROM users; --',
    "x\\'; DELETE FROM users; -- ",
    "%s; DELETE FROM users",
    "?) OR (1 = 1",
    "'",
    "\\",
]

# Limits and offsets that are not non-negative integers.
BAD_LIMITS = [
    "1; DELETE FROM users",
    "1",
    1.0,
    1.5,
    -1,
    True,
    False,
    (1, "0; DELETE FROM users"),
    (1, -1),
    (1, 2.0),
    ("1", 0),
    (1, 2, 3),
    (),
    [1, "1 OFFSET 0; DELETE FROM users"],
    {1: 2},
]

SNAPSHOT_TABLES = (
    "users", "pictures", "avatars", "favorite_colors", "favorite_colors_users",
    "values_tests", "uniques",
)


class SafetyTestCase(DBTestCase):
    """
    A L{DBTestCase} with a second, separate connection to the same database,
    and some rows in most tables.

    @ivar observer: a connection pool of its own on the test database.
    """

    async def setUp(self):
        await super().setUp()
        pool = self.pool
        self.observer = adbapi.ConnectionPool(
            pool.dbapiName, *pool.connargs, cp_min=1, cp_max=1, **pool.connkw
        )
        self.addCleanup(closePool, self.observer)
        self.ann = await User(first_name="Ann", last_name="O'Hara", age=31,
                              dob=date(1990, 2, 3)).save()
        self.bob = await User(first_name="Bob", last_name="?", age=42).save()
        self.joan = await User(first_name="Joan", last_name="%s", age=53).save()
        self.picture = await Picture(name="p", size=3, user_id=self.ann.id).save()
        self.red = await FavoriteColor(name="red").save()
        await self.ann.favorite_colors.set([self.red])
        await Unique(code="A", label="first").save()
        await SafetySample(a_str="sample", a_int=1).save()
        self.before = await self.snapshot()

    async def snapshot(self):
        """
        @return: a L{Deferred} of every row of the test tables, read through
            the separate connection: a dict of table name to sorted rows.
        """

        def read(txn):
            result = {}
            for table in SNAPSHOT_TABLES:
                txn.execute(f"SELECT * FROM {table}")
                result[table] = sorted((tuple(row) for row in txn.fetchall()), key=repr)
            return result

        return await self.observer.runInteraction(read)

    async def assertUnchanged(self):
        """
        Fail unless every test table holds the rows it held at the end of
        C{setUp}.
        """
        self.assertEqual(await self.snapshot(), self.before)

    async def assertRejected(self, exceptionClass, call, *args, **kwargs):
        """
        Call C{call}; fail unless it raises (or its Deferred fails with)
        C{exceptionClass} without running any SQL.

        @return: the exception.
        """
        await self.config.getSchema("users")
        await self.config.getSchema("values_tests")
        queries = captureQueries(self)
        queries.reset()
        error = await self.assertFailure(maybeDeferred(call, *args, **kwargs), exceptionClass)
        self.assertEqual(queries.all(), [], f"{call!r} ran SQL before failing")
        return error


class PlaceholderConversionTests(SynchronousTestCase):
    """
    Exact strings for C{?} conversion by each dialect, beyond those of
    L{twistar.tests.test_sql}: every kind of quoting and comment, C{%}
    doubling, and the placeholder count check.
    """

    sqlite = SQLiteDBConfig()
    postgres = PostgreSQLDBConfig()
    mysql = MySQLDBConfig()

    def assertConverted(self, where, sqlite, postgres, mysql):
        """
        Assert C{whereToString(where)} gives these conditions on the three
        dialects (with the arguments unchanged).
        """
        for config, expected in [(self.sqlite, sqlite), (self.postgres, postgres),
                                 (self.mysql, mysql)]:
            self.assertEqual(
                config.whereToString(where), (expected, list(where[1:])), type(config).__name__
            )

    def test_singleQuoted(self):
        """
        A C{?} inside a single-quoted string, doubled quotes included, is
        text on every dialect.
        """
        self.assertConverted(
            ["a = '?' AND b = 'it''s ?' AND c = ?", 1],
            "a = '?' AND b = 'it''s ?' AND c = ?",
            "a = '?' AND b = 'it''s ?' AND c = %s",
            "a = '?' AND b = 'it''s ?' AND c = %s",
        )

    def test_doubleQuoted(self):
        """
        A C{?} inside a double-quoted identifier (a string on MySQL), doubled
        quotes included, is text.
        """
        self.assertConverted(
            ['"a?" = ? AND "b""?" = ?', 1, 2],
            '"a?" = ? AND "b""?" = ?',
            '"a?" = %s AND "b""?" = %s',
            '"a?" = %s AND "b""?" = %s',
        )

    def test_backquoted(self):
        """
        A C{?} inside a backquoted identifier, doubled backquotes included,
        is text.
        """
        self.assertConverted(
            ["`a?` = ? AND `b``?` = ?", 1, 2],
            "`a?` = ? AND `b``?` = ?",
            "`a?` = %s AND `b``?` = %s",
            "`a?` = %s AND `b``?` = %s",
        )

    def test_lineComment(self):
        """
        A C{?} in a C{--} comment is text, up to the end of the line only.
        """
        self.assertConverted(
            ["a = ? -- why ? 50%\nAND b = ?", 1, 2],
            "a = ? -- why ? 50%\nAND b = ?",
            "a = %s -- why ? 50%%\nAND b = %s",
            "a = %s -- why ? 50%%\nAND b = %s",
        )

    def test_blockComment(self):
        """
        A C{?} in a C{/* */} comment (over several lines, or unterminated at
        the end) is text.
        """
        self.assertConverted(
            ["a = ? /* ?\n ? */ AND b = ? /* ?", 1, 2],
            "a = ? /* ?\n ? */ AND b = ? /* ?",
            "a = %s /* ?\n ? */ AND b = %s /* ?",
            "a = %s /* ?\n ? */ AND b = %s /* ?",
        )

    def test_operators(self):
        """
        A lone C{-}, C{/} or C{*} next to a placeholder does not hide it.
        """
        self.assertConverted(
            ["a-? = b/? * ?", 1, 2, 3],
            "a-? = b/? * ?",
            "a-%s = b/%s * %s",
            "a-%s = b/%s * %s",
        )

    def test_percentDoubled(self):
        """
        Every C{%}, including C{%s} and C{%%} inside literals and quoted
        identifiers, is doubled for the C{%s} drivers and left alone for
        SQLite.
        """
        self.assertConverted(
            ["a LIKE 'Jo%' AND b = '%s' AND \"c%\" = `%%` AND d % 2 = ?", 1],
            "a LIKE 'Jo%' AND b = '%s' AND \"c%\" = `%%` AND d % 2 = ?",
            "a LIKE 'Jo%%' AND b = '%%s' AND \"c%%\" = `%%%%` AND d %% 2 = %s",
            "a LIKE 'Jo%%' AND b = '%%s' AND \"c%%\" = `%%%%` AND d %% 2 = %s",
        )

    def test_percentAlone(self):
        """
        A condition with C{%} and no placeholder is still converted (the
        drivers read C{%%} even without arguments).
        """
        self.assertConverted(
            ["name LIKE 'Jo%'"], "name LIKE 'Jo%'", "name LIKE 'Jo%%'", "name LIKE 'Jo%%'"
        )

    def test_backslashMySQL(self):
        """
        On MySQL a backslash escapes a quote in single- and double-quoted
        strings, and an escaped backslash does not; on the other dialects
        a backslash is plain text.
        """
        where = [r"a = 'x\' ?' AND b = ?", 1]
        self.assertEqual(self.mysql.whereToString(where)[0], r"a = 'x\' ?' AND b = %s")
        self.assertEqual(self.postgres.whereToString([r"a = 'x\' AND b = ?", 1])[0],
                         r"a = 'x\' AND b = %s")
        self.assertEqual(self.mysql.whereToString([r'a = "x\" ?" AND b = ?', 1])[0],
                         r'a = "x\" ?" AND b = %s')
        self.assertEqual(self.mysql.whereToString([r"a = '\\' AND b = ?", 1])[0],
                         r"a = '\\' AND b = %s")
        self.assertEqual(self.sqlite.whereToString([r"a = '\' AND b = ?", 1])[0],
                         r"a = '\' AND b = ?")

    def test_unterminated(self):
        """
        A C{?} after an unterminated quote is inside the quote: it is not
        counted, so the argument count no longer matches.
        """
        for config in (self.sqlite, self.postgres, self.mysql):
            self.assertEqual(config.whereToString(["a = 'x ?"]), ("a = 'x ?", []))
            self.assertRaises(PlaceholderCountError, config.whereToString, ["a = 'x ?", 1])

    def test_countMismatchNamesBoth(self):
        """
        A wrong number of arguments raises L{PlaceholderCountError} naming
        both counts, on every dialect, more or fewer.
        """
        for config in (self.sqlite, self.postgres, self.mysql):
            error = self.assertRaises(
                PlaceholderCountError, config.whereToString, ["a = ? AND b = '?' AND c = ?", 1]
            )
            self.assertIn("2 placeholder", str(error))
            self.assertIn("1 argument", str(error))
            error = self.assertRaises(
                PlaceholderCountError, config.whereToString, ["a = ? -- ?", 1, 2, 3]
            )
            self.assertIn("1 placeholder", str(error))
            self.assertIn("3 argument", str(error))
            self.assertIsInstance(error, InvalidQueryError)

    def test_notAWhere(self):
        """
        A where that is not a list or tuple starting with a condition string
        raises L{InvalidQueryError} saying what a where looks like.
        """
        for where in ["a = 1", b"a = 1", {"a": 1}, 7, [], (), [None], [1, 2], [b"a = ?", 1]]:
            error = self.assertRaises(InvalidQueryError, self.postgres.whereToString, where)
            self.assertIn("where", str(error))

    def test_joinWheresNotAWhere(self):
        """
        L{joinWheres} refuses a where that is not a list or tuple starting
        with a condition string, instead of taking a string apart.
        """
        for where in ["age = 1", "1", {"a": 1}, [], [7]]:
            self.assertRaises(InvalidQueryError, joinWheres, ["a = ?", 1], where)
            self.assertRaises(InvalidQueryError, joinWheres, where, ["a = ?", 1])
        self.assertRaises(InvalidQueryError, SQLiteDBConfig().buildSelect, "users", 3, "age = 1")


class LiteralTests(SafetyTestCase):
    """
    Literal C{%}, C{?} and quotes in conditions, and values that look like
    SQL or paramstyle markers, against the database.
    """

    async def test_likePercent(self):
        """
        C{where=["first_name LIKE 'Jo%'"]} works, without arguments, in
        C{find}, C{count}, C{exists} and C{deleteAll}.
        """
        found = await Member.find(where=["first_name LIKE 'Jo%'"])
        self.assertEqual([m.first_name for m in found], ["Joan"])
        self.assertEqual(await Member.count(["first_name LIKE 'Jo%' OR first_name = ?", "Bob"]), 2)
        self.assertTrue(await Member.exists(["first_name LIKE '%n'"]))
        self.assertEqual(await Member.deleteAll(["first_name LIKE 'Jo%'"]), 1)
        self.assertEqual(sorted(m.first_name for m in await Member.all()), ["Ann", "Bob"])

    async def test_percentInFragments(self):
        """
        A C{%} in C{orderby}, C{group} and C{select} (a modulo, a C{LIKE}
        pattern) is plain SQL, with and without a where, in C{find}, the
        low-level C{select} and a relationship's C{get}.
        """
        byParity = [m.first_name for m in await Member.find(orderby="age % 2, first_name")]
        self.assertEqual(byParity, ["Bob", "Ann", "Joan"])
        found = await Member.find(where=["age > ?", 0], orderby="age % 2 DESC, first_name")
        self.assertEqual([m.first_name for m in found], ["Ann", "Joan", "Bob"])
        rows = await self.config.select(
            "users", where=["age > ?", 0], select="age % 2 AS parity, COUNT(*) AS n",
            group="age % 2", orderby="age % 2",
        )
        self.assertEqual([(row["parity"], row["n"]) for row in rows], [(0, 1), (1, 2)])
        rows = await self.config.select(
            "users", select="first_name LIKE 'Jo%' AS jo", orderby="first_name LIKE '%n', id"
        )
        self.assertEqual(sorted(bool(row["jo"]) for row in rows), [False, False, True])
        await Picture(name="q", size=4, user_id=self.ann.id).save()
        pictures = await self.ann.pictures.get(orderby="size % 2, name")
        self.assertEqual([p.name for p in pictures], ["q", "p"])

    async def test_quotedMarkers(self):
        """
        A C{'?'} or C{'%s'} literal in a condition is compared as text, next
        to real placeholders.
        """
        found = await Member.find(where=["last_name = '?' AND age = ?", 42])
        self.assertEqual([m.id for m in found], [self.bob.id])
        found = await Member.find(where=["last_name = '%s' AND first_name <> ?", "x"])
        self.assertEqual([m.id for m in found], [self.joan.id])
        found = await Member.find(where=["last_name = 'O''Hara' /* ? */ AND age > ?", 30])
        self.assertEqual([m.id for m in found], [self.ann.id])
        self.assertEqual(
            await self.config.count("users", ["last_name IN ('?', '%s', '%%')"]), 2
        )

    async def test_valuesRoundTrip(self):
        """
        Values with C{%s}, C{?}, quotes and backslashes are stored and found
        exactly, through save, find, findBy, update and the low-level API.
        """
        values = [
            "50% off %s and %d and %(name)s ? ?? '?'",
            "it's \"quoted\" and `ticked` '' \"\"",
            "back\\slash \\' \\\" \\\\ \\n \\0 \\%",
            "x' OR '1'='1",
            "-- comment ? /* ? */",
        ]
        for value in values:
            obj = await SafetySample(a_str=value).save()
            self.assertEqual((await SafetySample.find(obj.id)).a_str, value)
            self.assertEqual([o.id for o in await SafetySample.findBy(a_str=value)], [obj.id])
            self.assertEqual(
                [o.id for o in await SafetySample.find(where=["a_str = ?", value])], [obj.id]
            )
            obj.a_str = value + "!"
            await obj.save()
            self.assertEqual((await SafetySample.find(obj.id)).a_str, value + "!")
            await self.config.update("values_tests", {"a_str": value}, where=["id = ?", obj.id])
            row = await self.config.select("values_tests", where=["a_str = ?", value], limit=1)
            self.assertEqual((row["id"], row["a_str"]), (obj.id, value))
            rows = await self.observer.runQuery(
                "SELECT a_str FROM values_tests WHERE id = %d" % obj.id
            )
            self.assertEqual(rows[0][0], value)


class InjectionTests(SafetyTestCase):
    """
    Injection attempts through every key, name, limit and offset: each
    raises a clear error before any SQL runs, or is harmless; the tables
    are checked afterwards through a separate connection.
    """

    async def test_findByKeys(self):
        """
        A C{findBy} key that is not a column raises L{UnknownColumnError}
        naming it, alone or next to a real column.
        """
        for name in INJECTED_NAMES:
            error = await self.assertRejected(UnknownColumnError, Member.findBy, **{name: 1})
            self.assertIn(repr(name), str(error))
            await self.assertRejected(
                UnknownColumnError, Member.findBy, first_name="Ann", **{name: "x"}
            )
        await self.assertUnchanged()

    async def test_findByValues(self):
        """
        Values that look like SQL match nothing through C{findBy}, C{find}
        and C{count}.
        """
        for value in INJECTED_VALUES:
            self.assertEqual(await Member.findBy(first_name=value), [])
            self.assertEqual(await Member.find(where=["first_name = ?", value]), [])
            self.assertEqual(await Member.count(["last_name = ?", value]), 0)
            self.assertEqual(await Member.deleteAll(["first_name = ?", value]), 0)
        await self.assertUnchanged()

    async def test_dictToWhereKeys(self):
        """
        A L{dictToWhere} key that is not a plain identifier raises
        L{InvalidIdentifierError} naming it; values are parameters.
        """
        for name in INJECTED_NAMES:
            error = self.assertRaises(InvalidIdentifierError, dictToWhere, {"age": 1, name: 2})
            self.assertIn(repr(name), str(error))
        for value in INJECTED_VALUES:
            self.assertEqual(await Member.deleteAll(dictToWhere({"first_name": value})), 0)
        await self.assertUnchanged()

    async def test_dictToWhereKeywordKeys(self):
        """
        A L{dictToWhere} key that is a plain identifier but an SQL keyword
        standing for a value (C{null}, C{true}, ...) is not taken as that
        value: at worst the query fails; it never matches every row.
        """
        for name, value in [("null", None), ("NULL", None), ("true", 1), ("TRUE", True),
                            ("false", 0), ("current_date", None)]:
            where = None
            try:
                where = dictToWhere({name: value})
                deleted = await Member.deleteAll(where)
            except TwistarError:
                continue
            self.assertEqual(deleted, 0, f"dictToWhere({{{name!r}: {value!r}}}) gave {where!r}")
        await self.assertUnchanged()

    async def test_insertKeys(self):
        """
        C{insert}, C{insertMany} and C{update} keys that are not plain
        identifiers raise L{InvalidIdentifierError} before any SQL runs.
        """
        for name in INJECTED_NAMES:
            await self.assertRejected(
                InvalidIdentifierError, self.config.insert, "users", {"first_name": "x", name: 1}
            )
            await self.assertRejected(
                InvalidIdentifierError, self.config.insertMany, "users",
                [{"first_name": "a"}, {"first_name": "b", name: 1}],
            )
            await self.assertRejected(
                InvalidIdentifierError, self.config.update, "users", {name: 1},
                where=["id = ?", self.ann.id],
            )
            await self.assertRejected(
                InvalidIdentifierError, self.config.update, "users", {"age": 1, name: 1}
            )
        await self.assertUnchanged()

    async def test_tableNames(self):
        """
        A table name that is not a plain identifier (or C{schema.table})
        raises L{InvalidIdentifierError} in every low-level call before any
        SQL runs.
        """
        config = self.config
        for name in INJECTED_NAMES:
            if name == "users.first_name":
                continue
            for call, args in [
                (config.select, ()), (config.count, ()), (config.delete, ()),
                (config.insert, ({"first_name": "x"},)), (config.insertMany, ([{"age": 1}],)),
                (config.update, ({"age": 1},)), (config.getSchema, ()),
            ]:
                await self.assertRejected(InvalidIdentifierError, call, name, *args)
        await self.assertUnchanged()

    async def test_modelTablename(self):
        """
        A model whose C{TABLENAME} is an injection attempt fails with
        L{InvalidIdentifierError} in every class and instance method,
        before any SQL runs.
        """
        for name in INJECTED_NAMES:
            if name in ("users.first_name", ""):
                # A dotted name is schema.table; an empty one means the
                # convention (the table "evils").
                continue
            Evil = type("Evil", (DBObject,), {"TABLENAME": name})
            for call, args, kwargs in [
                (Evil.find, (), {}), (Evil.find, (self.ann.id,), {}), (Evil.all, (), {}),
                (Evil.findBy, (), {"first_name": "Ann"}), (Evil.count, (), {}),
                (Evil.exists, (), {}), (Evil.deleteAll, (), {}),
                (Evil.deleteAll, (["id = ?", self.ann.id],), {}),
                (Evil(first_name="x").save, (), {}),
                (Evil(id=self.ann.id, first_name="x").save, (), {}),
                (Evil(id=self.ann.id).delete, (), {}),
                (Evil(id=self.ann.id).refresh, (), {}),
            ]:
                await self.assertRejected(InvalidIdentifierError, call, *args, **kwargs)
            error = await self.assertFailure(
                Evil.findOrCreate(first_name="Ann"), exceptions.TransactionError
            )
            self.assertIsInstance(error.__cause__, InvalidIdentifierError)
        await self.assertUnchanged()

    async def test_saveAttributeNames(self):
        """
        Attributes whose names are injection attempts are ignored by
        C{save()}, on insert and on update: only the columns are written.
        """
        attrs = {name: "x" for name in INJECTED_NAMES}
        member = await Member(first_name="Eve", **attrs).save()
        after = await self.snapshot()
        added = set(after["users"]) - set(self.before["users"])
        self.assertEqual(added, {(member.id, "Eve", None, None, None)})
        self.assertEqual(dict(after, users=None), dict(self.before, users=None))

        ann = await Member.find(self.ann.id)
        for name in INJECTED_NAMES:
            setattr(ann, name, 0)
        ann.age = 32
        await ann.save()
        expected = [row[:3] + (32,) + row[4:] if row[0] == self.ann.id else row
                    for row in self.before["users"]]
        expected.append((member.id, "Eve", None, None, None))
        after = await self.snapshot()
        self.assertEqual(after["users"], sorted(expected, key=repr))
        self.assertEqual(dict(after, users=None), dict(self.before, users=None))

    async def test_relationshipKeys(self):
        """
        Relationships whose foreign keys or join tables are injection
        attempts raise L{InvalidIdentifierError} before any SQL runs, in
        C{get}, C{count}, C{set} and C{clear}; deleting the owner fails
        before deleting anything.
        """
        owner = await SafetyOwner.find(self.ann.id)
        picture = await Picture.find(self.picture.id)
        red = await FavoriteColor.find(self.red.id)
        for relation in [owner.pictures, owner.favorite_colors, owner.colors, owner.hues]:
            await self.assertRejected(InvalidIdentifierError, relation.get)
            await self.assertRejected(InvalidIdentifierError, relation.count)
            await self.assertRejected(InvalidIdentifierError, relation.clear)
        await self.assertRejected(InvalidIdentifierError, owner.pictures.set, [picture])
        await self.assertRejected(InvalidIdentifierError, owner.avatar.get)
        for relation in [owner.favorite_colors, owner.colors, owner.hues]:
            await self.assertRejected(InvalidIdentifierError, relation.set, [red])
        await self.assertRejected(InvalidIdentifierError, owner.delete)
        await self.assertUnchanged()

    async def test_belongsToKey(self):
        """
        A belongs-to foreign key that is not a column is only an attribute:
        C{get()} finds nothing and C{set()} writes nothing.
        """
        owner = await SafetyOwner.find(self.bob.id)
        self.assertIsNone(await owner.boss.get())
        await owner.boss.set(self.ann)
        await owner.boss.clear()
        await self.assertUnchanged()

    def test_relationshipName(self):
        """
        A relationship name that is not an identifier is refused when the
        class is defined.
        """
        for name in ["pictures; DROP TABLE users", "", "a b", "1x"]:
            with self.assertRaises(exceptions.InvalidRelationshipError):
                type("Bad", (DBObject,), {"HASMANY": [name]})

    async def test_limits(self):
        """
        A limit or offset that is not a non-negative integer raises
        L{InvalidQueryError} naming it, before any SQL runs, in C{find},
        relationships, and the low-level C{select} and C{update}.
        """
        # Good limits first: a query cached for limit=1 must not let 1.0 or True in.
        await Member.find(limit=1)
        await Member.find(limit=(1, 0))
        for limit in BAD_LIMITS + [True, (1.0, 0)]:
            error = await self.assertRejected(InvalidQueryError, Member.find, limit=limit)
            self.assertIn("limit", str(error))
            await self.assertRejected(InvalidQueryError, Member.find, where=["age > ?", 1],
                                      limit=limit)
            await self.assertRejected(InvalidQueryError, self.config.select, "users",
                                      limit=limit)
            await self.assertRejected(InvalidQueryError, self.config.update, "users",
                                      {"age": 1}, where=["age > ?", 1], limit=limit)
            await self.assertRejected(InvalidQueryError, self.ann.pictures.get, limit=limit)
            await self.assertRejected(InvalidQueryError, self.ann.favorite_colors.get,
                                      limit=limit)
        await self.assertUnchanged()

    async def test_fragmentsNotText(self):
        """
        An C{orderby}, C{group} or C{select} that is not a string raises
        L{InvalidQueryError} naming it, before any SQL runs.
        """
        for bad in (5, ["age", "id"], ("age",), {"age": 1}):
            for name in ("orderby", "group"):
                error = await self.assertRejected(InvalidQueryError, Member.find,
                                                  **{name: bad})
                self.assertIn(name, str(error))
                await self.assertRejected(InvalidQueryError, self.ann.pictures.get,
                                          **{name: bad})
            error = await self.assertRejected(InvalidQueryError, self.config.select, "users",
                                              select=bad)
            self.assertIn("select", str(error))
        await self.assertUnchanged()

    async def test_countAndDeleteAll(self):
        """
        C{count}, C{exists} and C{deleteAll} refuse a where that is not a
        list (a string of SQL, a dict) or has the wrong number of arguments,
        before any SQL runs.
        """
        for where in ["1 = 1; DELETE FROM users", "id = 1", {"id": 1}, [], [None],
                      ("first_name = ?",), ["first_name = ? OR 1 = 1"] + ["x"] * 2]:
            for call in (Member.count, Member.exists, Member.deleteAll, Member.find):
                await self.assertRejected(InvalidQueryError, call, where=where)
            await self.assertRejected(InvalidQueryError, self.config.delete, "users", where)
            await self.assertRejected(InvalidQueryError, self.config.count, "users", where)
            await self.assertRejected(InvalidQueryError, self.ann.pictures.count, where=where)
            if where:
                await self.assertRejected(InvalidQueryError, self.ann.favorite_colors.get,
                                          join_where=where)
        await self.assertUnchanged()


class BadInputTests(SafetyTestCase):
    """
    Bad input fails with an error that names the problem, before anything
    is sent, and writes nothing.
    """

    async def test_unsupportedValues(self):
        """
        Values of types the driver cannot store are refused before any SQL
        runs, naming the attribute, in C{save} (insert and update),
        C{findBy}, wheres and the low-level writes.
        """
        for value in [object(), {1, 2}, {"a": 1}, frozenset(), Member, 1j]:
            error = await self.assertRejected(
                UnsupportedValueError, Member(first_name="x", last_name=value).save
            )
            self.assertIn("'last_name'", str(error))
            ann = await Member.find(self.ann.id)
            ann.first_name = "changed"
            ann.age = value
            error = await self.assertRejected(UnsupportedValueError, ann.save)
            self.assertIn("'age'", str(error))
            error = await self.assertRejected(
                UnsupportedValueError, Member.findBy, first_name="Ann", age=value
            )
            self.assertIn("'age'", str(error))
            error = await self.assertRejected(
                UnsupportedValueError, Member.find, where=["age = ?", value]
            )
            self.assertIn("where", str(error))
            error = await self.assertRejected(
                UnsupportedValueError, self.config.insert, "users", {"age": 1, "dob": value}
            )
            self.assertIn("'dob'", str(error))
            error = await self.assertRejected(
                UnsupportedValueError, self.config.update, "users", {"dob": value}
            )
            self.assertIn("'dob'", str(error))
        await self.assertUnchanged()

    async def test_valuesTheDriverRefuses(self):
        """
        Values of storable types that the driver cannot encode, or that
        would not come back equal (a lone surrogate; on SQLite an integer
        beyond 64 bits, NaN and a decimal of more than 15 significant digits,
        on PostgreSQL a NUL character and a signaling NaN, on MySQL NaN and
        infinities) fail with L{UnsupportedValueError} naming the value: in
        C{save}, in a where, and in an C{insertMany} whose earlier
        statements were already sent. Nothing is written.
        """
        refused = {
            "sqlite": [("age", 2**70), ("age", -(2**63) - 1), ("age", float("nan")),
                       ("last_name", float("nan")),
                       ("age", Decimal("NaN")), ("age", Decimal("1234567890.123456"))],
            "postgres": [("last_name", "a\x00b"), ("age", Decimal("sNaN"))],
            "mysql": [("age", float("nan")), ("age", float("-inf")), ("age", Decimal("NaN")),
                      ("age", Decimal("Infinity"))],
        }[self.backend] + [("last_name", "x\ud800y")]
        size = self.config.rowsPerStatement(2)
        for column, value in refused:
            error = await self.assertFailure(
                User(first_name="x", **{column: value}).save(), UnsupportedValueError
            )
            self.assertIn(repr(value), str(error))
            await self.assertFailure(
                User.find(where=[f"{column} = ?", value]), UnsupportedValueError
            )
            rows = [{"first_name": f"n{i}", column: 1 if column == "age" else "v"}
                    for i in range(2 * size + 10)]
            rows[-5][column] = value
            error = await self.assertFailure(self.config.insertMany("users", rows),
                                             UnsupportedValueError)
            self.assertIn(repr(value), str(error))
            await self.assertUnchanged()

    async def test_timedeltaOnSQLite(self):
        """
        SQLite has no type for C{timedelta} values: they are refused before
        any SQL runs (PostgreSQL and MySQL store them as intervals/times).
        """
        if self.backend != "sqlite":
            await User(first_name="x", last_name=timedelta(days=1)).save()
            return
        error = await self.assertRejected(
            UnsupportedValueError, User(first_name="x", last_name=timedelta(days=1)).save
        )
        self.assertIn("'last_name'", str(error))
        await self.assertUnchanged()

    async def test_insertManyAllOrNothing(self):
        """
        C{insertMany} of 1000 rows with a bad value in row 500 is refused
        before any SQL runs and writes nothing.
        """
        rows = [{"first_name": f"n{i}", "age": i} for i in range(1000)]
        rows[500]["age"] = object()
        error = await self.assertRejected(UnsupportedValueError, self.config.insertMany,
                                          "users", rows)
        self.assertIn("'age'", str(error))
        await self.assertUnchanged()

    async def test_insertManyNotDicts(self):
        """
        C{insertMany} given something other than a list of dicts, or a row
        that is not a dict (wherever it is), is refused before any SQL runs
        and writes nothing, naming the row.
        """
        rows = [{"first_name": f"n{i}", "age": i} for i in range(1500)]
        for bad, where in [({"age": 1}, "not a dict"), ("age", "not a str"), ([1], "row 0"),
                           ([{}, None], "row 1"), (rows[:1200] + [[("age", 2)]], "row 1200"),
                           (rows + ["age"], "row 1500"),
                           ([{"first_name": "a"}, {"age": 1}, "xy"], "row 2")]:
            error = await self.assertRejected(InvalidQueryError, self.config.insertMany,
                                              "users", bad)
            self.assertIn(where, str(error))
        await self.assertUnchanged()

    async def test_insertAndUpdateNotDicts(self):
        """
        C{insert} and C{update} given values that are not a dict are refused
        before any SQL runs.
        """
        for bad in ([1, 2], "first_name", None, [("first_name", "x")]):
            for call in (self.config.insert, self.config.update):
                error = await self.assertRejected(InvalidQueryError, call, "users", bad)
                self.assertIn("takes a dict of column values", str(error))
        await self.assertUnchanged()

    async def test_relatedObjectsOfWrongClass(self):
        """
        Relationships and C{preload} refuse objects of another class (or
        things that are not objects) with C{TypeError}, before any SQL runs
        and without changing the objects.
        """
        other = await User(first_name="Other").save()
        self.before = await self.snapshot()
        notObjects = [None, 1, "x"]
        calls = [
            (self.ann.pictures.set, lambda bad: [self.picture, bad], [self.red, other]),
            (self.ann.favorite_colors.set, lambda bad: [bad], [self.picture, other]),
            (self.ann.avatar.set, lambda bad: bad, [self.red, other]),
            (self.picture.user.set, lambda bad: bad, [self.red, self.picture]),
            (lambda owners: User.preload(owners, "pictures"), lambda bad: [self.ann, bad],
             [self.red, self.picture]),
        ]
        for call, argument, wrongObjects in calls:
            for bad in notObjects + wrongObjects:
                await self.assertRejected(TypeError, call, argument(bad))
        self.assertEqual(self.picture.user_id, self.ann.id)
        await self.assertUnchanged()

    async def test_otherBadArguments(self):
        """
        An C{update} with nothing to set, a C{dictToWhere} or
        C{joinMultipleWheres} given the wrong shapes, registering something
        that is not a class and a pool that is not a pool are refused with
        clear errors before any SQL runs; deleting an unsaved object sends
        nothing.
        """
        await self.assertRejected(InvalidQueryError, self.config.update, "users", {})
        for bad in ([("first_name", "x")], "first_name"):
            await self.assertRejected(InvalidQueryError, dictToWhere, bad)
        await self.assertRejected(InvalidQueryError, joinMultipleWheres,
                                  [["age = ?", 1], "first_name = 'x'"])
        self.assertEqual(joinMultipleWheres([["age = ?", 1], None, ["id > ?", 0]]),
                         ["(age = ?) AND (id > ?)", 1, 0])
        with self.assertRaises(TypeError):
            Registry.register("User")
        pool = Registry.DBPOOL
        try:
            Registry.DBPOOL = "sqlite3"
            with self.assertRaises(TwistarError) as caught:
                Registry.getConfig()
            self.assertIn("ConnectionPool", str(caught.exception))
        finally:
            Registry.DBPOOL = pool
        unsaved = Member(first_name="never saved")
        queries = captureQueries(self)
        await unsaved.delete()
        self.assertEqual(queries.all(), [])
        await self.assertUnchanged()

    async def test_insertManyIntegrityAllOrNothing(self):
        """
        C{insertMany} whose last row breaks a unique constraint writes
        nothing (the rows before it are rolled back).
        """
        rows = [{"code": f"c{i}", "label": "l"} for i in range(1500)] + [{"code": "A"}]
        await self.assertFailure(self.config.insertMany("uniques", rows), IntegrityError)
        await self.assertUnchanged()

    async def test_insertManyInsideTransaction(self):
        """
        Inside a transaction, an C{insertMany} that fails in a later batch
        leaves none of its rows, and the transaction goes on and commits
        (the insert runs in a savepoint; PostgreSQL would otherwise refuse
        every later statement).
        """
        rows = [{"code": f"c{i}", "label": "l"} for i in range(1500)] + [{"code": "A"}]

        @transaction
        async def goesOn(txn):
            with self.assertRaises(IntegrityError):
                await self.config.insertMany("uniques", rows)
            await Unique(code="after", label="x").save()

        await goesOn()
        self.assertEqual(await Unique.count(["code LIKE ?", "c%"]), 0)
        self.assertEqual(await Unique.count(["code = ?", "after"]), 1)

    async def test_saveDeletedWithId(self):
        """
        A deleted object stays deleted: giving it another row's id and
        saving it raises L{DBObjectSaveError} and overwrites nothing.
        """
        member = await Member.find(self.bob.id)
        await member.delete()
        self.before["users"] = [r for r in self.before["users"] if r[0] != self.bob.id]
        member.id = self.ann.id
        member.first_name = "overwritten"
        await self.assertRejected(DBObjectSaveError, member.save)
        await self.assertUnchanged()

    async def test_unregisteredClasses(self):
        """
        Has-one, HABTM and belongs-to relationships to classes that were
        never registered raise L{ClassNotRegisteredError} naming the class.
        """
        haunted = await SafetyHaunted.find(self.ann.id)
        for call, name in [(haunted.ghost.get, "Ghost"), (haunted.phantoms.get, "Phantom"),
                           (haunted.phantoms.count, "Phantom"),
                           (haunted.spectre.get, "Spectre")]:
            error = await self.assertFailure(maybeDeferred(call), ClassNotRegisteredError)
            self.assertIn(name, str(error))
        await self.assertUnchanged()

    async def test_unsavedObjects(self):
        """
        Unsaved objects are hashable and unequal to each other, and their
        relationships cannot be used; nothing is written.
        """
        first, second = Member(first_name="Ann"), Member(first_name="Ann")
        self.assertNotEqual(first, second)
        self.assertEqual(len({first, second}), 2)
        ann = await User.find(self.ann.id)
        with self.assertRaises(exceptions.ReferenceNotSavedError):
            await ann.favorite_colors.set([FavoriteColor(name="new")])
        with self.assertRaises(exceptions.ReferenceNotSavedError):
            await ann.pictures.set([Picture(name="new")])
        with self.assertRaises(exceptions.ReferenceNotSavedError):
            User(first_name="x").pictures.get()
        await self.assertUnchanged()

    async def test_poolUsableAfterErrors(self):
        """
        After refused calls and failed statements, a one-connection pool
        still works: nothing hangs and no transaction is left open.
        """
        await initDB(self, cp_min=1, cp_max=1)
        self.config = Registry.getConfig()
        await Unique(code="A").save()
        for _ in range(3):
            await self.assertFailure(Unique(code="A").save(), IntegrityError)
            await self.assertFailure(self.config.execute("SELEC 1"), ProgrammingError)
            await self.assertFailure(maybeDeferred(Member.find, limit="1"), InvalidQueryError)
            await self.assertFailure(maybeDeferred(Member.find, where="x"), InvalidQueryError)
        await Unique(code="B").save()
        self.assertEqual(sorted(u.code for u in await Unique.all()), ["A", "B"])


class ExceptionTranslationTests(SafetyTestCase):
    """
    Driver exceptions become twistar exceptions in one place, with the
    driver's exception as C{__cause__}.
    """

    def assertCause(self, error):
        """
        Assert C{error} is a L{TwistarError} caused by a driver exception.
        """
        self.assertIsInstance(error, TwistarError)
        self.assertIsInstance(error.__cause__, self.pool.dbapi.Error)

    def assertDriverAttributes(self, error):
        """
        Assert C{error} has the attributes the driver gives its own
        exceptions, with the same values as its C{__cause__}: psycopg2's
        C{pgcode}, C{pgerror} and C{diag}, psycopg's C{sqlstate} and
        C{diag}, sqlite3's C{sqlite_errorcode} (MySQL drivers, and sqlite3
        before Python 3.11, give C{args} only).
        """
        cause = error.__cause__
        self.assertEqual(error.args, cause.args)
        names = [
            name for name in ("pgcode", "pgerror", "sqlstate", "sqlite_errorcode",
                              "sqlite_errorname")
            if getattr(cause, name, None) is not None
        ]
        for name in names:
            self.assertEqual(getattr(error, name), getattr(cause, name), name)
        if hasattr(cause, "diag"):
            self.assertIsNotNone(cause.diag.sqlstate)
            self.assertEqual(error.diag.sqlstate, cause.diag.sqlstate)
            self.assertEqual(error.diag.message_primary, cause.diag.message_primary)
        if not isinstance(self.config, MySQLDBConfig) and (
            not isinstance(self.config, SQLiteDBConfig) or sys.version_info >= (3, 11)
        ):
            self.assertTrue(names)

    async def test_uniqueViolation(self):
        """
        A unique violation raises L{IntegrityError}, from C{save}, C{insert}
        and C{update}, and writes nothing.
        """
        error = await self.assertFailure(Unique(code="A", label="dup").save(), IntegrityError)
        self.assertCause(error)
        self.assertIsInstance(error.__cause__, self.pool.dbapi.IntegrityError)
        self.assertIsInstance(error, exceptions.DatabaseError)
        self.assertDriverAttributes(error)
        error = await self.assertFailure(
            self.config.insert("uniques", {"code": "A"}), IntegrityError
        )
        self.assertCause(error)
        second = await Unique(code="B").save()
        second.code = "A"
        error = await self.assertFailure(second.save(), IntegrityError)
        self.assertCause(error)
        self.before["uniques"] = sorted(self.before["uniques"] + [(second.id, "B", None)],
                                        key=repr)
        await self.assertUnchanged()

    async def test_syntaxError(self):
        """
        An SQL syntax error, in raw SQL or a trusted fragment, raises
        L{ProgrammingError}.
        """
        error = await self.assertFailure(self.config.execute("SELEC 1"), ProgrammingError)
        self.assertCause(error)
        error = await self.assertFailure(
            self.config.executeOperation("DELETE FROM users WHERE"), ProgrammingError
        )
        self.assertCause(error)
        error = await self.assertFailure(
            Member.find(where=["first_name = = ?", "x"]), ProgrammingError
        )
        self.assertCause(error)
        await self.assertUnchanged()

    async def test_missingTable(self):
        """
        A missing table raises L{ImaginaryTableError} naming it, from model
        methods and raw SQL.
        """
        for call in [Imaginary.find, Imaginary.all, Imaginary.count, Imaginary.deleteAll,
                     lambda: Imaginary.findBy(name="x"),
                     lambda: self.config.execute("SELECT * FROM imaginaries")]:
            error = await self.assertFailure(maybeDeferred(call), ImaginaryTableError)
            self.assertIn("imaginaries", str(error))
        error = await self.assertFailure(
            self.config.execute("SELECT * FROM imaginaries"), ImaginaryTableError
        )
        self.assertCause(error)

    def test_hierarchy(self):
        """
        Errors found before sending derive from L{InvalidQueryError} (a
        C{ValueError}; L{UnsupportedValueError} also a C{TypeError}); the
        driver's from L{exceptions.DatabaseError}; the historic names still
        work and all derive from L{TwistarError}.
        """
        for klass in (InvalidIdentifierError, UnknownColumnError, PlaceholderCountError,
                      UnsupportedValueError):
            self.assertTrue(issubclass(klass, InvalidQueryError))
            self.assertTrue(issubclass(klass, ValueError))
        self.assertTrue(issubclass(UnsupportedValueError, TypeError))
        for klass in (IntegrityError, ProgrammingError, exceptions.OperationalError,
                      exceptions.ConnectionLostError):
            self.assertTrue(issubclass(klass, exceptions.DatabaseError))
        from twistar.exceptions import (  # noqa: F401
            CannotRefreshError,
            InvalidRelationshipError,
            ReferenceNotSavedError,
            TransactionError,
        )

        for klass in (TransactionError, ClassNotRegisteredError, ImaginaryTableError,
                      ReferenceNotSavedError, CannotRefreshError, InvalidRelationshipError,
                      DBObjectSaveError, InvalidQueryError, exceptions.DatabaseError):
            self.assertTrue(issubclass(klass, TwistarError))
