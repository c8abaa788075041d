# -*- test-case-name: twistar.tests.test_builder -*-
"""
Statements as values, and the SQL each dialect writes for them: selects
and their parts (columns, conditions, joins) here, writes in
L{twistar.dbconfig.writes}.

A L{Select} says what to ask of the database: its table, conditions,
joins, order, limit. L{compileSelect} and its siblings turn one into SQL
text in a dialect's paramstyle plus the argument list, and do nothing
else: no pool, no reactor, no driver. The running side
(L{twistar.dbconfig.statements}, on the pools of
L{twistar.dbconfig.runner}) sends what they return.

Names given as identifiers (keyword conditions, selected and plucked
columns) are checked and quoted here; L{Fragment}s are the caller's trusted
SQL, written with C{?} placeholders, which are counted against their
arguments and converted to the dialect's paramstyle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from twistar.dbconfig.sqltext import (
    checkIdentifier,
    checkLimit,
    checkWhere,
    convertPlaceholders,
    quotedName,
    safeText,
)
from twistar.exceptions import InvalidQueryError, PlaceholderCountError


class DialectSettings(Protocol):
    """
    What the builder needs to know of a database (an C{InteractionBase}).
    """

    @property
    def identifierQuote(self) -> str:
        """The character that quotes names."""

    @property
    def sqlLexicon(self) -> str:
        """How strings and comments are written (see C{convertPlaceholders})."""

    @property
    def maxParameters(self) -> int:
        """The most parameters one statement may have."""

    @property
    def supportsRowLocks(self) -> bool:
        """Whether C{FOR UPDATE} and its kin lock rows."""

    @property
    def offsetWithoutLimit(self) -> str:
        """What comes before C{OFFSET n} in a select without a limit."""

    @property
    def derivedTableForSubqueries(self) -> bool:
        """Whether a subquery of the written table must be wrapped."""

    @property
    def supportsUpdateLimit(self) -> bool:
        """Whether C{UPDATE ... LIMIT n} is valid."""

    @property
    def emptyInsertClause(self) -> str:
        """What follows C{INSERT INTO table} for a row of defaults."""

    @property
    def insertReturnsId(self) -> bool:
        """Whether new ids come from C{INSERT ... RETURNING id}."""

    @property
    def placeholder(self) -> str:
        """The driver's placeholder."""

    @property
    def upsertClause(self) -> str:
        """The clause of an upsert that updates."""

    @property
    def upsertIgnoreClause(self) -> str:
        """The clause of an upsert that leaves rows alone."""

    @property
    def insertedValue(self) -> str:
        """How an upsert names a row's would-be value."""

    @property
    def upsertReturns(self) -> bool:
        """Whether an upsert can return columns (C{RETURNING})."""

    def fragment(self, sql: str) -> str:
        """@return: trusted SQL C{sql} in the driver's paramstyle."""

    def typedValue(self, placeholder: str, declared: str) -> str:
        """@return: a placeholder for a value of the declared column type."""


# -- the parts of a statement -------------------------------------------------


class Column(NamedTuple):
    """
    A column named as an identifier: C{name}, or C{table.name} when
    C{table} is set (C{Column("*", table)}: all of that table's columns).
    Checked by L{named}, and when written.

    @ivar name: the column's name.
    @ivar table: the table's name, or C{None}.
    """

    name: str
    table: str | None = None

    @classmethod
    def named(cls, text: str) -> Column:
        """
        @return: the column C{text} (C{"age"} or C{"users.age"}).
        @raise InvalidIdentifierError: if a part is not a plain identifier.
        """
        table, dot, name = text.rpartition(".")
        if not dot:
            return cls(checkIdentifier(text))
        return cls(checkIdentifier(name), ".".join(map(checkIdentifier, table.split("."))))


class Fragment(NamedTuple):
    """
    Trusted SQL written with C{?} placeholders, and the values they stand for.

    @ivar sql: the SQL.
    @ivar args: the values.
    """

    sql: str
    args: tuple[Any, ...] = ()


class Text(NamedTuple):
    """
    Trusted SQL without placeholders (a selected expression, a raw join),
    sent as written: a C{?} in it is no placeholder.

    @ivar sql: the SQL.
    """

    sql: str


