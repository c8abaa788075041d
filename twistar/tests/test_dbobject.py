"""
Tests for L{twistar.dbobject.DBObject}: table names, saving, hooks,
deleting, refreshing, finders, identity.
"""

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from twistar.dbobject import DBObject
from twistar.exceptions import (
    CannotRefreshError,
    DBObjectSaveError,
    ImaginaryTableError,
    TransactionError,
    UnknownColumnError,
)
from twistar.registry import Registry
from twistar.tests.helpers import DBTestCase
from twistar.tests.models import Coltest, Imaginary, Picture, User
from twistar.tests.test_logging import captureQueries
from twistar.utils import transaction


def later(value):
    """
    @return: a L{Deferred} that fires with C{value} on a later reactor turn.
    """
    return task.deferLater(reactor, 0, lambda: value)


class TableNameTests(SynchronousTestCase):
    """
    Tests for L{DBObject.tablename}.
    """

    def test_inferred(self):
        """
        The table name is the lower-case, underscored plural of the class
        name.
        """

        class User(DBObject):
            pass

        class Person(DBObject):
            pass

        class FavoriteColor(DBObject):
            pass

        class Category(DBObject):
            pass

        self.assertEqual(User.tablename(), "users")
        self.assertEqual(Person.tablename(), "people")
        self.assertEqual(FavoriteColor.tablename(), "favorite_colors")
        self.assertEqual(Category.tablename(), "categories")

    def test_override(self):
        """
        C{TABLENAME} overrides the inferred name.
        """

        class User(DBObject):
            TABLENAME = "members"

        self.assertEqual(User.tablename(), "members")


class IdentityTests(SynchronousTestCase):
    """
    Tests for equality and hashing of objects.
    """

    def test_sameClassAndId(self):
        """
        Objects of the same class with the same id are equal and hash alike;
        a different id or class makes them different.
        """
        a, b = User(id=3, first_name="a"), User(id=3, first_name="b")
        self.assertEqual(a, b)
        self.assertFalse(a != b)
        self.assertEqual(hash(a), hash(b))
        self.assertNotEqual(a, User(id=4))
        self.assertNotEqual(a, Picture(id=3))
        self.assertEqual(len({a, b, User(id=4)}), 2)

    def test_unsaved(self):
        """
        Two different unsaved objects are not equal; unsaved objects are
        hashable, and equal to themselves.
        """
        a, b = User(first_name="x"), User(first_name="x")
        self.assertNotEqual(a, b)
        self.assertEqual(a, a)
        self.assertEqual(len({a, b}), 2)
        self.assertIn(a, {a})


class ReprTests(SynchronousTestCase):
    """
    Tests for C{repr} of objects.
    """

    def test_attributes(self):
        """
        C{repr} names the class and the attributes; one whose own C{repr}
        raises is shown as unprintable.
        """

        class Unprintable:
            def __repr__(self):
                raise ValueError("no")

        text = repr(User(id=3, first_name="Ann", last_name=Unprintable()))
        self.assertEqual(
            text, "<User id=3, first_name='Ann', last_name=<unprintable Unprintable>>"
        )


class InitTests(SynchronousTestCase):
    """
    Tests for C{DBObject(**attrs)}.
    """

    def test_attributes(self):
        """
        The keyword arguments become attributes; C{id} is C{None}.
        """
        user = User(first_name="First", age=3, nickname="not a column")
        self.assertEqual(user.first_name, "First")
        self.assertEqual(user.age, 3)
        self.assertEqual(user.nickname, "not a column")
        self.assertIsNone(user.id)


class ToHashTests(SynchronousTestCase):
    """
    Tests for L{DBObject.toHash}.
    """

    def test_cols(self):
        """
        Only the named attributes that are set and not C{None} are included.
        """
        user = User(first_name="F", last_name=None, age=4)
        self.assertEqual(
            user.toHash(["first_name", "last_name", "age", "dob"]), {"first_name": "F", "age": 4}
        )

    def test_includeBlank(self):
        """
        With C{includeBlank} the unset and C{None} attributes are included
        as C{None}.
        """
        user = User(first_name="F", last_name=None)
        self.assertEqual(
            user.toHash(["first_name", "last_name", "dob"], includeBlank=True),
            {"first_name": "F", "last_name": None, "dob": None},
        )

    def test_excludeAndBase(self):
        """
        C{exclude} names are left out; the result is added to a copy of
        C{base}, which is not changed.
        """
        user = User(first_name="F", last_name="L", age=4)
        base = {"extra": 1, "age": 0}
        self.assertEqual(
            user.toHash(["first_name", "last_name", "age"], exclude=["last_name"], base=base),
            {"extra": 1, "first_name": "F", "age": 4},
        )
        self.assertEqual(base, {"extra": 1, "age": 0})


