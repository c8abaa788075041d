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

import contextvars
import inspect
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred, gatherResults

#: Children per parent in the has-many workloads.
CHILDREN_PER_PARENT = 10

#: Rows in the table that the C{count()} workload counts.
COUNTED_ROWS = 1000

#: Rows in the table that the C{find(where=...)} and Query workloads search,
#: and the most rows one of their queries returns.
SEARCHED_ROWS = 1000
SEARCH_LIMIT = 50

#: Calls in flight at once in the concurrent read workloads of replicas.
IN_FLIGHT = 20

#: Rows per batch of the C{each()} workload (and of raw's keyset batches).
EACH_BATCH = 1000

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
class Interleaved:
    """
    What a timed step gives when it timed its calls itself, alternating
    them, call by call, with calls doing the same work another way (the
    reference), so that load on the machine slows both alike: the
    workload's time is then C{seconds}, not the whole step's.

    @ivar result: what the workload's C{verify} checks.
    @ivar seconds: the time of the workload's own calls.
    @ivar referenceSeconds: the time of the reference's calls.
    """

    result: Any
    seconds: float
    referenceSeconds: float


@dataclass
class SelfTimed:
    """
    What a timed step gives when it timed its calls itself, leaving out
    the untimed work it did between them: the workload's time is then
    C{seconds}, not the whole step's.

    @ivar result: what the workload's C{verify} checks.
    @ivar seconds: the time of the timed calls.
    @ivar replicaReads: how many of them twistar ran on a replica, for the
        workloads of replicas that do not require it to run them all.
    """

    result: Any
    seconds: float
    replicaReads: int | None = None


@dataclass
class Context:
    """
    What a workload runs against, in one child process.

    @ivar impl: C{"raw"}, C{"sync"}, C{"libpq"}, C{"twistar"},
        C{"twistar-nothreads"} or C{"twistar2"}.
    @ivar backend: C{"sqlite"}, C{"postgres"} or C{"mysql"}.
    @ivar pool: the C{adbapi.ConnectionPool}.
    @ivar models: the ORM model classes by name (empty for raw).
    @ivar data: what L{Workload.prepare} made for the timed part.
    @ivar replicaPool: the pool of the replica of the database, for the
        workloads of replicas (L{Workload.replica}); else C{None}.
    @ivar syncConnection: for C{sync} and C{libpq}, a plain synchronous
        psycopg (3) connection in autocommit mode, that their timed steps
        use with no Twisted (C{libpq}'s through its C{pgconn} alone; the
        pool still serves setup and checks); else C{None}.
    """

    impl: str
    backend: str
    pool: Any
    models: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    replicaPool: Any = None
    syncConnection: Any = None

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
    ctx: Context, table: str, columns: Sequence[str], rows: Sequence[Any],
    fromDicts: bool = False,
) -> Any:
    """
    Bulk insert by hand: multi-row C{INSERT ... VALUES} statements of up to
    L{ROWS_PER_INSERT} rows (fewer when that would pass L{MAX_PARAMETERS}),
    in one interaction.  This beats C{executemany} on sqlite3
    (about 2.5x) and psycopg2 (one statement per row), and is what MySQLdb's
    C{executemany} does itself.

    @param rows: tuples of values in the order of C{columns}, or, with
        C{fromDicts}, dicts of them by column name (read on the pool thread).
    @return: a Deferred that fires when done.
    """
    size = min(ROWS_PER_INSERT, MAX_PARAMETERS[ctx.backend] // len(columns))
    full = _insertSQL(ctx, table, columns, size)

    def run(cursor: Any) -> None:
        for start in range(0, len(rows), size):
            batch = rows[start:start + size]
            query = full if len(batch) == size else _insertSQL(ctx, table, columns, len(batch))
            if fromDicts:
                cursor.execute(query, [row[column] for row in batch for column in columns])
            else:
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


def supportsQueries(ctx: Context) -> bool:
    """
    @return: whether the ORM has the Query API (C{Item.query()},
        C{Item.where(...)}); twistar 2.0 has not.
    """
    item = ctx.models["Item"]
    return ctx.impl != "twistar2" and hasattr(item, "query") and hasattr(item, "where")


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
    @ivar raw: the timed work with raw adbapi.  Either may time its calls
        itself, and give an L{Interleaved}.
    @ivar verify: checks the result of the timed work and the database;
        raises C{AssertionError} when wrong.
    @ivar supported: says whether the ORM of C{ctx} can run it.
    @ivar ownProcess: runs in a process of its own (one per run), so that
        the memory it needs is measured from a fresh process's, not from
        what earlier workloads left in the heap.
    @ivar memory: its peak memory is reported in the memory table.
    @ivar maxRepeat: the most repetitions it runs (C{None}: all of them).
    @ivar replica: it runs on a database with a replica (a PostgreSQL hot
        standby, a MariaDB GTID replica; not on SQLite), in
        C{ctx.replicaPool}.
    @ivar sync: the timed work of the C{sync} floor: raw's statements on
        C{ctx.syncConnection}, blocking, with no Twisted (C{None}: n/a).
    @ivar libpq: the timed work of the C{libpq} floor: the same statements,
        prepared, on the libpq layer of C{ctx.syncConnection} (its
        C{pgconn}), blocking, with no Twisted (C{None}: n/a).
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
    ownProcess: bool = False
    memory: bool = False
    maxRepeat: int | None = None
    replica: bool = False
    sync: Step | None = None
    libpq: Step | None = None


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


#: SQL making the rows L{itemRow} describes, numbers 0 to C{?} (included),
#: in the database itself: no row passes through the benchmark's process.
_GENERATE_ITEMS = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
              "INSERT INTO items (name, label, quantity, price) "
              "SELECT 'item ' || i, 'label ' || (i % 97), i % 100, i * 0.25 FROM n",
    "postgres": "INSERT INTO items (name, label, quantity, price) "
                "SELECT 'item ' || i, 'label ' || (i %% 97), i %% 100, i * 0.25 "
                "FROM generate_series(0, %s) AS i",
    # MariaDB's SEQUENCE engine: the table seq_0_to_N exists when named;
    # no parameters, so C{%} stays as it is.
    "mysql": "INSERT INTO items (name, label, quantity, price) "
             "SELECT CONCAT('item ', seq), CONCAT('label ', seq % 97), seq % 100, seq * 0.25 "
             "FROM seq_0_to_{last}",
}


