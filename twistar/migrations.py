# -*- test-case-name: twistar.tests.test_migrations -*-
"""
Schema migrations with U{yoyo-migrations<https://pypi.org/project/yoyo-migrations/>},
from a Twisted program.

twistar keeps no schema of its own: it reads each table's columns from the
live database. A tool of SQL migrations changes the database, and twistar
reads the change. This module runs yoyo (C{pip install 'twistar[migrations]'})
in a thread, never blocking the reactor, on yoyo's own connection to the
database URL twistar is given:

  - L{applyMigrations}, L{rollbackMigrations} and L{pendingMigrations}
    return L{Deferred}s of migration ids. After applying or rolling back
    (also after a failure) the cached columns are forgotten
    (L{Registry.forgetSchemas}): the models see the new columns at once.
  - L{yoyoURL}: a twistar database URL as yoyo's command line takes it.
  - L{backendOf} and L{perBackend}: for Python steps whose SQL differs
    between the databases.

See doc/migrations.md for the recipe.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from glob import escape
from importlib import import_module
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from twisted.internet.defer import Deferred, fail
from twisted.internet.threads import deferToThread

from twistar.connection import (
    DATABASE_URL,
    MYSQL,
    POSTGRES,
    SQLITE,
    THREADS,
    TRANSACTION_POOLING,
    parseURL,
)
from twistar.exceptions import InvalidURLError
from twistar.registry import Registry

__all__ = [
    "BACKENDS",
    "applyMigrations",
    "backendOf",
    "pendingMigrations",
    "perBackend",
    "rollbackMigrations",
    "yoyoURL",
]

BACKENDS = (SQLITE, POSTGRES, MYSQL)
"""The names of the databases, as L{backendOf} gives them and L{perBackend}
takes them: C{"sqlite"}, C{"postgres"} and C{"mysql"} (also MariaDB), as in
L{DatabaseURL.backend<twistar.connection.DatabaseURL.backend>}."""

# twistar's driver -> yoyo's URL scheme for it (yoyo's "mysql" is PyMySQL).
_YOYO_SCHEMES = {
    "sqlite3": "sqlite",
    "psycopg2": "postgresql",
    "psycopg": "postgresql+psycopg",
    "MySQLdb": "mysql+mysqldb",
    "pymysql": "mysql",
}

# The top-level package of a DB-API connection's class -> its backend.
_DRIVER_BACKENDS = {
    "sqlite3": SQLITE,
    "psycopg2": POSTGRES,
    "psycopg": POSTGRES,
    "MySQLdb": MYSQL,
    "pymysql": MYSQL,
}

_T = TypeVar("_T")


def yoyoURL(url: str) -> str:
    """
    @param url: a database URL as L{twistar.connect<twistar.connection.connect>}
        takes it.
    @return: the URL of the same database and driver in yoyo's schemes,
        for yoyo's command line too (its C{mysql://} is PyMySQL, so
        twistar's C{mysql://} becomes C{mysql+mysqldb://}), without the
        pool's options, C{transaction_pooling} and C{threads}; a SQLite path made
        absolute; C{charset=utf8mb4}
        for MySQL unless the URL sets one, as twistar's pool has it.
    @raise InvalidURLError: for a URL twistar cannot use, and for an
        in-memory SQLite database, which migrations, on a connection of
        their own, cannot reach.
    """
    parsed = parseURL(url)
    scheme = _YOYO_SCHEMES[parsed.driver]
    if parsed.backend == SQLITE:
        if parsed.memory:
            raise InvalidURLError(
                "an in-memory SQLite database lives in its pool's one connection, which "
                "migrations cannot reach: migrate a database file (sqlite:///path)"
            )
        # yoyo opens "file:PATH?cache=shared", which SQLite percent-decodes.
        return f"{scheme}:///" + quote(os.path.abspath(parsed.connectArgs[0]))
    parts = urlsplit(url)
    options = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True)
               if name not in parsed.poolOptions and name not in (TRANSACTION_POOLING, THREADS)]
    if parsed.backend == MYSQL and "charset" not in dict(options):
        options.append(("charset", "utf8mb4"))
    # yoyo does not percent-decode the database name.
    return urlunsplit((scheme, parts.netloc, unquote(parts.path), urlencode(options), ""))


def _databaseURL(url: str | None) -> str:
    """
    @return: C{url}, or the environment's C{DATABASE_URL} when it is C{None}.
    @raise InvalidURLError: when there is neither.
    """
    found = url if url is not None else os.environ.get(DATABASE_URL, "").strip()
    if not found:
        raise InvalidURLError(
            f"no database URL given, and the environment variable {DATABASE_URL} is not set"
        )
    return found


def _source(directory: str | os.PathLike[str]) -> str:
    """
    @return: C{directory} as yoyo reads a source of migrations (a glob
        pattern, so quoted).
    @raise FileNotFoundError: if it is not a directory.
    """
    path = os.fspath(directory)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no directory of migrations at {path!r}")
    return escape(path)


def _yoyo() -> ModuleType:
    """
    @return: the C{yoyo} package.
    @raise ImportError: naming the extra that installs it.
    """
    try:
        return import_module("yoyo")
    except ImportError as error:
        raise ImportError(
            "twistar.migrations needs yoyo-migrations: pip install 'twistar[migrations]'"
        ) from error


def _migrate(
    work: Callable[[Any, Any], _T], directory: str | os.PathLike[str], url: str | None,
    changes: bool = True,
) -> Deferred[_T]:
    """
    Run C{work(backend, migrations)} in a thread, holding yoyo's lock on the
    database, then (when it C{changes} the database) forget the cached
    schemas.

    @return: a L{Deferred} of what C{work} returns.
    """
    try:
        source = _source(directory)
        found = _databaseURL(url)
        parsed, target = parseURL(found), yoyoURL(found)
        yoyo = _yoyo()
    except Exception:
        return fail()

    def run() -> _T:
        backend = yoyo.get_backend(target)
        try:
            if parsed.transactionPooling and parsed.driver == "psycopg":
                # What twistar.connect gives psycopg 3 behind a transaction
                # pooler, and yoyo's URL cannot.
                backend.connection.prepare_threshold = None
            with backend.lock():
                return work(backend, yoyo.read_migrations(source))
        finally:
            backend.connection.close()

    def forget(result: Any) -> Any:
        Registry.forgetSchemas()
        return result

    done = deferToThread(run)
    return done.addBoth(forget) if changes else done


def _ids(migrations: Sequence[Any]) -> list[str]:
    return [migration.id for migration in migrations]


def applyMigrations(
    directory: str | os.PathLike[str], url: str | None = None
) -> Deferred[list[str]]:
    """
    Apply the migrations of C{directory} that the database has not had yet,
    in order, then forget the cached schemas.

    @param directory: a directory of yoyo migrations (C{.sql} files, with
        C{.rollback.sql} ones, and C{.py} files).
    @param url: the database's URL (see L{yoyoURL}); by default the
        environment's C{DATABASE_URL}.
    @return: a L{Deferred} of the ids of the migrations applied (none when
        the database is up to date). It fails with the database's error
        when a step fails, with C{yoyo.exceptions.BadMigration} when a file
        cannot be loaded, and with C{ImportError} without the
        C{migrations} extra.
    """

    def apply(backend: Any, migrations: Any) -> list[str]:
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
        return _ids(pending)

    return _migrate(apply, directory, url)


def rollbackMigrations(
    directory: str | os.PathLike[str], url: str | None = None, count: int | None = 1
) -> Deferred[list[str]]:
    """
    Roll back the last C{count} applied migrations of C{directory}, newest
    first, then forget the cached schemas.

    @param count: how many to roll back; C{None} for all of them.
    @return: a L{Deferred} of the ids of the migrations rolled back.
    @see: L{applyMigrations} for the other arguments and the failures.
    """

    def rollback(backend: Any, migrations: Any) -> list[str]:
        applied = backend.to_rollback(migrations)
        if count is not None:
            applied = applied[:count]
        backend.rollback_migrations(applied)
        return _ids(applied)

    return _migrate(rollback, directory, url)


def pendingMigrations(
    directory: str | os.PathLike[str], url: str | None = None
) -> Deferred[list[str]]:
    """
    @return: a L{Deferred} of the ids of the migrations of C{directory} that
        L{applyMigrations} would apply, in order. Nothing is changed.
    @see: L{applyMigrations} for the arguments.
    """
    return _migrate(lambda backend, migrations: _ids(backend.to_apply(migrations)),
                    directory, url, changes=False)


def backendOf(connection: Any) -> str:
    """
    @param connection: a DB-API connection, such as the one yoyo passes to
        the functions of a Python step.
    @return: its database, one of L{BACKENDS}.
    @raise ValueError: for a driver twistar does not support.
    """
    package = type(connection).__module__.partition(".")[0]
    try:
        return _DRIVER_BACKENDS[package]
    except KeyError:
        raise ValueError(f"{connection!r}: not a connection of a driver twistar supports")


def perBackend(
    default: str | Sequence[str] | None = None, **statements: str | Sequence[str]
) -> Callable[[Any], None]:
    """
    A step of a Python migration that runs its database's SQL::

        step(perBackend(sqlite="CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)",
                        postgres="CREATE TABLE t (id SERIAL PRIMARY KEY)",
                        mysql="CREATE TABLE t (id INTEGER PRIMARY KEY AUTO_INCREMENT)"),
             "DROP TABLE t")

    @param default: what runs on a database that C{statements} leaves out.
    @param statements: a statement, or a list of them, by database name
        (one of L{BACKENDS}).
    @return: a function running them on a DB-API connection (the argument
        yoyo gives to a step function).
    @raise TypeError: for a name not in L{BACKENDS}.
    """
    unknown = sorted(set(statements) - set(BACKENDS))
    if unknown:
        raise TypeError(f"perBackend: unknown database {', '.join(unknown)} "
                        f"(known: {', '.join(BACKENDS)})")
    chosen: Mapping[str, str | Sequence[str] | None] = {
        name: statements.get(name, default) for name in BACKENDS
    }

    def run(connection: Any) -> None:
        name = backendOf(connection)
        sql = chosen[name]
        if sql is None:
            raise ValueError(f"this migration step has no SQL for {name}")
        cursor = connection.cursor()
        try:
            for statement in [sql] if isinstance(sql, str) else sql:
                cursor.execute(statement)
        finally:
            cursor.close()

    return run
