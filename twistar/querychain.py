# -*- test-case-name: twistar.tests.test_query -*-
"""
L{QueryChain}: the state of a L{twistar.query.Query} (its model, statement,
includes and route) and the chained calls that each return a new query.

Nothing here reads a database: the calls check their arguments and build a
new L{Select} (see L{twistar.dbconfig.builder}), and the statements that
reading objects needs are derived from it. L{twistar.query.Query} inherits
this class and adds the calls that run the statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from twistar.dbconfig.builder import (
    AllOf,
    AnyOf,
    Column,
    Equals,
    Fragment,
    In,
    InSelect,
    Join,
    Not,
    Select,
    Term,
    Text,
    columnsOf,
    keysSame,
    selectOf,
)
from twistar.dbconfig.sqltext import checkIdentifier, safeText
from twistar.exceptions import InvalidQueryError, InvalidRelationshipError, UnsupportedValueError
from twistar.replicas import Route, currentRoute

if TYPE_CHECKING:
    from typing_extensions import Self

T = TypeVar("T")

_newQuery = object.__new__

# Limits, offsets and pages past this are no SQL integers.
BIGGEST_NUMBER = 2**63
"""One more than the largest C{LIMIT} or C{OFFSET} (a signed 64-bit integer)."""

_COLLECTIONS = (list, tuple, set, frozenset, dict)

_INNER = "INNER"
_LEFT = "LEFT OUTER"
# An aggregate function called in a selected expression.
# (The aggregate functions of SQLite, PostgreSQL and MySQL/MariaDB.)
_AGGREGATE = re.compile(
    r"(?i)\b(?:COUNT|SUM|TOTAL|AVG|MIN|MAX|EVERY|ANY_VALUE|BOOL_AND|BOOL_OR|BIT_AND|BIT_OR"
    r"|BIT_XOR|GROUP_CONCAT|STRING_AGG|ARRAY_AGG|RANGE_AGG|RANGE_INTERSECT_AGG|XMLAGG"
    r"|JSONB?_AGG|JSONB?_OBJECT_AGG|JSON_ARRAYAGG|JSON_OBJECTAGG|JSONB?_GROUP_ARRAY"
    r"|JSONB?_GROUP_OBJECT|STD|STDDEV|STDDEV_POP|STDDEV_SAMP|VARIANCE|VAR_POP|VAR_SAMP"
    r"|CORR|COVAR_POP|COVAR_SAMP|REGR_\w+|PERCENTILE_CONT|PERCENTILE_DISC|MODE"
    r"|MEDIAN)\s*\("
)
# A window function call: it keeps the rows.
_WINDOW = re.compile(r"(?i)\bOVER\b\s*[(\w]")


class QueryChain(Generic[T]):
    """
    The state of a query of C{model}'s rows and the calls that compose it,
    each returning a new query of the same class (a L{twistar.query.Query}).
    """

    __slots__ = ("model", "statement", "included", "route")

    def __init__(self, model: type[T], statement: Select | None = None,
                 included: tuple[str, ...] = (), *, route: Route | None = None) -> None:
        """
        @param model: the model class (a C{DBObject} subclass).
        @param statement: what to select; all of the model's rows by default.
        @param included: relationships to load with the objects.
        @param route: where it runs (see L{twistar.replicas}); by default the
            route of the enclosing C{Model.using(...)}, if any.
        """
        self.model = model
        self.statement = statement or Select(model.tablename())  # type: ignore[attr-defined]
        self.included = included
        self.route = route or currentRoute()
        """Where it runs: the route of the C{Model.using(...)} that made it,
        or C{None} for the model's own database."""

    @classmethod
    def forFinder(
        cls, model: type[T], id: Any = None, where: Any = None, group: str | None = None,
        limit: Any = None, orderby: str | None = None, include: Any = None,
        scope: tuple[Term, ...] = (), route: Route | None = None,
    ) -> Self:
        """
        @return: the query of twistar's C{find} arguments (see
            C{DBObject.find}), within the conditions C{scope}, on C{route}
            (see L{Query.__init__}).
        @raise InvalidQueryError: for a bad where, limit or fragment.
        @raise InvalidRelationshipError: for a bad C{include}.
        """
        included = model._includedNames(include)  # type: ignore[attr-defined]
        statement = selectOf(
            model.tablename(), id, where, group, limit, orderby, None,  # type: ignore[attr-defined]
            model._keyColumns,  # type: ignore[attr-defined]
        )
        if scope:
            statement = statement._replace(where=scope + statement.where)
        return cls(model, statement, included, route=route)

    def __repr__(self) -> str:
        return f"<Query of {self.model.__name__}: {self.statement!r}>"

    def _with(self, **changes: Any) -> Self:
        return self._on(self.statement._replace(**changes))

    def _on(self, statement: Select) -> Self:
        """
        @return: a query of the same model and includes on C{statement}.
        """
        query: Self = _newQuery(type(self))
        query.model, query.statement, query.included = self.model, statement, self.included
        query.route = self.route
        return query

    # -- chaining -------------------------------------------------------------

    def where(self, *condition: Any, **columns: Any) -> Self:
        """
        Keep the rows matching a condition: C{where("age > ?", 21)}, a
        twistar where list C{where(["age > ?", 21])}, or column equalities
        C{where(last_name="Smith")} (C{None} is C{IS NULL}, a list or tuple
        C{IN}, another L{Query} C{IN (subquery)}). Conditions are ANDed.

        @raise InvalidQueryError: for a condition that is none of these.
        @raise InvalidIdentifierError: for a bad column name.
        """
        statement = self.statement
        if not columns and len(condition) >= 1 and type(condition[0]) is str:
            # The common case, quicker: one trusted condition and its values.
            terms: tuple[Term, ...] = (Fragment(condition[0], condition[1:]),)
        else:
            terms = _terms(condition, columns)
        return self._on(statement._replace(where=statement.where + terms))

    def whereNot(self, *condition: Any, **columns: Any) -> Self:
        """
        Keep the rows not matching a condition (as for L{where}).
        """
        terms = _terms(condition, columns)
        negated = Not(terms[0] if len(terms) == 1 else AllOf(terms))
        return self._with(where=self.statement.where + (negated,))

    def __or__(self, other: Self) -> Self:
        """
        @return: the rows matching either query's conditions.
        @raise InvalidQueryError: unless both are queries of one model that
            differ in their conditions only.
        """
        if not isinstance(other, QueryChain):
            return NotImplemented
        mine, theirs = self.statement, other.statement
        if (self.model is not other.model or self.included != other.included
                or mine._replace(where=()) != theirs._replace(where=())):
            raise InvalidQueryError(
                "q1 | q2 needs two queries of one model that differ only in their where"
            )
        either = AnyOf((AllOf(mine.where), AllOf(theirs.where)))
        return self._with(where=(either,))

    def order(self, *fragments: str) -> Self:
        """
        Order by trusted SQL fragments (C{"age DESC"}), after earlier ones.
        """
        return self._with(order=self.statement.order + _fragments("order", fragments))

    def reorder(self, *fragments: str) -> Self:
        """
        Order by these fragments only, replacing earlier ones.
        """
        return self._with(order=_fragments("reorder", fragments))

    def limit(self, count: int | None) -> Self:
        """
        At most C{count} rows (C{None}: no limit).

        @raise InvalidQueryError: unless a non-negative int or C{None}.
        """
        return self._with(limit=_count("limit", count))

    def offset(self, count: int | None) -> Self:
        """
        Skip the first C{count} rows.

        @raise InvalidQueryError: unless a non-negative int or C{None}.
        """
        return self._with(offset=_count("offset", count))

    def select(self, *columns: str) -> Self:
        """
        Select only these: column names (checked and quoted) or trusted SQL
        expressions (C{"COUNT(*) AS n"}). Objects then have only these
        attributes, and saving one writes only what changed.
        """
        if not columns:
            raise InvalidQueryError("select needs at least one column")
        return self._with(columns=columnsOf(columns))

    def distinct(self, distinct: bool = True) -> Self:
        """
        Leave out duplicate rows.
        """
        return self._with(distinct=bool(distinct))

    def group(self, *fragments: str) -> Self:
        """
        Group by trusted SQL fragments; read the groups with L{rows<twistar.query.Query.rows>}.
        """
        return self._with(group=self.statement.group + _fragments("group", fragments))

    def having(self, *condition: Any, **columns: Any) -> Self:
        """
        Keep the groups matching a condition (written as for L{where}).
        """
        return self._with(having=self.statement.having + _terms(condition, columns))

    def joins(self, *names: str) -> Self:
        """
        Inner-join relationships by name (the C{ON} comes from the
        relationship), or raw trusted join fragments
        (C{"JOIN x ON x.user_id = users.id"}).

        @raise InvalidRelationshipError: for a name that is no relationship.
        @raise InvalidQueryError: for a polymorphic belongs-to, whose table
            is not known.
        """
        return self._with(joins=self.statement.joins + self._joins(_INNER, names))

    def leftJoins(self, *names: str) -> Self:
        """
        Left-outer-join relationships by name, as for L{joins}.
        """
        return self._with(joins=self.statement.joins + self._joins(_LEFT, names))

    def includes(self, *names: str) -> Self:
        """
        Load these relationships of the objects found, one query per
        relationship, so that their C{get()} needs no query.

        @raise InvalidRelationshipError: for a name that is no relationship.
        """
        for name in names:
            if not isinstance(name, str):
                raise InvalidRelationshipError(
                    f"includes takes relationship names, not {safeText(name):.80}"
                )
        self.model._includedNames(names)  # type: ignore[attr-defined]
        return type(self)(
            self.model, self.statement, self.included + tuple(names), route=self.route
        )

    def lock(self, clause: str = "FOR UPDATE") -> Self:
        """
        Lock the rows read (C{"FOR UPDATE"}, C{"FOR SHARE"}, ... as trusted
        SQL) until the transaction ends; the query must run in a
        transaction. SQLite adds nothing: its transactions hold the write
        lock of the whole database.
        """
        if not isinstance(clause, str) or not clause.strip():
            raise InvalidQueryError(f"lock takes an SQL locking clause, not {clause!r}")
        return self._with(lock=clause)

    # -- helpers ------------------------------------------------------------------

    def _subquery(self) -> Select:
        """
        @return: the statement of this query used as C{IN (subquery)}: its
            one selected column, or its ids.
        @raise InvalidQueryError: if it selects several columns.
        """
        statement = self.statement
        if not statement.columns:
            key = self.model._keyColumns  # type: ignore[attr-defined]
            if len(key) > 1:
                raise InvalidQueryError(
                    f"a query of {self.model.__name__} (whose key has {len(key)} columns) "
                    f"used in where(column=query) must select one column"
                )
            return statement._replace(columns=(Column(key[0], statement.table),))
        if len(statement.columns) != 1:
            raise InvalidQueryError("a query used in where(column=query) must select one column")
        return statement

    def _keyNames(self) -> tuple[str, ...]:
        """
        @return: the model's key columns, as this query names them (with
            the table, over joins).
        """
        key = self.model._keyColumns  # type: ignore[attr-defined]
        if self.statement.joins:
            return tuple(f"{self.statement.table}.{name}" for name in key)
        return tuple(key)

    def _objectsStatement(self) -> Select:
        """
        @return: the statement that reads whole objects (their C{id} added
            to a selection of columns).
        @raise InvalidQueryError: for a grouped query, or a selection of
            expressions or without an C{id} that cannot get one.
        """
        statement = self.statement
        if statement.group or statement.having:
            raise InvalidQueryError("a grouped query gives rows(), not objects")
        if not statement.columns:
            return statement
        if any(not isinstance(column, Column) and _AGGREGATE.search(column.sql)
               and not _WINDOW.search(column.sql) for column in statement.columns):
            raise InvalidQueryError("a query selecting aggregates gives rows(), not objects")
        key = self.model._keyColumns  # type: ignore[attr-defined]
        hasId = set()
        for column in statement.columns:
            owner = _idOwner(column, statement, key)
            if owner == "":
                hasId.add(column.name if isinstance(column, Column) else "*")
            elif owner == "*":
                raise InvalidQueryError(
                    f"select('*') over a join reads every table's columns, ids included: "
                    f"select {statement.table}.* instead"
                )
            elif owner is not None:
                raise InvalidQueryError(
                    f"objects would take {owner}'s id as their own: select that table's columns "
                    f"under other names (\"{owner}.id AS {owner}_id\")"
                )
        self._checkIncludable(statement)
        missing = [] if "*" in hasId else [name for name in key if name not in hasId]
        if not missing:
            return statement
        if statement.distinct:
            raise InvalidQueryError(
                "objects need their id: select it too, or read distinct columns with "
                "rows() or pluck()"
            )
        table = statement.table if statement.joins else None
        added = tuple(Column(name, table) for name in missing)
        return statement._replace(columns=(*added, *statement.columns))

    def _checkIncludable(self, statement: Select) -> None:
        """
        @raise InvalidQueryError: when a relationship to include needs a
            column (a belongs-to's foreign key) the selection leaves out.
        """
        selected = {column.name for column in statement.columns
                    if isinstance(column, Column) and column.table in (None, statement.table)}
        relationships = self.model._relationships  # type: ignore[attr-defined]
        for name in self.included:
            spec = relationships[name]
            needed = [*spec.foreignColumns(), spec.typeColumn] if spec.kind == "BELONGSTO" else []
            missing = [column for column in needed if column and column not in selected]
            if missing:
                raise InvalidQueryError(
                    f"includes({name!r}) needs the column(s) {', '.join(missing)}: select them"
                )

    def _joins(self, kind: str, names: Sequence[str]) -> tuple[Join | Text, ...]:
        model: Any = self.model
        joins: list[Join | Text] = []
        for name in names:
            if isinstance(name, str) and any(char.isspace() for char in name.strip()):
                joins.append(Text(name))
                continue
            spec = model._relationships.get(name) if isinstance(name, str) else None
            if spec is None:
                raise InvalidRelationshipError(
                    f"{model.__name__} has no relationship {safeText(name)!r} to join"
                )
            joins.extend(relationshipJoins(kind, model, spec))
        tables = [self.statement.table] + [
            join.table for join in self.statement.joins + tuple(joins) if isinstance(join, Join)
        ]
        twice = {table for table in tables if tables.count(table) > 1}
        if twice:
            raise InvalidQueryError(
                f"the join would name the table {sorted(twice)[0]} twice, which needs an alias: "
                f"write that join as a raw fragment (\"JOIN people AS parents ON ...\")"
            )
        return tuple(joins)


