# -*- test-case-name: twistar.tests.test_dbobject,twistar.tests.test_query -*-
"""
L{Finders}: the class methods of models that read their table (C{find},
C{findBy}, C{findOrCreate}, C{all}, C{count}, C{exists}, C{preload}), that
start a L{Query} on it (C{where}, C{order}, ...) or delete its rows
(C{deleteAll}), with the table's name and the building of objects from the
rows read.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from functools import cache, lru_cache
from keyword import iskeyword
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from inflection import pluralize, underscore
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from twistar.dbconfig.builder import Column, Equals
from twistar.eager import preload
from twistar.exceptions import (
    IntegrityError,
    InvalidRelationshipError,
    TransactionError,
    UnknownColumnError,
)
from twistar.pgpool import giveTurn
from twistar.query import Page, Query
from twistar.querylog import loaded
from twistar.registry import Registry
from twistar.replicas import currentRoute, routedTo
from twistar.slicing import ROWS_PER_COLLECTION, bulkOnPoolThread, collectorPaused
from twistar.through import checkPath, loadRelationship
from twistar.transaction import transaction

T = TypeVar("T", bound="Finders")
Where = Sequence[Any]
"""A condition of the 2.0 finders: C{[sql, args...]}, C{?} placeholders."""


@cache
def _tableNameFor(className: str) -> str:
    return pluralize(underscore(className))


# Values that can change in place: a saved object keeps copies of them.
_MUTABLE_TYPES = frozenset({list, dict, set, bytearray})


@lru_cache(maxsize=256)
def _rowBuilder(
    cls: Any, columns: tuple[str, ...]
) -> Callable[[Sequence[Sequence[Any]]], list[Any]] | None:
    """
    @return: a function building objects of C{cls} from rows of C{columns}
        as L{Finders._buildFromRows} does, with the columns set as plain
        attributes (which CPython keeps without a dict per object: a third
        faster); C{None} where that could differ from setting the object's
        C{__dict__}: a column whose name is no identifier or names a data
        descriptor (C{__class__}, a property...), or a class with its own
        C{__setattr__} or C{__new__} (whose attributes the dict would
        replace).
    """
    if cls.__setattr__ is not object.__setattr__ or cls.__new__ is not object.__new__:
        return None
    for name in columns:
        if not name.isidentifier() or iskeyword(name):
            return None
        # As the class holds it (not as a descriptor's __get__ returns it).
        attribute = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        if hasattr(type(attribute), "__set__") or hasattr(type(attribute), "__delete__"):
            return None
    targets = "".join(f"obj.{name}, " for name in columns)
    source = (
        "def build(rows):\n"
        "    objects = []\n"
        "    append = objects.append\n"
        "    for row in rows:\n"
        "        obj = new(cls)\n"
        + (f"        {targets}= row\n" if columns else "")
        + "        obj._savedColumns = columns\n"
        "        obj._savedValues = row\n"
        "        append(obj)\n"
        "    return objects\n"
    )
    namespace: dict[str, Any] = {"new": cls.__new__, "cls": cls, "columns": columns}
    exec(compile(source, f"<{cls.__name__} rows>", "exec"), namespace)
    return namespace["build"]  # type: ignore[no-any-return]


def savedCopy(value: Any) -> Any:
    """
    @return: C{value} as the object remembers it was saved: a copy when it
        can change in place, so that such a change counts as one.
    """
    return deepcopy(value) if type(value) in _MUTABLE_TYPES else value


def savedCopies(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """
    @return: the L{savedCopy} of each of C{values} (C{values} itself when
        none can change in place).
    """
    if _MUTABLE_TYPES.isdisjoint(map(type, values)):
        return values
    return tuple(map(savedCopy, values))


# Rows from which objects are made with the garbage collector paused.
_MANY_ROWS = 256


class Finders:
    """
    The class methods of L{twistar.dbobject.DBObject} that read its table
    and start queries on it.
    """

    if TYPE_CHECKING:
        # What the model class (DBObject) gives them.
        TABLENAME: str | None
        DATABASE: str | None
        _relationships: dict[str, Any]

        def __init__(self, **kwargs: Any) -> None: ...

        def save(self: T) -> Deferred[T]: ...

    @classmethod
    def tablename(cls) -> str:
        """
        @return: C{TABLENAME}, or the lower-case plural of the class name.
        """
        return cls.TABLENAME or _tableNameFor(cls.__name__)

    # -- loading -------------------------------------------------------------

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
        giveTurn()  # built on the reactor's thread (a PostgresPool)
        objects: list[T] = []
        with bulkOnPoolThread(), collectorPaused():
            for start in range(0, len(rows), ROWS_PER_COLLECTION):
                if start:
                    gc.collect(0)
                    giveTurn()
                objects += cls._buildFromRows(
                    columns, rows[start:start + ROWS_PER_COLLECTION], mutable
                )
        return objects

    @classmethod
    def _buildFromRows(
        cls: type[T], columns: tuple[str, ...], rows: Sequence[Sequence[Any]],
        mutable: Sequence[int],
    ) -> list[T]:
        model: Any = cls  # hashable (type checkers see the instances' __hash__)
        build = None if mutable else _rowBuilder(model, columns)
        if build is not None:
            objects: list[T] = build(rows)
            loaded(objects)
            return objects
        new = cls.__new__
        objects = []
        append = objects.append
        for row in rows:
            obj = new(cls)
            obj.__dict__ = state = dict(zip(columns, row))
            state["_savedColumns"] = columns
            if mutable and not _MUTABLE_TYPES.isdisjoint([type(row[i]) for i in mutable]):
                row = tuple(map(savedCopy, row))
            state["_savedValues"] = row
            append(obj)
        loaded(objects)
        return objects

    # -- finders ------------------------------------------------------------

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


QUERY_STARTERS = frozenset({
    "query", "where", "whereNot", "order", "select", "distinct", "group", "joins", "leftJoins",
    "includes", "lock", "pluck", "page",
})
"""The query-starting class methods, which a relationship's name may hide."""
