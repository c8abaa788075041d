"""
Tests for L{twistar.utils}, the package version and L{twistar.exceptions}.
"""

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase

import twistar
from twistar import exceptions
from twistar.dbobject import DBObject
from twistar.tests.helpers import DBTestCase
from twistar.tests.models import User
from twistar.utils import (
    createInstances,
    deferredDict,
    dictToWhere,
    joinMultipleWheres,
    joinWheres,
)


class WhereTests(SynchronousTestCase):
    """
    Tests for L{dictToWhere}, L{joinWheres} and L{joinMultipleWheres}.
    """

    def test_dictToWhere(self):
        """
        Each item becomes a condition; C{None} values use C{is}.
        """
        self.assertEqual(dictToWhere({"a": 1, "b": None}), ["(a = ?) AND (b is ?)", 1, None])

    def test_dictToWhereJoiner(self):
        """
        C{joiner} joins the conditions.
        """
        self.assertEqual(dictToWhere({"a": 1, "b": 2}, "OR"), ["(a = ?) OR (b = ?)", 1, 2])

    def test_dictToWhereEmpty(self):
        """
        No attributes give C{None}.
        """
        self.assertIsNone(dictToWhere({}))

    def test_joinWheres(self):
        """
        Two wheres become one with both conditions and all arguments.
        """
        self.assertEqual(
            joinWheres(["a = ?", 1], ["b = ? OR c = ?", 2, 3]),
            ["(a = ?) AND (b = ? OR c = ?)", 1, 2, 3],
        )
        self.assertEqual(joinWheres(["a = ?", 1], ["b = 2"], "OR"), ["(a = ?) OR (b = 2)", 1])

    def test_joinMultipleWheres(self):
        """
        Several wheres are joined, skipping empty ones.
        """
        self.assertEqual(
            joinMultipleWheres([["a = ?", 1], [], None, ["b = ?", 2], ["c = ?", 3]]),
            ["((a = ?) AND (b = ?)) AND (c = ?)", 1, 2, 3],
        )
        self.assertEqual(
            joinMultipleWheres([["a = ?", 1], ["b = ?", 2]], "OR"), ["(a = ?) OR (b = ?)", 1, 2]
        )
        self.assertEqual(joinMultipleWheres([[], ["a = ?", 1]]), ["a = ?", 1])

    def test_joinMultipleWheresNone(self):
        """
        No non-empty wheres give C{[]}.
        """
        self.assertEqual(joinMultipleWheres([]), [])
        self.assertEqual(joinMultipleWheres([[], None]), [])


class DeferredDictTests(SynchronousTestCase):
    """
    Tests for L{deferredDict}.
    """

    def test_results(self):
        """
        The result is a dict of each Deferred's result, once all fired.
        """
        later = Deferred()
        d = deferredDict({"a": succeed(1), "b": later})
        self.assertNoResult(d)
        later.callback(2)
        self.assertEqual(self.successResultOf(d), {"a": 1, "b": 2})

    def test_empty(self):
        """
        An empty dict gives an empty dict.
        """
        self.assertEqual(self.successResultOf(deferredDict({})), {})

    def test_failure(self):
        """
        A failing Deferred makes the result fail with its error.
        """
        d = deferredDict({"a": succeed(1), "b": fail(ValueError("bad"))})
        self.failureResultOf(d, ValueError)


class CreateInstancesTests(DBTestCase):
    """
    Tests for L{createInstances}.
    """

    def setAfterInit(self, func):
        """
        Make C{func} L{User}'s C{afterInit} for this test.
        """
        User.afterInit = func
        self.addCleanup(setattr, User, "afterInit", DBObject.afterInit)

    async def test_list(self):
        """
        A list of row dicts gives a list of objects, with C{afterInit} run.
        """
        self.setAfterInit(lambda obj: setattr(obj, "ready", obj.first_name + "!"))
        users = await createInstances(
            [{"id": 1, "first_name": "A"}, {"id": 2, "first_name": "B"}], User
        )
        self.assertEqual([type(u) for u in users], [User, User])
        self.assertEqual([(u.id, u.first_name, u.ready) for u in users], [
            (1, "A", "A!"), (2, "B", "B!"),
        ])

    async def test_one(self):
        """
        One row dict gives one object; C{afterInit} may return a Deferred.
        """

        def afterInit(obj):
            return task.deferLater(reactor, 0, setattr, obj, "ready", True)

        self.setAfterInit(afterInit)
        user = await createInstances({"id": 7, "first_name": "A"}, User)
        self.assertIsInstance(user, User)
        self.assertEqual((user.id, user.first_name, user.ready), (7, "A", True))

    async def test_none(self):
        """
        C{None} gives C{None}.
        """
        self.assertIsNone(await createInstances(None, User))

    async def test_fromSelect(self):
        """
        The dicts from the low-level C{select} become saved objects that
        update only changed columns.
        """
        saved = await User(first_name="A", age=1).save()
        rows = await self.config.select("users")
        [user] = await createInstances(rows, User)
        self.assertEqual(user, saved)
        user.age = 2
        await user.save()
        self.assertEqual(await User.count(), 1)
        self.assertEqual((await User.find(saved.id)).age, 2)


class PackageTests(SynchronousTestCase):
    """
    Tests for the package attributes.
    """

    def test_version(self):
        """
        C{version} is a dotted string and C{version_info} its ints.
        """
        self.assertIsInstance(twistar.version, str)
        self.assertIsInstance(twistar.version_info, tuple)
        self.assertTrue(all(isinstance(part, int) for part in twistar.version_info))
        self.assertEqual(".".join(map(str, twistar.version_info)), twistar.version)
        self.assertGreaterEqual(twistar.version_info, (3, 0, 0))


class ExceptionsTests(SynchronousTestCase):
    """
    Tests for L{twistar.exceptions}.
    """

    def test_exported(self):
        """
        The exceptions of the API are exported and derive from
        L{exceptions.TwistarError}.
        """
        for name in (
            "TransactionError", "ClassNotRegisteredError", "ImaginaryTableError",
            "ReferenceNotSavedError", "CannotRefreshError", "InvalidRelationshipError",
            "DBObjectSaveError",
        ):
            klass = getattr(exceptions, name)
            self.assertTrue(issubclass(klass, exceptions.TwistarError), name)

    def test_allDeriveFromBase(self):
        """
        Every exception class of the module derives from
        L{exceptions.TwistarError}.
        """
        classes = [
            value for value in vars(exceptions).values()
            if isinstance(value, type) and issubclass(value, BaseException)
        ]
        self.assertGreater(len(classes), 7)
        for klass in classes:
            self.assertTrue(issubclass(klass, exceptions.TwistarError), klass)
        self.assertTrue(issubclass(exceptions.TwistarError, Exception))
