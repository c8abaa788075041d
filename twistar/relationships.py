# -*- test-case-name: twistar.tests.test_relationships -*-
"""
Relationships between models: L{HasMany}, L{HasOne}, L{BelongsTo} and L{HABTM}.

A model declares them as class attributes (C{HASMANY = ['pictures']}, or dicts
with a C{name} and options); each name becomes a descriptor on the class
whose value, on a saved instance, is a relationship object. Those declared
with C{through} (join models) are in L{twistar.through}.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Generic, TypeVar, overload

from inflection import camelize, singularize, underscore
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from twistar.dbconfig.base import InteractionBase
from twistar.dbconfig.builder import (
    Column,
    Equals,
    Fragment,
    InSelect,
    Not,
    Select,
    Term,
    keyEquals,
    keyIn,
)
from twistar.dbconfig.sqltext import checkWhere
from twistar.dbconfig.writes import Delete, Update, compileDelete, compileUpdate
from twistar.exceptions import (
    DBObjectSaveError,
    InvalidRelationshipError,
    ReferenceNotSavedError,
    ValidationError,
)
from twistar.query import Page, Query
from twistar.querylog import lazyLoad
from twistar.registry import Registry
from twistar.replicas import routedTo, routeOf
from twistar.slicing import inSlices
from twistar.transaction import transaction
from twistar.utils import checkKeywords

KINDS = ("HASMANY", "HASONE", "BELONGSTO", "HABTM")
"""The class attributes that declare relationships."""
_OPTIONS = frozenset(
    {"name", "class_name", "foreign_key", "association_foreign_key", "join_table", "as",
     "polymorphic", "through", "source"}
)


@cache
def _singularClassName(name: str) -> str:
    return camelize(singularize(name))


@dataclass(frozen=True)
class RelationshipSpec:
    """
    One declared relationship, with its conventions worked out.

    @ivar kind: one of L{KINDS}.
    @ivar name: the relationship's name, an attribute of the owner.
    @ivar owner: the class declaring it.
    @ivar className: the related class's name (C{None} for a polymorphic
        belongs-to).
    @ivar associationForeignKey: for a L{HABTM}, the join-table column(s)
        naming the other object, when declared.
    @ivar joinTable: for a L{HABTM}, the join table, when declared.
    @ivar foreignKey: for L{HasMany}/L{HasOne}, the column of the other table
        naming the owner; for L{BelongsTo}, the owner's column naming the
        other object; for L{HABTM}, the join-table column naming the owner.
        A tuple of columns when declared so (see L{foreignColumns}).
    @ivar typeColumn: the column holding a class name, for polymorphic forms.
    @ivar keyPrefix: what default foreign key column names start with.
    @ivar declaredKey: whether C{foreign_key} was declared.
    @ivar through: for a L{HABTM}, the class name of the join model; for a
        L{HasMany}, the name of the owner's relationship to go through (see
        L{twistar.through}).
    @ivar source: for a has-many through, the name of the relationship of
        the class gone through that leads on (see L{hops}).
    """

    kind: str
    name: str
    owner: type
    className: str | None
    foreignKey: str | tuple[str, ...]
    associationForeignKey: str | tuple[str, ...] | None
    joinTable: str | None
    typeColumn: str | None
    keyPrefix: str = ""
    declaredKey: bool = True
    through: str | None = None
    source: str | None = None

    @property
    def target(self) -> type[Any]:
        """The related class (not for polymorphic belongs-to)."""
        if self.className is None and self.through:
            return self.hops()[-1].target
        assert self.className is not None
        return Registry.getClass(self.className)

    def hops(self) -> tuple[RelationshipSpec, ...]:
        """
        @return: the relationships a has-many through goes along, none of
            them a has-many through: those of the relationship it goes
            through, then those of its source on the class reached; just
            this one for other relationships.
        @raise InvalidRelationshipError: when the source is not found, is
            ambiguous or a polymorphic belongs-to, or the path comes back to
            a relationship it went along.
        @raise ClassNotRegisteredError: for a class on the way that is not
            registered.
        """
        return _hops(self, ())

    def joinModel(self) -> type[Any]:
        """The class of a HABTM's join model (named by C{through})."""
        assert self.through is not None
        return Registry.getClass(self.through)

    def referencedColumns(self, klass: type | None = None) -> tuple[str, ...]:
        """
        @param klass: for a polymorphic belongs-to, the class of the object
            named.
        @return: the key columns that L{foreignColumns} name: the other
            class's for a L{BelongsTo}, the owner's otherwise.
        """
        if self.kind == "BELONGSTO":
            klass = klass or (self.target if self.className else None)
        else:
            klass = self.owner
        return klass._keyColumns if klass is not None else ("id",)  # type: ignore[attr-defined]

    def foreignColumns(self, klass: type | None = None) -> tuple[str, ...]:
        """
        @param klass: as for L{referencedColumns}.
        @return: the foreign key columns (see C{foreignKey}): as declared, or
            C{<prefix>_id}, or C{<prefix>_<column>} for each column of a
            composite key.
        @raise InvalidRelationshipError: when they are not as many as the
            key's columns.
        """
        return _foreignColumns(self, self.foreignKey, self.declaredKey,
                               self.keyPrefix, self.referencedColumns(klass))

    def habtmTable(self) -> str:
        """The join table of a L{HABTM}: both table names, sorted, joined by C{_}."""
        if self.joinTable:
            return self.joinTable
        if self.through:
            table: str = self.joinModel().tablename()
            return table
        return "_".join(sorted([self.owner.tablename(), self.target.tablename()]))  # type: ignore[attr-defined]

    def habtmOtherKey(self) -> str:
        """The join-table column naming the other object (the first, for a
        composite key: see L{habtmOtherColumns})."""
        return self.habtmOtherColumns()[0]

    def habtmOtherColumns(self) -> tuple[str, ...]:
        """The join-table columns naming the other object."""
        declared = self.associationForeignKey
        prefix = underscore(self.target.__name__)
        default = f"{prefix}_id"
        return _foreignColumns(self, declared or default, declared is not None, prefix,
                               self.target._keyColumns)