class SaveTests(DBTestCase):
    """
    Tests for L{DBObject.save}: inserting and updating.
    """

    async def test_insert(self):
        """
        Saving a new object inserts a row and sets its id.
        """
        user = User(first_name="First", last_name="Last", age=10)
        self.assertIsNone(user.id)
        result = await user.save()
        self.assertIs(result, user)
        self.assertIsNotNone(user.id)
        row = await self.config.select("users", id=user.id)
        self.assertEqual(
            (row["first_name"], row["last_name"], row["age"]), ("First", "Last", 10)
        )

    async def test_nonColumnAttributesIgnored(self):
        """
        Attributes that are not columns stay on the object and are not
        saved.
        """
        user = await User(first_name="F", nickname="Nick").save()
        self.assertEqual(user.nickname, "Nick")
        found = await User.find(user.id)
        self.assertFalse(hasattr(found, "nickname"))
        user.nickname = "Other"
        user.age = 5
        await user.save()
        self.assertEqual((await User.find(user.id)).age, 5)

    async def test_update(self):
        """
        Saving a saved object updates its row instead of inserting one.
        """
        user = await User(first_name="First", age=1).save()
        userId = user.id
        user.first_name = "Changed"
        await user.save()
        self.assertEqual(user.id, userId)
        self.assertEqual(await User.count(), 1)
        found = await User.find(userId)
        self.assertEqual((found.first_name, found.age), ("Changed", 1))

    async def test_updateOnlyChangedColumns(self):
        """
        An update writes only the columns that changed since the object was
        loaded.
        """
        await User(first_name="F", last_name="L", age=1).save()
        user = await User.find(limit=1)
        queries = captureQueries(self)
        user.age = 2
        await user.save()
        updates = queries.starting("UPDATE")
        self.assertEqual(len(updates), 1)
        self.assertIn("age", updates[0])
        self.assertNotIn("first_name", updates[0])
        self.assertNotIn("last_name", updates[0])

    async def test_updateSkippedWhenUnchanged(self):
        """
        Saving an object with nothing changed sends no UPDATE, whether it
        was loaded or just saved; a change after that is written again.
        """
        user = await User(first_name="F", age=1).save()
        loaded = await User.find(user.id)
        queries = captureQueries(self)
        await user.save()
        await loaded.save()
        self.assertEqual(queries.starting("UPDATE"), [])
        user.age = 3
        await user.save()
        self.assertEqual(len(queries.starting("UPDATE")), 1)
        await user.save()
        self.assertEqual(len(queries.starting("UPDATE")), 1)

    async def test_twoCopiesChangeDifferentColumns(self):
        """
        Two objects loaded from one row that change different columns both
        keep their change.
        """
        user = await User(first_name="F", last_name="L").save()
        one = await User.find(user.id)
        two = await User.find(user.id)
        one.first_name = "One"
        two.last_name = "Two"
        await one.save()
        await two.save()
        found = await User.find(user.id)
        self.assertEqual((found.first_name, found.last_name), ("One", "Two"))

    async def test_saveDeleted(self):
        """
        Saving a deleted object fails with L{DBObjectSaveError}.
        """
        user = await User(first_name="F").save()
        await user.delete()
        await self.assertFailure(maybeDeferred(user.save), DBObjectSaveError)
        self.assertEqual(await User.count(), 0)

    async def test_saveWithoutRow(self):
        """
        Saving changes of an object whose row is gone (deleted through
        another object, or inserted in a transaction that rolled back) fails
        with L{DBObjectSaveError} instead of writing nothing; an unchanged
        value, which MySQL reports as no row changed, is no such failure.
        """
        user = await User(first_name="F", age=1).save()
        copy = await User.find(user.id)
        await user.delete()
        copy.age = 2
        error = await self.assertFailure(copy.save(), DBObjectSaveError)
        self.assertIn("no row", str(error))

        @transaction
        async def rolledBack(txn):
            await newcomer.save()
            raise ValueError("roll back")

        newcomer = User(first_name="N")
        await self.assertFailure(rolledBack(), TransactionError)
        newcomer.first_name = "M"
        await self.assertFailure(newcomer.save(), DBObjectSaveError)
        self.assertEqual(await User.count(), 0)

        kept = await User(first_name="K", age=3).save()
        other = await User.find(kept.id)
        other.age = 4
        await other.save()
        kept.age = 4  # the row already holds it
        await kept.save()
        self.assertEqual((await User.find(kept.id)).age, 4)

    async def test_imaginaryTable(self):
        """
        Saving a model whose table does not exist fails with
        L{ImaginaryTableError}.
        """
        await self.assertFailure(maybeDeferred(Imaginary(name="x").save), ImaginaryTableError)

    async def test_reservedWordColumns(self):
        """
        Columns named C{select} and C{where} can be saved, found, found by
        and updated.
        """
        obj = await Coltest(**{"select": "s", "where": "w"}).save()
        found = await Coltest.find(obj.id)
        self.assertEqual((found.select, found.where), ("s", "w"))
        byAttrs = await Coltest.findBy(**{"select": "s", "where": "w"})
        self.assertEqual(byAttrs, [obj])
        q = self.config.quoteIdentifier
        byWhere = await Coltest.find(where=[f"{q('select')} = ?", "s"])
        self.assertEqual(byWhere, [obj])
        found.where = "changed"
        await found.save()
        self.assertEqual((await Coltest.find(obj.id)).where, "changed")
        self.assertEqual(await Coltest.findBy(where="w"), [])

    async def test_awaitStyle(self):
        """
        Every call returns a L{Deferred} that can be awaited.
        """
        d = User(first_name="A").save()
        self.assertIsInstance(d, Deferred)
        user = await d
        d = User.find(user.id)
        self.assertIsInstance(d, Deferred)
        self.assertEqual((await d).first_name, "A")

    def test_callbackChain(self):
        """
        The classic style: callbacks chained on the returned Deferreds.
        """
        results = {}

        def saved(user):
            results["id"] = user.id
            return User.find(user.id)

        def found(user):
            self.assertEqual(user.first_name, "Chained")
            self.assertEqual(user.id, results["id"])
            user.first_name = "Rechained"
            return user.save()

        def resaved(user):
            return User.findBy(first_name="Rechained")

        def check(users):
            self.assertEqual([u.id for u in users], [results["id"]])

        d = User(first_name="Chained").save()
        d.addCallback(saved)
        d.addCallback(found)
        d.addCallback(resaved)
        d.addCallback(check)
        return d