class Equals(NamedTuple):
    """C{column = value}; C{column IS NULL} for C{None}.

    @ivar column: the column.
    @ivar value: the value.
    """

    column: Column
    value: Any


class Same(NamedTuple):
    """C{left = right}, two columns (the condition of a join).

    @ivar left: a column.
    @ivar right: the other column.
    """

    left: Column
    right: Column


class In(NamedTuple):
    """C{column IN (values...)}; nothing matches an empty C{values}, and a
    C{None} among them matches NULL.

    @ivar column: the column.
    @ivar values: the values.
    """

    column: Column
    values: tuple[Any, ...]


class InRows(NamedTuple):
    """C{(column, ...) IN ((values...), ...)}: rows of values, none C{None};
    nothing matches an empty C{rows}.

    @ivar columns: the columns.
    @ivar rows: the rows of values, one value per column.
    """

    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]


class InSelect(NamedTuple):
    """C{column IN (SELECT ...)}; C{(a, b) IN (SELECT ...)} for a tuple of
    columns (the select giving as many).

    @ivar column: the column, or a tuple of them.
    @ivar select: the subquery.
    """

    column: Column | tuple[Column, ...]
    select: Select


class Not(NamedTuple):
    """The negation of C{term}.

    @ivar term: the condition negated.
    """

    term: Term


class AllOf(NamedTuple):
    """Every one of C{terms} (an empty one matches everything).

    @ivar terms: the conditions.
    """

    terms: tuple[Term, ...]


class AnyOf(NamedTuple):
    """At least one of C{terms}.

    @ivar terms: the conditions.
    """

    terms: tuple[Term, ...]


Term = Fragment | Equals | Same | In | InRows | InSelect | Not | AllOf | AnyOf
"""A condition."""


def keyEquals(columns: Sequence[str], value: Any, table: str | None = None) -> Term:
    """
    @param columns: the columns of a key (of C{table}, when given).
    @param value: the key's value: a tuple for several columns.
    @return: the term matching the row whose key holds C{value}.
    """
    if len(columns) == 1:
        return Equals(Column(columns[0], table), value)
    return AllOf(tuple(Equals(Column(name, table), part) for name, part in zip(columns, value)))


def keyIn(columns: Sequence[str], values: Sequence[Any], table: str | None = None) -> Term:
    """
    @param values: key values, as for L{keyEquals}.
    @return: the term matching the rows whose key holds one of C{values}.
    """
    if len(columns) == 1:
        return In(Column(columns[0], table), tuple(values))
    return InRows(tuple(Column(name, table) for name in columns), tuple(map(tuple, values)))


def keysSame(left: Sequence[str], leftTable: str, right: Sequence[str], rightTable: str) -> Term:
    """
    @return: the join condition of two tables' keys: each column of C{left}
        equal to the column of C{right} in the same place.
    """
    same = tuple(
        Same(Column(a, leftTable), Column(b, rightTable)) for a, b in zip(left, right)
    )
    return same[0] if len(same) == 1 else AllOf(same)


class Join(NamedTuple):
    """
    C{<kind> JOIN table ON condition}; a raw L{Fragment} join has no
    C{table}.

    @ivar kind: C{"INNER"} or C{"LEFT OUTER"}.
    @ivar table: the table joined.
    @ivar on: the condition.
    """

    kind: str
    table: str
    on: Term


Selected = Column | Text | Fragment
"""A selected column: a checked name, or a trusted expression."""


class Select(NamedTuple):
    """
    A C{SELECT} from C{table}: every column of it when C{columns} is empty.

    @ivar table: the table.
    @ivar columns: what is selected.
    @ivar distinct: whether duplicate rows are left out.
    @ivar joins: the joins, in order.
    @ivar where: the conditions, all of which rows meet.
    @ivar group: trusted C{GROUP BY} fragments.
    @ivar having: the conditions on the groups.
    @ivar order: trusted C{ORDER BY} fragments.
    @ivar limit: the most rows, or C{None}.
    @ivar offset: the rows skipped, or C{None}.
    @ivar lock: a trusted locking clause (C{FOR UPDATE}), or C{None}.
    """

    table: str
    columns: tuple[Selected, ...] = ()
    distinct: bool = False
    joins: tuple[Join | Text | Fragment, ...] = ()
    where: tuple[Term, ...] = ()
    group: tuple[str, ...] = ()
    having: tuple[Term, ...] = ()
    order: tuple[str, ...] = ()
    limit: int | None = None
    offset: int | None = None
    lock: str | None = None

    @property
    def paged(self) -> bool:
        """Whether a limit or an offset cuts the rows."""
        return self.limit is not None or self.offset is not None


