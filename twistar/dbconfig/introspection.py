# -*- test-case-name: twistar.tests.test_introspection -*-
"""
L{Introspection}: reading a database's tables, their columns, keys and
unique constraints, as plain data (L{TableInfo}).

The queries are a database's data: each database subclass sets them (on
C{information_schema}, C{pg_catalog} or SQLite's C{PRAGMA} functions), and
the rows they give are read here the same way for all. So are the Python
types of column values, as the database's driver reads them
(L{Introspection.pythonType}), which C{twistar models} writes as
annotations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from twisted.internet.defer import Deferred

from twistar.dbconfig.runner import Runner


@dataclass(frozen=True)
class ColumnInfo:
    """
    A column of a table.

    @ivar name: its name.
    @ivar declared: its type, as the database reports it (C{"varchar(255)"},
        C{"integer"}, C{"TIMESTAMP"}).
    @ivar nullable: whether it may hold C{NULL} (never for a primary key
        column).
    """

    name: str
    declared: str
    nullable: bool


@dataclass(frozen=True)
class ForeignKeyInfo:
    """
    A foreign key: columns of a table naming a row of another (or the same)
    table.

    @ivar columns: the columns of the table holding the key, in the order
        of C{references}.
    @ivar table: the table it names.
    @ivar references: the columns of C{table} it names.
    """

    columns: tuple[str, ...]
    table: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    """
    A table, as L{Introspection.readTable} reads it.

    @ivar name: the table's name.
    @ivar columns: its columns, in order.
    @ivar primaryKey: the columns of its primary key, in key order (empty
        when it has none).
    @ivar foreignKeys: its foreign keys.
    @ivar uniqueKeys: the column sets of its unique constraints and unique
        indexes (other than the primary key), each in index order.
    """

    name: str
    columns: tuple[ColumnInfo, ...]
    primaryKey: tuple[str, ...] = ()
    foreignKeys: tuple[ForeignKeyInfo, ...] = ()
    uniqueKeys: tuple[tuple[str, ...], ...] = ()

    @property
    def columnNames(self) -> tuple[str, ...]:
        """The names of the columns, in order."""
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnInfo | None:
        """
        @return: the column called C{name}, or C{None}.
        """
        for column in self.columns:
            if column.name == name:
                return column
        return None

    def isUnique(self, columns: Iterable[str]) -> bool:
        """
        @return: whether the primary key or a unique key is made of exactly
            C{columns} (in any order), so that no two rows share their values.
        """
        wanted = set(columns)
        return any(set(key) == wanted for key in (self.primaryKey, *self.uniqueKeys) if key)


_DEFAULT_TYPES: tuple[tuple[str, str], ...] = (
    (r"\[\]$", "list[Any]"),
    (r"^bool", "bool"),
    (r"^(tiny|small|medium|big)?int(eger|[248])?\b|serial|^year", "int"),
    (r"^(numeric|decimal|dec|fixed)\b", "Decimal"),
    (r"^(real|float|double)", "float"),
    (r"^(timestamp|datetime)", "datetime"),
    (r"^date", "date"),
    (r"^time", "time"),
    (r"^interval", "timedelta"),
    (r"char|text|clob|^enum|^set\b|^name$", "str"),
    (r"blob|^bytea|binary", "bytes"),
)


class Introspection(Runner):
    """
    L{Runner}, reading the schema of the database: its tables
    (L{tableNames}) and each table's columns and keys (L{readTable}).

    A database subclass sets the queries (in the driver's paramstyle; the
    per-table ones take one argument, L{tableArgument}) and may add rules
    to L{pythonTypes}.
    """

    tablesQuery: ClassVar[str] = ""
    """Rows C{(name,)}: the tables of the database (of the connection's
    schema), views and the database's own tables left out."""
    columnsQuery: ClassVar[str] = ""
    """Rows C{(name, declared type, nullable)}: a table's columns, in order;
    none for a missing table."""
    primaryKeyQuery: ClassVar[str] = ""
    """Rows C{(column,)}: a table's primary key columns, in key order."""
    foreignKeysQuery: ClassVar[str] = ""
    """Rows C{(constraint, column, referenced table, referenced column)}: a
    table's foreign keys, by constraint and in key order; the referenced
    column is C{NULL} where it is the referenced table's primary key."""
    uniqueKeysQuery: ClassVar[str] = ""
    """Rows C{(index, column)}: the columns of a table's unique
    constraints and unique indexes (but the primary key), by index and in
    index order; the column is C{NULL} for an expression."""
    pythonTypes: ClassVar[tuple[tuple[str, str], ...]] = _DEFAULT_TYPES
    """Rules C{(pattern, type)}: the Python type (an annotation's text) of
    the values read from a column is that of the first pattern found (a
    regular expression, without case) in its declared type; C{Any} when
    none is."""

    def tableArgument(self, tablename: str) -> Any:
        """
        @return: what the per-table queries take for C{tablename}: the name
            itself (the default).
        """
        return tablename

    def tableNames(self, txn: Any) -> list[str]:
        """
        @return: the names of the database's tables (views left out).
        """
        self.run(txn, self.tablesQuery, [])
        return sorted(row[0] for row in txn.fetchall())

    def _tableRows(self, txn: Any, query: str, tablename: str) -> list[Any]:
        self.run(txn, query, [self.tableArgument(tablename)])
        return list(txn.fetchall())

    def readTable(self, txn: Any, tablename: str) -> TableInfo | None:
        """
        @return: the table C{tablename}, or C{None} when there is none.
        """
        self.quoteIdentifier(tablename)
        rows = self._tableRows(txn, self.columnsQuery, tablename)
        if not rows:
            return None
        primaryKey = self._primaryKey(txn, tablename)
        columns = tuple(
            ColumnInfo(str(name), str(declared or ""), bool(nullable) and name not in primaryKey)
            for name, declared, nullable in rows
        )
        foreignKeys = []
        for keyRows in _grouped(self._tableRows(txn, self.foreignKeysQuery, tablename)):
            other = str(keyRows[0][2])
            references = tuple(row[3] for row in keyRows)
            if None in references:  # SQLite: REFERENCES other, its primary key
                references = self._primaryKey(txn, other)
            foreignKeys.append(ForeignKeyInfo(
                tuple(str(row[1]) for row in keyRows), other, tuple(map(str, references))
            ))
        uniqueKeys = tuple(
            tuple(str(row[1]) for row in keyRows)
            for keyRows in _grouped(self._tableRows(txn, self.uniqueKeysQuery, tablename))
            if all(row[1] is not None for row in keyRows)
        )
        return TableInfo(tablename, columns, primaryKey, tuple(foreignKeys),
                         tuple(dict.fromkeys(uniqueKeys)))

    def _primaryKey(self, txn: Any, tablename: str) -> tuple[str, ...]:
        return tuple(str(row[0]) for row in self._tableRows(txn, self.primaryKeyQuery, tablename))

    def readTables(self, txn: Any, names: Sequence[str] | None = None) -> dict[str, TableInfo]:
        """
        @param names: the tables to read; C{None} for all (L{tableNames}).
        @return: the tables read, by name; a name of no table is left out.
        """
        found = {}
        for name in self.tableNames(txn) if names is None else names:
            table = self.readTable(txn, name)
            if table is not None:
                found[name] = table
        return found

    def introspect(self, names: Sequence[str] | None = None) -> Deferred[dict[str, TableInfo]]:
        """
        L{readTables} on a pool thread.

        @return: a L{Deferred} of the tables read, by name.
        """
        return self.runInteraction(self.readTables, names)

    def pythonType(self, declared: str) -> str:
        """
        @param declared: a column's declared type, as L{ColumnInfo} has it.
        @return: the Python type of its values (as L{pythonTypes} says), as
            an annotation's text: C{"int"}, C{"datetime"}, C{"Any"}...
        """
        for pattern, python in self.pythonTypes:
            if re.search(pattern, declared, re.IGNORECASE):
                return python
        return "Any"


def _grouped(rows: Sequence[Any]) -> list[list[Any]]:
    """
    @return: C{rows} in runs of equal first items (in their order).
    """
    groups: list[list[Any]] = []
    for row in rows:
        if groups and groups[-1][0][0] == row[0]:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups
