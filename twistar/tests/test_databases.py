"""
Tests for named databases: L{Registry.addDatabase}, models with a
C{DATABASE}, C{Model.using(name)} and C{transaction(database=name)}.

Each test of L{NamedDatabaseTests} makes a second database next to the
test database (on SQLite a second file, on PostgreSQL and MariaDB a
database created on the same server and dropped at the test's end), whose
tables hold other rows under the same ids, so that a statement sent to the
wrong database finds the wrong row (or no table).
"""

from __future__ import annotations

import itertools
import os
from urllib.parse import urlsplit, urlunsplit

from twisted.internet import threads
from twisted.internet.defer import maybeDeferred
from twisted.trial import unittest

from twistar.dbobject import DBObject
from twistar.exceptions import (
    DBObjectSaveError,
    ImaginaryTableError,
    TransactionError,
    TwistarError,
    UnknownColumnError,
)
from twistar.pool import ConnectionPool
from twistar.registry import Registry
from twistar.tests.helpers import (
    MYSQL,
    SQLITE,
    TABLES,
    DBTestCase,
    _createTables,
    closePool,
    makePool,
    restoreRegistry,
    testDatabase,
)
from twistar.tests.models import Avatar, FavoriteColor, Picture, Unique, User
from twistar.tests.test_logging import captureQueries
from twistar.tests.test_through import TABLES as THROUGH_TABLES
from twistar.tests.test_through import Actor, Film
from twistar.transaction import Transaction, transaction

OTHER = "other"
"""The name the tests give the second database."""


class Ledger(DBObject):
    """
    A row of C{ledgers}, a table only the second database has.
    """

    DATABASE = OTHER
    HASMANY = ["ledger_entries"]


class LedgerEntry(DBObject):
    """
    A row of C{ledger_entries}, in the second database, of a L{Ledger}.
    """

    DATABASE = OTHER
    BELONGSTO = ["ledger"]


Registry.register(Ledger, LedgerEntry)

# The tables of the second database: its users have one more column.
OTHER_TABLES = {
    **{name: TABLES[name] for name in (
        "pictures", "avatars", "favorite_colors", "favorite_colors_users", "uniques",
    )},
    "users": [*TABLES["users"], "nickname {str}"],
    "ledgers": ["id {pk}", "name {str}"],
    "ledger_entries": ["id {pk}", "ledger_id {int}", "amount {int}"],
}

_numbers = itertools.count(1)


class FakePool:
    """
    Just enough of a connection pool for the registry's checks.
    """

    def __init__(self, dbapiName: str) -> None:
        self.dbapiName = dbapiName


def _adminStatement(pool: ConnectionPool, statement: str) -> None:
    """
    Run C{statement} (C{CREATE DATABASE}, C{DROP DATABASE}) on a connection
    of its own to C{pool}'s server, outside any transaction. Blocks.
    """
    connection = pool.dbapi.connect(*pool.connargs, **pool.connkw)
    try:
        if pool.dbapiName in ("psycopg2", "psycopg"):
            # PostgreSQL runs neither statement in a transaction.
            connection.autocommit = True
        cursor = connection.cursor()
        cursor.execute(statement)
        cursor.close()
    finally:
        connection.close()


async def secondDatabase(testCase: DBTestCase) -> ConnectionPool:
    """
    Make a second database on the test's backend with L{OTHER_TABLES}, for
    the rest of C{testCase} (then it is closed and dropped).

    @return: its pool (through the driver of C{testCase.pool}).
    """
    if testCase.backend == SQLITE:
        pool = makePool()
    else:
        name = f"twistar_other_{os.getpid()}_{next(_numbers)}"
        drop = f"DROP DATABASE IF EXISTS {name}"
        if testCase.backend != MYSQL:
            drop += " WITH (FORCE)"
        await threads.deferToThread(_adminStatement, testCase.pool, f"CREATE DATABASE {name}")
        testCase.addCleanup(threads.deferToThread, _adminStatement, testCase.pool, drop)
        parts = urlsplit(testDatabase())
        pool = makePool(urlunsplit(parts._replace(path="/" + name)), testCase.pool.dbapiName)
    testCase.addCleanup(closePool, pool)
    await pool.runInteraction(_createTables, testCase.backend, OTHER_TABLES)
    return pool