async def _generateItems(ctx: Context, n: int) -> None:
    """
    Insert C{n} items, as L{_fillItems} does, made by the database itself
    (a recursive C{WITH} on SQLite, C{generate_series} on PostgreSQL, the
    SEQUENCE engine on MariaDB): a million rows in one to three seconds,
    and nothing left in this process's memory.  Then C{ANALYZE} the table:
    without statistics, PostgreSQL's planner sorts the whole table for each
    C{WHERE id > ? ORDER BY id LIMIT ...} instead of reading the primary key.
    """

    def run(cursor: Any) -> None:
        if ctx.backend == "mysql":
            cursor.execute(_GENERATE_ITEMS["mysql"].format(last=n - 1))
            cursor.execute("ANALYZE TABLE items")
            cursor.fetchall()
        else:
            cursor.execute(_GENERATE_ITEMS[ctx.backend], (n - 1,))
            cursor.execute("ANALYZE items")

    await ctx.pool.runInteraction(run)


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
    # Both start from the same dicts, as an application has its rows.
    return [dict(zip(ITEM_COLUMNS, itemRow(i))) for i in range(n)]


async def _ormInsertMany(ctx: Context, n: int) -> None:
    from twistar.registry import Registry

    await Registry.getConfig().insertMany("items", ctx.data)


async def _rawInsertMany(ctx: Context, n: int) -> None:
    await rawInsertMany(ctx, "items", ITEM_COLUMNS, ctx.data, fromDicts=True)


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


# createMany, ten at once

CONCURRENT_CALLS = 10
"""How many C{createMany} calls the concurrent workload makes at once."""