# -- compiling ------------------------------------------------------------------


class Writer:
    """
    SQL text and its arguments, written in one dialect.
    """

    __slots__ = ("dialect", "parts", "args", "quote", "marker", "table")

    def __init__(self, dialect: DialectSettings) -> None:
        self.dialect = dialect
        self.parts: list[str] = []
        self.args: list[Any] = []
        self.quote = dialect.identifierQuote
        self.marker = dialect.placeholder
        # The table that names a bare column: set in a select with joins.
        self.table: str | None = None

    def text(self) -> tuple[str, list[Any]]:
        """
        @return: the SQL written and its arguments.
        @raise InvalidQueryError: for more arguments than the database takes.
        """
        if len(self.args) > self.dialect.maxParameters:
            _tooMany(self.dialect, len(self.args))
        return "".join(self.parts), self.args

    def name(self, name: str) -> str:
        """
        @return: the table name C{name} (C{schema.table} too), quoted.
        """
        return quotedName(name, self.quote, True)

    def column(self, column: Column) -> str:
        """
        @return: C{column}, quoted (and named with the table of a select
            with joins, when it names none).
        """
        q = self.quote
        table = column.table or self.table
        if table is None:
            return quotedName(column.name, q, False)
        if column.name == "*":
            return f"{quotedName(table, q, True)}.*"
        return f"{quotedName(table, q, True)}.{quotedName(column.name, q, False)}"

    def value(self, value: Any) -> str:
        """
        @return: a placeholder for C{value}, added to the arguments.
        """
        self.args.append(value)
        return self.marker

    def fragment(self, fragment: Fragment) -> str:
        """
        @return: C{fragment} in the driver's paramstyle, its arguments added.
        @raise PlaceholderCountError: if its placeholders and arguments differ
            in number.
        """
        converted, count = convertPlaceholders(fragment.sql, self.marker, self.dialect.sqlLexicon)
        if count != len(fragment.args):
            raise PlaceholderCountError(
                f"{fragment.sql!r} has {count} placeholder(s) but {len(fragment.args)} "
                f"argument(s) were given"
            )
        self.args.extend(fragment.args)
        return converted

    def term(self, term: Term) -> str:
        """
        @return: the condition C{term}, its arguments added.
        """
        if isinstance(term, Equals):
            if term.value is None:
                return f"{self.column(term.column)} IS NULL"
            return f"{self.column(term.column)} = {self.value(term.value)}"
        if isinstance(term, Same):
            return f"{self.column(term.left)} = {self.column(term.right)}"
        if isinstance(term, In):
            values = [value for value in term.values if value is not None]
            column = self.column(term.column)
            condition = f"{column} IN ({', '.join([self.marker] * len(values))})"
            self.args.extend(values)
            if len(values) == len(term.values):
                return condition if values else "1 = 0"
            # None in the list: NULL is matched as IS NULL, as for Equals.
            return f"({condition} OR {column} IS NULL)" if values else f"{column} IS NULL"
        if isinstance(term, InRows):
            if not term.rows:
                return "1 = 0"
            row = "(" + ", ".join([self.marker] * len(term.columns)) + ")"
            for rowValues in term.rows:
                self.args.extend(rowValues)
            columns = ", ".join(map(self.column, term.columns))
            return f"({columns}) IN ({', '.join([row] * len(term.rows))})"
        if isinstance(term, InSelect):
            if isinstance(term.column, Column):
                column = self.column(term.column)
            else:
                column = "(" + ", ".join(map(self.column, term.column)) + ")"
            inner = self.select(term.select)
            if self.dialect.derivedTableForSubqueries:
                inner = f"SELECT * FROM ({inner}) AS {self.name('twistar_subquery')}"
            return f"{column} IN ({inner})"
        if isinstance(term, Not):
            return f"NOT ({self.term(term.term)})"
        if isinstance(term, (AllOf, AnyOf)):
            if not term.terms:
                return "1 = 1" if isinstance(term, AllOf) else "1 = 0"
            if len(term.terms) == 1:
                return self.term(term.terms[0])
            joiner = " AND " if isinstance(term, AllOf) else " OR "
            return joiner.join(f"({self.term(each)})" for each in term.terms)
        return self.fragment(term)

    def selected(self, part: Column | Text | Fragment) -> str:
        """
        @return: a selected column or expression, or a raw join.
        """
        if isinstance(part, Column):
            return self.column(part)
        if isinstance(part, Text):
            return self.dialect.fragment(part.sql)
        return self.fragment(part)

    def select(self, select: Select, columns: str | None = None) -> str:
        """
        @param columns: what to select instead of C{select}'s own columns.
        @return: the C{SELECT} text (its arguments added to L{args}).
        """
        trusted = self.dialect.fragment
        outer, self.table = self.table, (select.table if select.joins else None)
        try:
            return self._select(select, columns, trusted)
        finally:
            self.table = outer

    def _select(self, select: Select, columns: str | None, trusted: Any) -> str:
        if columns is None:
            if select.columns:
                columns = ", ".join(map(self.selected, select.columns))
            elif select.joins:
                columns = f"{self.name(select.table)}.*"
            else:
                columns = "*"
        distinct = "DISTINCT " if select.distinct else ""
        parts = [f"SELECT {distinct}{columns} FROM {self.name(select.table)}"]
        for join in select.joins:
            if isinstance(join, Join):
                parts.append(f" {join.kind} JOIN {self.name(join.table)} ON {self.term(join.on)}")
            else:
                parts.append(f" {self.selected(join)}")
        if select.where:
            parts.append(f" WHERE {self.term(AllOf(select.where))}")
        if select.group:
            parts.append(" GROUP BY " + ", ".join(map(trusted, select.group)))
        if select.having:
            parts.append(f" HAVING {self.term(AllOf(select.having))}")
        if select.order:
            parts.append(" ORDER BY " + ", ".join(map(trusted, select.order)))
        if select.limit is not None:
            parts.append(f" LIMIT {select.limit}")
        elif select.offset is not None:
            parts.append(self.dialect.offsetWithoutLimit)
        if select.offset is not None:
            parts.append(f" OFFSET {select.offset}")
        if select.lock and self.dialect.supportsRowLocks:
            parts.append(f" {trusted(select.lock)}")
        return "".join(parts)

    def rowsOf(self, select: Select, key: tuple[str, ...] = ("id",)) -> str:
        """
        @param key: the primary key columns of C{select}'s table.
        @return: a condition choosing the rows of C{select}'s table that
            C{select} selects: its where, or (with joins, a limit or an
            offset, an order, a group, distinct) C{id IN (SELECT id ...)}.
        """
        if not (select.joins or select.paged or select.order or select.group or select.having
                or select.distinct):
            return self.term(AllOf(select.where)) if select.where else ""
        columns = tuple(map(Column, key))
        ids = Select(select.table, columns, select.distinct,
                     select.joins, select.where, select.group, select.having, select.order,
                     select.limit, select.offset)
        return self.term(InSelect(columns[0] if len(columns) == 1 else columns, ids))