# -- building terms -------------------------------------------------------------


def _terms(condition: tuple[Any, ...], columns: dict[str, Any]) -> tuple[Term, ...]:
    """
    @return: the terms of a L{Query.where}'s arguments.
    """
    terms: list[Term] = []
    if condition:
        first, rest = condition[0], condition[1:]
        if isinstance(first, str):
            terms.append(Fragment(first, tuple(rest)))
        elif isinstance(first, (list, tuple)) and not rest and first and isinstance(first[0], str):
            terms.append(Fragment(first[0], tuple(first[1:])))
        else:
            raise InvalidQueryError(
                f"where takes ('sql ?', args...), ['sql ?', args...] or column=value, "
                f"not {safeText(condition):.100}"
            )
    for name, value in columns.items():
        column = checkedColumn(name)
        if isinstance(value, QueryChain):
            terms.append(InSelect(column, value._subquery()))
        elif isinstance(value, (list, tuple, set, frozenset)):
            nested = [each for each in value if isinstance(each, _COLLECTIONS)]
            if nested:
                raise UnsupportedValueError(
                    f"an IN list takes single values, not {safeText(nested[0]):.80} (for {name!r})"
                )
            terms.append(In(column, tuple(value)))
        else:
            terms.append(Equals(column, value))
    if not terms:
        raise InvalidQueryError("where needs a condition")
    return tuple(terms)


