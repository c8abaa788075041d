# -*- test-case-name: twistar.tests.test_typing -*-
"""
What a type checker knows of twistar's API. The test command's mypy run
checks every C{assert_type} here (a wrong type fails it); trial runs the
same code on the test database, so that the types are those of real
results.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from twistar.dbobject import DBObject
from twistar.query import Page, Query
from twistar.registry import Registry
from twistar.relationships import BelongsTo, HasMany, HasOne
from twistar.tests.helpers import DBTestCase


class Author(DBObject):
    """
    A row of C{users}, its columns and relationships annotated.
    """

    TABLENAME = "users"
    HASMANY = [{"name": "pictures", "class_name": "Snapshot", "foreign_key": "user_id"}]
    HASONE = [{"name": "avatar", "class_name": "Portrait", "foreign_key": "user_id"}]

    first_name: str | None
    age: int | None
    pictures: HasMany[Snapshot]
    avatar: HasOne[Portrait]


class Snapshot(DBObject):
    """
    A row of C{pictures}.
    """

    TABLENAME = "pictures"
    BELONGSTO = [{"name": "user", "class_name": "Author"}]

    name: str | None
    user: BelongsTo[Author]


class Portrait(DBObject):
    """
    A row of C{avatars}.
    """

    TABLENAME = "avatars"


class TypedFinderTests(DBTestCase):
    """
    The finders, the query layer and the relationships give objects of
    the model they are called on.
    """

    async def setUp(self) -> None:
        await super().setUp()
        # Other modules register models of these names: put theirs back.
        before = dict(Registry.REGISTRATION)
        self.addCleanup(Registry.REGISTRATION.update, before)
        Registry.register(Author, Snapshot, Portrait)

    async def test_finders(self) -> None:
        """
        C{find(id)} and C{find(limit=1)} give one object or C{None}, the
        other finders lists of the model's objects.
        """
        ann = assert_type(await Author(first_name="Ann", age=30).save(), Author)
        # An id typed Any (DBObject.id) makes the result Any: a key of a
        # known type makes it one object or None.
        found = assert_type(await Author.find(int(ann.id)), Author | None)
        assert found is not None
        self.assertEqual(assert_type(found.first_name, str | None), "Ann")
        first = assert_type(await Author.find(limit=1, orderby="id"), Author | None)
        self.assertEqual(first, ann)
        everyone = assert_type(await Author.find(), list[Author])
        self.assertEqual(everyone, [ann])
        self.assertEqual(assert_type(await Author.all(), list[Author]), [ann])
        self.assertEqual(assert_type(await Author.findBy(age=30), list[Author]), [ann])
        self.assertEqual(assert_type(await Author.findOrCreate(age=30), Author), ann)
        created = assert_type(await Author.createMany([Author(age=2)]), list[Author])
        self.assertEqual(len(created), 1)
        self.assertEqual(assert_type(await ann.refresh(), Author), ann)
        # Columns the class does not annotate are Any.
        assert_type(found.last_name, Any)

    async def test_queries(self) -> None:
        """
        A query of a model gives that model's objects.
        """
        ann = await Author(first_name="Ann", age=30).save()
        query = assert_type(Author.where(age=30).order("id"), Query[Author])
        self.assertEqual(assert_type(await query.all(), list[Author]), [ann])
        self.assertEqual(assert_type(await query.first(), Author | None), ann)
        page = assert_type(await Author.page(1), Page[Author])
        self.assertEqual(page.items, [ann])
        self.assertEqual(assert_type(await query.count(), int), 1)

    async def test_relationships(self) -> None:
        """
        Annotated relationships give objects of the related model.
        """
        ann = await Author(first_name="Ann").save()
        shot = await Snapshot(name="sea", user_id=ann.id).save()
        pictures = assert_type(ann.pictures, HasMany[Snapshot])
        self.assertEqual(assert_type(await pictures.get(), list[Snapshot]), [shot])
        self.assertEqual(
            assert_type(await pictures.where(name="sea").all(), list[Snapshot]), [shot]
        )
        self.assertIsNone(assert_type(await ann.avatar.get(), Portrait | None))
        self.assertEqual(assert_type(await shot.user.get(), Author | None), ann)
