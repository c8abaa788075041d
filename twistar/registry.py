# -*- test-case-name: twistar.tests.test_registry -*-
"""
The L{Registry}: the connection pool and the model classes, kept on the class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from twistar import slicing
from twistar.dbconfig import configForDriver
from twistar.dbconfig.base import InteractionBase
from twistar.exceptions import ClassNotRegisteredError, TwistarError

if TYPE_CHECKING:
    from twisted.enterprise.adbapi import ConnectionPool


class Registry:
    """
    Class-level store of the connection pool, the model classes and the
    cached table schemas. Never instantiated.
    """

    DBPOOL: ClassVar[ConnectionPool | None] = None
    """The connection pool every twistar call uses: set it before the first."""
    SCHEMAS: ClassVar[dict[str, list[str]]] = {}
    """The column names of each table read so far, by table name."""
    REGISTRATION: ClassVar[dict[str, type]] = {}
    """The registered model classes, by class name (see L{register})."""

    _config: ClassVar[InteractionBase | None] = None
    _configPool: ClassVar[Any] = None

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

    @classmethod
    def getConfig(cls) -> InteractionBase:
        """
        @return: the L{InteractionBase} for the driver of L{DBPOOL}. Assigning a
            new pool to C{DBPOOL} takes effect at the next call, and clears the
            schema cache.
        @raise TwistarError: if C{DBPOOL} is not set.
        @raise NotImplementedError: if the pool's driver is not supported.
        """
        pool = cls.DBPOOL
        if pool is None:
            raise TwistarError(
                "Registry.DBPOOL is not set: assign a "
                "twisted.enterprise.adbapi.ConnectionPool to it first"
            )
        if pool is not cls._configPool or cls._config is None:
            driver = getattr(pool, "dbapiName", None)
            if driver is None:
                raise TwistarError(
                    f"Registry.DBPOOL must be a twisted.enterprise.adbapi.ConnectionPool, "
                    f"not {pool!r}"
                )
            cls._config = configForDriver(driver)()
            cls._configPool = pool
            cls.SCHEMAS.clear()
        return cls._config

    @classmethod
    def forgetSchemas(cls, *tablenames: str) -> None:
        """
        Forget the cached columns of C{tablenames} (of every table when none
        is named): the next use of a table reads them from the database
        again. Call it after changing tables while the program runs (as
        L{twistar.migrations} does after migrating).
        """
        if not tablenames:
            cls.SCHEMAS.clear()
        for name in tablenames:
            cls.SCHEMAS.pop(name, None)

    @classmethod
    def getDBAPIClass(cls, name: str) -> Any:
        """
        @return: the PEP 249 type object or constructor C{name} (C{"Date"},
            C{"Binary"}, ...) of the current pool's driver module.
        """
        cls.getConfig()
        assert cls.DBPOOL is not None
        return getattr(cls.DBPOOL.dbapi, name)


# The SQL layer and bulk work sit below the registry and never import it:
# they find the pool (and the schema cache) through these.
InteractionBase.registry = Registry
slicing.registry = Registry
