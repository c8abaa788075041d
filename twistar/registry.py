# -*- test-case-name: twistar.tests.test_registry -*-
"""
The L{Registry}: the connection pool and the model classes, kept on the class.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from twistar import slicing
from twistar.dbconfig import configForDriver
from twistar.dbconfig.base import InteractionBase
from twistar.exceptions import ClassNotRegisteredError, TwistarError
from twistar.replicas import DEFAULT_DATABASE, Replica, ReplicaSet, currentRoute

if TYPE_CHECKING:
    from twisted.enterprise.adbapi import ConnectionPool


class Registry:
    """
    Class-level store of the connection pools (of the default database, of
    named databases and of their replicas), the model classes and the
    cached table schemas. Never instantiated.
    """

    DBPOOL: ClassVar[ConnectionPool | None] = None
    """The connection pool of the default database, which every model uses
    unless it names another: set it before the first call."""
    SCHEMAS: ClassVar[dict[str, list[str]]] = {}
    """The column names of each table of the default database read so far,
    by table name."""
    REGISTRATION: ClassVar[dict[str, type]] = {}
    """The registered model classes, by class name (see L{register})."""
    DATABASES: ClassVar[dict[str, ConnectionPool]] = {}
    """The pools of the named databases (see L{addDatabase}), by name."""

    _replicas: ClassVar[dict[str, ReplicaSet]] = {}
    _schemas: ClassVar[dict[str, dict[str, list[str]]]] = {}
    # (database, primary only) -> (the pool it was made for, the config)
    _configs: ClassVar[dict[tuple[str, bool], tuple[Any, InteractionBase]]] = {}

    @classmethod
    def register(cls, *klasses: type) -> None:
        """
        Make model classes findable by their class name (relationships need it).
        """
        for klass in klasses:
            if not isinstance(klass, type):
                raise TypeError(f"register takes model classes, not {klass!r}")
            cls.REGISTRATION[klass.__name__] = klass

    @classmethod
    def getClass(cls, name: str) -> type:
        """
        @return: the registered class called C{name}.
        @raise ClassNotRegisteredError: if no class of that name was registered.
        """
        try:
            return cls.REGISTRATION[name]
        except KeyError:
            raise ClassNotRegisteredError(
                f"class {name!r} is not registered; call Registry.register({name}) "
                f"after defining it"
            ) from None

    # -- databases ---------------------------------------------------------

    @classmethod
    def addDatabase(cls, name: str, pool: ConnectionPool) -> None:
        """
        Name the database of C{pool}: models with C{DATABASE = name}, calls
        made through C{Model.using(name)} and C{transaction(database=name)}
        use it. The name C{"default"} sets L{DBPOOL}. Adding a name again
        replaces its pool (and forgets its cached schemas).

        @raise TwistarError: for a name that is not a non-empty string, or a
            pool that is not an C{adbapi.ConnectionPool} of a supported driver.
        """
        checkDatabaseName(name)
        _driverOf(pool)
        if name == DEFAULT_DATABASE:
            cls.DBPOOL = pool
        else:
            cls.DATABASES[name] = pool

    @classmethod
    def removeDatabase(cls, name: str) -> None:
        """
        Forget the named database C{name}, its replicas and its cached
        schemas (its pools are not closed).

        @raise TwistarError: if no database has that name.
        """
        checkDatabaseName(name)
        if name == DEFAULT_DATABASE:
            raise TwistarError("the default database cannot be removed: set DBPOOL instead")
        if cls.DATABASES.pop(name, None) is None:
            raise TwistarError(f"no database is named {name!r}")
        cls._replicas.pop(name, None)
        cls._schemas.pop(name, None)

    @classmethod
    def poolOf(cls, database: str = DEFAULT_DATABASE) -> ConnectionPool | None:
        """
        @return: the pool of the primary of C{database}, or C{None} if there
            is none.
        """
        if database == DEFAULT_DATABASE:
            return cls.DBPOOL
        return cls.DATABASES.get(database)

    @classmethod
    def addReplica(
        cls, pool: ConnectionPool, database: str = DEFAULT_DATABASE, *,
        maxLag: float = 30.0, checkInterval: float = 1.0, retryAfter: float = 5.0,
    ) -> None:
        """
        Send reads of C{database} made outside transactions to C{pool}, a
        replica of its primary (in turn with its other replicas), as long
        as the replica keeps up: see L{twistar.replicas}.

        @param maxLag: seconds of replication lag beyond which the replica
            is not used (reads go to another replica or the primary).
        @param checkInterval: seconds between checks of its lag, each made
            on the connection of a read, before it.
        @param retryAfter: seconds it is not used after it failed a read
            (which then runs elsewhere).
        @raise TwistarError: for bad values, a database without replicas
            (SQLite), or a pool whose driver is not the primary's.
        """
        checkDatabaseName(database)
        for name, value in (
            ("maxLag", maxLag), ("checkInterval", checkInterval), ("retryAfter", retryAfter)
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 <= value < math.inf
            ):
                raise TwistarError(f"{name} must be a number of seconds, not {value!r}")
        driver = _driverOf(pool)
        if configForDriver(driver).logPositionQuery is None:
            raise TwistarError(f"the {driver} driver's database has no replicas twistar can use")
        primary = cls.poolOf(database)
        if primary is not None and _driverOf(primary) != driver:
            raise TwistarError(
                f"a replica of database {database!r} must use its primary's driver "
                f"({_driverOf(primary)}), not {driver}"
            )
        replicas = cls._replicas.setdefault(database, ReplicaSet())
        replicas.add(Replica(pool, float(maxLag), float(checkInterval), float(retryAfter)))

    @classmethod
    def removeReplica(cls, pool: ConnectionPool, database: str = DEFAULT_DATABASE) -> None:
        """
        Stop sending reads to the replica C{pool} (it is not closed).

        @raise TwistarError: if it is not a replica of C{database}.
        """
        replicas = cls._replicas.get(database)
        if replicas is None or not replicas.remove(pool):
            raise TwistarError(f"{pool!r} is not a replica of database {database!r}")

    @classmethod
    def replicasOf(cls, database: str = DEFAULT_DATABASE) -> ReplicaSet | None:
        """
        @return: the replicas of C{database}, or C{None} if it has none.
        """
        replicas = cls._replicas.get(database)
        return replicas if replicas else None

    @classmethod
    def getConfig(
        cls, database: str | None = None, *, primary: bool = False
    ) -> InteractionBase:
        """
        @param database: the name of a database (see L{addDatabase}); by
            default the one of L{DBPOOL}.
        @param primary: whether the config sends reads to the primary too
            (not to replicas).
        @return: the L{InteractionBase} for the driver of C{database}'s
            pool, running its statements there. Assigning a new pool takes
            effect at the next call, and clears that database's schema cache.
        @raise TwistarError: if the database has no pool.
        @raise NotImplementedError: if the pool's driver is not supported.
        """
        name = DEFAULT_DATABASE if database is None else database
        pool = cls.poolOf(name)
        if pool is None:
            if name == DEFAULT_DATABASE:
                raise TwistarError(
                    "Registry.DBPOOL is not set: assign a "
                    "twisted.enterprise.adbapi.ConnectionPool to it first"
                )
            checkDatabaseName(name)
            raise TwistarError(
                f"no database is named {name!r}: add it with Registry.addDatabase({name!r}, pool)"
            )
        key = (name, bool(primary))
        known = cls._configs.get(key)
        if known is not None and known[0] is pool:
            return known[1]
        if name == DEFAULT_DATABASE and not isinstance(getattr(pool, "dbapiName", None), str):
            raise TwistarError(
                f"Registry.DBPOOL must be a twisted.enterprise.adbapi.ConnectionPool, "
                f"not {pool!r}"
            )
        config = configForDriver(_driverOf(pool, supported=False))()
        config.database, config.primaryOnly = name, bool(primary)
        other = cls._configs.get((name, not primary))
        if other is None or other[0] is not pool:
            cls.schemasOf(name).clear()
        cls._configs[key] = (pool, config)
        return config

    @classmethod
    def configFor(cls, model: type, owner: Any = None) -> InteractionBase:
        """
        @param model: a model class.
        @param owner: an object whose related C{model} objects are wanted,
            or an object of C{model} to write.
        @return: the config of the database C{model}'s statements go to:
            the one chosen by the enclosing C{Model.using(...)}; else the one
            C{owner} was loaded from or saved to through C{using}; else the
            model's C{DATABASE} (by default L{DBPOOL}'s).
        @raise TwistarError: if that database has no pool.
        """
        route = currentRoute()
        database = None if route is None else route.database
        if database is None and owner is not None:
            database = getattr(owner, "__dict__", {}).get("_database")
        if database is None:
            database = getattr(model, "DATABASE", None)
        return cls.getConfig(database, primary=route is not None and route.primary)

    @classmethod
    def schemasOf(cls, database: str = DEFAULT_DATABASE) -> dict[str, list[str]]:
        """
        @return: the cached column names of the tables of C{database}, by
            table name (L{SCHEMAS} for the default database).
        """
        if database == DEFAULT_DATABASE:
            return cls.SCHEMAS
        return cls._schemas.setdefault(database, {})

    @classmethod
    def forgetSchemas(cls, *tablenames: str, database: str | None = None) -> None:
        """
        Forget the cached columns of C{tablenames} (of every table when none
        is named): the next use of a table reads them from the database
        again. Call it after changing tables while the program runs (as
        L{twistar.migrations} does after migrating).

        @param database: the database whose tables changed; by default
            every database's.
        """
        caches = [cls.schemasOf(database)] if database is not None else [
            cls.SCHEMAS, *cls._schemas.values()
        ]
        for schemas in caches:
            if not tablenames:
                schemas.clear()
            for name in tablenames:
                schemas.pop(name, None)

    @classmethod
    def getDBAPIClass(cls, name: str, database: str | None = None) -> Any:
        """
        @return: the PEP 249 type object or constructor C{name} (C{"Date"},
            C{"Binary"}, ...) of the driver module of C{database}'s pool
            (by default L{DBPOOL}'s).
        """
        config = cls.getConfig(database)
        return getattr(cls.poolOf(config.database).dbapi, name)  # type: ignore[union-attr]


def checkDatabaseName(name: Any) -> None:
    """
    @raise TwistarError: unless C{name} is a non-empty string.
    """
    if not isinstance(name, str) or not name:
        raise TwistarError(f"a database name must be a non-empty string, not {name!r}")


def _driverOf(pool: Any, supported: bool = True) -> str:
    """
    @param supported: check that twistar supports the driver, raising
        L{TwistarError} if not.
    @return: the name of C{pool}'s driver.
    """
    driver = getattr(pool, "dbapiName", None)
    if not isinstance(driver, str):
        raise TwistarError(
            f"a database pool must be a twisted.enterprise.adbapi.ConnectionPool, not {pool!r}"
        )
    if supported:
        try:
            configForDriver(driver)
        except NotImplementedError as e:
            raise TwistarError(str(e)) from None
    return driver


# The SQL layer and bulk work sit below the registry and never import it:
# they find the pool (and the schema cache) through these.
InteractionBase.registry = Registry
slicing.registry = Registry
