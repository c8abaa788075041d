# -*- test-case-name: twistar.tests.test_updatemany -*-
"""
Tests for C{Model.updateMany}, the bulk update of loaded objects, on the
test database.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from twistar.dbobject import DBObject
from twistar.exceptions import DBObjectSaveError, StaleObjectError, ValidationError
from twistar.registry import Registry
from twistar.tests.helpers import DBTestCase
from twistar.tests.models import Draft, SafetySample, Story, User
from twistar.tests.test_logging import captureQueries
from twistar.tests.test_timestamps import asUTC
from twistar.transaction import runInTransaction


class Round(DBObject):
    """
    A row of C{scores}; it records its hooks, and C{beforeUpdate} cancels
    the update of player C{"skip"}.
    """

    TABLENAME = "scores"

    def beforeUpdate(self) -> Any:
        self.__dict__.setdefault("hooks", []).append("update")
        return self.player != "skip"

    def beforeSave(self) -> Any:
        self.__dict__.setdefault("hooks", []).append("save")


Round.validatesPresenceOf("player")
Registry.register(Round)


class UpdateManyTests(DBTestCase):
    """
    Tests for C{updateMany}.
    """

    async def users(self) -> list[tuple[Any, ...]]:
        """
        @return: every row of C{users} as C{(first_name, last_name, age)}, in id order.
        """
        rows = await self.config.select("users", orderby="id")
        return [(row["first_name"], row["last_name"], row["age"]) for row in rows]

    async def test_groupsByChangedColumns(self) -> None:
        """
        Objects are written with one C{UPDATE} per set of changed columns;
        objects without changes send nothing; the saved state is recorded,
        so a second C{updateMany} or a C{save()} sends nothing.
        """
        await User.createMany([User(first_name=f"u{n}", last_name="x", age=n) for n in range(5)])
        users = await User.find(orderby="id")
        users[0].age = 10
        users[1].age = 11
        users[2].first_name = "two"
        users[2].age = None
        users[3].last_name = "three"
        users[3].age = 13
        queries = captureQueries(self)
        self.assertEqual(await User.updateMany(users), users)
        self.assertEqual(len(queries.starting("UPDATE")), 3)
        self.assertEqual(len(queries.all()), 3)
        self.assertEqual(await self.users(), [
            ("u0", "x", 10), ("u1", "x", 11), ("two", "x", None), ("u3", "three", 13),
            ("u4", "x", 4),
        ])
        queries.reset()
        await User.updateMany(users)
        for user in users:
            await user.save()
        self.assertEqual(queries.all(), [])
        self.assertEqual(await User.updateMany([]), [])

    async def test_unchangedSendsNothing(self) -> None:
        """
        Objects without changes send no statement at all.
        """
        await User(first_name="a").save()
        users = await User.all()
        queries = captureQueries(self)
        await User.updateMany(users)
        self.assertEqual(queries.all(), [])

    async def test_typedValues(self) -> None:
        """
        Values of every kind (dates, timestamps, decimals, booleans, bytes,
        C{None}), several rows in one statement, are stored as they were
        given.
        """
        base: dict[str, Any] = dict(a_bool=True, a_int=100, a_bigint=100, a_float=100.0,
                    a_decimal=Decimal(100), a_str="base", a_bytes=b"base",
                    a_date=date(2000, 1, 1), a_datetime=datetime(2000, 1, 1))
        await SafetySample.createMany([SafetySample(**base) for _ in range(3)])
        samples = await SafetySample.find(orderby="id")
        values: list[dict[str, Any]] = [
            dict(a_bool=False, a_int=7, a_bigint=2 ** 40, a_float=1.5,
                 a_decimal=Decimal("12.345600"), a_str="é", a_bytes=b"\x00\x01",
                 a_date=date(2024, 2, 29), a_datetime=datetime(2024, 2, 29, 12, 30, 1, 500000)),
            dict(a_bool=False, a_int=None, a_bigint=None, a_float=None, a_decimal=None,
                 a_str=None, a_bytes=None, a_date=None, a_datetime=None),
            dict(a_bool=False, a_int=-1, a_bigint=-2, a_float=-0.25,
                 a_decimal=Decimal("-1.000001"), a_str="", a_bytes=b"",
                 a_date=date(1999, 12, 31), a_datetime=datetime(1999, 12, 31, 23, 59, 59)),
        ]
        for sample, given in zip(samples, values):
            sample.__dict__.update(given)
        queries = captureQueries(self)
        await SafetySample.updateMany(samples)
        self.assertEqual(len(queries.starting("UPDATE")), 1)
        for sample, given in zip(samples, values):
            loaded = await SafetySample.find(sample.id)
            stored = {name: getattr(loaded, name) for name in given}
            if isinstance(stored["a_bytes"], (bytearray, memoryview)):
                stored["a_bytes"] = bytes(stored["a_bytes"])
            if stored["a_bool"] is not None:
                stored["a_bool"] = bool(stored["a_bool"])
            expected = dict(given)
            for name in ("a_date", "a_datetime"):
                if isinstance(stored[name], str):  # SQLite: as the driver stored it
                    expected[name] = str(given[name])
            self.assertEqual(stored, expected)

    async def test_staleVersion(self) -> None:
        """
        With a C{LOCK_VERSION}, each row matches only at its object's
        version, and is bumped; when one row has moved on, the update fails
        with L{StaleObjectError} naming that object, and nothing is written.
        """
        await Draft.createMany([Draft(title=f"d{n}") for n in range(3)])
        drafts = await Draft.find(orderby="id")
        drafts[0].title = "zero"
        drafts[1].body = "one"
        await Draft.updateMany(drafts)
        self.assertEqual([d.lock_version for d in drafts], [1, 1, 0])
        rows = await self.config.select("drafts", orderby="id")
        self.assertEqual([(r["title"], r["body"], r["lock_version"]) for r in rows],
                         [("zero", None, 1), ("d1", "one", 1), ("d2", None, 0)])
        other = await Draft.find(drafts[2].id)
        other.title = "moved on"
        await other.save()
        for draft in drafts:
            draft.title = draft.title + "!"
        error: Any = await self.assertFailure(Draft.updateMany(drafts), StaleObjectError)
        self.assertIs(error.obj, drafts[2])
        self.assertIn(repr(drafts[2]), str(error))
        self.assertNotIn(repr(drafts[0]), str(error))
        rows = await self.config.select("drafts", orderby="id")
        self.assertEqual([(r["title"], r["lock_version"]) for r in rows],
                         [("zero", 1), ("d1", 1), ("moved on", 1)])
        self.assertEqual([d.lock_version for d in drafts], [1, 1, 0])
        self.assertEqual(drafts[0]._changedValues(["title"]), {"title": "zero!"})

    async def test_staleInTransaction(self) -> None:
        """
        Inside a transaction, a stale update writes nothing and the
        transaction goes on.
        """
        await Draft.createMany([Draft(title="a"), Draft(title="b")])
        drafts = await Draft.find(orderby="id")
        other = await Draft.find(drafts[1].id)
        other.title = "moved on"
        await other.save()

        async def work(txn: Any) -> None:
            for draft in drafts:
                draft.body = "x"
            await self.assertFailure(Draft.updateMany(drafts), StaleObjectError)
            drafts[0].title = "kept"
            await drafts[0].save()

        await runInTransaction(work)
        rows = await self.config.select("drafts", orderby="id")
        self.assertEqual([(r["title"], r["body"], r["lock_version"]) for r in rows],
                         [("kept", "x", 1), ("moved on", None, 1)])

    async def test_unversionedRow(self) -> None:
        """
        A row without a version matches while the object has none.
        """
        await self.config.insert("drafts", {"title": "old"})
        draft = await Draft.find(where=["title = ?", "old"], limit=1)
        self.assertIsNone(draft.lock_version)
        draft.title = "new"
        await Draft.updateMany([draft])
        self.assertEqual(draft.lock_version, 1)
        row = await self.config.select("drafts", draft.id)
        self.assertEqual((row["title"], row["lock_version"]), ("new", 1))

    async def test_goneRow(self) -> None:
        """
        Without a C{LOCK_VERSION}, an object whose row is gone fails the
        update with L{DBObjectSaveError}, and nothing is written.
        """
        await User.createMany([User(first_name="a"), User(first_name="b")])
        users = await User.find(orderby="id")
        await self.config.delete("users", where=["id = ?", users[1].id])
        for user in users:
            user.age = 5
        await self.assertFailure(User.updateMany(users), DBObjectSaveError)
        self.assertEqual(await self.users(), [("a", None, None)])

    async def test_timestamps(self) -> None:
        """
        Each object written gets the update time of one clock reading, unless
        its caller set one; objects without changes keep theirs.
        """
        await Story.createMany([Story(title=f"s{n}") for n in range(3)])
        stories = await Story.find(orderby="id")
        before = [s.updated_at for s in stories]
        stories[0].body = "b"
        stories[1].title = "t"
        given = datetime(2001, 1, 1)
        stories[2].title = "u"
        stories[2].updated_at = given
        await Story.updateMany(stories)
        self.assertEqual(stories[0].updated_at, stories[1].updated_at)
        self.assertGreater(asUTC(stories[0].updated_at), asUTC(before[0]))
        self.assertEqual(asUTC(stories[2].updated_at), asUTC(given))
        for story in stories:
            loaded = await Story.find(story.id)
            self.assertEqual(asUTC(loaded.updated_at), asUTC(story.updated_at))
        queries = captureQueries(self)
        await Story.updateMany(stories)
        self.assertEqual(queries.all(), [])

    async def test_hooksAndValidation(self) -> None:
        """
        Each object gets C{beforeUpdate} then C{beforeSave}; one whose hook
        cancels is not written nor returned; an invalid object fails the
        call with L{ValidationError}, writing nothing.
        """
        await Round.createMany([Round(player=p, points=0) for p in ("a", "skip")])
        rounds = await Round.find(orderby="id")
        for each in rounds:
            each.points = 5
        self.assertEqual(await Round.updateMany(rounds), rounds[:1])
        self.assertEqual([r.hooks for r in rounds], [["update", "save"], ["update"]])
        self.assertEqual([r.points for r in await Round.find(orderby="id")], [5, 0])
        rounds[0].points = 6
        rounds[1].player = None
        await self.assertFailure(Round.updateMany(rounds), ValidationError)
        self.assertEqual([r.points for r in await Round.find(orderby="id")], [5, 0])

    async def test_badInputRefused(self) -> None:
        """
        New, deleted, foreign-class and repeated objects are refused with
        L{DBObjectSaveError} before any SQL.
        """
        user = await User(first_name="a").save()
        gone = await User(first_name="b").save()
        await gone.delete()
        draft = await Draft(title="d").save()
        queries = captureQueries(self)
        for objects in ([User(first_name="new")], [gone], [draft], [user, user]):
            self.assertRaises(DBObjectSaveError, User.updateMany, objects)
        self.assertEqual(queries.all(), [])
