# -*- test-case-name: twistar.tests.test_query -*-
"""
L{Query}: a chainable, immutable description of rows of one model, and the
calls that run it.

A query is started from a model class (C{User.where(...)}, C{User.query()})
or from a relationship of a saved object (C{alice.pictures.where(...)}).
Each chained call returns a new query; nothing is sent until a running call
(L{Query.all}, L{Query.first}, L{Query.count}, ...) is made, and each of
those returns a L{Deferred}. The SQL comes from L{twistar.dbconfig.builder}.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from twisted.internet.defer import Deferred, fail

from twistar.context import currentTransaction
from twistar.dbconfig.base import InteractionBase
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
    compileAggregate,
    compileExists,
    compileSelect,
    keysSame,
    selectOf,
)
from twistar.dbconfig.objects import timestampColumns
from twistar.dbconfig.runner import utcNow
from twistar.dbconfig.sqltext import checkIdentifier, safeText
from twistar.dbconfig.writes import Delete, Update, compileDelete, compileUpdate
from twistar.exceptions import (
    InvalidQueryError,
    InvalidRelationshipError,
    TransactionError,
    UnsupportedValueError,
)
from twistar.registry import Registry
from twistar.replicas import Route, currentRoute, routedTo

T = TypeVar("T")

_newQuery = object.__new__

# Limits, offsets and pages past this are no SQL integers.
_BIGGEST = 2**63

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


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """
    One page of a query's objects (from L{Query.page}).

    @ivar items: the objects on this page.
    @ivar total: how many rows the whole query matches.
    @ivar number: this page's number, from 1.
    @ivar perPage: the most objects a page holds.
    """

    items: list[T]
    total: int
    number: int
    perPage: int

    @property
    def pages(self) -> int:
        """The number of pages (0 when nothing matches)."""
        return -(-self.total // self.perPage)


class Query(Generic[T]):
    """
    Rows of C{model}'s table, described by chained calls.

    SQL fragments (conditions written with C{?}, C{order}, C{group},
    C{having}, raw joins, selected expressions) are the caller's trusted
    SQL; every value is sent as a parameter; names (keyword conditions,
    selected and plucked columns, relationships) are checked and quoted.
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
    ) -> Query[T]:
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

    def _with(self, **changes: Any) -> Query[T]:
        return self._on(self.statement._replace(**changes))

    def _on(self, statement: Select) -> Query[T]:
        """
        @return: a query of the same model and includes on C{statement}.
        """
        query: Query[T] = _newQuery(Query)
        query.model, query.statement, query.included = self.model, statement, self.included
        query.route = self.route
        return query

    # -- chaining -------------------------------------------------------------

    def where(self, *condition: Any, **columns: Any) -> Query[T]:
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

    def whereNot(self, *condition: Any, **columns: Any) -> Query[T]:
        """
        Keep the rows not matching a condition (as for L{where}).
        """
        terms = _terms(condition, columns)
        negated = Not(terms[0] if len(terms) == 1 else AllOf(terms))
        return self._with(where=self.statement.where + (negated,))

    def __or__(self, other: Query[T]) -> Query[T]:
        """
        @return: the rows matching either query's conditions.
        @raise InvalidQueryError: unless both are queries of one model that
            differ in their conditions only.
        """
        if not isinstance(other, Query):
            return NotImplemented
        mine, theirs = self.statement, other.statement
        if (self.model is not other.model or self.included != other.included
                or mine._replace(where=()) != theirs._replace(where=())):
            raise InvalidQueryError(
                "q1 | q2 needs two queries of one model that differ only in their where"
            )
        either = AnyOf((AllOf(mine.where), AllOf(theirs.where)))
        return self._with(where=(either,))

    def order(self, *fragments: str) -> Query[T]:
        """
        Order by trusted SQL fragments (C{"age DESC"}), after earlier ones.
        """
        return self._with(order=self.statement.order + _fragments("order", fragments))

    def reorder(self, *fragments: str) -> Query[T]:
        """
        Order by these fragments only, replacing earlier ones.
        """
        return self._with(order=_fragments("reorder", fragments))

    def limit(self, count: int | None) -> Query[T]:
        """
        At most C{count} rows (C{None}: no limit).

        @raise InvalidQueryError: unless a non-negative int or C{None}.
        """
        return self._with(limit=_count("limit", count))

    def offset(self, count: int | None) -> Query[T]:
        """
        Skip the first C{count} rows.

        @raise InvalidQueryError: unless a non-negative int or C{None}.
        """
        return self._with(offset=_count("offset", count))

    def select(self, *columns: str) -> Query[T]:
        """
        Select only these: column names (checked and quoted) or trusted SQL
        expressions (C{"COUNT(*) AS n"}). Objects then have only these
        attributes, and saving one writes only what changed.
        """
        if not columns:
            raise InvalidQueryError("select needs at least one column")
        return self._with(columns=columnsOf(columns))

    def distinct(self, distinct: bool = True) -> Query[T]:
        """
        Leave out duplicate rows.
        """
        return self._with(distinct=bool(distinct))

    def group(self, *fragments: str) -> Query[T]:
        """
        Group by trusted SQL fragments; read the groups with L{rows}.
        """
        return self._with(group=self.statement.group + _fragments("group", fragments))

    def having(self, *condition: Any, **columns: Any) -> Query[T]:
        """
        Keep the groups matching a condition (written as for L{where}).
        """
        return self._with(having=self.statement.having + _terms(condition, columns))

    def joins(self, *names: str) -> Query[T]:
        """
        Inner-join relationships by name (the C{ON} comes from the
        relationship), or raw trusted join fragments
        (C{"JOIN x ON x.user_id = users.id"}).

        @raise InvalidRelationshipError: for a name that is no relationship.
        @raise InvalidQueryError: for a polymorphic belongs-to, whose table
            is not known.
        """
        return self._with(joins=self.statement.joins + self._joins(_INNER, names))

    def leftJoins(self, *names: str) -> Query[T]:
        """
        Left-outer-join relationships by name, as for L{joins}.
        """
        return self._with(joins=self.statement.joins + self._joins(_LEFT, names))

    def includes(self, *names: str) -> Query[T]:
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
        return Query(self.model, self.statement, self.included + tuple(names), route=self.route)

    def lock(self, clause: str = "FOR UPDATE") -> Query[T]:
        """
        Lock the rows read (C{"FOR UPDATE"}, C{"FOR SHARE"}, ... as trusted
        SQL) until the transaction ends; the query must run in a
        transaction. SQLite adds nothing: its transactions hold the write
        lock of the whole database.
        """
        if not isinstance(clause, str) or not clause.strip():
            raise InvalidQueryError(f"lock takes an SQL locking clause, not {clause!r}")
        return self._with(lock=clause)

    # -- running ----------------------------------------------------------------

    def all(self) -> Deferred[list[T]]:
        """
        @return: a L{Deferred} of the objects found.
        """
        try:
            statement = self._objectsStatement()
        except Exception:
            return fail()
        return self.found(False, statement)

    def found(self, one: bool, statement: Select | None = None) -> Deferred[Any]:
        """
        Run the query as twistar's finders do: nothing added to it, nothing
        checked but what the SQL needs.

        @param one: read one object (or C{None}) rather than a list.
        @param statement: what to run instead of the query's statement.
        @return: a L{Deferred} of the object or C{None}, or of the list.
        """
        try:
            config, sql, args = self._compiled(statement or self.statement)
        except Exception:
            return fail()
        model: Any = self.model
        d: Deferred[Any] = config.selectObjects(model, sql, args, one)
        d.addCallback(model._afterLoad)
        if self.included:
            d.addCallback(self._routed, model._includeIn, self.included)
        return d

    def _routed(self, value: Any, func: Callable[..., Any], *args: Any) -> Any:
        """
        @return: C{func(value, *args)}, called on the query's route.
        """
        with routedTo(self.route):
            return func(value, *args)

    def first(self) -> Deferred[T | None]:
        """
        @return: a L{Deferred} of the first object (by C{id} unless the
            query is ordered), or C{None}.
        """
        try:
            statement = self._objectsStatement()
            order = statement.order or self._keySQL()
            limit = 1 if statement.limit is None else min(statement.limit, 1)
        except Exception:
            return fail()
        return self.found(True, statement._replace(order=order, limit=limit))

    def count(self) -> Deferred[int]:
        """
        @return: a L{Deferred} of the number of rows the query returns.
        """
        return self._scalar(compileAggregate, "COUNT", None).addCallback(int)

    def exists(self) -> Deferred[bool]:
        """
        @return: a L{Deferred} of whether the query returns any row.
        """
        try:
            config, sql, args = self._compiled(self.statement, compileExists)
        except Exception:
            return fail()
        return self._read(config, sql, args, _found, 1)

    def sum(self, column: str) -> Deferred[Any]:
        """
        @return: a L{Deferred} of the sum of C{column} (0 when no rows).
        """
        return self._aggregate("SUM", column).addCallback(_zeroForNone)

    def avg(self, column: str) -> Deferred[Any]:
        """
        @return: a L{Deferred} of the average of C{column} (C{None} when no rows).
        """
        return self._aggregate("AVG", column)

    def min(self, column: str) -> Deferred[Any]:
        """
        @return: a L{Deferred} of the least C{column} (C{None} when no rows).
        """
        return self._aggregate("MIN", column)

    def max(self, column: str) -> Deferred[Any]:
        """
        @return: a L{Deferred} of the greatest C{column} (C{None} when no rows).
        """
        return self._aggregate("MAX", column)

    def pluck(self, *columns: str) -> Deferred[list[Any]]:
        """
        @param columns: column names (C{"name"}, C{"pictures.size"}).
        @return: a L{Deferred} of the values of one column, or of tuples of
            several, one per row.
        @raise InvalidIdentifierError: for a bad column name.
        """
        try:
            if not columns:
                raise InvalidQueryError("pluck needs at least one column")
            names = tuple(_column(name) for name in columns)
            config, sql, args = self._compiled(self.statement._replace(columns=names))
        except Exception:
            return fail()
        return self._read(config, sql, args, _firstValues if len(columns) == 1 else _tuples)

    def ids(self) -> Deferred[list[Any]]:
        """
        @return: a L{Deferred} of the ids of the rows.
        """
        return self.pluck(*self._keyNames())

    def rows(self) -> Deferred[list[dict[str, Any]]]:
        """
        @return: a L{Deferred} of the rows as dicts of column name to value
            (for L{select}, L{group} and L{having} queries).
        """
        try:
            config, sql, args = self._compiled(self.statement)
        except Exception:
            return fail()
        return self._read(config, sql, args, _dicts)

    def updateAll(self, **values: Any) -> Deferred[int]:
        """
        Set columns of every row of the query in one statement, without
        hooks or validation; and the update time column of a model with
        C{TIMESTAMPS}, unless C{values} names it.

        @return: a L{Deferred} of the number of rows matched (also those
            whose values were already the new ones).
        @raise InvalidQueryError: when no values are given, or for a
            grouped query.
        @raise TransactionError: for a locking query outside a transaction.
        """
        try:
            if not values:
                raise InvalidQueryError("updateAll needs at least one column=value")
            self._checkChangeable("updateAll")
            self._checkLocks()
            config = self._config()
            config.checkValues(list(values.values()), list(values))
            sets = tuple((Column(checkIdentifier(name)), value) for name, value in values.items())
            key = self.model._keyColumns  # type: ignore[attr-defined]
            sql, args = compileUpdate(config, Update(self.statement, sets, key))
            config.checkValues(args, "where argument", config.sequenceArguments)
            pair = timestampColumns(self.model.TIMESTAMPS)  # type: ignore[attr-defined]
        except Exception:
            return fail()
        if pair is None or pair[1] in values:
            return config.runWork(_matchedRows, (config, sql, args), oneStatement=True)
        statement, table = self.statement, self.statement.table

        def stamped(txn: Any) -> int:
            # The time is read, as the column keeps it, on the pool thread.
            stamp = config.timestampValues(txn, table, pair[1:], utcNow())
            stampSet = (Column(pair[1]), stamp[pair[1]])
            stampedSQL, stampedArgs = compileUpdate(
                config, Update(statement, (*sets, stampSet), key)
            )
            return _matchedRows(txn, config, stampedSQL, stampedArgs)

        return config.runWork(stamped, oneStatement=True)

    def deleteAll(self) -> Deferred[int]:
        """
        Delete every row of the query in one statement, without hooks.

        @return: a L{Deferred} of the number of rows deleted.
        """
        try:
            self._checkChangeable("deleteAll")
            self._checkLocks()
            config = self._config()
            key = self.model._keyColumns  # type: ignore[attr-defined]
            sql, args = compileDelete(config, Delete(self.statement, key))
            config.checkValues(args, "where argument", config.sequenceArguments)
        except Exception:
            return fail()
        return config.runWork(config.runAndCount, (sql, args), oneStatement=True)

    def page(self, number: int, perPage: int = 20) -> Deferred[Page[T]]:
        """
        @param number: the page, from 1.
        @return: a L{Deferred} of a L{Page}: the objects of page C{number}
            (in the query's order, else by id) and the total.
        @raise InvalidQueryError: for a number or perPage below 1.
        """
        for name, value in (("page number", number), ("perPage", perPage)):
            if type(value) is not int or not 1 <= value < _BIGGEST:
                return fail(InvalidQueryError(f"{name} must be an int from 1, not {value!r}"))
        try:
            self._objectsStatement()
            statement = self.statement
            start = (number - 1) * perPage
            # Within the query's own offset and limit.
            limit = statement.limit
            size = perPage if limit is None else max(0, min(perPage, limit - start))
            ordered = self if statement.order else self.order(*self._keySQL())
            items = ordered.limit(size).offset((statement.offset or 0) + start)
        except Exception:
            return fail()

        def withTotal(total: int) -> Deferred[Page[T]]:
            return items.all().addCallback(lambda found: Page(found, total, number, perPage))

        return self.count().addCallback(withTotal)

    def each(self, batchSize: int = 1000) -> Batches[T]:
        """
        Walk the objects in C{id} order, C{batchSize} rows at a time, never
        holding more: C{async for user in User.where(...).each(): ...}. Each
        batch is one query (keyed on the last id seen), so no connection is
        held between batches, and rows changed meanwhile are seen as they
        are when their batch is read.

        @raise InvalidQueryError: (when iterated) for a query with its own
            order, grouped, or selecting without C{id}; or a C{batchSize}
            below 1.
        """
        return Batches(self, batchSize)

    def toSQL(self) -> tuple[str, list[Any]]:
        """
        @return: the SQL and arguments L{all} sends, in the current
            driver's paramstyle.
        """
        _, sql, args = self._compiled(self._objectsStatement(), running=False)
        return sql, args

    # -- helpers ------------------------------------------------------------------

    def _compiled(self, statement: Select, compiler: Any = compileSelect,
                  *extra: Any, running: bool = True) -> tuple[Any, str, list[Any]]:
        """
        @param running: the statement is about to be sent.
        @return: the config, and C{statement}'s SQL and arguments, checked.
        @raise TransactionError: for a locking query run outside a transaction.
        """
        if running:
            self._checkLocks(statement)
        config = self._config()
        sql, args = compiler(config, statement, *extra)
        config.checkValues(args, "where argument", config.sequenceArguments)
        return config, sql, args

    def _config(self) -> InteractionBase:
        """
        @return: the config of the database the query runs on.
        """
        with routedTo(self.route):
            return Registry.configFor(self.model)

    def _scalar(self, compiler: Any, *extra: Any) -> Deferred[Any]:
        try:
            config, sql, args = self._compiled(self.statement, compiler, *extra)
        except Exception:
            return fail()
        return self._read(config, sql, args, _firstValue, 1)

    def _read(self, config: Any, sql: str, args: list[Any],
              shape: Callable[[list[str], list[tuple[Any, ...]]], Any],
              most: int | None = None) -> Deferred[Any]:
        """
        Run a select and give C{shape(names, rows)} of its result, made on
        the pool thread (however many rows there are, the reactor only
        gets the result).
        """

        # Values are read as the model's columns are only without joins,
        # where a name may be another table's.
        table = None if self.statement.joins else self.statement.table

        def read(txn: Any) -> Any:
            return shape(*config.selectRows(txn, sql, args, table, most))

        return config.runRead(read)  # type: ignore[no-any-return]

    def _aggregate(self, function: str, column: str) -> Deferred[Any]:
        try:
            target = _column(column)
            statement = self.statement
            if statement.group:
                raise InvalidQueryError(
                    f"{function.lower()}() of a grouped query: select the aggregate and "
                    f"read rows() instead"
                )
            if statement.distinct and not _inDistinctRows(target, statement):
                raise InvalidQueryError(
                    f"{function.lower()}() of a distinct query adds up its rows: select "
                    f"{column} too"
                )
        except Exception:
            return fail()
        return self._scalar(compileAggregate, function, target)

    def _checkLocks(self, statement: Select | None = None) -> None:
        """
        @raise TransactionError: for a query that locks rows (or has a
            subquery that does) outside a transaction.
        """
        if _locks(statement or self.statement) and currentTransaction() is None:
            raise TransactionError("a query with lock() must run inside a transaction")

    def _checkChangeable(self, method: str) -> None:
        """
        @raise InvalidQueryError: for a grouped query, whose rows are groups.
        """
        if self.statement.group or self.statement.having:
            raise InvalidQueryError(f"{method} of a grouped query: its rows are groups, not rows")

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

    def _keySQL(self) -> tuple[str, ...]:
        """
        @return: the key columns, quoted (to order by).
        """
        config = self._config()
        return tuple(map(config.quoteIdentifier, self._keyNames()))

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


