"""
MySQL and MariaDB, through C{MySQLdb} (the C{mysqlclient} package) or C{pymysql}.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

from twisted.enterprise import adbapi

from twistar.dbconfig.base import InteractionBase
from twistar.exceptions import (
    DeadlockError,
    LockTimeoutError,
    SerializationError,
    UnsupportedValueError,
)
from twistar.pool import ConnectionPool

# Client and server error codes that mean the connection is gone: server has
# gone away, lost connection during query, lost connection (SSL), client
# interaction timeout, connection killed, cannot connect (socket, TCP).
_CONNECTION_LOST_CODES = frozenset({2006, 2013, 2055, 4031, 1927, 2002, 2003})
_NO_SUCH_TABLE = 1146


def _finiteDecimal(value: Decimal) -> Decimal:
    # MySQLdb writes Decimal('NaN') into the statement as a bare NaN.
    if not value.is_finite():
        raise UnsupportedValueError(
            f"cannot store a Decimal value ({value!r}): MySQL has no NaN or infinite numbers"
        )
    return value


# The server's report of an UPDATE: "Rows matched: 2  Changed: 0  Warnings: 0".
_ROWS_MATCHED = re.compile(r"Rows matched: (\d+)")


class MySQLDBConfig(InteractionBase):
    """
    MySQL/MariaDB: C{%s} placeholders, backquoted identifiers, backslash
    escapes in strings, the insert id from C{cursor.lastrowid}.
    """

    paramstyle = "format"
    identifierQuote = "`"
    sqlLexicon = "mysql"
    emptyInsertClause = "() VALUES ()"
    supportsUpdateLimit = True
    upsertClause = "ON DUPLICATE KEY UPDATE {sets}"
    # Not INSERT IGNORE, which turns other errors into warnings: a no-op update.
    upsertIgnoreClause = "ON DUPLICATE KEY UPDATE {key} = {key}"
    insertedValue = "VALUES({column})"
    # A locking read sees the latest rows, which the upsert has locked.
    upsertLookupLock = "FOR UPDATE"
    sequenceArguments = True
    maxParameters = 65535
    offsetWithoutLimit = " LIMIT 18446744073709551615"
    derivedTableForSubqueries = True
    # MyISAM tables and DDL are not transactional: work cut off by a lost
    # connection may have been applied, so it is never run again; a
    # reconnecting pool checks its connection before using it instead.
    replayable = False
    # Server error numbers: ER_LOCK_DEADLOCK (also Galera's certification
    # failures), ER_CHECKREAD (MariaDB's innodb_snapshot_isolation),
    # ER_LOCK_WAIT_TIMEOUT (also NOWAIT on MariaDB), ER_LOCK_NOWAIT (MySQL).
    errorClasses = {
        1213: DeadlockError, 1020: SerializationError, 1205: LockTimeoutError,
        3572: LockTimeoutError,
    }
    # A deadlock victim's whole transaction is rolled back (a lock wait
    # timeout rolls back only the statement).
    transactionAbortingErrors = (DeadlockError,)
    # GTIDs: a position is the last sequence number of each replication
    # domain ("0-1-42,1-2-7").
    logPositionQuery = "SELECT @@gtid_binlog_pos"

    def parseLogPosition(self, value: Any) -> dict[int, int]:
        if isinstance(value, bytes):
            value = value.decode()
        position: dict[int, int] = {}
        for gtid in filter(None, (part.strip() for part in str(value or "").split(","))):
            domain, _, sequence = gtid.split("-")
            position[int(domain)] = int(sequence)
        return position

    def logPositionReached(self, position: Any, wanted: Any) -> bool:
        return all(position.get(domain, -1) >= sequence for domain, sequence in wanted.items())

    def replicaState(self, cursor: Any, lagToo: bool = True) -> tuple[Any, float | None]:
        self.run(cursor, "SELECT @@gtid_current_pos", [])
        position = self.parseLogPosition(cursor.fetchone()[0])
        if not lagToo:
            return position, 0.0
        self.run(cursor, "SHOW SLAVE STATUS", [])
        row = cursor.fetchone()
        if row is None:
            return position, 0.0  # not a replica: the primary itself
        columns = [d[0] for d in cursor.description]
        status = dict(zip(columns, row))
        running = status.get("Slave_SQL_Running") == "Yes" and (
            status.get("Slave_IO_Running") == "Yes"
        )
        lag = status.get("Seconds_Behind_Master")
        return position, (float(lag) if running and lag is not None else None)
    # MySQLdb would store the repr of bytearray and memoryview values.
    valueAdapters = {bytearray: bytes, memoryview: bytes, Decimal: _finiteDecimal}
    # DATETIME and TIMESTAMP keep whole seconds unless declared otherwise.
    timestampDigits = 0

    # Introspection: information_schema, for the tables of the current database.
    tablesQuery = (
        "SELECT TABLE_NAME FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
    )
    columnsQuery = (
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE = 'YES' FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION"
    )
    primaryKeyQuery = (
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' "
        "ORDER BY ORDINAL_POSITION"
    )
    foreignKeysQuery = (
        "SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME "
        "FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s AND REFERENCED_TABLE_NAME IS NOT NULL "
        "ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION"
    )
    uniqueKeysQuery = (
        "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND NON_UNIQUE = 0 "
        "AND INDEX_NAME <> 'PRIMARY' ORDER BY INDEX_NAME, SEQ_IN_INDEX"
    )
    # BOOLEAN is TINYINT(1), read as 0 or 1; TIME is read as a timedelta,
    # BIT as bytes, JSON as text.
    pythonTypes = (
        (r"^(tinyint\(1\)|bool)", "bool | int"),
        (r"^time\b", "timedelta"),
        (r"^bit\b", "bytes"),
        (r"^json\b", "str"),
        *InteractionBase.pythonTypes,
    )

    def emptyTables(self, txn: Any, tablenames: Sequence[str]) -> None:
        self.run(txn, "SET FOREIGN_KEY_CHECKS = 0", [])
        try:
            super().emptyTables(txn, tablenames)
        finally:
            self.run(txn, "SET FOREIGN_KEY_CHECKS = 1", [])

    def scratchStatements(self, name: str, pooled: bool = False) -> tuple[str, str]:
        quoted = self.quoteIdentifier(name)
        return (f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4",
                f"DROP DATABASE IF EXISTS {quoted}")

    def scratchURL(self, url: str, name: str, pooled: bool = False) -> str:
        return urlsplit(url)._replace(path="/" + quote(name)).geturl()

    def schemaQuery(self, tablename: str) -> tuple[str, list[Any]]:
        return (
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            [tablename],
        )

    def batchIds(self, txn: Any, count: int) -> list[Any]:
        # A multi-row insert reports its first id; the others follow it,
        # auto_increment_increment apart.
        first = txn.lastrowid
        txn.execute("SELECT @@auto_increment_increment")
        step = int(txn.fetchone()[0])
        return list(range(first, first + count * step, step))

    def lastInsertIDQuery(self) -> str:
        return "SELECT LAST_INSERT_ID()"

    def isConnectionLost(self, error: BaseException, connection: Any) -> bool:
        code = error.args[0] if error.args else None
        return (
            super().isConnectionLost(error, connection)
            or code in _CONNECTION_LOST_CODES
            or type(error).__name__ == "InterfaceError"
        )

    def interrupter(self, pool: adbapi.ConnectionPool, connection: Any) -> Callable[[], None]:
        serverThread = int(connection.thread_id())

        def kill() -> None:
            killer = pool.dbapi.connect(*pool.connargs, **pool.connkw)
            try:
                killer.cursor().execute(f"KILL QUERY {serverThread}")
            finally:
                killer.close()

        return kill

    def streamingCursor(self, txn: Any) -> Any:
        # MySQLdb's cursor builds every row of a result inside execute(), in
        # C; its SSCursor reads them as they are fetched (PyMySQL's cursor is
        # Python code, which lets other threads run).
        connection = txn.connection
        mysqldb = sys.modules.get("MySQLdb.connections")
        if mysqldb is None or not isinstance(connection, mysqldb.Connection):
            return None
        return connection.cursor(sys.modules["MySQLdb.cursors"].SSCursor)

    def matchedRows(self, cursor: Any) -> int:
        # The cursor's rowcount counts the rows changed (without the
        # FOUND_ROWS client flag); the server's message has those matched.
        info = getattr(cursor.connection, "info", None)  # MySQLdb
        if callable(info):
            message = info()
        else:  # PyMySQL
            message = getattr(getattr(cursor, "_result", None), "message", None)
        if isinstance(message, bytes):
            message = message.decode("ascii", "replace")
        matched = _ROWS_MATCHED.search(message or "")
        return int(matched.group(1)) if matched else int(cursor.rowcount)

    def isAlive(self, connection: Any) -> bool:
        try:
            connection.ping(False)  # MySQLdb and PyMySQL: do not reconnect
        except Exception:
            return False
        return True

    def errorCode(self, error: BaseException) -> Any:
        code = error.args[0] if error.args else None
        return code if isinstance(code, int) else None

    def isMissingTable(self, error: BaseException) -> bool:
        return bool(self.errorCode(error) == _NO_SUCH_TABLE)

    def refusedValues(self, error: Exception, args: Sequence[Any]) -> list[Any]:
        if str(error).endswith("can not be used with MySQL"):  # MySQLdb: nan, inf
            return [a for a in args if isinstance(a, float) and not math.isfinite(a)]
        return super().refusedValues(error, args)


class ReconnectingMySQLConnectionPool(ConnectionPool):
    """
    A L{twistar.pool.ConnectionPool} for MySQL that reconnects after the server
    went away.

    Before each interaction, the pool thread's connection is checked (a
    ping) and replaced when the server dropped it. An interaction cut off by
    a lost connection is never run again, since part of it may have been
    applied (MyISAM tables and DDL are not transactional): it fails with the
    driver's error, as do other errors.
    """

    reconnect = True

    def _runInteraction(self, interaction: Any, *args: Any, **kw: Any) -> Any:
        return MySQLDBConfig()._interact(self, interaction, args, kw, translate=False)
