"""
Tests for eager loading (C{include=}, C{preload}), C{createMany}, batched
C{insertMany} and dirty tracking, counting the queries they run.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from twistar.dbobject import DBObject
from twistar.exceptions import (
    DBObjectSaveError,
    InvalidRelationshipError,
    ReferenceNotSavedError,
    UnsupportedValueError,
    ValidationError,
)
from twistar.registry import Registry
from twistar.tests.helpers import DBTestCase, _createTables
from twistar.tests.models import (
    Avatar,
    Boy,
    FavoriteColor,
    Girl,
    Nickname,
    Picture,
    User,
)
from twistar.tests.test_logging import captureQueries
from twistar.utils import transaction


class Sketch(DBObject):
    """
    A model on C{pictures} with a validation and a hook, for C{createMany}.
    """

    TABLENAME = "pictures"

    def beforeCreate(self) -> bool:
        return self.name != "skip"


Sketch.validatesPresenceOf("name")


def selects(queries: list[str]) -> list[str]:
    """
    @return: the C{SELECT} statements among C{queries}.
    """
    return [q for q in queries if q.lstrip().upper().startswith("SELECT")]


class EagerLoadingTests(DBTestCase):
    """
    Tests for C{find(include=...)}, C{findBy}, C{all} and C{preload}.
    """

    async def makeUsers(self, count: int = 5) -> list[User]:
        """
        Create users, each with pictures, an avatar and favorite colors.
        """
        colors = [await FavoriteColor(name=f"c{i}").save() for i in range(3)]
        users = []
        for i in range(count):
            user = await User(first_name=f"u{i}", age=i).save()
            for j in range(i):
                await Picture(name=f"p{i}.{j}", user_id=user.id).save()
            if i % 2:
                await Avatar(name=f"a{i}", user_id=user.id).save()
            await user.favorite_colors.set(colors[: i % 4])
            users.append(user)
        return users

    async def test_includeLoadsWithOneQueryPerRelationship(self) -> None:
        """
        C{find(include=[...])} runs the main query plus one per relationship,
        and each relationship's C{get()} then runs no query and gives what a
        plain C{get()} gives.
        """
        await self.makeUsers()
        await User.find(limit=1)  # warm the schema cache
        queries = captureQueries(self)
        users = await User.find(
            orderby="id", include=["pictures", "avatar", "favorite_colors"]
        )
        self.assertEqual(len(selects(queries.all())), 4)
        queries.reset()
        loaded = {}
        for user in users:
            loaded[user.id] = (
                sorted(p.name for p in await user.pictures.get()),
                getattr(await user.avatar.get(), "name", None),
                sorted(c.name for c in await user.favorite_colors.get()),
            )
        self.assertEqual(queries.all(), [])
        for user in await User.find():
            expected = (
                sorted(p.name for p in await user.pictures.get()),
                getattr(await user.avatar.get(), "name", None),
                sorted(c.name for c in await user.favorite_colors.get()),
            )
            self.assertEqual(loaded[user.id], expected)
        self.assertEqual(loaded[users[4].id][0], ["p4.0", "p4.1", "p4.2", "p4.3"])

    async def test_belongsToAndPolymorphic(self) -> None:
        """
        Belongs-to relationships load with one query per related class,
        polymorphic ones resolving each row's class.
        """
        users = await self.makeUsers(3)
        boy = await Boy(name="b").save()
        girl = await Girl(name="g").save()
        await Nickname(value="nb", nicknameable_id=boy.id, nicknameable_type="Boy").save()
        await Nickname(value="ng", nicknameable_id=girl.id, nicknameable_type="Girl").save()
        await Nickname(value="none").save()
        pictures = await Picture.all(include=["user"])
        for picture in pictures:
            self.assertEqual((await picture.user.get()).id, picture.user_id)
        self.assertIn(users[2].id, [p.user_id for p in pictures])
        queries = captureQueries(self)
        nicknames = await Nickname.findBy(include=["nicknameable"])
        self.assertEqual(len(selects(queries.all())), 3)
        owners = {n.value: await n.nicknameable.get() for n in nicknames}
        self.assertEqual(type(owners["nb"]), Boy)
        self.assertEqual(owners["nb"].id, boy.id)
        self.assertEqual(type(owners["ng"]), Girl)
        self.assertIsNone(owners["none"])

    async def test_polymorphicHasMany(self) -> None:
        """
        A polymorphic has-many loads only the rows of the owner's class.
        """
        boy = await Boy(name="b").save()
        girl = await Girl(name="g").save()
        await Nickname(value="x", nicknameable_id=boy.id, nicknameable_type="Boy").save()
        await Nickname(value="y", nicknameable_id=boy.id, nicknameable_type="Girl").save()
        await Nickname(value="z", nicknameable_id=girl.id, nicknameable_type="Girl").save()
        (loaded,) = await Boy.find(where=["id = ?", boy.id], include=["nicknames"])
        self.assertEqual([n.value for n in await loaded.nicknames.get()], ["x"])

    async def test_polymorphicHasManyOfSubclassOwners(self) -> None:
        """
        The type column holds the class name of the object that linked the
        row: preloading owners of a class and of its subclass together gives
        each what its own C{get()} gives.
        """

        class BigBoy(Boy):
            TABLENAME = "boys"

        Registry.register(BigBoy)
        self.addCleanup(Registry.REGISTRATION.pop, "BigBoy")
        boy = await Boy(name="b").save()
        big = await BigBoy(name="big").save()
        await boy.nicknames.set([await Nickname(value="small").save()])
        await big.nicknames.set([await Nickname(value="large").save()])
        owners = [await Boy.find(boy.id), await BigBoy.find(big.id)]
        lazy = [[n.value for n in await owner.nicknames.get()] for owner in owners]
        self.assertEqual(lazy, [["small"], ["large"]])
        await Boy.preload(owners, "nicknames")
        queries = captureQueries(self)
        eager = [[n.value for n in await owner.nicknames.get()] for owner in owners]
        self.assertEqual(eager, lazy)
        self.assertEqual(queries.all(), [])

    async def test_findOneAndPreload(self) -> None:
        """
        C{find(id, include=...)} loads for the one object; C{preload}
        loads for objects already in hand.
        """
        users = await self.makeUsers(3)
        user = await User.find(users[2].id, include=["pictures"])
        self.assertEqual(len(await user.pictures.get()), 2)
        plain = await User.find(orderby="id")
        result = await User.preload(plain, "pictures", "avatar")
        self.assertEqual(result, plain)
        queries = captureQueries(self)
        self.assertEqual([len(await u.pictures.get()) for u in plain], [0, 1, 2])
        self.assertEqual(queries.all(), [])

    async def test_getWithArgumentsQueries(self) -> None:
        """
        A C{get()} with find arguments still queries, and a C{set} forgets
        what was loaded.
        """
        users = await self.makeUsers(3)
        user = await User.find(users[2].id, include=["pictures"])
        self.assertEqual(len(await user.pictures.get(limit=(1, 0))), 1)
        await user.pictures.set([])
        self.assertEqual(await user.pictures.get(), [])

    async def test_includeOneName(self) -> None:
        """
        C{include} may be a single relationship name instead of a list.
        """
        users = await self.makeUsers(3)
        found = await User.all(include="pictures")
        queries = captureQueries(self)
        self.assertEqual(sorted([len(await u.pictures.get()) for u in found]), [0, 1, 2])
        self.assertEqual(queries.all(), [])
        user = await User.find(users[2].id, include="favorite_colors")
        self.assertEqual(len(queries.all()), 2)
        self.assertEqual(len(await user.favorite_colors.get()), 2)
        self.assertEqual(len(queries.all()), 2)

    async def test_loadedListsAreCopies(self) -> None:
        """
        Each C{get()} of a loaded list gives a new list: changing one leaves
        the next C{get()} as loaded.
        """
        users = await self.makeUsers(3)
        user = await User.find(users[2].id, include=["pictures", "favorite_colors"])
        for relationship in (user.pictures, user.favorite_colors):
            first = await relationship.get()
            first.clear()
            self.assertEqual(len(await relationship.get()), 2)

    async def test_refreshForgetsLoaded(self) -> None:
        """
        C{refresh()} forgets the loaded relationships: the next C{get()}
        queries and sees rows added since.
        """
        users = await self.makeUsers(3)
        user = await User.find(users[1].id, include=["pictures", "avatar"])
        await Picture(name="new", user_id=user.id).save()
        self.assertEqual(len(await user.pictures.get()), 1)
        await user.refresh()
        queries = captureQueries(self)
        self.assertEqual(len(await user.pictures.get()), 2)
        self.assertEqual(len(queries.starting("SELECT")), 1)
        self.assertEqual((await user.avatar.get()).name, "a1")

    async def test_chunked(self) -> None:
        """
        Owners beyond the driver's parameter limit are loaded in chunks.
        """
        self.patch(type(self.config), "maxParameters", 5)
        await self.makeUsers(7)
        users = await User.all(include=["pictures"])
        counts = [len(await user.pictures.get()) for user in users]
        self.assertEqual(sorted(counts), [0, 1, 2, 3, 4, 5, 6])

    async def test_badNames(self) -> None:
        """
        An unknown relationship name, an C{include} that is not names, or an
        unsaved object is refused before any query.
        """
        await self.config.getSchema("users")
        queries = captureQueries(self)
        includes: list[Any] = [["pictures", "nothing"], "nothing", 5]
        for include in includes:
            for call in (User.find, User.all, lambda include: User.findBy(
                    include=include, first_name="x")):
                with self.assertRaises(InvalidRelationshipError):
                    call(include=include)
        with self.assertRaises(ReferenceNotSavedError):
            await User.preload([User(first_name="new")], "pictures")
        self.assertEqual(queries.all(), [])

    async def test_keysTheDatabaseMatchesLoosely(self) -> None:
        """
        Where the database matches keys that Python tells apart (a text
        foreign key holding C{'1'} for the id C{1}), eagerly loaded
        relationships give what a lazy C{get()} gives (by leaving C{get()}
        to query), and never fail with C{KeyError}.
        """
        await self.pool.runInteraction(
            _createTables, self.backend,
            {"loose_pictures": ["id {pk}", "name {str}", "user_id {str}"]},
        )
        self.addCleanup(self.pool.runOperation, "DROP TABLE loose_pictures")

        class LoosePicture(DBObject):
            TABLENAME = "loose_pictures"
            BELONGSTO = [{"name": "user", "class_name": "User"}]

        class LooseUser(DBObject):
            TABLENAME = "users"
            HASMANY = [{"name": "pictures", "class_name": "LoosePicture",
                        "foreign_key": "user_id"}]

        Registry.register(LoosePicture, LooseUser)
        self.addCleanup(Registry.REGISTRATION.pop, "LoosePicture")
        self.addCleanup(Registry.REGISTRATION.pop, "LooseUser")
        ann = await LooseUser(first_name="ann").save()
        picture = await LoosePicture(name="p", user_id=str(ann.id)).save()

        (loaded,) = await LoosePicture.all(include="user")
        self.assertEqual((await loaded.user.get()).id, ann.id)

        async def pictureIds(include: list[str]) -> list[Any]:
            owner = await LooseUser.find(ann.id, include=include)
            return [p.id for p in await owner.pictures.get()]

        lazy = await self.assertOutcome(pictureIds([]))
        eager = await self.assertOutcome(pictureIds(["pictures"]))
        self.assertEqual(eager, lazy)
        if self.backend != "postgres":  # PostgreSQL has no text = integer
            self.assertEqual(lazy, [picture.id])

    async def assertOutcome(self, work: Any) -> Any:
        """
        @return: what C{work} (awaitable) gives, or the class of what it raises.
        """
        try:
            return await work
        except Exception as e:
            return type(e)


class CreateManyTests(DBTestCase):
    """
    Tests for C{createMany} and C{insertMany}.
    """

    async def test_createMany(self) -> None:
        """
        C{createMany} inserts in one statement, sets ids matching the rows,
        and skips objects whose hooks cancel.
        """
        await Sketch.count()
        await Sketch.find(limit=1)
        queries = captureQueries(self)
        sketches = [Sketch(name=f"s{i}", size=i) for i in range(20)]
        sketches.append(Sketch(name="skip"))
        created = await Sketch.createMany(sketches)
        inserts = [q for q in queries.all() if q.upper().startswith("INSERT")]
        self.assertEqual(len(inserts), 1)
        self.assertEqual(len(created), 20)
        self.assertIsNone(sketches[-1].id)
        for sketch in created:
            self.assertEqual((await Sketch.find(sketch.id)).name, sketch.name)
        self.assertEqual(len({s.id for s in created}), 20)

    async def test_createManyInvalid(self) -> None:
        """
        If one object is invalid, nothing is saved.
        """
        sketches = [Sketch(name="a"), Sketch(name=None), Sketch(name="c")]
        with self.assertRaises(ValidationError) as caught:
            await Sketch.createMany(sketches)
        error = caught.exception
        self.assertEqual(error.objects, [sketches[1]])
        self.assertEqual(await Sketch.count(), 0)

    async def test_createManyUniqueness(self) -> None:
        """
        C{validatesUniquenessOf} also refuses objects of one C{createMany}
        that repeat an earlier one's value (nothing is saved), as well as
        values already in the table.
        """

        class UniqueCode(DBObject):
            TABLENAME = "uniques"

        UniqueCode.validatesUniquenessOf("code")
        await UniqueCode(code="taken").save()
        batch = [UniqueCode(code="a"), UniqueCode(code="b"), UniqueCode(code="a"),
                 UniqueCode(code=None), UniqueCode(code=None), UniqueCode(code="taken")]
        with self.assertRaises(ValidationError) as caught:
            await UniqueCode.createMany(batch)
        self.assertEqual(caught.exception.objects, [batch[2], batch[5]])
        self.assertEqual(batch[2].errors.errorsFor("code"), ["Code is not unique."])
        self.assertEqual(await UniqueCode.count(), 1)
        created = await UniqueCode.createMany([UniqueCode(code="a"), UniqueCode(code="b")])
        self.assertEqual(len(created), 2)

    async def test_createManyRefusesSaved(self) -> None:
        """
        Objects already saved, or of another class, are refused.
        """
        saved = await Sketch(name="x").save()
        with self.assertRaises(DBObjectSaveError):
            Sketch.createMany([saved])
        with self.assertRaises(DBObjectSaveError):
            Sketch.createMany([Picture(name="y")])  # type: ignore[list-item]

    async def test_createManyChecksEveryValueFirst(self) -> None:
        """
        A value the driver cannot store, in an object of any shape (set of
        attributes), fails C{createMany} before any C{INSERT} is sent, also
        inside a transaction that goes on; no object gets an id.
        """
        await self.config.getSchema("pictures")
        sketches = [Sketch(name="a"), Sketch(name="b", size=object()), Sketch(name="c")]
        queries = captureQueries(self)
        with self.assertRaises(UnsupportedValueError):
            await Sketch.createMany(sketches)
        self.assertEqual(queries.starting("INSERT"), [])
        self.assertEqual([s.id for s in sketches], [None, None, None])

        @transaction
        async def goesOn(txn: Any) -> None:
            with self.assertRaises(UnsupportedValueError):
                await Sketch.createMany([Sketch(name="d"), Sketch(name="e", size=object())])
            await Sketch(name="kept").save()

        await goesOn()
        self.assertEqual([s.name for s in await Sketch.all()], ["kept"])

    async def test_createManySameObjectTwice(self) -> None:
        """
        The same object given twice is refused; nothing is inserted.
        """
        sketch = Sketch(name="twice")
        with self.assertRaises(DBObjectSaveError):
            Sketch.createMany([sketch, Sketch(name="other"), sketch])
        self.assertEqual(await Sketch.count(), 0)

    async def test_insertManyBatches(self) -> None:
        """
        C{insertMany} sends multi-row statements sized to the parameter limit.
        """
        self.patch(type(self.config), "maxParameters", 30)
        queries = captureQueries(self)
        rows = [{"name": f"p{i}", "size": i} for i in range(100)]
        await self.config.insertMany("pictures", rows)
        inserts = [q for q in queries.all() if q.upper().startswith("INSERT")]
        self.assertEqual(len(inserts), 7)
        self.assertEqual(await Picture.count(), 100)


class DirtyTrackingTests(DBTestCase):
    """
    Tests that C{save} writes only what changed.
    """

    async def test_onlyChangedColumns(self) -> None:
        """
        An update names only the changed columns; an unchanged save sends no
        UPDATE at all.
        """
        user = await User(first_name="a", last_name="b", age=1).save()
        loaded = await User.find(user.id)
        queries = captureQueries(self)
        await loaded.save()
        self.assertEqual([q for q in queries.all() if "UPDATE" in q.upper()], [])
        loaded.age = 2
        await loaded.save()
        (update,) = [q for q in queries.all() if "UPDATE" in q.upper()]
        self.assertIn("age", update)
        self.assertNotIn("first_name", update)
        queries.reset()
        await loaded.save()
        self.assertEqual([q for q in queries.all() if "UPDATE" in q.upper()], [])

    async def test_afterRelationshipSet(self) -> None:
        """
        A has-many C{set()} records the foreign key it wrote as saved: moving
        the object back by hand and saving writes it back.
        """
        ann = await User(first_name="ann").save()
        bob = await User(first_name="bob").save()
        picture = await Picture(name="p", user_id=ann.id).save()
        await bob.pictures.set([picture])
        self.assertEqual(picture.user_id, bob.id)
        picture.user_id = ann.id  # type: ignore[attr-defined]
        await picture.save()
        self.assertEqual((await Picture.find(picture.id)).user_id, ann.id)

    async def test_twoCopies(self) -> None:
        """
        Two objects loaded from one row that change different columns both
        keep their changes.
        """
        user = await User(first_name="a", age=1).save()
        one = await User.find(user.id)
        two = await User.find(user.id)
        one.first_name = "changed"
        two.age = 99
        await one.save()
        await two.save()
        final = await User.find(user.id)
        self.assertEqual((final.first_name, final.age), ("changed", 99))

    async def test_valuesChangedInPlace(self) -> None:
        """
        A list or dict value (a PostgreSQL array or JSON column) changed in
        place counts as a change at the next save, whether the object was
        loaded, saved or refreshed; unchanged ones send no UPDATE. The other databases have no
        such columns and refuse such values.
        """
        if self.backend != "postgres":
            with self.assertRaises(UnsupportedValueError):
                await User(first_name="a", last_name=[1]).save()
            return
        # The driver's wrapper of a value to store as JSON.
        Json = import_module(
            {"psycopg2": "psycopg2.extras", "psycopg": "psycopg.types.json"}[self.pool.dbapiName]
        ).Json

        await self.pool.runOperation(
            "CREATE TABLE in_place (id SERIAL PRIMARY KEY, tags INTEGER[], doc JSONB, name TEXT)"
        )
        self.addCleanup(self.pool.runOperation, "DROP TABLE in_place")

        class InPlace(DBObject):
            TABLENAME = "in_place"

        saved = await InPlace(tags=[1, 2], doc=Json({"a": [1]}), name="n").save()
        saved.tags.append(3)
        await saved.save()
        loaded = await InPlace.find(saved.id)
        self.assertEqual((loaded.tags, loaded.doc), ([1, 2, 3], {"a": [1]}))
        queries = captureQueries(self)
        await loaded.save()
        self.assertEqual([q for q in queries.all() if "UPDATE" in q.upper()], [])
        loaded.tags.remove(1)
        await loaded.save()
        (update,) = [q for q in queries.all() if "UPDATE" in q.upper()]
        self.assertIn("tags", update)
        self.assertNotIn("doc", update)
        self.assertEqual((await InPlace.find(saved.id)).tags, [2, 3])
        await loaded.refresh()
        loaded.tags.append(4)
        await loaded.save()
        self.assertEqual((await InPlace.find(saved.id)).tags, [2, 3, 4])
        # The drivers store a dict only wrapped in Json: changed in place, the
        # dict is seen as changed, and refused rather than silently kept.
        loaded.doc["a"].append(2)
        with self.assertRaises(UnsupportedValueError):
            await loaded.save()
        loaded.doc = Json(loaded.doc)
        await loaded.save()
        self.assertEqual((await InPlace.find(saved.id)).doc, {"a": [1, 2]})
