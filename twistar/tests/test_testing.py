# -*- test-case-name: twistar.tests.test_testing -*-
"""
Tests for L{twistar.testing.DatabaseTestMixin}, used as an application's
tests use it: models, migrations run once, a fresh database in each test.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any
from unittest import mock

from twisted.internet.utils import getProcessOutput
from twisted.trial import unittest

import twistar
from twistar.connection import connect, parseURL
from twistar.dbconfig import configForDriver
from twistar.dbobject import DBObject
from twistar.exceptions import IntegrityError
from twistar.pgpool import PostgresPool
from twistar.pool import ConnectionPool
from twistar.registry import Registry
from twistar.testing import (
    MIGRATION_TABLES,
    TEST_DATABASE_URL,
    DatabaseTestCase,
    DatabaseTestMixin,
    _dropDatabase,
    _prepared,
    _runAlone,
)
from twistar.tests.helpers import (
    MYSQL,
    POSTGRES,
    SQLITE,
    backend,
    closePool,
    tableDDL,
    transactionPooling,
)
from twistar.tests.helpers import testDatabase as _testDatabase

SERVER = None if _testDatabase() == SQLITE else _testDatabase()
"""The test database server, as an application's tests would find it in
C{TWISTAR_TEST_DATABASE_URL}; C{None} for SQLite."""

_SCHEMA_COUNT = (
    "SELECT COUNT(*) FROM pg_database WHERE datname = %s"
    if transactionPooling()
    else "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = %s"
)
"""How many throwaway databases (or schemas) have a name: behind a
transaction pooler, PostgreSQL's are databases."""


_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(twistar.__file__)))

# A process that makes a throwaway database, prints its URL and exits.
_MAKE_DATABASE = """
from twisted.internet import defer, task
from twistar.testing import DatabaseTestCase, _prepared

class Tests(DatabaseTestCase):
    def migrate(self, pool, url):
        return pool.runOperation("CREATE TABLE t (id INTEGER)")

    def test_nothing(self):
        pass

async def main(reactor):
    database = await _prepared(Tests("test_nothing"))
    print(database.url)

task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
"""


class AppAuthor(DBObject):
    TABLENAME = "app_authors"
    HASMANY = [{"name": "books", "class_name": "AppBook", "foreign_key": "author_id"}]


class AppBook(DBObject):
    TABLENAME = "app_books"
    BELONGSTO = [{"name": "author", "class_name": "AppAuthor", "foreign_key": "author_id"}]


class AppGenre(DBObject):
    TABLENAME = "app_genres"


Registry.register(AppAuthor, AppBook, AppGenre)


def _migrations(kind: str) -> list[str]:
    """
    @return: the application's schema, as its migrations would make it: a
        foreign key between two tables, and a lookup table filled by a
        migration.
    """
    author = tableDDL(kind, "app_authors", ["id {pk}", "name {str} NOT NULL"])
    book = tableDDL(kind, "app_books", [
        "id {pk}", "title {str}", "author_id INTEGER NOT NULL",
        "FOREIGN KEY (author_id) REFERENCES app_authors (id)",
    ])
    genre = tableDDL(kind, "app_genres", ["id {pk}", "name {str}"])
    return [author, book, genre, "INSERT INTO app_genres (name) VALUES ('fiction')"]


