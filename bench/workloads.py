"""
The benchmark's workloads, as a table: each L{Workload} names its tables, how
to fill them (untimed), the timed work for the ORM and for raw adbapi, and how
to check the database afterwards.

The same ORM code drives this checkout's twistar and the published twistar
2.0: both have the same public API (C{/work/shared/API.md}).  Raw adbapi runs
the same SQL by hand on DB-API cursors and keeps rows as tuples.

This module is imported by C{bench/run.py} (for names, titles and sizes) and
by C{bench/child.py} under either virtualenv, so it imports neither twistar
nor a database driver at module level.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import gatherResults

#: Children per parent in the has-many workloads.
CHILDREN_PER_PARENT = 10

#: Rows in the table that the C{count()} workload counts.
COUNTED_ROWS = 1000

#: Rows per multi-row C{INSERT} and ids per C{IN} list, at most: what twistar
#: sends, so that raw runs the same statements.
ROWS_PER_INSERT = 1000
IDS_PER_IN = 5000

#: Most parameters one statement may have (999 in SQLite before 3.32).
MAX_PARAMETERS = {
    "sqlite": 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999,
    "postgres": 65535,
    "mysql": 65535,
}

#: Column definitions per table, with C{{pk}}, C{{str}}, C{{int}} and
#: C{{float}} filled in per backend.
TABLES: dict[str, list[str]] = {
    "items": ["id {pk}", "name {str}", "label {str}", "quantity {int}", "price {float}"],
    "parents": ["id {pk}", "name {str}"],
    "children": ["id {pk}", "name {str}", "parent_id {int}"],
}

#: Extra DDL run after a table is created.
INDEXES: dict[str, list[str]] = {
    "children": ["CREATE INDEX children_parent_id ON children (parent_id)"],
}

_TYPES: dict[str, dict[str, str]] = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "str": "VARCHAR(255)",
               "int": "INTEGER", "float": "DOUBLE PRECISION", "suffix": ""},
    "postgres": {"pk": "SERIAL PRIMARY KEY", "str": "VARCHAR(255)", "int": "INTEGER",
                 "float": "DOUBLE PRECISION", "suffix": ""},
    "mysql": {"pk": "INTEGER PRIMARY KEY AUTO_INCREMENT", "str": "VARCHAR(255)",
              "int": "INTEGER", "float": "DOUBLE",
              "suffix": " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"},
}

ITEM_COLUMNS = ("name", "label", "quantity", "price")


class Unsupported(Exception):
    """
    An implementation cannot run a workload (reported as C{n/a}).
    """


@dataclass
class Context:
    """
    What a workload runs against, in one child process.

    @ivar impl: C{"raw"}, C{"twistar"} or C{"twistar2"}.
    @ivar backend: C{"sqlite"}, C{"postgres"} or C{"mysql"}.
    @ivar pool: the C{adbapi.ConnectionPool}.
    @ivar models: the ORM model classes by name (empty for raw).
    @ivar data: what L{Workload.prepare} made for the timed part.
    """

    impl: str
    backend: str
    pool: Any
    models: dict[str, Any] = field(default_factory=dict)
    data: Any = None

    @property
    def mark(self) -> str:
        """The driver's placeholder."""
        return "?" if self.backend == "sqlite" else "%s"

    def sql(self, query: str) -> str:
        """
        @return: C{query}, written with C{?}, in the driver's paramstyle.
        """
        return query.replace("?", self.mark)


# -- plain SQL helpers (setup, verification and the raw implementation) -----


def tableDDL(backend: str, name: str) -> str:
    """
    @return: the C{CREATE TABLE} statement of bench table C{name}.
    """
    types = _TYPES[backend]
    columns = ", ".join(column.format(**types) for column in TABLES[name])
    return f"CREATE TABLE {name} ({columns}){types['suffix']}"


async def recreateTables(ctx: Context, names: Sequence[str]) -> None:
    """
    Drop and create the tables C{names} (empty, ids from 1).
    """

    def run(cursor: Any) -> None:
        for name in names:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
            cursor.execute(tableDDL(ctx.backend, name))
            for statement in INDEXES.get(name, ()):
                cursor.execute(statement)

    await ctx.pool.runInteraction(run)