class DatabaseRegistryTests(unittest.SynchronousTestCase):
    """
    L{Registry.addDatabase} and the errors of named databases, before any
    SQL runs.
    """

    def setUp(self) -> None:
        restoreRegistry(self)
        self.pool = FakePool("sqlite3")

    def test_addAndRemove(self) -> None:
        """
        A named database's pool is found by its name, next to the default
        database's (L{Registry.DBPOOL}, unchanged), until it is removed.
        """
        default = FakePool("sqlite3")
        Registry.DBPOOL = default  # type: ignore[assignment]
        Registry.addDatabase(OTHER, self.pool)  # type: ignore[arg-type]
        self.assertIs(Registry.poolOf(OTHER), self.pool)
        self.assertIs(Registry.DATABASES[OTHER], self.pool)
        self.assertIs(Registry.poolOf(), default)
        self.assertEqual(Registry.getConfig(OTHER).database, OTHER)
        self.assertEqual(Registry.getConfig().database, "default")
        Registry.removeDatabase(OTHER)
        self.assertIsNone(Registry.poolOf(OTHER))
        self.assertNotIn(OTHER, Registry.DATABASES)
        self.assertIs(Registry.poolOf(), default)
        error = self.assertRaises(TwistarError, Registry.getConfig, OTHER)
        self.assertIn(repr(OTHER), str(error))
        self.assertRaises(TwistarError, Registry.removeDatabase, OTHER)

    def test_default(self) -> None:
        """
        The name C{"default"} is L{Registry.DBPOOL}: adding it sets
        C{DBPOOL}; it cannot be removed.
        """
        Registry.addDatabase("default", self.pool)  # type: ignore[arg-type]
        self.assertIs(Registry.DBPOOL, self.pool)
        self.assertNotIn("default", Registry.DATABASES)
        self.assertIs(Registry.poolOf("default"), self.pool)
        self.assertRaises(TwistarError, Registry.removeDatabase, "default")
        self.assertIs(Registry.DBPOOL, self.pool)

    def test_badNames(self) -> None:
        """
        A database name that is not a non-empty string is refused with
        L{TwistarError} by every call that takes one.
        """
        for name in ("", None, 3, b"other"):
            self.assertRaises(TwistarError, Registry.addDatabase, name, self.pool)
            self.assertRaises(TwistarError, Registry.removeDatabase, name)
            if name is not None:
                self.assertRaises(TwistarError, User.using, name)
                self.assertRaises(TwistarError, Registry.getConfig, name)
        self.assertEqual(Registry.DATABASES, {})

    def test_badPools(self) -> None:
        """
        C{addDatabase} refuses with L{TwistarError} anything but a
        connection pool of a supported driver, keeping no database.
        """
        for pool in (None, object(), "sqlite:///x.db", FakePool("oracledb")):
            self.assertRaises(TwistarError, Registry.addDatabase, OTHER, pool)
        self.assertNotIn(OTHER, Registry.DATABASES)

    def test_unknownName(self) -> None:
        """
        Calls naming a database that was never added fail with
        L{TwistarError} naming it; C{poolOf} gives C{None}.
        """
        self.assertIsNone(Registry.poolOf("nowhere"))
        error = self.assertRaises(TwistarError, Registry.getConfig, "nowhere")
        self.assertIn("'nowhere'", str(error))
        self.assertRaises(TwistarError, Registry.getDBAPIClass, "Binary", "nowhere")