def compileSelect(dialect: DialectSettings, select: Select) -> tuple[str, list[Any]]:
    """
    @return: the SQL of C{select} in C{dialect}'s paramstyle, and its arguments.
    @raise InvalidIdentifierError: for a badly named column or table.
    @raise PlaceholderCountError: for a fragment whose placeholders and
        arguments differ in number.
    """
    def write() -> tuple[str, list[Any]]:
        writer = Writer(dialect)
        writer.parts.append(writer.select(select))
        return writer.text()

    return _remembered(dialect, select, (), True, write)


def _remembered(
    dialect: DialectSettings, select: Select, extra: tuple[Any, ...], ownColumns: bool,
    write: Callable[[], tuple[str, list[Any]]],
) -> tuple[str, list[Any]]:
    """
    The text of a statement made from C{select} depends on its shape, not
    its values: one run again with other values (a finder, a query built in
    a loop) only collects them.

    @param extra: what else the text depends on.
    @param ownColumns: the text holds C{select}'s own columns (and so their
        arguments).
    @param write: makes the text and arguments, when not remembered.
    @return: the text and the arguments.
    """
    key = (type(dialect), extra, _selectShape(select))
    sql = _compiledSelects.get(key)
    if sql is None:
        sql, args = write()
        if len(_compiledSelects) >= 4096:
            _compiledSelects.clear()  # the shapes in use will come back
        _compiledSelects[key] = sql
        return sql, args
    args = []
    _selectArgs(select, args, ownColumns)
    if len(args) > dialect.maxParameters:
        _tooMany(dialect, len(args))
    return sql, args


