# -*- test-case-name: twistar.tests.test_querylog -*-
"""
Helpers for the tests of applications built on twistar.

  - L{queries}: records the statements run by the code inside a block.
  - L{QueryAssertions}: a mixin for trial test cases, with
    L{assertQueries<QueryAssertions.assertQueries>}.
  - L{strictNPlusOne}: raises L{NPlusOneError} when the code inside a
    block reads a relationship one object at a time for objects loaded
    together.

Each is a context manager, for C{with} (also inside an C{async def}) and
C{async with}. Only the code inside the block is observed, with what it
starts: work that other code runs meanwhile is not.

  - L{DatabaseTestMixin} (and L{DatabaseTestCase}, a trial C{TestCase}
    with it): a fresh database for each test, made by the application's
    migrations, run once; with L{assertQueries<QueryAssertions.assertQueries>}.
"""

from __future__ import annotations

import atexit
import inspect
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Collection, Mapping
from importlib import import_module
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import quote

from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from twistar.connection import POSTGRES, SQLITE, connect, parseURL
from twistar.dbconfig import configForDriver
from twistar.exceptions import NPlusOneError
from twistar.pool import ConnectionPool
from twistar.querylog import NPlusOneDetector, QueryRecord, QueryRecorder
from twistar.registry import Registry

__all__ = [
    "MIGRATION_TABLES",
    "TEST_DATABASE_URL",
    "DatabaseTestCase",
    "DatabaseTestMixin",
    "NPlusOneError",
    "QueryAssertions",
    "QueryRecord",
    "QueryRecorder",
    "queries",
    "strictNPlusOne",
]

TEST_DATABASE_URL = "TWISTAR_TEST_DATABASE_URL"
"""The environment variable naming the database server of
L{DatabaseTestMixin}'s throwaway databases (SQLite files when unset)."""

MIGRATION_TABLES = frozenset({"_yoyo_log", "_yoyo_migration", "_yoyo_version", "yoyo_lock"})
"""The tables of the migration tool (yoyo-migrations), which
L{DatabaseTestMixin} never empties."""


def queries() -> QueryRecorder:
    """
    Record the statements run by the code inside the block::

        with queries() as recorded:
            await User.find(where=["age > ?", 30])
        assert recorded.count == 1

    @return: a L{QueryRecorder}: C{count}, C{statements} (their SQL) and
        C{records} (their L{QueryRecord}s).
    """
    return QueryRecorder()


def strictNPlusOne() -> NPlusOneDetector:
    """
    Inside the block, raise L{NPlusOneError} at a relationship's C{get()}
    that queries for a second object of the objects one query loaded::

        with strictNPlusOne():
            for author in await Author.all():
                await author.books.get()  # NPlusOneError for the second author

    @return: an L{NPlusOneDetector}.
    """
    return NPlusOneDetector()


class QueryAssertions:
    """
    A mixin for trial test cases (or any C{unittest.TestCase}) with
    L{assertQueries}.
    """

    def assertQueries(self, count: int) -> _ExpectedQueries:
        """
        Fail (with the statements run) unless the code inside the block
        runs exactly C{count} statements::

            with self.assertQueries(2):
                await Author.find(include=["books"])

        @return: the L{QueryRecorder} of the block.
        """
        return _ExpectedQueries(count, getattr(self, "failureException", AssertionError))


class _ExpectedQueries(QueryRecorder):
    """
    A L{QueryRecorder} that fails at the end of its block unless it recorded
    as many statements as expected.
    """

    def __init__(self, expected: int, failure: type[BaseException]) -> None:
        super().__init__()
        self.expected = expected
        self.failure = failure

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(kind, value, traceback)
        if kind is None and self.count != self.expected:
            listed = "".join(f"\n  {n}. {sql}" for n, sql in enumerate(self.statements, 1))
            raise self.failure(
                f"expected {self.expected} queries, {self.count} ran:{listed or ' none'}"
            )


