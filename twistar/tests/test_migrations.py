"""
Tests for L{twistar.migrations}: the example service's migrations
(C{examples/service/migrations}) applied and rolled back with yoyo on the
test database, each test in a database of its own, and twistar's models
seeing every change at once.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sqlite3
import sys
import tempfile
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from twistar.connection import MYSQL, POSTGRES, SQLITE, connect, parseURL
from twistar.dbobject import DBObject
from twistar.exceptions import ImaginaryTableError, InvalidURLError
from twistar.migrations import (
    BACKENDS,
    _migrate,
    applyMigrations,
    backendOf,
    pendingMigrations,
    perBackend,
    rollbackMigrations,
    yoyoURL,
)
from twistar.registry import Registry
from twistar.tests.helpers import (
    SECOND_DRIVERS,
    backend,
    closePool,
    testDatabase,
    transactionPooling,
    withDriver,
    withQuery,
)
from twistar.tests.test_docs import EXAMPLES, NO_CHECKOUT

NO_YOYO: str | None = None
try:
    import yoyo.connections
    import yoyo.exceptions
except ImportError:
    NO_YOYO = ("needs yoyo-migrations, which twistar's test extra installs:"
               " pip install 'twistar[test]'")

MIGRATIONS = EXAMPLES / "service" / "migrations"
FIRST = "0001_create_tables"
SECOND = "0002_add_books_published_year"
COLUMNS = {
    "authors": ["id", "name", "created_at", "updated_at"],
    "books": ["id", "author_id", "title", "created_at", "updated_at", "published_year"],
    "reviews": ["id", "book_id", "rating", "body", "created_at", "updated_at"],
    "tags": ["id", "name"],
    "books_tags": ["book_id", "tag_id"],
}
"""The tables of the example's migrations, and their columns."""


class Author(DBObject):
    """
    A row of C{authors}, made by the example's first migration.
    """

    TIMESTAMPS = True
    HASMANY = ["books"]


class Book(DBObject):
    """
    A row of C{books}; the second migration adds C{published_year}.
    """

    TIMESTAMPS = True
    BELONGSTO = ["author"]
    HASMANY = ["reviews"]
    HABTM = ["tags"]


class Review(DBObject):
    """
    A row of C{reviews}.
    """

    BELONGSTO = ["book"]


class Tag(DBObject):
    """
    A row of C{tags}, linked to books through C{books_tags}.
    """

    HABTM = ["books"]


async def throwawayDatabase(testCase: TestCase, driver: str | None = None) -> str:
    """
    Make an empty database for C{testCase}, dropped at its end: a SQLite
    file, or a new database on the test server (whose user may create
    them).

    @param driver: the server driver to use instead of C{TWISTAR_TEST_DB}'s.
    @return: its URL.
    """
    if backend() == SQLITE:
        path = os.path.abspath(os.path.join(tempfile.mkdtemp(dir="."), "app.db"))
        return "sqlite:///" + quote(path)
    server = testDatabase() if driver is None else withDriver(testDatabase(), driver)
    name = "twistar_migrations_" + secrets.token_hex(4)
    admin = parseURL(server)

    def run(statement: str) -> None:
        connection = import_module(admin.driver).connect(
            *admin.connectArgs, **admin.connectKeywords
        )
        try:
            if admin.backend == POSTGRES:
                connection.autocommit = True
            cursor = connection.cursor()
            cursor.execute(statement)
            cursor.close()
        finally:
            connection.close()

    if admin.backend == POSTGRES:
        create, drop = f"CREATE DATABASE {name}", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    else:
        create = f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        drop = f"DROP DATABASE IF EXISTS {name}"
    await deferToThread(run, create)
    testCase.addCleanup(deferToThread, run, drop)
    return urlunsplit(urlsplit(server)._replace(path="/" + name))


