# -*- test-case-name: twistar.tests.test_upsert -*-
"""
Tests for C{Model.upsert} and C{Model.insertOrIgnore} (and the low-level
C{upsertMany}) on the test database.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import gatherResults

from twistar.dbobject import DBObject
from twistar.exceptions import (
    DBObjectSaveError,
    InvalidIdentifierError,
    InvalidQueryError,
    UnknownColumnError,
    UnsupportedValueError,
    ValidationError,
)
from twistar.registry import Registry
from twistar.tests.helpers import DBTestCase
from twistar.tests.models import Unique
from twistar.tests.test_logging import captureQueries
from twistar.utils import transaction


class Score(DBObject):
    """
    A row of C{scores}, unique by C{(player, game)}; it records its hooks.
    """

    def beforeCreate(self) -> Any:
        self.__dict__.setdefault("hooks", []).append("create")
        return self.player != "skip"

    def beforeUpdate(self) -> Any:
        self.__dict__.setdefault("hooks", []).append("update")

    def beforeSave(self) -> Any:
        self.__dict__.setdefault("hooks", []).append("save")


Score.validatesPresenceOf("player")
Registry.register(Score)


class UpsertTests(DBTestCase):
    """
    Tests for C{upsert} and C{insertOrIgnore}.
    """

    async def rows(self) -> list[tuple[Any, ...]]:
        """
        @return: every row of C{scores} as C{(id, player, game, points, note)}, in id order.
        """
        return [(s.id, s.player, s.game, s.points, s.note)
                for s in await Score.find(orderby="id")]

    async def test_insertThenUpdate(self) -> None:
        """
        An upsert of new keys inserts them in one statement and sets the
        objects' ids; one of existing keys updates those rows (their other
        columns kept) in one statement, and its objects get those rows'
        ids; both record their rows as saved, so saving again sends nothing.
        """
        await Score.count()  # the schema is read
        queries = captureQueries(self)
        first = [Score(player="ann", game=g, points=g, note="n") for g in range(3)]
        self.assertEqual(await Score.upsert(first, ["player", "game"]), first)
        self.assertEqual(len(queries.starting("INSERT")), 1)
        self.assertEqual(await self.rows(), [(s.id, "ann", s.game, s.game, "n") for s in first])
        queries.reset()
        second = [Score(player="ann", game=g, points=10 + g) for g in (2, 1, 5)]
        await Score.upsert(second, ("player", "game"))
        self.assertEqual(len(queries.starting("INSERT")), 1)
        self.assertEqual([s.id for s in second[:2]], [first[2].id, first[1].id])
        self.assertNotIn(second[2].id, [s.id for s in first])
        self.assertEqual(await self.rows(), [
            (first[0].id, "ann", 0, 0, "n"), (first[1].id, "ann", 1, 11, "n"),
            (first[2].id, "ann", 2, 12, "n"), (second[2].id, "ann", 5, 15, None),
        ])
        queries.reset()
        for score in first + second:
            await score.save()
        self.assertEqual(queries.starting("UPDATE"), [])
        second[0].points = 99  # type: ignore[attr-defined]
        await second[0].save()
        self.assertEqual((await Score.find(first[2].id)).points, 99)

    async def test_updateNamedColumns(self) -> None:
        """
        C{update} names the columns an existing row takes; the others keep
        their values, and the object records only the key and those as
        saved (its other columns are written by a later save).
        """
        old = await Score(player="bo", game=1, points=1, note="old").save()
        new = Score(player="bo", game=1, points=2, note="new")
        await Score.upsert([new], ["player", "game"], update=["points"])
        self.assertEqual(new.id, old.id)
        self.assertEqual(await self.rows(), [(old.id, "bo", 1, 2, "old")])
        await new.save()
        self.assertEqual(await self.rows(), [(old.id, "bo", 1, 2, "new")])

    async def test_insertOrIgnore(self) -> None:
        """
        C{insertOrIgnore} (C{update=()}) inserts new keys and leaves the rows
        of existing ones alone; every object gets its row's id, and only its
        key is recorded as saved.
        """
        old = await Score(player="cy", game=1, points=1).save()
        objects = [Score(player="cy", game=1, points=7), Score(player="cy", game=2, points=8)]
        self.assertEqual(await Score.insertOrIgnore(objects, ["player", "game"]), objects)
        self.assertEqual(objects[0].id, old.id)
        self.assertEqual(await self.rows(), [
            (old.id, "cy", 1, 1, None), (objects[1].id, "cy", 2, 8, None),
        ])
        await Score.upsert([Score(player="cy", game=2, points=9)], ["player", "game"], update=())
        self.assertEqual((await Score.find(objects[1].id)).points, 8)

    async def test_hooksAndValidation(self) -> None:
        """
        Objects are validated (an invalid one fails the call, writing
        nothing); new objects run
        C{beforeCreate}, loaded ones C{beforeUpdate}, all C{beforeSave}; an
        object whose hook cancels is left out.
        """
        with self.assertRaises(ValidationError):
            await Score.upsert([Score(player="dee", game=1), Score(game=2)], ["player", "game"])
        self.assertEqual(await Score.count(), 0)
        loaded = await Score(player="dee", game=1, points=1).save()
        loaded = await Score.find(loaded.id)
        loaded.points = 2
        new = Score(player="dee", game=2, points=3)
        skipped = Score(player="skip", game=1)
        done = await Score.upsert([loaded, new, skipped], ["player", "game"])
        self.assertEqual(done, [loaded, new])
        self.assertEqual((loaded.hooks, new.hooks), (["update", "save"], ["create", "save"]))
        self.assertIsNone(skipped.id)
        self.assertEqual([row[1:4] for row in await self.rows()],
                         [("dee", 1, 2), ("dee", 2, 3)])

    async def test_dicts(self) -> None:
        """
        Dicts are upserted without hooks; the call fires with C{None}. Rows
        of different columns go in statements of their own.
        """
        await Score(player="eve", game=1, points=1, note="kept").save()
        result = await Score.upsert([
            {"player": "eve", "game": 1, "points": 5},
            {"player": "eve", "game": 2, "points": 6, "note": "x"},
        ], ["player", "game"])
        self.assertIsNone(result)
        self.assertEqual([row[1:] for row in await self.rows()],
                         [("eve", 1, 5, "kept"), ("eve", 2, 6, "x")])
        await Score.insertOrIgnore([{"player": "eve", "game": 2, "points": 0}],
                                   ["player", "game"])
        self.assertEqual((await self.rows())[1][3], 6)

    async def test_idsWithoutReturning(self) -> None:
        """
        Where the upsert returns nothing (MySQL, an old SQLite), the ids are
        selected by key in the same interaction, also across batches; they
        are the same the database reports otherwise.
        """
        self.patch(type(self.config), "upsertReturns", False)
        self.patch(type(self.config), "maxParameters", 12)
        existing = await Score(player="fay", game=3).save()
        objects = [Score(player="fay", game=g, points=g) for g in range(10)]
        queries = captureQueries(self)
        await Score.upsert(objects, ["player", "game"])
        self.assertEqual(len(queries.starting("INSERT")), 3)
        self.assertEqual(objects[3].id, existing.id)
        self.assertEqual(sorted((s.id, s.game) for s in objects),
                         [(row[0], row[2]) for row in await self.rows()])
        self.assertEqual([q for q in queries.all() if "RETURNING" in q.upper()], [])

    async def test_oneKeyColumn(self) -> None:
        """
        A key of one column, named by a string; C{validatesUniquenessOf} is
        left to the key.
        """

        class UniqueCode(DBObject):
            TABLENAME = "uniques"

        UniqueCode.validatesUniquenessOf("code")
        a = await UniqueCode(code="a", label="one").save()
        b = UniqueCode(code="a", label="two")
        c = UniqueCode(code="c", label="three")
        await UniqueCode.upsert([b, c], "code")
        self.assertEqual(b.id, a.id)
        self.assertEqual(sorted((u.code, u.label) for u in await Unique.all()),
                         [("a", "two"), ("c", "three")])

    async def test_badInput(self) -> None:
        """
        Bad names, keys, rows and values fail with twistar exceptions before
        any row is written.
        """
        await Score.count()
        queries = captureQueries(self)
        key = ["player", "game"]
        for uniqueBy, update, error in [
            ([], None, InvalidQueryError), (key, ["game"], InvalidQueryError),
            (["player; --"], None, InvalidIdentifierError),
            (key, ["points", "points"], InvalidQueryError),
        ]:
            self.assertRaises(error, Score.upsert, [Score(player="g", game=1)], uniqueBy, update)
        self.assertRaises(InvalidQueryError, Score.upsert,
                          [Score(player="g", game=1), {"player": "g", "game": 2}], key)
        self.assertRaises(DBObjectSaveError, Score.upsert, [Unique(code="x")], key)
        twice = Score(player="g", game=1)
        self.assertRaises(DBObjectSaveError, Score.upsert, [twice, twice], key)
        cases: list[tuple[Any, Any, Any, type[Exception]]] = [
            ([Score(player="g", game=1), Score(player="g", game=1)], key, None,
             InvalidQueryError),
            ([{"player": "g", "game": 1}, {"game": 1, "player": "g"}], key, None,
             InvalidQueryError),
            ([Score(player="g", game=None, points=1)], key, None, InvalidQueryError),
            ([Score(player="g", points=1)], key, None, InvalidQueryError),
            ([Score(player="g", game=1)], ["player", "nope"], None, UnknownColumnError),
            ([Score(player="g", game=1, nope=1)], key, ["nope"], UnknownColumnError),
            ([{"player": "g", "game": 1, "nope": 1}], key, None, UnknownColumnError),
            ([Score(player="g", game=1)], key, ["points"], InvalidQueryError),
            ([Score(player="g", game=1, points=object())], key, None, UnsupportedValueError),
        ]
        for rows, uniqueBy, update, refusal in cases:
            with self.assertRaises(refusal):
                await Score.upsert(rows, uniqueBy, update)
        self.assertEqual(queries.starting("INSERT"), [])
        self.assertEqual(await Score.count(), 0)

    async def test_failureInTransactionGoesOn(self) -> None:
        """
        Refused input inside a transaction leaves it usable; what the
        transaction upserts commits with it.
        """

        @transaction
        async def work(txn: Any) -> None:
            with self.assertRaises(InvalidQueryError):
                await Score.upsert([Score(player="h", game=1), Score(player="h", game=1)],
                                   ["player", "game"])
            await Score.upsert([Score(player="h", game=1, points=4)], ["player", "game"])

        await work()
        self.assertEqual([row[1:4] for row in await self.rows()], [("h", 1, 4)])

    async def test_concurrentUpsertsOfOneKey(self) -> None:
        """
        Twenty callers upserting one key at once, each in its own
        interaction, leave exactly one row and fail none; every object gets
        that row's id; insertOrIgnore callers likewise.
        """
        objects = [Score(player="race", game=1, points=i) for i in range(20)]
        await gatherResults(
            [Score.upsert([obj], ["player", "game"]) for obj in objects], consumeErrors=True
        )
        rows = await self.rows()
        self.assertEqual(len(rows), 1)
        self.assertEqual({obj.id for obj in objects}, {rows[0][0]})
        self.assertIn(rows[0][3], range(20))
        ignoring = [Score(player="race", game=2, points=i) for i in range(20)]
        await gatherResults(
            [Score.insertOrIgnore([obj], ["player", "game"]) for obj in ignoring],
            consumeErrors=True,
        )
        rows = await self.rows()
        self.assertEqual(len(rows), 2)
        self.assertEqual({obj.id for obj in ignoring}, {rows[1][0]})


class UpsertSecondDriverTests(UpsertTests):
    """
    L{UpsertTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True