# Shape -> SQL text, per dialect class (see _remembered).
_compiledSelects: dict[tuple[Any, ...], str] = {}


def _tooMany(dialect: DialectSettings, count: int) -> None:
    raise InvalidQueryError(
        f"the statement would have {count} parameters; this database "
        f"takes at most {dialect.maxParameters}"
    )


def _selectShape(select: Select) -> tuple[Any, ...]:
    """
    @return: what the SQL of C{select} depends on: all of it but the values.
    """
    return (
        select.table,
        tuple(map(_termShape, select.columns)) if select.columns else (),
        select.distinct,
        tuple(map(_termShape, select.joins)) if select.joins else (),
        tuple(map(_termShape, select.where)) if select.where else (),
        select.group,
        tuple(map(_termShape, select.having)) if select.having else (),
        select.order, select.limit, select.offset, select.lock,
    )


def _termShape(term: Any) -> Any:
    kind = type(term)
    if kind is Fragment:
        return (Fragment, term.sql, len(term.args))
    if kind is Equals:
        return (Equals, term.column, term.value is None)
    if kind is In:
        nulls = sum(value is None for value in term.values)
        return (In, term.column, len(term.values) - nulls, bool(nulls))
    if kind is InRows:
        return (InRows, term.columns, len(term.rows))
    if kind is Column or kind is Same or kind is Text:
        return term
    if kind is Join:
        return (Join, term.kind, term.table, _termShape(term.on))
    if kind is InSelect:
        return (InSelect, term.column, _selectShape(term.select))
    if kind is Not:
        return (Not, _termShape(term.term))
    return (kind, tuple(map(_termShape, term.terms)))


def _selectArgs(select: Select, args: list[Any], ownColumns: bool = True) -> None:
    """
    Add the arguments of C{select} to C{args}, in the order its SQL has them.

    @param ownColumns: with the arguments of its selected columns.
    """
    for part in (select.columns if ownColumns else (), select.joins, select.where,
                 select.having):
        for term in part:
            _termArgs(term, args)


def _termArgs(term: Any, args: list[Any]) -> None:
    kind = type(term)
    if kind is Fragment:
        args.extend(term.args)
    elif kind is Equals:
        if term.value is not None:
            args.append(term.value)
    elif kind is In:
        args.extend(value for value in term.values if value is not None)
    elif kind is InRows:
        for values in term.rows:
            args.extend(values)
    elif kind is Join:
        _termArgs(term.on, args)
    elif kind is InSelect:
        _selectArgs(term.select, args)
    elif kind is Not:
        _termArgs(term.term, args)
    elif kind is AllOf or kind is AnyOf:
        for each in term.terms:
            _termArgs(each, args)


def compileAggregate(dialect: DialectSettings, select: Select, function: str,
                     column: Column | None) -> tuple[str, list[Any]]:
    """
    @param function: C{COUNT}, C{SUM}, C{AVG}, C{MIN} or C{MAX}.
    @param column: what to aggregate; C{None} counts rows.
    @return: a statement whose one row holds C{function} over the rows of
        C{select} (a subquery when it is distinct, grouped or cut by a limit).
    """
    subquery = bool(select.distinct or select.group or select.paged or select.having)

    def write(select: Select = select, column: Column | None = column) -> tuple[str, list[Any]]:
        writer = Writer(dialect)
        if column is not None and select.joins and column.table is None:
            column = Column(column.name, select.table)  # the model's own column
        if column is None:
            expression = "COUNT(*)"
        else:
            expression = f"{function}({writer.column(column)})"
        select = select._replace(lock=None)
        if subquery:
            if column is not None:
                if not select.distinct:
                    select = select._replace(columns=(column,))
                # Over the rows the query returns (distinct ones: whole rows).
                expression = f"{function}({writer.column(Column(column.name, 'twistar_rows'))})"
            inner = writer.select(select)
            writer.parts.append(
                f"SELECT {expression} FROM ({inner}) AS {writer.name('twistar_rows')}"
            )
        else:
            writer.parts.append(writer.select(select._replace(order=()), expression))
        return writer.text()

    ownColumns = subquery and (column is None or select.distinct)
    return _remembered(dialect, select, ("aggregate", function, column), ownColumns, write)