def _count(name: str, value: Any) -> int | None:
    if value is not None and (type(value) is not int or not 0 <= value < BIGGEST_NUMBER):
        raise InvalidQueryError(
            f"{name} takes a non-negative int or None, not {safeText(value):.80}"
        )
    return value


def _idOwner(column: Any, statement: Select, key: tuple[str, ...] = ("id",)) -> str | None:
    """
    @param key: the model's key columns.
    @return: for a selected C{column} of C{statement} that gives rows an
        C{id} (or a column of C{key}): C{""} when it is the model's own,
        else the other table's name (C{"*"} for all the joined tables);
        C{None} when it gives none.
    """
    table = statement.table
    if isinstance(column, Column):
        if column.name == "*" or column.name in key:
            return "" if column.table in (None, table) else column.table
        if column.name != "id":
            return None
        return "" if column.table in (None, table) else column.table
    text = column.sql.strip()
    if not text.endswith("*"):
        return None
    for quote in "`\"":
        text = text.replace(quote, "")
    if text == "*":
        return "*" if statement.joins else ""
    named = text[:-1].rstrip().rstrip(".").strip()
    return "" if named == table else named


def checkedColumn(name: Any) -> Column:
    """
    @return: the column C{name}.
    @raise InvalidQueryError: if C{name} is not a string.
    """
    if not isinstance(name, str):
        raise InvalidQueryError(f"a column name must be a str, not {safeText(name):.80}")
    return Column.named(name)