class UnknownDatabaseTests(DBTestCase):
    """
    Calls naming an unknown database fail before any SQL is sent.
    """

    async def test_noSQL(self) -> None:
        """
        Finders, the query layer, saves, bulk writes and transactions of an
        unknown database fail with L{TwistarError}, and no statement runs.
        """
        restoreRegistry(self)
        queries = captureQueries(self)
        user = User(first_name="x")
        nowhere = User.using("nowhere")
        calls = [
            lambda: nowhere.find(1), lambda: nowhere.all(), lambda: nowhere.count(),
            lambda: nowhere.findBy(first_name="x"), lambda: nowhere.where(age=1).all(),
            lambda: nowhere.query().pluck("id"), lambda: nowhere.save(user),
            lambda: nowhere.createMany([User(first_name="y")]),
            lambda: nowhere.deleteAll(), lambda: nowhere.where(age=1).updateAll(age=2),
            lambda: Registry.getConfig("nowhere").select("users"),
            transaction(database="nowhere")(lambda txn: None),
        ]
        for call in calls:
            await self.assertFailure(maybeDeferred(call), TwistarError)
        with self.assertRaises(TwistarError):
            async with transaction(database="nowhere"):
                pass
        self.assertEqual(list(queries), [])
        self.assertEqual(await User.count(), 0)