class Batches(Generic[T]):
    """
    The asynchronous iterator of L{Query.each}.
    """

    def __init__(self, query: Query[T], batchSize: int) -> None:
        """
        @param query: the query to walk (checked when iterated).
        @param batchSize: the most rows read by one batch's query.
        """
        self.query = query
        self.batchSize = batchSize
        self._buffer: deque[T] = deque()
        self._lastId: Any = None
        self._left = query.statement.limit
        self._done = False

    def __aiter__(self) -> Batches[T]:
        return self

    async def __anext__(self) -> T:
        if not self._buffer:
            if self._done:
                raise StopAsyncIteration
            await self._fill()
            if not self._buffer:
                raise StopAsyncIteration
        return self._buffer.popleft()

    async def _fill(self) -> None:
        batchSize, query = self.batchSize, self.query
        if not isinstance(batchSize, int) or isinstance(batchSize, bool) or batchSize < 1:
            raise InvalidQueryError(f"batchSize must be an int of at least 1, not {batchSize!r}")
        if query.statement.order:
            raise InvalidQueryError(
                "each() walks rows in id order: leave order() out (or use all())"
            )
        if query.statement.joins and not query.statement.distinct:
            raise InvalidQueryError(
                "each() over joins needs distinct(): it walks the rows by id, once each"
            )
        size = batchSize if self._left is None else min(batchSize, self._left)
        key = query._keySQL()
        batch = query.reorder(*key).limit(size)
        if self._lastId is not None:
            # Row values compare column by column: (a, b) > (?, ?).
            after = key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"
            marks = "?" if len(key) == 1 else "(" + ", ".join("?" * len(key)) + ")"
            last = (self._lastId,) if len(key) == 1 else self._lastId
            batch = batch.where(f"{after} > {marks}", *last).offset(None)
        found = await batch.all()
        if self._left is not None:
            self._left -= len(found)
        if len(found) < size or self._left == 0:
            self._done = True
        if found:
            self._lastId = found[-1]._keyValue()  # type: ignore[attr-defined]
            if self._lastId is None:
                raise InvalidQueryError(
                    f"each() needs the {', '.join(query._keyNames())} of every row"
                )
        self._buffer.extend(found)


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
        column = _column(name)
        if isinstance(value, Query):
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
    if value is not None and (type(value) is not int or not 0 <= value < _BIGGEST):
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