async def scalar(ctx: Context, query: str, *args: Any) -> Any:
    """
    @return: the first column of the first row of C{query} (written with C{?}).
    """

    def run(cursor: Any) -> Any:
        cursor.execute(ctx.sql(query), args)
        return cursor.fetchone()[0]

    return await ctx.pool.runInteraction(run)


def itemRow(i: int) -> tuple[Any, ...]:
    """
    @return: the values of item number C{i}, in L{ITEM_COLUMNS} order.
    """
    return (f"item {i}", f"label {i % 97}", i % 100, i * 0.25)


def _insertSQL(ctx: Context, table: str, columns: Sequence[str], rows: int = 1) -> str:
    group = "(" + ", ".join([ctx.mark] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([group] * rows)


def _insertOne(cursor: Any, query: str, returning: bool, values: Sequence[Any]) -> Any:
    cursor.execute(query, values)
    return cursor.fetchone()[0] if returning else cursor.lastrowid


def rawInsert(ctx: Context, table: str, columns: Sequence[str], values: Sequence[Any]) -> Any:
    """
    Insert one row by hand and get its id (C{RETURNING} on PostgreSQL,
    C{cursor.lastrowid} elsewhere).

    @return: a Deferred of the new id.
    """
    returning = ctx.backend == "postgres"
    query = _insertSQL(ctx, table, columns) + (" RETURNING id" if returning else "")
    return ctx.pool.runInteraction(_insertOne, query, returning, values)


def rawInsertMany(
    ctx: Context, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Any:
    """
    Bulk insert by hand: multi-row C{INSERT ... VALUES} statements of up to
    L{ROWS_PER_INSERT} rows (fewer when that would pass L{MAX_PARAMETERS}),
    in one interaction.  This beats C{executemany} on sqlite3
    (about 2.5x) and psycopg2 (one statement per row), and is what MySQLdb's
    C{executemany} does itself.

    @return: a Deferred that fires when done.
    """
    size = min(ROWS_PER_INSERT, MAX_PARAMETERS[ctx.backend] // len(columns))
    full = _insertSQL(ctx, table, columns, size)

    def run(cursor: Any) -> None:
        for start in range(0, len(rows), size):
            batch = rows[start:start + size]
            query = full if len(batch) == size else _insertSQL(ctx, table, columns, len(batch))
            cursor.execute(query, [value for row in batch for value in row])

    return ctx.pool.runInteraction(run)


def rawCreateMany(
    ctx: Context, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Any:
    """
    Insert rows by hand as L{rawInsertMany} does, in one interaction, and
    get their ids: C{RETURNING id} on PostgreSQL; elsewhere from
    C{cursor.lastrowid}, which is the last id of a multi-row C{INSERT} on
    SQLite and the first on MariaDB (whose ids are
    C{@@auto_increment_increment} apart, read once).

    @return: a Deferred of the new ids, in the order of C{rows}.
    """
    size = min(ROWS_PER_INSERT, MAX_PARAMETERS[ctx.backend] // len(columns))
    returning = " RETURNING id" if ctx.backend == "postgres" else ""
    full = _insertSQL(ctx, table, columns, size) + returning

    def run(cursor: Any) -> list[Any]:
        step = 1
        if ctx.backend == "mysql":
            cursor.execute("SELECT @@auto_increment_increment")
            step = int(cursor.fetchone()[0])
        ids: list[Any] = []
        for start in range(0, len(rows), size):
            batch = rows[start:start + size]
            query = (full if len(batch) == size
                     else _insertSQL(ctx, table, columns, len(batch)) + returning)
            cursor.execute(query, [value for row in batch for value in row])
            if returning:
                ids.extend(row[0] for row in cursor.fetchall())
            elif ctx.backend == "mysql":
                ids.extend(range(cursor.lastrowid, cursor.lastrowid + len(batch) * step, step))
            else:
                ids.extend(range(cursor.lastrowid - len(batch) + 1, cursor.lastrowid + 1))
        return ids

    return ctx.pool.runInteraction(run)


def rawSelect(ctx: Context, query: str, *args: Any, one: bool = False) -> Any:
    """
    @return: a Deferred of the rows (tuples) of C{query}, or of the first
        row (or C{None}) when C{one}.
    """

    def run(cursor: Any) -> Any:
        cursor.execute(ctx.sql(query), args)
        return cursor.fetchone() if one else cursor.fetchall()

    return ctx.pool.runInteraction(run)


async def rawChildrenOf(ctx: Context, parentIds: Sequence[Any]) -> dict[Any, list[Any]]:
    """
    @return: the children rows of C{parentIds}, grouped by parent id, read
        with C{IN} lists of up to L{IDS_PER_IN} ids.
    """

    size = min(IDS_PER_IN, MAX_PARAMETERS[ctx.backend] - 2)

    def run(cursor: Any) -> list[Any]:
        rows: list[Any] = []
        for start in range(0, len(parentIds), size):
            chunk = list(parentIds[start:start + size])
            marks = ", ".join([ctx.mark] * len(chunk))
            cursor.execute(f"SELECT * FROM children WHERE parent_id IN ({marks})", chunk)
            rows.extend(cursor.fetchall())
        return rows

    grouped: dict[Any, list[Any]] = {parentId: [] for parentId in parentIds}
    for row in await ctx.pool.runInteraction(run):
        grouped[row[2]].append(row)
    return grouped


# -- models ------------------------------------------------------------------


def defineModels() -> dict[str, Any]:
    """
    Define and register the ORM models with whichever C{twistar} is importable.

    @return: the classes by name.
    """
    from twistar.dbobject import DBObject
    from twistar.registry import Registry

    class Item(DBObject):
        pass

    class Parent(DBObject):
        HASMANY = ["children"]

    class Child(DBObject):
        TABLENAME = "children"
        BELONGSTO = ["parent"]

    Registry.register(Item, Parent, Child)
    return {"Item": Item, "Parent": Parent, "Child": Child}


def supportsEagerLoading(ctx: Context) -> bool:
    """
    @return: whether the ORM has C{all(include=...)} and C{preload()};
        twistar 2.0 has no eager loading.
    """
    if ctx.impl == "twistar2":
        return False
    parent = ctx.models["Parent"]
    return "include" in inspect.signature(parent.all).parameters and hasattr(parent, "preload")


def supportsCreateMany(ctx: Context) -> bool:
    """
    @return: whether the ORM has C{createMany}; twistar 2.0 has not.
    """
    return ctx.impl != "twistar2" and hasattr(ctx.models["Item"], "createMany")


# -- the workloads -------------------------------------------------------------

Step = Callable[[Context, int], Awaitable[Any]]


@dataclass(frozen=True)
class Workload:
    """
    One benchmark workload.

    @ivar name: short key (for C{--workload} and JSON).
    @ivar title: label in the results table.
    @ivar size: the count of the full run; C{quickSize} for C{--quick}.
    @ivar tables: tables dropped and created before each run.
    @ivar prepare: untimed setup; its result becomes C{ctx.data}.
    @ivar orm: the timed work with the ORM (twistar and twistar 2.0).
    @ivar raw: the timed work with raw adbapi.
    @ivar verify: checks the result of the timed work and the database;
        raises C{AssertionError} when wrong.
    @ivar supported: says whether the ORM of C{ctx} can run it.
    """

    name: str
    title: str
    size: int
    quickSize: int
    tables: tuple[str, ...]
    prepare: Step
    orm: Step
    raw: Step
    verify: Callable[[Context, int, Any], Awaitable[None]]
    supported: Callable[[Context], bool] = lambda ctx: True


def expect(what: str, actual: Any, expected: Any) -> None:
    """
    @raise AssertionError: if C{actual != expected}.
    """
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


async def _nothing(ctx: Context, n: int) -> None:
    return None


async def _fillItems(ctx: Context, n: int) -> list[Any]:
    """Insert C{n} items; @return: their ids, in order."""
    await rawInsertMany(ctx, "items", ITEM_COLUMNS, [itemRow(i) for i in range(n)])
    return [row[0] for row in await rawSelect(ctx, "SELECT id FROM items ORDER BY id")]


async def _fillParents(ctx: Context, n: int) -> None:
    """Insert C{n} parents with L{CHILDREN_PER_PARENT} children each."""
    await rawInsertMany(ctx, "parents", ["name"], [(f"parent {i}",) for i in range(n)])
    ids = [row[0] for row in await rawSelect(ctx, "SELECT id FROM parents ORDER BY id")]
    children = [(f"child {k}", pid) for pid in ids for k in range(CHILDREN_PER_PARENT)]
    await rawInsertMany(ctx, "children", ["name", "parent_id"], children)


async def _itemCount(ctx: Context, n: int, result: Any) -> None:
    expect("rows in items", await scalar(ctx, "SELECT COUNT(*) FROM items"), n)


async def _resultIs(ctx: Context, n: int, result: Any) -> None:
    expect("result of the timed work", result, n)


# creates


async def _ormCreateSeq(ctx: Context, n: int) -> None:
    item = ctx.models["Item"]
    for i in range(n):
        await item(**dict(zip(ITEM_COLUMNS, itemRow(i)))).save()


async def _rawCreateSeq(ctx: Context, n: int) -> None:
    for i in range(n):
        await rawInsert(ctx, "items", ITEM_COLUMNS, itemRow(i))


async def _ormCreateConcurrent(ctx: Context, n: int) -> None:
    item = ctx.models["Item"]
    await gatherResults(
        [item(**dict(zip(ITEM_COLUMNS, itemRow(i)))).save() for i in range(n)],
        consumeErrors=True,
    )


async def _rawCreateConcurrent(ctx: Context, n: int) -> None:
    await gatherResults(
        [rawInsert(ctx, "items", ITEM_COLUMNS, itemRow(i)) for i in range(n)],
        consumeErrors=True,
    )


# insertMany


async def _prepareInsertMany(ctx: Context, n: int) -> list[Any]:
    rows = [itemRow(i) for i in range(n)]
    return rows if ctx.impl == "raw" else [dict(zip(ITEM_COLUMNS, row)) for row in rows]


async def _ormInsertMany(ctx: Context, n: int) -> None:
    from twistar.registry import Registry

    await Registry.getConfig().insertMany("items", ctx.data)


async def _rawInsertMany(ctx: Context, n: int) -> None:
    await rawInsertMany(ctx, "items", ITEM_COLUMNS, ctx.data)


# createMany


async def _prepareCreateMany(ctx: Context, n: int) -> list[Any]:
    rows = [itemRow(i) for i in range(n)]
    if ctx.impl == "raw":
        return rows
    item = ctx.models["Item"]
    return [item(**dict(zip(ITEM_COLUMNS, row))) for row in rows]


async def _ormCreateMany(ctx: Context, n: int) -> list[Any]:
    return await ctx.models["Item"].createMany(ctx.data)


async def _rawCreateMany(ctx: Context, n: int) -> list[Any]:
    return await rawCreateMany(ctx, "items", ITEM_COLUMNS, ctx.data)


async def _verifyCreateMany(ctx: Context, n: int, result: Any) -> None:
    ids = result if ctx.impl == "raw" else [obj.id for obj in result]
    names = dict(await rawSelect(ctx, "SELECT id, name FROM items"))
    expect("rows in items", len(names), n)
    expect("names of the returned ids", [names.get(i) for i in ids],
           [itemRow(i)[0] for i in range(n)])


# all()


async def _ormAll(ctx: Context, n: int) -> int:
    return len(await ctx.models["Item"].all())


async def _rawAll(ctx: Context, n: int) -> int:
    return len(await rawSelect(ctx, "SELECT * FROM items"))


# find(id)


async def _ormFind(ctx: Context, n: int) -> int:
    item = ctx.models["Item"]
    found = 0
    for itemId in ctx.data:
        found += (await item.find(itemId)).id == itemId
    return found


async def _rawFind(ctx: Context, n: int) -> int:
    found = 0
    for itemId in ctx.data:
        found += (await rawSelect(ctx, "SELECT * FROM items WHERE id = ?", itemId,
                                  one=True))[0] == itemId
    return found


# load-modify-save


async def _ormUpdate(ctx: Context, n: int) -> None:
    item = ctx.models["Item"]
    for itemId in ctx.data:
        obj = await item.find(itemId)
        obj.quantity += 1
        await obj.save()


async def _rawUpdate(ctx: Context, n: int) -> None:
    query = ctx.sql("UPDATE items SET quantity = ? WHERE id = ?")
    for itemId in ctx.data:
        row = await rawSelect(ctx, "SELECT * FROM items WHERE id = ?", itemId, one=True)
        await ctx.pool.runOperation(query, (row[3] + 1, itemId))


async def _verifyUpdate(ctx: Context, n: int, result: Any) -> None:
    before = sum(itemRow(i)[2] for i in range(n))
    expect("sum of quantities", int(await scalar(ctx, "SELECT SUM(quantity) FROM items")),
           before + n)


# count()


async def _prepareCount(ctx: Context, n: int) -> None:
    await _fillItems(ctx, COUNTED_ROWS)


async def _ormCount(ctx: Context, n: int) -> int:
    item = ctx.models["Item"]
    return sum([await item.count() == COUNTED_ROWS for _ in range(n)])


async def _rawCount(ctx: Context, n: int) -> int:
    return sum([(await rawSelect(ctx, "SELECT COUNT(*) FROM items", one=True))[0]
                == COUNTED_ROWS for _ in range(n)])


# has-many


async def _ormChildrenEach(ctx: Context, n: int) -> list[int]:
    parents = await ctx.models["Parent"].all()
    return [len(await parent.children.get()) for parent in parents]


async def _rawChildrenEach(ctx: Context, n: int) -> list[int]:
    parents = await rawSelect(ctx, "SELECT * FROM parents")
    return [len(await rawSelect(ctx, "SELECT * FROM children WHERE parent_id = ?", row[0]))
            for row in parents]


async def _ormChildrenEager(ctx: Context, n: int) -> list[int]:
    parents = await ctx.models["Parent"].all(include=["children"])
    return [len(await parent.children.get()) for parent in parents]


async def _rawChildrenEager(ctx: Context, n: int) -> list[int]:
    parents = await rawSelect(ctx, "SELECT * FROM parents")
    grouped = await rawChildrenOf(ctx, [row[0] for row in parents])
    return [len(grouped[row[0]]) for row in parents]


async def _verifyChildren(ctx: Context, n: int, result: Any) -> None:
    expect("children per parent", result, [CHILDREN_PER_PARENT] * n)


WORKLOADS: list[Workload] = [
    Workload("create", "sequential creates", 2000, 200, ("items",),
             _nothing, _ormCreateSeq, _rawCreateSeq, _itemCount),
    Workload("create_concurrent", "concurrent creates", 2000, 200, ("items",),
             _nothing, _ormCreateConcurrent, _rawCreateConcurrent, _itemCount),
    Workload("insert_many", "insertMany", 50_000, 5000, ("items",),
             _prepareInsertMany, _ormInsertMany, _rawInsertMany, _itemCount),
    Workload("create_many", "createMany", 20_000, 2000, ("items",),
             _prepareCreateMany, _ormCreateMany, _rawCreateMany, _verifyCreateMany,
             supportsCreateMany),
    Workload("all", "all()", 100_000, 10_000, ("items",),
             _fillItems, _ormAll, _rawAll, _resultIs),
    Workload("find", "find(id)", 2000, 200, ("items",),
             _fillItems, _ormFind, _rawFind, _resultIs),
    Workload("update", "load-modify-save", 1000, 100, ("items",),
             _fillItems, _ormUpdate, _rawUpdate, _verifyUpdate),
    Workload("count", "count()", 2000, 200, ("items",),
             _prepareCount, _ormCount, _rawCount, _resultIs),
    Workload("children_each", "has-many, per parent", 1000, 100, ("parents", "children"),
             _fillParents, _ormChildrenEach, _rawChildrenEach,
             _verifyChildren),
    Workload("children_eager", "has-many, eager", 1000, 100, ("parents", "children"),
             _fillParents, _ormChildrenEager, _rawChildrenEager,
             _verifyChildren, supportsEagerLoading),
]

WORKLOADS_BY_NAME: dict[str, Workload] = {w.name: w for w in WORKLOADS}