def _shares(rows: list[Any]) -> list[list[Any]]:
    """
    @return: C{rows} cut in L{CONCURRENT_CALLS} runs, in order.
    """
    size = -(-len(rows) // CONCURRENT_CALLS)
    return [rows[start:start + size] for start in range(0, len(rows), size)]


async def _prepareCreateManyConcurrent(ctx: Context, n: int) -> list[list[Any]]:
    return _shares(await _prepareCreateMany(ctx, n))


async def _ormCreateManyConcurrent(ctx: Context, n: int) -> list[Any]:
    item = ctx.models["Item"]
    created = await gatherResults([item.createMany(share) for share in ctx.data],
                                  consumeErrors=True)
    return [obj for share in created for obj in share]


async def _rawCreateManyConcurrent(ctx: Context, n: int) -> list[Any]:
    ids = await gatherResults(
        [rawCreateMany(ctx, "items", ITEM_COLUMNS, share) for share in ctx.data],
        consumeErrors=True)
    return [i for share in ids for i in share]


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


# the sync floor: raw's statements on one plain synchronous connection


def _syncRow(ctx: Context, query: str, *args: Any) -> Any:
    """
    @return: the first row of C{query} (written with C{?}), run on
        C{ctx.syncConnection}, blocking.
    """
    return ctx.syncConnection.execute(ctx.sql(query), args).fetchone()


async def _syncCreateSeq(ctx: Context, n: int) -> None:
    query = _insertSQL(ctx, "items", ITEM_COLUMNS) + " RETURNING id"
    for i in range(n):
        ctx.syncConnection.execute(query, itemRow(i)).fetchone()


async def _syncFind(ctx: Context, n: int) -> int:
    return sum([_syncRow(ctx, "SELECT * FROM items WHERE id = ?", itemId)[0] == itemId
                for itemId in ctx.data])


async def _syncUpdate(ctx: Context, n: int) -> None:
    query = ctx.sql("UPDATE items SET quantity = ? WHERE id = ?")
    for itemId in ctx.data:
        row = _syncRow(ctx, "SELECT * FROM items WHERE id = ?", itemId)
        ctx.syncConnection.execute(query, (row[3] + 1, itemId))


async def _syncCount(ctx: Context, n: int) -> int:
    return sum([_syncRow(ctx, "SELECT COUNT(*) FROM items")[0] == COUNTED_ROWS
                for _ in range(n)])


# the libpq floor: the sync floor's statements, prepared, on bare libpq; each
# step prepares its statements first (one round trip each, in the timed part)


class _Prepared:
    """
    A statement prepared on the server, run on the libpq layer of
    C{ctx.syncConnection} (a C{psycopg.pq.PGconn}): parameters sent as
    text, values read as C{bytes}, no cursor, no type adaptation.
    """

    def __init__(self, ctx: Context, name: str, query: str) -> None:
        """
        Prepare C{query}, written with C{?}, as C{name} (blocking).
        """
        from psycopg.pq import ExecStatus

        self.ok = (ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK)
        self.pgconn = ctx.syncConnection.pgconn
        self.name = name.encode()
        parts = query.split("?")
        numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
        self._check(self.pgconn.prepare(self.name, numbered.encode(), None))

    def _check(self, result: Any) -> Any:
        if result.status not in self.ok:
            raise RuntimeError(result.error_message.decode(errors="replace"))
        return result

    def __call__(self, *args: Any) -> Any:
        """
        Run the statement with C{args} (blocking).

        @return: its C{psycopg.pq.PGresult}.
        @raise RuntimeError: if it failed.
        """
        return self._check(self.pgconn.exec_prepared(self.name,
                                                     [str(arg).encode() for arg in args]))


_LIBPQ_FIND = "SELECT * FROM items WHERE id = ?"


async def _libpqCreateSeq(ctx: Context, n: int) -> None:
    marks = ", ".join(["?"] * len(ITEM_COLUMNS))
    insert = _Prepared(ctx, "create", f"INSERT INTO items ({', '.join(ITEM_COLUMNS)}) "
                                      f"VALUES ({marks}) RETURNING id")
    for i in range(n):
        insert(*itemRow(i)).get_value(0, 0)


async def _libpqFind(ctx: Context, n: int) -> int:
    find = _Prepared(ctx, "find", _LIBPQ_FIND)
    return sum([int(find(itemId).get_value(0, 0)) == itemId for itemId in ctx.data])


async def _libpqUpdate(ctx: Context, n: int) -> None:
    find = _Prepared(ctx, "update_find", _LIBPQ_FIND)
    update = _Prepared(ctx, "update", "UPDATE items SET quantity = ? WHERE id = ?")
    for itemId in ctx.data:
        update(int(find(itemId).get_value(0, 3)) + 1, itemId)


async def _libpqCount(ctx: Context, n: int) -> int:
    count = _Prepared(ctx, "count", "SELECT COUNT(*) FROM items")
    return sum([int(count().get_value(0, 0)) == COUNTED_ROWS for _ in range(n)])


# each()


async def _ormEach(ctx: Context, n: int) -> tuple[int, int]:
    rows = ascending = last = 0
    async for obj in ctx.models["Item"].query().each(batchSize=EACH_BATCH):
        rows += 1
        ascending += obj.id > last
        last = obj.id
    return rows, ascending


async def _rawEach(ctx: Context, n: int) -> tuple[int, int]:
    """
    Keyset batches of L{EACH_BATCH} rows (C{SELECT * ... WHERE id > ? ORDER
    BY id LIMIT ...}), one interaction each, until a batch comes back short.
    """
    query = f"SELECT * FROM items WHERE id > ? ORDER BY id LIMIT {EACH_BATCH}"
    rows = ascending = last = 0
    while True:
        batch = await rawSelect(ctx, query, last)
        for row in batch:
            rows += 1
            ascending += row[0] > last
            last = row[0]
        if len(batch) < EACH_BATCH:
            return rows, ascending


async def _verifyEach(ctx: Context, n: int, result: Any) -> None:
    expect("rows seen, rows seen in ascending id order", result, (n, n))


# find(where=...) and the same query through the Query API

#: One search: C{(ctx, quantity, label)} to a Deferred of the ids found.
Search = Callable[[Context, int, str], Awaitable[list[Any]]]

_SEARCH_SQL = ("SELECT * FROM items WHERE quantity > ? AND label = ? "
               f"ORDER BY id LIMIT {SEARCH_LIMIT}")


def _searchArgs(i: int) -> tuple[int, str]:
    """
    @return: the quantity bound and the label of search number C{i}.
    """
    return i % 50, f"label {i % 97}"


async def _findIds(ctx: Context, quantity: int, label: str) -> list[Any]:
    objects = await ctx.models["Item"].find(where=["quantity > ? AND label = ?", quantity, label],
                                            orderby="id", limit=SEARCH_LIMIT)
    return [obj.id for obj in objects]


async def _queryIds(ctx: Context, quantity: int, label: str) -> list[Any]:
    objects = await (ctx.models["Item"].where("quantity > ?", quantity).where(label=label)
                     .order("id").limit(SEARCH_LIMIT).all())
    return [obj.id for obj in objects]


async def _rawIds(ctx: Context, quantity: int, label: str) -> list[Any]:
    return [row[0] for row in await rawSelect(ctx, _SEARCH_SQL, quantity, label)]


async def _prepareSearch(ctx: Context, n: int) -> list[Any]:
    """
    Fill the searched rows, and run one search of each kind, untimed: the
    first call of a way to query pays for what is made on first use (3 ms
    for twistar's first find(where=...) in a process).

    @return: the ids of the rows, in order.
    """
    ids = await _fillItems(ctx, SEARCHED_ROWS)
    searches = [_rawIds] if ctx.impl == "raw" else [_findIds]
    if ctx.impl != "raw" and supportsQueries(ctx):
        searches.append(_queryIds)
    for search in searches:
        await search(ctx, *_searchArgs(0))
    return ids


async def _ormFindWhere(ctx: Context, n: int) -> list[list[Any]]:
    return [await _findIds(ctx, *_searchArgs(i)) for i in range(n)]


async def _rawFindWhere(ctx: Context, n: int) -> list[list[Any]]:
    return [await _rawIds(ctx, *_searchArgs(i)) for i in range(n)]


async def _interleave(ctx: Context, n: int, own: Search, reference: Search) -> Interleaved:
    """
    Run C{n} searches both ways, call by call, each way first every other
    time, timing each call; check that both ways find the same ids.

    @return: the ids found, the time of C{own}'s calls and of C{reference}'s.
    """
    found = []
    seconds = referenceSeconds = 0.0
    for i in range(n):
        args = _searchArgs(i)
        began = time.perf_counter()
        if i % 2:
            referenceIds = await reference(ctx, *args)
            middle = time.perf_counter()
            ids = await own(ctx, *args)
            seconds += time.perf_counter() - middle
            referenceSeconds += middle - began
        else:
            ids = await own(ctx, *args)
            middle = time.perf_counter()
            referenceIds = await reference(ctx, *args)
            referenceSeconds += time.perf_counter() - middle
            seconds += middle - began
        expect(f"ids of search {i}, found both ways", ids, referenceIds)
        found.append(ids)
    return Interleaved(found, seconds, referenceSeconds)


async def _ormQueryWhere(ctx: Context, n: int) -> Interleaved:
    return await _interleave(ctx, n, _queryIds, _findIds)


async def _rawQueryWhere(ctx: Context, n: int) -> Interleaved:
    return await _interleave(ctx, n, _rawIds, _rawIds)


async def _verifySearch(ctx: Context, n: int, result: Any) -> None:
    byLabel: dict[str, list[tuple[int, Any]]] = {}
    for j, itemId in enumerate(ctx.data):
        _, label, quantity, _ = itemRow(j)
        byLabel.setdefault(label, []).append((quantity, itemId))
    expected = []
    for i in range(n):
        bound, label = _searchArgs(i)
        expected.append([itemId for quantity, itemId in byLabel[label]
                         if quantity > bound][:SEARCH_LIMIT])
    expect("ids found by each search", result, expected)


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


# read replicas: read throughput on a replica, and what read-your-writes costs


def supportsReplicas(ctx: Context) -> bool:
    """
    @return: whether the ORM routes reads to replicas (C{Registry.addReplica});
        twistar 2.0 does not. Not measured for C{twistar-nothreads}: these
        workloads give twistar the replica's adbapi pool.
    """
    if ctx.impl in ("twistar2", "twistar-nothreads"):
        return False
    from twistar.registry import Registry

    return hasattr(Registry, "addReplica")


def replicaContext(ctx: Context) -> Context:
    """
    @return: C{ctx} with the replica's pool as its pool, for raw SQL there.
    """
    return Context(ctx.impl, ctx.backend, ctx.replicaPool)


async def primaryPosition(ctx: Context) -> Any:
    """
    @return: the primary's log position now (PostgreSQL: its WAL insert
        position; MariaDB: its binary log's GTID position).
    """
    query = ("SELECT pg_current_wal_insert_lsn()::text" if ctx.backend == "postgres"
             else "SELECT @@gtid_binlog_pos")
    return await scalar(ctx, query)


async def waitForReplica(ctx: Context, position: Any) -> None:
    """
    Wait until the replica has replayed the primary's log up to C{position}
    (see L{primaryPosition}): on PostgreSQL by asking it again every
    millisecond, on MariaDB with C{MASTER_GTID_WAIT}.

    A PostgreSQL WAL insert position can lie past the WAL written so far,
    and stay there while nothing else is written (after a record that
    ends a page, it counts the next page's header): when the standby has
    not reached it after 20 ms, a transaction with a transaction id, whose
    commit writes the WAL out, moves it on.
    """
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    def reached(cursor: Any) -> bool:
        if ctx.backend == "postgres":
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (position,))
            return bool(cursor.fetchone()[0])
        cursor.execute("SELECT MASTER_GTID_WAIT(%s, 10)", (position,))
        return bool(cursor.fetchone()[0] == 0)

    began = time.monotonic()
    nudged = False
    while not await ctx.replicaPool.runInteraction(reached):
        waited = time.monotonic() - began
        if waited > 10:
            raise AssertionError(f"the replica did not reach {position} within 10 s")
        if waited > 0.02 and not nudged and ctx.backend == "postgres":
            await scalar(ctx, "SELECT txid_current()")
            nudged = True
        await deferLater(reactor, 0.001, lambda: None)