class DatabaseTestMixin(QueryAssertions):
    """
    A mixin for trial test cases: each test gets a database of its own,
    made by the application's migrations, as L{Registry.DBPOOL}.

    The database is a throwaway one, made once per test process (and per
    L{migrate} method): on the server of L{serverURL}, a schema
    (PostgreSQL, in the connections' C{search_path}; a database behind a
    transaction pooler, C{transaction_pooling}) or a database
    (MySQL/MariaDB) called C{twistar_test_PID_XXXXXXXX}, dropped when the
    process exits; without a server, a SQLite file. L{migrate} runs on it
    once. Each test then starts with every table empty but
    L{keepTables} and the migration tool's (L{MIGRATION_TABLES}): on a
    server its tables are emptied before the test (C{TRUNCATE ... CASCADE}
    on PostgreSQL, C{DELETE} with foreign key checks off on MySQL); on
    SQLite it is a copy, in the test's temporary directory, of the
    migrated file. Ids are not reset between tests.

    After the test its pool is closed and L{Registry.DBPOOL} is given back
    the pool it had before.

    A subclass whose C{setUp} does more calls C{super().setUp()} (a
    L{Deferred<twisted.internet.defer.Deferred>}) first.

    @ivar pool: the test's pool, also L{Registry.DBPOOL}.
    @ivar databaseURL: the URL of the test's database, for
        L{twistar.connect<twistar.connection.connect>} (a second pool,
        another process) and migration tools.
    """

    serverURL: ClassVar[str | None] = None
    """The database server to make throwaway databases on (its URL; the
    user must be allowed to create schemas, on PostgreSQL, or databases, on
    MySQL and behind a transaction pooler); by default the environment
    variable C{TWISTAR_TEST_DATABASE_URL} (L{TEST_DATABASE_URL}). A SQLite
    URL, or neither, means SQLite files."""

    poolOptions: ClassVar[Mapping[str, Any]] = {}
    """More keyword arguments of L{twistar.connect<twistar.connection.connect>}
    for the test's pool (and the one L{migrate} is given)."""

    keepTables: ClassVar[Collection[str]] = ()
    """Tables whose rows, those L{migrate} left, every test starts with
    (lookup tables that migrations fill): they are not emptied."""

    pool: ConnectionPool
    databaseURL: str

    def migrate(self, pool: ConnectionPool, url: str) -> Any:
        """
        Make the tables of a new, empty database: run the application's
        migrations. Called once per test process, before the first test;
        by default it does nothing.

        @param pool: a pool on that database, which is L{Registry.DBPOOL}
            meanwhile.
        @param url: that database's URL (for a migration tool, such as
            L{twistar.migrations.applyMigrations}).
        @return: C{None} or an awaitable (a
            L{Deferred<twisted.internet.defer.Deferred>}, a coroutine).
        """

    def setUp(self) -> Any:
        """
        Give the test its database.

        @return: a L{Deferred<twisted.internet.defer.Deferred>} that fires
            when the database is ready.
        """
        result = super().setUp()  # type: ignore[misc]
        return ensureDeferred(self._setUpDatabase(result))

    async def _setUpDatabase(self, before: Any) -> None:
        if inspect.isawaitable(before):
            await before
        addCleanup = self.addCleanup  # type: ignore[attr-defined]
        addCleanup(_restorePool, Registry.DBPOOL)
        database = await _prepared(self)
        if database.backend == SQLITE:
            directory = os.path.abspath(self.mktemp())  # type: ignore[attr-defined]
            os.makedirs(directory)
            path = os.path.join(directory, "test.db")
            shutil.copyfile(parseURL(database.url).connectArgs[0], path)
            self.databaseURL = "sqlite:///" + quote(path)
        else:
            self.databaseURL = database.url
        self.pool = connect(self.databaseURL, **self.poolOptions)
        addCleanup(_closePool, self.pool)
        Registry.getConfig()  # for the new pool: its cache of columns is empty
        Registry.SCHEMAS.update(database.schemas)
        if database.backend != SQLITE:
            await _emptyTables(self.keepTables)


class DatabaseTestCase(DatabaseTestMixin, unittest.TestCase):
    """
    A trial C{TestCase} with L{DatabaseTestMixin}: a fresh database in
    each test.
    """


