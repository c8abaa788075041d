"""
Test support: the backend chosen by C{TWISTAR_TEST_DB}, its pools, and the
tables the tests use.

C{TWISTAR_TEST_DB} is C{sqlite} (the default: a new SQLite file for each
pool) or a server URL, as L{twistar.connect} reads it:
C{postgresql://user@host:port/dbname} (psycopg2; C{postgresql+psycopg://}
for psycopg 3) or C{mysql://user@host:port/dbname} (MySQLdb;
C{mysql+pymysql://} for PyMySQL). A PostgreSQL URL through PgBouncer says
so with C{?transaction_pooling=true} (see L{transactionPooling}).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import quote

from twisted.enterprise import adbapi
from twisted.internet import defer, threads
from twisted.internet.task import Clock
from twisted.python.threadable import isInIOThread
from twisted.trial import unittest

from twistar.connection import MYSQL as MYSQL
from twistar.connection import POSTGRES as POSTGRES
from twistar.connection import SQLITE as SQLITE
from twistar.connection import connect, parseURL
from twistar.pgpool import PostgresPool, waitFor
from twistar.pool import ConnectionPool
from twistar.registry import Registry
from twistar.replicas import DEFAULT_DATABASE
from twistar.tests.servercontrol import STATE_ENV_VAR

SECOND_DRIVERS = {POSTGRES: "psycopg", MYSQL: "pymysql"}
"""The other driver of each server database: psycopg 3 and PyMySQL."""

_DRIVER_SCHEMES = {
    "psycopg2": "postgresql", "psycopg": "postgresql+psycopg",
    "MySQLdb": "mysql", "pymysql": "mysql+pymysql",
}
"""The URL scheme of each server driver."""


def testDatabase() -> str:
    """
    @return: the value of C{TWISTAR_TEST_DB} (C{"sqlite"} when unset).
    """
    return os.environ.get("TWISTAR_TEST_DB", "").strip() or SQLITE


def backend(url: str | None = None) -> str:
    """
    @return: C{"sqlite"}, C{"postgres"} or C{"mysql"} for a test database URL.
    """
    url = url or testDatabase()
    if url == SQLITE:
        return SQLITE
    return parseURL(url).backend


def transactionPooling(url: str | None = None) -> bool:
    """
    @return: whether the test database (or C{url}) is reached through a
        transaction pooler: its URL has C{transaction_pooling=true}, as
        C{scripts/run_tests.py} gives for PgBouncer.
    """
    url = url or testDatabase()
    return url != SQLITE and parseURL(url).transactionPooling


def unpooledURL() -> str | None:
    """
    @return: the URL of the test database on its server itself, not
        through a transaction pooler: C{TWISTAR_TEST_DB} unless it has
        C{transaction_pooling}; else the URL in the state file of the
        server behind the pooler (named by C{TWISTAR_TEST_SERVER_STATE}),
        with the test URL's driver; L{None} without one.
    """
    url = testDatabase()
    if not transactionPooling(url):
        return url
    path = os.environ.get(STATE_ENV_VAR)
    if not path:
        return None
    return withDriver(json.loads(Path(path).read_text())["url"], parseURL(url).driver)


def waitUntilReachable(url: str | None = None, limit: float = 60.0) -> None:
    """
    Wait until a new connection to the test database server (or C{url})
    runs a statement: a server just started may not be reachable at once
    through a transaction pooler (PgBouncer refuses new clients until its
    next login to the server, tried every C{server_login_retry}, succeeds).
    Blocks: call it in a thread.

    @param limit: seconds after which the last error is raised.
    """
    parsed = parseURL(url or testDatabase())
    deadline = time.monotonic() + limit
    while True:
        try:
            connection = import_module(parsed.driver).connect(
                *parsed.connectArgs, **parsed.connectKeywords
            )
            try:
                connection.cursor().execute("SELECT 1")
            finally:
                connection.close()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def withQuery(url: str, query: str) -> str:
    """
    @return: C{url} with the options C{query} (C{"name=value&..."}) added
        to its query string.
    """
    return url + ("&" if "?" in url else "?") + query


def withDriver(url: str, driver: str) -> str:
    """
    @return: the server database URL C{url} with the scheme of C{driver}.
    """
    return _DRIVER_SCHEMES[driver] + url[url.index("://"):]


def callInWork(func: Any, *args: Any) -> Any:
    """
    Called in work that a pool runs (C{func(cursor)}, on a pool thread or,
    on a L{PostgresPool}, in a greenlet of the reactor's thread): call
    C{func(*args)} as the reactor's code and wait for its result (a
    L{Deferred}'s), without blocking the reactor.
    """
    if isInIOThread():
        return waitFor(defer.maybeDeferred(func, *args))
    return threads.blockingCallFromThread(_reactor(), func, *args)


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class Pause:
    """
    A point where work that a pool runs waits until the test releases it,
    whichever the pool: call it in the work.

    @ivar reached: fires when the work reaches it.
    """

    def __init__(self) -> None:
        self.reached: defer.Deferred[None] = defer.Deferred()
        self.released: defer.Deferred[None] = defer.Deferred()

    def __call__(self) -> None:
        callInWork(self._reach)

    def _reach(self) -> defer.Deferred[None]:
        if not self.reached.called:
            self.reached.callback(None)
        return self.released

    def release(self) -> None:
        """
        Let the work go on (again harmless).
        """
        if not self.released.called:
            self.released.callback(None)


def poolBusy(pool: Any) -> int:
    """
    @return: how much work runs on or waits for C{pool}: its busy threads
        and queued work, or a L{PostgresPool}'s busy connections and
        queued work.
    """
    if isinstance(pool, PostgresPool):
        return pool.busy + pool.waiting
    return len(pool.threadpool.working) + pool.threadpool._queue.qsize()


def poolConnections(pool: Any) -> list[Any]:
    """
    @return: the DB-API connections C{pool} keeps.
    """
    if isinstance(pool, PostgresPool):
        channels = [*pool._idle, *pool._busy]
        return [channel.connection for channel in channels]
    return list(pool.connections.values())


def poolSize(pool: Any) -> int:
    """
    @return: how many connections C{pool} has open.
    """
    if isinstance(pool, PostgresPool):
        return pool.size
    return len(pool.connections)


def makePool(url: str | None = None, driver: str | None = None, **poolArgs: Any) -> ConnectionPool:
    """
    Make a pool with L{twistar.connect} (not made L{Registry.DBPOOL}).

    @param url: a test database URL (default: C{TWISTAR_TEST_DB}).
    @param driver: a DB-API module name to use instead of the URL's.
    @param poolArgs: more arguments for L{twistar.connect} (C{cp_*} ones,
        C{waitLimit}, the driver's).
    @return: a new connection pool for that database. For SQLite, a new
        database file in a temporary directory.
    """
    url = url or testDatabase()
    if url == SQLITE:
        # Under trial the working directory is its temporary directory.
        path = os.path.join(tempfile.mkdtemp(prefix="sqlite-", dir="."), "test.db")
        url = "sqlite:///" + quote(path)
        poolArgs = {"timeout": 30, "cp_openfun": _sqliteOpen, **poolArgs}
    elif driver is not None:
        url = withDriver(url, driver)
    return connect(url, register=False, **poolArgs)


def _sqliteOpen(connection: Any) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")


_TYPES = {
    SQLITE: {
        "pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "int": "INTEGER", "bigint": "INTEGER",
        "str": "VARCHAR(255)", "text": "TEXT", "bool": "BOOLEAN", "float": "DOUBLE PRECISION",
        "decimal": "DECIMAL(20, 6)", "bytes": "BLOB", "date": "DATE", "time": "TIME",
        "datetime": "TIMESTAMP", "stamp": "TIMESTAMP", "suffix": "",
    },
    POSTGRES: {
        "pk": "SERIAL PRIMARY KEY", "int": "INTEGER", "bigint": "BIGINT",
        "str": "VARCHAR(255)", "text": "TEXT", "bool": "BOOLEAN", "float": "DOUBLE PRECISION",
        "decimal": "NUMERIC(20, 6)", "bytes": "BYTEA", "date": "DATE", "time": "TIME",
        "datetime": "TIMESTAMP", "stamp": "TIMESTAMP(3) WITH TIME ZONE", "suffix": "",
    },
    MYSQL: {
        "pk": "INTEGER PRIMARY KEY AUTO_INCREMENT", "int": "INTEGER", "bigint": "BIGINT",
        "str": "VARCHAR(255)", "text": "LONGTEXT", "bool": "BOOLEAN", "float": "DOUBLE",
        "decimal": "DECIMAL(20, 6)", "bytes": "LONGBLOB", "date": "DATE", "time": "TIME(6)",
        "datetime": "DATETIME(6)", "stamp": "DATETIME",
        "suffix": " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_bin",
    },
}

# Table name -> column definitions, with {type} markers filled per backend.
TABLES: dict[str, list[str]] = {
    "users": ["id {pk}", "first_name {str}", "last_name {str}", "age {int}", "dob {date}"],
    "avatars": ["id {pk}", "name {str}", "color {str}", "user_id {int}"],
    "pictures": ["id {pk}", "name {str}", "size {int}", "user_id {int}"],
    "favorite_colors": ["id {pk}", "name {str}"],
    "favorite_colors_users": ["favorite_color_id {int}", "user_id {int}", "palette_id {int}"],
    "coltests": ["id {pk}", "{q}select{q} {str}", "{q}where{q} {str}"],
    "boys": ["id {pk}", "name {str}"],
    "girls": ["id {pk}", "name {str}"],
    "nicknames": ["id {pk}", "value {str}", "nicknameable_id {int}", "nicknameable_type {str}"],
    "blogposts": ["id {pk}", "title {str}"],
    "categories": ["id {pk}", "name {str}"],
    "posts_categories": ["blogpost_id {int}", "category_id {int}"],
    "comments": ["id {pk}", "body {text}", "blogpost_id {int}", "author_id {int}"],
    "values_tests": [
        "id {pk}", "a_bool {bool}", "a_int {int}", "a_bigint {bigint}", "a_float {float}",
        "a_decimal {decimal}", "a_str {text}", "a_bytes {bytes}", "a_date {date}",
        "a_time {time}", "a_datetime {datetime}",
    ],
    "uniques": ["id {pk}", "code {str} UNIQUE", "label {str}"],
    "tallies": ["id {pk}", "name {str}", "{q}count{q} {int}"],
    "scores": ["id {pk}", "player {str}", "game {int}", "points {int}", "note {str}",
               "UNIQUE (player, game)"],
    "drafts": ["id {pk}", "title {str}", "body {text}", "lock_version {int}"],
    "reviewers": ["id {pk}", "name {str}"],
    "drafts_reviewers": ["draft_id {int}", "reviewer_id {int}"],
    "stories": ["id {pk}", "title {str} UNIQUE", "body {text}", "created_at {datetime}",
                "updated_at {datetime}"],
    # Timestamps in columns of other names, precisions and time zones.
    "notes": ["id {pk}", "title {str} UNIQUE", "inserted {stamp}", "changed {stamp}"],
}


def tableDDL(kind: str, name: str, columns: list[str]) -> str:
    """
    @return: the C{CREATE TABLE} statement of C{name} for backend C{kind}.
    """
    types = dict(_TYPES[kind], q="`" if kind == MYSQL else '"')
    body = ", ".join(column.format(**types) for column in columns)
    return f"CREATE TABLE {name} ({body}){types['suffix']}"


def _createTables(txn: Any, kind: str, tables: dict[str, list[str]]) -> None:
    for name, columns in tables.items():
        txn.execute(f"DROP TABLE IF EXISTS {name}")
        txn.execute(tableDDL(kind, name, columns))


def _emptyTables(txn: Any, tables: dict[str, list[str]]) -> None:
    for name in tables:
        txn.execute(f"DELETE FROM {name}")


_created: set[str] = set()


@defer.inlineCallbacks
def initDB(testCase: unittest.TestCase, **poolArgs: Any) -> Any:
    """
    Give C{testCase} a fresh pool as L{Registry.DBPOOL} with every test table
    present and empty; the pool is closed at the test's end.

    @return: a L{Deferred} of the pool.
    """
    pool = makePool(**poolArgs)
    Registry.DBPOOL = pool
    testCase.addCleanup(closePool, pool)
    kind = backend()
    if kind == SQLITE or testDatabase() not in _created:
        yield pool.runInteraction(_createTables, kind, TABLES)
        if kind != SQLITE:
            _created.add(testDatabase())
    else:
        yield pool.runInteraction(_emptyTables, TABLES)
    return pool


def closePool(pool: adbapi.ConnectionPool) -> None:
    """
    Close C{pool} and forget it if it is L{Registry.DBPOOL}.
    """
    if pool.running or pool.startID:
        pool.close()
    if Registry.DBPOOL is pool:
        Registry.DBPOOL = None


class DBTestCase(unittest.TestCase):
    """
    A test case with a fresh pool and empty test tables in each test.

    @ivar pool: the test's pool (also L{Registry.DBPOOL}).
    @ivar backend: C{"sqlite"}, C{"postgres"} or C{"mysql"}.
    @ivar secondDriver: set on a subclass to run its tests through the
        backend's other driver (L{SECOND_DRIVERS}); on SQLite, which has
        one, they are skipped.
    @ivar poolArgs: more arguments for the pool (see L{makePool}).
    """

    backend = backend()
    secondDriver = False
    poolArgs: dict[str, Any] = {}

    async def setUp(self) -> None:
        driver = None
        if self.secondDriver:
            if self.backend not in SECOND_DRIVERS:
                raise unittest.SkipTest("SQLite has one driver")
            driver = SECOND_DRIVERS[self.backend]
        self.pool = await initDB(self, driver=driver, **self.poolArgs)
        self.config = Registry.getConfig()



def restoreRegistry(testCase: unittest.SynchronousTestCase) -> None:
    """
    Put back, at the end of C{testCase}, the named databases, the replicas
    and L{Registry.DBPOOL} as they are now (the registry is global).
    """
    databases, pool = dict(Registry.DATABASES), Registry.DBPOOL
    names = {DEFAULT_DATABASE, *databases}
    replicas = {name: Registry.replicasOf(name) for name in names}
    kept = {name: () if found is None else found.replicas for name, found in replicas.items()}

    def restore() -> None:
        for name in {DEFAULT_DATABASE, *Registry.DATABASES}:
            found = Registry.replicasOf(name)
            for replica in () if found is None else found.replicas:
                if replica not in kept.get(name, ()):
                    Registry.removeReplica(replica.pool, name)
        for name in Registry.DATABASES.keys() - databases.keys():
            Registry.removeDatabase(name)  # with its cached schemas
        Registry.DATABASES.update(databases)
        Registry.DBPOOL = pool

    testCase.addCleanup(restore)


def runTurn(clock: Clock) -> None:
    """
    Run one turn of C{clock}'s reactor: the calls that are due now, not
    those that they schedule for now (which C{clock.advance(0)} runs too).
    """
    now = clock.seconds()
    due = sorted((call for call in clock.calls if call.getTime() <= now),
                 key=lambda call: call.getTime())
    for call in due:
        if call not in clock.calls:
            continue  # cancelled by an earlier call of the turn
        clock.calls.remove(call)
        call.called = 1
        call.func(*call.args, **call.kw)
