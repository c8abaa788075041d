# -*- test-case-name: twistar.tests.test_query -*-
"""
L{Query}: a chainable, immutable description of rows of one model, and the
calls that run it.

A query is started from a model class (C{User.where(...)}, C{User.query()})
or from a relationship of a saved object (C{alice.pictures.where(...)}).
Each chained call returns a new query; nothing is sent until a running call
(L{Query.all}, L{Query.first}, L{Query.count}, ...) is made, and each of
those returns a L{Deferred}. The SQL comes from L{twistar.dbconfig.builder}.

The chained calls and the query's state are L{QueryChain}'s, which L{Query}
inherits; the running calls are here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from twisted.internet.defer import Deferred, fail

from twistar.context import currentTransaction
from twistar.dbconfig.base import InteractionBase
from twistar.dbconfig.builder import (
    AllOf,
    AnyOf,
    Column,
    InSelect,
    Not,
    Select,
    compileAggregate,
    compileExists,
    compileSelect,
)
from twistar.dbconfig.objects import timestampColumns
from twistar.dbconfig.sqltext import checkIdentifier
from twistar.dbconfig.statements import utcNow
from twistar.dbconfig.writes import Delete, Update, compileDelete, compileUpdate
from twistar.exceptions import InvalidQueryError, TransactionError
from twistar.querychain import BIGGEST_NUMBER, QueryChain, checkedColumn
from twistar.querychain import relationshipJoins as relationshipJoins  # public here too
from twistar.registry import Registry
from twistar.replicas import currentRoute, routedTo

T = TypeVar("T")


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


class Query(QueryChain[T]):
    """
    Rows of C{model}'s table, described by chained calls.

    SQL fragments (conditions written with C{?}, C{order}, C{group},
    C{having}, raw joins, selected expressions) are the caller's trusted
    SQL; every value is sent as a parameter; names (keyword conditions,
    selected and plucked columns, relationships) are checked and quoted.
    """

    __slots__ = ()

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
            names = tuple(checkedColumn(name) for name in columns)
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
            (for L{select<QueryChain.select>}, L{group<QueryChain.group>} and
            L{having<QueryChain.having>} queries).
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
            return config.runInteraction(_matchedRows, config, sql, args)
        statement, table = self.statement, self.statement.table

        def stamped(txn: Any) -> int:
            # The time is read, as the column keeps it, on the pool thread.
            stamp = config.timestampValues(txn, table, pair[1:], utcNow())
            stampSet = (Column(pair[1]), stamp[pair[1]])
            stampedSQL, stampedArgs = compileUpdate(
                config, Update(statement, (*sets, stampSet), key)
            )
            return _matchedRows(txn, config, stampedSQL, stampedArgs)

        return config.runInteraction(stamped)

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
        return config.runInteraction(config.runAndCount, sql, args)

    def page(self, number: int, perPage: int = 20) -> Deferred[Page[T]]:
        """
        @param number: the page, from 1.
        @return: a L{Deferred} of a L{Page}: the objects of page C{number}
            (in the query's order, else by id) and the total.
        @raise InvalidQueryError: for a number or perPage below 1.
        """
        for name, value in (("page number", number), ("perPage", perPage)):
            if type(value) is not int or not 1 <= value < BIGGEST_NUMBER:
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
        if self.route is currentRoute():  # mostly: no route chosen
            return Registry.configFor(self.model)
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
            target = checkedColumn(column)
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

    def _keySQL(self) -> tuple[str, ...]:
        """
        @return: the key columns, quoted (to order by).
        """
        config = self._config()
        return tuple(map(config.quoteIdentifier, self._keyNames()))


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


def _matchedRows(txn: Any, config: Any, sql: str, args: list[Any]) -> int:
    """
    Run an C{UPDATE} on the pool thread.

    @return: the number of rows it matched.
    """
    config.run(txn, sql, args)
    return config.matchedRows(txn)  # type: ignore[no-any-return]