def inFreshContext(work: Callable[[], Awaitable[Any]]) -> Deferred[Any]:
    """
    @return: a Deferred of C{work()}, run in a new, empty C{contextvars}
        context: one without the log positions (read-your-writes) that the
        child's earlier workloads left in its own.
    """
    return contextvars.Context().run(lambda: ensureDeferred(work()))  # type: ignore[arg-type]


def replicaReads() -> int:
    """
    @return: how many reads twistar's replicas of the default database ran.
    """
    from twistar.registry import Registry

    replicas = Registry.replicasOf()
    return 0 if replicas is None else sum(replica.reads for replica in replicas.replicas)


def _write(ctx: Context, itemId: Any) -> Any:
    """
    Write to the primary: twistar's low-level update (which keeps the
    primary's log position in the running context when the database has
    replicas), or the same C{UPDATE} by hand for raw.

    @return: a Deferred that fires when it is committed.
    """
    if ctx.impl == "raw":
        return ctx.pool.runOperation(ctx.sql("UPDATE items SET price = ? WHERE id = ?"),
                                     (1.5, itemId))
    from twistar.registry import Registry

    return Registry.getConfig().update("items", {"price": 1.5}, where=["id = ?", itemId])


async def _prepareReplicaSet(ctx: Context, n: int, register: bool) -> tuple[list[Any], bool]:
    """
    Fill C{n} items on the primary, wait until the replica has them, and
    open the replica pool's connections; for twistar, when C{register},
    make it twistar's replica (with the default options) and let one read
    check its health.

    @return: the ids of the items, in order, and C{register}.
    """
    ids = await _fillItems(ctx, n)
    await waitForReplica(ctx, await primaryPosition(ctx))
    await gatherResults([rawSelect(replicaContext(ctx), "SELECT 1") for _ in range(IN_FLIGHT)])
    if ctx.impl != "raw" and register:
        from twistar.registry import Registry

        Registry.addReplica(ctx.replicaPool)
        await inFreshContext(ctx.models["Item"].count)
    return ids, register


