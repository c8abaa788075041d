# -*- test-case-name: twistar.tests.test_dbobject,twistar.tests.test_locking -*-
"""
L{DBObject}: the model base class. One subclass per table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.logger import Logger

from twistar.bulk import CREATE_HOOKS, UPDATE_HOOKS, BulkWrites
from twistar.context import currentTransaction
from twistar.dbconfig.builder import Column, Equals, Select, Term, keyEquals
from twistar.dbconfig.objects import lockedVersion, primaryKeyColumns, timestampColumns
from twistar.dbconfig.sqltext import checkIdentifier, safeRepr
from twistar.dbconfig.writes import Delete, compileDelete
from twistar.eager import forgetLoaded
from twistar.exceptions import (
    DBObjectSaveError,
    InvalidRelationshipError,
    StaleObjectError,
)
from twistar.finders import QUERY_STARTERS, Finders, savedCopies
from twistar.querylog import addSecretColumns
from twistar.registry import Registry
from twistar.relationships import (
    KINDS,
    RelationshipDescriptor,
    buildSpec,
    habtmJoinColumns,
)
from twistar.replicas import DEFAULT_DATABASE, RoutedModel, currentRoute
from twistar.slicing import inSlices
from twistar.through import checkThroughs, relationClass
from twistar.utils import deferredDict, deferredOf
from twistar.validation import Errors

T = TypeVar("T", bound="DBObject")
_log = Logger(namespace="twistar")


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


class DBObject(BulkWrites, Finders, RoutedModel, metaclass=DBObjectType):
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
        names = tuple([name for name in columns if name in state])
        return names, savedCopies(tuple([state[name] for name in names]))

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


def _afterInit(obj: DBObject) -> Any:
    return deferredOf(obj.afterInit())


