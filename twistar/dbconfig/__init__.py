"""
The SQL layer: L{base.InteractionBase} and one small subclass per database.

Driver modules are imported only by the pool that uses them, never here.
"""

from __future__ import annotations

from importlib import import_module

from twistar.dbconfig.base import InteractionBase

_CONFIGS = {
    "sqlite3": ("twistar.dbconfig.sqlite", "SQLiteDBConfig"),
    "psycopg2": ("twistar.dbconfig.postgres", "PostgreSQLDBConfig"),
    "psycopg": ("twistar.dbconfig.postgres", "PsycopgDBConfig"),
    "MySQLdb": ("twistar.dbconfig.mysql", "MySQLDBConfig"),
    "pymysql": ("twistar.dbconfig.mysql", "MySQLDBConfig"),
}


def configForDriver(dbapiName: str) -> type[InteractionBase]:
    """
    @return: the L{InteractionBase} subclass for the DB-API module C{dbapiName}.
    @raise NotImplementedError: for a driver twistar does not support.
    """
    try:
        moduleName, className = _CONFIGS[dbapiName]
    except KeyError:
        raise NotImplementedError(
            f"twistar does not support the {dbapiName!r} driver; "
            f"supported: {', '.join(sorted(_CONFIGS))}"
        ) from None
    return getattr(import_module(moduleName), className)  # type: ignore[no-any-return]