def _foreignColumns(spec: RelationshipSpec, declared: str | tuple[str, ...], given: bool,
                    prefix: str, key: tuple[str, ...]) -> tuple[str, ...]:
    """
    @return: the foreign key columns naming a key of columns C{key}.
    @raise InvalidRelationshipError: when they are not as many as C{key}'s.
    """
    if not given and len(key) > 1:
        return tuple(f"{prefix}_{name}" for name in key)
    columns = (declared,) if isinstance(declared, str) else tuple(declared)
    if len(columns) != len(key):
        raise InvalidRelationshipError(
            f"{spec.owner.__name__}.{spec.name}: the foreign key {columns!r} has "
            f"{len(columns)} column(s), the key {key!r} it names {len(key)}"
        )
    return columns


def _hops(spec: RelationshipSpec,
          seen: tuple[RelationshipSpec, ...]) -> tuple[RelationshipSpec, ...]:
    """
    L{RelationshipSpec.hops}, C{seen} being the has-many throughs on the way.
    """
    if spec.kind != "HASMANY" or not spec.through:
        return (spec,)
    where = f"{spec.owner.__name__}.{spec.name}"
    if spec in seen:
        raise InvalidRelationshipError(f"{where} goes through itself")
    seen += (spec,)
    via = spec.owner._relationships.get(spec.through)  # type: ignore[attr-defined]
    if via is None:
        raise InvalidRelationshipError(
            f"{where} goes through {spec.through!r}, which is no relationship of "
            f"{spec.owner.__name__}"
        )
    first = _hops(via, seen)
    middle = first[-1].target
    relationships = middle._relationships
    names = [spec.source] if spec.source else list(dict.fromkeys([singularize(spec.name),
                                                                  spec.name]))
    found = [relationships[name] for name in names if name in relationships]
    reached = f"{where} goes through {spec.through!r} to {middle.__name__}"
    if not found:
        raise InvalidRelationshipError(
            f"{reached}, which has no relationship {' or '.join(map(repr, names))}"
            + ("" if spec.source else ": name the one to follow with 'source'")
        )
    if len(found) > 1:
        raise InvalidRelationshipError(
            f"{reached}, which has both {names[0]!r} and {names[1]!r}: say which with 'source'"
        )
    source = found[0]
    if source.kind == "BELONGSTO" and source.typeColumn:
        raise InvalidRelationshipError(
            f"{where}: its source {middle.__name__}.{source.name} is a polymorphic "
            f"belongs-to, whose class depends on each row"
        )
    return first + _hops(source, seen)