class Tally(DBObject):
    """
    A row of C{tallies}, which has a column named like L{DBObject.count}.
    """


Registry.register(Tally)


class ColumnNamedLikeAMethodTests(DBTestCase):
    """
    A column named like a method of L{DBObject}.
    """

    async def test_countColumn(self):
        """
        An object that does not set the column saves it as NULL (not the
        method); one that sets it saves and reads back its value; the class
        method still counts rows.
        """
        unset = await Tally(name="unset").save()
        counted = await Tally(name="counted", count=3).save()
        self.assertIsNone((await Tally.find(unset.id)).count)
        self.assertEqual((await Tally.find(counted.id)).count, 3)
        self.assertEqual(await Tally.count(), 2)


class GuardedUser(DBObject):
    """
    A row of C{users} whose C{age} is a property that records every value
    set through it.
    """

    TABLENAME = "users"
    ages: list = []

    @property
    def age(self):
        return self.__dict__.get("age")

    @age.setter
    def age(self, value):
        GuardedUser.ages.append(value)
        self.__dict__["age"] = value


class RecordingUser(DBObject):
    """
    A row of C{users} whose C{__setattr__} records every name set.
    """

    TABLENAME = "users"
    names: list = []

    def __setattr__(self, name, value):
        RecordingUser.names.append(name)
        super().__setattr__(name, value)


class StampedUser(DBObject):
    """
    A row of C{users} whose C{__new__} sets an attribute.
    """

    TABLENAME = "users"

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self.stamp = "new"
        return self


