# -*- test-case-name: twistar.tests.test_dbconfig,twistar.tests.test_backends -*-
"""
L{StatementRunner}: running statements on a cursor, and reading results.

Its methods run synchronously on the cursor (or connection) they are given,
on whichever thread or greenlet runs the work; where that work runs is
L{twistar.dbconfig.green} and L{twistar.dbconfig.runner}. Results are read
in batches, through a streaming cursor where the driver has one, with the
database's conversions of column values applied.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import count
from typing import Any

from twistar.dbconfig.errors import ErrorTranslation
from twistar.exceptions import (
    ImaginaryTableError,
    InvalidIdentifierError,
    UnknownColumnError,
    UnsupportedValueError,
)
from twistar.pgpool import giveTurn, turnDue
from twistar.querylog import ObservedStatement, observed, rowsRead
from twistar.replicas import UNKNOWN_POSITION
from twistar.slicing import ROWS_PER_COLLECTION, collectorPaused

# Names for the savepoints of atomic work inside transactions.
_savepointNumbers = count(1)

# (Database, table name) -> (its list in the registry's schema cache when
# read, the declared type of each of its columns).
_declared: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {}


def utcNow() -> datetime:
    """
    @return: the time now, in UTC: the one clock of timestamps.
    """
    return datetime.now(timezone.utc)


class StatementRunner(ErrorTranslation):
    """
    L{ErrorTranslation}, running statements on a cursor: its methods take
    a C{txn} (a cursor, or a connection) and run synchronously on it.
    """

    # -- running SQL on a cursor -------------------------------------------

    def executeTxn(self, txn: Any, query: str, *args: Any) -> Any:
        """
        Run raw SQL, written in the driver's paramstyle, on C{txn}.

        @return: what the cursor's C{execute} returns.
        """
        if self.LOG:
            self.log(query, args, {})
        watch = observed(self)
        if watch is None:
            return txn.execute(query, *args)
        statement = ObservedStatement(watch, self, txn, query, args[0] if args else None)
        try:
            result = txn.execute(query, *args)
        except Exception as e:
            statement.failed(e)
            raise
        statement.ran()
        return result

    def run(self, txn: Any, query: str, args: Sequence[Any], adapt: bool = True) -> Any:
        """
        Run C{query} (already in the driver's paramstyle) on C{txn}, logging
        it when C{LOG} is set, and telling L{twistar.querylog} about it when
        that observes it.

        @param adapt: apply C{valueAdapters} to C{args} (C{False} when the
            caller did).
        """
        if self.LOG:
            self.log(query, args, {})
        watch = observed(self)
        given = args
        adapters = self.valueAdapters
        if adapt and adapters and not adapters.keys().isdisjoint(map(type, args)):
            args = [adapters[type(a)](a) if type(a) in adapters else a for a in args]
        elif not isinstance(args, (list, tuple)):
            args = given = list(args)
        statement = None if watch is None else ObservedStatement(watch, self, txn, query, given)
        giveTurn()  # on a PostgresPool, the reactor's thread runs this
        try:
            result = txn.execute(query, args)
        except Exception as e:
            refused = self.refusedValues(e, args)
            error = None
            if refused:
                error = UnsupportedValueError(f"cannot store {refused[0]!r:.80}: {e}")
            if statement is not None:
                statement.failed(error or e)
            if error is None:
                raise
            raise error from e
        if statement is not None:
            statement.ran()
        return result

    def _doselect(
        self, txn: Any, query: str, args: Sequence[Any], tablename: str, one: bool = False
    ) -> Any:
        """
        Run a select (in the driver's paramstyle) on C{txn}.

        @return: one dict or C{None} when C{one}; otherwise a list of dicts
            keyed by column name.
        """
        readers = self.columnReaders(txn, tablename)
        with self.manyRowsCursor(txn, not one) as cursor:
            self.run(cursor, query, args)
            names = [d[0] for d in cursor.description]
            convert = rowConverter(names, readers)
            if one:
                row = cursor.fetchone()
                if row is None:
                    return None
                return dict(zip(names, row if convert is None else convert(row)))
            return [dict(zip(names, row)) for row in self.fetchRows(cursor, convert)]

    def selectRows(
        self, txn: Any, query: str, args: Sequence[Any], tablename: str | None,
        most: int | None = None,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """
        Run a select (in the driver's paramstyle) on C{txn}, reading values
        as L{columnReaders} says for C{tablename}'s columns (when given).

        @param most: read at most this many rows.
        @return: the column names and the rows.
        """
        readers = None if tablename is None else self.columnReaders(txn, tablename)
        with self.manyRowsCursor(txn, most is None) as cursor:
            self.run(cursor, query, args)
            names = [d[0] for d in cursor.description]
            convert = rowConverter(names, readers)
            if most is None:
                return names, list(self.fetchRows(cursor, convert))
            rows = cursor.fetchmany(most)
        return names, [tuple(row) if convert is None else convert(row) for row in rows]

    @contextmanager
    def manyRowsCursor(self, txn: Any, many: bool = True) -> Iterator[Any]:
        """
        The cursor to run a select on whose rows are then fetched with
        L{fetchRows}: C{txn} itself, or (when C{many} and the dialect has
        one, see L{streamingCursor}) a streaming cursor, closed at the end.
        """
        cursor = self.streamingCursor(txn) if many else None
        if cursor is None:
            yield txn
            return
        try:
            yield cursor
        finally:
            cursor.close()

    def streamingCursor(self, txn: Any) -> Any:
        """
        @return: a new cursor of C{txn}'s connection that reads a result from
            the server as its rows are fetched, where C{txn} would build all
            of them at once, holding the GIL (and so stalling the reactor)
            meanwhile; C{None} (the default) where C{txn} does not.
        """
        return None

    def matchedRows(self, cursor: Any) -> int:
        """
        @return: how many rows the C{UPDATE} just run on C{cursor} matched
            (whether or not it changed their values).
        """
        return int(cursor.rowcount)

    def fetchRows(
        self, txn: Any, convert: Callable[[Sequence[Any]], Sequence[Any]] | None = None
    ) -> list[Any]:
        """
        Fetch the rest of C{txn}'s result, C{fetchSize} rows at a time.
        Past the first batch, the rows are fetched under
        L{collectorPaused}, with a collection of the youngest generation
        every L{ROWS_PER_COLLECTION} rows (which stops tracking the tuples
        of plain values): otherwise the collector scans the growing list
        of rows again and again.

        @param convert: applied to each row.
        @return: the rows.
        """
        size = self.fetchSize
        batch = txn.fetchmany(size)
        rows = list(batch if convert is None else map(convert, batch))
        # Fewer rows than asked for: there are no more (PEP 249).
        collectAt = ROWS_PER_COLLECTION
        while len(batch) == size:
            # On a PostgresPool, the reactor's thread runs this: the
            # collector is on again while the reactor has its turns.
            giveTurn()
            with collectorPaused():
                while len(batch) == size:
                    if len(rows) >= collectAt:
                        gc.collect(0)
                        collectAt += ROWS_PER_COLLECTION
                    batch = txn.fetchmany(size)
                    rows.extend(batch if convert is None else map(convert, batch))
                    if turnDue():
                        break
        rowsRead(txn, len(rows))
        return rows

    def columnReaders(
        self, txn: Any, tablename: str
    ) -> Mapping[str, Callable[[Any], Any]] | None:
        """
        Called on C{txn} before a select of C{tablename}'s rows runs.

        @return: the conversions of values (never C{None}) read from the
            columns of C{tablename} that have one, by column name; C{None}
            (the default) when the driver's values are returned as they are.
        """
        return None

    def mutableColumns(self, description: Sequence[Any]) -> tuple[int, ...]:
        """
        @param description: a cursor's C{description}.
        @return: the positions of the columns whose values the driver may
            return as mutable objects (lists, dicts).
        """
        return ()

    def getLastInsertID(self, txn: Any) -> Any:
        """
        @return: the id generated by the last insert on C{txn}'s connection.
        """
        self.run(txn, self.lastInsertIDQuery(), [])
        return txn.fetchone()[0]

    def savepoint(self, txn: Any) -> str:
        """
        Set a new savepoint on C{txn}.

        @return: its name, for C{ROLLBACK TO SAVEPOINT} and C{RELEASE SAVEPOINT}.
        """
        name = f"twistar_op{next(_savepointNumbers)}"
        self.run(txn, f"SAVEPOINT {name}", [])
        return name

    def readLogPosition(self, connection: Any) -> Any:
        """
        Called on C{connection} (of the primary) after a commit.

        @return: the primary's log position now, or L{UNKNOWN_POSITION} if
            it cannot be read.
        """
        assert self.logPositionQuery is not None
        try:
            cursor = connection.cursor()
            self.run(cursor, self.logPositionQuery, [])
            position = self.parseLogPosition(cursor.fetchone()[0])
            cursor.close()
            connection.rollback()
            return position
        except Exception:
            return UNKNOWN_POSITION

    # -- the schema ---------------------------------------------------------

    @property
    def schemas(self) -> dict[str, list[str]]:
        """The cached column names of this database's tables, by table name
        (L{Registry.SCHEMAS} for the default database)."""
        return self.registry.schemasOf(self.database)

    def schemaRead(self, tablename: str, columns: list[str], rows: Sequence[Any]) -> None:
        """
        Called when L{getSchema} has read the columns of C{tablename}.

        @param columns: the list now in L{schemas}.
        @param rows: the rows of C{schemaQuery}.
        """

    def getSchema(self, tablename: str, txn: Any) -> list[str]:
        """
        The column names of C{tablename}, read on C{txn} unless cached in
        L{schemas}.

        @raise ImaginaryTableError: if the table does not exist.
        """
        columns = self.schemas.get(tablename)
        if columns is None:
            self.quoteIdentifier(tablename)
            query, args = self.schemaQuery(tablename)
            self.run(txn, query, args)
            rows = txn.fetchall()
            columns = [row[0] for row in rows]
            if not columns:
                raise ImaginaryTableError(f"table {tablename!r} does not exist")
            self.schemas[tablename] = columns
            _declared[self.database, tablename] = (columns, {row[0]: str(row[1]) for row in rows})
            self.schemaRead(tablename, columns, rows)
        return columns

    def timestampValues(
        self, txn: Any, tablename: str, names: Sequence[str], now: datetime
    ) -> dict[str, Any]:
        """
        @param names: columns of C{tablename}.
        @param now: an aware datetime in UTC.
        @return: C{now} as each column of C{names} keeps it (see
            C{storedTimestamp}), by name.
        """
        declared = self.declaredTypes(txn, tablename)
        for name in names:
            if name not in declared:
                raise UnknownColumnError(f"TIMESTAMPS: {tablename} has no column {name!r}")
        return {name: self.storedTimestamp(now, declared[name]) for name in names}

    def declaredTypes(self, txn: Any, tablename: str) -> dict[str, str]:
        """
        @return: the declared type of each column of C{tablename}, as
            C{schemaQuery} reads it, by name (read with L{getSchema}).
        """
        known = _declared.get((self.database, tablename))
        if known is None or known[0] is not self.schemas.get(tablename):
            # Read the schema again: the cache was cleared, or filled elsewhere.
            self.schemas.pop(tablename, None)
            self.getSchema(tablename, txn)
            known = _declared[self.database, tablename]
        return known[1]

    def hasColumn(self, txn: Any, tablename: str, column: str) -> bool:
        """
        @return: whether table C{tablename} exists and has C{column}; C{False}
            also for names that are not identifiers.
        """
        try:
            return column in self.getSchema(tablename, txn)
        except (ImaginaryTableError, InvalidIdentifierError):
            return False


class LogPosition:
    """
    The primary's log position after a write, read on the pool thread.
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = UNKNOWN_POSITION


def rowConverter(
    names: Sequence[str], readers: Mapping[str, Callable[[Any], Any]] | None
) -> Callable[[Sequence[Any]], tuple[Any, ...]] | None:
    """
    @param names: the names of a result's first columns.
    @param readers: conversions by column name (see
        L{StatementRunner.columnReaders}).
    @return: a function converting a row's values in the columns of C{names}
        that have a reader (leaving C{None} alone), or C{None} when none has.
    """
    if not readers:
        return None
    found = [(index, readers[name]) for index, name in enumerate(names) if name in readers]
    if not found:
        return None

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for index, read in found:
            if values[index] is not None:
                values[index] = read(values[index])
        return tuple(values)

    return convert
