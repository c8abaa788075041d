# -*- test-case-name: twistar.tests.test_connection -*-
"""
Tests for L{twistar.connection}: reading database URLs, and L{connect} on
every backend.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any
from unittest import mock
from urllib.parse import quote, urlsplit

from twisted.trial import unittest

import twistar
from twistar.connection import DatabaseURL, connect, parseURL, redacted
from twistar.dbobject import DBObject
from twistar.exceptions import InvalidURLError, MissingDriverError, TwistarError
from twistar.pgpool import PostgresPool
from twistar.pool import ConnectionPool
from twistar.registry import Registry
from twistar.tests.helpers import (
    MYSQL,
    POSTGRES,
    SECOND_DRIVERS,
    SQLITE,
    TABLES,
    _createTables,
    backend,
    closePool,
    restoreRegistry,
    testDatabase,
    unpooledURL,
    withDriver,
    withQuery,
)
from twistar.transaction import transaction


class Tally(DBObject):
    TABLENAME = "url_tallies"


_TABLES = {"url_tallies": TABLES["tallies"]}


class ParseSQLiteTests(unittest.SynchronousTestCase):
    """
    L{parseURL} reads SQLite URLs.
    """

    def test_relative(self) -> None:
        """
        Three slashes: a path relative to the current directory,
        percent-decoded; the connection may be closed by another thread.
        """
        url = parseURL("sqlite:///data/my%20app.db")
        self.assertEqual((url.backend, url.driver), (SQLITE, "sqlite3"))
        self.assertEqual(url.connectArgs, ("data/my app.db",))
        self.assertEqual(url.connectKeywords, {"check_same_thread": False})
        self.assertFalse(url.memory)

    def test_absolute(self) -> None:
        """
        Four slashes: an absolute path.
        """
        self.assertEqual(parseURL("sqlite:////var/lib/app.db").connectArgs, ("/var/lib/app.db",))

    def test_memory(self) -> None:
        """
        C{sqlite://:memory:} and C{sqlite:///:memory:} are an in-memory
        database.
        """
        for text in ("sqlite://:memory:", "sqlite:///:memory:", "SQLite://:memory:"):
            url = parseURL(text)
            self.assertTrue(url.memory, text)
            self.assertEqual(url.connectArgs, (":memory:",))

    def test_options(self) -> None:
        """
        C{timeout} and C{cached_statements} go to C{sqlite3.connect} as
        numbers; pool options to the pool.
        """
        url = parseURL("sqlite:///a.db?timeout=2.5&cached_statements=10&cp_max=2")
        self.assertEqual(
            url.connectKeywords,
            {"check_same_thread": False, "timeout": 2.5, "cached_statements": 10},
        )
        self.assertEqual(url.poolOptions, {"cp_max": 2})

    def test_unknownOption(self) -> None:
        """
        An option C{sqlite3.connect} does not take is refused, with the
        ones it takes.
        """
        error = self.assertRaises(InvalidURLError, parseURL, "sqlite:///a.db?mode=ro")
        self.assertIn("'mode'", str(error))
        self.assertIn("timeout", str(error))

    def test_badForms(self) -> None:
        """
        A host, a missing path or two slashes are refused, showing the right
        forms.
        """
        self.assertRaises(InvalidURLError, parseURL, "sqlite:app.db")
        for text in ("sqlite://app.db", "sqlite://", "sqlite:///"):
            error = self.assertRaises(InvalidURLError, parseURL, text)
            self.assertIn("sqlite:///relative/path.db", str(error), text)


class ParseServerTests(unittest.SynchronousTestCase):
    """
    L{parseURL} reads PostgreSQL and MySQL URLs.
    """

    def test_postgresql(self) -> None:
        """
        User, password (percent-decoded), host, port and database name
        become psycopg's keywords; query options go to the driver as they
        are.
        """
        url = parseURL(
            "postgresql://app%20user:p%40ss%3Aw%2Frd@db.example:6432/my%2Ddb"
            "?sslmode=require&connect_timeout=3"
        )
        self.assertEqual((url.backend, url.driver), (POSTGRES, "psycopg2"))
        self.assertEqual(url.connectArgs, ())
        self.assertEqual(dict(url.connectKeywords), {
            "user": "app user", "password": "p@ss:w/rd", "host": "db.example", "port": 6432,
            "dbname": "my-db", "sslmode": "require", "connect_timeout": "3",
        })

    def test_postgresqlSchemes(self) -> None:
        """
        C{postgres://}, C{postgresql+psycopg2://} are psycopg2;
        C{postgresql+psycopg://} is psycopg 3.
        """
        for scheme, driver in [("postgres", "psycopg2"), ("postgresql+psycopg2", "psycopg2"),
                               ("postgresql+psycopg", "psycopg"), ("postgresql", "psycopg2")]:
            url = parseURL(f"{scheme}://h/d")
            self.assertEqual((url.backend, url.driver), (POSTGRES, driver), scheme)
            self.assertEqual(dict(url.connectKeywords), {"host": "h", "dbname": "d"})

    def test_postgresqlSocket(self) -> None:
        """
        A PostgreSQL unix socket's directory is the C{host} option or a
        percent-encoded host; with neither, libpq's default.
        """
        self.assertEqual(
            dict(parseURL("postgresql:///app?host=/var/run/postgresql").connectKeywords),
            {"dbname": "app", "host": "/var/run/postgresql"},
        )
        self.assertEqual(
            dict(parseURL("postgresql://%2Fvar%2Frun%2Fpostgresql/app").connectKeywords),
            {"dbname": "app", "host": "/var/run/postgresql"},
        )
        self.assertEqual(dict(parseURL("postgresql:///app").connectKeywords), {"dbname": "app"})
        self.assertEqual(dict(parseURL("postgresql://").connectKeywords), {})

    def test_ipv6(self) -> None:
        """
        A bracketed IPv6 address is the host.
        """
        url = parseURL("postgresql+psycopg://[::1]:5433/d")
        self.assertEqual(url.connectKeywords["host"], "::1")
        self.assertEqual(url.connectKeywords["port"], 5433)

    def test_mysqldb(self) -> None:
        """
        MySQLdb takes C{db} and C{passwd}; the character set is C{utf8mb4}
        unless the URL says otherwise; numeric options become numbers.
        """
        url = parseURL("mysql://root:s%23cret@127.0.0.1:3307/app?connect_timeout=5")
        self.assertEqual((url.backend, url.driver), (MYSQL, "MySQLdb"))
        self.assertEqual(dict(url.connectKeywords), {
            "user": "root", "passwd": "s#cret", "host": "127.0.0.1", "port": 3307, "db": "app",
            "connect_timeout": 5, "charset": "utf8mb4",
        })
        self.assertEqual(parseURL("mysql://h/d?charset=latin1").connectKeywords["charset"],
                         "latin1")
        for scheme in ("mysql+mysqldb", "mariadb", "mariadb+mysqldb"):
            self.assertEqual(parseURL(f"{scheme}://h/d").driver, "MySQLdb", scheme)

    def test_pymysql(self) -> None:
        """
        PyMySQL takes C{database} and C{password}.
        """
        for scheme in ("mysql+pymysql", "mariadb+pymysql"):
            url = parseURL(f"{scheme}://u:p@h/app?read_timeout=9&compress=false")
            self.assertEqual(url.driver, "pymysql")
            self.assertEqual(dict(url.connectKeywords), {
                "user": "u", "password": "p", "host": "h", "database": "app",
                "read_timeout": 9, "compress": False, "charset": "utf8mb4",
            })

    def test_mysqlSocket(self) -> None:
        """
        A MySQL unix socket is the C{unix_socket} option.
        """
        url = parseURL("mysql://app@/app?unix_socket=/run/mysqld/mysqld.sock")
        self.assertEqual(dict(url.connectKeywords), {
            "user": "app", "db": "app", "unix_socket": "/run/mysqld/mysqld.sock",
            "charset": "utf8mb4",
        })

    def test_poolOptions(self) -> None:
        """
        C{cp_min}, C{cp_max}, C{cp_noisy}, C{cp_reconnect}, C{cp_good_sql}
        and C{waitLimit} in the query string are the pool's, converted.
        """
        url = parseURL(
            "postgresql://h/d?cp_min=1&cp_max=10&cp_reconnect=true&cp_noisy=0"
            "&cp_good_sql=SELECT%202&waitLimit=2.5&sslmode=disable"
        )
        self.assertEqual(dict(url.poolOptions), {
            "cp_min": 1, "cp_max": 10, "cp_reconnect": True, "cp_noisy": False,
            "cp_good_sql": "SELECT 2", "waitLimit": 2.5,
        })
        self.assertEqual(dict(url.connectKeywords),
                         {"host": "h", "dbname": "d", "sslmode": "disable"})

    def test_badOptionValues(self) -> None:
        """
        A pool option or numeric driver option that is no number (or no
        truth value) is refused, naming it.
        """
        for query in ("cp_max=lots", "waitLimit=soon", "cp_reconnect=maybe",
                      "connect_timeout=x"):
            error = self.assertRaises(InvalidURLError, parseURL, f"mysql://h/d?{query}")
            self.assertIn(query.partition("=")[0], str(error))

    def test_malformed(self) -> None:
        """
        Unknown schemes, bad ports, several hosts, paths that are no
        database name, fragments and repeated options are refused.
        """
        for text in ("oracle://h/d", "h/d", "postgresql:h", "mysql://h:port/d",
                     "mysql://h:70000/d", "postgresql://h1,h2/d", "postgresql://h/d/e",
                     "postgresql://u:p#w@h/d", "postgresql://h/d?a=1&a=2",
                     "postgresql://u@h/d?user=v", "postgresql://[::1/d", "mysql://h/d?x"):
            self.assertRaises(InvalidURLError, parseURL, text)

    def test_passwordHidden(self) -> None:
        """
        Errors and C{repr} do not show the password.
        """
        error = self.assertRaises(InvalidURLError, parseURL, "postgresql://u:s3cret@h:x/d")
        self.assertNotIn("s3cret", str(error))
        self.assertIn("u:***@h:x", str(error))
        self.assertNotIn("s3cret", repr(parseURL("mysql://u:s3cret@h/d")))
        self.assertNotIn("s3cret", repr(parseURL("mysql+pymysql://u:s3cret@h/d")))
        self.assertEqual(redacted("mysql://u:p@ss@h/d"), "mysql://u:***@h/d")
        self.assertEqual(redacted("mysql://u@h/d"), "mysql://u@h/d")

    def test_transactionPooling(self) -> None:
        """
        C{transaction_pooling=true} says the PostgreSQL server is behind a
        transaction pooler: psycopg 3 is told to prepare no statement,
        psycopg2 (which never prepares) nothing; it is no driver option.
        """
        url = parseURL("postgresql+psycopg://h/d?transaction_pooling=true&sslmode=disable")
        self.assertTrue(url.transactionPooling)
        self.assertEqual(dict(url.connectKeywords), {
            "host": "h", "dbname": "d", "sslmode": "disable", "prepare_threshold": None,
        })
        url = parseURL("postgresql://h/d?transaction_pooling=yes")
        self.assertTrue(url.transactionPooling)
        self.assertEqual(dict(url.connectKeywords), {"host": "h", "dbname": "d"})
        for text in ("postgresql+psycopg://h/d", "postgresql+psycopg://h/d?transaction_pooling=0"):
            url = parseURL(text)
            self.assertFalse(url.transactionPooling)
            self.assertNotIn("prepare_threshold", url.connectKeywords)
        self.assertFalse(parseURL("mysql://h/d?transaction_pooling=false").transactionPooling)

    def test_transactionPoolingRefused(self) -> None:
        """
        C{transaction_pooling} that is not a truth value, or true for a
        database that is not PostgreSQL, is refused.
        """
        error = self.assertRaises(
            InvalidURLError, parseURL, "postgresql://h/d?transaction_pooling=maybe"
        )
        self.assertIn("transaction_pooling", str(error))
        for text in ("mysql://h/d?transaction_pooling=true",
                     "mysql+pymysql://h/d?transaction_pooling=1",
                     "sqlite:///a.db?transaction_pooling=on"):
            error = self.assertRaises(InvalidURLError, parseURL, text)
            self.assertIn("PostgreSQL", str(error))

    def test_threads(self) -> None:
        """
        C{threads=false} in a PostgreSQL URL asks for a PostgresPool, which
        uses psycopg 3 whatever the scheme; it is no driver option, and
        other databases refuse it.
        """
        for text in ("postgresql://h/d?threads=false", "postgresql+psycopg://h/d?threads=0"):
            url = parseURL(text)
            self.assertFalse(url.threads)
            self.assertEqual(url.driver, "psycopg")
            self.assertEqual(dict(url.connectKeywords), {"host": "h", "dbname": "d"})
        self.assertTrue(parseURL("postgresql://h/d").threads)
        url = parseURL("postgresql://h/d?threads=true")
        self.assertEqual((url.threads, url.driver), (True, "psycopg2"))
        for text in ("mysql://h/d?threads=false", "sqlite:///a.db?threads=off"):
            error = self.assertRaises(InvalidURLError, parseURL, text)
            self.assertIn("PostgreSQL", str(error))
        self.assertRaises(InvalidURLError, parseURL, "postgresql://h/d?threads=maybe")

    def test_invalidURLIsValueError(self) -> None:
        """
        L{InvalidURLError} is a L{TwistarError} and a C{ValueError}.
        """
        error = self.assertRaises(ValueError, parseURL, "nope")
        self.assertIsInstance(error, TwistarError)


class ConnectOptionTests(unittest.TestCase):
    """
    L{connect}'s choices of URL, options and registration, on SQLite files.
    """

    def setUp(self) -> None:
        self.patch(Registry, "DBPOOL", None)

    def connect(self, *args: Any, **kw: Any) -> ConnectionPool:
        pool = connect(*args, **kw)
        self.addCleanup(closePool, pool)
        return pool

    def test_packageAttribute(self) -> None:
        """
        L{connect} is C{twistar.connect}.
        """
        self.assertIs(twistar.connect, connect)
        self.assertRaises(AttributeError, getattr, twistar, "nothing")

    def test_registers(self) -> None:
        """
        By default the pool becomes L{Registry.DBPOOL}, replacing the one
        there; with C{register=False} it does not.
        """
        first = self.connect("sqlite:///first.db")
        self.assertIsInstance(first, ConnectionPool)
        self.assertIs(Registry.DBPOOL, first)
        second = self.connect("sqlite:///second.db")
        self.assertIs(Registry.DBPOOL, second)
        third = self.connect("sqlite:///third.db", register=False)
        self.assertIs(Registry.DBPOOL, second)
        self.assertEqual(third.connargs, (os.path.abspath("third.db"),))

    def test_registersNamedDatabase(self) -> None:
        """
        With a name as C{register}, the pool becomes that named database's,
        leaving L{Registry.DBPOOL} alone; a bad name is refused before a
        pool is made.
        """
        restoreRegistry(self)
        default = self.connect("sqlite:///default.db")
        named = self.connect("sqlite:///named.db", register="reports")
        self.assertIs(Registry.DBPOOL, default)
        self.assertIs(Registry.poolOf("reports"), named)
        for bad in ("", 3):
            self.assertRaises(TwistarError, connect, "sqlite:///bad.db", register=bad)
        self.assertNotIn("", Registry.DATABASES)

    def test_replicaOf(self) -> None:
        """
        C{replicaOf} adds the pool as a replica of that database instead of
        registering it; SQLite, which has no replicas, is refused before a
        pool is made.
        """
        restoreRegistry(self)
        url = "postgresql://app@127.0.0.1:1/app"
        try:
            pool = self.connect(url, replicaOf="default", register="ignored")
        except MissingDriverError:
            raise unittest.SkipTest("psycopg2 is not installed") from None
        replicas = Registry.replicasOf("default")
        assert replicas is not None
        self.assertEqual([r.pool for r in replicas.replicas], [pool])
        self.assertIsNone(Registry.poolOf("ignored"))
        self.assertIsNone(Registry.DBPOOL)
        error = self.assertRaises(TwistarError, connect, "sqlite:///r.db", replicaOf="default")
        self.assertIn("SQLite has no replicas", str(error))
        self.assertRaises(TwistarError, connect, url, replicaOf="")

    def test_databaseURL(self) -> None:
        """
        Without a URL, C{DATABASE_URL} is used; without either,
        L{InvalidURLError}.
        """
        with mock.patch.dict(os.environ, {"DATABASE_URL": "sqlite:///from-env.db"}):
            pool = self.connect()
        self.assertEqual(pool.connargs, (os.path.abspath("from-env.db"),))
        with mock.patch.dict(os.environ, {"DATABASE_URL": ""}):
            error = self.assertRaises(InvalidURLError, connect)
        self.assertIn("DATABASE_URL", str(error))

    def test_options(self) -> None:
        """
        Keyword arguments override the query string: pool options go to the
        pool, the others to the driver.
        """
        pool = self.connect("sqlite:///o.db?cp_max=2&timeout=3", cp_max=4, cp_min=0,
                            timeout=7, waitLimit=1.5)
        self.assertEqual((pool.min, pool.max, pool.waitLimit), (0, 4, 1.5))
        self.assertEqual(pool.connkw, {"check_same_thread": False, "timeout": 7})

    def test_queryPoolOptions(self) -> None:
        """
        Pool options in the query string configure the pool.
        """
        pool = self.connect("sqlite:///q.db?cp_min=1&cp_max=2&cp_reconnect=yes&waitLimit=3")
        self.assertEqual((pool.min, pool.max, pool.reconnect, pool.waitLimit),
                         (1, 2, True, 3.0))

    def test_transactionPoolingKeyword(self) -> None:
        """
        The keyword C{transaction_pooling} overrides the URL's: psycopg 3's
        pool gets C{prepare_threshold=None} only when it is true, and an
        explicit C{prepare_threshold} keyword wins; it is a C{bool}, for
        PostgreSQL only.
        """
        url = "postgresql+psycopg://h/d"
        try:
            pool = self.connect(url, register=False, transaction_pooling=True)
        except MissingDriverError:
            raise unittest.SkipTest("psycopg (3) is not installed") from None
        self.assertEqual(pool.connkw, {"host": "h", "dbname": "d", "prepare_threshold": None})
        pool = self.connect(url + "?transaction_pooling=true", register=False,
                            transaction_pooling=False)
        self.assertEqual(pool.connkw, {"host": "h", "dbname": "d"})
        pool = self.connect(url, register=False, transaction_pooling=True, prepare_threshold=9)
        self.assertEqual(pool.connkw["prepare_threshold"], 9)
        pool = self.connect("postgresql://h/d", register=False, transaction_pooling=True)
        self.assertEqual(pool.connkw, {"host": "h", "dbname": "d"})
        self.assertRaises(TwistarError, connect, url, transaction_pooling="yes")
        error = self.assertRaises(
            InvalidURLError, connect, "sqlite:///p.db", transaction_pooling=True
        )
        self.assertIn("PostgreSQL", str(error))
        self.assertIsNone(Registry.DBPOOL)

    def test_threadsKeyword(self) -> None:
        """
        The keyword C{threads} overrides the URL's: C{False} makes a
        L{PostgresPool} sized by C{cp_min} and C{cp_max}, with the URL's
        connection arguments and C{waitLimit}; it is a C{bool}, C{False}
        for PostgreSQL only.
        """
        try:
            import greenlet  # noqa: F401
            import psycopg  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("psycopg (3) or greenlet is not installed") from None
        pool = self.connect("postgresql://h/d", register=False, threads=False, cp_min=0,
                            cp_max=3, waitLimit=2)
        self.assertIsInstance(pool, PostgresPool)
        self.assertEqual((pool.min, pool.max, pool.waitLimit), (0, 3, 2.0))
        self.assertEqual(pool.connkw, {"host": "h", "dbname": "d"})
        pool = self.connect("postgresql+psycopg://h/d?threads=false&cp_min=0", register=False,
                            threads=True)
        self.assertIsInstance(pool, ConnectionPool)
        self.assertRaises(TwistarError, connect, "postgresql://h/d", threads="no")
        error = self.assertRaises(InvalidURLError, connect, "sqlite:///p.db", threads=False)
        self.assertIn("PostgreSQL", str(error))
        self.assertIsNone(Registry.DBPOOL)

    def test_busyPollSeconds(self) -> None:
        """
        C{busyPollSeconds}, in the URL or as a keyword (which wins), sets a
        L{PostgresPool}'s; it is a number >= 0, for a pool without threads
        only.
        """
        try:
            import greenlet  # noqa: F401
            import psycopg  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("psycopg (3) or greenlet is not installed") from None
        from twistar.busypoll import BUSY_POLL_SECONDS

        url = "postgresql://h/d?threads=false&cp_min=0"
        pool: Any = self.connect(url, register=False)
        self.assertEqual(pool.busyPollSeconds, BUSY_POLL_SECONDS)
        pool = self.connect(url + "&busyPollSeconds=0.001", register=False)
        self.assertEqual((pool.busyPollSeconds, pool.connkw), (0.001, {"host": "h", "dbname": "d"}))
        pool = self.connect(url + "&busyPollSeconds=1", register=False, busyPollSeconds=0)
        self.assertEqual(pool.busyPollSeconds, 0.0)
        pool.busyPollSeconds = 0.5
        self.assertEqual(pool.busyPollSeconds, 0.5)
        for bad in (-1, math.inf, math.nan, 10**400, True, "0.1"):
            self.assertRaises(TwistarError, connect, url, busyPollSeconds=bad)
            with self.assertRaises(TwistarError):
                pool.busyPollSeconds = bad
        self.assertEqual(pool.busyPollSeconds, 0.5)
        self.assertRaises(InvalidURLError, connect, url + "&busyPollSeconds=soon")
        for threaded in ("postgresql://h/d?busyPollSeconds=0", "sqlite:///p.db"):
            error = self.assertRaises(InvalidURLError, connect, threaded, busyPollSeconds=0)
            self.assertIn("threads=False", str(error))
        self.assertIsNone(Registry.DBPOOL)

    def test_poolParametersNoKeywords(self) -> None:
        """
        A L{PostgresPool}'s own parameters (C{minSize}, C{maxSize},
        C{reactor}, C{openFun}, C{conninfo}), in the URL or as keywords,
        are refused with what to give instead, not taken for connection
        keywords; no pool is made.
        """
        try:
            import greenlet  # noqa: F401
            import psycopg  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("psycopg (3) or greenlet is not installed") from None
        url = "postgresql://h/d?threads=false&cp_min=0"
        for name, instead in (("minSize", "cp_min"), ("maxSize", "cp_max"),
                              ("reactor", "cp_reactor"), ("openFun", "cp_openfun")):
            error = self.assertRaises(TwistarError, connect, f"{url}&{name}=1")
            self.assertIn(repr(name), str(error))
            self.assertIn(instead, str(error))
            self.assertRaises(TwistarError, connect, url, **{name: 1})
        self.assertRaises(TwistarError, connect, url, conninfo="host=h")
        self.assertIsNone(Registry.DBPOOL)

    def test_badWaitLimit(self) -> None:
        """
        A bad C{waitLimit} is refused: also an integer too large for a
        float.
        """
        self.assertRaises(TwistarError, connect, "sqlite:///w.db", waitLimit=-1)
        self.assertRaises(TwistarError, connect, "sqlite:///w.db", waitLimit=10**400)

    def test_memoryOneConnection(self) -> None:
        """
        An in-memory database gets a pool of one connection; asking for
        more is refused.
        """
        pool = self.connect("sqlite://:memory:")
        self.assertEqual((pool.min, pool.max, pool.connargs), (1, 1, (":memory:",)))
        for options in ({"cp_max": 5}, {"cp_min": 2}):
            error = self.assertRaises(TwistarError, connect, "sqlite://:memory:", **options)
            self.assertIn("one connection", str(error))
        error = self.assertRaises(TwistarError, connect, "sqlite://:memory:?cp_max=3")
        self.assertIn("cp_max", str(error))
        self.assertIs(Registry.DBPOOL, pool)

    def test_missingDriver(self) -> None:
        """
        A driver that cannot be imported fails with L{MissingDriverError}
        (an C{ImportError}) naming the extra that installs it.
        """
        for url, module, extra in [
            ("postgresql://h/d", "psycopg2", "postgres"),
            ("postgresql+psycopg://h/d", "psycopg", "psycopg"),
            ("mysql://h/d", "MySQLdb", "mysql"),
            ("mysql+pymysql://h/d", "pymysql", "pymysql"),
        ]:
            with mock.patch.dict(sys.modules, {module: None}):
                error = self.assertRaises(MissingDriverError, connect, url)
            self.assertIsInstance(error, ImportError)
            self.assertIn(f"pip install 'twistar[{extra}]'", str(error))
        self.assertIsNone(Registry.DBPOOL)


def _testURLs(url: str | None = None) -> list[str]:
    """
    @return: the URLs of the test database (or of C{url}), one per driver
        (for SQLite, of a new file).
    """
    url = url or testDatabase()
    if url == SQLITE:
        return ["sqlite:///" + quote(os.path.abspath("connect-test.db"))]
    kind = backend(url)
    first = {POSTGRES: "psycopg2", MYSQL: "MySQLdb"}[kind]
    return [withDriver(url, first), withDriver(url, SECOND_DRIVERS[kind])]


class ConnectTests(unittest.TestCase):
    """
    L{connect} on the test database, with each of its drivers.
    """

    def setUp(self) -> None:
        self.patch(Registry, "DBPOOL", None)

    def connect(self, url: str, **options: Any) -> ConnectionPool:
        pool = connect(url, **options)
        self.addCleanup(closePool, pool)
        return pool

    async def roundTrip(self, pool: ConnectionPool) -> None:
        """
        Create C{tallies} through C{pool}, the registered pool, and save and
        find a row with twistar.
        """
        self.assertIs(Registry.DBPOOL, pool)
        await pool.runInteraction(_createTables, backend(), _TABLES)
        saved = await Tally(name="a", count=3).save()
        found = await Tally.find(saved.id)
        self.assertEqual((found.name, found.count), ("a", 3))

    async def test_drivers(self) -> None:
        """
        Every driver of the test database works through a pool from its URL.
        """
        for url in _testURLs():
            pool = self.connect(url)
            self.assertEqual(pool.dbapiName, parseURL(url).driver)
            await self.roundTrip(pool)

    async def test_driverOptions(self) -> None:
        """
        Options in the query string reach the driver's connection.
        """
        kind = backend()
        expected: Any
        for url in _testURLs():
            if kind == SQLITE:
                pool = self.connect(withQuery(url, "timeout=7"))
                query, expected = "PRAGMA busy_timeout", 7000
            elif kind == POSTGRES:
                pool = self.connect(
                    withQuery(url, "application_name=twistar-url&connect_timeout=5")
                )
                query, expected = "SELECT current_setting('application_name')", "twistar-url"
            else:
                pool = self.connect(
                    withQuery(url, "connect_timeout=5&init_command=SET%20%40tw%3D7")
                )
                query, expected = "SELECT @tw", 7
            rows = await pool.runQuery(query)
            self.assertEqual(rows[0][0], expected, url)

    async def test_transactionPooling(self) -> None:
        """
        With C{transaction_pooling}, psycopg 3's connections have
        C{prepare_threshold=None} and no driver prepares a statement,
        however often it runs; without it psycopg 3 prepares one run more
        than five times (what a transaction pooler breaks). The other
        databases refuse the option.
        """
        kind = backend()

        def prepared(txn: Any) -> int:
            for _ in range(7):
                txn.execute("SELECT 1")
            txn.execute("SELECT COUNT(*) FROM pg_prepared_statements")
            (count,) = txn.fetchone()
            # Leave nothing for the next transaction of this server session.
            txn.execute("DEALLOCATE ALL")
            return int(count)

        for url in _testURLs():
            if kind != POSTGRES:
                self.assertRaises(InvalidURLError, connect, url, transaction_pooling=True)
                continue
            psycopg3 = parseURL(url).driver == "psycopg"
            for pooling, threshold, count in ((True, None, 0), (False, 5, int(psycopg3))):
                pool = self.connect(url, register=False, transaction_pooling=pooling)
                found = await pool.runWithConnection(
                    lambda connection: getattr(connection, "prepare_threshold", None)
                )
                self.assertEqual(found, threshold if psycopg3 else None, (url, pooling))
                self.assertEqual(await pool.runInteraction(prepared), count, (url, pooling))
                closePool(pool)

    async def test_memory(self) -> None:
        """
        Every call on an in-memory database sees the same database,
        transactions too.
        """
        pool = self.connect("sqlite://:memory:")
        await pool.runInteraction(_createTables, SQLITE, _TABLES)
        await Tally(name="a", count=1).save()
        self.assertEqual(await Tally.count(), 1)
        async with transaction():
            await Tally(name="b").save()
            self.assertEqual(await Tally.count(), 2)
        self.assertEqual(sorted(t.name for t in await Tally.all()), ["a", "b"])

    async def test_credentials(self) -> None:
        """
        A user name (and, on MySQL, a password) with characters that must
        be percent-encoded is decoded before it is sent. On the server
        itself: a pooler in front (PgBouncer) lets in only the users it
        lists, not the one the test makes.
        """
        kind = backend()
        if kind == SQLITE:
            url = "sqlite:///" + quote(os.path.abspath("a file?#%.db"))
            pool = self.connect(url)
            await self.roundTrip(pool)
            self.assertTrue(os.path.exists("a file?#%.db"))
            return
        server = unpooledURL()
        if server is None:
            raise unittest.SkipTest("the server behind the pooler is not known")
        admin = self.connect(server, register=False)
        user, password = "twistar url@test", "p@ss:w/rd?#%"
        if kind == POSTGRES:
            await admin.runOperation(f'DROP ROLE IF EXISTS "{user}"')
            await admin.runOperation(f'CREATE ROLE "{user}" LOGIN')
            self.addCleanup(admin.runOperation, f'DROP ROLE "{user}"')
            query = "SELECT current_user"
        else:
            await admin.runOperation(f"DROP USER IF EXISTS '{user}'@'%'")
            await admin.runOperation(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
            self.addCleanup(admin.runOperation, f"DROP USER '{user}'@'%'")
            database = urlsplit(server).path.lstrip("/")
            await admin.runOperation(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'")
            query = "SELECT LEFT(CURRENT_USER(), CHAR_LENGTH(CURRENT_USER()) - 2)"  # 'user@%'
        parts = urlsplit(server)
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        for url in _testURLs(server):
            pool = self.connect(urlsplit(url)._replace(netloc=netloc).geturl(), register=False)
            rows = await pool.runQuery(query)
            self.assertEqual(rows[0][0], user, url)
            closePool(pool)

    async def test_localPath(self) -> None:
        """
        A database is reached by a local path: a server through its unix
        socket, named in the URL's query string (the server's own, not that
        of a pooler in front); SQLite by an absolute path (four slashes).
        """
        kind = backend()
        if kind == SQLITE:
            path = os.path.abspath("absolute.db")
            self.assertTrue(path.startswith("/"))
            await self.roundTrip(self.connect("sqlite:///" + path))
            self.assertTrue(os.path.exists(path))
            return
        server = unpooledURL()
        if server is None:
            raise unittest.SkipTest("the server behind the pooler is not known")
        admin = self.connect(server, register=False)
        parts = urlsplit(server)
        if kind == POSTGRES:
            [(directories,)] = await admin.runQuery("SHOW unix_socket_directories")
            where = {"host": directories.split(",")[0].strip(), "port": str(parts.port or 5432)}
            socket = os.path.join(where["host"], f".s.PGSQL.{where['port']}")
        else:
            [(socket,)] = await admin.runQuery("SELECT @@socket")
            where = {"unix_socket": socket}
        if not os.path.exists(socket):
            raise unittest.SkipTest(f"the server's socket {socket} is not on this machine")
        query = "&".join(f"{name}={quote(value, safe='/')}" for name, value in where.items())
        for url in _testURLs(server):
            netloc = f"{parts.username}@" if parts.username else ""
            pool = self.connect(
                urlsplit(url)._replace(netloc=netloc, query=query).geturl(), register=False
            )
            self.assertNotIn("host", pool.connkw if kind == MYSQL else {})
            rows = await pool.runQuery("SELECT 1")
            self.assertEqual(rows[0][0], 1, url)
            closePool(pool)


class DatabaseURLTests(unittest.SynchronousTestCase):
    """
    L{DatabaseURL} holds what L{parseURL} read.
    """

    def test_fields(self) -> None:
        """
        Its fields are the backend, driver, connection arguments, pool
        options and whether the database is in memory.
        """
        url = parseURL("sqlite://:memory:?cp_max=1")
        self.assertEqual(url, DatabaseURL(
            "sqlite", "sqlite3", (":memory:",), {"check_same_thread": False}, {"cp_max": 1},
            memory=True,
        ))
