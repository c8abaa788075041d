"""
Tests for L{twistar.validation}: L{Errors}, the validator class methods and
validation on save.
"""

from twisted.internet import reactor, task
from twisted.trial.unittest import SynchronousTestCase

from twistar.tests.helpers import DBTestCase
from twistar.tests.models import Lad, Lass, Member, Unique
from twistar.validation import Errors, lengthOf, presenceOf


class ErrorsTests(SynchronousTestCase):
    """
    Tests for L{Errors}.
    """

    def test_addHumanised(self):
        """
        C{add} prefixes the message with the humanised property name.
        """
        errors = Errors()
        errors.add("first_name", "cannot be blank.")
        self.assertEqual(errors["first_name"], ["First Name cannot be blank."])
        self.assertEqual(errors.errorsFor("first_name"), ["First Name cannot be blank."])

    def test_noDuplicates(self):
        """
        The same message for the same property is kept once.
        """
        errors = Errors()
        errors.add("age", "is bad.")
        errors.add("age", "is bad.")
        errors.add("age", "is worse.")
        self.assertEqual(errors.errorsFor("age"), ["Age is bad.", "Age is worse."])

    def test_isEmpty(self):
        """
        C{isEmpty} is true only without messages.
        """
        errors = Errors()
        self.assertTrue(errors.isEmpty())
        errors.add("age", "is bad.")
        self.assertFalse(errors.isEmpty())

    def test_errorsForNone(self):
        """
        C{errorsFor} a property without errors is an empty list.
        """
        self.assertEqual(Errors().errorsFor("age"), [])

    def test_len(self):
        """
        C{len} is the total number of messages.
        """
        errors = Errors()
        self.assertEqual(len(errors), 0)
        errors.add("age", "is bad.")
        errors.add("age", "is worse.")
        errors.add("first_name", "is bad.")
        self.assertEqual(len(errors), 3)

    def test_str(self):
        """
        C{str} contains every message.
        """
        errors = Errors()
        errors.add("age", "is bad.")
        errors.add("first_name", "is worse.")
        text = str(errors)
        self.assertIn("Age is bad.", text)
        self.assertIn("First Name is worse.", text)


class _Obj:
    """
    A plain object with C{errors}, for the module functions.
    """

    def __init__(self, **attrs):
        self.errors = Errors()
        self.__dict__.update(attrs)


class FunctionTests(SynchronousTestCase):
    """
    Tests for the module functions L{presenceOf} and L{lengthOf}.
    """

    def test_presenceOf(self):
        """
        C{None}, missing and empty values are errors; others are not.
        """
        obj = _Obj(a=None, b="", c="x", d=0)
        presenceOf(obj, ["a", "b", "c", "d", "e"], {})
        self.assertEqual(sorted(obj.errors), ["a", "b", "e"])
        self.assertEqual(obj.errors.errorsFor("a"), ["A cannot be blank."])

    def test_lengthOf(self):
        """
        C{range} and C{length} are checked, with C{message}.
        """
        obj = _Obj(a="abc", b="a", c="abcd")
        lengthOf(obj, ["a", "b"], {"range": range(2, 4)})
        lengthOf(obj, ["a", "c"], {"length": 4, "message": "is wrong."})
        self.assertEqual(sorted(obj.errors), ["a", "b"])
        self.assertEqual(obj.errors.errorsFor("a"), ["A is wrong."])


