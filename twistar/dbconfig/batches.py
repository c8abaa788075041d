# -*- test-case-name: twistar.tests.test_dbconfig -*-
"""
L{BatchInserts}: inserting rows on a cursor.

One row at a time (L{BatchInserts.insertRow}), or many in multi-row
statements sized to the driver's parameter limit, every value checked
before the first statement is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

from twisted.internet.defer import Deferred, succeed

from twistar.dbconfig.builder import compileSelect, rowsWithKeys
from twistar.dbconfig.runner import Runner
from twistar.dbconfig.sqltext import safeText
from twistar.dbconfig.statements import utcNow
from twistar.dbconfig.writes import Upsert, compileUpsert, upsertKeys, upsertOf
from twistar.exceptions import DBObjectSaveError, InvalidQueryError, UnknownColumnError
from twistar.pgpool import giveTurn
from twistar.slicing import bulkOnPoolThread


class FormattingCursor:
    """
    A cursor of a driver that formats the values into the statement itself,
    whose C{execute} does that (the driver's C{mogrify}) under
    L{bulkOnPoolThread}, then sends the statement so formatted: a pool
    thread formatting a long statement holds the GIL for milliseconds, and
    several at once would keep the reactor's thread waiting for it. Its
    other attributes are the cursor's.
    """

    def __init__(self, cursor: Any) -> None:
        """
        @param cursor: the driver's cursor.
        """
        self.cursor = cursor

    def execute(self, query: str, args: Sequence[Any] | None = None) -> Any:
        """
        Format C{args} into C{query} (one pool thread at a time), then run it.
        """
        with bulkOnPoolThread():
            statement = self.cursor.mogrify(query, args)
        return self.cursor.execute(statement)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)


class BatchInserts(Runner):
    """
    L{Runner}, inserting rows one at a time or in multi-row statements.
    """

    def insertRow(
        self, txn: Any, tablename: str, columns: Sequence[str], values: Sequence[Any],
        returnId: bool,
    ) -> Any:
        """
        Insert one row of checked values on C{txn}.

        @return: the new id when C{returnId}, otherwise C{None}.
        """
        self.run(txn, self.buildInsert(tablename, columns, returnId), values)
        if not returnId:
            return None
        if self.insertReturnsId:
            return txn.fetchone()[0]
        return txn.lastrowid

    def insertKeyedRow(
        self, txn: Any, tablename: str, columns: Sequence[str], values: Sequence[Any],
        key: tuple[str, ...],
    ) -> Any:
        """
        Insert one row of checked values on C{txn}, into a table whose
        primary key is C{key}: the key columns without a value among
        C{columns} are made by the database and read back (with
        C{RETURNING}, or as the auto-increment value).

        @return: the new row's key (a tuple for several columns).
        @raise DBObjectSaveError: when the database cannot report the key
            it made (several columns missing without C{RETURNING}: before
            anything is sent; no auto-increment value: after the insert,
            which the caller's transaction undoes).
        """
        given = dict(zip(columns, values))
        missing = [name for name in key if name not in given]
        if not missing:
            self.run(txn, self.buildInsert(tablename, columns, False), values)
            return _keyOf(key, given)
        if self.insertReturning:
            self.run(txn, self.buildInsert(tablename, columns, key), values)
            row = txn.fetchone()
            return row[0] if len(key) == 1 else tuple(row)
        _requireOneMissing(tablename, missing)
        self.run(txn, self.buildInsert(tablename, columns, False), values)
        given[missing[0]] = _generated(tablename, missing[0], txn.lastrowid)
        return _keyOf(key, given)

    def insertKeyedBatches(
        self, txn: Any, tablename: str, columns: Sequence[str], batches: list[list[Any]],
        key: tuple[str, ...],
    ) -> list[Any]:
        """
        L{insertBatches} into a table whose primary key is C{key}, reading
        back what L{insertKeyedRow} does.

        @return: the new rows' keys, in order.
        """
        width = len(columns)
        missing = [name for name in key if name not in columns]
        if missing and self.insertReturning and not self.returningInOrder:
            return [
                self.insertKeyedRow(txn, tablename, columns, batch[start:start + width], key)
                for batch in batches for start in range(0, len(batch), width)
            ]
        if missing and self.insertReturning:
            return self.insertBatches(txn, tablename, columns, batches, key)
        if missing:
            _requireOneMissing(tablename, missing)
        generated = self.insertBatches(txn, tablename, columns, batches, bool(missing))
        keys = []
        rows = (batch[start:start + width] for batch in batches
                for start in range(0, len(batch), width))
        for index, row in enumerate(rows):
            given = dict(zip(columns, row))
            if missing:
                given[missing[0]] = _generated(tablename, missing[0], generated[index])
            keys.append(_keyOf(key, given))
        return keys

    def insertMany(self, tablename: str, vals: Sequence[dict[str, Any]]) -> Deferred[None]:
        """
        Insert many rows (dicts) in a few multi-row statements, in one
        interaction. Rows may have different keys: a missing key inserts
        C{NULL}. Every row, name and value is checked before the first
        statement is sent.
        """
        if isinstance(vals, (Mapping, str, bytes)):
            raise InvalidQueryError(
                f"insertMany takes a list of dicts, one per row, not a {type(vals).__name__}"
            )
        rows = vals if isinstance(vals, list) else list(vals)
        if not rows:
            return succeed(None)
        self.quoteIdentifier(tablename)
        return self.runAtomic(self._insertMany, tablename, rows)

    def _insertMany(self, txn: Any, tablename: str, rows: list[dict[str, Any]]) -> None:
        try:
            columns, batches = self._rowBatches(rows)
        except (TypeError, AttributeError):
            for index, row in enumerate(rows):
                if not isinstance(row, Mapping):
                    raise InvalidQueryError(
                        f"insertMany rows must be dicts; row {index} is {safeText(row):.80}"
                    ) from None
            raise
        if columns:
            self.insertBatches(txn, tablename, columns, batches, False)
        else:
            self.insertRows(txn, tablename, [], [()] * len(rows), False)

    def _rowBatches(self, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
        """
        @return: the columns of C{rows} (dicts), and their values in checked
            batches (see L{checkedBatches}); no columns when every row is
            empty.
        @raise TypeError: (or C{AttributeError}) if a row is not a dict.
        """
        if not any(rows):
            if not all(isinstance(row, Mapping) for row in rows):
                raise TypeError("rows must be dicts")
            return [], []
        columns = list(rows[0])
        self.escapeColNames(columns)
        try:
            batches = self.checkedBatches(
                _uniformBatches(rows, columns, self.rowsPerStatement(len(columns))), columns
            )
        except _KeysDiffer:
            columns = list(dict.fromkeys(chain.from_iterable(rows)))
            self.escapeColNames(columns)
            size = self.rowsPerStatement(len(columns))
            batches = self.checkedBatches(
                (
                    [row.get(c) for row in rows[start:start + size] for c in columns]
                    for start in range(0, len(rows), size)
                ),
                columns,
            )
        return columns, batches

    def rowsPerStatement(self, width: int) -> int:
        """
        @return: how many rows of C{width} values one multi-row C{INSERT}
            takes, within the driver's parameter limit.
        """
        return max(1, min(1000, self.maxParameters // max(1, width)))

    def insertRows(
        self, txn: Any, tablename: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
        returnIds: bool,
    ) -> list[Any]:
        """
        Insert rows of values for C{columns} on C{txn}, in multi-row
        statements sized to the driver's parameter limit. All values are
        checked before the first statement is sent.

        @return: the new ids, in order, when C{returnIds}; otherwise C{[]}.
        """
        if not columns:
            return [self.insertRow(txn, tablename, [], [], returnIds) for _ in rows]
        batches = self.rowBatches(columns, rows)
        return self.insertBatches(txn, tablename, columns, batches, returnIds)

    def rowBatches(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> list[list[Any]]:
        """
        @return: C{rows} (values of C{columns}) in checked batches for
            L{insertBatches}.
        @raise UnsupportedValueError: for a value the driver cannot store.
        """
        size = self.rowsPerStatement(len(columns))
        return self.checkedBatches(
            (
                list(chain.from_iterable(rows[start:start + size]))
                for start in range(0, len(rows), size)
            ),
            columns,
        )

    def checkedBatches(
        self, batches: Iterable[list[Any]], columns: Sequence[str]
    ) -> list[list[Any]]:
        """
        Check each batch (values of C{columns}, one row after another) as
        soon as it is made, while its values are still in the processor's
        caches, and apply C{valueAdapters}.

        @return: the checked batches.
        @raise UnsupportedValueError: for a value the driver cannot store.
        """
        plain = self.storableTypes.difference(self.valueAdapters)
        width = len(columns)
        checked = []
        with bulkOnPoolThread():
            for batch in batches:
                giveTurn()  # on a PostgresPool, the reactor's thread runs this
                columnTypes = [set(map(type, batch[start::width])) for start in range(width)]
                types = set().union(*columnTypes)
                checked.append(
                    batch if plain.issuperset(types)
                    else self.adaptedBatch(batch, columns, columnTypes, types)
                )
        return checked

    def insertBatches(
        self, txn: Any, tablename: str, columns: Sequence[str], batches: list[list[Any]],
        returnIds: bool | tuple[str, ...],
    ) -> list[Any]:
        """
        L{insertRows} for batches from L{checkedBatches}, of at most
        L{rowsPerStatement} rows each.

        @param returnIds: C{True} for the new ids, or the columns to return
            (where the dialect has C{insertReturning} and
            C{returningInOrder}): each row's value, or tuple of values.
        """
        width = len(columns)
        head = (
            f"INSERT INTO {self.quoteIdentifier(tablename)} "
            f"({', '.join(self.escapeColNames(columns))}) VALUES "
        )
        returned: tuple[str, ...] = (
            returnIds if isinstance(returnIds, tuple)
            else ("id",) if returnIds and self.insertReturnsId else ()
        )
        returning = (
            " RETURNING " + ", ".join(map(self.quoteIdentifier, returned)) if returned else ""
        )
        queries: dict[int, str] = {}
        ids: list[Any] = []
        cursor = self.bulkCursor(txn)
        try:
            for batch in batches:
                size = len(batch) // width
                query = queries.get(size)
                if query is None:
                    query = queries[size] = (
                        head + self._valuesList(width, size, bool(self.numberedPlaceholder))
                        + returning
                    )
                self.run(cursor, query, batch, adapt=False)
                if len(returned) == 1:
                    ids.extend(row[0] for row in cursor.fetchall())
                elif returning:
                    ids.extend(map(tuple, cursor.fetchall()))
                elif returnIds:
                    ids.extend(self.batchIds(cursor, size))
        finally:
            if cursor is not txn:
                cursor.close()
        return ids

    numberedPlaceholder = ""
    """The format of a numbered placeholder (of the 1-based number) that the
    L{bulkCursor} takes (empty: it takes C{placeholder}s)."""

    formatsInClient = False
    """Whether the driver formats the values into the statement itself (in
    C or Python, holding the GIL: psycopg2 takes about 3 ms for a 1,000-row
    C{INSERT} of four columns): the L{bulkCursor} then does that one pool
    thread at a time."""

    def bulkCursor(self, txn: Any) -> Any:
        """
        @return: the cursor to run multi-row C{INSERT}s on: C{txn}, or a
            cursor on its connection (closed after): one that takes
            L{numberedPlaceholder}s as they are (where the driver would
            parse a long statement for its placeholders slowly), or, where
            the driver L{formatsInClient}, a L{FormattingCursor}.
        """
        if self.formatsInClient:
            return FormattingCursor(txn.connection.cursor())
        return txn

    def _valuesList(self, width: int, size: int, numbered: bool) -> str:
        """
        @return: the placeholders of C{size} rows of C{width} values, as
            in C{VALUES (?, ?), (?, ?)}, numbered or not.
        """
        if not numbered:
            return ", ".join(["(" + ", ".join([self.placeholder] * width) + ")"] * size)
        form = self.numberedPlaceholder
        numbers = iter(range(1, width * size + 1))
        return ", ".join(
            "(" + ", ".join([form.format(next(numbers)) for _ in range(width)]) + ")"
            for _ in range(size)
        )

    def upsertMany(
        self, tablename: str, vals: Sequence[dict[str, Any]], uniqueBy: str | Sequence[str],
        update: str | Sequence[str] | None = None, timestamps: tuple[str, str] | None = None,
    ) -> Deferred[None]:
        """
        Insert rows (dicts), or where a row's C{uniqueBy} columns hold an
        existing row's values, set that row's C{update} columns (every
        column of the row but the key's when C{None}; none: leave it
        alone), with one statement per batch, in one interaction. See
        L{upsertRows}.

        @param timestamps: creation and update time columns, stamped as
            L{stampedUpsert} says.

        @raise InvalidQueryError: (or in the L{Deferred}) for bad names or
            rows, before any row is written.
        """
        keys, updated = upsertKeys(uniqueBy, update)
        if isinstance(vals, (Mapping, str, bytes)):
            raise InvalidQueryError(
                f"upsertMany takes a list of dicts, one per row, not a {type(vals).__name__}"
            )
        rows = vals if isinstance(vals, list) else list(vals)
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InvalidQueryError(
                    f"upsert rows must be dicts; row {index} is {safeText(row):.80}"
                )
        if not rows:
            return succeed(None)
        self.quoteIdentifier(tablename)

        def upsert(txn: Any) -> None:
            if timestamps is None:
                self.upsertRows(txn, tablename, rows, keys, updated, False)
                return
            stamped, columns, _ = self.stampedUpsert(txn, tablename, rows, updated, timestamps)
            self.upsertRows(txn, tablename, stamped, keys, columns, False, (timestamps[0],))

        return self.runAtomic(upsert)

    def stampedUpsert(
        self, txn: Any, tablename: str, rows: Sequence[Mapping[str, Any]],
        update: tuple[str, ...] | None, timestamps: tuple[str, str],
    ) -> tuple[list[dict[str, Any]], tuple[str, ...] | None, dict[str, Any]]:
        """
        Stamp upsert rows with one reading of L{utcNow}: a row without a
        value (or with C{None}) for a column of C{timestamps} (the creation
        and the update time) gets the time there.

        @return: the stamped rows (copies), the C{update} columns with the
            update time added when C{update} names some, and the time as
            each column of C{timestamps} keeps it. Pass the creation time
            column to L{upsertRows} as kept, so that C{update=None} leaves
            it alone.
        @raise UnknownColumnError: if the table lacks a column of C{timestamps}.
        """
        stamps = self.timestampValues(txn, tablename, timestamps, utcNow())
        stamped = []
        for row in rows:
            row = dict(row)
            for name, value in stamps.items():
                if row.get(name) is None:
                    row[name] = value
            stamped.append(row)
        updated = timestamps[1]
        if update and updated not in update:
            update = (*update, updated)
        return stamped, update, stamps

    def upsertRows(
        self, txn: Any, tablename: str, rows: Sequence[Mapping[str, Any]],
        uniqueBy: tuple[str, ...], update: tuple[str, ...] | None, returnIds: bool,
        kept: tuple[str, ...] = (), primaryKey: tuple[str, ...] = ("id",),
    ) -> list[Any]:
        """
        Upsert C{rows} (dicts of column values) on C{txn}: rows with the same
        columns in multi-row statements sized to the driver's parameter
        limit. Names, keys and values are checked before the first
        statement is sent.

        @param uniqueBy: as L{upsertKeys} returns it.
        @param update: as L{upsertKeys} returns it.
        @param kept: columns that C{update=None} leaves out.
        @param primaryKey: the table's primary key columns, whose values
            are the "ids".
        @return: with C{returnIds}, the id of the row each row was written
            to (C{None} where the database gave back a key that compares
            otherwise), in order: from C{RETURNING} where the dialect has it
            (C{upsertReturns}), otherwise (and for rows left alone) selected
            by key; C{[]} otherwise.
        @raise UnknownColumnError: for a name that is no column of the table.
        @raise InvalidQueryError: for a row without a key value, or two rows
            with the same key (the database would refuse to write one row
            twice, or keep the last).
        @raise UnsupportedValueError: for a value the driver cannot store.
        """
        known = self.getSchema(tablename, txn)
        shapes: dict[tuple[str, ...], list[int]] = {}
        for index, row in enumerate(rows):
            shapes.setdefault(tuple(row), []).append(index)
        for name in (*uniqueBy, *(update or ()), *chain.from_iterable(shapes)):
            if name not in known:
                raise UnknownColumnError(f"{tablename} has no column {name!r}")
        seen: dict[tuple[Any, ...], int] = {}
        work: list[tuple[Upsert, list[int], list[int], list[list[Any]]]] = []
        for names, members in shapes.items():
            self.escapeColNames(names)
            statement = upsertOf(tablename, names, uniqueBy, update, kept)
            values = [list(rows[index].values()) for index in members]
            positions = [names.index(name) for name in uniqueBy]
            batches = self.rowBatches(names, values)
            for index, rowValues in zip(members, values):
                _addKey(seen, tuple(rowValues[p] for p in positions), index, uniqueBy)
            work.append((statement, members, positions, batches))
        ids: list[Any] = [None] * len(rows) if returnIds else []
        # The key of each row as it was sent (adapted), for the returned rows.
        sentKeys: dict[tuple[Any, ...], int] = {}
        returned: list[Any] = []
        for statement, members, positions, batches in work:
            width = len(statement.columns)
            if returnIds:
                statement = statement._replace(returning=(*primaryKey, *uniqueBy))
            queries: dict[int, str] = {}
            done = 0
            for batch in batches:
                size = len(batch) // width
                query = queries.get(size)
                if query is None:
                    query = queries[size] = compileUpsert(self, statement._replace(rows=size))
                if returnIds:
                    for offset in range(0, len(batch), width):
                        key = _sentKey(batch[offset + p] for p in positions)
                        sentKeys[key] = members[done + offset // width]
                self.run(txn, query, batch, adapt=False)
                done += size
                if returnIds and self.upsertReturns:
                    returned.extend(txn.fetchall())
        if returnIds:
            self._matchIds(txn, tablename, uniqueBy, sentKeys, returned, ids, primaryKey)
        return ids

    def _matchIds(
        self, txn: Any, tablename: str, uniqueBy: tuple[str, ...],
        sentKeys: dict[tuple[Any, ...], int], returned: list[Any], ids: list[Any],
        key: tuple[str, ...],
    ) -> None:
        """
        Set C{ids[index]} to the primary key of each returned row (its
        C{key} columns, then the unique ones) whose unique key is in
        C{sentKeys}; select the rows of the other keys.
        """
        width = len(key)

        def primary(row: Sequence[Any]) -> Any:
            return row[0] if width == 1 else tuple(row[:width])

        for row in returned:
            index = sentKeys.pop(_sentKey(row[width:]), None)
            if index is not None:
                ids[index] = primary(row)
        missing = list(sentKeys)
        size = max(1, min(1000, self.maxParameters // len(uniqueBy)))
        for start in range(0, len(missing), size):
            select = rowsWithKeys(
                tablename, uniqueBy, missing[start:start + size], self.upsertLookupLock, key
            )
            self.run(txn, *compileSelect(self, select))
            for row in txn.fetchall():
                index = sentKeys.get(_sentKey(row[width:]))
                if index is not None:
                    ids[index] = primary(row)

    def adaptedBatch(
        self, batch: list[Any], columns: Sequence[str], columnTypes: list[set[type]],
        types: set[type],
    ) -> list[Any]:
        """
        @param columnTypes: the types of the values of each column in
            C{batch}.
        @param types: the types of all its values (the union of
            C{columnTypes}).
        @return: C{batch} (values of C{columns}, one row after another) with
            C{valueAdapters} applied.
        @raise UnsupportedValueError: for a value the driver cannot store.
        """
        width = len(columns)
        if not self.storableTypes.issuperset(types):
            for start in range(0, len(batch), width):
                self.checkValues(batch[start:start + width], columns)
        adapters = self.valueAdapters
        checks = self.batchChecks
        converted = types.intersection(adapters).difference(checks)
        if converted:
            batch = [adapters[type(a)](a) if type(a) in converted else a for a in batch]
        for start, kinds in enumerate(columnTypes):
            for kind in kinds.intersection(checks):
                checks[kind](batch[start::width], kinds)
        return batch

    def batchIds(self, txn: Any, count: int) -> list[Any]:
        """
        @return: the ids of the C{count} rows inserted by the last multi-row
            C{INSERT} on C{txn} (for databases without C{RETURNING}).
        """
        raise NotImplementedError


def _keyOf(key: tuple[str, ...], values: Mapping[str, Any]) -> Any:
    """
    @return: the value of the C{key} columns in C{values}: a tuple for
        several columns.
    """
    return values[key[0]] if len(key) == 1 else tuple(values[name] for name in key)


def _requireOneMissing(tablename: str, missing: list[str]) -> None:
    """
    @raise DBObjectSaveError: unless one key column is missing, which the
        database can report as an auto-increment value.
    """
    if len(missing) > 1:
        raise DBObjectSaveError(
            f"nothing was saved: {tablename}'s key columns {', '.join(missing)} have no "
            f"values, and this database can report only one made by it (auto-increment): "
            f"set them"
        )


def _generated(tablename: str, column: str, value: Any) -> Any:
    """
    @return: C{value}, the auto-increment value of the key C{column}.
    @raise DBObjectSaveError: when there is none (the database made the key
        otherwise, and cannot say what it is).
    """
    if not value:
        raise DBObjectSaveError(
            f"{tablename}.{column} has no value and is not AUTO_INCREMENT: this database "
            f"cannot report a key it made otherwise; set it, or give the model a "
            f"KEY_GENERATOR"
        )
    return value


def _addKey(
    seen: dict[tuple[Any, ...], int], key: tuple[Any, ...], index: int,
    uniqueBy: tuple[str, ...],
) -> None:
    """
    Record that row C{index} has C{key}.

    @raise InvalidQueryError: if a value of C{key} is C{None} (no key: it
        never matches a row), or an earlier row has C{key} too.
    """
    if None in key:
        raise InvalidQueryError(
            f"upsert row {index} has no value for the key column "
            f"{uniqueBy[key.index(None)]!r}"
        )
    try:
        earlier = seen.setdefault(key, index)
    except TypeError:
        raise InvalidQueryError(f"upsert row {index} has a key that cannot be compared") from None
    if earlier != index:
        raise InvalidQueryError(
            f"upsert rows {earlier} and {index} have the same key {safeText(key):.80}: "
            f"one statement cannot write one row twice"
        )


def _sentKey(values: Iterable[Any]) -> tuple[Any, ...]:
    """
    @return: the values of a key, a binary one as C{bytes} (a driver may
        return a C{memoryview}).
    """
    return tuple(
        bytes(value) if isinstance(value, (memoryview, bytearray)) else value
        for value in values
    )


class _KeysDiffer(Exception):
    """
    The rows given to C{insertMany} do not all have the same keys.
    """


def _uniformBatches(
    rows: list[dict[str, Any]], columns: list[str], size: int
) -> Iterator[list[Any]]:
    """
    @return: the values of C{rows} (dicts) for C{columns}, one row after
        another, in lists of C{size} rows.
    @raise _KeysDiffer: (while iterating) unless every row has exactly the
        keys C{columns}.
    """
    width = len(columns)
    if not width:
        raise _KeysDiffer()
    getter = itemgetter(*columns)
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        values = map(getter, chunk)
        try:
            batch = list(values if width == 1 else chain.from_iterable(values))
        except KeyError:
            raise _KeysDiffer() from None
        # Every row has the keys of columns; the same count means no others.
        if sum(map(len, chunk)) != width * len(chunk):
            raise _KeysDiffer()
        yield batch