def _inDistinctRows(column: Column, statement: Select) -> bool:
    """
    @return: whether the rows of C{statement} (a distinct one) have
        C{column}: all of the model's columns, or one selected by name.
    """
    own = (None, statement.table)
    if not statement.columns:
        return column.table in own
    return any(isinstance(each, Column) and each.name == column.name
               and (each.table in own) == (column.table in own)
               for each in statement.columns)


def _locks(statement: Select) -> bool:
    """
    @return: whether C{statement} or one of its subqueries locks rows.
    """
    if statement.lock:
        return True
    pending: list[Any] = list(statement.where) + list(statement.having)
    while pending:
        term = pending.pop()
        if isinstance(term, InSelect):
            if _locks(term.select):
                return True
        elif isinstance(term, Not):
            pending.append(term.term)
        elif isinstance(term, (AllOf, AnyOf)):
            pending.extend(term.terms)
    return False


def _found(names: list[str], rows: list[tuple[Any, ...]]) -> bool:
    return bool(rows)


def _firstValue(names: list[str], rows: list[tuple[Any, ...]]) -> Any:
    return rows[0][0]


def _firstValues(names: list[str], rows: list[tuple[Any, ...]]) -> list[Any]:
    return [row[0] for row in rows]


def _tuples(names: list[str], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in rows]


def _dicts(names: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(names, row)) for row in rows]


def _zeroForNone(value: Any) -> Any:
    return 0 if value is None else value


def _column(name: Any) -> Column:
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


def _matchedRows(txn: Any, config: Any, sql: str, args: list[Any]) -> int:
    """
    Run an C{UPDATE} on the pool thread.

    @return: the number of rows it matched.
    """
    config.run(txn, sql, args)
    return config.matchedRows(txn)  # type: ignore[no-any-return]