def copyMigrations(*ids: str) -> Path:
    """
    @return: a new directory holding the example's migrations C{ids} (its
        C{.py}, C{.sql} and C{.rollback.sql} files), for a test to change.
    """
    directory = Path(tempfile.mkdtemp(dir=".")).resolve()
    for migrationId in ids:
        addMigration(directory, migrationId)
    return directory


def addMigration(directory: Path, migrationId: str) -> None:
    """
    Copy the files of the example's migration C{migrationId} into C{directory}.
    """
    files = sorted(MIGRATIONS.glob(migrationId + ".*"))
    assert files, migrationId
    for path in files:
        shutil.copy(path, directory / path.name)


class MigrationsTests(TestCase):
    """
    The example's migrations on the test database (each test in a new
    one), and twistar's models on their tables.

    @ivar secondDriver: set on a subclass to run the tests through the
        backend's other driver (skipped on SQLite, which has one).
    """

    skip = NO_CHECKOUT or NO_YOYO
    secondDriver = False

    async def setUp(self) -> None:
        driver = None
        if self.secondDriver:
            if backend() not in SECOND_DRIVERS:
                raise SkipTest("SQLite has one driver")
            driver = SECOND_DRIVERS[backend()]
        self.url = await throwawayDatabase(self, driver)
        self.pool = connect(self.url)
        self.addCleanup(closePool, self.pool)
        self.config = Registry.getConfig()
        saved = dict(Registry.REGISTRATION)
        self.addCleanup(Registry.REGISTRATION.update, saved)
        self.addCleanup(Registry.REGISTRATION.clear)
        Registry.register(Author, Book, Review, Tag)
        self.migrations = copyMigrations(FIRST, SECOND)

    async def assertTablesGone(self) -> None:
        """
        Fail unless none of the example's tables exists.
        """
        Registry.forgetSchemas()
        for table in COLUMNS:
            with self.assertRaises(ImaginaryTableError):
                await self.config.getSchema(table)

    async def test_apply(self) -> None:
        """
        L{applyMigrations} applies the migrations in order and gives their
        ids; the tables have the columns they made, and the models, with
        their relationships, read and write them.
        """
        self.assertEqual(await pendingMigrations(self.migrations, self.url), [FIRST, SECOND])
        self.assertEqual(await applyMigrations(self.migrations, self.url), [FIRST, SECOND])
        self.assertEqual(await pendingMigrations(self.migrations, self.url), [])
        for table, columns in COLUMNS.items():
            self.assertEqual(await self.config.getSchema(table), columns)

        author = await Author(name="Ursula K. Le Guin").save()
        book = await Book(title="The Dispossessed", author_id=author.id,
                          published_year=1974).save()
        utopia = await Tag(name="utopia").save()
        await book.tags.set([utopia])
        await Review(book_id=book.id, rating=5, body="Ambiguous.").save()

        found = await Book.find(book.id)
        self.assertEqual((found.title, found.published_year), ("The Dispossessed", 1974))
        self.assertIsNotNone(found.created_at)
        self.assertEqual((await found.author.get()).name, "Ursula K. Le Guin")
        self.assertEqual([tag.name for tag in await found.tags.get()], ["utopia"])
        self.assertEqual([review.rating for review in await found.reviews.get()], [5])
        self.assertEqual([b.title for b in await author.books.get()], ["The Dispossessed"])

    async def test_applyAgain(self) -> None:
        """
        Applying the migrations again applies none, and leaves the rows.
        """
        await applyMigrations(self.migrations, self.url)
        await Author(name="Octavia E. Butler").save()
        self.assertEqual(await applyMigrations(self.migrations, self.url), [])
        self.assertEqual([a.name for a in await Author.all()], ["Octavia E. Butler"])

    async def test_rollback(self) -> None:
        """
        L{rollbackMigrations} rolls back the last migration applied, or as
        many as asked (all for C{None}), newest first, and gives their ids;
        the tables are gone, and the migrations can be applied again.
        """
        await applyMigrations(self.migrations, self.url)
        await Author(name="Italo Calvino").save()
        self.assertEqual(await rollbackMigrations(self.migrations, self.url), [SECOND])
        self.assertEqual(await pendingMigrations(self.migrations, self.url), [SECOND])
        self.assertNotIn("published_year", await self.config.getSchema("books"))

        await applyMigrations(self.migrations, self.url)
        self.assertEqual(await rollbackMigrations(self.migrations, self.url, count=None),
                         [SECOND, FIRST])
        await self.assertTablesGone()
        self.assertEqual(await rollbackMigrations(self.migrations, self.url, count=None), [])

        self.assertEqual(await applyMigrations(self.migrations, self.url), [FIRST, SECOND])
        self.assertEqual(await Author.all(), [])
        await Author(name="Italo Calvino").save()
        self.assertEqual(await Author.count(), 1)

    async def test_laterMigration(self) -> None:
        """
        A migration added while the program runs is applied, and the models
        use the column it adds at once (the cached columns are forgotten),
        and stop using it once it is rolled back.
        """
        migrations = copyMigrations(FIRST)
        self.assertEqual(await applyMigrations(migrations, self.url), [FIRST])
        author = await Author(name="Stanislaw Lem").save()
        await Book(title="Solaris", author_id=author.id).save()
        self.assertNotIn("published_year", Registry.SCHEMAS["books"])

        addMigration(migrations, SECOND)
        self.assertEqual(await pendingMigrations(migrations, self.url), [SECOND])
        self.assertEqual(await applyMigrations(migrations, self.url), [SECOND])
        self.assertNotIn("books", Registry.SCHEMAS)
        book = await Book(title="The Cyberiad", author_id=author.id, published_year=1965).save()
        self.assertEqual((await Book.find(book.id)).published_year, 1965)
        self.assertEqual(
            [(b.title, b.published_year) for b in await Book.find(orderby="id")],
            [("Solaris", None), ("The Cyberiad", 1965)],
        )

        self.assertEqual(await rollbackMigrations(migrations, self.url), [SECOND])
        self.assertNotIn("published_year", await self.config.getSchema("books"))
        self.assertFalse(hasattr(await Book.find(book.id), "published_year"))

    async def test_failingStep(self) -> None:
        """
        A migration whose step fails is not recorded as applied: the
        L{Deferred} fails with the driver's error, and the cached columns
        are forgotten all the same.
        """
        await applyMigrations(self.migrations, self.url)
        await Book.all()
        (self.migrations / "0003_broken.sql").write_text(
            "-- depends: 0002_add_books_published_year\n"
            "ALTER TABLE books ADD COLUMN isbn VARCHAR(20);\n"
            "INSERT INTO no_such_table VALUES (1);\n"
        )
        driver = import_module(parseURL(self.url).driver)
        failure = await self.assertFailure(applyMigrations(self.migrations, self.url),
                                           driver.DatabaseError)
        self.assertIn("no_such_table", str(failure))
        self.assertNotIn("books", Registry.SCHEMAS)
        self.assertEqual(await pendingMigrations(self.migrations, self.url), ["0003_broken"])

    async def test_badMigrationFile(self) -> None:
        """
        A migration file that cannot be loaded fails the L{Deferred}, and
        nothing is applied.
        """
        (self.migrations / "0003_bad.py").write_text("raise RuntimeError('a bug')\n")
        # yoyo logs the error too (to stderr, with no handler): not here.
        self.patch(logging.getLogger("yoyo.migrations"), "disabled", True)
        failure = await self.assertFailure(applyMigrations(self.migrations, self.url),
                                           yoyo.exceptions.BadMigration)
        self.assertIn("0003_bad.py", str(failure))
        await self.assertTablesGone()

    async def test_transactionPooling(self) -> None:
        """
        On a URL with C{transaction_pooling}, yoyo's psycopg 3 connection
        prepares no statement (C{prepare_threshold=None}, as twistar's own
        pools; without it, psycopg's default); psycopg2 has nothing to set.
        The other databases refuse the option.
        """
        pooled = self.url
        if not transactionPooling(pooled):
            pooled = withQuery(pooled, "transaction_pooling=true")
        if backend() != POSTGRES:
            await self.assertFailure(pendingMigrations(self.migrations, pooled), InvalidURLError)
            return

        def threshold(yoyoBackend: Any, migrations: Any) -> Any:
            return getattr(yoyoBackend.connection, "prepare_threshold", "none")

        psycopg3 = parseURL(self.url).driver == "psycopg"
        found = await _migrate(threshold, self.migrations, pooled, changes=False)
        self.assertEqual(found, None if psycopg3 else "none")
        if not transactionPooling(self.url):
            found = await _migrate(threshold, self.migrations, self.url, changes=False)
            self.assertEqual(found, 5 if psycopg3 else "none")


