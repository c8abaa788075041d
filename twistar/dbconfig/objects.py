# -*- test-case-name: twistar.tests.test_dbconfig,twistar.tests.test_dbobject -*-
"""
L{ObjectRows}: the rows of model objects.

Inserting, updating and reloading an object's row, and building objects
from selected rows on the pool thread. The objects are
L{twistar.dbobject.DBObject}s, which sit above the SQL layer: what it uses
of them is L{Model}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from twisted.internet.defer import Deferred

from twistar.dbconfig.batches import BatchInserts
from twistar.dbconfig.builder import Column, Select, Text, compileSelect, keyEquals, keyIn
from twistar.dbconfig.sqltext import checkIdentifier, safeRepr
from twistar.dbconfig.statements import rowConverter, utcNow
from twistar.dbconfig.writes import UpdateMany, compileUpdateMany, updateManyBatch
from twistar.exceptions import (
    CannotRefreshError,
    DBObjectSaveError,
    InvalidIdentifierError,
    StaleObjectError,
    UnknownColumnError,
)
from twistar.pgpool import giveTurn
from twistar.slicing import bulkOnPoolThread, inSlices


class Model(Protocol):
    """
    What the SQL layer uses of a model object (a
    L{twistar.dbobject.DBObject}) and of its class.
    """

    id: Any
    """The default key column's value."""
    LOCK_VERSION: str | None
    """The version column, or C{None}."""
    TIMESTAMPS: Any
    """The time columns (see L{timestampColumns})."""
    KEY_GENERATOR: Callable[[], Any] | None
    """What makes a new key, or C{None}."""
    _savedColumns: tuple[str, ...] | None
    _keyColumns: tuple[str, ...]
    _keyTracked: bool

    @classmethod
    def tablename(cls) -> str:
        """The model's table."""

    @classmethod
    def _fromRow(
        cls, columns: tuple[str, ...], row: Sequence[Any], mutable: Sequence[int] = ()
    ) -> Any:
        """An object of the row's values, built without C{afterInit}."""

    @classmethod
    def _fromRows(
        cls, columns: tuple[str, ...], rows: Sequence[Sequence[Any]],
        mutable: Sequence[int] = (),
    ) -> list[Any]:
        """Objects of the rows' values, built without C{afterInit}."""

    @classmethod
    def _storedIn(cls, database: str, objects: Iterable[Any]) -> None:
        """Have C{objects}, read from C{database}, remember it."""

    def toHash(
        self, cols: Iterable[str], *, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """The attributes of C{cols} that are not C{None}, less C{exclude}."""

    def _changedValues(self, columns: Iterable[str]) -> dict[str, Any]:
        """The column attributes changed since the object was saved."""

    def _savedState(self, columns: Iterable[str]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        """The object's values of C{columns}, as they are written."""

    def _setSaved(
        self, saved: tuple[tuple[str, ...], tuple[Any, ...]], newId: Any = None
    ) -> None:
        """Record C{saved} as the row's values, and the new id."""

    def _markSaved(self, columns: Iterable[str]) -> None:
        """Record the object's values of C{columns} as the row's."""

    def _keyValue(self) -> Any:
        """The object's primary key (a tuple for several columns)."""

    def _storedKey(self) -> Any:
        """The primary key of the object's row, as last loaded or saved."""

    def _isNew(self) -> bool:
        """Whether saving the object inserts a row."""


M = TypeVar("M", bound=Model)


class ObjectRows(BatchInserts):
    """
    L{BatchInserts}, reading and writing the rows of model objects.
    """

    def insertObj(
        self, obj: M, written: Callable[[M], Any] | None = None
    ) -> Deferred[M]:
        """
        Insert C{obj}'s column attributes that are not C{None}; set its C{id}.

        @param written: called with C{obj} once its row is written, even if
            the caller cancelled too late to stop it.
        @return: a L{Deferred} of C{obj}.
        """

        def inserted(result: tuple[Any, Any, dict[str, Any]]) -> M:
            saved, newId, stamps = result
            obj.__dict__.update(stamps)
            obj._setSaved(saved, newId)
            if written is not None:
                written(obj)
            return obj

        # A key the database may fail to report is read in a transaction.
        atomic = obj._keyTracked and not self.insertReturning
        return self.runWork(
            self._insertObj, (obj,), atomic=atomic, then=inserted, oneStatement=not atomic
        )

    def _insertObj(self, txn: Any, obj: Model) -> tuple[Any, Any, dict[str, Any]]:
        """
        @return: the saved state of C{obj} (see L{Model._savedState}), its
            new id (or key) and the timestamps it gets, for the reactor to
            set.
        """
        tablename = obj.tablename()
        columns = self.getSchema(tablename, txn)
        _startVersion(obj, tablename, columns)
        if obj._keyTracked:
            _startKey(obj, tablename, columns)
            values = obj.toHash(columns)
        else:
            values = obj.toHash(columns, exclude=["id"] if obj.id is None else None)
        stamps = _missing(self._creationStamps(txn, obj, tablename), values)
        values.update(stamps)
        names = list(values)
        self.checkValues(values.values(), names)
        if obj._keyTracked:
            newId = self.insertKeyedRow(
                txn, tablename, names, list(values.values()), obj._keyColumns
            )
        else:
            newId = self.insertRow(txn, tablename, names, list(values.values()), True)
            newId = newId if "id" in columns else None
        # The new id is set on the reactor, and recorded as saved there.
        saved = _withValues(obj._savedState(columns), stamps)
        return saved, newId, stamps

    def _creationStamps(self, txn: Any, model: Model, tablename: str) -> dict[str, Any]:
        """
        @return: the time now as C{model}'s C{TIMESTAMPS} columns keep it,
            by name; C{{}} without C{TIMESTAMPS}.
        @raise UnknownColumnError: if the table lacks one of the columns.
        """
        pair = timestampColumns(model.TIMESTAMPS)
        if pair is None:
            return {}
        return self.timestampValues(txn, tablename, pair, utcNow())

    def insertObjs(
        self, objects: Sequence[M], written: Callable[[M], Any] | None = None
    ) -> Deferred[Sequence[M]]:
        """
        Insert new objects of one class in multi-row statements, in one
        interaction, as L{insertObj} does for one; set their ids once the
        rows are written. Every value is checked before the first statement
        is sent.

        @param written: called with each object once the rows are written,
            even if the caller cancelled too late to stop it.
        @return: a L{Deferred} of C{objects}.
        """

        def setId(obj: M, saved: Any, newId: Any) -> None:
            obj._setSaved(saved, newId)

        assign = _recorder(objects, setId, written)
        return self.runWork(self._insertObjs, (objects,), atomic=True, then=assign)

    def _insertObjs(
        self, txn: Any, objects: Sequence[M]
    ) -> list[tuple[M, Any, Any, dict[str, Any]]]:
        """
        @return: each object inserted, with its saved state (see
            L{Model._savedState}), its new id and the timestamps it gets,
            for the reactor to set.
        """
        if not objects:
            return []
        tablename = objects[0].tablename()
        columns = self.getSchema(tablename, txn)
        # One reading of the clock for every row.
        timestamps = self._creationStamps(txn, objects[0], tablename)
        shapes: dict[tuple[str, ...], list[tuple[M, list[Any], dict[str, Any]]]] = {}
        key = objects[0]._keyColumns if objects[0]._keyTracked else None
        with bulkOnPoolThread():
            for index, obj in enumerate(objects):
                if not index % 256:
                    giveTurn()  # on a PostgresPool, the reactor's thread runs this
                _startVersion(obj, tablename, columns)
                if key is not None:
                    _startKey(obj, tablename, columns)
                values = obj.toHash(columns, exclude=["id"] if key is None else None)
                stamps = _missing(timestamps, values) if timestamps else {}
                values.update(stamps)
                shapes.setdefault(tuple(values), []).append((obj, list(values.values()), stamps))
            # Every shape's values are checked before anything is sent.
            checked = [
                (names, members, self.rowBatches(names, [values for _, values, _ in members]))
                for names, members in shapes.items()
            ]
        inserted: list[tuple[M, Any, Any, dict[str, Any]]] = []
        for names, members, batches in checked:
            if key is not None:
                ids = (
                    self.insertKeyedBatches(txn, tablename, names, batches, key) if names
                    else [self.insertKeyedRow(txn, tablename, [], [], key) for _ in members]
                )
            else:
                ids = (
                    self.insertBatches(txn, tablename, names, batches, True) if names
                    else [self.insertRow(txn, tablename, [], [], True) for _ in members]
                )
            with bulkOnPoolThread():
                for index, ((obj, _, stamps), newId) in enumerate(zip(members, ids)):
                    if not index % 256:
                        giveTurn()  # on a PostgresPool, the reactor's thread runs this
                    inserted.append(
                        (obj, _withValues(obj._savedState(columns), stamps), newId, stamps))
        return inserted

    def upsertObjs(
        self, objects: Sequence[M], uniqueBy: tuple[str, ...], update: tuple[str, ...] | None,
        written: Callable[[M], Any] | None = None,
    ) -> Deferred[Sequence[M]]:
        """
        Upsert objects of one class (see C{upsertRows}) by their column
        attributes (C{None} ones as C{NULL}, never C{id}), in one
        interaction; set each object's C{id} to its row's, and record as
        saved its key columns and those the upsert wrote (those of
        C{update}, or all of them when C{None}).

        @param uniqueBy: as L{upsertKeys} returns it.
        @param update: as L{upsertKeys} returns it.
        @param written: called with each object once the rows are written,
            even if the caller cancelled too late to stop it.
        @return: a L{Deferred} of C{objects}.
        """

        def setRow(obj: M, saved: Any, newId: Any) -> None:
            if newId is not None:
                key = obj._keyColumns
                values = dict(zip(key, newId if len(key) > 1 else (newId,)))
                obj.__dict__.update(values)
                saved = _withValues(saved, values)
            obj._setSaved(saved)

        assign = _recorder(objects, setRow, written)
        return self.runWork(
            self._upsertObjs, (objects, uniqueBy, update), atomic=True, then=assign
        )

    def _upsertObjs(
        self, txn: Any, objects: Sequence[M], uniqueBy: tuple[str, ...],
        update: tuple[str, ...] | None,
    ) -> list[tuple[M, Any, Any, dict[str, Any]]]:
        """
        @return: each object, with the saved state of the columns the upsert
            wrote, its row's id and the timestamps it gets, for the reactor
            to set.
        """
        if not objects:
            return []
        tablename = objects[0].tablename()
        columns = self.getSchema(tablename, txn)
        pair = timestampColumns(objects[0].TIMESTAMPS)
        key = objects[0]._keyColumns
        # The default id is never written; another key is, when it is set.
        skipped = () if objects[0]._keyTracked else ("id",)
        rows = []
        with bulkOnPoolThread():
            for obj in objects:
                if skipped == ():
                    _startKey(obj, tablename, columns)
                state = vars(obj)
                row = {
                    name: state[name] for name in columns if name not in skipped and name in state
                    and (state[name] is not None or name not in key)
                }
                if pair is not None and obj._savedColumns is not None and pair[1] not in (
                    obj._changedValues(pair[1:])
                ):
                    # As loaded, not set by the caller: the upsert stamps it.
                    row.pop(pair[1], None)
                rows.append(row)
        stamps: dict[str, Any] = {}
        kept: tuple[str, ...] = ()
        written = update
        if pair is not None:
            rows, written, stamps = self.stampedUpsert(txn, tablename, rows, update, pair)
            kept = pair[:1]
        # The primary key of an existing row is no column an upsert changes.
        keyKept = () if skipped else tuple(name for name in key if name not in uniqueBy)
        ids = self.upsertRows(txn, tablename, rows, uniqueBy, written, True, kept + keyKept, key)
        result = []
        with bulkOnPoolThread():
            for obj, row, newId in zip(objects, rows, ids):
                # A stamped creation time is the row's only if it was inserted:
                # the object is not told it.
                names = (
                    [name for name in row if name not in kept or row[name] is not stamps[name]]
                    if written is None else (*uniqueBy, *written)
                )
                given = {
                    name: row[name] for name in names
                    if name in stamps and row[name] is stamps[name]
                }
                result.append((obj, _withValues(obj._savedState(names), given), newId, given))
        return result

    def updateObj(
        self, obj: M, written: Callable[[M], Any] | None = None
    ) -> Deferred[M]:
        """
        Write C{obj}'s changed column attributes to its row (all of them when
        it was not loaded from the database); skip the C{UPDATE} when nothing
        changed. With a C{LOCK_VERSION} column, the C{UPDATE} matches the row
        only at the object's version, and sets the next one (which the object
        then holds).

        @param written: called with C{obj} once its row is written, even if
            the caller cancelled too late to stop it.
        @return: a L{Deferred} of C{obj}; it fails with L{StaleObjectError}
            when the row is no longer at the object's version (nothing is
            written, the object is left as it was).
        """

        def updated(result: tuple[Any, Any, dict[str, Any]]) -> M:
            saved, version, stamps = result
            obj.__dict__.update(stamps)
            if version is not None:
                setattr(obj, obj.LOCK_VERSION, version)  # type: ignore[arg-type]
            obj._setSaved(saved)
            if written is not None:
                written(obj)
            return obj

        return self.runWork(self._updateObj, (obj,), then=updated, oneStatement=True)

    def _updateObj(self, txn: Any, obj: Model) -> tuple[Any, Any, dict[str, Any]]:
        """
        @return: the saved state of C{obj} (see L{Model._savedState}), its
            new version (C{None} without a C{LOCK_VERSION} or an C{UPDATE})
            and its new update time (none without C{TIMESTAMPS} or an
            C{UPDATE}, or when the caller changed it), for the reactor to
            set.
        """
        tablename = obj.tablename()
        columns = self.getSchema(tablename, txn)
        changes = obj._changedValues(columns)
        if not obj._keyTracked:
            changes.pop("id", None)
        if not changes:
            return obj._savedState(columns), None, {}
        pair = timestampColumns(obj.TIMESTAMPS)
        stamps: dict[str, Any] = {}
        if pair is not None and pair[1] not in changes:
            stamps = self.timestampValues(txn, tablename, pair[1:], utcNow())
            changes.update(stamps)
        lock = obj.LOCK_VERSION
        key = obj._keyColumns
        stored = obj._storedKey()
        keyArgs = [stored] if len(key) == 1 else list(stored)
        condition = " AND ".join(f"{self.quoteIdentifier(name)} = ?" for name in key)
        if key == ("id",):
            condition = "id = ?"
        where: list[Any] = [condition, *keyArgs]
        version = None
        if lock is not None:
            current = lockedVersion(obj, tablename, columns)
            version = changes[lock] = (current or 0) + 1
            quoted = self.quoteIdentifier(lock)
            where = (
                [f"{condition} AND {quoted} IS NULL", *keyArgs] if current is None
                else [f"{condition} AND {quoted} = ?", *keyArgs, current]
            )
        names = list(changes)
        self.checkValues(changes.values(), names)
        query, args = self.buildUpdate(tablename, names, where, None)
        self.run(txn, query, list(changes.values()) + args)
        if lock is not None:
            if self.matchedRows(txn) == 0:
                raise StaleObjectError(
                    f"{obj!r} was not saved: the row of {tablename} with {_named(key, stored)} "
                    f"is no longer at {lock} {current!r} (changed or deleted since loaded)",
                    obj,
                )
        # MySQL counts only the rows it changed: look before failing.
        elif txn.rowcount == 0 and not self._rowExists(txn, tablename, key, stored):
            raise DBObjectSaveError(
                f"{obj!r} was not saved: {tablename} has no row with {_named(key, stored)} "
                f"(deleted, or its insert was rolled back)"
            )
        saved, values = obj._savedState(columns)
        if lock is not None:
            values = tuple(version if name == lock else value for name, value in zip(saved, values))
        return _withValues((saved, values), stamps), version, stamps

    def updateObjs(
        self, objects: Sequence[M], written: Callable[[M], Any] | None = None
    ) -> Deferred[Sequence[M]]:
        """
        Write the changed column attributes of loaded objects of one class
        to their rows, as L{updateObj} does for one, in one atomic
        interaction: one C{UPDATE} per set of changed columns (and batch of
        rows), none for objects without changes.

        @param written: called with each object once the rows are written,
            even if the caller cancelled too late to stop it.
        @return: a L{Deferred} of C{objects}. With a C{LOCK_VERSION}, it
            fails with L{StaleObjectError} (naming the first object whose
            row moved on) when a row is no longer at its object's version:
            nothing is written, the objects are left as they were. It fails
            with L{DBObjectSaveError}, writing nothing, when a row is gone.
        """

        def setSaved(obj: M, saved: Any, version: Any) -> None:
            if version is not None:
                setattr(obj, obj.LOCK_VERSION, version)  # type: ignore[arg-type]
            obj._setSaved(saved)

        assign = _recorder(objects, setSaved, written)
        return self.runWork(self._updateObjs, (objects,), atomic=True, then=assign)

    def _updateObjs(
        self, txn: Any, objects: Sequence[M]
    ) -> list[tuple[M, Any, Any, dict[str, Any]]]:
        """
        @return: each object, with its saved state (see
            L{Model._savedState}), its new version (C{None} without a
            C{LOCK_VERSION} or changes) and its new update time (as
            L{_updateObj} gives them), for the reactor to set.
        """
        if not objects:
            return []
        tablename = objects[0].tablename()
        columns = self.getSchema(tablename, txn)
        declared = self.declaredTypes(txn, tablename)
        lock = objects[0].LOCK_VERSION
        pair = timestampColumns(objects[0].TIMESTAMPS)
        # One reading of the clock for every row.
        now = self.timestampValues(txn, tablename, pair[1:], utcNow()) if pair else {}
        groups: dict[tuple[str, ...], list[tuple[M, Any, tuple[Any, ...]]]] = {}
        result: list[tuple[M, Any, Any, dict[str, Any]]] = []
        key = objects[0]._keyColumns
        with bulkOnPoolThread():
            for obj in objects:
                changes = obj._changedValues(columns)
                if not obj._keyTracked:
                    changes.pop("id", None)
                if lock is not None:
                    changes.pop(lock, None)
                if not changes:
                    result.append((obj, obj._savedState(columns), None, {}))
                    continue
                stamps = dict(now) if pair is not None and pair[1] not in changes else {}
                changes.update(stamps)
                self.checkValues(changes.values(), list(changes))
                version = current = None
                saved, values = obj._savedState(columns)
                if lock is not None:
                    current = lockedVersion(obj, tablename, columns)
                    version = (current or 0) + 1
                    values = tuple(
                        version if name == lock else value for name, value in zip(saved, values)
                    )
                names = tuple(changes)
                groups.setdefault(names, []).append(
                    (obj, current, tuple(changes.values()))
                )
                if key != ("id",) and obj._storedKey() is None:
                    raise DBObjectSaveError(f"{obj!r} has no key: it was not loaded or saved")
                result.append((obj, _withValues((saved, values), stamps), version, stamps))
        # Versioned rows that fail to match are looked up as they were
        # before this update: it bumped the others.
        savepoint = self.savepoint(txn) if lock is not None and groups else None
        for names, members in groups.items():
            size = updateManyBatch(self, len(names) * len(key), lock is not None)
            types = tuple(declared[name] for name in names)
            for start in range(0, len(members), size):
                batch = members[start:start + size]
                statement = UpdateMany(
                    tablename, names, types,
                    tuple((obj._storedKey(), current, values) for obj, current, values in batch),
                    lock, key,
                )
                query, args = compileUpdateMany(self, statement)
                self.run(txn, query, args)
                if self.matchedRows(txn) < len(batch):
                    if savepoint is not None:
                        self.run(txn, f"ROLLBACK TO SAVEPOINT {savepoint}", [])
                    self._raiseUnmatched(txn, tablename, lock, batch)
        return result

    def _raiseUnmatched(
        self, txn: Any, tablename: str, lock: str | None,
        batch: Sequence[tuple[Model, Any, tuple[Any, ...]]],
    ) -> None:
        """
        Find the objects of C{batch} whose rows an update did not match.

        @raise StaleObjectError: with C{lock}, naming them.
        @raise DBObjectSaveError: without C{lock}, naming those whose rows
            are gone.
        """
        key = batch[0][0]._keyColumns
        width = len(key)
        ids = tuple(obj._storedKey() for obj, _, _ in batch)
        selected = tuple(map(Column, key)) + (() if lock is None else (Column(lock),))
        # A locking read, where a plain one could see an older snapshot.
        query, args = compileSelect(self, Select(
            tablename, selected, where=(keyIn(key, ids),), lock=self.upsertLookupLock
        ))
        self.run(txn, query, args)
        rows = {
            row[0] if width == 1 else tuple(row[:width]): row[-1] for row in txn.fetchall()
        }
        if lock is None:
            gone = [obj for obj, _, _ in batch if obj._storedKey() not in rows]
            if not gone:
                # MySQL counts only the rows it changed: every row is there.
                return
            raise DBObjectSaveError(
                f"nothing was saved: {tablename} has no row for {len(gone)} object(s), "
                f"the first {gone[0]!r} (deleted, or its insert was rolled back)"
            )
        stale = [
            obj for obj, current, _ in batch
            if obj._storedKey() not in rows or rows[obj._storedKey()] != current
        ]
        raise StaleObjectError(
            f"nothing was saved: the rows of {tablename} of {len(stale)} object(s) are no "
            f"longer at their {lock} (changed or deleted since loaded): "
            + ", ".join(map(repr, stale[:10])) + (", ..." if len(stale) > 10 else ""),
            stale[0] if stale else batch[0][0],
        )

    def _rowExists(self, txn: Any, tablename: str, key: tuple[str, ...], value: Any) -> bool:
        """
        @return: whether C{tablename} has the row whose C{key} columns hold
            C{value}.
        """
        select = Select(tablename, (Text("1"),), where=(keyEquals(key, value),))
        self.run(txn, *compileSelect(self, select))
        return txn.fetchone() is not None

    def refreshObj(self, obj: M) -> Deferred[M]:
        """
        Reload C{obj}'s attributes from its row.

        @return: a L{Deferred} of C{obj}.
        @raise CannotRefreshError: (in the Deferred) if the row is gone.
        """
        return self.runRead(self._refreshObj, obj)

    def _refreshObj(self, txn: Any, obj: M) -> M:
        tablename = obj.tablename()
        key, stored = obj._keyColumns, obj._storedKey()
        if obj._isNew() or stored is None:
            raise CannotRefreshError(f"{obj!r} has not been saved, so it has no row")
        query, args = compileSelect(self, Select(tablename, where=(keyEquals(key, stored),)))
        readers = self.columnReaders(txn, tablename)
        self.run(txn, query, args)
        row = txn.fetchone()
        if row is None:
            raise CannotRefreshError(f"{tablename} has no row with {_named(key, stored)}")
        columns = tuple(d[0] for d in txn.description)
        convert = rowConverter(columns, readers)
        obj.__dict__.update(zip(columns, row if convert is None else convert(row)))
        obj._markSaved(columns)
        return obj

    def selectObjects(
        self, klass: type[Model], query: str, args: Sequence[Any], one: bool
    ) -> Deferred[Any]:
        """
        Run a select on C{klass}'s table and build objects from the rows on
        the pool thread (without running C{afterInit}).

        @return: a L{Deferred} of one object or C{None} when C{one}, otherwise
            of a list of objects.
        """
        return self.runRead(self._selectObjects, klass, query, args, one)

    def selectKeyedObjects(
        self, klass: type[Model], query: str, args: Sequence[Any], width: int = 1
    ) -> Deferred[list[tuple[Any, Any]]]:
        """
        Run a select (in the driver's paramstyle) whose last C{width}
        columns are a key and the others are columns of C{klass}'s table.

        @return: a L{Deferred} of a list of C{(key, object)} pairs (the key a
            tuple when C{width} is more than 1), the objects built without
            running C{afterInit}.
        """

        def select(txn: Any) -> list[tuple[Any, Any]]:
            readers = self.columnReaders(txn, klass.tablename())
            with self.manyRowsCursor(txn) as cursor:
                self.run(cursor, query, args)
                columns, mutable = self.resultColumns(cursor)
                columns = columns[:-width]
                rows = self.fetchRows(cursor, rowConverter(columns, readers))
            mutable = tuple(index for index in mutable if index < len(columns))
            objects = klass._fromRows(columns, [row[:-width] for row in rows], mutable)
            klass._storedIn(self.database, objects)
            if width == 1:
                return [(row[-1], obj) for row, obj in zip(rows, objects)]
            return [(tuple(row[-width:]), obj) for row, obj in zip(rows, objects)]

        return self.runRead(select)

    def _selectObjects(
        self, txn: Any, klass: type[Model], query: str, args: Sequence[Any], one: bool
    ) -> Any:
        readers = self.columnReaders(txn, klass.tablename())
        with self.manyRowsCursor(txn, not one) as cursor:
            self.run(cursor, query, args)
            columns, mutable = self.resultColumns(cursor)
            convert = rowConverter(columns, readers)
            if one:
                row = cursor.fetchone()
                if row is None:
                    return None
                obj = klass._fromRow(columns, row if convert is None else convert(row), mutable)
                klass._storedIn(self.database, (obj,))
                return obj
            rows = self.fetchRows(cursor, convert)
        objects = klass._fromRows(columns, rows, mutable)
        klass._storedIn(self.database, objects)
        return objects

    def resultColumns(self, cursor: Any) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """
        @return: the names of the columns of the result on C{cursor}, and
            the positions of those whose values may be mutable (see
            C{mutableColumns}).
        """
        description = cursor.description
        return tuple(d[0] for d in description), self.mutableColumns(description)


def _recorder(
    objects: Sequence[M], record: Callable[[M, Any, Any], None],
    written: Callable[[M], Any] | None,
) -> Callable[[list[tuple[M, Any, Any, dict[str, Any]]]], Deferred[Sequence[M]]]:
    """
    @param record: called with each object written, its saved state and
        what else the write gave it (its new key, or version), to record
        them.
    @param written: called with each object then.
    @return: what takes the C{(object, saved state, key or version,
        timestamps)} of a bulk write, from the pool thread, and gives each
        object its timestamps and the rest, a slice at a time: the rows
        are written, so every object gets them, whatever the caller does
        meanwhile. Its L{Deferred} fires with C{objects}.
    """

    def assign(result: list[tuple[M, Any, Any, dict[str, Any]]]) -> Deferred[Sequence[M]]:

        def one(item: tuple[M, Any, Any, dict[str, Any]]) -> None:
            obj, saved, extra, stamps = item
            obj.__dict__.update(stamps)
            record(obj, saved, extra)
            if written is not None:
                written(obj)

        return inSlices(one, result, cancellable=False).addCallback(lambda _: objects)

    return assign


def _startVersion(obj: Model, tablename: str, columns: Sequence[str]) -> None:
    """
    Give C{obj}, about to be inserted, the first version, 0, unless it has
    one (set on the pool thread: a failed insert leaves it, harmlessly).
    """
    lock = obj.LOCK_VERSION
    if lock is not None and lockedVersion(obj, tablename, columns, None) is None:
        setattr(obj, lock, 0)


def _startKey(obj: Model, tablename: str, columns: Sequence[str]) -> None:
    """
    Give C{obj}, about to be inserted, a key from its C{KEY_GENERATOR}
    unless it has one (set on the pool thread, like L{_startVersion}).

    @raise UnknownColumnError: if a key column is no column of the table.
    """
    key = obj._keyColumns
    for name in key:
        if name not in columns:
            raise UnknownColumnError(
                f"{type(obj).__name__}.PRIMARY_KEY: {tablename} has no column {name!r}"
            )
    # Read from the class: a function stored there is no method of objects.
    generator = type(obj).KEY_GENERATOR
    if generator is not None and getattr(obj, key[0], None) is None:
        setattr(obj, key[0], generator())


def _named(key: tuple[str, ...], value: Any) -> str:
    """
    @return: how a message names the row whose C{key} columns hold C{value}.
    """
    if len(key) == 1:
        return f"{key[0]} {value!r}"
    return f"({', '.join(key)}) {value!r}"


def timestampColumns(value: Any) -> tuple[str, str] | None:
    """
    @param value: a model's C{TIMESTAMPS}.
    @return: the creation and update time columns it names: C{created_at}
        and C{updated_at} for C{True}, the pair given, or C{None} for
        C{None} or C{False}.
    @raise InvalidIdentifierError: for anything else, or a name that is not
        a plain identifier.
    """
    if value is None or value is False:
        return None
    if value is True:
        return _DEFAULT_TIMESTAMPS
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] != value[1]:
        return checkIdentifier(value[0]), checkIdentifier(value[1])
    raise InvalidIdentifierError(
        f"TIMESTAMPS must be True or a pair of two column names, not {safeRepr(value)}"
    )


_DEFAULT_TIMESTAMPS = ("created_at", "updated_at")


def primaryKeyColumns(value: Any, generator: Any = None) -> tuple[str, ...]:
    """
    @param value: a model's C{PRIMARY_KEY}: a column name, or a tuple of
        them for a composite key.
    @param generator: the model's C{KEY_GENERATOR}, or C{None}.
    @return: the key's columns.
    @raise InvalidIdentifierError: for anything else, a name that is not a
        plain identifier or given twice, or a C{KEY_GENERATOR} that is not
        callable or is given with a composite key.
    """
    if isinstance(value, str):
        columns: tuple[str, ...] = (checkIdentifier(value),)
    elif isinstance(value, (tuple, list)) and value and all(isinstance(n, str) for n in value):
        columns = tuple(map(checkIdentifier, value))
        if len(set(columns)) != len(columns):
            raise InvalidIdentifierError(f"PRIMARY_KEY names a column twice: {columns!r}")
    else:
        raise InvalidIdentifierError(
            f"PRIMARY_KEY must be a column name or a tuple of them, not {safeRepr(value)}"
        )
    if generator is not None:
        if not callable(generator):
            raise InvalidIdentifierError(
                f"KEY_GENERATOR must be callable (like uuid.uuid4), not {safeRepr(generator)}"
            )
        if len(columns) > 1:
            raise InvalidIdentifierError(
                "KEY_GENERATOR makes the value of a one-column PRIMARY_KEY; "
                "set the columns of a composite key yourself"
            )
    return columns



def _missing(stamps: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """
    @return: the C{stamps} whose columns have no value (or C{None}) in
        C{values}: a value the caller set is kept.
    """
    return {name: value for name, value in stamps.items() if values.get(name) is None}


def _withValues(
    saved: tuple[tuple[str, ...], tuple[Any, ...]], values: dict[str, Any]
) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """
    @return: the saved state C{saved} with C{values} too.
    """
    if not values:
        return saved
    merged = dict(zip(*saved))
    merged.update(values)
    return tuple(merged), tuple(merged.values())


_MISSING: Any = object()


def lockedVersion(
    obj: Model, tablename: str, columns: Sequence[str], default: Any = _MISSING
) -> Any:
    """
    @return: C{obj}'s version: the value of its C{LOCK_VERSION} attribute
        (C{default} when it has none).
    @raise UnknownColumnError: if C{LOCK_VERSION} is no column of the table.
    @raise DBObjectSaveError: if C{obj} has no version and no C{default}
        was given, or one that is not an integer.
    """
    lock = obj.LOCK_VERSION
    assert lock is not None
    if lock not in columns:
        raise UnknownColumnError(
            f"{type(obj).__name__}.LOCK_VERSION: {tablename} has no column {lock!r}"
        )
    version = getattr(obj, lock, default)
    if version is _MISSING:
        raise DBObjectSaveError(
            f"{obj!r} has no {lock}: load it (or set it) before saving or deleting"
        )
    if version is not None and (type(version) is bool or not isinstance(version, int)):
        raise DBObjectSaveError(f"{obj!r} has {lock} {version!r}, not an integer")
    return version