class LoadingTests(DBTestCase):
    """
    Objects are built from rows without running the model's own code.
    """

    async def test_modelCodeNotRun(self):
        """
        Loading puts each column's value in the object's C{__dict__} as the
        row has it: neither a property named like a column nor the model's
        own C{__setattr__} is called for a column, and the attributes a
        model's C{__new__} set are replaced. A plain model's objects hold
        the same values.
        """
        for i in range(5):
            await User(first_name=f"u{i}", age=i).save()
        self.patch(GuardedUser, "ages", [])
        self.patch(RecordingUser, "names", [])
        for model in (User, GuardedUser, RecordingUser, StampedUser):
            loaded = await model.find(orderby="id")
            self.assertEqual([(type(u), u.__dict__["age"], u.first_name) for u in loaded],
                             [(model, i, f"u{i}") for i in range(5)])
            self.assertFalse(any("stamp" in u.__dict__ for u in loaded))
            one = await model.find(loaded[2].id)
            self.assertEqual((one.__dict__["age"], one.first_name), (2, "u2"))
        self.assertEqual(GuardedUser.ages, [])
        self.assertEqual(set(RecordingUser.names) & {"id", "first_name", "age"}, set())


class HookTests(DBTestCase):
    """
    Tests for the C{before*} and C{afterInit} hooks, assigned on the class at
    run time as applications do.
    """

    def setHook(self, name, func, klass=User):
        """
        Assign C{func} as hook C{name} of C{klass}, restoring DBObject's
        own at cleanup.
        """
        setattr(klass, name, func)
        self.addCleanup(setattr, klass, name, getattr(DBObject, name))

    def recordHooks(self, calls, *names):
        """
        Make each of the hooks C{names} append its name to C{calls}.
        """
        for name in names:
            self.setHook(name, lambda obj, name=name: calls.append(name))

    async def test_insertOrder(self):
        """
        An insert runs C{beforeCreate}, then C{beforeSave}, and no
        C{beforeUpdate}.
        """
        calls = []
        self.recordHooks(calls, "beforeCreate", "beforeSave", "beforeUpdate", "beforeDelete")
        await User(first_name="F").save()
        self.assertEqual(calls, ["beforeCreate", "beforeSave"])

    async def test_updateOrder(self):
        """
        An update runs C{beforeUpdate}, then C{beforeSave}, and no
        C{beforeCreate}.
        """
        user = await User(first_name="F").save()
        calls = []
        self.recordHooks(calls, "beforeCreate", "beforeSave", "beforeUpdate")
        user.first_name = "G"
        await user.save()
        self.assertEqual(calls, ["beforeUpdate", "beforeSave"])

    async def test_hookSeesObject(self):
        """
        A hook runs with the object and its changes are saved.
        """

        def beforeSave(obj):
            obj.last_name = obj.first_name.upper()

        self.setHook("beforeSave", beforeSave)
        user = await User(first_name="abc").save()
        self.assertEqual((await User.find(user.id)).last_name, "ABC")

    async def test_cancelCreate(self):
        """
        C{beforeCreate} returning C{False} cancels the insert; the Deferred
        still fires with the object, and C{beforeSave} is not run.
        """
        calls = []
        self.setHook("beforeCreate", lambda obj: False)
        self.setHook("beforeSave", lambda obj: calls.append("beforeSave"))
        user = User(first_name="F")
        result = await user.save()
        self.assertIs(result, user)
        self.assertIsNone(user.id)
        self.assertEqual(calls, [])
        self.assertEqual(await User.count(), 0)

    async def test_cancelSave(self):
        """
        C{beforeSave} returning C{False} cancels inserts and updates.
        """
        user = await User(first_name="F").save()
        self.setHook("beforeSave", lambda obj: False)
        self.assertIsNone((await User(first_name="G").save()).id)
        user.first_name = "Changed"
        self.assertIs(await user.save(), user)
        self.assertEqual(await User.count(), 1)
        self.assertEqual((await User.find(user.id)).first_name, "F")

    async def test_cancelUpdate(self):
        """
        C{beforeUpdate} returning C{False} cancels the update.
        """
        user = await User(first_name="F").save()
        self.setHook("beforeUpdate", lambda obj: False)
        user.first_name = "Changed"
        self.assertIs(await user.save(), user)
        self.assertEqual((await User.find(user.id)).first_name, "F")

    async def test_cancelDelete(self):
        """
        C{beforeDelete} returning C{False} cancels the delete; the Deferred
        fires with the object, whose id is kept.
        """
        user = await User(first_name="F").save()
        userId = user.id
        self.setHook("beforeDelete", lambda obj: False)
        self.assertIs(await user.delete(), user)
        self.assertEqual(user.id, userId)
        self.assertEqual(await User.count(), 1)

    async def test_deferredHooks(self):
        """
        Hooks may return Deferreds: the next step waits for them, and a
        Deferred firing C{False} cancels.
        """
        calls = []

        def beforeCreate(obj):
            return later(None).addCallback(lambda _: calls.append("beforeCreate"))

        def beforeSave(obj):
            return later(None).addCallback(lambda _: calls.append("beforeSave"))

        self.setHook("beforeCreate", beforeCreate)
        self.setHook("beforeSave", beforeSave)
        user = await User(first_name="F").save()
        self.assertEqual(calls, ["beforeCreate", "beforeSave"])
        self.assertIsNotNone(user.id)

        self.setHook("beforeUpdate", lambda obj: later(False))
        user.first_name = "G"
        await user.save()
        self.assertEqual((await User.find(user.id)).first_name, "F")

        self.setHook("beforeDelete", lambda obj: later(False))
        await user.delete()
        self.assertEqual(await User.count(), 1)
        self.setHook("beforeDelete", lambda obj: later(True))
        await user.delete()
        self.assertEqual(await User.count(), 0)

    async def test_runTimeAssignment(self):
        """
        A hook assigned on the class after objects were saved without one
        runs at once; once reset to DBObject's own it no longer runs.
        """
        await User(first_name="A").save()
        calls = []
        User.beforeSave = lambda obj: calls.append(obj.first_name)
        try:
            await User(first_name="B").save()
            self.assertEqual(calls, ["B"])
        finally:
            User.beforeSave = DBObject.beforeSave
        await User(first_name="C").save()
        self.assertEqual(calls, ["B"])

    async def test_afterInitOnLoad(self):
        """
        C{afterInit} runs on objects from C{find}, C{findBy} and C{all}, and
        on none built by the caller; assigning it after finds without one
        takes effect at once, and resetting it stops it.
        """
        await User(first_name="A").save()
        await User.find()
        seen = []

        def afterInit(obj):
            seen.append(obj.first_name)

        User.afterInit = afterInit
        try:
            User(first_name="Built")
            [obj] = await User.find()
            self.assertEqual(seen, ["A"])
            await User.findBy(first_name="A")
            await User.all()
            await User.find(obj.id)
            await User.find(limit=1)
            self.assertEqual(seen, ["A"] * 5)
        finally:
            User.afterInit = DBObject.afterInit
        await User.all()
        self.assertEqual(len(seen), 5)

    async def test_afterInitDeferred(self):
        """
        C{afterInit} may return a Deferred; the finder fires only after it.
        """
        await User(first_name="A").save()
        await User(first_name="B").save()

        def afterInit(obj):
            return later(None).addCallback(lambda _: setattr(obj, "initialised", True))

        self.setHook("afterInit", afterInit)
        users = await User.all()
        self.assertEqual([u.initialised for u in users], [True, True])
        one = await User.find(users[0].id)
        self.assertTrue(one.initialised)

    async def test_asyncHooks(self):
        """
        Hooks may be coroutine functions (C{async def}): they are awaited,
        and one returning C{False} cancels.
        """
        calls = []

        async def beforeSave(obj):
            await later(None)
            obj.last_name = "set by beforeSave"
            calls.append("beforeSave")

        async def afterInit(obj):
            await later(None)
            obj.initialised = True

        self.setHook("beforeSave", beforeSave)
        user = await User(first_name="F").save()
        self.assertEqual(calls, ["beforeSave"])
        self.setHook("afterInit", afterInit)
        found = await User.find(user.id)
        self.assertEqual(found.last_name, "set by beforeSave")
        self.assertTrue(found.initialised)

        async def refuse(obj):
            await later(None)
            return False

        self.setHook("beforeDelete", refuse)
        await found.delete()
        self.assertEqual(await User.count(), 1)

    async def test_errorsArriveThroughTheDeferred(self):
        """
        A hook or validator that raises, or whose Deferred fails, fails the
        call's Deferred with its own exception (not raised at the call, and
        not wrapped in Twisted's C{FirstError}).
        """
        user = await User(first_name="F").save()

        def raises(obj):
            raise KeyError("from a hook")

        def failsLater(obj):
            return later(None).addCallback(lambda _: raises(obj))

        for hook in (raises, failsLater):
            self.setHook("beforeDelete", hook)
            d = user.delete()
            self.assertIsInstance(d, Deferred)
            await self.assertFailure(d, KeyError)
            self.setHook("afterInit", hook)
            await self.assertFailure(User.find(user.id), KeyError)
            await self.assertFailure(User.all(), KeyError)
            self.setHook("afterInit", DBObject.afterInit)
            User.addValidator(hook)
            try:
                d = User(first_name="G").save()
                self.assertIsInstance(d, Deferred)
                await self.assertFailure(d, KeyError)
                await self.assertFailure(User.createMany([User(first_name="H")]), KeyError)
            finally:
                User.clearValidations()
        self.assertEqual(await User.count(), 1)

    async def test_succeedIsAcceptedFromHooks(self):
        """
        An already-fired Deferred from a hook works like its value.
        """
        self.setHook("beforeSave", lambda obj: succeed(False))
        user = await User(first_name="Z").save()
        self.assertIsNone(user.id)


