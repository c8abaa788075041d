# -*- test-case-name: twistar.tests.test_builder -*-
"""
Write statements as values, and the SQL each dialect writes for them:
C{INSERT}, upsert (C{INSERT} with a conflict clause), C{UPDATE} (of the rows
a L{twistar.dbconfig.builder.Select} chooses, or of many objects' changes
in one statement), and C{DELETE}.

Pure, like L{twistar.dbconfig.builder}, whose terms, selects and writer
these use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from twistar.dbconfig.builder import (
    AllOf,
    AnyOf,
    Column,
    DialectSettings,
    Equals,
    InRows,
    Select,
    Term,
    Writer,
    keyIn,
)
from twistar.dbconfig.sqltext import checkIdentifier, safeText
from twistar.exceptions import InvalidQueryError


class Update(NamedTuple):
    """C{UPDATE table SET column = value, ...} of the rows C{rows} selects
    (by their C{key} columns, when it needs a subquery).

    @ivar rows: the rows to update.
    @ivar values: each column and its new value.
    @ivar key: the table's primary key columns.
    """

    rows: Select
    values: tuple[tuple[Column, Any], ...]
    key: tuple[str, ...] = ("id",)


class Delete(NamedTuple):
    """C{DELETE FROM table} of the rows C{rows} selects (by their C{key}
    columns, when it needs a subquery).

    @ivar rows: the rows to delete.
    @ivar key: the table's primary key columns.
    """

    rows: Select
    key: tuple[str, ...] = ("id",)


class Upsert(NamedTuple):
    """
    An C{INSERT} of C{rows} rows of C{columns} into C{table} (their values
    placeholders) where a row whose C{uniqueBy} columns hold an existing
    row's values is written into that row instead: its C{update} columns
    take the new values (none: the existing row is left alone). The
    C{returning} columns of the rows written are returned where the
    dialect can (C{upsertReturns}).

    @ivar table: the table.
    @ivar columns: the columns of each row.
    @ivar uniqueBy: the columns of the unique key.
    @ivar update: the columns overwritten in an existing row.
    @ivar rows: how many rows one statement holds.
    @ivar returning: the columns returned.
    """

    table: str
    columns: tuple[str, ...]
    uniqueBy: tuple[str, ...]
    update: tuple[str, ...]
    rows: int = 1
    returning: tuple[str, ...] = ()


class UpdateMany(NamedTuple):
    """
    One C{UPDATE} of rows of C{table} by their C{key} columns, each row's
    C{columns} set to its own values: C{SET c = CASE id WHEN ? THEN ? ...
    END}. C{rows} holds each row's key (a tuple for several columns),
    version (with C{lock}) and values of C{columns}; C{types} the declared
    type of each column (see C{typedValue}). With C{lock}, a version
    column, a row matches only at its version, which the update bumps.

    @ivar table: the table.
    @ivar columns: the columns set.
    @ivar types: their declared types.
    @ivar rows: each row's key, version and values.
    @ivar lock: the version column, or C{None}.
    @ivar key: the primary key columns.
    """

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: tuple[tuple[Any, Any, tuple[Any, ...]], ...]
    lock: str | None = None
    key: tuple[str, ...] = ("id",)


def compileUpdate(dialect: DialectSettings, update: Update) -> tuple[str, list[Any]]:
    """
    @return: the C{UPDATE} of C{update} and its arguments (the new values
        first).
    @raise InvalidQueryError: when there is nothing to set.
    """
    if not update.values:
        raise InvalidQueryError("updateAll needs at least one column=value")
    writer = Writer(dialect)
    sets = ", ".join(f"{writer.column(column)} = {writer.value(value)}"
                     for column, value in update.values)
    writer.parts.append(f"UPDATE {writer.name(update.rows.table)} SET {sets}")
    rows = update.rows
    if (rows.limit is not None and dialect.supportsUpdateLimit and rows.offset is None
            and not (rows.joins or rows.order or rows.group or rows.having or rows.distinct)):
        # UPDATE ... LIMIT n, where the database has it.
        if rows.where:
            writer.parts.append(f" WHERE {writer.term(AllOf(rows.where))}")
        writer.parts.append(f" LIMIT {rows.limit}")
        return writer.text()
    condition = writer.rowsOf(rows, update.key)
    if condition:
        writer.parts.append(f" WHERE {condition}")
    return writer.text()


def updateManyBatch(dialect: DialectSettings, columns: int, locked: bool) -> int:
    """
    @param columns: how many columns each row sets.
    @param locked: whether the rows are matched at a version too.
    @return: how many rows one L{UpdateMany} may hold in C{dialect} (at
        most 1000).
    """
    perRow = 2 * columns + (2 if locked else 1)
    return max(1, min(1000, dialect.maxParameters // perRow))


def compileUpdateMany(dialect: DialectSettings, update: UpdateMany) -> tuple[str, list[Any]]:
    """
    @return: the one C{UPDATE} of C{update} and its arguments: each column
        set by C{CASE id WHEN ? THEN ? ... END} (its values typed as the
        dialect's C{typedValue} writes them), with C{lock} also C{lock =
        COALESCE(lock, 0) + 1}, where C{id IN (...)}, or with C{lock} where
        C{(id, lock) IN ((?, ?), ...)} (C{lock IS NULL} for rows without a
        version).
    @raise InvalidQueryError: when there is nothing to set or no row.
    """
    if not update.columns or not update.rows:
        raise InvalidQueryError("an update of many rows needs columns and rows")
    writer = Writer(dialect)
    key = tuple(map(Column, update.key))
    quotedKey = [writer.column(column) for column in key]
    # One key column: CASE id WHEN ? THEN ?; several: CASE WHEN a = ? AND b = ? THEN ?.
    if len(key) == 1:
        case, when = f"CASE {quotedKey[0]} ", f"WHEN {writer.marker} THEN "
    else:
        case = "CASE "
        when = "WHEN " + " AND ".join(f"{name} = {writer.marker}" for name in quotedKey) + " THEN "
    sets = []
    for index, (name, declared) in enumerate(zip(update.columns, update.types)):
        typed = dialect.typedValue(writer.marker, declared)
        whens = []
        for rowId, _, values in update.rows:
            writer.args.extend((*_parts(rowId, key), values[index]))
            whens.append(when + typed)
        sets.append(f"{writer.column(Column(name))} = {case}{' '.join(whens)} END")
    ids = tuple(rowId for rowId, _, _ in update.rows)
    where: Term = keyIn(update.key, ids)
    if update.lock is not None:
        lock = Column(update.lock)
        quotedLock = writer.column(lock)
        sets.append(f"{quotedLock} = COALESCE({quotedLock}, 0) + 1")
        versioned = tuple((*_parts(rowId, key), version) for rowId, version, _ in update.rows
                          if version is not None)
        unversioned = tuple(rowId for rowId, version, _ in update.rows if version is None)
        terms: list[Term] = []
        if versioned:
            terms.append(InRows((*key, lock), versioned))
        if unversioned:
            terms.append(AllOf((keyIn(update.key, unversioned), Equals(lock, None))))
        where = AnyOf(tuple(terms))
    writer.parts.append(f"UPDATE {writer.name(update.table)} SET {', '.join(sets)}")
    writer.parts.append(f" WHERE {writer.term(where)}")
    return writer.text()


def _parts(rowId: Any, key: tuple[Column, ...]) -> tuple[Any, ...]:
    """
    @return: the values of the C{key} columns of a row whose key is C{rowId}.
    """
    return (rowId,) if len(key) == 1 else tuple(rowId)


def compileInsert(dialect: DialectSettings, table: str, columns: Sequence[str],
                  returnId: bool | tuple[str, ...]) -> str:
    """
    @param returnId: C{True} to return the new C{id} where the dialect can
        (C{insertReturnsId}), or the columns to return (with C{RETURNING},
        which the dialect must have).
    @return: an C{INSERT} of one row of C{columns} into C{table}, its values
        placeholders.
    @raise InvalidIdentifierError: for a bad table or column name.
    """
    writer = Writer(dialect)
    name = writer.name(table)
    if columns:
        names = ", ".join(writer.column(Column(column)) for column in columns)
        values = ", ".join([writer.marker] * len(columns))
        sql = f"INSERT INTO {name} ({names}) VALUES ({values})"
    else:
        sql = f"INSERT INTO {name} {dialect.emptyInsertClause}"
    if isinstance(returnId, tuple):
        sql += " RETURNING " + ", ".join(writer.column(Column(name)) for name in returnId)
    elif returnId and dialect.insertReturnsId:
        sql += " RETURNING " + writer.column(Column("id"))
    return sql


def upsertKeys(
    uniqueBy: str | Sequence[str], update: str | Sequence[str] | None
) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """
    Check the column names of an upsert, before anything else is done.

    @param uniqueBy: the columns of the unique key (a C{str}: one column).
    @param update: the columns to overwrite when the key exists; C{None}:
        every column written but the key's.
    @return: C{uniqueBy} and C{update}, as tuples.
    @raise InvalidIdentifierError: for a name that is not a plain identifier.
    @raise InvalidQueryError: for an empty C{uniqueBy}, a name given twice,
        or C{update} naming a key column.
    """
    keys = _upsertNames("uniqueBy", uniqueBy)
    if not keys:
        raise InvalidQueryError("upsert needs the columns of a unique key (uniqueBy)")
    if update is None:
        return keys, None
    updated = _upsertNames("update", update)
    for name in updated:
        if name in keys:
            raise InvalidQueryError(
                f"update names {name!r}, a column of the unique key: the key is what matches"
            )
    return keys, updated


def _upsertNames(what: str, names: Any) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    elif not isinstance(names, (list, tuple)):
        raise InvalidQueryError(f"{what} takes a list of column names, not {safeText(names):.80}")
    checked = tuple(map(checkIdentifier, names))
    if len(set(checked)) != len(checked):
        raise InvalidQueryError(f"{what} names a column more than once: {checked!r}")
    return checked


def upsertOf(
    table: str, columns: Sequence[str], uniqueBy: tuple[str, ...],
    update: tuple[str, ...] | None, kept: tuple[str, ...] = (),
) -> Upsert:
    """
    @param columns: the columns of the rows written.
    @param uniqueBy: as L{upsertKeys} returns it.
    @param update: as L{upsertKeys} returns it.
    @param kept: columns that C{update=None} leaves out (a creation time).
    @return: the L{Upsert} of one row.
    @raise InvalidQueryError: if the rows lack a key column, or a column
        C{update} names.
    """
    for name in uniqueBy:
        if name not in columns:
            raise InvalidQueryError(f"upsert rows need a value for the key column {name!r}")
    if update is None:
        update = tuple(name for name in columns if name not in uniqueBy and name not in kept)
    else:
        for name in update:
            if name not in columns:
                raise InvalidQueryError(f"update names {name!r}, which the rows do not set")
    return Upsert(table, tuple(columns), uniqueBy, update)


def compileUpsert(dialect: DialectSettings, upsert: Upsert) -> str:
    """
    @return: the one statement of C{upsert} in C{dialect} (its values
        placeholders): C{INSERT ... ON CONFLICT (key) DO UPDATE SET c =
        excluded.c} (C{DO NOTHING}) or C{ON DUPLICATE KEY UPDATE c =
        VALUES(c)} (a key column set to itself), as the dialect's
        C{upsertClause}, C{upsertIgnoreClause} and C{insertedValue} write.
    @raise InvalidIdentifierError: for a bad table or column name.
    """
    writer = Writer(dialect)
    quoted = [writer.column(Column(name)) for name in upsert.columns]
    row = "(" + ", ".join([writer.marker] * len(quoted)) + ")"
    keys = [writer.column(Column(name)) for name in upsert.uniqueBy]
    if upsert.update:
        sets = ", ".join(
            f"{column} = " + dialect.insertedValue.format(column=column)
            for column in (writer.column(Column(name)) for name in upsert.update)
        )
        clause = dialect.upsertClause.format(keys=", ".join(keys), sets=sets)
    else:
        clause = dialect.upsertIgnoreClause.format(keys=", ".join(keys), key=keys[0])
    sql = (
        f"INSERT INTO {writer.name(upsert.table)} ({', '.join(quoted)}) "
        f"VALUES {', '.join([row] * upsert.rows)} {clause}"
    )
    if upsert.returning and dialect.upsertReturns:
        sql += " RETURNING " + ", ".join(writer.column(Column(name)) for name in upsert.returning)
    return sql


def compileDelete(dialect: DialectSettings, delete: Delete) -> tuple[str, list[Any]]:
    """
    @return: the C{DELETE} of C{delete} and its arguments.
    """
    writer = Writer(dialect)
    writer.parts.append(f"DELETE FROM {writer.name(delete.rows.table)}")
    condition = writer.rowsOf(delete.rows, delete.key)
    if condition:
        writer.parts.append(f" WHERE {condition}")
    return writer.text()
