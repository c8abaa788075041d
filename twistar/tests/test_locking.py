"""
Tests for optimistic locking (C{LOCK_VERSION}): versions checked and bumped
by every C{UPDATE} and C{DELETE} of an object, and L{StaleObjectError} for
the loser of a race, on the test database.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred, DeferredList
from twisted.trial.unittest import SynchronousTestCase

from twistar.dbobject import DBObject
from twistar.exceptions import (
    DBObjectSaveError,
    InvalidIdentifierError,
    StaleObjectError,
    TransactionError,
    UnknownColumnError,
)
from twistar.tests.helpers import DBTestCase
from twistar.tests.models import Draft, Reviewer, User
from twistar.tests.test_logging import captureQueries
from twistar.transaction import runInTransaction


class LockVersionDeclarationTests(SynchronousTestCase):
    """
    C{LOCK_VERSION} must name a column, which is checked before any SQL.
    """

    def test_invalidIdentifier(self) -> None:
        """
        A class whose C{LOCK_VERSION} is not a plain identifier cannot be
        defined.
        """
        with self.assertRaises(InvalidIdentifierError):

            class Bad(DBObject):
                LOCK_VERSION = "lock_version = 0 OR 1"

    def test_invalidIdentifierAssigned(self) -> None:
        """
        Assigning a C{LOCK_VERSION} that is not a plain identifier fails
        and leaves the class as it was.
        """

        class Locked(DBObject):
            LOCK_VERSION: str | None = "lock_version"

        with self.assertRaises(InvalidIdentifierError):
            Locked.LOCK_VERSION = 'lock_version" = 0 --'
        self.assertEqual(Locked.LOCK_VERSION, "lock_version")
        Locked.LOCK_VERSION = None
        self.assertIsNone(Locked.LOCK_VERSION)

    def test_default(self) -> None:
        """
        Models have no C{LOCK_VERSION} unless they declare one.
        """
        self.assertIsNone(DBObject.LOCK_VERSION)
        self.assertIsNone(User.LOCK_VERSION)


async def loadTwice(title: str = "first") -> tuple[Draft, Draft]:
    """
    Save a new draft, and load its row twice.

    @return: a L{Deferred} of the two objects loaded.
    """
    draft = await Draft(title=title).save()
    return await Draft.find(draft.id), await Draft.find(draft.id)


class LockingTests(DBTestCase):
    """
    Tests for saving, deleting and refreshing objects of a model with a
    C{LOCK_VERSION}.
    """

    async def rowOf(self, obj: DBObject) -> tuple[Any, ...]:
        """
        @return: the title and version in C{obj}'s row, read with SQL.
        """
        row = await self.config.select("drafts", obj.id)
        return row["title"], row["lock_version"]

    async def test_insertStartsAtZero(self) -> None:
        """
        An inserted object, alone or with C{createMany}, starts at version
        0 unless it has one.
        """
        draft = await Draft(title="a").save()
        self.assertEqual(draft.lock_version, 0)
        self.assertEqual(await self.rowOf(draft), ("a", 0))
        given = await Draft(title="b", lock_version=7).save()
        self.assertEqual(await self.rowOf(given), ("b", 7))
        many = await Draft.createMany([Draft(title="c"), Draft(title="d", lock_version=3)])
        self.assertEqual([d.lock_version for d in many], [0, 3])
        self.assertEqual([await self.rowOf(d) for d in many], [("c", 0), ("d", 3)])

    async def test_versionIncrements(self) -> None:
        """
        Each save that changes something checks the version in its
        C{UPDATE} and bumps it, in the row and on the object; a save that
        changes nothing sends no C{UPDATE} and keeps the version.
        """
        draft = await Draft(title="a").save()
        queries = captureQueries(self)
        draft.title = "b"
        await draft.save()
        self.assertEqual(draft.lock_version, 1)
        draft.body = "text"
        await draft.save()
        self.assertEqual(draft.lock_version, 2)
        self.assertEqual(await self.rowOf(draft), ("b", 2))
        q, p = self.config.quoteIdentifier, self.config.placeholder
        self.assertEqual(queries.starting("UPDATE"), [
            f"UPDATE {q('drafts')} SET {q(column)} = {p}, {q('lock_version')} = {p} "
            f"WHERE id = {p} AND {q('lock_version')} = {p}"
            for column in ("title", "body")
        ])
        await draft.save()
        self.assertEqual(len(queries.starting("UPDATE")), 2)
        self.assertEqual(draft.lock_version, 2)
        loaded = await Draft.find(draft.id)
        self.assertEqual(loaded.lock_version, 2)

    async def test_raceSequential(self) -> None:
        """
        Of two objects loaded from one row, both changed, the second to
        save fails with L{StaleObjectError} naming it, and writes nothing:
        the row holds the first's change, and the loser keeps its changes
        and its version.
        """
        first, second = await loadTwice()
        first.title = "by first"
        second.title = "by second"
        second.body = "second's body"
        await first.save()
        error = await self.assertFailure(second.save(), StaleObjectError)
        self.assertIs(error.obj, second)
        self.assertIn(repr(second), str(error))
        self.assertIsInstance(error, DBObjectSaveError)
        self.assertEqual(await self.rowOf(first), ("by first", 1))
        self.assertEqual((await Draft.find(first.id)).body, None)
        self.assertEqual((second.title, second.body, second.lock_version),
                         ("by second", "second's body", 0))
        # Once refreshed, the loser's next save wins.
        await second.refresh()
        self.assertEqual((second.title, second.lock_version), ("by first", 1))
        second.title = "by second, again"
        await second.save()
        self.assertEqual(await self.rowOf(second), ("by second, again", 2))

    async def test_raceConcurrent(self) -> None:
        """
        Two objects of one row saved at the same time: one save succeeds,
        the other fails with L{StaleObjectError}, and the row holds the
        winner's change.
        """
        first, second = await loadTwice()
        first.title = "by first"
        second.title = "by second"
        results = await DeferredList([first.save(), second.save()], consumeErrors=True)
        failures = [value for ok, value in results if not ok]
        self.assertEqual(len(failures), 1)
        failures[0].trap(StaleObjectError)
        winner = first if results[0][0] else second
        loser = second if winner is first else first
        self.assertIs(failures[0].value.obj, loser)
        self.assertEqual(await self.rowOf(winner), (winner.title, 1))
        self.assertEqual((winner.lock_version, loser.lock_version), (1, 0))

    async def test_raceInTransactions(self) -> None:
        """
        Two transactions save objects of one row, loaded before either
        began: the second, whose C{UPDATE} waits for the first to commit,
        fails with L{StaleObjectError} as its cause and is rolled back whole;
        the row holds the first's change.
        """
        first, second = await loadTwice()
        firstSaved: Deferred[None] = Deferred()
        release: Deferred[None] = Deferred()

        async def saveFirst(txn: Any) -> None:
            first.title = "by first"
            await first.save()
            firstSaved.callback(None)
            await release

        async def saveSecond(txn: Any) -> None:
            await Reviewer(name="written by the loser").save()
            second.title = "by second"
            await second.save()

        firstDone = runInTransaction(saveFirst)
        await firstSaved
        secondDone = runInTransaction(saveSecond)
        # The second transaction's statements wait for the first's locks.
        await task.deferLater(reactor, 0.2, release.callback, None)
        await firstDone
        error = await self.assertFailure(secondDone, TransactionError)
        self.assertIsInstance(error.__cause__, StaleObjectError)
        self.assertEqual(await self.rowOf(first), ("by first", 1))
        self.assertEqual(await Reviewer.count(), 0)
        self.assertEqual((second.title, second.lock_version), ("by second", 0))

    async def test_deleteStale(self) -> None:
        """
        Deleting an object whose row has moved on fails with
        L{StaleObjectError}: neither the row nor its join rows are deleted,
        and the object stays as it was.
        """
        first, second = await loadTwice()
        reviewer = await Reviewer(name="r").save()
        await second.reviewers.set([reviewer])
        first.title = "changed"
        await first.save()
        error = await self.assertFailure(second.delete(), StaleObjectError)
        self.assertIs(error.obj, second)
        self.assertEqual(await self.rowOf(first), ("changed", 1))
        self.assertEqual([r.id for r in await first.reviewers.get()], [reviewer.id])
        self.assertFalse(second._deleted)
        self.assertEqual(second.id, first.id)
        # At the row's version, the delete goes through.
        await second.refresh()
        await second.delete()
        self.assertEqual(await Draft.count(), 0)
        self.assertEqual(await self.config.count("drafts_reviewers"), 0)

    async def test_deleteGone(self) -> None:
        """
        Deleting an object whose row was deleted meanwhile fails with
        L{StaleObjectError}, and so does saving changes of it.
        """
        first, second = await loadTwice()
        await first.delete()
        await self.assertFailure(second.delete(), StaleObjectError)
        second.title = "changed"
        await self.assertFailure(second.save(), StaleObjectError)

    async def test_deleteChecksVersion(self) -> None:
        """
        The C{DELETE} of an object's row matches it at the object's version.
        """
        draft = await Draft(title="a").save()
        queries = captureQueries(self)
        await draft.delete()
        q, p = self.config.quoteIdentifier, self.config.placeholder
        self.assertEqual(
            [query for query in queries.starting("DELETE") if "drafts_reviewers" not in query],
            [f"DELETE FROM {q('drafts')} WHERE ({q('id')} = {p}) AND ({q('lock_version')} = {p})"],
        )

    async def test_refreshReloadsVersion(self) -> None:
        """
        C{refresh} reloads the version, so that the object saves again.
        """
        first, second = await loadTwice()
        first.title = "b"
        await first.save()
        await second.refresh()
        self.assertEqual(second.lock_version, 1)
        second.body = "text"
        await second.save()
        self.assertEqual(second.lock_version, 2)

    async def test_versionSetByCaller(self) -> None:
        """
        A version set on the object (the one a user saw, sent back by a
        form) is the one the C{UPDATE} checks.
        """
        draft = await Draft(title="a").save()
        draft.title = "b"
        await draft.save()
        seen = await Draft.find(draft.id)
        seen.lock_version = 0
        seen.title = "edited from a stale form"
        await self.assertFailure(seen.save(), StaleObjectError)
        self.assertEqual(await self.rowOf(draft), ("b", 1))
        seen.lock_version = 1
        await seen.save()
        self.assertEqual(await self.rowOf(draft), ("edited from a stale form", 2))

    async def test_nullVersion(self) -> None:
        """
        A row whose version is NULL (the column added to an existing table)
        is matched by C{IS NULL} and gets version 1.
        """
        await self.config.insert("drafts", {"title": "old"})
        draft = (await Draft.all())[0]
        self.assertIsNone(draft.lock_version)
        draft.title = "new"
        await draft.save()
        self.assertEqual(await self.rowOf(draft), ("new", 1))
        self.assertEqual(draft.lock_version, 1)

    async def test_versionMissing(self) -> None:
        """
        An object that holds no version (never loaded, or loaded without
        the column) cannot be saved with changes nor deleted: nothing is
        written.
        """
        draft = await Draft(title="a").save()
        unloaded = Draft(id=draft.id, title="b")
        await self.assertFailure(unloaded.save(), DBObjectSaveError)
        partial = (await Draft.select("id", "title").where(id=draft.id).all())[0]
        await self.assertFailure(partial.delete(), DBObjectSaveError)
        self.assertEqual(await self.rowOf(draft), ("a", 0))

    async def test_unknownColumn(self) -> None:
        """
        A C{LOCK_VERSION} naming no column of the table fails saving and
        deleting with L{UnknownColumnError}, before any SQL writes.
        """

        class Unversioned(DBObject):
            TABLENAME = "reviewers"
            LOCK_VERSION = "version"

        await self.assertFailure(Unversioned(name="n").save(), UnknownColumnError)
        reviewer = await Reviewer(name="n").save()
        found = await Unversioned.find(reviewer.id)
        found.name = "m"
        await self.assertFailure(found.save(), UnknownColumnError)
        await self.assertFailure(found.delete(), UnknownColumnError)
        self.assertEqual((await Reviewer.find(reviewer.id)).name, "n")

    async def test_bulkWritesUnchecked(self) -> None:
        """
        C{updateAll} and C{deleteAll} neither check nor bump versions.
        """
        draft = await Draft(title="a").save()
        self.assertEqual(await Draft.where(id=draft.id).updateAll(title="b"), 1)
        self.assertEqual(await self.rowOf(draft), ("b", 0))
        self.assertEqual(await Draft.deleteAll(), 1)


class LockingSecondDriverTests(LockingTests):
    """
    L{LockingTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True
