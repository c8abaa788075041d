"""
Tests for L{twistar.querylog} and L{twistar.testing}: query events, the
redaction of secret columns, query recorders and C{assertQueries}, and the
strict N+1 mode.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred, gatherResults
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import FailTest, SynchronousTestCase

from twistar.dbconfig.base import InteractionBase
from twistar.dbconfig.mysql import MySQLDBConfig
from twistar.dbconfig.postgres import PostgreSQLDBConfig, PsycopgDBConfig
from twistar.dbconfig.sqlite import SQLiteDBConfig
from twistar.dbconfig.sqltext import placeholderColumns
from twistar.dbobject import DBObject
from twistar.exceptions import (
    IntegrityError,
    InvalidIdentifierError,
    NPlusOneError,
    ProgrammingError,
)
from twistar.querylog import NAMESPACE, REDACTED, QueryRecorder, redacted, secretColumns
from twistar.testing import QueryAssertions, queries, strictNPlusOne
from twistar.tests.helpers import DBTestCase, tableDDL
from twistar.tests.models import Avatar, FavoriteColor, Picture, User
from twistar.transaction import transaction


class Account(DBObject):
    """
    A model with secret columns.
    """

    TABLENAME = "querylog_accounts"
    SECRET_COLUMNS = ("password", "api_token")

    login: str
    password: str | None
    api_token: str | None
    age: int | None


_ACCOUNTS = ["id {pk}", "login {str} UNIQUE", "password {str}", "api_token {str}", "age {int}"]


def captureEvents(testCase, namespace=NAMESPACE):
    """
    Collect the events of C{namespace} (by default, query events) for the
    rest of C{testCase}.

    @return: the list the events are appended to.
    """
    events = []

    def observe(event):
        if event.get("log_namespace") == namespace:
            events.append(event)

    globalLogPublisher.addObserver(observe)
    testCase.addCleanup(globalLogPublisher.removeObserver, observe)
    return events


def setting(testCase: Any, name: str, value: Any) -> None:
    """
    Set C{InteractionBase.name} to C{value} for the rest of C{testCase}.
    """
    testCase.addCleanup(setattr, InteractionBase, name, getattr(InteractionBase, name))
    setattr(InteractionBase, name, value)


class PlaceholderColumnsTests(SynchronousTestCase):
    """
    Tests for L{placeholderColumns}: the column each placeholder is for.
    """

    def columns(self, query: str, marker: str = "?", lexicon: str = "standard") -> tuple:
        return placeholderColumns(query, marker, lexicon)[0]

    def test_insert(self) -> None:
        """
        The values of an insert are for its columns, by position, row after
        row; whatever follows the rows is read as usual.
        """
        self.assertEqual(
            self.columns('INSERT INTO "t" ("a", "b") VALUES (?, lower(?)), (?, ?) RETURNING "id"'),
            ("a", "b", "a", "b"),
        )
        self.assertEqual(
            self.columns("INSERT INTO `t` (`a`, `Pass`) VALUES (%s, %s) "
                         "ON DUPLICATE KEY UPDATE `Pass` = VALUES(`Pass`)", "%s", "mysql"),
            ("a", "pass"),
        )
        self.assertEqual(self.columns("INSERT INTO t (a, b) SELECT ?, ? FROM u"), (None, None))

    def test_conditions(self) -> None:
        """
        A value compared with a column (perhaps through a function, or
        after its table's name) is for that column; so are the values of
        an C{IN} list and a range.
        """
        self.assertEqual(
            self.columns('UPDATE "t" SET "a" = ?, "b" = "b" + ? WHERE "t"."c" = ?'),
            ("a", "b", "c"),
        )
        self.assertEqual(
            self.columns("SELECT * FROM t WHERE lower(name) LIKE ? AND age BETWEEN ? AND ? "
                         "AND id IN (?, ?) AND x IS NOT ? LIMIT ? OFFSET ?"),
            ("name", "age", "age", "id", "id", "x", None, None),
        )
        self.assertEqual(self.columns("SELECT * FROM t WHERE ? = a"), (None,))

    def test_rows(self) -> None:
        """
        The values of a row compared with a list of columns are for those
        columns, by position.
        """
        self.assertEqual(
            self.columns('SELECT * FROM t WHERE ("a", "b") IN ((?, ?), (?, ?)) '
                         'AND ("c", "d") = (?, ?)'),
            ("a", "b", "a", "b", "c", "d"),
        )

    def test_case(self) -> None:
        """
        In C{column = CASE key WHEN ? THEN ? END}, the values after C{WHEN}
        are for the key and those after C{THEN} for the column.
        """
        self.assertEqual(
            self.columns('UPDATE "t" SET "a" = CASE "id" WHEN %s THEN CAST(%s AS text) END, '
                         '"b" = CASE WHEN "k" = %s AND "j" = %s THEN %s END', "%s", "postgres"),
            ("id", "a", "k", "j", "b"),
        )

    def test_stringsAndComments(self) -> None:
        """
        A placeholder or a name in a string or a comment is none.
        """
        columns, names = placeholderColumns(
            "SELECT 'secret = ?' FROM t /* secret ? */ WHERE a = ? -- secret ?", "?", "standard"
        )
        self.assertEqual(columns, ("a",))
        self.assertEqual(names, frozenset({"t", "a"}))

    def test_builtStatements(self) -> None:
        """
        The statements twistar builds for each database are read right.
        """
        for config in (SQLiteDBConfig(), PostgreSQLDBConfig(), MySQLDBConfig()):
            insert = config.buildInsert("accounts", ["login", "password"], True)
            self.assertEqual(config.placeholderColumns(insert)[0], ("login", "password"))
            update, args = config.buildUpdate(
                "accounts", ["password", "age"], ["login = ? AND age > ?", "x", 3], None
            )
            self.assertEqual(
                config.placeholderColumns(update)[0], ("password", "age", "login", "age")
            )
            select, args = config.buildSelect(
                "accounts", where=["api_token IN (?, ?)", "a", "b"], limit=2
            )
            self.assertEqual(
                config.placeholderColumns(select)[0][:2], ("api_token", "api_token")
            )


class RedactionTests(SynchronousTestCase):
    """
    Tests for L{redacted} and C{SECRET_COLUMNS}.
    """

    config = SQLiteDBConfig()

    def test_secretValues(self) -> None:
        """
        The values for a model's secret columns are replaced by
        L{REDACTED}; the others stay as they are.
        """
        self.assertTrue({"password", "api_token"} <= secretColumns())
        day = date(2020, 1, 2)
        self.assertEqual(
            redacted(self.config, 'INSERT INTO "a" ("login", "Password", "d") VALUES (?, ?, ?)',
                     ["bob", "hunter2", day]),
            ("bob", REDACTED, day),
        )
        self.assertEqual(
            redacted(self.config, "SELECT * FROM a WHERE login = ?", ["bob"]), ("bob",)
        )
        self.assertEqual(repr(REDACTED), "<redacted>")

    def test_numberedPlaceholders(self) -> None:
        """
        Through psycopg 3, whose multi-row C{INSERT}s number their
        placeholders, only the values for secret columns are redacted.
        """
        config = PsycopgDBConfig()
        self.assertEqual(
            redacted(config, 'INSERT INTO "a" ("login", "password") VALUES ($1, $2), ($3, $4)',
                     ["bob", "x", "ann", "y"]),
            ("bob", REDACTED, "ann", REDACTED),
        )

    def test_unknownPlaceholders(self) -> None:
        """
        In a statement naming a secret column, a value whose column cannot
        be told is redacted too, and all of them when the placeholders
        cannot be counted.
        """
        self.assertEqual(
            redacted(self.config, "SELECT * FROM a WHERE password = ? AND ? = login LIMIT ?",
                     ["x", "bob", 1]),
            (REDACTED, REDACTED, REDACTED),
        )
        self.assertEqual(
            redacted(self.config, "SELECT * FROM a WHERE password = ?", ["x", "y"]),
            (REDACTED, REDACTED),
        )
        self.assertEqual(
            redacted(self.config, "SELECT * FROM a WHERE age = ? LIMIT ?", [1, 2]), (1, 2)
        )

    def test_namedArguments(self) -> None:
        """
        Arguments by name (a dict) are redacted by name.
        """
        self.assertEqual(
            redacted(self.config, "UPDATE a SET password = %(password)s WHERE id = %(id)s",
                     {"password": "x", "id": 3}),
            {"password": REDACTED, "id": 3},
        )

    def test_declarations(self) -> None:
        """
        C{SECRET_COLUMNS} must be a tuple of column names, in the class or
        assigned later.
        """
        with self.assertRaises(InvalidIdentifierError):
            type("Bad", (DBObject,), {"SECRET_COLUMNS": "password"})
        with self.assertRaises(InvalidIdentifierError):
            type("Bad", (DBObject,), {"SECRET_COLUMNS": ("pass word",)})
        model: Any = type("Later", (DBObject,), {})
        self.assertNotIn("querylog_later", secretColumns())
        model.SECRET_COLUMNS = ("querylog_later",)
        self.assertIn("querylog_later", secretColumns())


class _AccountsTestCase(DBTestCase):
    """
    A test case with the table of L{Account}, and the query events collected.
    """

    async def setUp(self) -> None:
        await super().setUp()
        await self.config.executeOperation("DROP TABLE IF EXISTS querylog_accounts")
        await self.config.executeOperation(tableDDL(self.backend, "querylog_accounts", _ACCOUNTS))
        self.addCleanup(self.pool.runOperation, "DROP TABLE querylog_accounts")
        self.events = captureEvents(self)


class QueryEventTests(_AccountsTestCase):
    """
    Query events, on each database.
    """

    async def test_offByDefault(self) -> None:
        """
        Without C{QUERY_EVENTS} and C{SLOW_QUERY} there is no query event.
        """
        self.assertIs(InteractionBase.QUERY_EVENTS, False)
        self.assertIsNone(InteractionBase.SLOW_QUERY)
        await User(first_name="Ann").save()
        await User.find(where=["first_name = ?", "Ann"])
        self.assertEqual(self.events, [])

    async def test_fields(self) -> None:
        """
        Each statement is a debug event with its SQL, its arguments (the
        values themselves), the rows it wrote or read, its duration, the
        database and no transaction.
        """
        setting(self, "QUERY_EVENTS", True)
        day = date(2001, 2, 3)
        users = [await User(first_name=name, age=7, dob=day).save() for name in "ABC"]
        del self.events[:]
        found = await User.find(where=["age = ?", 7], orderby="first_name")
        self.assertEqual(found, users)
        await User.deleteAll(where=["first_name IN (?, ?)", "A", "B"])
        select, delete = self.events
        self.assertTrue(select["sql"].startswith("SELECT"))
        self.assertEqual(select["args"], (7,))
        self.assertEqual(select["rows"], 3)
        self.assertTrue(delete["sql"].startswith("DELETE"))
        self.assertEqual(delete["args"], ("A", "B"))
        self.assertEqual(delete["rows"], 2)
        for event in (select, delete):
            self.assertEqual(event["log_level"], LogLevel.debug)
            self.assertIsInstance(event["duration"], float)
            self.assertGreaterEqual(event["duration"], 0)
            self.assertEqual(event["database"], self.pool.dbapiName)
            self.assertIs(event["pool"], self.pool)
            self.assertIsNone(event["transaction"])
            self.assertIsNone(event["error"])
            self.assertNotIn("query", event)  # LOG's field: no double count
            self.assertIn(event["sql"], formatEvent(event))
        self.assertIn("rows=3", formatEvent(select))

    async def test_argumentObjects(self) -> None:
        """
        The arguments are the objects given, not the strings or adapted
        values the driver is sent.
        """
        setting(self, "QUERY_EVENTS", True)
        day = date(2001, 2, 3)
        await User(first_name="D", dob=day).save()
        (insert,) = [e for e in self.events if e["sql"].startswith("INSERT")]
        self.assertIn(day, insert["args"])
        self.assertIn("D", insert["args"])

    async def test_rawStatements(self) -> None:
        """
        Raw SQL run with C{execute} is an event too, with its arguments.
        """
        setting(self, "QUERY_EVENTS", True)
        p = self.config.placeholder
        rows = await self.config.execute(f"SELECT {p}", (b"\x01",))
        self.assertEqual(len(rows), 1)
        (event,) = [e for e in self.events if e["sql"] == f"SELECT {p}"]
        self.assertEqual(event["args"], (b"\x01",))

    async def test_transactions(self) -> None:
        """
        A statement in a transaction (or one of its savepoints) names the
        transaction's number; one outside names none.
        """
        setting(self, "QUERY_EVENTS", True)
        numbers = []
        for name in ("E", "F"):
            async with transaction() as txn:
                numbers.append(txn.number)
                await User(first_name=name).save()
                async with transaction() as savepoint:
                    self.assertEqual(savepoint.number, txn.number)
                    await User.count()
        await User.count()
        self.assertNotEqual(numbers[0], numbers[1])
        inserts = [e for e in self.events if e["sql"].startswith("INSERT")]
        self.assertEqual([e["transaction"] for e in inserts], numbers)
        savepoints = [e for e in self.events if e["sql"].startswith("SAVEPOINT")]
        self.assertEqual([e["transaction"] for e in savepoints], numbers)
        self.assertIsNone(self.events[-1]["transaction"])
        # The statement beginning a transaction, where the database has one.
        begins = [e["transaction"] for e in self.events if e["sql"] == self.config.beginStatement]
        self.assertEqual(begins, numbers if self.config.beginStatement else [])

    async def test_failure(self) -> None:
        """
        A statement that fails is an event at error level with the twistar
        exception; the caller gets it as without events.
        """
        setting(self, "QUERY_EVENTS", True)
        await Account(login="ann").save()
        with self.assertRaises(IntegrityError):
            await Account(login="ann").save()
        (failed,) = [e for e in self.events if e["log_level"] == LogLevel.error]
        self.assertTrue(failed["sql"].startswith("INSERT"))
        self.assertIsInstance(failed["error"], IntegrityError)
        self.assertIn("IntegrityError", formatEvent(failed))
        with self.assertRaises(ProgrammingError):
            await self.config.execute("SELECT nothing FROM no_such_table")
        self.assertIsInstance(self.events[-1]["error"], ProgrammingError)
        self.assertEqual(self.events[-1]["log_level"], LogLevel.error)

    async def test_slowQueries(self) -> None:
        """
        With C{SLOW_QUERY}, a statement that took at least that many
        seconds is an event at warning level, with or without
        C{QUERY_EVENTS}; one quicker is none (without C{QUERY_EVENTS}).
        """
        setting(self, "SLOW_QUERY", 3600.0)
        await User.count()
        self.assertEqual(self.events, [])
        InteractionBase.SLOW_QUERY = 0.0
        await User.count()
        (event,) = self.events
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertTrue(formatEvent(event).startswith("slow: SELECT"))
        InteractionBase.QUERY_EVENTS = True
        self.addCleanup(setattr, InteractionBase, "QUERY_EVENTS", False)
        await User.count()
        self.assertEqual([e["log_level"] for e in self.events], [LogLevel.warn] * 2)

    async def test_secretsRedacted(self) -> None:
        """
        The values of secret columns are redacted from the events of
        inserts, updates (one object and many), upserts and finders; the
        statements still get them.
        """
        setting(self, "QUERY_EVENTS", True)
        ann = await Account(login="ann", password="pw-ann", api_token="tk-ann", age=30).save()
        bob = await Account(login="bob", password="pw-bob", age=40).save()
        ann.password = "pw-ann-2"
        await ann.save()
        ann.api_token, bob.api_token = "tk-a", "tk-b"
        await Account.updateMany([ann, bob])
        await Account.upsert([{"login": "ann", "password": "pw-3"}], uniqueBy="login")
        found = await Account.findBy(login="ann", password="pw-3")
        self.assertEqual([account.id for account in found], [ann.id])
        await Account.find(where=["password = ? OR api_token = ?", "pw-bob", "tk-none"])
        written = [e for e in self.events if "querylog_accounts" in e["sql"]]
        self.assertGreaterEqual(len(written), 6)
        secrets = {"pw-ann", "pw-ann-2", "pw-bob", "pw-3", "tk-ann", "tk-a", "tk-b", "tk-none"}
        for event in written:
            args = event["args"]
            self.assertFalse(secrets.intersection(args), event["sql"])
            for text in secrets:
                self.assertNotIn(text, formatEvent(event))
        firstInsert = written[0]
        self.assertIn("ann", firstInsert["args"])
        self.assertIn(30, firstInsert["args"])
        self.assertEqual(firstInsert["args"].count(REDACTED), 2)

    async def test_logUnchanged(self) -> None:
        """
        C{LOG} logs as before (strings, with the values as they are), beside
        the query events.
        """
        setting(self, "QUERY_EVENTS", True)
        setting(self, "LOG", True)
        logged = captureEvents(self, "twistar")
        await Account(login="cy", password="pw-cy").save()
        (insert,) = [e for e in logged if e["query"].startswith("INSERT")]
        self.assertIn("pw-cy", insert["args"])
        self.assertIsInstance(insert["args"], str)
        self.assertEqual(insert["log_level"], LogLevel.info)
        (event,) = [e for e in self.events if e["sql"].startswith("INSERT")]
        self.assertIn(REDACTED, event["args"])


class RecorderTests(QueryAssertions, _AccountsTestCase):
    """
    L{queries} and L{QueryAssertions.assertQueries}, on each database.
    """

    async def setUp(self) -> None:
        await super().setUp()
        self.users = [await User(first_name=name, age=index).save()
                      for index, name in enumerate(("Ann", "Bob", "Cy"))]
        for user in self.users:
            await Picture(name=f"{user.first_name}'s", user_id=user.id).save()
        # Schemas are read once (the first reads count as statements too).
        await User.all(include=["pictures", "avatar"])

    async def test_countAndStatements(self) -> None:
        """
        A recorder counts and lists the statements run inside it, with
        their records; none when there are none; no events are emitted.
        """
        with queries() as recorded:
            pass
        self.assertEqual(recorded.count, 0)
        with queries() as recorded:
            await User.find(where=["age > ?", 0])
            await User.count()
        self.assertEqual(recorded.count, 2)
        self.assertTrue(recorded.statements[0].startswith("SELECT"))
        self.assertIn("COUNT", recorded.statements[1].upper())
        self.assertEqual(recorded.records[0].args, (0,))
        self.assertEqual(recorded.records[0].rows, 2)
        self.assertEqual(recorded.records[0].database, self.pool.dbapiName)
        self.assertEqual(self.events, [])

    async def test_asyncWith(self) -> None:
        """
        A recorder is an asynchronous context manager too.
        """
        async with queries() as recorded:
            await User.count()
        self.assertIsInstance(recorded, QueryRecorder)
        self.assertEqual(recorded.count, 1)

    async def test_onlyThisContext(self) -> None:
        """
        Statements run meanwhile by other code are not recorded.
        """

        async def recording() -> QueryRecorder:
            with queries() as recorded:
                for _ in range(3):
                    await User.find(self.users[0].id)
            return recorded

        async def other() -> None:
            for _ in range(5):
                await Picture.count()

        running: list[Deferred[Any]] = [ensureDeferred(recording()), ensureDeferred(other())]
        recorder, _ = await gatherResults(running)
        self.assertEqual(recorder.count, 3)
        self.assertFalse([sql for sql in recorder.statements if "pictures" in sql])

    async def test_followingWork(self) -> None:
        """
        The statements twistar runs for the code inside the recorder are
        recorded, also those run after the first one's result came back
        (eager loading).
        """
        with queries() as recorded:
            users = await User.all(include=["pictures", "avatar"])
        self.assertEqual(len(users), 3)
        self.assertEqual(recorded.count, 3, recorded.statements)
        with self.assertQueries(2):
            await User.find(where=["age > ?", 0], include=["pictures"])

    async def test_transactions(self) -> None:
        """
        In a transaction, the statements of the code inside the recorder are
        recorded, a savepoint's included, with the transaction's number;
        not the transaction's commit.
        """
        with queries() as outer:
            async with transaction() as txn:
                await User.count()
                with queries() as inner:
                    await User.all(include=["pictures"])
                    async with transaction():
                        await User.count()
        self.assertEqual(inner.count, 5)  # 2, SAVEPOINT, 1, RELEASE
        self.assertEqual(outer.count, 6)
        self.assertEqual({record.transaction for record in outer.records}, {txn.number})

    async def test_failedStatements(self) -> None:
        """
        A statement that failed is recorded with its error.
        """
        await Account(login="dee").save()
        with queries() as recorded, self.assertRaises(IntegrityError):
            await Account(login="dee").save()
        self.assertIsInstance(recorded.records[-1].error, IntegrityError)

    async def test_nested(self) -> None:
        """
        An outer recorder records the statements of an inner one too.
        """
        with queries() as outer:
            await User.count()
            with queries() as inner:
                await User.count()
        self.assertEqual((outer.count, inner.count), (2, 1))

    def test_onceAtATime(self) -> None:
        """
        A recorder cannot be entered while it is in use.
        """
        recorder = queries()
        with recorder, self.assertRaises(RuntimeError):
            recorder.__enter__()

    async def test_assertQueries(self) -> None:
        """
        C{assertQueries} fails, listing the statements, when the code inside
        it runs another number of them.
        """
        with self.assertQueries(1):
            await User.count()
        with self.assertRaises(FailTest) as caught:
            with self.assertQueries(1):
                await User.count()
                await Picture.count()
        message = str(caught.exception)
        self.assertIn("expected 1 queries, 2 ran", message)
        self.assertIn("pictures", message)
        with self.assertRaises(FailTest) as caught:
            with self.assertQueries(1):
                pass
        self.assertIn("0 ran: none", str(caught.exception))


class NPlusOneTests(DBTestCase):
    """
    L{strictNPlusOne}, on each database.
    """

    async def setUp(self) -> None:
        await super().setUp()
        self.users = []
        for name in ("Ann", "Bob", "Cy"):
            user = await User(first_name=name).save()
            self.users.append(user)
            await Picture(name=f"{name} 1", user_id=user.id).save()
            await Picture(name=f"{name} 2", user_id=user.id).save()
            await Avatar(name=name, user_id=user.id).save()
        self.color = await FavoriteColor(name="red").save()
        await self.users[0].favorite_colors.set([self.color])

    async def test_offByDefault(self) -> None:
        """
        Outside the block, reading a relationship object by object works.
        """
        for user in await User.all():
            await user.pictures.get()

    async def test_everyKind(self) -> None:
        """
        Reading a relationship, of any kind, of a second object of those one
        query loaded raises L{NPlusOneError}, naming the relationship; the
        first object reads it.
        """
        with strictNPlusOne():
            users = await User.all()
            pictures = await Picture.all()
            for objects, name in ((users, "pictures"), (users, "avatar"),
                                  (users, "favorite_colors"), (pictures, "user")):
                await getattr(objects[0], name).get()
                await getattr(objects[0], name).get()  # the same object again
                error = self.assertRaises(NPlusOneError, getattr(objects[1], name).get)
                self.assertIn(f".{name} ", str(error))
                self.assertIn("include=", str(error))

    async def test_eagerLoading(self) -> None:
        """
        Relationships loaded eagerly (or with C{preload}) are read from
        memory, without error; so is a relationship read with arguments.
        """
        with strictNPlusOne():
            users = await User.all(include=["pictures", "avatar"])
            pictures = await Picture.all()
            await Picture.preload(pictures, "user")
            for user in users:
                await user.pictures.get()
                await user.avatar.get()
                await user.favorite_colors.get(where=["name = ?", "red"])
            for picture in pictures:
                await picture.user.get()

    async def test_eagerLoadedObjects(self) -> None:
        """
        The objects of an eager load are loaded together too.
        """
        with strictNPlusOne():
            (user,) = await User.findBy(first_name="Ann", include=["pictures"])
            pictures = await user.pictures.get()
            await pictures[0].user.get()
            self.assertRaises(NPlusOneError, pictures[1].user.get)
            pictures = await self.users[1].pictures.get()
            await pictures[0].user.get()
            self.assertRaises(NPlusOneError, pictures[1].user.get)

    async def test_separateLoads(self) -> None:
        """
        Objects loaded one by one, or outside the block, are no batch.
        """
        users = await User.all()
        with strictNPlusOne():
            for user in users:
                await user.pictures.get()
            for user in self.users:
                found = await User.find(user.id)
                await found.pictures.get()

    async def test_inTransaction(self) -> None:
        """
        The mode works for the code of a transaction.
        """
        with strictNPlusOne():
            async with transaction():
                users = await User.all()
                await users[0].pictures.get()
                self.assertRaises(NPlusOneError, users[1].pictures.get)

    async def test_onlyInside(self) -> None:
        """
        After the block, the objects it loaded read relationships freely.
        """
        with strictNPlusOne():
            users = await User.all()
        for user in users:
            await user.pictures.get()


class QueryEventSecondDriverTests(QueryEventTests):
    """
    L{QueryEventTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


class RecorderSecondDriverTests(RecorderTests):
    """
    L{RecorderTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True