async def _prepareNoReplica(ctx: Context, n: int) -> tuple[list[Any], bool]:
    return await _prepareReplicaSet(ctx, n, False)


async def _prepareWithReplica(ctx: Context, n: int) -> tuple[list[Any], bool]:
    return await _prepareReplicaSet(ctx, n, True)


def _forgetReplica(ctx: Context) -> None:
    """
    Stop using the replica in twistar, if it is twistar's.
    """
    if ctx.impl != "raw":
        from twistar.registry import Registry

        if Registry.replicasOf() is not None:
            Registry.removeReplica(ctx.replicaPool)


async def _verifyFound(ctx: Context, n: int, result: Any) -> None:
    """
    Check that every find found its row (C{result}: how many did, and how
    many reads twistar's replica ran, or C{None}).
    """
    _forgetReplica(ctx)
    expect("rows found", result[0], n)


async def _verifyFoundOnReplica(ctx: Context, n: int, result: Any) -> None:
    """
    L{_verifyFound}, and for twistar, that the replica ran every read.
    """
    await _verifyFound(ctx, n, result)
    if ctx.impl != "raw":
        expect("reads run by the replica", result[1], n)


def _rawFindOn(ctx: Context) -> Callable[[Any], Awaitable[bool]]:
    async def find(itemId: Any) -> bool:
        row = await rawSelect(ctx, "SELECT * FROM items WHERE id = ?", itemId, one=True)
        return bool(row[0] == itemId)

    return find