def _fragments(method: str, fragments: Iterable[Any]) -> tuple[str, ...]:
    checked = tuple(fragments)
    for fragment in checked:
        if not isinstance(fragment, str) or not fragment.strip():
            raise InvalidQueryError(
                f"{method} takes SQL fragments (str), not {safeText(fragment):.80}"
            )
    return checked


def relationshipJoins(kind: str, model: Any, spec: Any) -> list[Join]:
    """
    @param kind: C{"INNER"} or C{"LEFT OUTER"}.
    @param spec: a relationship of C{model} (a C{RelationshipSpec}).
    @return: the joins that reach C{spec}'s table from C{model}'s: for a
        has-many through, those of each relationship it goes along.
    @raise InvalidIdentifierError: for a name of the declaration that is no
        plain identifier.
    @raise InvalidRelationshipError: for a has-many through whose path is
        not found.
    """
    if spec.kind == "HASMANY" and spec.through:
        return [join for hop in spec.hops() for join in relationshipJoins(kind, hop.owner, hop)]
    table = model.tablename()
    for name in (spec.typeColumn, spec.joinTable):
        if name is not None:
            checkIdentifier(name)
    if spec.kind == "BELONGSTO":
        if spec.typeColumn is not None:
            raise InvalidQueryError(
                f"{model.__name__}.{spec.name} is polymorphic: its table depends on each "
                f"row, so it cannot be joined"
            )
        other = spec.target.tablename()
        foreign = tuple(map(checkIdentifier, spec.foreignColumns()))
        return [Join(kind, other, keysSame(spec.target._keyColumns, other, foreign, table))]
    other = spec.target.tablename()
    foreign = tuple(map(checkIdentifier, spec.foreignColumns()))
    if spec.kind == "HABTM":
        middle = spec.habtmTable()
        others = tuple(map(checkIdentifier, spec.habtmOtherColumns()))
        return [
            Join(kind, middle, keysSame(foreign, middle, model._keyColumns, table)),
            Join(kind, other, keysSame(spec.target._keyColumns, other, others, middle)),
        ]
    on: Term = keysSame(foreign, other, model._keyColumns, table)
    if spec.typeColumn is not None:
        on = AllOf((on, Equals(Column(spec.typeColumn, other), model.__name__)))
    return [Join(kind, other, on)]
