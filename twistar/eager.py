# -*- test-case-name: twistar.tests.test_eager -*-
"""
Eager loading: the relationships of many objects read with one query per
relationship (per chunk of objects), and kept on each object for its
relationship's C{get()} (see L{preload}).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

from twisted.internet.defer import Deferred, succeed

from twistar.dbconfig.builder import (
    Column,
    Equals,
    Join,
    Select,
    Term,
    compileSelect,
    keyIn,
    keysSame,
)
from twistar.exceptions import InvalidRelationshipError
from twistar.query import Query
from twistar.registry import Registry
from twistar.relationships import (
    RelationshipSpec,
    chunks,
    chunkSize,
    foreignValue,
    requireSaved,
)
from twistar.replicas import routedTo, routeOf
from twistar.slicing import inSlices
from twistar.utils import gather


def keepLoaded(owner: Any, name: str, value: Any) -> None:
    """
    Keep C{value}, the relationship C{name} of C{owner} loaded eagerly, for
    its C{get()}.
    """
    owner.__dict__.setdefault("_preloaded", {})[name] = value


def forgetLoaded(owner: Any) -> None:
    """
    Forget every relationship value eagerly loaded for C{owner}.
    """
    owner.__dict__.pop("_preloaded", None)


# _LOOSER_THAN_PYTHON: the database may match keys that Python's == tells
# apart (1 and '1' in a text column on SQLite and MySQL, 'abc' and 'ABC' under
# a case-insensitive collation). A loaded row whose key equals no owner's
# cannot be given to the right owner, so nothing is remembered for the owners
# concerned, and their get() queries: the same answer, without eager loading.


def _loadChildren(spec: RelationshipSpec, owners: list[Any], one: bool) -> Deferred[Any]:
    """
    Load a has-many or has-one relationship for C{owners}: one query per
    chunk of owner ids (per owner class, for a polymorphic one: the type
    column holds the class name of the owner that linked the row).
    """
    typeColumn = spec.typeColumn
    foreignColumns = spec.foreignColumns()
    route = routeOf(owners[0] if owners else None)
    with routedTo(route):
        size = chunkSize(Registry.configFor(spec.target)) // len(foreignColumns)
    # Owners by (class name or None, key), and their keys by class name.
    found: dict[tuple[str | None, Any], list[Any]] = {}
    ids: dict[str | None, list[Any]] = {}
    unmatched: list[Any] = []

    def key(owner: Any) -> tuple[str | None, Any]:
        return (type(owner).__name__ if typeColumn else None, owner._keyValue())

    def note(owner: Any) -> None:
        ownerKey = key(owner)
        if ownerKey not in found:
            found[ownerKey] = []
            ids.setdefault(ownerKey[0], []).append(ownerKey[1])

    def load(_: Any) -> Deferred[list[Any]]:
        loads = []
        for className, classIds in ids.items():
            for chunk in chunks(classIds, size):
                where: tuple[Term, ...] = (keyIn(foreignColumns, chunk),)
                if typeColumn:
                    where += (Equals(Column(typeColumn), className),)
                loads.append(Query.forFinder(spec.target, scope=where, route=route).found(False))
        return gather(loads)

    def place(child: Any) -> None:
        state = child.__dict__
        siblings = found.get(
            (state.get(typeColumn) if typeColumn else None, foreignValue(child, foreignColumns))
        )
        if siblings is None:
            unmatched.append(child)
        else:
            siblings.append(child)

    def remember(owner: Any) -> None:
        children = found[key(owner)]
        keepLoaded(owner, spec.name, (children[0] if children else None) if one else children)

    def assign(results: list[list[Any]]) -> Deferred[Any]:
        return inSlices(place, chain.from_iterable(results)).addCallback(
            lambda _: None if unmatched else inSlices(remember, owners)  # _LOOSER_THAN_PYTHON
        )

    return inSlices(note, owners).addCallback(load).addCallback(assign)


def _loadParents(spec: RelationshipSpec, owners: list[Any]) -> Deferred[Any]:
    """
    Load a belongs-to relationship for C{owners}: one query per related
    class (per chunk of ids).
    """
    wanted: dict[str, set[Any]] = {}
    byKey: dict[tuple[Any, Any], Any] = {}
    route = routeOf(owners[0] if owners else None)

    def parentKey(owner: Any) -> tuple[Any, Any]:
        state = owner.__dict__
        className = state.get(spec.typeColumn) if spec.typeColumn else spec.className
        if className is None:
            return None, None
        columns = spec.foreignColumns(Registry.getClass(className))
        return className, foreignValue(owner, columns)

    def note(owner: Any) -> None:
        className, otherId = parentKey(owner)
        if otherId is not None and className is not None:
            wanted.setdefault(className, set()).add(otherId)

    def load(_: Any) -> Deferred[list[Any]]:
        loads = []
        for className, ids in wanted.items():
            klass = Registry.getClass(className)
            key = klass._keyColumns  # type: ignore[attr-defined]
            with routedTo(route):
                size = chunkSize(Registry.configFor(klass)) // len(key)
            for chunk in chunks(sorted(ids, key=repr), size):
                where = (keyIn(key, chunk),)
                loads.append(Query.forFinder(klass, scope=where, route=route).found(False))
        return gather(loads)

    def index(parent: Any) -> None:
        byKey[(type(parent).__name__, parent._keyValue())] = parent

    def remember(owner: Any) -> None:
        className, otherId = parentKey(owner)
        if otherId is None or className is None:
            keepLoaded(owner, spec.name, None)
        elif (className, otherId) in byKey:
            keepLoaded(owner, spec.name, byKey[(className, otherId)])
        # Otherwise no parent, or one that SQL matches and == does not
        # (see _LOOSER_THAN_PYTHON): get() will query.

    def assign(results: list[list[Any]]) -> Deferred[Any]:
        return inSlices(index, chain.from_iterable(results)).addCallback(
            lambda _: inSlices(remember, owners)
        )

    return inSlices(note, owners).addCallback(load).addCallback(assign)


def _loadThroughJoinTable(spec: RelationshipSpec, owners: list[Any]) -> Deferred[Any]:
    """
    Load a has-and-belongs-to-many relationship for C{owners}: one query
    joining the join table, per chunk of owner ids.
    """
    target = spec.target
    table, middle = target.tablename(), spec.habtmTable()
    joins = (Join("INNER", middle,
                  keysSame(target._keyColumns, table, spec.habtmOtherColumns(), middle)),)
    return loadJoined(spec, owners, Select(table, joins=joins), middle, spec.foreignColumns())


def loadJoined(spec: RelationshipSpec, owners: list[Any], joined: Select, middle: str,
               mine: tuple[str, ...], more: tuple[Term, ...] = ()) -> Deferred[Any]:
    """
    Load a relationship whose objects are reached by joins for C{owners}:
    one query per chunk of owner keys.

    @param joined: the select of the related table with the joins that
        reach the table C{middle}.
    @param mine: the columns of C{middle} holding the owner's key.
    @param more: conditions on C{middle}'s rows (a type column).
    """
    target = spec.target
    with routedTo(routeOf(owners[0] if owners else None)):
        config = Registry.configFor(target)
    table = joined.table
    # The related rows, each with the key of the owner it is linked to.
    joined = joined._replace(
        columns=(Column("*", table), *(Column(name, middle) for name in mine))
    )
    found: dict[Any, list[Any]] = {}
    objects: list[Any] = []
    unmatched: list[Any] = []

    def note(owner: Any) -> None:
        found[owner._keyValue()] = []

    def load(_: Any) -> Deferred[list[Any]]:
        loads = []
        for chunk in chunks(list(found), chunkSize(config) // len(mine)):
            where = (keyIn(mine, chunk, middle), *more)
            query, args = compileSelect(config, joined._replace(where=where))
            loads.append(config.selectKeyedObjects(target, query, args, len(mine)))
        return gather(loads)

    def place(pair: tuple[Any, Any]) -> None:
        ownerId, obj = pair
        related = found.get(ownerId)
        if related is None:
            unmatched.append(obj)
        else:
            related.append(obj)
            objects.append(obj)

    def remember(owner: Any) -> None:
        keepLoaded(owner, spec.name, found[owner._keyValue()])

    def assign(results: list[list[tuple[Any, Any]]]) -> Deferred[Any]:
        def rememberAll(_: Any) -> Any:
            if unmatched:
                return None  # see _LOOSER_THAN_PYTHON
            return inSlices(remember, owners).addCallback(lambda _: target._afterLoad(objects))

        return inSlices(place, chain.from_iterable(results)).addCallback(rememberAll)

    return inSlices(note, owners).addCallback(load).addCallback(assign)


def loadRelationship(spec: RelationshipSpec, owners: list[Any]) -> Deferred[Any]:
    """
    Load the relationship C{spec} of C{owners} (see L{preload}), as its
    kind says.
    """
    if spec.kind == "HABTM":
        return _loadThroughJoinTable(spec, owners)
    if spec.kind == "BELONGSTO":
        return _loadParents(spec, owners)
    return _loadChildren(spec, owners, one=spec.kind == "HASONE")


def preload(
    klass: type[Any], owners: Iterable[Any], names: tuple[str, ...],
    loader: Callable[[RelationshipSpec, list[Any]], Deferred[Any]] = loadRelationship,
) -> Deferred[list[Any]]:
    """
    Load the relationships C{names} of C{owners} (saved objects of C{klass})
    with one query per relationship (per chunk of a few thousand objects),
    so that each C{owner.<name>.get()} then fires without a query.

    @param loader: loads one relationship for the owners.
    @return: a L{Deferred} of C{owners}, as a list.
    @raise InvalidRelationshipError: for a name that is not a relationship.
    @raise TypeError: for an owner that is not a C{klass}.
    @raise ReferenceNotSavedError: for an unsaved owner.
    """
    owners = list(owners)
    requireSaved(owners, klass)
    if not owners or not names:
        return succeed(owners)
    relationships = klass._relationships
    loads = []
    for name in names:
        spec = relationships.get(name)
        if spec is None:
            raise InvalidRelationshipError(f"{klass.__name__} has no relationship {name!r}")
        loads.append(loader(spec, owners))
    return gather(loads).addCallback(lambda _: owners)