def _ormFindOn(ctx: Context) -> Callable[[Any], Awaitable[bool]]:
    item = ctx.models["Item"]

    async def find(itemId: Any) -> bool:
        return bool((await item.find(itemId)).id == itemId)

    return find


async def _inFlight(ids: Sequence[Any], find: Callable[[Any], Awaitable[bool]]) -> int:
    """
    Run C{find} on every id, L{IN_FLIGHT} calls at a time: as many callers,
    each a coroutine (with a context of its own) making its calls one after
    another.

    @return: how many found their row.
    """

    async def caller(share: Sequence[Any]) -> int:
        return sum([await find(itemId) for itemId in share])

    counts = await gatherResults([Deferred.fromCoroutine(caller(ids[k::IN_FLIGHT]))
                                  for k in range(IN_FLIGHT)])
    return sum(counts)


async def _ormFindInFlight(ctx: Context, n: int) -> tuple[int, int]:
    before = replicaReads()
    found = await inFreshContext(lambda: _inFlight(ctx.data[0], _ormFindOn(ctx)))
    return found, replicaReads() - before


async def _rawFindInFlight(ctx: Context, n: int) -> tuple[int, None]:
    ids, onReplica = ctx.data
    return await _inFlight(ids, _rawFindOn(replicaContext(ctx) if onReplica else ctx)), None