def habtmJoinColumns(klass: type) -> list[tuple[str, tuple[str, ...], bool]]:
    """
    @return: the join-table columns that name objects of C{klass}, as
        C{(table, columns, declared)}: those of its own L{HABTM}s
        (C{declared}), and those of other registered classes' L{HABTM}s
        that point at it; join models' tables included.
    """
    columns: dict[tuple[str, tuple[str, ...]], bool] = {}
    for spec in klass._relationships.values():  # type: ignore[attr-defined]
        if spec.kind == "HABTM":
            columns[(spec.habtmTable(), spec.foreignColumns())] = True
    for other in list(Registry.REGISTRATION.values()):
        for spec in getattr(other, "_relationships", {}).values():
            if spec.kind == "HABTM" and spec.className == klass.__name__:
                key = (spec.habtmTable(), spec.habtmOtherColumns())
                columns[key] = columns.get(key, False) or other is klass
    return [(table, column, declared) for (table, column), declared in columns.items()]


def buildSpec(kind: str, owner: type, declaration: Any) -> RelationshipSpec:
    """
    @param declaration: a name, or a dict with a C{name} and options.
    @raise InvalidRelationshipError: if the declaration is malformed.
    """
    if isinstance(declaration, str):
        options: dict[str, Any] = {"name": declaration}
    elif isinstance(declaration, dict):
        options = declaration
        if "name" not in options:
            raise InvalidRelationshipError(
                f"{owner.__name__}.{kind}: {declaration!r} has no 'name' key"
            )
        unknown = set(options) - _OPTIONS
        if unknown:
            raise InvalidRelationshipError(
                f"{owner.__name__}.{kind}: unknown option(s) {sorted(unknown)}"
            )
    else:
        raise InvalidRelationshipError(
            f"{owner.__name__}.{kind} entries must be names or dicts, not {declaration!r}"
        )
    name = options["name"]
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidRelationshipError(f"{owner.__name__}.{kind}: bad name {name!r}")
    prefix = underscore(owner.__name__)
    polymorphicAs = options.get("as")
    typeColumn = None
    if kind == "BELONGSTO":
        default = None if options.get("polymorphic") else camelize(name)
        className = options.get("class_name", default)
        prefix = name
        if options.get("polymorphic"):
            typeColumn = f"{name}_type"
    elif kind == "HASONE":
        className = options.get("class_name", camelize(name))
    elif kind == "HASMANY" and options.get("through"):
        className = options.get("class_name")  # the source's, by default: see target
    else:
        className = options.get("class_name", _singularClassName(name))
    if polymorphicAs and kind in ("HASMANY", "HASONE"):
        prefix = polymorphicAs
        typeColumn = f"{polymorphicAs}_type"
    for option in ("foreign_key", "association_foreign_key"):
        if option in options:
            _checkKeyOption(owner, kind, option, options[option])
    return RelationshipSpec(
        kind=kind, name=name, owner=owner, className=className,
        foreignKey=options.get("foreign_key", f"{prefix}_id"),
        associationForeignKey=options.get("association_foreign_key"),
        joinTable=options.get("join_table"), typeColumn=typeColumn,
        keyPrefix=prefix, declaredKey="foreign_key" in options,
        through=options.get("through"), source=options.get("source"),
    )


