"""
Tests for C{TIMESTAMPS}: creation and update times set by inserts, by
writes that change something, by C{createMany}, C{upsert} and
C{updateAll}, as each database keeps them, on the test database.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from twisted.internet import reactor, task
from twisted.trial.unittest import SynchronousTestCase

from twistar.dbconfig.mysql import MySQLDBConfig
from twistar.dbconfig.postgres import PostgreSQLDBConfig
from twistar.dbconfig.sqlite import SQLiteDBConfig
from twistar.dbconfig.writes import upsertOf
from twistar.dbobject import DBObject
from twistar.exceptions import InvalidIdentifierError, UnknownColumnError
from twistar.tests.helpers import MYSQL, POSTGRES, SQLITE, DBTestCase
from twistar.tests.models import Note, Story, User
from twistar.tests.test_logging import captureQueries


def asUTC(value: Any) -> datetime:
    """
    @return: a stored timestamp as a naive datetime in UTC (SQLite keeps
        text, a column with a time zone gives aware values).
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value  # type: ignore[no-any-return]


def utcNaive() -> datetime:
    """
    @return: the time now, as a naive datetime in UTC.
    """
    return datetime.now(timezone.utc).replace(tzinfo=None)


async def clockMoves(seconds: float = 0.002) -> None:
    """
    Wait a little, so that the clock reads a later time.
    """
    await task.deferLater(reactor, seconds, lambda: None)


class TimestampsDeclarationTests(SynchronousTestCase):
    """
    C{TIMESTAMPS} is C{True} or a pair of column names, checked when the
    class is defined, before any SQL.
    """

    def test_default(self) -> None:
        """
        Models have no timestamps unless they declare them.
        """
        self.assertIsNone(DBObject.TIMESTAMPS)
        self.assertIsNone(User.TIMESTAMPS)

    def test_invalidNamesRefused(self) -> None:
        """
        A class whose C{TIMESTAMPS} is not C{True} or two distinct plain
        identifiers cannot be defined.
        """
        for value in (("created", "changed = now() --"), ("at", "at"), ("one",), "created_at", 1):
            with self.assertRaises(InvalidIdentifierError):

                class Bad(DBObject):
                    TIMESTAMPS = value  # type: ignore[assignment]

    def test_invalidAssignmentRefused(self) -> None:
        """
        Assigning an invalid C{TIMESTAMPS} fails and keeps the old one.
        """

        class Stamped(DBObject):
            TIMESTAMPS: Any = True

        with self.assertRaises(InvalidIdentifierError):
            Stamped.TIMESTAMPS = ("inserted", "changed`")
        self.assertIs(Stamped.TIMESTAMPS, True)
        Stamped.TIMESTAMPS = ["inserted", "changed"]
        Stamped.TIMESTAMPS = None
        self.assertIsNone(Stamped.TIMESTAMPS)


class StoredTimestampTests(SynchronousTestCase):
    """
    Each dialect gives the time as a column of a declared type keeps it,
    without a database.
    """

    now = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)

    def test_precision(self) -> None:
        """
        The time is cut to the declared digits of a second, else to the
        dialect's default: whole seconds on MySQL, microseconds on
        PostgreSQL.
        """
        naive = self.now.replace(tzinfo=None)
        mysql, postgres = MySQLDBConfig(), PostgreSQLDBConfig()
        self.assertEqual(mysql.storedTimestamp(self.now, "datetime"), naive.replace(microsecond=0))
        self.assertEqual(mysql.storedTimestamp(self.now, "datetime(6)"), naive)
        self.assertEqual(
            mysql.storedTimestamp(self.now, "timestamp(3)"), naive.replace(microsecond=123000)
        )
        self.assertEqual(postgres.storedTimestamp(self.now, "timestamp without time zone"), naive)
        self.assertEqual(
            postgres.storedTimestamp(self.now, "timestamp(0) without time zone"),
            naive.replace(microsecond=0),
        )

    def test_timeZone(self) -> None:
        """
        A column with a time zone gets an aware value in UTC; others a
        naive one; SQLite text, as C{str()} writes the naive value.
        """
        stored = PostgreSQLDBConfig().storedTimestamp(self.now, "timestamp(3) with time zone")
        self.assertEqual(stored, self.now.replace(microsecond=123000))
        self.assertEqual(stored.tzinfo, timezone.utc)
        self.assertIsNone(PostgreSQLDBConfig().storedTimestamp(self.now, "timestamp").tzinfo)
        self.assertEqual(
            SQLiteDBConfig().storedTimestamp(self.now, "TIMESTAMP"), "2024-05-06 07:08:09.123456"
        )

    def test_upsertKeepsCreationTime(self) -> None:
        """
        An upsert updating every column (C{update=None}) leaves out the
        kept ones.
        """
        columns = ["title", "inserted", "changed"]
        upsert = upsertOf("notes", columns, ("title",), None, ("inserted",))
        self.assertEqual(upsert.update, ("changed",))