class DeleteAndRefreshTests(DBTestCase):
    """
    Tests for L{DBObject.delete} and L{DBObject.refresh}.
    """

    async def test_delete(self):
        """
        Deleting removes the row only and makes the id C{None}.
        """
        user = await User(first_name="F").save()
        other = await User(first_name="G").save()
        userId = user.id
        await user.delete()
        self.assertIsNone(user.id)
        self.assertIsNone(await User.find(userId))
        self.assertEqual(await User.all(), [other])

    async def test_refresh(self):
        """
        Refreshing reloads the attributes from the row.
        """
        user = await User(first_name="F", age=1).save()
        await self.config.update("users", {"first_name": "Changed", "age": 2}, ["id = ?", user.id])
        result = await user.refresh()
        self.assertIs(result, user)
        self.assertEqual((user.first_name, user.age), ("Changed", 2))

    async def test_refreshedIsClean(self):
        """
        After a refresh, saving without changes sends no UPDATE.
        """
        user = await User(first_name="F", age=1).save()
        await self.config.update("users", {"age": 2}, ["id = ?", user.id])
        await user.refresh()
        queries = captureQueries(self)
        await user.save()
        self.assertEqual(queries.starting("UPDATE"), [])
        self.assertEqual((await User.find(user.id)).age, 2)

    async def test_refreshGone(self):
        """
        Refreshing an object whose row is gone fails with
        L{CannotRefreshError}.
        """
        user = await User(first_name="F").save()
        await User.deleteAll()
        await self.assertFailure(user.refresh(), CannotRefreshError)

    async def test_refreshUnsaved(self):
        """
        Refreshing an unsaved object fails with L{CannotRefreshError} and
        leaves it as it was, even when the table has rows.
        """
        await User(first_name="other").save()
        user = User(first_name="new")
        await self.assertFailure(user.refresh(), CannotRefreshError)
        self.assertEqual((user.id, user.first_name), (None, "new"))


