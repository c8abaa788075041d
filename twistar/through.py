# -*- test-case-name: twistar.tests.test_through -*-
"""
Join models: relationships that go through the rows of other tables.

A L{twistar.relationships.HABTM} declared with C{through} (C{HABTM =
[{"name": "movies", "through": "Casting"}]}) links objects by the rows of a
join model, an ordinary model whose table is the join table and may hold
more columns: a L{HABTMThrough}. A L{twistar.relationships.HasMany}
declared with C{through}, naming another relationship of the owner
(C{HASMANY = [{"name": "movies", "through": "castings"}]}), follows that
one and then a relationship of the class it reaches: a read-only
L{HasManyThrough}.

Both read their objects by joining the tables on the way, so that their
queries can filter and order by those tables' columns; an object linked
twice comes twice (C{distinct()} leaves one).
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypeVar, overload

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from twistar.dbconfig.builder import Column, Equals, Fragment, Join, Select, Term, keyEquals, keyIn
from twistar.dbconfig.sqltext import checkWhere
from twistar.dbconfig.writes import Delete, compileDelete
from twistar.eager import loadJoined
from twistar.eager import loadRelationship as loadPlain
from twistar.exceptions import DBObjectSaveError, InvalidRelationshipError, ValidationError
from twistar.query import Query, relationshipJoins
from twistar.querylog import lazyLoad
from twistar.relationships import (
    RELATIONSHIP_CLASSES,
    Relationship,
    RelationshipSpec,
    Scoped,
    chunks,
    chunkSize,
    linkValues,
    requireSaved,
    unsaved,
)
from twistar.replicas import routedTo
from twistar.transaction import transaction
from twistar.utils import checkKeywords

_INNER = "INNER"

# The options a has-many through takes from the relationships it goes along.
_NOT_WITH_THROUGH = ("class_name", "foreign_key", "association_foreign_key", "join_table", "as")


def relationClass(spec: RelationshipSpec) -> type[Relationship[Any]]:
    """
    @return: the class of the relationship objects of C{spec}.
    """
    if spec.through is not None:
        return HABTMThrough if spec.kind == "HABTM" else HasManyThrough
    return RELATIONSHIP_CLASSES[spec.kind]


def checkThroughs(owner: type, specs: dict[str, RelationshipSpec]) -> None:
    """
    Check the C{through} and C{source} options of C{owner}'s relationships
    C{specs} (by name), as far as C{owner} alone tells.

    @raise InvalidRelationshipError: for an option where it does not
        belong, a has-many through naming no has-many or has-one of
        C{owner}, or going through itself.
    """
    for spec in specs.values():
        where = f"{owner.__name__}.{spec.kind} {spec.name!r}"
        if spec.source is not None and (spec.kind != "HASMANY" or spec.through is None):
            raise InvalidRelationshipError(f"{where}: 'source' goes with a HASMANY's 'through'")
        if spec.through is None:
            continue
        for option, value in (("through", spec.through), ("source", spec.source)):
            if value is not None and not (isinstance(value, str) and value.isidentifier()):
                raise InvalidRelationshipError(f"{where}: bad {option} {value!r}")
        if spec.kind == "HABTM":
            if spec.joinTable is not None:
                raise InvalidRelationshipError(
                    f"{where}: the join table is the join model's table: leave 'join_table' out"
                )
        elif spec.kind == "HASMANY":
            given = dict(zip(_NOT_WITH_THROUGH, (
                spec.className, spec.declaredKey, spec.associationForeignKey, spec.joinTable,
                spec.typeColumn,
            )))
            taken = [option for option, value in given.items() if value]
            if taken:
                raise InvalidRelationshipError(
                    f"{where}: a has-many through takes its class and keys from the "
                    f"relationships it goes along, so it cannot have {', '.join(taken)}"
                )
            _checkVia(where, spec, specs)
        else:
            raise InvalidRelationshipError(
                f"{where}: 'through' is for a HABTM (the join model's class) or a HASMANY "
                f"(another relationship's name)"
            )


def _checkVia(where: str, spec: RelationshipSpec, specs: dict[str, RelationshipSpec]) -> None:
    """
    @raise InvalidRelationshipError: unless C{spec} goes through a has-many
        or has-one of C{specs} (itself maybe a has-many through, and so
        on), never coming back to one.
    """
    seen = [spec.name]
    current = spec
    while current.kind == "HASMANY" and current.through is not None:
        via = specs.get(current.through)
        if via is None:
            raise InvalidRelationshipError(
                f"{where}: {current.name!r} goes through {current.through!r}, which is no "
                f"relationship of {spec.owner.__name__}"
            )
        if via.kind not in ("HASMANY", "HASONE"):
            raise InvalidRelationshipError(
                f"{where}: {current.name!r} goes through {via.name!r}, a {via.kind}: only a "
                f"HASMANY or a HASONE can be gone through"
            )
        if via.name in seen:
            raise InvalidRelationshipError(f"{where}: {via.name!r} goes through itself")
        seen.append(via.name)
        current = via


class Path(NamedTuple):
    """
    How the objects of a relationship that goes through other tables are
    reached from an owner.

    @ivar reached: the select of the related table, joining the tables on
        the way back to C{middle}.
    @ivar middle: the first table on the way.
    @ivar mine: the columns of C{middle} that hold the owner's key.
    @ivar more: conditions on C{middle}'s rows (a type column).
    """

    reached: Select
    middle: str
    mine: tuple[str, ...]
    more: tuple[Term, ...]


def pathOf(spec: RelationshipSpec) -> Path:
    """
    @return: the L{Path} of a relationship declared with C{through}: the
        joins from the owner's table to the related one, taken backwards.
    @raise InvalidRelationshipError: when the path is not found, or names a
        table twice (which needs aliases).
    @raise ClassNotRegisteredError: for a class on the way that is not
        registered.
    """
    joins = relationshipJoins(_INNER, spec.owner, spec)
    back = tuple(
        Join(_INNER, joins[index - 1].table, joins[index].on)
        for index in range(len(joins) - 1, 0, -1)
    )
    tables = [joins[-1].table, *(join.table for join in back)]
    twice = sorted({table for table in tables if tables.count(table) > 1})
    if twice:
        raise InvalidRelationshipError(
            f"{spec.owner.__name__}.{spec.name} meets the table {twice[0]} twice on its way, "
            f"which needs an alias: write that query with raw joins"
        )
    first = spec.hops()[0]
    middle = joins[0].table
    more: tuple[Term, ...] = ()
    if first.kind != "HABTM" and first.typeColumn:
        more = (Equals(Column(first.typeColumn, middle), spec.owner.__name__),)
    return Path(Select(joins[-1].table, joins=back), middle, first.foreignColumns(), more)


def checkPath(spec: RelationshipSpec) -> None:
    """
    @raise InvalidRelationshipError: for a relationship declared with
        C{through} whose path is not found (see L{pathOf}).
    """
    if spec.through is not None:
        pathOf(spec)


def loadRelationship(spec: RelationshipSpec, owners: list[Any]) -> Deferred[Any]:
    """
    Load the relationship C{spec} of C{owners} (see
    L{twistar.eager.preload}): one query along the path of a
    relationship declared with C{through}, per chunk of owners.
    """
    if spec.through is None:
        return loadPlain(spec, owners)
    path = pathOf(spec)
    return loadJoined(spec, owners, path.reached, path.middle, path.mine, path.more)


T = TypeVar("T")


class Through(Scoped[T]):
    """
    A relationship whose objects are reached by joining the tables on the
    way: its queries may name their columns (C{"castings.role = ?"}).
    """

    def __init__(self, inst: Any, spec: RelationshipSpec) -> None:
        self.path = pathOf(spec)
        super().__init__(inst, spec)

    def query(self) -> Query[T]:
        """
        @return: a L{Query} of the related objects, joining the tables on
            the way.
        """
        path = self.path
        owned = (keyEquals(path.mine, self.inst._keyValue(), path.middle), *path.more)
        return Query(self.otherklass, path.reached._replace(where=owned), route=self.route)

    def _finder(self, findargs: dict[str, Any]) -> Query[T]:
        """
        @param findargs: as for L{DBObject.find}, plus C{join_where} (a
            where on any of the tables on the way).
        @return: the query of the related objects they find.
        """
        findargs = dict(findargs)
        joinWhere = findargs.pop("join_where", None)
        owned = self.query().statement
        query = Query.forFinder(self.otherklass, scope=owned.where, route=self.route, **findargs)
        statement = query.statement._replace(joins=owned.joins)
        if joinWhere:
            checkWhere(joinWhere)
            statement = statement._replace(
                where=statement.where + (Fragment(joinWhere[0], tuple(joinWhere[1:])),)
            )
        return query._on(statement)

    @overload
    def get(self) -> Deferred[list[T]]: ...

    @overload
    def get(self, **findargs: Any) -> Deferred[Any]: ...

    def get(self, **findargs: Any) -> Deferred[Any]:
        """
        @param findargs: as for L{DBObject.find}, plus C{join_where}, a where
            on the tables on the way; a C{where} may name their columns too.
        @return: a L{Deferred} of the list of related objects (an object
            linked twice comes twice).
        """
        preloaded = self._preloaded(findargs)
        if preloaded is not None:
            return preloaded
        lazyLoad(self.inst, self.spec.name, findargs)
        one = findargs.get("id") is not None or findargs.get("limit") == 1
        return self._finder(findargs).found(one)

    def count(self, **findargs: Any) -> Deferred[int]:
        """
        @param findargs: only C{where} and C{join_where}, as for L{get}.
        @return: a L{Deferred} of the number of objects L{get} gives.
        """
        checkKeywords("count", findargs, {"where", "join_where"})
        return self._finder(findargs).count()


class HABTMThrough(Through[T]):
    """
    Has-and-belongs-to-many through a join model: the rows of its table
    link the owner and the related objects, and are objects of the join
    model (found, changed and deleted as any).
    """

    kind = "HABTM"

    @property
    def joinModel(self) -> type[Any]:
        """The join model's class."""
        return self.spec.joinModel()

    def add(self, other: Any, **columns: Any) -> Deferred[Any]:
        """
        Link C{other} (a saved object) to the owner by a new join model
        object, with C{columns} (the join model's own columns), saved: its
        validation and hooks run. Adding an object linked already links it
        once more.

        @return: a L{Deferred} of the join model object. It fails, saving
            nothing, with L{ValidationError} if that object is invalid, and
            with L{DBObjectSaveError} if one of its hooks cancels its save.
        @raise TypeError: when C{columns} name the columns that link it.
        """
        requireSaved([other], self.otherklass)
        link = self._link(other._keyValue())
        taken = sorted(set(columns) & set(link))
        if taken:
            raise TypeError(f"add() sets {', '.join(taken)} itself")
        joined = self.joinModel(**columns, **link)
        with routedTo(self.route):
            saved: Deferred[Any] = joined.save()
        return saved.addCallback(_checkSaved).addCallback(self._forget)

    def remove(self, *others: Any) -> Deferred[int]:
        """
        Delete every join row linking the owner and C{others} (saved
        objects), in one transaction, without the join model's hooks.

        @return: a L{Deferred} of the number of join rows deleted.
        """
        requireSaved(others, self.otherklass)
        keys = list(dict.fromkeys(obj._keyValue() for obj in others))
        return self._unlink(keys).addCallback(self._forget)

    def set(self, others: list[Any]) -> Deferred[None]:
        """
        Make exactly C{others} (saved objects) the related objects, in one
        transaction: the join rows of the others are deleted (without the
        join model's hooks), those of C{others} kept as they are, and a
        new join model object (with its defaults) saved for each one not
        linked yet, as L{DBObject.createMany} saves it.

        @return: a L{Deferred} that fails, changing nothing, with
            L{ValidationError} if a new join model object is invalid, and
            with L{DBObjectSaveError} if one of its hooks cancels its save.
        """
        others = list(others)
        requireSaved(others, self.otherklass)
        wanted = list(dict.fromkeys(obj._keyValue() for obj in others))
        spec, joinModel = self.spec, self.joinModel
        theirs = spec.habtmOtherColumns()
        own = Select(spec.habtmTable(), where=(keyEquals(spec.foreignColumns(),
                                                        self.inst._keyValue()),))

        def change(linked: list[Any]) -> Deferred[Any]:
            present = set(linked)
            keep = set(wanted)
            gone = [key for key in dict.fromkeys(linked) if key not in keep]
            new = [joinModel(**self._link(key)) for key in wanted if key not in present]

            def create(_: Any) -> Any:
                if not new:
                    return None
                with routedTo(self.route):
                    return joinModel.createMany(new).addCallback(created)

            def created(saved: list[Any]) -> None:
                if len(saved) != len(new):
                    raise DBObjectSaveError(
                        f"a hook cancelled saving a {joinModel.__name__}; nothing was changed"
                    )

            return self._unlink(gone).addCallback(create)

        def run(txn: Any) -> Deferred[Any]:
            return Query(joinModel, own, route=self.route).pluck(*theirs).addCallback(change)

        inTransaction = transaction(database=self.config.database)(run)
        return inTransaction().addCallbacks(lambda _: self._forget(), _causeOf)

    def clear(self) -> Deferred[None]:
        """
        Delete every join row of the owner (without the join model's hooks).
        """
        return self._unlink(None).addCallback(lambda _: self._forget())

    def _link(self, otherKey: Any) -> dict[str, Any]:
        """
        @return: the columns of a join row linking the owner and the object
            of key C{otherKey}.
        """
        spec = self.spec
        return {**linkValues(spec.foreignColumns(), self.inst._keyValue()),
                **linkValues(spec.habtmOtherColumns(), otherKey)}

    def _unlink(self, keys: list[Any] | None) -> Deferred[int]:
        """
        Delete the owner's join rows naming C{keys} (all of them: C{None}).

        @return: a L{Deferred} of the number of rows deleted.
        """
        if keys is not None and not keys:
            return succeed(0)
        spec, config = self.spec, self.config
        table, theirs = spec.habtmTable(), spec.habtmOtherColumns()
        own = keyEquals(spec.foreignColumns(), self.inst._keyValue())
        pieces = [None] if keys is None else chunks(keys, chunkSize(config) // len(theirs))

        def run(txn: Any) -> int:
            deleted = 0
            for chunk in pieces:
                where = (own,) if chunk is None else (own, keyIn(theirs, chunk))
                config.run(txn, *compileDelete(config, Delete(Select(table, where=where))))
                deleted += int(txn.rowcount)
            return deleted

        return config.runAtomic(run)


class HasManyThrough(Through[T]):
    """
    Has-many through another relationship of the owner: the objects of a
    relationship of the objects that one gives. Read-only: change the
    relationships it goes along.
    """

    kind = "HASMANY"

    def set(self, others: list[Any]) -> Deferred[None]:
        """
        @raise InvalidRelationshipError: always (see L{add}).
        """
        raise self._readOnly("set")

    def add(self, other: Any, **columns: Any) -> Deferred[Any]:
        """
        @raise InvalidRelationshipError: always: a has-many through is
            changed by changing the relationships it goes along.
        """
        raise self._readOnly("add")

    def remove(self, *others: Any) -> Deferred[int]:
        """
        @raise InvalidRelationshipError: always (see L{add}).
        """
        raise self._readOnly("remove")

    def clear(self) -> Deferred[None]:
        """
        @raise InvalidRelationshipError: always (see L{add}).
        """
        raise self._readOnly("clear")

    def _readOnly(self, method: str) -> InvalidRelationshipError:
        spec = self.spec
        return InvalidRelationshipError(
            f"{spec.owner.__name__}.{spec.name} goes through {spec.through!r}, so it has no "
            f"{method}(): change {spec.through!r} (or the relationships after it) instead"
        )


def _checkSaved(obj: Any) -> Any:
    """
    @return: C{obj}, just saved by a relationship.
    @raise ValidationError: if it was invalid.
    @raise DBObjectSaveError: if a hook cancelled its save.
    """
    if obj.__dict__.get("errors"):
        raise ValidationError(f"{obj!r} is invalid; nothing was saved", [obj])
    if unsaved(obj):
        raise DBObjectSaveError(f"a hook cancelled saving {obj!r}; nothing was saved")
    return obj


def _causeOf(failure: Failure) -> Failure:
    """
    @return: the failure of a relationship's transaction, as the error that
        made it fail when that is a validation or a cancelled save.
    """
    cause = getattr(failure.value, "__cause__", None)
    if isinstance(cause, (ValidationError, DBObjectSaveError)):
        return Failure(cause)
    return failure