async def _ormFindCached(ctx: Context, n: int) -> SelfTimed:
    """
    find(id) one after another in a fresh context: without a replica, on
    the primary; with one, first (untimed) a write, a wait until the
    replica has replayed it and a read that checks that it has, so that
    the replica's position is known and no later read checks it again.
    """
    ids, withReplica = ctx.data
    find = _ormFindOn(ctx)

    async def finds() -> SelfTimed:
        if withReplica:
            await _write(ctx, ids[0])
            await waitForReplica(ctx, await primaryPosition(ctx))
            await find(ids[0])
        before = replicaReads()
        began = time.perf_counter()
        found = sum([await find(itemId) for itemId in ids])
        return SelfTimed((found, replicaReads() - before), time.perf_counter() - began)

    return await inFreshContext(finds)


async def _rawFindSequential(ctx: Context, n: int) -> tuple[int, None]:
    ids, onReplica = ctx.data
    find = _rawFindOn(replicaContext(ctx) if onReplica else ctx)
    return sum([await find(itemId) for itemId in ids]), None


async def _timedAfterWrites(
    ctx: Context, find: Callable[[Any], Awaitable[bool]], wait: bool
) -> SelfTimed:
    """
    For each id: a write and, when C{wait}, a wait until the replica has
    replayed it (untimed), then C{find} of the id (timed).
    """
    seconds = 0.0
    found = 0
    before = replicaReads() if ctx.impl != "raw" else 0
    for itemId in ctx.data[0]:
        await _write(ctx, itemId)
        if wait:
            await waitForReplica(ctx, await primaryPosition(ctx))
        began = time.perf_counter()
        found += await find(itemId)
        seconds += time.perf_counter() - began
    reads = replicaReads() - before if ctx.impl != "raw" else None
    return SelfTimed((found, reads), seconds, reads)


async def _ormFindChecked(ctx: Context, n: int) -> SelfTimed:
    """
    Each find(id) after a write that the replica has replayed: it checks
    the replica's position (reached), then reads there.
    """
    return await inFreshContext(lambda: _timedAfterWrites(ctx, _ormFindOn(ctx), True))


async def _rawFindChecked(ctx: Context, n: int) -> SelfTimed:
    """
    L{_ormFindChecked} by hand: the read on the replica, without a check.
    """
    return await _timedAfterWrites(ctx, _rawFindOn(replicaContext(ctx)), True)


async def _ormFindAfterWrite(ctx: Context, n: int) -> SelfTimed:
    """
    Each find(id) right after a write: it checks whether the replica has
    replayed the write, and reads there if so, else on the primary.
    """
    return await inFreshContext(lambda: _timedAfterWrites(ctx, _ormFindOn(ctx), False))


async def _rawFindAfterWrite(ctx: Context, n: int) -> SelfTimed:
    """
    L{_ormFindAfterWrite} by hand, reading on the primary.
    """
    return await _timedAfterWrites(ctx, _rawFindOn(ctx), False)


async def _prepareCreateNoReplica(ctx: Context, n: int) -> tuple[list[Any], bool]:
    return await _prepareReplicaSet(ctx, 0, False)


async def _prepareCreateWithReplica(ctx: Context, n: int) -> tuple[list[Any], bool]:
    return await _prepareReplicaSet(ctx, 0, True)


async def _ormCreateInFreshContext(ctx: Context, n: int) -> None:
    await inFreshContext(lambda: _ormCreateSeq(ctx, n))


async def _verifyCreated(ctx: Context, n: int, result: Any) -> None:
    _forgetReplica(ctx)
    await _itemCount(ctx, n, result)