class ApplicationTests(DatabaseTestCase):
    """
    An application's tests: each starts with the tables its migrations made,
    empty but for the kept ones.
    """

    serverURL = SERVER
    keepTables = ("app_genres",)
    migrations: list[str] = []
    """The URLs L{migrate} was called with."""
    before: Any = None

    def migrate(self, pool: ConnectionPool, url: str) -> Any:
        type(self).migrations.append(url)
        self.assertIs(Registry.DBPOOL, pool)
        statements = _migrations(parseURL(url).backend)

        def run(txn: Any) -> None:
            for statement in statements:
                txn.execute(statement)

        return pool.runInteraction(run)

    async def setUp(self) -> None:
        # Runs after the mixin's clean-ups: the pool is closed, the previous
        # one is back.
        self.before = object()
        self.patch(Registry, "DBPOOL", self.before)
        self.addCleanup(self.checkCleanedUp)
        await super().setUp()

    def checkCleanedUp(self) -> None:
        self.assertIs(Registry.DBPOOL, self.before)
        self.assertFalse(self.pool.running)

    async def assertFresh(self) -> None:
        """
        Nothing a test wrote is there; the kept table has its rows.
        """
        self.assertEqual(await AppAuthor.count(), 0)
        self.assertEqual(await AppBook.count(), 0)
        self.assertEqual([genre.name for genre in await AppGenre.all()], ["fiction"])

    async def writeRows(self) -> None:
        author = await AppAuthor(name="Le Guin").save()
        await AppBook(title="The Dispossessed", author_id=author.id).save()
        await AppBook(title="The Lathe of Heaven", author_id=author.id).save()

    async def test_freshFirst(self) -> None:
        """
        A test finds its database fresh, and leaves rows behind (linked by
        a foreign key).
        """
        await self.assertFresh()
        await self.writeRows()

    async def test_freshSecond(self) -> None:
        """
        The same, in another test: whichever runs second finds nothing of
        the first's rows.
        """
        await self.assertFresh()
        await self.writeRows()

    async def test_migratedOnce(self) -> None:
        """
        The migrations ran once, for every test of the class, on the
        database the tests use.
        """
        self.assertEqual(len(type(self).migrations), 1)
        if SERVER:
            self.assertEqual(type(self).migrations, [self.databaseURL])

    async def test_pool(self) -> None:
        """
        The test's pool is L{Registry.DBPOOL}, on the test's database.
        """
        self.assertIs(Registry.DBPOOL, self.pool)
        parsed = parseURL(self.databaseURL)
        self.assertIsInstance(self.pool, ConnectionPool if parsed.threads else PostgresPool)
        self.assertEqual(self.pool.dbapiName, parsed.driver)

    async def test_throwaway(self) -> None:
        """
        The database is a throwaway one: on a server, a schema or database
        of its own (a database behind a transaction pooler); on SQLite, a
        file in the test's temporary directory.
        """
        kind = backend()
        if kind == SQLITE:
            path = self.pool.connargs[0]
            self.assertTrue(os.path.exists(path))
            testDirectory = os.path.abspath(os.path.dirname(os.path.dirname(self.mktemp())))
            self.assertTrue(path.startswith(testDirectory + os.sep), path)
            return
        query = "SELECT DATABASE()"
        if kind == POSTGRES:
            pooled = transactionPooling()
            query = "SELECT current_database()" if pooled else "SELECT current_schema()"
        [(name,)] = await self.pool.runQuery(query)
        self.assertRegex(name, r"^twistar_test_%d_[0-9a-f]{8}$" % os.getpid())

    async def test_secondPool(self) -> None:
        """
        L{databaseURL} reaches the same database (as another process
        would).
        """
        await self.writeRows()
        other = connect(self.databaseURL, register=False)
        self.addCleanup(closePool, other)
        [(count,)] = await other.runQuery("SELECT COUNT(*) FROM app_books")
        self.assertEqual(count, 2)

    async def test_columnsKnown(self) -> None:
        """
        The columns of every table are known when the test starts, so that
        reading them is not counted.
        """
        self.assertEqual(Registry.SCHEMAS["app_books"], ["id", "title", "author_id"])
        self.assertEqual(sorted(Registry.SCHEMAS), ["app_authors", "app_books", "app_genres"])
        with self.assertQueries(1):
            await AppAuthor(name="Le Guin").save()

    async def test_countsQueries(self) -> None:
        """
        The query assertions are there.
        """
        await self.writeRows()
        with self.assertQueries(2):
            authors = await AppAuthor.find(include=["books"])
            books = await authors[0].books.get()
        self.assertEqual(len(books), 2)
        with self.assertRaises(self.failureException):
            with self.assertQueries(1):
                await AppAuthor.count()
                await AppBook.count()


class ForeignKeyTests(DatabaseTestCase):
    """
    Emptying tables linked by foreign keys works on every backend, also
    with SQLite's foreign keys enforced, and a kept table pointing at an
    emptied one.
    """

    serverURL = SERVER
    poolOptions = {"cp_openfun": lambda connection: (
        connection.execute("PRAGMA foreign_keys = ON")
        if type(connection).__module__ == "sqlite3" else None
    )}

    def migrate(self, pool: ConnectionPool, url: str) -> Any:
        statements = _migrations(parseURL(url).backend)
        statements.append("INSERT INTO app_authors (name) VALUES ('Herbert')")
        statements.append("INSERT INTO app_books (title, author_id) SELECT 'Dune', id "
                          "FROM app_authors")

        def run(txn: Any) -> None:
            for statement in statements:
                txn.execute(statement)

        return pool.runInteraction(run)

    async def test_emptied(self) -> None:
        """
        The rows the migrations wrote into tables that are not kept are gone
        before the first test.
        """
        self.assertEqual(await AppAuthor.count(), 0)
        self.assertEqual(await AppBook.count(), 0)
        self.assertEqual(await AppGenre.count(), 0)

    async def test_emptyTablesWithForeignKeys(self) -> None:
        """
        L{InteractionBase.emptyTables} empties tables whose rows refer to
        each other, in any order.
        """
        author = await AppAuthor(name="Herbert").save()
        await AppBook(title="Dune", author_id=author.id).save()
        await self.assertFailure(AppBook(title="Nobody's", author_id=author.id + 1).save(),
                                 IntegrityError)
        config = Registry.getConfig()
        await config.runInteraction(config.emptyTables, ["app_authors", "app_books"])
        self.assertEqual((await AppAuthor.count(), await AppBook.count()), (0, 0))