class _Database:
    """
    A throwaway database, migrated.

    @ivar backend: C{"sqlite"}, C{"postgres"} or C{"mysql"}.
    @ivar url: its URL (for SQLite, of the file tests copy).
    @ivar schemas: the columns of its tables, by table name, read once
        migrated, to fill each test's L{Registry.SCHEMAS}.
    """

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        self.url = url
        self.schemas: dict[str, list[str]] = {}


_databases: dict[tuple[str, Any, frozenset[str]], _Database] = {}
"""The throwaway databases made so far, by server URL, migrate function
and kept tables."""


async def _prepared(test: DatabaseTestMixin) -> _Database:
    """
    @return: the throwaway database for C{test}, made and migrated the
        first time.
    """
    server = test.serverURL or os.environ.get(TEST_DATABASE_URL, "").strip() or SQLITE
    if server == SQLITE or server.startswith("sqlite:"):
        server = SQLITE
    migrate = getattr(type(test).migrate, "__func__", type(test).migrate)
    key = (server, migrate, frozenset(test.keepTables))
    if key in _databases:
        return _databases[key]
    if server == SQLITE:
        directory = tempfile.mkdtemp(prefix="twistar-test-")
        atexit.register(shutil.rmtree, directory, True)
        database = _Database(SQLITE, "sqlite:///" + quote(os.path.join(directory, "migrated.db")))
    else:
        parsed = parseURL(server)
        config = configForDriver(parsed.driver)()
        name = f"twistar_test_{os.getpid()}_{secrets.token_hex(4)}"
        create, drop = config.scratchStatements(name, parsed.transactionPooling)
        await deferToThread(_runAlone, server, create)
        atexit.register(_dropDatabase, server, drop)
        database = _Database(
            parsed.backend, config.scratchURL(server, name, parsed.transactionPooling)
        )
    previous = Registry.DBPOOL
    pool = connect(database.url, **test.poolOptions)
    try:
        result = test.migrate(pool, database.url)
        if inspect.isawaitable(result):
            await result
        await _emptyTables(test.keepTables)
        database.schemas = await _readSchemas()
    finally:
        _closePool(pool)
        Registry.DBPOOL = previous
    _databases[key] = database
    return database


async def _emptyTables(keep: Collection[str]) -> None:
    """
    Empty every table of the database of L{Registry.DBPOOL} but C{keep} and
    L{MIGRATION_TABLES}.
    """
    config = Registry.getConfig()
    kept = MIGRATION_TABLES | set(keep)

    def empty(txn: Any) -> None:
        config.emptyTables(txn, [name for name in config.tableNames(txn) if name not in kept])

    await config.runInteraction(empty)


async def _readSchemas() -> dict[str, list[str]]:
    """
    @return: the columns of every table of the database of
        L{Registry.DBPOOL}, by table name, as L{Registry.SCHEMAS} has them.
    """
    config = Registry.getConfig()
    Registry.SCHEMAS.clear()  # what the migrations read may have changed since

    def read(txn: Any) -> None:
        for name in config.tableNames(txn):
            config.getSchema(name, txn)

    await config.runInteraction(read)
    return dict(Registry.SCHEMAS)


def _closePool(pool: ConnectionPool) -> None:
    if pool.running or pool.startID:
        pool.close()  # type: ignore[no-untyped-call]


def _restorePool(pool: Any) -> None:
    Registry.DBPOOL = pool


def _runAlone(server: str, statement: str) -> None:
    """
    Run C{statement} on its own, outside a transaction (as C{CREATE
    DATABASE} needs), on a new connection to C{server}.
    """
    parsed = parseURL(server)
    connection = import_module(parsed.driver).connect(
        *parsed.connectArgs, **parsed.connectKeywords
    )
    try:
        if parsed.backend == POSTGRES:
            connection.autocommit = True
        connection.cursor().execute(statement)
        connection.commit()
    finally:
        connection.close()


def _dropDatabase(server: str, statement: str) -> None:
    """
    Run C{statement}, which drops a throwaway database, on the server of
    C{server} (when the process exits, on a connection of its own).
    """
    try:
        _runAlone(server, statement)
    except Exception as e:
        sys.stderr.write(f"twistar.testing: could not run {statement!r}: {e}\n")