class LoadRelationsTests(DBTestCase):
    """
    Tests for L{DBObject.loadRelations}.
    """

    async def test_named(self):
        """
        The named relations are loaded into a dict.
        """
        user = await User(first_name="F").save()
        picture = await Picture(name="p", user_id=user.id).save()
        await Picture(name="other").save()
        self.assertEqual(await user.loadRelations("pictures"), {"pictures": [picture]})

    async def test_all(self):
        """
        With no names every relation is loaded.
        """
        user = await User(first_name="F").save()
        picture = await Picture(name="p", user_id=user.id).save()
        relations = await user.loadRelations()
        self.assertEqual(
            relations, {"pictures": [picture], "avatar": None, "favorite_colors": []}
        )


class FindTests(DBTestCase):
    """
    Tests for L{DBObject.find}, C{all}, C{count}, C{exists} and
    C{deleteAll}.
    """

    async def setUp(self):
        await super().setUp()
        self.users = []
        for first, last, age in [("A", "X", 1), ("B", "X", 2), ("C", "Y", 3), ("D", "Y", 3)]:
            self.users.append(await User(first_name=first, last_name=last, age=age).save())

    async def test_id(self):
        """
        With an id, C{find} fires with one object, or C{None}.
        """
        found = await User.find(self.users[1].id)
        self.assertIsInstance(found, User)
        self.assertEqual(found, self.users[1])
        self.assertEqual(found.first_name, "B")
        missing = max(u.id for u in self.users) + 1000
        self.assertIsNone(await User.find(missing))

    async def test_idAndWhere(self):
        """
        An id and a where must both match.
        """
        self.assertEqual(await User.find(self.users[0].id, where=["age = ?", 1]), self.users[0])
        self.assertIsNone(await User.find(self.users[0].id, where=["age = ?", 2]))

    async def test_limitOne(self):
        """
        With C{limit=1} C{find} fires with one object, or C{None}.
        """
        found = await User.find(where=["age = ?", 2], limit=1)
        self.assertEqual(found, self.users[1])
        self.assertIsNone(await User.find(where=["age = ?", 99], limit=1))

    async def test_list(self):
        """
        Without id or C{limit=1}, C{find} fires with a list, empty when
        nothing matches.
        """
        found = await User.find(orderby="id")
        self.assertEqual(found, self.users)
        self.assertEqual(await User.find(where=["age = ?", 99]), [])
        self.assertEqual(await User.find(limit=2, orderby="id"), self.users[:2])

    async def test_limitOffset(self):
        """
        A C{(limit, offset)} limit always gives a list.
        """
        self.assertEqual(await User.find(limit=(2, 1), orderby="id"), self.users[1:3])
        self.assertEqual(await User.find(limit=(1, 3), orderby="id"), [self.users[3]])
        self.assertEqual(await User.find(limit=(1, 10), orderby="id"), [])

    async def test_orderby(self):
        """
        C{orderby} orders the result.
        """
        found = await User.find(orderby="first_name DESC")
        self.assertEqual([u.first_name for u in found], ["D", "C", "B", "A"])

    async def test_whereArgs(self):
        """
        A where with several arguments.
        """
        found = await User.find(
            where=["last_name = ? AND age > ? AND first_name <> ?", "Y", 1, "C"]
        )
        self.assertEqual(found, [self.users[3]])

    async def test_group(self):
        """
        C{group} adds a GROUP BY to the query.
        """
        queries = captureQueries(self)
        found = await User.find(where=["age = ?", 3], group="id", orderby="id")
        self.assertEqual(found, self.users[2:])
        self.assertEqual(len([q for q in queries if "GROUP BY id" in q]), 1)

    async def test_all(self):
        """
        C{all} fires with every object.
        """
        self.assertEqual(sorted(u.id for u in await User.all()), [u.id for u in self.users])

    async def test_count(self):
        """
        C{count} counts every row, or the rows matching a where.
        """
        self.assertEqual(await User.count(), 4)
        self.assertEqual(await User.count(["last_name = ? AND age > ?", "Y", 2]), 2)
        self.assertEqual(await User.count(["age > ?", 10]), 0)

    async def test_exists(self):
        """
        C{exists} says whether any row matches.
        """
        self.assertIs(await User.exists(), True)
        self.assertIs(await User.exists(["first_name = ?", "C"]), True)
        self.assertIs(await User.exists(["first_name = ?", "Z"]), False)
        await User.deleteAll()
        self.assertIs(await User.exists(), False)

    async def test_deleteAllWhere(self):
        """
        C{deleteAll} deletes the matching rows in one DELETE, without
        running C{beforeDelete}.
        """
        calls = []
        User.beforeDelete = lambda obj: calls.append(obj)
        self.addCleanup(setattr, User, "beforeDelete", DBObject.beforeDelete)
        queries = captureQueries(self)
        await User.deleteAll(["last_name = ?", "X"])
        self.assertEqual(len(queries.starting("DELETE")), 1)
        self.assertEqual(calls, [])
        self.assertEqual(sorted(u.id for u in await User.all()), [u.id for u in self.users[2:]])

    async def test_deleteAll(self):
        """
        C{deleteAll} with no where deletes every row.
        """
        await User.deleteAll()
        self.assertEqual(await User.count(), 0)