class NamedDatabaseTests(DBTestCase):
    """
    Models, the query layer and transactions on a second database.
    """

    async def setUp(self) -> None:
        await super().setUp()
        restoreRegistry(self)
        if self.backend != SQLITE:
            # Ids from 1 again, as in the second database.
            tables = ", ".join(OTHER_TABLES.keys() & TABLES.keys())
            if self.backend == MYSQL:
                for table in OTHER_TABLES.keys() & TABLES.keys():
                    await self.pool.runOperation(f"TRUNCATE TABLE {table}")
            else:
                await self.pool.runOperation(f"TRUNCATE {tables} RESTART IDENTITY")
        self.other = await secondDatabase(self)
        Registry.addDatabase(OTHER, self.other)
        self.otherConfig = Registry.getConfig(OTHER)

    async def twoUsers(self) -> tuple[User, User]:
        """
        Save a user in each database, with the same id.

        @return: the user of the default database and the other one's.
        """
        mine = await User(first_name="Default", age=10).save()
        theirs = await User.using(OTHER).save(User(first_name="Other", age=20))
        self.assertEqual(mine.id, theirs.id)
        return mine, theirs

    async def names(self, database: str | None = None) -> list[str]:
        """
        @return: the first names in C{database}'s C{users}, read with the
            low-level API.
        """
        rows = await Registry.getConfig(database).select("users", orderby="id")
        return [row["first_name"] for row in rows]

    async def test_config(self) -> None:
        """
        C{Registry.getConfig(name)} runs the low-level API on that
        database; C{Registry.getConfig()} still on L{Registry.DBPOOL}.
        """
        config = self.otherConfig
        self.assertIs(config.pool, self.other)
        self.assertEqual(config.database, OTHER)
        self.assertIs(Registry.getConfig(OTHER), config)
        self.assertIs(Registry.getConfig().pool, self.pool)
        await config.insert("users", {"first_name": "Low", "nickname": "l"})
        await Registry.getConfig().insert("users", {"first_name": "Default"})
        self.assertEqual(await config.count("users"), 1)
        self.assertEqual(await self.names(OTHER), ["Low"])
        await config.update("users", {"age": 7}, where=["first_name = ?", "Low"])
        rows = await config.select("users", where=["age = ?", 7])
        self.assertEqual([row["nickname"] for row in rows], ["l"])
        await config.execute(f"DELETE FROM users WHERE age = {config.placeholder}", [7])
        self.assertEqual(await config.count("users"), 0)
        self.assertEqual(await self.names(), ["Default"])
        self.assertIs(Registry.getDBAPIClass("Binary", OTHER), self.other.dbapi.Binary)

    async def test_finders(self) -> None:
        """
        Finders and the query layer called through C{Model.using(name)}
        read that database's rows; called directly, the default one's.
        """
        mine, theirs = await self.twoUsers()
        await User.using(OTHER).save(User(first_name="Second", age=30))
        other = User.using(OTHER)
        self.assertEqual((await other.find(theirs.id)).first_name, "Other")
        self.assertEqual((await User.find(mine.id)).first_name, "Default")
        self.assertEqual(
            [u.first_name for u in await other.findBy(age=30)], ["Second"]
        )
        self.assertEqual([u.first_name for u in await other.all()], ["Other", "Second"])
        self.assertEqual(await other.count(), 2)
        self.assertEqual(await User.count(), 1)
        self.assertTrue(await other.exists(where=["age = ?", 30]))
        self.assertFalse(await User.exists(where=["age = ?", 30]))
        self.assertEqual(
            [u.first_name for u in await other.query().order("id DESC").all()],
            ["Second", "Other"],
        )
        self.assertEqual(await other.where(age=20).pluck("first_name"), ["Other"])
        self.assertEqual(await User.where(age=20).pluck("first_name"), [])
        self.assertEqual(await other.pluck("age"), [20, 30])
        rows = await other.select("first_name", "nickname").where(age=30).rows()
        self.assertEqual(rows, [{"first_name": "Second", "nickname": None}])
        page = await other.page(1, 1)
        self.assertEqual((page.total, [u.first_name for u in page.items]), (2, ["Other"]))
        walked = [u.first_name async for u in other.query().each(batchSize=1)]
        self.assertEqual(walked, ["Other", "Second"])
        self.assertEqual((await other.where(age=30).first()).first_name, "Second")
        self.assertEqual(await other.query().max("age"), 30)
        self.assertEqual(await self.names(), ["Default"])

    async def test_writes(self) -> None:
        """
        Saves, bulk writes, C{updateAll}, C{deleteAll} and C{upsert} called
        through C{Model.using(name)} write to that database only.
        """
        mine, theirs = await self.twoUsers()
        other = User.using(OTHER)
        made = await other.createMany([User(first_name=f"m{i}", age=i) for i in range(3)])
        self.assertEqual([u.first_name for u in await other.find(where=["age < ?", 3])],
                         ["m0", "m1", "m2"])
        self.assertEqual(await other.where(age=1).updateAll(last_name="updated"), 1)
        self.assertEqual(await User.where(age=1).updateAll(last_name="updated"), 0)
        self.assertEqual(await other.where("age < ?", 3).whereNot(age=0).deleteAll(), 2)
        self.assertEqual(await self.names(OTHER), ["Other", "m0"])
        self.assertEqual(await self.names(), ["Default"])
        # Objects made by createMany remember the database.
        made[0].first_name = "again"
        await made[0].save()
        self.assertEqual(await self.names(OTHER), ["Other", "again"])
        # So do objects loaded through using(): updateMany writes them there.
        loaded = await other.all()
        for user in loaded:
            user.age += 100
        await User.updateMany(loaded)
        self.assertEqual(await other.pluck("age"), [120, 100])
        self.assertEqual(await User.pluck("age"), [10])
        await self.assertFailure(
            maybeDeferred(User.updateMany, [mine, loaded[0]]), DBObjectSaveError
        )
        found = await other.findOrCreate(first_name="again")
        self.assertEqual(found.id, made[0].id)
        created = await other.findOrCreate(first_name="fresh")
        self.assertEqual(await self.names(OTHER), ["Other", "again", "fresh"])
        self.assertEqual(await self.names(), ["Default"])
        created.age = 5
        await created.save()
        self.assertEqual(await other.where(first_name="fresh").pluck("age"), [5])
        await Unique.using(OTHER).upsert([{"code": "a", "label": "one"}], "code")
        await Unique.using(OTHER).upsert([{"code": "a", "label": "two"}], "code")
        upserted = await Unique.using(OTHER).upsert([Unique(code="b", label="b")], "code")
        self.assertEqual(
            await Unique.using(OTHER).query().order("code").pluck("code", "label"),
            [("a", "two"), ("b", "b")],
        )
        self.assertEqual(await Unique.count(), 0)
        upserted[0].label = "changed"
        await upserted[0].save()
        self.assertEqual(await Unique.using(OTHER).where(code="b").pluck("label"), ["changed"])
        self.assertEqual(await Unique.count(), 0)

    async def test_loadedObjectsRemember(self) -> None:
        """
        Objects loaded or saved through C{Model.using(name)} are later
        saved, refreshed and deleted in that database, not the default one;
        saved through C{using("default")}, back in the default one.
        """
        mine, theirs = await self.twoUsers()
        loaded = await User.using(OTHER).find(theirs.id)
        loaded.first_name = "Changed"
        await loaded.save()
        self.assertEqual(await self.names(OTHER), ["Changed"])
        self.assertEqual(await self.names(), ["Default"])
        await self.otherConfig.update("users", {"age": 99}, where=["id = ?", theirs.id])
        await loaded.refresh()
        self.assertEqual(loaded.age, 99)
        theirs.last_name = "Saved"
        await theirs.save()
        self.assertEqual((await User.using(OTHER).find(theirs.id)).last_name, "Saved")
        self.assertIsNone((await User.find(mine.id)).last_name)
        await loaded.delete()
        self.assertEqual(await self.names(OTHER), [])
        self.assertEqual(await self.names(), ["Default"])
        # Saved through using("default"), an object is then saved there.
        moved = await User.using(OTHER).save(User(first_name="Moved"))
        await User(first_name="Second").save()
        await User.using("default").save(moved)
        moved.first_name = "Moved again"
        await moved.save()
        self.assertEqual(await self.names(), ["Default", "Moved again"])
        self.assertEqual(await self.names(OTHER), ["Moved"])

    async def setUpRelated(self) -> tuple[User, User]:
        """
        Give the users of L{twoUsers} pictures, an avatar and a colour, each
        in their database, with the same ids.
        """
        mine, theirs = await self.twoUsers()
        for user, where in ((mine, None), (theirs, OTHER)):
            name = user.first_name
            for model, attrs in (
                (Picture, {"name": f"{name} picture", "user_id": user.id}),
                (Avatar, {"name": f"{name} avatar", "user_id": user.id}),
                (FavoriteColor, {"name": f"{name} colour"}),
            ):
                await model.using(where).save(model(**attrs))
            await Registry.getConfig(where).insert(
                "favorite_colors_users", {"user_id": user.id, "favorite_color_id": 1}
            )
        return mine, theirs

    async def test_relationships(self) -> None:
        """
        The relationships of an object loaded through C{Model.using(name)}
        read and write that database.
        """
        mine, _ = await self.setUpRelated()
        user = await User.using(OTHER).find(mine.id)
        self.assertEqual([p.name for p in await user.pictures.get()], ["Other picture"])
        self.assertEqual(await user.pictures.count(), 1)
        self.assertEqual((await user.avatar.get()).name, "Other avatar")
        self.assertEqual([c.name for c in await user.favorite_colors.get()], ["Other colour"])
        picture = (await user.pictures.get())[0]
        self.assertEqual((await picture.user.get()).first_name, "Other")
        await user.pictures.set([await Picture.using(OTHER).save(Picture(name="new"))])
        self.assertEqual([p.name for p in await user.pictures.get()], ["new"])
        self.assertEqual(
            await Picture.using(OTHER).where(name="Other picture").pluck("user_id"), [None]
        )
        # The default database's rows are untouched.
        self.assertEqual([p.name for p in await mine.pictures.get()], ["Default picture"])
        self.assertEqual(await Picture.count(), 1)

    async def test_relationshipWrites(self) -> None:
        """
        Setting the relationships of objects loaded through
        C{Model.using(name)} writes that database: the objects it saves
        (a has-one's, a join model's) are saved there.
        """
        mine, theirs = await self.setUpRelated()
        user = await User.using(OTHER).find(theirs.id)
        await user.avatar.set(Avatar(name="new avatar"))
        self.assertEqual(
            await Avatar.using(OTHER).order("id").pluck("name", "user_id"),
            [("Other avatar", None), ("new avatar", theirs.id)],
        )
        second = await User.using(OTHER).save(User(first_name="Second"))
        picture = (await user.pictures.get())[0]
        await picture.user.set(second)
        self.assertEqual(await Picture.using(OTHER).pluck("user_id"), [second.id])
        color = await FavoriteColor.using(OTHER).save(FavoriteColor(name="new colour"))
        await user.favorite_colors.set([color])
        self.assertEqual(
            [c.name for c in await (await User.using(OTHER).find(theirs.id)).favorite_colors.get()],
            ["new colour"],
        )
        # The default database is as it was.
        self.assertEqual(await Avatar.pluck("name"), ["Default avatar"])
        self.assertEqual(await Picture.pluck("user_id"), [mine.id])
        self.assertEqual([c.name for c in await mine.favorite_colors.get()], ["Default colour"])

    async def test_joinModelWrites(self) -> None:
        """
        A HABTM through a join model, of objects loaded through
        C{Model.using(name)}, saves and deletes its join rows there.
        """
        await self.other.runInteraction(_createTables, self.backend, {
            name: THROUGH_TABLES[name] for name in ("jm_actors", "jm_films", "jm_roles")
        })
        actor = await Actor.using(OTHER).save(Actor(name="actor"))
        films = await Film.using(OTHER).createMany([Film(title=t) for t in ("a", "b", "c")])
        await actor.films.add(films[0], part="lead")
        await actor.films.set([films[1], films[2]])
        rows = await Registry.getConfig(OTHER).select("jm_roles", orderby="film_id")
        self.assertEqual([row["film_id"] for row in rows], [films[1].id, films[2].id])
        loaded = await Actor.using(OTHER).find(actor.id)
        self.assertEqual(sorted(f.title for f in await loaded.films.get()), ["b", "c"])

    async def test_eagerLoading(self) -> None:
        """
        Relationships loaded with the objects (C{include}, C{includes},
        C{preload}) of a query through C{Model.using(name)} come from that
        database, with no query after the load.
        """
        mine, theirs = await self.setUpRelated()
        names = ("pictures", "avatar", "favorite_colors")
        loads = [
            await User.using(OTHER).find(theirs.id, include=list(names)),
            (await User.using(OTHER).includes(*names).all())[0],
            (await User.preload([await User.using(OTHER).find(theirs.id)], *names))[0],
        ]
        queries = captureQueries(self)
        for user in loads:
            self.assertEqual([p.name for p in await user.pictures.get()], ["Other picture"])
            self.assertEqual((await user.avatar.get()).name, "Other avatar")
            self.assertEqual(
                [c.name for c in await user.favorite_colors.get()], ["Other colour"]
            )
        self.assertEqual(list(queries), [])
        pictures = await Picture.using(OTHER).includes("user").all()
        self.assertEqual((await pictures[0].user.get()).first_name, "Other")
        default = await User.find(mine.id, include=list(names))
        self.assertEqual((await default.avatar.get()).name, "Default avatar")

    async def test_modelDatabase(self) -> None:
        """
        A model with C{DATABASE} reads and writes its database without
        C{using}, relationships and eager loading included.
        """
        ledger = await Ledger(name="books").save()
        await LedgerEntry.createMany([LedgerEntry(ledger_id=ledger.id, amount=a) for a in (1, 2)])
        self.assertEqual(await self.otherConfig.count("ledger_entries"), 2)
        found = await Ledger.find(ledger.id, include="ledger_entries")
        self.assertEqual(sorted(e.amount for e in await found.ledger_entries.get()), [1, 2])
        entry = await LedgerEntry.findBy(amount=2)
        self.assertEqual((await entry[0].ledger.get()).name, "books")
        self.assertEqual(await Ledger.where(name="books").updateAll(name="accounts"), 1)
        await ledger.refresh()
        self.assertEqual(ledger.name, "accounts")
        self.assertNotIn("_database", ledger.__dict__)
        # The default database has no such table.
        await self.assertFailure(Ledger.using("default").count(), ImaginaryTableError)
        await self.assertFailure(Registry.getConfig().count("ledgers"), Exception)

    async def test_transactionDecorator(self) -> None:
        """
        C{transaction(database=name)} runs the calls on that database's
        models inside it (rolled back with it); a default-database model
        called inside it runs outside it (and stays committed).
        """

        @transaction(database=OTHER)
        async def work(txn: Transaction, fail: bool) -> None:
            self.assertIs(txn.pool, self.other)
            await Ledger(name="inside").save()
            await User.using(OTHER).save(User(first_name="inside"))
            await User(first_name="outside").save()
            self.assertEqual(await Ledger.count(), 1)
            if fail:
                raise ValueError("undo")

        failure = await self.assertFailure(work(True), TransactionError)
        self.assertIsInstance(failure.__cause__, ValueError)
        self.assertEqual(await Ledger.count(), 0)
        self.assertEqual(await self.names(OTHER), [])
        self.assertEqual(await self.names(), ["outside"])
        await work(False)
        self.assertEqual(await Ledger.pluck("name"), ["inside"])
        self.assertEqual(await self.names(OTHER), ["inside"])
        self.assertEqual(await self.names(), ["outside", "outside"])

    async def test_transactionBlock(self) -> None:
        """
        C{async with transaction(database=name)} nests a transaction of the
        same database as a savepoint; one of the default database inside
        it is a transaction of its own.
        """
        async with transaction(database=OTHER) as outer:
            self.assertIs(outer.pool, self.other)
            await Ledger(name="kept").save()
            with self.assertRaises(ValueError):
                async with transaction(database=OTHER) as inner:
                    self.assertIs(inner.parent, outer)
                    self.assertIsNotNone(inner.savepoint)
                    await Ledger(name="undone").save()
                    raise ValueError("to the savepoint")
            async with transaction() as separate:
                self.assertIsNone(separate.parent)
                self.assertIs(separate.pool, self.pool)
                await User(first_name="separate").save()
            async with transaction(database=OTHER) as again:
                self.assertIs(again.parent, outer)
            self.assertEqual(await Ledger.pluck("name"), ["kept"])
        self.assertEqual(await Ledger.pluck("name"), ["kept"])
        self.assertEqual(await self.names(), ["separate"])
        with self.assertRaises(ValueError):
            async with transaction(database=OTHER):
                await Ledger(name="rolled back").save()
                raise ValueError()
        self.assertEqual(await Ledger.pluck("name"), ["kept"])

    async def test_schemaCaches(self) -> None:
        """
        Each database has its own cache of columns: the second database's
        C{users} has a column the default one's lacks.
        """
        Registry.forgetSchemas()
        await User.using(OTHER).save(User(first_name="nick", nickname="n"))
        self.assertEqual(
            [u.nickname for u in await User.using(OTHER).findBy(nickname="n")], ["n"]
        )
        await self.assertFailure(User.findBy(nickname="n"), UnknownColumnError)
        self.assertIn("nickname", Registry.schemasOf(OTHER)["users"])
        self.assertNotIn("nickname", Registry.SCHEMAS["users"])
        self.assertIs(Registry.schemasOf(), Registry.SCHEMAS)
        Registry.forgetSchemas("users", database=OTHER)
        self.assertNotIn("users", Registry.schemasOf(OTHER))
        self.assertIn("users", Registry.SCHEMAS)
        # A finder through using() reads the right database's columns when
        # the cache is empty.
        Registry.forgetSchemas()
        found = await User.using(OTHER).findBy(first_name="nick")
        self.assertEqual([u.nickname for u in found], ["n"])
        self.assertEqual(await User.findBy(first_name="nick"), [])

    async def test_defaultUnchanged(self) -> None:
        """
        With a named database added, the default database is still
        L{Registry.DBPOOL}: replacing C{DBPOOL} switches the models, the
        named database is left alone.
        """
        first = await User(first_name="first").save()
        self.assertNotIn("_database", (await User.find(first.id)).__dict__)
        self.assertEqual(await User.using().count(), 1)
        second = makePool()
        self.addCleanup(closePool, second)
        if self.backend == SQLITE:
            await second.runInteraction(_createTables, SQLITE, {"users": TABLES["users"]})
        Registry.DBPOOL = second
        self.assertIs(Registry.getConfig().pool, second)
        self.assertIs(Registry.poolOf(OTHER), self.other)
        expected = 0 if self.backend == SQLITE else 1
        self.assertEqual(await User.count(), expected)
        self.assertEqual(await User.using(OTHER).count(), 0)