class ValidatorTests(DBTestCase):
    """
    Tests for the validator class methods of models, and validation on
    save.
    """

    async def setUp(self):
        await super().setUp()
        for klass in (Member, Lad, Lass, Unique):
            self.addCleanup(klass.clearValidations)

    async def test_presenceOf(self):
        """
        C{validatesPresenceOf} makes C{None} and empty attributes errors; an
        invalid object is not saved and its errors say why.
        """
        Member.validatesPresenceOf("first_name", "last_name")
        member = Member(first_name="", age=3)
        result = await member.save()
        self.assertIs(result, member)
        self.assertIsNone(member.id)
        self.assertEqual(await Member.count(), 0)
        self.assertEqual(member.errors.errorsFor("first_name"), ["First Name cannot be blank."])
        self.assertEqual(member.errors.errorsFor("last_name"), ["Last Name cannot be blank."])
        self.assertEqual(len(member.errors), 2)

        member.first_name, member.last_name = "F", "L"
        await member.save()
        self.assertIsNotNone(member.id)
        self.assertTrue(member.errors.isEmpty())

    async def test_invalidUpdateNotSaved(self):
        """
        An update of an object that became invalid is not written.
        """
        member = await Member(first_name="F").save()
        Member.validatesPresenceOf("first_name")
        member.first_name = None
        await member.save()
        self.assertEqual(member.errors.errorsFor("first_name"), ["First Name cannot be blank."])
        self.assertEqual((await Member.find(member.id)).first_name, "F")

    async def test_message(self):
        """
        C{message=} replaces the default message.
        """
        Member.validatesPresenceOf("first_name", message="is needed.")
        member = await Member().validate()
        self.assertEqual(member.errors.errorsFor("first_name"), ["First Name is needed."])

    async def test_lengthOfRange(self):
        """
        C{validatesLengthOf} with C{range=}.
        """
        Member.validatesLengthOf("first_name", range=range(2, 5))
        self.assertFalse(await Member(first_name="a").isValid())
        self.assertFalse(await Member(first_name="abcde").isValid())
        self.assertFalse(await Member().isValid())
        self.assertTrue(await Member(first_name="ab").isValid())
        self.assertTrue(await Member(first_name="abcd").isValid())

    async def test_lengthOfLength(self):
        """
        C{validatesLengthOf} with C{length=} and C{message=}.
        """
        Member.validatesLengthOf("last_name", length=3, message="must be three long.")
        member = Member(last_name="ab")
        self.assertFalse(await member.isValid())
        self.assertEqual(member.errors.errorsFor("last_name"), ["Last Name must be three long."])
        self.assertTrue(await Member(last_name="abc").isValid())

    async def test_uniquenessOf(self):
        """
        C{validatesUniquenessOf} rejects a value another row has, but not
        the object's own row.
        """
        Unique.validatesUniquenessOf("code")
        first = await Unique(code="A", label="one").save()
        second = Unique(code="A", label="two")
        await second.save()
        self.assertIsNone(second.id)
        self.assertEqual(second.errors.errorsFor("code"), ["Code is not unique."])
        self.assertEqual(await Unique.count(), 1)

        first.label = "changed"
        await first.save()
        self.assertTrue(first.errors.isEmpty())
        self.assertEqual((await Unique.find(first.id)).label, "changed")
        self.assertTrue(await first.isValid())

        second.code = "B"
        await second.save()
        self.assertIsNotNone(second.id)
        second.code = "A"
        self.assertFalse(await second.isValid())

    async def test_uniquenessMessage(self):
        """
        C{validatesUniquenessOf} with C{message=}.
        """
        Unique.validatesUniquenessOf("code", message="is taken.")
        await Unique(code="A").save()
        clash = Unique(code="A")
        self.assertFalse(await clash.isValid())
        self.assertEqual(clash.errors.errorsFor("code"), ["Code is taken."])

    async def test_addValidator(self):
        """
        C{addValidator} adds a function that fills C{errors}.
        """

        def noBobs(obj):
            if obj.first_name == "Bob":
                obj.errors.add("first_name", "cannot be Bob.")

        Member.addValidator(noBobs)
        bob = Member(first_name="Bob")
        self.assertFalse(await bob.isValid())
        self.assertEqual(str(bob.errors), "First Name cannot be Bob.")
        self.assertTrue(await Member(first_name="Al").isValid())

    async def test_addValidatorDeferred(self):
        """
        A validator may return a Deferred; validation waits for it.
        """

        def slow(obj):
            def check(_):
                obj.errors.add("age", "is checked late.")

            return task.deferLater(reactor, 0, lambda: None).addCallback(check)

        Member.addValidator(slow)
        member = Member(age=1)
        await member.save()
        self.assertIsNone(member.id)
        self.assertEqual(member.errors.errorsFor("age"), ["Age is checked late."])

    async def test_addValidatorAsync(self):
        """
        A validator may be a coroutine function (C{async def}); validation
        awaits it.
        """

        async def late(obj):
            await task.deferLater(reactor, 0, lambda: None)
            obj.errors.add("age", "is checked late.")

        Member.addValidator(late)
        member = Member(age=1)
        await member.save()
        self.assertIsNone(member.id)
        self.assertEqual(member.errors.errorsFor("age"), ["Age is checked late."])

    def test_badDeclarations(self):
        """
        Misspelt keywords, a length range that is not a non-empty collection,
        a bad C{length=} and a validator that is not callable are refused
        when declared.
        """
        with self.assertRaises(TypeError):
            Member.validatesPresenceOf("first_name", mesage="x")
        with self.assertRaises(TypeError):
            Member.validatesUniquenessOf("first_name", mesage="x")
        with self.assertRaises(TypeError):
            Member.validatesLengthOf("first_name", lenght=3)
        for bad in ({"range": 5}, {"range": range(0)}, {"range": "abc"}, {"length": -1},
                    {"length": "3"}, {"length": True}):
            with self.assertRaises(ValueError):
                Member.validatesLengthOf("first_name", **bad)
        with self.assertRaises(TypeError):
            Member.addValidator("not a function")
        self.assertEqual(Member._allValidators(), [])

    async def test_blankAndLengthOfOtherValues(self):
        """
        Empty bytes are blank; a value without a length (a number) is
        measured as text.
        """
        Member.validatesPresenceOf("last_name")
        Member.validatesLengthOf("age", range=range(1, 3))
        member = Member(last_name=b"", age=123)
        self.assertFalse(await member.isValid())
        self.assertEqual(set(member.errors), {"last_name", "age"})
        member = Member(last_name=b"x", age=12)
        self.assertTrue(await member.isValid())

    async def test_validateRenewsErrors(self):
        """
        Each validation starts from empty errors.
        """
        Member.validatesPresenceOf("first_name")
        member = Member()
        self.assertFalse(await member.isValid())
        member.first_name = "F"
        self.assertTrue(await member.isValid())
        self.assertEqual(len(member.errors), 0)

    async def test_clearValidations(self):
        """
        C{clearValidations} removes the class's validators.
        """
        Member.validatesPresenceOf("first_name")
        self.assertFalse(await Member().isValid())
        Member.clearValidations()
        self.assertTrue(await Member().isValid())

    async def test_perClass(self):
        """
        Validators belong to their class, not to its siblings.
        """
        Lad.validatesPresenceOf("name")
        self.assertFalse(await Lad().isValid())
        self.assertTrue(await Lass().isValid())
        Lass.validatesLengthOf("name", length=2)
        self.assertFalse(await Lass(name="abc").isValid())
        self.assertTrue(await Lad(name="abc").isValid())
        lass = await Lass(name="ab").save()
        self.assertIsNotNone(lass.id)

    async def test_inherited(self):
        """
        A subclass runs its parent's validators and its own, and adding to
        the subclass does not change the parent.
        """
        Member.validatesPresenceOf("first_name")

        class Senior(Member):
            pass

        self.addCleanup(Senior.clearValidations)
        Senior.validatesPresenceOf("age")
        senior = Senior()
        self.assertFalse(await senior.isValid())
        self.assertEqual(sorted(senior.errors), ["age", "first_name"])
        member = Member()
        self.assertFalse(await member.isValid())
        self.assertEqual(sorted(member.errors), ["first_name"])