class FindByTests(DBTestCase):
    """
    Tests for L{DBObject.findBy} and L{DBObject.findOrCreate}.
    """

    async def setUp(self):
        await super().setUp()
        self.a = await User(first_name="A", last_name="X", age=1).save()
        self.b = await User(first_name="B", last_name="X", age=2).save()
        self.c = await User(first_name="C", age=2).save()

    async def test_severalAttrs(self):
        """
        Every attribute must match.
        """
        self.assertEqual(await User.findBy(last_name="X", age=2), [self.b])
        self.assertEqual(await User.findBy(last_name="X", age=3), [])

    async def test_none(self):
        """
        C{attr=None} matches NULL.
        """
        self.assertEqual(await User.findBy(last_name=None), [self.c])
        self.assertEqual(await User.findBy(last_name=None, age=2), [self.c])
        self.assertEqual(await User.findBy(last_name=None, age=1), [])

    async def test_noAttrs(self):
        """
        Without attributes every row matches.
        """
        found = await User.findBy()
        expected = sorted(u.id for u in (self.a, self.b, self.c))
        self.assertEqual(sorted(u.id for u in found), expected)

    async def test_uncachedSchema(self):
        """
        C{findBy} works when the table's columns are not cached yet.
        """
        Registry.SCHEMAS.clear()
        self.assertEqual(await User.findBy(first_name="A"), [self.a])
        Registry.SCHEMAS.clear()
        await self.assertFailure(maybeDeferred(User.findBy, nickname="x"), UnknownColumnError)

    async def test_unknownColumn(self):
        """
        An attribute that is no column fails with L{UnknownColumnError}.
        """
        await self.assertFailure(
            maybeDeferred(User.findBy, first_name="A", nickname="x"), UnknownColumnError
        )

    async def test_findOrCreateFound(self):
        """
        C{findOrCreate} fires with the matching object, creating nothing.
        """
        found = await User.findOrCreate(first_name="B", last_name="X")
        self.assertEqual(found, self.b)
        self.assertEqual(await User.count(), 3)

    async def test_findOrCreateCreated(self):
        """
        Without a match, C{findOrCreate} saves a new object.
        """
        created = await User.findOrCreate(first_name="B", last_name="Y")
        self.assertIsNotNone(created.id)
        self.assertEqual((created.first_name, created.last_name), ("B", "Y"))
        self.assertEqual(await User.count(), 4)
        self.assertEqual(await User.findBy(first_name="B", last_name="Y"), [created])

    async def test_findOrCreateRace(self):
        """
        Two concurrent C{findOrCreate} calls for a row with a unique column,
        both finding nothing and both inserting: the one refused by the
        constraint looks again and fires with the row the other saved. (On
        SQLite a transaction takes the write lock when it begins, so the
        second call looks only once the first has committed, and finds its
        row.)
        """
        waiting: list[Deferred[bool]] = []
        serialized = self.backend == "sqlite"

        class RacingUnique(DBObject):
            TABLENAME = "uniques"

            def beforeCreate(self):
                # Insert only once both calls have looked and found nothing.
                if serialized or len(waiting) == 2:
                    return True
                waiting.append(Deferred())
                if len(waiting) == 2:
                    for each in waiting:
                        reactor.callLater(0, each.callback, True)
                return waiting[-1]

        Registry.register(RacingUnique)
        self.addCleanup(Registry.REGISTRATION.pop, "RacingUnique")
        results = await gatherResults(
            [RacingUnique.findOrCreate(code="race"), RacingUnique.findOrCreate(code="race")]
        )
        self.assertEqual(results[0], results[1])
        self.assertEqual(await RacingUnique.count(), 1)

    async def test_findOrCreateInTransaction(self):
        """
        C{findOrCreate} works inside a transaction, finding and creating.
        """

        @transaction
        async def run(txn, first):
            found = await User.findOrCreate(first_name="A", last_name="X")
            created = await User.findOrCreate(first_name=first)
            return found, created

        found, created = await run("New")
        self.assertEqual(found, self.a)
        self.assertIsNotNone(created.id)
        self.assertEqual(await User.findBy(first_name="New"), [created])
        self.assertEqual(await User.count(), 4)