class SecondDriverMigrationsTests(MigrationsTests):
    """
    L{MigrationsTests} through the other driver of the server database
    (psycopg 3, PyMySQL), as yoyo's URL names it.
    """

    secondDriver = True


class EnvironmentTests(TestCase):
    """
    The database URL from the environment.
    """

    skip = NO_CHECKOUT or NO_YOYO

    async def test_databaseURL(self) -> None:
        """
        Without a URL, the migrations are those of the database named by the
        environment's C{DATABASE_URL}.
        """
        path = os.path.abspath("environment.db")
        self.addCleanup(os.environ.pop, "DATABASE_URL", None)
        os.environ["DATABASE_URL"] = "sqlite:///" + quote(path)
        migrations = copyMigrations(FIRST)
        self.assertEqual(await applyMigrations(migrations), [FIRST])
        with sqlite3.connect(path) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        self.assertIn("authors", tables)


class ArgumentTests(SynchronousTestCase):
    """
    What L{twistar.migrations} is given, checked before anything runs.
    """

    def test_yoyoURL(self) -> None:
        """
        L{yoyoURL} gives yoyo's scheme for the URL's driver, keeps the
        credentials, host, port, database and the driver's options, leaves
        out the pool's and C{transaction_pooling}, and sets MySQL's
        character set as twistar's pool does.
        """
        cases = {
            "postgresql://app:p%40ss@db.example:5433/shop?sslmode=require&cp_max=5":
                "postgresql://app:p%40ss@db.example:5433/shop?sslmode=require",
            "postgresql+psycopg://app@db/shop?transaction_pooling=true&sslmode=require":
                "postgresql+psycopg://app@db/shop?sslmode=require",
            "postgres://app@db/shop": "postgresql://app@db/shop",
            "postgresql+psycopg2://app@db/shop": "postgresql://app@db/shop",
            "postgresql+psycopg://app@db/shop": "postgresql+psycopg://app@db/shop",
            "mysql://root@db:3307/shop?waitLimit=2":
                "mysql+mysqldb://root@db:3307/shop?charset=utf8mb4",
            "mariadb://root@db/shop": "mysql+mysqldb://root@db/shop?charset=utf8mb4",
            "mysql+pymysql://root@db/shop?charset=latin1": "mysql://root@db/shop?charset=latin1",
            "sqlite:////srv/app data.db?timeout=5": "sqlite:////srv/app%20data.db",
        }
        for url, expected in cases.items():
            self.assertEqual(yoyoURL(url), expected, url)
        self.assertEqual(yoyoURL("sqlite:///app.db"),
                         "sqlite:///" + quote(os.path.abspath("app.db")))

    def test_yoyoURLRefused(self) -> None:
        """
        An in-memory SQLite database, which no other connection reaches,
        and a URL twistar does not know are refused.
        """
        for url in ["sqlite://:memory:", "sqlite:///:memory:", "oracle://db/x", "app.db"]:
            self.assertRaises(InvalidURLError, yoyoURL, url)

    def test_yoyoReadsURL(self) -> None:
        """
        yoyo reads the password and database name L{yoyoURL} gives as
        twistar reads them from its URL.
        """
        if NO_YOYO:
            raise SkipTest(NO_YOYO)
        parsed = yoyo.connections.parse_uri(yoyoURL("postgresql://a%3Ab:p%40%2F@h:1/my%20db"))
        self.assertEqual((parsed.username, parsed.password, parsed.hostname, parsed.port,
                          parsed.database), ("a:b", "p@/", "h", 1, "my db"))

    def test_noYoyo(self) -> None:
        """
        Without yoyo, the L{Deferred}s fail with an C{ImportError} naming
        the extra that installs it.
        """
        saved = sys.modules.pop("yoyo", None)

        def restore() -> None:
            del sys.modules["yoyo"]
            if saved is not None:
                sys.modules["yoyo"] = saved

        self.addCleanup(restore)
        # A None in sys.modules makes importing the module fail.
        sys.modules["yoyo"] = None  # type: ignore[assignment]
        for call in [applyMigrations, rollbackMigrations, pendingMigrations]:
            failure = self.failureResultOf(call(".", "sqlite:///app.db"), ImportError)
            self.assertIn("pip install 'twistar[migrations]'", str(failure.value))

    def test_noURL(self) -> None:
        """
        Without a URL and without C{DATABASE_URL}, the L{Deferred} fails.
        """
        self.patch(os, "environ", {k: v for k, v in os.environ.items() if k != "DATABASE_URL"})
        failure = self.failureResultOf(applyMigrations("."), InvalidURLError)
        self.assertIn("DATABASE_URL", str(failure.value))

    def test_noDirectory(self) -> None:
        """
        A directory of migrations that does not exist fails the L{Deferred}.
        """
        self.failureResultOf(applyMigrations("no-such-dir", "sqlite:///a.db"), FileNotFoundError)


