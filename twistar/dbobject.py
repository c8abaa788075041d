# -*- test-case-name: twistar.tests.test_dbobject,twistar.tests.test_locking -*-
"""
L{DBObject}: the model base class. One subclass per table.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from inflection import pluralize, underscore
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from twistar.bulk import CREATE_HOOKS, UPDATE_HOOKS, BulkWrites
from twistar.context import currentTransaction
from twistar.dbconfig.builder import Column, Equals, Select, Term, keyEquals
from twistar.dbconfig.objects import lockedVersion, primaryKeyColumns, timestampColumns
from twistar.dbconfig.sqltext import checkIdentifier, safeRepr
from twistar.dbconfig.writes import Delete, compileDelete
from twistar.eager import forgetLoaded, preload
from twistar.exceptions import (
    DBObjectSaveError,
    IntegrityError,
    InvalidRelationshipError,
    StaleObjectError,
    TransactionError,
    UnknownColumnError,
)
from twistar.pgpool import giveTurn
from twistar.query import Page, Query
from twistar.querylog import addSecretColumns, loaded
from twistar.registry import Registry
from twistar.relationships import (
    KINDS,
    RelationshipDescriptor,
    buildSpec,
    habtmJoinColumns,
)
from twistar.replicas import DEFAULT_DATABASE, RoutedModel, currentRoute, routedTo
from twistar.slicing import ROWS_PER_COLLECTION, collectorPaused, inSlices
from twistar.through import checkPath, checkThroughs, loadRelationship, relationClass
from twistar.transaction import transaction
from twistar.utils import deferredDict, deferredOf
from twistar.validation import Errors

T = TypeVar("T", bound="DBObject")
_log = Logger(namespace="twistar")
Where = Sequence[Any]
"""A condition of the 2.0 finders: C{[sql, args...]}, C{?} placeholders."""



@cache
def _tableNameFor(className: str) -> str:
    return pluralize(underscore(className))


# Values that can change in place: a saved object keeps copies of them.
_MUTABLE_TYPES = frozenset({list, dict, set, bytearray})


def _savedCopy(value: Any) -> Any:
    """
    @return: C{value} as the object remembers it was saved: a copy when it
        can change in place, so that such a change counts as one.
    """
    return deepcopy(value) if type(value) in _MUTABLE_TYPES else value


# Rows from which objects are made with the garbage collector paused.
_MANY_ROWS = 256


class _LazyErrors:
    """
    Gives each object its own L{Errors} the first time it is read, so objects
    loaded from rows pay nothing for it.
    """

    def __get__(self, inst: Any, owner: type | None = None) -> Any:
        if inst is None:
            return self
        errors = inst.__dict__["errors"] = Errors()
        return errors


class DBObjectType(type):
    """
    The metaclass of models: installs relationship descriptors when the class
    is defined, and again when a relationship list is reassigned.
    """

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> None:
        super().__init__(name, bases, namespace)
        cls._installRelationships()
        if namespace.get("LOCK_VERSION") is not None:
            checkIdentifier(namespace["LOCK_VERSION"])
        timestampColumns(namespace.get("TIMESTAMPS"))
        addSecretColumns(name, namespace.get("SECRET_COLUMNS", ()))
        cls._setKey()

    def __setattr__(cls, name: str, value: Any) -> None:
        if name == "LOCK_VERSION" and value is not None:
            checkIdentifier(value)
        if name == "TIMESTAMPS":
            timestampColumns(value)
        if name == "SECRET_COLUMNS":
            addSecretColumns(cls.__name__, value)
        if name in ("PRIMARY_KEY", "KEY_GENERATOR"):
            others = {name: getattr(cls, name, None) for name in ("PRIMARY_KEY", "KEY_GENERATOR")}
            others[name] = value
            primaryKeyColumns(others["PRIMARY_KEY"], others["KEY_GENERATOR"])
        super().__setattr__(name, value)
        if name in KINDS:
            cls._installRelationships()
        if name in ("PRIMARY_KEY", "KEY_GENERATOR"):
            cls._setKey()

    def _setKey(cls) -> None:
        """
        Work out the key columns from C{PRIMARY_KEY}, and whether a new
        object is told by its saved state rather than by a C{None} C{id}.
        """
        columns = primaryKeyColumns(
            getattr(cls, "PRIMARY_KEY", "id"), getattr(cls, "KEY_GENERATOR", None)
        )
        type.__setattr__(cls, "_keyColumns", columns)
        tracked = columns != ("id",) or getattr(cls, "KEY_GENERATOR", None) is not None
        type.__setattr__(cls, "_keyTracked", tracked)

    def _installRelationships(cls) -> None:
        for name, value in list(vars(cls).items()):
            if isinstance(value, RelationshipDescriptor):
                type.__delattr__(cls, name)
        specs = {}
        for kind in KINDS:
            declarations = getattr(cls, kind, None) or ()
            if isinstance(declarations, (str, dict)):
                raise InvalidRelationshipError(
                    f"{cls.__name__}.{kind} must be a list of names or dicts, "
                    f"not {declarations!r}"
                )
            for declaration in declarations:
                spec = buildSpec(kind, cls, declaration)
                taken = hasattr(DBObject, spec.name) and spec.name not in QUERY_STARTERS
                if spec.name in specs or taken:
                    raise InvalidRelationshipError(
                        f"{cls.__name__}.{kind}: the name {spec.name!r} is already taken "
                        f"(by another relationship or by DBObject itself)"
                    )
                specs[spec.name] = spec
        checkThroughs(cls, specs)
        for spec in specs.values():
            type.__setattr__(cls, spec.name, RelationshipDescriptor(spec, relationClass(spec)))
        type.__setattr__(cls, "_relationships", specs)


class DBObject(BulkWrites, RoutedModel, metaclass=DBObjectType):
    """
    A row of a table. The table is the lower-case plural of the class name
    (C{FavoriteColor} uses C{favorite_colors}) unless C{TABLENAME} is set.

    Relationships are declared with the class attributes C{HASMANY},
    C{HASONE}, C{BELONGSTO} and C{HABTM}.

    C{LOCK_VERSION} names a column for optimistic locking: every C{UPDATE}
    and C{DELETE} of an object matches its row only at the object's version
    (an integer, 0 on insert) and an C{UPDATE} sets the next one; when the
    row has moved on, they fail with L{StaleObjectError} and write nothing.

    C{TIMESTAMPS = True} (columns C{created_at} and C{updated_at}) or a pair
    of column names: an insert sets both to the time now (but a value the
    object has), and every C{UPDATE} that changes something sets the second
    (but when it is one of the changes): see the models page of the docs.

    C{PRIMARY_KEY} names the key column (C{id} by default), or is a tuple
    of columns for a composite key. C{KEY_GENERATOR}, a callable such as
    C{uuid.uuid4}, gives a one-column key its value when an object without
    one is inserted; otherwise the database makes it, or the application
    sets it. With a key other than C{id} (or a generator), an object is new
    until it is saved or loaded, whatever its key holds.

    C{SECRET_COLUMNS}, a tuple of column names (such as C{("password",)}):
    their values are redacted from query events (see L{twistar.querylog}).
    """

    TABLENAME: str | None = None
    """The table's name; C{None}: the plural of the class name."""
    DATABASE: str | None = None
    """The name of the database the table is in (see
    L{Registry.addDatabase}); C{None}: the default one, L{Registry.DBPOOL}'s."""
    PRIMARY_KEY: str | tuple[str, ...] = "id"
    """The key column, or a tuple of them for a composite key."""
    KEY_GENERATOR: Callable[[], Any] | None = None
    """Makes the value of a one-column key on insert (such as C{uuid.uuid4})."""
    LOCK_VERSION: str | None = None
    """The integer column of optimistic locking, or C{None}."""
    TIMESTAMPS: bool | tuple[str, str] | None = None
    """C{True} (C{created_at}, C{updated_at}), a pair of column names, or C{None}."""
    SECRET_COLUMNS: tuple[str, ...] = ()
    """Columns whose values are redacted from query events and records."""
    HASMANY: list[Any] = []
    """Has-many relationships: names, or dicts of a C{name} and options."""
    HASONE: list[Any] = []
    """Has-one relationships, declared as for C{HASMANY}."""
    BELONGSTO: list[Any] = []
    """Belongs-to relationships, declared as for C{HASMANY}."""
    HABTM: list[Any] = []
    """Has-and-belongs-to-many relationships, declared as for C{HASMANY}."""

    id: Any = None
    """The default key column: C{None} until the object is saved."""
    errors = _LazyErrors()
    _deleted = False
    # The columns and values of the row as last loaded or saved (two shared
    # references per object, not a new tuple: cheaper to make and to collect).
    _savedColumns: tuple[str, ...] | None = None
    _savedValues: Sequence[Any] = ()
    _relationships: dict[str, Any] = {}
    _keyColumns: tuple[str, ...] = ("id",)
    _keyTracked = False

    if TYPE_CHECKING:
        # Column attributes are set from rows at run time: a type checker
        # knows those the class annotates, and takes any other as Any.
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __init__(self, **kwargs: Any) -> None:
        """
        Set the given attributes; C{id} stays C{None} until the object is saved.
        """
        for name, value in kwargs.items():
            setattr(self, name, value)

    @classmethod
    def _fromRow(
        cls: type[T], columns: tuple[str, ...], row: Sequence[Any], mutable: Sequence[int] = ()
    ) -> T:
        return cls._fromRows(columns, [row], mutable)[0]

    @classmethod
    def _fromRows(
        cls: type[T], columns: tuple[str, ...], rows: Sequence[Sequence[Any]],
        mutable: Sequence[int] = (),
    ) -> list[T]:
        """
        Build objects from rows without calling C{__init__} or C{afterInit}.

        @param mutable: the positions of the columns whose values may be
            mutable (lists, dicts): the object keeps copies of those to tell
            changes made in place.
        """
        if len(rows) < _MANY_ROWS:
            return cls._buildFromRows(columns, rows, mutable)
        # A young collection first: CPython stops tracking a tuple of plain
        # values once the collector has looked at it, so the rows and the
        # columns it has not seen yet become untracked, and so do the
        # objects' dicts that hold only them: one object per row for the
        # collector to scan instead of three. Then the collector stays
        # paused (it would scan the growing heap again and again), but for
        # collections of the youngest generation, each of a bounded size.
        # The objects stay out of the oldest generation, whose collections
        # scan the whole heap, until they outlive the next collection of the
        # middle one: a caller done with them by then never adds to those.
        gc.collect(0)
        objects: list[T] = []
        with collectorPaused():
            for start in range(0, len(rows), ROWS_PER_COLLECTION):
                if start:
                    gc.collect(0)
                    giveTurn()  # built on the reactor's thread (a PostgresPool)
                objects += cls._buildFromRows(
                    columns, rows[start:start + ROWS_PER_COLLECTION], mutable
                )
        return objects

    @classmethod
    def _buildFromRows(
        cls: type[T], columns: tuple[str, ...], rows: Sequence[Sequence[Any]],
        mutable: Sequence[int],
    ) -> list[T]:
        new = cls.__new__
        objects: list[T] = []
        append = objects.append
        for row in rows:
            obj = new(cls)
            obj.__dict__ = state = dict(zip(columns, row))
            state["_savedColumns"] = columns
            if mutable and not _MUTABLE_TYPES.isdisjoint([type(row[i]) for i in mutable]):
                row = tuple(map(_savedCopy, row))
            state["_savedValues"] = row
            append(obj)
        loaded(objects)
        return objects

    # -- keys ---------------------------------------------------------------

    def _keyValue(self) -> Any:
        """
        @return: the object's primary key: the value of its key column, a
            tuple of them for a composite key (C{None} when one is unset).
        """
        columns = self._keyColumns
        if len(columns) == 1:
            return getattr(self, columns[0], None)
        state = self.__dict__
        values = tuple(state.get(name) for name in columns)
        return None if None in values else values

    def _storedKey(self) -> Any:
        """
        @return: the key of the object's row: as last loaded or saved when
            the key columns can change (a key other than C{id}), so that a
            changed key is written to the row it names.
        """
        if not self._keyTracked or self._savedColumns is None:
            return self._keyValue()
        saved = dict(zip(self._savedColumns, self._savedValues))
        columns = self._keyColumns
        values = tuple(saved.get(name, self.__dict__.get(name)) for name in columns)
        if len(columns) == 1:
            return values[0]
        return None if None in values else values

    def _isNew(self) -> bool:
        """
        @return: whether saving the object inserts a row: its C{id} is
            C{None} (with the default key), or it was never saved or loaded.
        """
        if self._keyTracked:
            return self._savedColumns is None
        return self.id is None

    # -- hooks --------------------------------------------------------------

    def beforeCreate(self) -> Any:
        """Called before an insert; return C{False} (or a Deferred of it) to cancel."""

    def beforeUpdate(self) -> Any:
        """Called before an update; return C{False} to cancel."""

    def beforeSave(self) -> Any:
        """Called before every save, after C{beforeCreate}/C{beforeUpdate}."""

    def beforeDelete(self) -> Any:
        """Called before a delete; return C{False} to cancel."""

    def afterInit(self) -> Any:
        """Called after the object was built from a query result."""

    def afterCommit(self) -> Any:
        """Called once the transaction that saved or deleted the object commits."""

    def afterRollback(self) -> Any:
        """Called if the transaction that saved or deleted the object rolls back."""

    def _hook(self, name: str) -> Any:
        """
        @return: the bound hook C{name}, or C{None} when it is DBObject's own
            (looked up on every call, so hooks assigned at run time count).
        """
        hook = getattr(self, name)
        if getattr(hook, "__func__", None) is getattr(DBObject, name):
            return None
        return hook

    def _runHooks(self, names: Iterable[str]) -> Any:
        """
        Run hooks in order, stopping at one that returns C{False}.

        @return: whether to go on: a bool, or a L{Deferred} of one.
        """
        names = list(names)
        for index, name in enumerate(names):
            hook = self._hook(name)
            if hook is None:
                continue
            result = deferredOf(hook())
            if isinstance(result, Deferred):
                rest = names[index + 1:]
                return result.addCallback(
                    lambda value, rest: value is not False and self._runHooks(rest), rest
                )
            if result is False:
                return False
        return True

    def _afterWrite(self) -> None:
        txn = currentTransaction()
        if txn is not None and txn.pool is Registry.poolOf(self._databaseName()):
            txn.registerObject(self)
            return
        self._runAfterHook("afterCommit")

    def _databaseName(self) -> str:
        """
        @return: the name of the database this object was last written to
            or loaded from.
        """
        return self.__dict__.get("_database") or type(self).DATABASE or DEFAULT_DATABASE

    @staticmethod
    def _beforeWrite(objects: Iterable[DBObject], pool: Any) -> None:
        """
        Let the running transaction keep the attributes of C{objects} from
        before this write (on C{pool}), to put back if it is a failed
        attempt of a retried transaction.
        """
        txn = currentTransaction()
        if txn is not None and txn.pool is pool:
            txn.rememberStates(objects)

    @staticmethod
    def _beforeWriteOfMany(objects: list[Any], pool: Any) -> Deferred[Any]:
        """
        L{_beforeWrite} of many objects, a few milliseconds at a time.

        @return: a L{Deferred} that fires when all are remembered.
        """
        txn = currentTransaction()
        if txn is None or txn.pool is not pool:
            return succeed(None)
        return inSlices(lambda obj: txn.rememberStates((obj,)), objects, cancellable=False)

    def _runAfterHook(self, name: str) -> None:
        """
        Run C{afterCommit} or C{afterRollback}; the write is done, so an
        exception is logged, not raised.
        """
        hook = self._hook(name)
        if hook is None:
            return
        try:
            result = deferredOf(hook())
        except Exception:
            _log.failure("{name} hook of {obj!r} failed", name=name, obj=self)
            return
        if isinstance(result, Deferred):
            result.addErrback(
                lambda f: _log.failure("{name} hook of {obj!r} failed", f, name=name, obj=self)
            )

    # -- saving and deleting ------------------------------------------------

    def save(self: T) -> Deferred[T]:
        """
        Validate, then insert (when C{id} is None; the new id is set) or
        update the changed columns.

        @return: a L{Deferred} of this object; when invalid nothing is saved
            and C{self.errors} says why.
        @raise DBObjectSaveError: if the object was deleted.
        """
        if self._deleted:
            raise DBObjectSaveError(f"{self!r} was deleted and cannot be saved")
        route = currentRoute()
        if route is not None and route.database is not None:
            # Saved through Model.using(name): validated and written there.
            self.__dict__.pop("_database", None)
            self._storedIn(route.database, (self,))
        if not type(self)._allValidators():
            self.__dict__.pop("errors", None)  # new ones when next read
            return maybeDeferred(self._saveIfValid, None)
        return self.validate().addCallback(self._saveIfValid)

    def _saveIfValid(self, _: Any) -> Any:
        if self.__dict__.get("errors"):
            return self
        creating = self._isNew()
        proceed = self._runHooks(CREATE_HOOKS if creating else UPDATE_HOOKS)
        if isinstance(proceed, Deferred):
            return proceed.addCallback(lambda go: self._write(creating) if go else self)
        return self._write(creating) if proceed else self

    def _write(self, creating: bool) -> Deferred[Any]:
        config = Registry.configFor(type(self), self)
        DBObject._beforeWrite((self,), config.pool)
        write = config.insertObj if creating else config.updateObj
        return write(self, DBObject._afterWrite)

    def _changedValues(self, columns: Iterable[str]) -> dict[str, Any]:
        """
        @return: the column attributes that changed since the object was
            loaded or saved (all the set ones when it never was).
        """
        state = self.__dict__
        if self._savedColumns is None:
            return {name: state[name] for name in columns if name in state}
        before = dict(zip(self._savedColumns, self._savedValues))
        missing = object()
        return {
            name: state[name]
            for name in columns
            if name in state and before.get(name, missing) != state[name]
        }

    def _markSaved(self, columns: Iterable[str]) -> None:
        self._setSaved(self._savedState(columns))

    def _savedState(self, columns: Iterable[str]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        """
        @return: the names of C{columns} that the object has, and (copies of)
            their values: taken where a row is written, on the pool thread,
            so that they are what was written.
        """
        state = self.__dict__
        names = tuple(name for name in columns if name in state)
        return names, tuple(_savedCopy(state[name]) for name in names)

    def _setSaved(
        self, saved: tuple[tuple[str, ...], tuple[Any, ...]], newId: Any = None
    ) -> None:
        """
        Record C{saved} (from L{_savedState}) as the row's values; with
        C{newId}, the key the database gave the new row, set the object's
        unset key columns to it too.
        """
        names, values = saved
        if newId is not None:
            columns = self._keyColumns
            state = self.__dict__
            if len(columns) == 1:
                # One column (most often id): no tuple to take apart.
                name = columns[0]
                if state.get(name) is None:
                    setattr(self, name, newId)
                    if name not in names:
                        names, values = names + (name,), values + (newId,)
            else:
                for name, part in zip(columns, newId):
                    if state.get(name) is None:
                        setattr(self, name, part)
                        if name not in names:
                            names, values = names + (name,), values + (part,)
        self._savedColumns, self._savedValues = names, values

    def _markStored(self, values: dict[str, Any]) -> None:
        """
        Set C{values}, which the row already holds (written by a
        relationship), so that C{save} does not count them as changes.
        """
        self.__dict__.update(values)
        if self._savedColumns is not None:
            saved = dict(zip(self._savedColumns, self._savedValues), **values)
            self._savedColumns, self._savedValues = tuple(saved), tuple(saved.values())

    def delete(self) -> Deferred[Any]:
        """
        Run C{beforeDelete}, delete this object's join-table rows and its row,
        and mark it deleted (its C{id} becomes C{None}).

        @return: a L{Deferred} that fires with C{None} when done, or with
            this object when C{beforeDelete} cancelled. With a
            C{LOCK_VERSION}, it fails with L{StaleObjectError}, deleting
            nothing, when the row is no longer at the object's version.
        """
        try:
            proceed = self._runHooks(("beforeDelete",))
        except Exception:
            return fail()
        if isinstance(proceed, Deferred):
            return proceed.addCallback(lambda go: self._delete() if go else self)
        return self._delete() if proceed else succeed(self)

    def _delete(self) -> Deferred[Any]:
        DBObject._beforeWrite((self,), Registry.poolOf(self._databaseName()))
        myId = None if self._isNew() else self._storedKey()
        if myId is None:
            # Never saved: there is no row to delete.
            self._deleted = True
            return succeed(None)
        config = Registry.configFor(type(self), self)
        lock = self.LOCK_VERSION

        def deleteRows(txn: Any, table: str, columns: tuple[str, ...], *more: Term) -> int:
            rows = Select(table, where=(keyEquals(columns, myId), *more))
            config.run(txn, *compileDelete(config, Delete(rows)))
            return int(txn.rowcount)

        def run(txn: Any) -> None:
            tablename = self.tablename()
            locked: tuple[Equals, ...] = ()
            if lock is not None:
                version = lockedVersion(self, tablename, config.getSchema(tablename, txn))
                locked = (Equals(Column(lock), version),)
            for table, columns, declared in habtmJoinColumns(type(self)):
                if declared or all(config.hasColumn(txn, table, name) for name in columns):
                    deleteRows(txn, table, columns)
            if deleteRows(txn, tablename, self._keyColumns, *locked) == 0 and locked:
                # Atomic: the join rows deleted above are restored.
                raise StaleObjectError(
                    f"{self!r} was not deleted: the row of {tablename} with key {myId!r} "
                    f"is no longer at {lock} {locked[0].value!r} (changed or deleted "
                    f"since loaded)",
                    self,
                )

        def done(_: Any) -> None:
            if not self._keyTracked:
                self.id = None
            self._deleted = True
            self._afterWrite()

        return config.runWork(run, atomic=True, then=done)

    def refresh(self: T) -> Deferred[T]:
        """
        Reload the attributes from the row, and forget the relationships
        loaded eagerly (the next C{get()} queries).

        @return: a L{Deferred} of this object; it fails with
            L{CannotRefreshError} if the row is gone.
        """
        forgetLoaded(self)
        return Registry.configFor(type(self), self).refreshObj(self)

    # -- attributes ----------------------------------------------------------

    def toHash(
        self,
        cols: Iterable[str],
        includeBlank: bool = False,
        exclude: Iterable[str] | None = None,
        base: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """
        @return: a dict of the attributes named in C{cols} (those unset or
            C{None} only when C{includeBlank}), less C{exclude}, added to a
            copy of C{base}.
        """
        result = dict(base) if base else {}
        excluded = set(exclude) if exclude else ()
        state = self.__dict__
        for name in cols:
            if name in excluded:
                continue
            if name in state:
                value = state[name]
            elif hasattr(DBObject, name):
                # A column named like DBObject's own API (count, errors):
                # unset until the object has its own value.
                value = None
            else:
                value = getattr(self, name, None)
            if value is not None or includeBlank:
                result[name] = value
        return result

    def loadRelations(self, *relations: str) -> Deferred[dict[str, Any]]:
        """
        @return: a L{Deferred} of a dict of relationship name to the result
            of its C{get()}; all relationships when none are named.
        """
        names = relations or tuple(self._relationships)
        self._checkRelationships(names)
        return deferredDict({name: getattr(self, name).get() for name in names})

    # -- finders ------------------------------------------------------------

    @classmethod
    def tablename(cls) -> str:
        """
        @return: C{TABLENAME}, or the lower-case plural of the class name.
        """
        return cls.TABLENAME or _tableNameFor(cls.__name__)

    @overload
    @classmethod
    def find(  # type: ignore[overload-overlap]
        cls: type[T], id: None = None, where: Where | None = None, group: str | None = None,
        *, limit: Literal[1], orderby: str | None = None,
        include: str | Sequence[str] | None = None,
    ) -> Deferred[T | None]: ...

    @overload
    @classmethod
    def find(
        cls: type[T], id: None = None, where: Where | None = None, group: str | None = None,
        limit: int | tuple[int, int] | None = None, orderby: str | None = None,
        include: str | Sequence[str] | None = None,
    ) -> Deferred[list[T]]: ...

    @overload
    @classmethod
    def find(
        cls: type[T], id: Any, where: Where | None = None, group: str | None = None,
        limit: int | tuple[int, int] | None = None, orderby: str | None = None,
        include: str | Sequence[str] | None = None,
    ) -> Deferred[T | None]: ...

    @classmethod
    def find(
        cls,
        id: Any = None,
        where: Where | None = None,
        group: str | None = None,
        limit: int | tuple[int, int] | None = None,
        orderby: str | None = None,
        include: str | Sequence[str] | None = None,
    ) -> Deferred[Any]:
        """
        Find objects. C{where} is C{[condition, args...]} with C{?}
        placeholders; C{group} and C{orderby} are trusted SQL fragments.

        @param include: relationship names (or one name) to load for all the
            objects found, with one query per relationship (see L{preload}).
        @return: a L{Deferred} of one object or C{None} (with C{id}, or with
            C{limit=1}), otherwise of a list.
        """
        query = Query.forFinder(cls, id, where, group, limit, orderby, include)
        return query.found(id is not None or limit == 1)

    @classmethod
    def _includedNames(cls, include: str | Sequence[str] | None) -> tuple[str, ...]:
        """
        @return: the relationship names of an C{include} argument.
        @raise InvalidRelationshipError: for anything else.
        """
        if not include:
            return ()
        try:
            names = (include,) if isinstance(include, str) else tuple(include)
        except TypeError:
            raise InvalidRelationshipError(
                f"include takes relationship names, not {include!r}"
            ) from None
        cls._checkRelationships(names)
        return names

    @classmethod
    def _checkRelationships(cls, names: Iterable[str]) -> None:
        """
        @raise InvalidRelationshipError: for a name that is no relationship,
            or one going through others along no path (see L{checkPath}).
        """
        names = list(names)
        unknown = [name for name in names if name not in cls._relationships]
        if unknown:
            raise InvalidRelationshipError(
                f"{cls.__name__} has no relationship(s) {', '.join(map(repr, unknown))}"
            )
        for name in names:
            checkPath(cls._relationships[name])

    @classmethod
    def _includeIn(cls, result: Any, names: tuple[str, ...]) -> Any:
        if result is None:
            return None
        if isinstance(result, list):
            return preload(cls, result, names, loadRelationship)
        return preload(cls, [result], names, loadRelationship).addCallback(lambda _: result)

    @classmethod
    def preload(cls, objects: Iterable[T], *names: str) -> Deferred[list[T]]:
        """
        Load the relationships C{names} of C{objects} (saved objects of this
        class) with one query per relationship, so that C{obj.<name>.get()}
        then fires at once without a query.

        @return: a L{Deferred} of the objects, as a list.
        @raise InvalidRelationshipError: for a name that is not a relationship.
        """
        cls._checkRelationships(names)
        return preload(cls, objects, names, loadRelationship)

    @classmethod
    def _afterLoad(cls, result: Any) -> Any:
        """
        Run C{afterInit} on loaded objects (when the class has one).

        @return: C{result}, or a L{Deferred} of it.
        """
        if result is None or getattr(cls.afterInit, "__func__", cls.afterInit) is _baseAfterInit:
            return result
        objects = result if isinstance(result, list) else [result]
        return inSlices(_afterInit, objects).addCallback(lambda _: result)

    @classmethod
    def findBy(
        cls: type[T], include: str | Sequence[str] | None = None, **attrs: Any
    ) -> Deferred[list[T]]:
        """
        @param include: relationship names to load, as for L{find}.
        @return: a L{Deferred} of the objects whose columns equal C{attrs}
            (C{None} matches NULL); every object when no C{attrs}.
        @raise UnknownColumnError: (in the Deferred) for a name that is not a
            column of the table.
        """
        if not attrs:
            return cls.find(include=include)
        cls._includedNames(include)
        config = Registry.configFor(cls)
        route = currentRoute()

        def withColumns(columns: list[str]) -> Deferred[Any]:
            unknown = [name for name in attrs if name not in columns]
            if unknown:
                raise UnknownColumnError(
                    f"{cls.tablename()} has no column(s) {', '.join(map(repr, unknown))}"
                )
            config.checkValues(attrs.values(), list(attrs))
            equal = tuple(Equals(Column(name), value) for name, value in attrs.items())
            return Query.forFinder(cls, include=include, scope=equal, route=route).found(False)

        schema: Deferred[Any] = config.getSchema(cls.tablename())
        return schema.addCallback(withColumns)

    @classmethod
    def findOrCreate(cls: type[T], **attrs: Any) -> Deferred[T]:
        """
        @return: a L{Deferred} of the first object matching C{attrs}, or of a
            new object with them, saved (in one transaction). When a unique
            constraint refuses the new row because a concurrent call saved
            a matching one first, the look-up runs again (in a new
            transaction, which sees that row).
        """

        route = currentRoute()
        # In a transaction of the database chosen by Model.using(...), if any.
        inTransaction = transaction(
            database=route.database if route is not None and route.database else cls.DATABASE
        )(lambda txn: findOrSave())

        def findOrSave() -> Deferred[Any]:
            def chooseOrCreate(found: list[Any]) -> Any:
                if found:
                    return found[0]
                with routedTo(route):
                    return cls(**attrs).save()

            with routedTo(route):
                return cls.findBy(**attrs).addCallback(chooseOrCreate)

        def lookAgain(failure: Failure) -> Any:
            failure.trap(TransactionError)
            if not isinstance(getattr(failure.value, "__cause__", None), IntegrityError):
                return failure
            return inTransaction()

        return inTransaction().addErrback(lookAgain)

    @classmethod
    def all(cls: type[T], include: str | Sequence[str] | None = None) -> Deferred[list[T]]:
        """
        @param include: relationship names to load, as for L{find}.
        @return: a L{Deferred} of every object of the table.
        """
        return cls.find(include=include)

    @classmethod
    def count(cls, where: Where | None = None) -> Deferred[int]:
        """
        @return: a L{Deferred} of the number of rows matching C{where}.
        """
        return Query.forFinder(cls, where=where).count()

    @classmethod
    def exists(cls, where: Where | None = None) -> Deferred[bool]:
        """
        @return: a L{Deferred} of whether any row matches C{where}.
        """
        return Query.forFinder(cls, where=where).exists()

    @classmethod
    def deleteAll(cls, where: Where | None = None) -> Deferred[int]:
        """
        Delete the rows matching C{where} (all rows when C{None}) in one
        statement, without hooks.

        @return: a L{Deferred} of the number of rows deleted.
        """
        return Query.forFinder(cls, where=where).deleteAll()

    # -- queries ------------------------------------------------------------
    # A relationship may take one of these names (a 2.0 model's "order" or
    # "group", say): then that query starter is reached through query().

    @classmethod
    def query(cls: type[T]) -> Query[T]:
        """
        @return: a L{Query} of every row of the table, to chain on.
        """
        return Query(cls)

    @classmethod
    def where(cls: type[T], *condition: Any, **columns: Any) -> Query[T]:
        """
        @return: a L{Query} of the rows matching a condition (see L{Query.where}).
        """
        return Query(cls).where(*condition, **columns)

    @classmethod
    def whereNot(cls: type[T], *condition: Any, **columns: Any) -> Query[T]:
        """
        @return: a L{Query} of the rows not matching a condition.
        """
        return Query(cls).whereNot(*condition, **columns)

    @classmethod
    def order(cls: type[T], *fragments: str) -> Query[T]:
        """
        @return: a L{Query} of every row, ordered by trusted SQL fragments.
        """
        return Query(cls).order(*fragments)

    @classmethod
    def select(cls: type[T], *columns: str) -> Query[T]:
        """
        @return: a L{Query} selecting only C{columns} (see L{Query.select}).
        """
        return Query(cls).select(*columns)

    @classmethod
    def distinct(cls: type[T]) -> Query[T]:
        """
        @return: a L{Query} without duplicate rows.
        """
        return Query(cls).distinct()

    @classmethod
    def group(cls: type[T], *fragments: str) -> Query[T]:
        """
        @return: a L{Query} grouped by trusted SQL fragments.
        """
        return Query(cls).group(*fragments)

    @classmethod
    def joins(cls: type[T], *names: str) -> Query[T]:
        """
        @return: a L{Query} inner-joining relationships (see L{Query.joins}).
        """
        return Query(cls).joins(*names)

    @classmethod
    def leftJoins(cls: type[T], *names: str) -> Query[T]:
        """
        @return: a L{Query} left-joining relationships.
        """
        return Query(cls).leftJoins(*names)

    @classmethod
    def includes(cls: type[T], *names: str) -> Query[T]:
        """
        @return: a L{Query} whose objects come with these relationships loaded.
        """
        return Query(cls).includes(*names)

    @classmethod
    def lock(cls: type[T], clause: str = "FOR UPDATE") -> Query[T]:
        """
        @return: a L{Query} locking the rows it reads (in a transaction).
        """
        return Query(cls).lock(clause)

    @classmethod
    def pluck(cls, *columns: str) -> Deferred[list[Any]]:
        """
        @return: a L{Deferred} of the values of C{columns} of every row.
        """
        return Query(cls).pluck(*columns)

    @classmethod
    def page(cls: type[T], number: int, perPage: int = 20) -> Deferred[Page[T]]:
        """
        @return: a L{Deferred} of page C{number} of every object, in id order.
        """
        return Query(cls).page(number, perPage)

    # -- identity -------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not type(self) or self._isNew() or other._isNew():
            return False
        key = self._keyValue()
        return key is not None and key == other._keyValue()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        key = None if self._isNew() else self._keyValue()
        if key is None:
            return object.__hash__(self)
        return hash((type(self).__name__, key))

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={safeRepr(value)}" for name, value in self.__dict__.items()
            if not name.startswith("_") and name != "errors"
        )
        return f"<{type(self).__name__} {fields}>"


_baseAfterInit = DBObject.afterInit

QUERY_STARTERS = frozenset({
    "query", "where", "whereNot", "order", "select", "distinct", "group", "joins", "leftJoins",
    "includes", "lock", "pluck", "page",
})
"""The query-starting class methods, which a relationship's name may hide."""


def _afterInit(obj: DBObject) -> Any:
    return deferredOf(obj.afterInit())


