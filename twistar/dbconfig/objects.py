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
from twistar.dbconfig.runner import rowConverter
from twistar.exceptions import CannotRefreshError, DBObjectSaveError
from twistar.slicing import inSlices


class Model(Protocol):
    """
    What the SQL layer uses of a model object (a
    L{twistar.dbobject.DBObject}) and of its class.
    """

    id: Any

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

        def inserted(result: tuple[Any, Any]) -> M:
            saved, newId = result
            obj._setSaved(saved, newId)
            if written is not None:
                written(obj)
            return obj

        return self.runWork(self._insertObj, (obj,), then=inserted)

    def _insertObj(self, txn: Any, obj: Model) -> tuple[Any, Any]:
        tablename = obj.tablename()
        columns = self.getSchema(tablename, txn)
        values = obj.toHash(columns, exclude=["id"] if obj.id is None else None)
        names = list(values)
        self.checkValues(values.values(), names)
        newId = self.insertRow(txn, tablename, names, list(values.values()), True)
        # The new id is set on the reactor, and recorded as saved there.
        return obj._savedState(columns), newId if "id" in columns else None

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

        def assign(result: list[tuple[M, Any, Any]]) -> Deferred[Sequence[M]]:

            def setId(inserted: tuple[M, Any, Any]) -> None:
                obj, saved, newId = inserted
                obj._setSaved(saved, newId)
                if written is not None:
                    written(obj)

            # The rows are written: every object gets its id, whatever the
            # caller does meanwhile.
            return inSlices(setId, result, cancellable=False).addCallback(lambda _: objects)

        return self.runWork(self._insertObjs, (objects,), atomic=True, then=assign)

    def _insertObjs(
        self, txn: Any, objects: Sequence[M]
    ) -> list[tuple[M, Any, Any]]:
        """
        @return: each object inserted, with its saved state (see
            L{Model._savedState}) and its new id, for the reactor to set.
        """
        if not objects:
            return []
        tablename = objects[0].tablename()
        columns = self.getSchema(tablename, txn)
        shapes: dict[tuple[str, ...], list[tuple[M, list[Any]]]] = {}
        for obj in objects:
            values = obj.toHash(columns, exclude=["id"])
            shapes.setdefault(tuple(values), []).append((obj, list(values.values())))
        # Every shape's values are checked before anything is sent.
        checked = [
            (names, members, self.rowBatches(names, [values for _, values in members]))
            for names, members in shapes.items()
        ]
        inserted: list[tuple[M, Any, Any]] = []
        for names, members, batches in checked:
            ids = (
                self.insertBatches(txn, tablename, names, batches, True) if names
                else [self.insertRow(txn, tablename, [], [], True) for _ in members]
            )
            inserted.extend(
                (obj, obj._savedState(columns), newId)
                for (obj, _), newId in zip(members, ids)
            )
        return inserted

    def updateObj(
        self, obj: M, written: Callable[[M], Any] | None = None
    ) -> Deferred[M]:
        """
        Write C{obj}'s changed column attributes to its row (all of them when
        it was not loaded from the database); skip the C{UPDATE} when nothing
        changed.

        @param written: called with C{obj} once its row is written, even if
            the caller cancelled too late to stop it.
        @return: a L{Deferred} of C{obj}.
        """

        def updated(saved: Any) -> M:
            obj._setSaved(saved)
            if written is not None:
                written(obj)
            return obj

        return self.runWork(self._updateObj, (obj,), then=updated)

    def _updateObj(self, txn: Any, obj: Model) -> Any:
        tablename = obj.tablename()
        columns = self.getSchema(tablename, txn)
        changes = obj._changedValues(columns)
        changes.pop("id", None)
        if changes:
            names = list(changes)
            self.checkValues(changes.values(), names)
            query, args = self.buildUpdate(tablename, names, ["id = ?", obj.id], None)
            self.run(txn, query, list(changes.values()) + args)
            # MySQL counts only the rows it changed: look before failing.
            if txn.rowcount == 0 and not self._rowExists(txn, tablename, obj.id):
                raise DBObjectSaveError(
                    f"{obj!r} was not saved: {tablename} has no row with id {obj.id!r} "
                    f"(deleted, or its insert was rolled back)"
                )
        return obj._savedState(columns)

    def _rowExists(self, txn: Any, tablename: str, id: Any) -> bool:
        query, args = self.buildSelect(tablename, id=id, select="1")
        self.run(txn, query, args)
        return txn.fetchone() is not None

    def refreshObj(self, obj: M) -> Deferred[M]:
        """
        Reload C{obj}'s attributes from its row.

        @return: a L{Deferred} of C{obj}.
        @raise CannotRefreshError: (in the Deferred) if the row is gone.
        """
        return self.runInteraction(self._refreshObj, obj)

    def _refreshObj(self, txn: Any, obj: M) -> M:
        tablename = obj.tablename()
        if obj.id is None:
            raise CannotRefreshError(f"{obj!r} has not been saved, so it has no row")
        query, args = self.buildSelect(tablename, id=obj.id)
        readers = self.columnReaders(txn, tablename)
        self.run(txn, query, args)
        row = txn.fetchone()
        if row is None:
            raise CannotRefreshError(f"{tablename} has no row with id {obj.id!r}")
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
        return self.runInteraction(self._selectObjects, klass, query, args, one)

    def selectKeyedObjects(
        self, klass: type[Model], query: str, args: Sequence[Any]
    ) -> Deferred[list[tuple[Any, Any]]]:
        """
        Run a select (in the driver's paramstyle) whose last column is a key
        and the others are columns of C{klass}'s table.

        @return: a L{Deferred} of a list of C{(key, object)} pairs, the
            objects built without running C{afterInit}.
        """

        def select(txn: Any) -> list[tuple[Any, Any]]:
            readers = self.columnReaders(txn, klass.tablename())
            with self.manyRowsCursor(txn) as cursor:
                self.run(cursor, query, args)
                description = cursor.description
                columns = tuple(d[0] for d in description)[:-1]
                rows = self.fetchRows(cursor, rowConverter(columns, readers))
            mutable = self.mutableColumns(description[:-1])
            objects = klass._fromRows(columns, [row[:-1] for row in rows], mutable)
            return [(row[-1], obj) for row, obj in zip(rows, objects)]

        return self.runInteraction(select)

    def _selectObjects(
        self, txn: Any, klass: type[Model], query: str, args: Sequence[Any], one: bool
    ) -> Any:
        readers = self.columnReaders(txn, klass.tablename())
        with self.manyRowsCursor(txn, not one) as cursor:
            self.run(cursor, query, args)
            description = cursor.description
            columns = tuple(d[0] for d in description)
            convert = rowConverter(columns, readers)
            if one:
                row = cursor.fetchone()
                if row is None:
                    return None
                mutable = self.mutableColumns(description)
                return klass._fromRow(
                    columns, row if convert is None else convert(row), mutable
                )
            rows = self.fetchRows(cursor, convert)
        return klass._fromRows(columns, rows, self.mutableColumns(description))