def _checkKeyOption(owner: type, kind: str, option: str, value: Any) -> None:
    """
    @raise InvalidRelationshipError: unless C{value} is a column name or a
        non-empty tuple of them (the names are checked when used).
    """
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (tuple, list)) or not names or not all(
        isinstance(name, str) for name in names
    ):
        raise InvalidRelationshipError(
            f"{owner.__name__}.{kind}: {option} must be a column name or a tuple of them, "
            f"not {value!r}"
        )


class RelationshipDescriptor:
    """
    The class attribute behind a relationship name: on a saved instance it
    gives a fresh relationship object.
    """

    def __init__(self, spec: RelationshipSpec,
                 relationClass: type[Relationship[Any]] | None = None) -> None:
        """
        @param relationClass: the class of the relationship objects; by
            default the one of C{spec}'s kind.
        """
        self.spec = spec
        self.relationClass = relationClass or RELATIONSHIP_CLASSES[spec.kind]

    def __get__(self, inst: Any, owner: type | None = None) -> Any:
        if inst is None:
            return self
        if unsaved(inst):
            raise ReferenceNotSavedError(
                f"{type(inst).__name__}.{self.spec.name} needs a saved object (it has no key)"
            )
        return self.relationClass(inst, self.spec)


T = TypeVar("T")


class Relationship(Generic[T]):
    """
    A relationship of one saved object. Generic in the related class, so
    that a model may annotate its relationships for a type checker
    (C{pictures: HasMany[Picture]}).

    @ivar inst: the object that owns the relationship.
    """

    kind: ClassVar[str]
    """The kind of relationship (one of L{KINDS})."""

    def __init__(self, inst: Any, spec: RelationshipSpec) -> None:
        self.inst = inst
        self.spec = spec
        self.route = routeOf(inst)
        """Where its statements go (see L{twistar.replicas.routeOf})."""

    @property
    def config(self) -> InteractionBase:
        """The config of the database of the related objects: the owner's
        when it was loaded or saved through C{Model.using(name)}, else the
        related model's own."""
        with routedTo(self.route):
            return Registry.configFor(self.otherklass)

    @property
    def otherklass(self) -> type[Any]:
        """The related class."""
        return self.spec.target

    def _preloaded(self, findargs: dict[str, Any]) -> Deferred[Any] | None:
        loaded = self.inst.__dict__.get("_preloaded")
        if findargs or not loaded or self.spec.name not in loaded:
            return None
        value = loaded[self.spec.name]
        # A copy of a list, so that changing what get() gave changes nothing here.
        return succeed(list(value) if isinstance(value, list) else value)

    def _forget(self, result: Any = None) -> Any:
        loaded = self.inst.__dict__.get("_preloaded")
        if loaded:
            loaded.pop(self.spec.name, None)
        return result

    def _owned(self) -> tuple[Term, ...]:
        """The conditions on the other table's rows owned by C{inst}."""
        owned: tuple[Term, ...] = (
            keyEquals(self.spec.foreignColumns(), self.inst._keyValue()),
        )
        if self.spec.typeColumn:
            owned += (Equals(Column(self.spec.typeColumn), type(self.inst).__name__),)
        return owned

    def _find(self, scope: tuple[Term, ...], findargs: dict[str, Any]) -> Deferred[Any]:
        """
        @return: what C{find(**findargs)} of the related class gives, within
            the conditions C{scope}.
        """
        one = findargs.get("id") is not None or findargs.get("limit") == 1
        return Query.forFinder(
            self.otherklass, scope=scope, route=self.route, **findargs
        ).found(one)

    def _count(self, scope: tuple[Term, ...], where: Any) -> Deferred[int]:
        """
        @return: the number of related rows within C{scope} matching C{where}.
        """
        return Query.forFinder(
            self.otherklass, where=where, scope=scope, route=self.route
        ).count()