def compileExists(dialect: DialectSettings, select: Select) -> tuple[str, list[Any]]:
    """
    @return: a statement that returns one row when C{select} has any.
    """
    # Its own columns make the distinct rows, and name what a having uses.
    own = select.distinct or bool(select.having and select.columns)

    def write() -> tuple[str, list[Any]]:
        writer = Writer(dialect)
        limit = 1 if select.limit is None else min(select.limit, 1)
        first = select._replace(order=(), limit=limit, lock=None)
        writer.parts.append(writer.select(first, None if own else "1"))
        return writer.text()

    return _remembered(dialect, select, ("exists",), own, write)


def rowsWithKeys(
    table: str, uniqueBy: tuple[str, ...], keys: Sequence[tuple[Any, ...]], lock: str | None,
    primaryKey: tuple[str, ...] = ("id",),
) -> Select:
    """
    @param keys: values of the C{uniqueBy} columns, none C{None}.
    @param lock: a locking clause (C{FOR UPDATE}), or C{None}.
    @return: the L{Select} of the C{primaryKey} and C{uniqueBy} columns of
        the rows of C{table} that hold one of C{keys}.
    """
    columns = tuple(map(Column, uniqueBy))
    if len(columns) == 1:
        where: Term = In(columns[0], tuple(key[0] for key in keys))
    else:
        where = InRows(columns, tuple(keys))
    return Select(table, (*map(Column, primaryKey), *columns), where=(where,), lock=lock)


def selectOf(table: str, id: Any, where: Sequence[Any] | None, group: str | None,
             limit: Any, order: str | None, columns: str | None,
             key: tuple[str, ...] = ("id",)) -> Select:
    """
    @return: the L{Select} of the arguments of twistar's finders: an C{id},
        the value of the C{key} columns (a tuple for several; C{None}: any),
        a where list, trusted C{group}, C{order} and C{columns} fragments,
        and a limit (C{n} or C{(n, offset)}).
    @raise InvalidQueryError: for a bad where, limit or key value.
    """
    for name, fragment in (("group", group), ("orderby", order), ("select", columns)):
        if fragment is not None and not isinstance(fragment, str):
            raise InvalidQueryError(
                f"{name} must be an SQL fragment (a str), not {safeText(fragment):.80}"
            )
    terms: list[Term] = []
    if id is not None:
        if len(key) > 1 and (not isinstance(id, (tuple, list)) or len(id) != len(key)):
            raise InvalidQueryError(
                f"the key of {table} is {key!r}: find it by a tuple of {len(key)} values, "
                f"not {safeText(id):.80}"
            )
        terms.append(keyEquals(key, tuple(id) if len(key) > 1 else id))
    if where is not None:
        checkWhere(where)
        terms.append(Fragment(where[0], tuple(where[1:])))
    count, offset = checkLimit(limit) or (None, None)
    return Select(
        table, (Text(columns),) if columns else (), where=tuple(terms),
        group=(group,) if group else (), order=(order,) if order else (),
        limit=count, offset=offset,
    )


def columnsOf(texts: Sequence[str]) -> tuple[Selected, ...]:
    """
    @return: the selected columns of C{select(*texts)}: a plain or dotted
        name is a checked L{Column}; anything else trusted SQL.
    @raise InvalidQueryError: for something that is not a string.
    """
    columns: list[Selected] = []
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise InvalidQueryError(f"select takes column names or SQL, not {text!r}")
        if _looksLikeName(text):
            columns.append(Column.named(text))
        else:
            columns.append(Text(text))
    return tuple(columns)


def _looksLikeName(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))