class TimestampsTests(DBTestCase):
    """
    Tests for the timestamps of L{Story} (C{created_at} and
    C{updated_at}, with microseconds) and L{Note} (C{inserted} and
    C{changed}: whole seconds on MySQL, milliseconds and a time zone on
    PostgreSQL).
    """

    def assertRecent(self, value: Any, before: datetime) -> None:
        """
        Assert that C{value} is a time from C{before} (less what the
        column cuts) to now, in the form the backend gives back.
        """
        self.assertIsInstance(value, str if self.backend == SQLITE else datetime)
        self.assertLessEqual(before - timedelta(seconds=1), asUTC(value))
        self.assertLessEqual(asUTC(value), utcNaive())

    async def test_insertSetsBoth(self) -> None:
        """
        Saving a new object sets both columns to one time, which a reload
        gives back equal.
        """
        before = utcNaive()
        story = await Story(title="a").save()
        self.assertRecent(story.created_at, before)
        self.assertEqual(story.created_at, story.updated_at)
        loaded = await Story.find(story.id)
        self.assertEqual(loaded.created_at, story.created_at)
        self.assertEqual(loaded.updated_at, story.updated_at)
        # Nothing left unsaved.
        queries = captureQueries(self)
        await story.save()
        self.assertEqual(list(queries), [])

    async def test_insertKeepsCallerValue(self) -> None:
        """
        A time the caller set before the insert is kept.
        """
        when = datetime(2001, 2, 3, 4, 5, 6)
        story = await Story(title="a", created_at=when).save()
        self.assertEqual(story.created_at, when)
        self.assertNotEqual(story.updated_at, when)
        loaded = await Story.find(story.id)
        self.assertEqual(asUTC(loaded.created_at), when)

    async def test_updateSetsUpdateTime(self) -> None:
        """
        Saving a changed object sets only the update time, and a reload
        gives it back equal.
        """
        story = await Story(title="a").save()
        created = story.created_at
        await clockMoves()
        loaded = await Story.find(story.id)
        loaded.body = "more"
        await loaded.save()
        self.assertEqual(loaded.created_at, created)
        self.assertGreater(asUTC(loaded.updated_at), asUTC(created))
        again = await Story.find(story.id)
        self.assertEqual(again.updated_at, loaded.updated_at)
        self.assertEqual(again.created_at, created)

    async def test_unchangedSaveWritesNothing(self) -> None:
        """
        Saving an object without changes sends nothing and leaves its
        update time alone.
        """
        story = await Story(title="a").save()
        loaded = await Story.find(story.id)
        queries = captureQueries(self)
        await loaded.save()
        self.assertEqual(list(queries), [])
        self.assertEqual(loaded.updated_at, story.updated_at)
        self.assertEqual(loaded._changedValues(["title", "updated_at"]), {})

    async def test_updateKeepsCallerValue(self) -> None:
        """
        An update time the caller changed is written as it is.
        """
        story = await Story(title="a").save()
        when = datetime(2001, 2, 3, 4, 5, 6)
        story.updated_at = when
        await story.save()
        self.assertEqual(story.updated_at, when)
        self.assertEqual(asUTC((await Story.find(story.id)).updated_at), when)

    async def test_createMany(self) -> None:
        """
        C{createMany} gives every row the same time (one reading of the
        clock), equal to what a reload gives.
        """
        before = utcNaive()
        stories = await Story.createMany([Story(title=f"t{i}") for i in range(5)])
        times = {a.created_at for a in stories} | {a.updated_at for a in stories}
        self.assertEqual(len(times), 1)
        self.assertRecent(stories[0].created_at, before)
        for loaded in await Story.all():
            self.assertEqual(loaded.created_at, stories[0].created_at)
            self.assertEqual(loaded.updated_at, stories[0].updated_at)

    async def test_upsertObjects(self) -> None:
        """
        An upsert stamps new rows with both times; on an existing row it
        sets the update time but keeps the creation time (which the
        object is not told).
        """
        first = await Story(title="a", body="one").save()
        await clockMoves()
        new, old = await Story.upsert(
            [Story(title="b", body="two"), Story(title="a", body="three")], "title"
        )
        self.assertEqual(new.updated_at, old.updated_at)
        self.assertGreater(asUTC(old.updated_at), asUTC(first.created_at))
        self.assertNotIn("created_at", vars(old))
        byTitle = {a.title: a for a in await Story.all()}
        self.assertEqual(byTitle["a"].created_at, first.created_at)
        self.assertEqual(byTitle["a"].updated_at, old.updated_at)
        self.assertEqual(byTitle["b"].created_at, new.updated_at)
        self.assertEqual(byTitle["b"].updated_at, new.updated_at)
        # What the object holds is what the row holds: nothing to write.
        queries = captureQueries(self)
        await old.save()
        self.assertEqual(list(queries), [])

    async def test_upsertNamedColumns(self) -> None:
        """
        An upsert that updates named columns updates the update time too;
        one that updates none (C{insertOrIgnore}) leaves the row alone.
        """
        first = await Story(title="a", body="one").save()
        await clockMoves()
        [ignored] = await Story.insertOrIgnore([Story(title="a", body="x")], "title")
        self.assertNotIn("updated_at", vars(ignored))
        loaded = await Story.find(first.id)
        self.assertEqual((loaded.body, loaded.updated_at), ("one", first.updated_at))
        loaded.body = "two"
        [updated] = await Story.upsert([loaded], "title", update=["body"])
        self.assertGreater(asUTC(updated.updated_at), asUTC(first.updated_at))
        again = await Story.find(first.id)
        self.assertEqual((again.body, again.updated_at), ("two", updated.updated_at))
        self.assertEqual(again.created_at, first.created_at)

    async def test_upsertDicts(self) -> None:
        """
        Upserted dicts are stamped too (the caller's dicts are left as
        they were).
        """
        first = await Story(title="a").save()
        await clockMoves()
        rows = [{"title": "a", "body": "x"}, {"title": "b"}]
        await Story.upsert(rows, "title")
        self.assertEqual(rows, [{"title": "a", "body": "x"}, {"title": "b"}])
        byTitle = {a.title: a for a in await Story.all()}
        self.assertEqual(byTitle["a"].created_at, first.created_at)
        self.assertGreater(asUTC(byTitle["a"].updated_at), asUTC(first.updated_at))
        self.assertEqual(byTitle["b"].created_at, byTitle["b"].updated_at)
        self.assertEqual(byTitle["b"].updated_at, byTitle["a"].updated_at)

    async def test_updateAll(self) -> None:
        """
        C{updateAll} sets the update time of the rows it matches, unless
        it is given one.
        """
        first, second = await Story.createMany([Story(title="a"), Story(title="b")])
        await clockMoves()
        self.assertEqual(await Story.where(title="a").updateAll(body="x"), 1)
        a, b = await Story.order("title").all()
        self.assertGreater(asUTC(a.updated_at), asUTC(first.updated_at))
        self.assertEqual(a.created_at, first.created_at)
        self.assertEqual(b.updated_at, second.updated_at)
        when = datetime(2001, 2, 3, 4, 5, 6)
        await Story.where(title="b").updateAll(body="y", updated_at=when)
        self.assertEqual(asUTC((await Story.find(b.id)).updated_at), when)

    async def test_otherColumns(self) -> None:
        """
        Columns of other names keep the time as their type does (whole
        seconds in a MySQL C{DATETIME}, milliseconds in a PostgreSQL
        C{TIMESTAMP(3) WITH TIME ZONE}, as aware values); the object's
        values equal what a reload gives, before and after an update.
        """
        before = utcNaive()
        note = await Note(title="n").save()
        self.assertRecent(note.inserted, before)
        self.assertEqual(note.inserted, note.changed)
        if self.backend == MYSQL:
            self.assertEqual(note.inserted.microsecond, 0)
            self.assertIsNone(note.inserted.tzinfo)
        elif self.backend == POSTGRES:
            self.assertEqual(note.inserted.microsecond % 1000, 0)
            self.assertEqual(note.inserted.tzinfo, timezone.utc)
        loaded = await Note.find(note.id)
        self.assertEqual((loaded.inserted, loaded.changed), (note.inserted, note.changed))
        loaded.title = "m"
        await loaded.save()
        self.assertEqual(loaded.inserted, note.inserted)
        again = await Note.find(note.id)
        self.assertEqual((again.inserted, again.changed), (loaded.inserted, loaded.changed))
        [many] = await Note.createMany([Note(title="o")])
        self.assertEqual((await Note.find(many.id)).inserted, many.inserted)

    async def test_missingColumn(self) -> None:
        """
        A model whose table lacks a C{TIMESTAMPS} column fails to save,
        writing nothing.
        """

        class Unstamped(DBObject):
            TABLENAME = "notes"
            TIMESTAMPS = True

        with self.assertRaises(UnknownColumnError):
            await Unstamped(title="n").save()
        self.assertEqual(await Note.count(), 0)