def requireSaved(objects: Sequence[Any], klass: type | None) -> None:
    """
    @param klass: the class of the objects; C{None} for any registered model
        (the other end of a polymorphic belongs-to, found later by its name).
    @raise TypeError: for an object of another class.
    @raise ReferenceNotSavedError: for an object that has not been saved.
    """
    _requireClass(objects, klass)
    for obj in objects:
        if unsaved(obj):
            raise ReferenceNotSavedError(f"{obj!r} must be saved before it is related")


def unsaved(obj: Any) -> bool:
    """
    @return: whether C{obj} has no row to relate to: it is new, or (with
        the default key) its C{id} is C{None}.
    """
    return bool(obj._isNew() or obj._keyValue() is None)


def linkValues(columns: tuple[str, ...], key: Any) -> dict[str, Any]:
    """
    @return: the values of foreign key C{columns} naming the key C{key} (a
        tuple for several columns; C{None}: naming nothing).
    """
    if len(columns) == 1:
        return {columns[0]: key}
    return dict(zip(columns, key if key is not None else (None,) * len(columns)))


def foreignValue(obj: Any, columns: tuple[str, ...]) -> Any:
    """
    @return: the key C{obj}'s foreign key C{columns} name: a tuple for
        several columns, C{None} when one is C{None}.
    """
    if len(columns) == 1:
        return obj.__dict__.get(columns[0], getattr(obj, columns[0], None))
    state = obj.__dict__
    values = tuple(state.get(name) for name in columns)
    return None if None in values else values


def _requireClass(objects: Sequence[Any], klass: type | None) -> None:
    """
    @raise TypeError: for an object that is not an instance of C{klass} (of
        a registered model, when C{klass} is C{None}).
    """
    for obj in objects:
        if klass is None:
            if Registry.REGISTRATION.get(type(obj).__name__) is not type(obj):
                raise TypeError(f"{obj!r} is not an object of a registered model")
        elif not isinstance(obj, klass):
            raise TypeError(f"expected {klass.__name__} objects, not {obj!r}")


def _update(config: Any, txn: Any, table: str, where: tuple[Term, ...],
            values: dict[str, Any]) -> None:
    """
    Set C{values} in the rows of C{table} matching C{where}, on C{txn}.
    """
    config.checkValues(list(values.values()), list(values))
    sets = tuple((Column(name), value) for name, value in values.items())
    config.run(txn, *compileUpdate(config, Update(Select(table, where=where), sets)))


class Scoped(Relationship[T]):
    """
    A relationship whose related rows can be queried: L{query} and the
    query-starting calls give a L{Query} of the related objects only.
    """

    def query(self) -> Query[T]:
        """
        @return: a L{Query} of the related objects.
        """
        target = self.otherklass
        return Query(target, Select(target.tablename(), where=self._owned()), route=self.route)

    def where(self, *condition: Any, **columns: Any) -> Query[T]:
        """
        @return: the related objects matching a condition (see L{Query.where}).
        """
        return self.query().where(*condition, **columns)

    def whereNot(self, *condition: Any, **columns: Any) -> Query[T]:
        """
        @return: the related objects not matching a condition.
        """
        return self.query().whereNot(*condition, **columns)

    def order(self, *fragments: str) -> Query[T]:
        """
        @return: the related objects, ordered by trusted SQL fragments.
        """
        return self.query().order(*fragments)

    def select(self, *columns: str) -> Query[T]:
        """
        @return: the related objects with only C{columns}.
        """
        return self.query().select(*columns)

    def joins(self, *names: str) -> Query[T]:
        """
        @return: the related objects, inner-joining their relationships.
        """
        return self.query().joins(*names)

    def leftJoins(self, *names: str) -> Query[T]:
        """
        @return: the related objects, left-joining their relationships.
        """
        return self.query().leftJoins(*names)

    def distinct(self) -> Query[T]:
        """
        @return: the related objects, without duplicate rows.
        """
        return self.query().distinct()

    def group(self, *fragments: str) -> Query[T]:
        """
        @return: the related rows, grouped by trusted SQL fragments.
        """
        return self.query().group(*fragments)

    def lock(self, clause: str = "FOR UPDATE") -> Query[T]:
        """
        @return: the related objects, locked when read (in a transaction).
        """
        return self.query().lock(clause)

    def includes(self, *names: str) -> Query[T]:
        """
        @return: the related objects, with their relationships C{names} loaded.
        """
        return self.query().includes(*names)

    def pluck(self, *columns: str) -> Deferred[list[Any]]:
        """
        @return: a L{Deferred} of the values of C{columns} of the related rows.
        """
        return self.query().pluck(*columns)

    def page(self, number: int, perPage: int = 20) -> Deferred[Page[T]]:
        """
        @return: a L{Deferred} of page C{number} of the related objects.
        """
        return self.query().page(number, perPage)