WORKLOADS: list[Workload] = [
    Workload("create", "sequential creates", 2000, 200, ("items",),
             _nothing, _ormCreateSeq, _rawCreateSeq, _itemCount, sync=_syncCreateSeq,
             libpq=_libpqCreateSeq),
    Workload("create_concurrent", "concurrent creates", 2000, 200, ("items",),
             _nothing, _ormCreateConcurrent, _rawCreateConcurrent, _itemCount),
    Workload("insert_many", "insertMany", 50_000, 5000, ("items",),
             _prepareInsertMany, _ormInsertMany, _rawInsertMany, _itemCount),
    Workload("create_many", "createMany", 20_000, 2000, ("items",),
             _prepareCreateMany, _ormCreateMany, _rawCreateMany, _verifyCreateMany,
             supportsCreateMany),
    Workload("create_many_concurrent", "createMany, ten at once", 20_000, 2000, ("items",),
             _prepareCreateManyConcurrent, _ormCreateManyConcurrent, _rawCreateManyConcurrent,
             _verifyCreateMany, supportsCreateMany),
    Workload("all", "all()", 100_000, 10_000, ("items",),
             _fillItems, _ormAll, _rawAll, _resultIs, ownProcess=True, memory=True),
    Workload("each", "each(), streamed", 1_000_000, 100_000, ("items",),
             _generateItems, _ormEach, _rawEach, _verifyEach, supportsQueries,
             ownProcess=True, memory=True, maxRepeat=3),
    Workload("find", "find(id)", 2000, 200, ("items",),
             _fillItems, _ormFind, _rawFind, _resultIs, sync=_syncFind, libpq=_libpqFind),
    Workload("update", "load-modify-save", 1000, 100, ("items",),
             _fillItems, _ormUpdate, _rawUpdate, _verifyUpdate, sync=_syncUpdate,
             libpq=_libpqUpdate),
    Workload("count", "count()", 2000, 200, ("items",),
             _prepareCount, _ormCount, _rawCount, _resultIs, sync=_syncCount,
             libpq=_libpqCount),
    Workload("children_each", "has-many, per parent", 1000, 100, ("parents", "children"),
             _fillParents, _ormChildrenEach, _rawChildrenEach,
             _verifyChildren),
    Workload("children_eager", "has-many, eager", 1000, 100, ("parents", "children"),
             _fillParents, _ormChildrenEager, _rawChildrenEager,
             _verifyChildren, supportsEagerLoading),
    Workload("find_where", "find(where=...)", 1000, 100, ("items",),
             _prepareSearch, _ormFindWhere, _rawFindWhere, _verifySearch),
    Workload("query_where", "Query, same SQL", 1000, 100, ("items",),
             _prepareSearch, _ormQueryWhere, _rawQueryWhere, _verifySearch, supportsQueries),
    # On a database with a replica (not SQLite): see REPLICA_WORKLOADS.
    Workload("replica_in_flight_primary", f"find(id), {IN_FLIGHT} in flight, primary alone",
             2000, 200, ("items",), _prepareNoReplica, _ormFindInFlight, _rawFindInFlight,
             _verifyFound, supportsReplicas, replica=True),
    Workload("replica_in_flight", f"find(id), {IN_FLIGHT} in flight, on the replica",
             2000, 200, ("items",), _prepareWithReplica, _ormFindInFlight, _rawFindInFlight,
             _verifyFoundOnReplica, supportsReplicas, replica=True),
    Workload("replica_find_primary", "find(id), primary alone", 1000, 100, ("items",),
             _prepareNoReplica, _ormFindCached, _rawFindSequential, _verifyFound,
             supportsReplicas, replica=True),
    Workload("replica_find_cached", "find(id), replica, its position known", 1000, 100,
             ("items",), _prepareWithReplica, _ormFindCached, _rawFindSequential,
             _verifyFoundOnReplica, supportsReplicas, replica=True),
    Workload("replica_find_checked", "find(id), replica, its position checked", 1000, 100,
             ("items",), _prepareWithReplica, _ormFindChecked, _rawFindChecked,
             _verifyFoundOnReplica, supportsReplicas, replica=True),
    Workload("replica_find_after_write", "find(id) right after a write", 1000, 100,
             ("items",), _prepareWithReplica, _ormFindAfterWrite, _rawFindAfterWrite,
             _verifyFound, supportsReplicas, replica=True),
    Workload("replica_create_primary", "sequential creates, primary alone", 1000, 100,
             ("items",), _prepareCreateNoReplica, _ormCreateInFreshContext, _rawCreateSeq,
             _verifyCreated, supportsReplicas, replica=True),
    Workload("replica_create", "sequential creates, with a replica", 1000, 100, ("items",),
             _prepareCreateWithReplica, _ormCreateInFreshContext, _rawCreateSeq,
             _verifyCreated, supportsReplicas, replica=True),
]

WORKLOADS_BY_NAME: dict[str, Workload] = {w.name: w for w in WORKLOADS}