class FakeConnection:
    """
    A connection whose class seems to come from the module C{__module__}.
    """


class PerBackendTests(SynchronousTestCase):
    """
    L{backendOf} and L{perBackend}, for Python steps.
    """

    def test_backendOf(self) -> None:
        """
        L{backendOf} tells the database of a connection of each driver
        twistar supports, by the module of its class.
        """
        drivers = {"psycopg2.extensions": POSTGRES, "psycopg": POSTGRES,
                   "MySQLdb.connections": MYSQL, "pymysql.connections": MYSQL}
        for module, expected in drivers.items():
            fake = type("Connection", (FakeConnection,), {"__module__": module})()
            self.assertEqual(backendOf(fake), expected)
        self.assertEqual(backendOf(sqlite3.connect(":memory:")), SQLITE)
        self.assertRaises(ValueError, backendOf, FakeConnection())
        self.assertEqual(set(BACKENDS), {SQLITE, POSTGRES, MYSQL})

    def tables(self, connection: Any) -> list[str]:
        """
        @return: the names of the tables of a SQLite C{connection}.
        """
        return [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]

    def test_perBackend(self) -> None:
        """
        The function L{perBackend} makes runs the statement, or the list of
        statements, of its connection's database, or the default.
        """
        connection = sqlite3.connect(":memory:")
        perBackend(sqlite=["CREATE TABLE a (x)", "CREATE TABLE b (y)"], postgres="nope",
                   default="nope")(connection)
        self.assertEqual(self.tables(connection), ["a", "b"])
        perBackend(default="CREATE TABLE c (z)", mysql="nope")(connection)
        self.assertEqual(self.tables(connection), ["a", "b", "c"])

    def test_perBackendMissing(self) -> None:
        """
        A step without SQL for its database fails; a database name twistar
        does not know is refused at once.
        """
        step = perBackend(postgres="CREATE TABLE d (x)")
        error = self.assertRaises(ValueError, step, sqlite3.connect(":memory:"))
        self.assertIn("sqlite", str(error))
        self.assertRaises(TypeError, perBackend, oracle="CREATE TABLE d (x)")