class HasMany(Scoped[T]):
    """
    The objects of another table whose foreign key names this object.
    """

    kind = "HASMANY"

    @overload
    def get(self) -> Deferred[list[T]]: ...

    @overload
    def get(self, **findargs: Any) -> Deferred[Any]: ...

    def get(self, **findargs: Any) -> Deferred[Any]:
        """
        @param findargs: as for L{DBObject.find}; a C{where} is ANDed in.
        @return: a L{Deferred} of the list of related objects.
        """
        preloaded = self._preloaded(findargs)
        if preloaded is not None:
            return preloaded
        lazyLoad(self.inst, self.spec.name, findargs)
        return self._find(self._owned(), findargs)

    def count(self, **findargs: Any) -> Deferred[int]:
        """
        @param findargs: only a C{where}, ANDed in.
        @return: a L{Deferred} of the number of related objects.
        """
        checkKeywords("count", findargs, {"where"})
        return self._count(self._owned(), findargs.get("where"))

    def set(self, others: list[Any]) -> Deferred[None]:
        """
        Make exactly C{others} (saved objects) the related objects, unlinking
        the rest, in one transaction.
        """
        others = list(others)
        requireSaved(others, self.otherklass)
        spec = self.spec
        table = self.otherklass.tablename()
        key = self.otherklass._keyColumns
        ids = [obj._storedKey() for obj in others]
        columns = spec.foreignColumns()
        link = linkValues(columns, self.inst._keyValue())
        unlink = linkValues(columns, None)
        if spec.typeColumn:
            link[spec.typeColumn] = type(self.inst).__name__
            unlink[spec.typeColumn] = None
        pieces = chunks(ids, chunkSize(self.config) // len(key))
        keep = self._owned()
        if len(pieces) == 1:
            keep += (Not(keyIn(key, ids)),)
        # Otherwise (no ids, or too many for one statement): unlink all, link again.
        config = self.config

        def run(txn: Any) -> None:
            _update(config, txn, table, keep, unlink)
            for chunk in pieces:
                _update(config, txn, table, (keyIn(key, chunk),), link)

        def remember(_: Any) -> Deferred[Any]:
            return inSlices(lambda obj: obj._markStored(link), others, cancellable=False)

        return config.runWork(run, atomic=True, then=remember).addCallback(self._forget)

    def clear(self) -> Deferred[None]:
        """
        Unlink every related object.
        """
        return self.set([])


class HasOne(Scoped[T]):
    """
    The one object of another table whose foreign key names this object.
    """

    kind = "HASONE"

    def get(self) -> Deferred[T | None]:
        """
        @return: a L{Deferred} of the related object or C{None}.
        """
        preloaded = self._preloaded({})
        if preloaded is not None:
            return preloaded
        lazyLoad(self.inst, self.spec.name)
        return self._find(self._owned(), {"limit": 1})

    def set(self, other: Any) -> Deferred[Any]:
        """
        Make C{other} the related object (saving it), unlinking any previous
        one, in one transaction.

        @return: a L{Deferred} of C{other}; it fails, changing nothing, with
            L{ValidationError} if C{other} is invalid, and with
            L{DBObjectSaveError} if one of its hooks cancels its save.
        """
        _requireClass([other], self.otherklass)
        spec = self.spec
        columns = spec.foreignColumns()
        link = linkValues(columns, self.inst._keyValue())
        unlink = linkValues(columns, None)
        if spec.typeColumn:
            link[spec.typeColumn] = type(self.inst).__name__
            unlink[spec.typeColumn] = None
        before = {name: other.__dict__[name] for name in link if name in other.__dict__}
        other.__dict__.update(link)
        previous = self.query()
        if not unsaved(other):
            previous = previous._on(previous.statement._replace(where=previous.statement.where + (
                Not(keyEquals(other._keyColumns, other._storedKey())),
            )))

        def saved(obj: Any) -> Any:
            if obj.__dict__.get("errors"):
                raise ValidationError(f"{obj!r} is invalid; nothing was changed", [obj])
            if unsaved(obj) or obj._changedValues(link):
                raise DBObjectSaveError(f"a hook cancelled saving {obj!r}; nothing was changed")
            return obj

        def save(_: Any) -> Deferred[Any]:
            with routedTo(self.route):
                saving: Deferred[Any] = other.save()
            return saving

        def run(txn: Any) -> Deferred[Any]:
            d = previous.updateAll(**unlink)
            return d.addCallback(save).addCallback(saved)

        def failed(failure: Failure) -> Failure:
            for name in link:
                other.__dict__.pop(name, None)
            other.__dict__.update(before)
            cause = getattr(failure.value, "__cause__", None)
            if isinstance(cause, (ValidationError, DBObjectSaveError)):
                return Failure(cause)
            return failure

        inTransaction = transaction(database=self.config.database)(run)
        return inTransaction().addCallbacks(self._forget, failed)


class BelongsTo(Relationship[T]):
    """
    The object this object's foreign key names.
    """

    kind = "BELONGSTO"

    def _targetClass(self) -> type[Any] | None:
        if self.spec.typeColumn is None:
            return self.otherklass
        className = getattr(self.inst, self.spec.typeColumn, None)
        return None if className is None else Registry.getClass(className)

    def get(self) -> Deferred[T | None]:
        """
        @return: a L{Deferred} of the related object or C{None}.
        """
        preloaded = self._preloaded({})
        if preloaded is not None:
            return preloaded
        klass = self._targetClass()
        if klass is None:
            return succeed(None)
        otherId = foreignValue(self.inst, self.spec.foreignColumns(klass))
        if otherId is None:
            return succeed(None)
        lazyLoad(self.inst, self.spec.name)
        with routedTo(self.route):
            found: Deferred[Any] = klass.find(otherId)
        return found

    def set(self, other: Any) -> Deferred[Any]:
        """
        Point this object at C{other} (a saved object) and save this object.
        """
        requireSaved([other], None if self.spec.typeColumn else self.otherklass)
        columns = self.spec.foreignColumns(type(other))
        for name, value in linkValues(columns, other._keyValue()).items():
            setattr(self.inst, name, value)
        if self.spec.typeColumn:
            setattr(self.inst, self.spec.typeColumn, type(other).__name__)
        saved: Deferred[Any] = self.inst.save()
        return saved.addCallback(self._forget)

    def clear(self) -> Deferred[Any]:
        """
        Point this object at nothing and save it.
        """
        for name in self.spec.foreignColumns(self._targetClass()):
            setattr(self.inst, name, None)
        if self.spec.typeColumn:
            setattr(self.inst, self.spec.typeColumn, None)
        saved: Deferred[Any] = self.inst.save()
        return saved.addCallback(self._forget)


class HABTM(Scoped[T]):
    """
    Has-and-belongs-to-many: objects related through a join table.
    """

    kind = "HABTM"

    def _linked(self, joinWhere: Any = None) -> tuple[Term, ...]:
        """
        @param joinWhere: a where on the join table's rows.
        @return: the condition on the other table's rows linked to C{inst}.
        """
        spec = self.spec
        where: tuple[Term, ...] = (keyEquals(spec.foreignColumns(), self.inst._keyValue()),)
        if joinWhere:
            checkWhere(joinWhere)
            where += (Fragment(joinWhere[0], tuple(joinWhere[1:])),)
        key = tuple(map(Column, self.otherklass._keyColumns))
        others = tuple(map(Column, spec.habtmOtherColumns()))
        linked = Select(spec.habtmTable(), others, where=where)
        return (InSelect(key[0] if len(key) == 1 else key, linked),)

    def query(self) -> Query[T]:
        """
        @return: a L{Query} of the related objects.
        """
        target = self.otherklass
        return Query(target, Select(target.tablename(), where=self._linked()), route=self.route)

    @overload
    def get(self) -> Deferred[list[T]]: ...

    @overload
    def get(self, **findargs: Any) -> Deferred[Any]: ...

    def get(self, **findargs: Any) -> Deferred[Any]:
        """
        @param findargs: as for L{DBObject.find}, plus C{join_where}, a where
            on the join table.
        @return: a L{Deferred} of the list of related objects.
        """
        preloaded = self._preloaded(findargs)
        if preloaded is not None:
            return preloaded
        lazyLoad(self.inst, self.spec.name, findargs)
        findargs = dict(findargs)
        return self._find(self._linked(findargs.pop("join_where", None)), findargs)

    def count(self, **findargs: Any) -> Deferred[int]:
        """
        @param findargs: only C{where} and C{join_where}, as for L{get}.
        @return: a L{Deferred} of the number of related objects.
        """
        checkKeywords("count", findargs, {"where", "join_where"})
        return self._count(self._linked(findargs.get("join_where")), findargs.get("where"))

    def set(self, others: list[Any]) -> Deferred[None]:
        """
        Make exactly C{others} (saved objects) the related objects, in one
        transaction.
        """
        others = list(others)
        requireSaved(others, self.otherklass)
        spec = self.spec
        table = spec.habtmTable()
        myId = self.inst._keyValue()
        mine, theirs = spec.foreignColumns(), spec.habtmOtherColumns()
        otherIds = list(dict.fromkeys(obj._keyValue() for obj in others))
        config = self.config
        config.quoteIdentifier(table)
        config.escapeColNames([*mine, *theirs])
        link = linkValues(mine, myId)

        def run(txn: Any) -> None:
            ownRows = Select(table, where=(keyEquals(mine, myId),))
            config.run(txn, *compileDelete(config, Delete(ownRows)))
            if otherIds:
                # Made here, on the pool thread: they may be many.
                rows = [{**link, **linkValues(theirs, otherId)} for otherId in otherIds]
                config._insertMany(txn, table, rows)

        return config.runAtomic(run).addCallback(self._forget)

    def clear(self) -> Deferred[None]:
        """
        Remove every join row of this object.
        """
        return self.set([])


RELATIONSHIP_CLASSES: dict[str, type[Relationship[Any]]] = {
    "HASMANY": HasMany, "HASONE": HasOne, "BELONGSTO": BelongsTo, "HABTM": HABTM,
}
"""The relationship class of each kind."""


def chunks(values: list[Any], size: int) -> list[list[Any]]:
    """
    @return: C{values} cut into lists of at most C{size}.
    """
    return [values[start:start + size] for start in range(0, len(values), size)]


def chunkSize(config: InteractionBase) -> int:
    """
    @return: how many keys one statement of a relationship may list: a few
        thousand, fewer than the parameter limit of C{config}'s database.
    """
    return max(1, min(5000, config.maxParameters - 2))