class MixinTests(DatabaseTestMixin, unittest.TestCase):
    """
    L{DatabaseTestMixin} with trial's C{TestCase}, with no migrations: an
    empty database.
    """

    serverURL = SERVER

    async def test_empty(self) -> None:
        """
        Without L{migrate}, the database has no table (but what the server
        database had none of).
        """
        config = Registry.getConfig()
        self.assertEqual(await config.runInteraction(config.tableNames), [])


class EnvironmentTests(unittest.TestCase):
    """
    The server comes from C{TWISTAR_TEST_DATABASE_URL} when the class names
    none.
    """

    async def test_environment(self) -> None:
        """
        The environment variable's server is used; a SQLite URL there means
        SQLite files.
        """

        class Tests(DatabaseTestCase):
            def migrate(self, pool: ConnectionPool, url: str) -> None:
                self.assertIs(Registry.DBPOOL, pool)

            def test_nothing(self) -> None:
                pass

        self.patch(Registry, "DBPOOL", None)
        with mock.patch.dict(os.environ, {TEST_DATABASE_URL: SERVER or "sqlite:///ignored.db"}):
            database = await _prepared(Tests("test_nothing"))
        self.assertEqual(database.backend, backend())
        self.assertIsNone(Registry.DBPOOL)
        if SERVER is None:
            self.assertFalse(os.path.exists("ignored.db"))
            self.assertTrue(database.url.startswith("sqlite:///"))


class DropTests(unittest.TestCase):
    """
    The throwaway databases are dropped when the process exits.
    """

    async def test_drop(self) -> None:
        """
        The drop, on a connection of its own, removes the schema or
        database; on SQLite there is none (the file's directory is removed).
        """
        if SERVER is None:
            config = configForDriver("sqlite3")()
            self.assertRaises(NotImplementedError, config.scratchStatements, "x")
            self.assertRaises(NotImplementedError, config.scratchURL, "sqlite:///x", "x")
            return
        parsed = parseURL(SERVER)
        config = configForDriver(parsed.driver)()
        name = f"twistar_test_drop_{os.getpid()}"
        create, drop = config.scratchStatements(name, parsed.transactionPooling)
        admin = connect(SERVER, register=False)
        self.addCleanup(closePool, admin)
        _runAlone(SERVER, drop)
        _runAlone(SERVER, create)
        [(count,)] = await admin.runQuery(_SCHEMA_COUNT, (name,))
        self.assertEqual(count, 1)
        _dropDatabase(SERVER, drop)
        [(count,)] = await admin.runQuery(_SCHEMA_COUNT, (name,))
        self.assertEqual(count, 0)

    async def test_droppedAtExit(self) -> None:
        """
        A process that made a throwaway database drops it (or removes its
        SQLite file) when it exits.
        """
        environment = dict(os.environ, PYTHONPATH=_PACKAGE_PARENT)
        environment[TEST_DATABASE_URL] = SERVER or SQLITE
        output = await getProcessOutput(sys.executable, ["-c", _MAKE_DATABASE], environment)
        url = output.decode().strip()
        if SERVER is None:
            path = url[len("sqlite:///"):]
            self.assertTrue(path.endswith("migrated.db"), url)
            self.assertFalse(os.path.exists(os.path.dirname(path)))
            return
        [name] = re.findall(r"twistar_test_\d+_[0-9a-f]{8}", url)
        admin = connect(SERVER, register=False)
        self.addCleanup(closePool, admin)
        [(count,)] = await admin.runQuery(_SCHEMA_COUNT, (name,))
        self.assertEqual(count, 0)

    def test_migrationTables(self) -> None:
        """
        yoyo-migrations' tables are never emptied.
        """
        self.assertIn("_yoyo_migration", MIGRATION_TABLES)

    def test_scratchURL(self) -> None:
        """
        The URL of a throwaway PostgreSQL schema puts it in the search path
        (after any options the URL had); of a MySQL database, or of a
        PostgreSQL one behind a transaction pooler, names it.
        """
        postgres = configForDriver("psycopg2")()
        url = postgres.scratchURL("postgresql://u@h/db?options=-c%20x%3D1&sslmode=disable", "s")
        self.assertEqual(parseURL(url).connectKeywords["options"], "-c x=1 -c search_path=s")
        self.assertEqual(parseURL(url).connectKeywords["sslmode"], "disable")
        url = postgres.scratchURL("postgresql://u@h:1/db?transaction_pooling=true", "s", True)
        self.assertEqual(url, "postgresql://u@h:1/s?transaction_pooling=true")
        self.assertEqual(postgres.scratchStatements("s", True),
                         ('CREATE DATABASE "s"', 'DROP DATABASE IF EXISTS "s" WITH (FORCE)'))
        mysql = configForDriver("pymysql")()
        url = mysql.scratchURL("mysql+pymysql://u:p@h:1/db?charset=utf8mb4", "s")
        self.assertEqual(url, "mysql+pymysql://u:p@h:1/s?charset=utf8mb4")
        self.assertEqual(backend(url), MYSQL)
