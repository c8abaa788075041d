# -*- test-case-name: twistar.tests.test_connection -*-
"""
Connecting by URL: L{connect} makes the connection pool for a database URL
(and makes it L{Registry.DBPOOL<twistar.registry.Registry.DBPOOL>}).

  - C{sqlite:///relative/path.db}, C{sqlite:////absolute/path.db},
    C{sqlite://:memory:} (or C{sqlite:///:memory:});
  - C{postgresql://user:password@host:port/dbname} (also C{postgres://} and
    C{postgresql+psycopg2://}, for psycopg2; C{postgresql+psycopg://} for
    psycopg 3);
  - C{mysql://user:password@host:port/dbname} (also C{mysql+mysqldb://}, for
    mysqlclient's C{MySQLdb}; C{mysql+pymysql://} for PyMySQL; C{mariadb}
    instead of C{mysql} in each).

The user name, password, host and database name are percent-decoded. The
query string holds options: pool options (C{cp_min}, C{cp_max},
C{cp_reconnect}, C{cp_noisy}, C{cp_good_sql}, C{waitLimit}, and
C{busyPollSeconds} for a pool without threads) for the pool,
every other one for the driver's C{connect()} (C{sslmode},
C{connect_timeout}, C{unix_socket}, C{charset}, ...), but for
C{transaction_pooling} and C{threads} (see L{connect}).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from twistar.busypoll import BUSY_POLL_SECONDS
from twistar.exceptions import InvalidURLError, MissingDriverError, TwistarError
from twistar.pool import ConnectionPool
from twistar.registry import Registry, checkDatabaseName

if TYPE_CHECKING:
    from twistar.pgpool import PostgresPool

__all__ = ["DATABASE_URL", "THREADS", "TRANSACTION_POOLING", "DatabaseURL", "connect", "parseURL"]

DATABASE_URL = "DATABASE_URL"
"""The environment variable L{connect} reads when it is given no URL."""

TRANSACTION_POOLING = "transaction_pooling"
"""The option of L{connect} (and of a PostgreSQL URL's query string) saying
that the database is reached through a pooler in transaction pooling mode,
such as PgBouncer's C{pool_mode = transaction}."""

THREADS = "threads"
"""The option of L{connect} (and of a PostgreSQL URL's query string) that,
false, makes a L{PostgresPool<twistar.pgpool.PostgresPool>} (psycopg 3
connections driven by the reactor, no thread) instead of an adbapi pool."""

_BUSY_POLL = "busyPollSeconds"
"""The pool option of a pool without threads: its C{busyPollSeconds} (see
L{twistar.busypoll})."""

SQLITE = "sqlite"
"""L{DatabaseURL.backend} of SQLite."""
POSTGRES = "postgres"
"""L{DatabaseURL.backend} of PostgreSQL."""
MYSQL = "mysql"
"""L{DatabaseURL.backend} of MySQL and MariaDB."""

_SCHEMES = {
    "sqlite": (SQLITE, "sqlite3"),
    "postgresql": (POSTGRES, "psycopg2"),
    "postgres": (POSTGRES, "psycopg2"),
    "postgresql+psycopg2": (POSTGRES, "psycopg2"),
    "postgresql+psycopg": (POSTGRES, "psycopg"),
    "mysql": (MYSQL, "MySQLdb"),
    "mysql+mysqldb": (MYSQL, "MySQLdb"),
    "mysql+pymysql": (MYSQL, "pymysql"),
    "mariadb": (MYSQL, "MySQLdb"),
    "mariadb+mysqldb": (MYSQL, "MySQLdb"),
    "mariadb+pymysql": (MYSQL, "pymysql"),
}

_EXTRAS = {"psycopg2": "postgres", "psycopg": "psycopg", "MySQLdb": "mysql", "pymysql": "pymysql"}
"""The extra of twistar that installs each driver."""

_MEMORY = ":memory:"

_POOLING_KEYWORDS: dict[str, dict[str, Any]] = {"psycopg": {"prepare_threshold": None}}
"""What each driver's C{connect()} is given behind a transaction pooler:
psycopg 3 prepares no statement (a prepared statement lives in one server
session, which the pooler gives to other clients between transactions).
psycopg2 and the MySQL drivers never prepare one."""


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


_POOL_QUERY_OPTIONS: dict[str, Callable[[str], Any]] = {
    "cp_min": int, "cp_max": int, "cp_noisy": _flag, "cp_reconnect": _flag, "cp_good_sql": str,
    "waitLimit": float, _BUSY_POLL: float,
}
"""The pool options a URL's query string may set, with their parsers."""

_POOL_KEYWORDS = frozenset(_POOL_QUERY_OPTIONS) | {"cp_openfun", "cp_reactor"}
"""The keyword arguments of L{connect} that are for the pool."""

_SQLITE_OPTIONS: dict[str, Callable[[str], Any]] = {
    "timeout": float, "cached_statements": int,
}
"""The C{sqlite3.connect} options a SQLite URL may set."""

_MYSQL_OPTIONS: dict[str, Callable[[str], Any]] = {
    "connect_timeout": int, "read_timeout": int, "write_timeout": int, "client_flag": int,
    "local_infile": int, "compress": _flag, "ssl_disabled": _flag, "ssl_verify_cert": _flag,
    "ssl_verify_identity": _flag,
}
"""The MySQL driver options that are not strings; the others are passed as
they are."""


@dataclass(frozen=True)
class DatabaseURL:
    """
    What a database URL says, as L{parseURL} reads it: the arguments of a
    connection pool.
    """

    backend: str
    """C{"sqlite"}, C{"postgres"} or C{"mysql"}."""
    driver: str
    """The name of the DB-API module: C{"sqlite3"}, C{"psycopg2"},
    C{"psycopg"}, C{"MySQLdb"} or C{"pymysql"}."""
    connectArgs: tuple[Any, ...] = ()
    """The positional arguments of the driver's C{connect()}: the file name,
    for SQLite."""
    connectKeywords: Mapping[str, Any] = field(default_factory=dict)
    """The keyword arguments of the driver's C{connect()}."""
    poolOptions: Mapping[str, Any] = field(default_factory=dict)
    """The options of the pool given in the query string (C{cp_max}, ...)."""
    memory: bool = False
    """Whether this is an in-memory SQLite database."""
    transactionPooling: bool = False
    """Whether the database is reached through a transaction pooler (the
    C{transaction_pooling} option): L{connectKeywords} then hold what the
    driver needs there."""
    threads: bool = True
    """Whether the pool runs statements on threads (an adbapi pool); false
    (the C{threads=false} option, PostgreSQL only) for a
    L{PostgresPool<twistar.pgpool.PostgresPool>}."""

    def __repr__(self) -> str:
        keywords = {
            name: "***" if name in ("password", "passwd") else value
            for name, value in self.connectKeywords.items()
        }
        return (
            f"DatabaseURL(backend={self.backend!r}, driver={self.driver!r}, "
            f"connectArgs={self.connectArgs!r}, connectKeywords={keywords!r}, "
            f"poolOptions={dict(self.poolOptions)!r}, memory={self.memory!r}, "
            f"transactionPooling={self.transactionPooling!r}, threads={self.threads!r})"
        )


def redacted(url: str) -> str:
    """
    @return: C{url} with its password, if any, replaced by C{***}.
    """
    return re.sub(r"^([^:/?#]*://[^:/?#@]*:)[^/?#]*@", r"\1***@", url)


def parseURL(url: str) -> DatabaseURL:
    """
    Read a database URL, without importing its driver or connecting.

    @return: its backend, driver, connection arguments and pool options.
    @raise InvalidURLError: for a malformed URL, an unknown scheme, an
        option of the wrong kind, or C{transaction_pooling=true} in a URL
        that is not PostgreSQL's.
    """
    if not isinstance(url, str):
        raise InvalidURLError(f"a database URL is a string, not {url!r}")
    scheme = url.partition(":")[0].lower()
    if "://" not in url or scheme not in _SCHEMES:
        known = ", ".join(f"{name}://" for name in _SCHEMES)
        raise InvalidURLError(
            f"not a database URL: {redacted(url)!r}; a database URL starts with one of {known}"
        )
    backend, driver = _SCHEMES[scheme]
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise InvalidURLError(f"malformed database URL {redacted(url)!r}: {e}") from None
    if parts.fragment:
        raise InvalidURLError(
            f"malformed database URL {redacted(url)!r}: it has a '#' (percent-encode it "
            f"as %23 in a password)"
        )
    options = _queryOptions(url, parts.query)
    pooling = TRANSACTION_POOLING in options and _converted(
        url, TRANSACTION_POOLING, options.pop(TRANSACTION_POOLING), _flag
    )
    threads = THREADS not in options or _converted(url, THREADS, options.pop(THREADS), _flag)
    if not threads and backend != POSTGRES:
        raise InvalidURLError(f"{THREADS}=false is for PostgreSQL, not {backend}")
    poolOptions = {
        name: _converted(url, name, options.pop(name), _POOL_QUERY_OPTIONS[name])
        for name in list(options) if name in _POOL_QUERY_OPTIONS
    }
    if backend == SQLITE:
        return _pooled(_sqlite(url, parts.netloc, parts.path, options, poolOptions), pooling)
    user, password, host, port = _netloc(url, parts.netloc)
    database = unquote(parts.path[1:])
    if "/" in database:
        raise InvalidURLError(
            f"malformed database URL {redacted(url)!r}: the path is a database name, "
            f"with no '/' (percent-encode it as %2F)"
        )
    keywords: dict[str, Any] = {}
    if backend == POSTGRES:
        names = {"user": "user", "password": "password", "database": "dbname"}
    elif driver == "pymysql":
        names = {"user": "user", "password": "password", "database": "database"}
    else:
        names = {"user": "user", "password": "passwd", "database": "db"}
    for key, value in (("user", user), ("password", password), ("database", database)):
        if value:
            keywords[names[key]] = value
    if host:
        keywords["host"] = host
    if port is not None:
        keywords["port"] = port
    for name, value in options.items():
        if name in keywords:
            raise InvalidURLError(
                f"database URL {redacted(url)!r} gives {name!r} twice (in the URL and "
                f"in its query string)"
            )
        if backend == MYSQL and name in _MYSQL_OPTIONS:
            value = _converted(url, name, value, _MYSQL_OPTIONS[name])
        elif backend == MYSQL and name == "port":
            value = _converted(url, name, value, int)
        keywords[name] = value
    if backend == MYSQL:
        keywords.setdefault("charset", "utf8mb4")
    if not threads:
        driver = "psycopg"
    return _pooled(
        DatabaseURL(backend, driver, (), keywords, poolOptions, threads=threads), pooling
    )


_POSTGRES_POOL_PARAMETERS = {
    "conninfo": "its connection parameters in the URL",
    "minSize": "cp_min",
    "maxSize": "cp_max",
    "reactor": "cp_reactor",
    "openFun": "cp_openfun",
}
"""What L{PostgresPool<twistar.pgpool.PostgresPool>}'s own parameters are
given as to L{connect}, by name: they are no connection keywords."""


def _postgresPool(keywords: dict[str, Any], poolOptions: dict[str, Any]) -> PostgresPool:
    """
    @return: the L{PostgresPool} of L{connect} with C{threads=False}.
    """
    from twistar.pgpool import PostgresPool
    from twistar.pool import _checkedWaitLimit

    for name in keywords:
        if name in _POSTGRES_POOL_PARAMETERS:
            raise TwistarError(
                f"{name!r} is no connection keyword: give a pool without threads "
                f"{_POSTGRES_POOL_PARAMETERS[name]}"
            )
    waitLimit = _checkedWaitLimit(poolOptions.get("waitLimit"))
    minSize = poolOptions.get("cp_min", 1)
    pool = PostgresPool(
        "", minSize, poolOptions.get("cp_max", max(minSize, 5)), poolOptions.get("cp_reactor"),
        openFun=poolOptions.get("cp_openfun"),
        busyPollSeconds=poolOptions.get(_BUSY_POLL, BUSY_POLL_SECONDS), **keywords,
    )
    pool.waitLimit = waitLimit
    return pool


def _pooled(url: DatabaseURL, pooling: bool) -> DatabaseURL:
    """
    @return: C{url}, reached through a transaction pooler or not: its
        L{DatabaseURL.transactionPooling} set, and what its driver needs
        there added to (or taken out of) its connection keywords.
    @raise InvalidURLError: for C{pooling} true on a database that is not
        PostgreSQL.
    """
    if pooling and url.backend != POSTGRES:
        raise InvalidURLError(
            f"{TRANSACTION_POOLING} is for PostgreSQL (behind PgBouncer, say), not {url.backend}"
        )
    needed = _POOLING_KEYWORDS.get(url.driver, {})
    keywords = dict(url.connectKeywords)
    if url.transactionPooling and not pooling:
        for name in needed:
            keywords.pop(name, None)
    if pooling:
        keywords.update(needed)
    return replace(url, connectKeywords=keywords, transactionPooling=pooling)


def _queryOptions(url: str, query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as e:
        raise InvalidURLError(f"malformed query string in {redacted(url)!r}: {e}") from None
    for name, value in pairs:
        if name in options:
            raise InvalidURLError(f"database URL {redacted(url)!r} gives {name!r} twice")
        options[name] = value
    return options


def _converted(url: str, name: str, value: str, parser: Callable[[str], Any]) -> Any:
    try:
        return parser(value)
    except ValueError:
        kind = {int: "an integer", float: "a number", _flag: "true or false"}.get(parser, "valid")
        raise InvalidURLError(
            f"option {name}={value!r} of database URL {redacted(url)!r} is not {kind}"
        ) from None


def _sqlite(
    url: str, netloc: str, path: str, options: dict[str, str], poolOptions: dict[str, Any]
) -> DatabaseURL:
    if netloc == _MEMORY and not path:
        database = _MEMORY
    elif netloc or not path.startswith("/") or path == "/":
        raise InvalidURLError(
            f"a SQLite URL is sqlite:///relative/path.db (three slashes), "
            f"sqlite:////absolute/path.db (four) or sqlite://:memory:, not {url!r}"
        )
    else:
        database = unquote(path[1:])
    keywords: dict[str, Any] = {"check_same_thread": False}
    for name, value in options.items():
        if name not in _SQLITE_OPTIONS:
            known = ", ".join(sorted(_SQLITE_OPTIONS) + sorted(_POOL_QUERY_OPTIONS))
            raise InvalidURLError(
                f"unknown option {name!r} in SQLite URL {url!r}; the options are {known}"
            )
        keywords[name] = _converted(url, name, value, _SQLITE_OPTIONS[name])
    return DatabaseURL(
        SQLITE, "sqlite3", (database,), keywords, poolOptions, memory=database == _MEMORY
    )


def _netloc(url: str, netloc: str) -> tuple[str, str, str, int | None]:
    """
    @return: the user name, password, host (all percent-decoded; empty if
        not given) and port of a URL's network location.
    """
    userinfo, _, hostport = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InvalidURLError(f"malformed host in database URL {redacted(url)!r}")
        portText = rest[1:]
    else:
        host, _, portText = hostport.partition(":")
    if "," in hostport:
        raise InvalidURLError(
            f"database URL {redacted(url)!r} names several hosts; twistar connects to one"
        )
    port = None
    if portText:
        if not portText.isdigit() or not 0 < int(portText) < 65536:
            raise InvalidURLError(
                f"malformed port {portText!r} in database URL {redacted(url)!r}"
            )
        port = int(portText)
    return unquote(user), unquote(password), unquote(host), port


def requireDriver(url: DatabaseURL) -> None:
    """
    Import the driver of C{url}.

    @raise MissingDriverError: if it cannot be imported, naming the extra of
        twistar that installs it.
    """
    try:
        import_module(url.driver)
    except ImportError as e:
        extra = _EXTRAS.get(url.driver)
        hint = (
            f"install it with: pip install 'twistar[{extra}]'" if extra
            else "this Python was built without it"
        )
        raise MissingDriverError(
            f"the {url.driver} driver for this {url.backend} URL cannot be imported ({e}); "
            f"{hint}"
        ) from e


def connect(
    url: str | None = None, *, register: bool | str = True, replicaOf: str | None = None,
    **options: Any,
) -> ConnectionPool:
    """
    Make a connection pool for a database URL::

        pool = twistar.connect("postgresql://app:secret@db.example/app?cp_max=10")

    An in-memory SQLite database (C{sqlite://:memory:}) gets a pool of
    exactly one connection, so that every call sees the same database. A
    relative SQLite path is relative to the current directory when
    C{connect} is called.

    Behind a pooler in transaction pooling mode (PgBouncer's C{pool_mode =
    transaction}), where each transaction may run on another server
    session, say so with C{transaction_pooling=True} (or
    C{?transaction_pooling=true} in the URL): psycopg 3 then prepares no
    statement (C{prepare_threshold=None}; a prepared statement lives in one
    session, and another client's statement of the same name would clash
    with it); psycopg2, which never prepares, needs nothing. twistar itself
    keeps no session state from one transaction to the next. A pool
    made by hand with C{adbapi.ConnectionPool("psycopg", ...)} needs
    C{prepare_threshold=None} among its arguments. See doc/scaling.md.

    For PostgreSQL, C{threads=False} (or C{?threads=false} in the URL)
    makes a L{PostgresPool<twistar.pgpool.PostgresPool>}: psycopg 3
    connections whose statements run on the reactor's thread, in
    greenlets, without the thread hop of an adbapi pool. It always uses
    psycopg 3 (also for a C{postgresql://} URL, which otherwise means
    psycopg2); C{cp_min} and C{cp_max} size it, C{waitLimit} works as for
    L{twistar.pool.ConnectionPool}, C{cp_reconnect}, C{cp_noisy} and
    C{cp_good_sql} are ignored (a broken connection is always replaced)
    and C{cp_openfun} is called with each new connection, as by adbapi.
    C{busyPollSeconds} (default L{BUSY_POLL_SECONDS
    <twistar.busypoll.BUSY_POLL_SECONDS>}) says for how long after a
    statement begins to wait for the server the reactor polls without
    sleeping (see L{twistar.busypoll}; 0 turns it off).

    @param url: a database URL (see L{twistar.connection}); by default, the
        environment variable C{DATABASE_URL}.
    @param register: whether to make the pool L{Registry.DBPOOL
        <twistar.registry.Registry.DBPOOL>} (replacing any pool there, which
        is not closed); a name makes it the pool of that named database
        instead (see L{Registry.addDatabase
        <twistar.registry.Registry.addDatabase>}).
    @param replicaOf: the name of a database (C{"default"} for
        C{DBPOOL}'s) whose read replica the URL is: the pool is added
        with L{Registry.addReplica<twistar.registry.Registry.addReplica>}
        (and C{register} is ignored).
    @param options: as for C{adbapi.ConnectionPool}: pool options (C{cp_min},
        C{cp_max}, C{cp_reconnect}, C{cp_openfun}, C{cp_reactor}, ...),
        C{waitLimit} (see L{twistar.pool.ConnectionPool}) and, without
        threads, C{busyPollSeconds}; C{transaction_pooling}
        (a C{bool}, PostgreSQL only); C{threads} (a C{bool}, C{False}
        for PostgreSQL only); any other keyword goes to the driver's
        C{connect()}. They take precedence over the URL's query string.
    @return: the new pool; it connects when the reactor runs. (With
        C{threads=False}, a L{PostgresPool<twistar.pgpool.PostgresPool>},
        typed as the C{adbapi} pool whose surface it has, as for
        L{Registry.DBPOOL<twistar.registry.Registry.DBPOOL>}.)
    @raise InvalidURLError: for a malformed URL, an unknown scheme, an
        option of the wrong kind, no URL and no C{DATABASE_URL},
        C{transaction_pooling} for a database that is not PostgreSQL, or
        C{busyPollSeconds} for a pool with threads.
    @raise MissingDriverError: if the URL's driver is not installed.
    @raise TwistarError: for pool options an in-memory database cannot have
        (more than one connection), a bad C{waitLimit}, a
        C{transaction_pooling} that is not a C{bool}, a bad database name,
        a replica of a database that cannot have one (SQLite), or a
        C{busyPollSeconds} that is no number >= 0.
    """
    if not isinstance(register, bool):
        checkDatabaseName(register)
    if replicaOf is not None:
        checkDatabaseName(replicaOf)
    if url is None:
        url = os.environ.get(DATABASE_URL, "").strip()
        if not url:
            raise InvalidURLError(
                f"no database URL given, and the environment variable {DATABASE_URL} is not set"
            )
    parsed = parseURL(url)
    if TRANSACTION_POOLING in options:
        pooling = options.pop(TRANSACTION_POOLING)
        if not isinstance(pooling, bool):
            raise TwistarError(f"{TRANSACTION_POOLING} is True or False, not {pooling!r}")
        parsed = _pooled(parsed, pooling)
    if THREADS in options:
        threads = options.pop(THREADS)
        if not isinstance(threads, bool):
            raise TwistarError(f"{THREADS} is True or False, not {threads!r}")
        if not threads and parsed.backend != POSTGRES:
            raise InvalidURLError(f"{THREADS}=False is for PostgreSQL, not {parsed.backend}")
        parsed = replace(parsed, threads=threads, driver=parsed.driver if threads else "psycopg")
    if parsed.threads and (_BUSY_POLL in options or _BUSY_POLL in parsed.poolOptions):
        raise InvalidURLError(f"{_BUSY_POLL} is for a pool without threads (threads=False)")
    requireDriver(parsed)
    if replicaOf is not None and parsed.backend == SQLITE:
        raise TwistarError("SQLite has no replicas: replicaOf needs a PostgreSQL or MySQL URL")
    poolOptions = dict(parsed.poolOptions)
    keywords = dict(parsed.connectKeywords)
    for name, value in options.items():
        (poolOptions if name in _POOL_KEYWORDS else keywords)[name] = value
    args = parsed.connectArgs
    if parsed.memory:
        for name in ("cp_min", "cp_max"):
            if poolOptions.get(name, 1) != 1:
                raise TwistarError(
                    f"an in-memory SQLite database lives in one connection: {name} must be 1, "
                    f"not {poolOptions[name]!r} (use a database file for more)"
                )
            poolOptions[name] = 1
    elif parsed.backend == SQLITE:
        args = (os.path.abspath(args[0]),)
    if parsed.threads:
        pool = ConnectionPool(parsed.driver, *args, **keywords, **poolOptions)
    else:
        pool = cast(ConnectionPool, _postgresPool(keywords, poolOptions))
    if replicaOf is not None:
        Registry.addReplica(pool, replicaOf)
    elif register is True:
        Registry.DBPOOL = pool
    elif register:
        Registry.addDatabase(register, pool)
    return pool
