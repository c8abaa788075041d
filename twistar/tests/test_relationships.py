# Relationship attributes are installed at run time, out of mypy's sight:
"""
Tests for L{twistar.relationships}: has-many, has-one, belongs-to and
has-and-belongs-to-many relationships, their options and conventions,
polymorphic forms, and how they are declared and installed on a class.
"""

from __future__ import annotations

from typing import Any

from twistar.dbobject import DBObject
from twistar.exceptions import (
    ClassNotRegisteredError,
    DatabaseError,
    DBObjectSaveError,
    InvalidRelationshipError,
    ReferenceNotSavedError,
    ValidationError,
)
from twistar.registry import Registry
from twistar.relationships import RelationshipDescriptor
from twistar.tests.helpers import DBTestCase
from twistar.tests.models import (
    Article,
    Avatar,
    Blogpost,
    Boy,
    Category,
    Comment,
    FavoriteColor,
    Girl,
    Label,
    Nickname,
    Picture,
    User,
)
from twistar.tests.test_logging import captureQueries

# An id given explicitly to a boy and a girl so that both have the same one;
# far above anything the tables' own counters reach in the tests.
SHARED_ID = 900001


class RelationshipTestCase(DBTestCase):
    """
    Helpers reading rows straight from the database.
    """

    async def rows(self, table: str, where: list[Any] | None = None) -> list[dict[str, Any]]:
        """
        @return: the rows of C{table} matching C{where}, as dicts.
        """
        result = await self.config.select(table, where=where)
        return list(result or [])

    async def joinPairs(self, table: str, left: str, right: str) -> set[tuple[Any, Any]]:
        """
        @return: the C{(left, right)} column pairs of every row of C{table}.
        """
        return {(row[left], row[right]) for row in await self.rows(table)}

    async def column(self, klass: type[DBObject], id: Any, name: str) -> Any:
        """
        @return: the value of column C{name} in the row C{id} of C{klass}'s
            table, read from the database.
        """
        row = await self.config.select(klass.tablename(), id=id)
        assert row is not None
        return row[name]


class HasManyTests(RelationshipTestCase):
    """
    Tests for L{twistar.relationships.HasMany}.
    """

    async def makePictures(self) -> tuple[User, User, list[Picture], Picture]:
        """
        @return: a user with three pictures (sizes 1, 5, 10), and another
            user with one picture (size 20).
        """
        user = await User(first_name="Ann").save()
        other = await User(first_name="Bob").save()
        pictures = [await Picture(name=f"p{size}", size=size, user_id=user.id).save()
                    for size in (1, 5, 10)]
        theirs = await Picture(name="theirs", size=20, user_id=other.id).save()
        return user, other, pictures, theirs

    async def test_get(self) -> None:
        """
        C{get()} returns a list of exactly the objects whose foreign key
        names the owner.
        """
        user, other, pictures, theirs = await self.makePictures()
        found = await user.pictures.get()
        self.assertIsInstance(found, list)
        self.assertEqual(sorted(p.id for p in found), sorted(p.id for p in pictures))
        self.assertTrue(all(isinstance(p, Picture) for p in found))
        self.assertEqual([p.id for p in await other.pictures.get()], [theirs.id])

    async def test_getNone(self) -> None:
        """
        C{get()} of an owner without children is an empty list.
        """
        await self.makePictures()
        lonely = await User(first_name="Cy").save()
        self.assertEqual(await lonely.pictures.get(), [])

    async def test_getWhere(self) -> None:
        """
        A C{where} given to C{get()} is ANDed with the relation's condition:
        other owners' rows that match it are not returned.
        """
        user, other, pictures, theirs = await self.makePictures()
        found = await user.pictures.get(where=["size > ?", 3])
        self.assertEqual(sorted(p.size for p in found), [5, 10])

    async def test_getLimitOrderby(self) -> None:
        """
        C{limit} and C{orderby} are passed on to the finder.
        """
        user, other, pictures, theirs = await self.makePictures()
        found = await user.pictures.get(orderby="size DESC", limit=2)
        self.assertEqual([p.size for p in found], [10, 5])
        found = await user.pictures.get(orderby="size ASC", limit=(2, 1))
        self.assertEqual([p.size for p in found], [5, 10])

    async def test_count(self) -> None:
        """
        C{count()} counts the owner's children only, with an optional where.
        """
        user, other, pictures, theirs = await self.makePictures()
        self.assertEqual(await user.pictures.count(), 3)
        self.assertEqual(await other.pictures.count(), 1)
        self.assertEqual(await user.pictures.count(where=["size >= ?", 5]), 2)

    async def test_set(self) -> None:
        """
        C{set(objects)} makes exactly those objects the children: the given
        ones point at the owner in the database, the owner's other children
        are unlinked, and other owners' remaining children are untouched.
        """
        user, other, (small, medium, large), theirs = await self.makePictures()
        extra = await Picture(name="other2", size=30, user_id=other.id).save()
        await user.pictures.set([medium, theirs])
        self.assertEqual(await self.column(Picture, small.id, "user_id"), None)
        self.assertEqual(await self.column(Picture, large.id, "user_id"), None)
        self.assertEqual(await self.column(Picture, medium.id, "user_id"), user.id)
        self.assertEqual(await self.column(Picture, theirs.id, "user_id"), user.id)
        self.assertEqual(await self.column(Picture, extra.id, "user_id"), other.id)
        self.assertEqual(theirs.user_id, user.id)
        self.assertEqual(sorted(p.id for p in await user.pictures.get()),
                         sorted([medium.id, theirs.id]))

    async def test_setMany(self) -> None:
        """
        C{set()} with more objects than one statement takes parameters
        splits its statements, with the same result.
        """
        self.patch(type(self.config), "maxParameters", 5)
        user, other, (small, medium, large), theirs = await self.makePictures()
        more = [await Picture(name=f"p{i}", user_id=other.id).save() for i in range(6)]
        queries = captureQueries(self)
        await user.pictures.set([medium, theirs, *more])
        self.assertTrue(all(query.count("?") + query.count("%s") <= 5 for query in queries))
        self.assertEqual(await self.column(Picture, small.id, "user_id"), None)
        self.assertEqual(await self.column(Picture, large.id, "user_id"), None)
        self.assertEqual(sorted(p.id for p in await user.pictures.get()),
                         sorted([medium.id, theirs.id] + [p.id for p in more]))
        self.assertEqual(await other.pictures.count(), 0)

    async def test_clear(self) -> None:
        """
        C{clear()} unlinks every child (their rows stay, with a NULL key) and
        leaves other owners' children alone.
        """
        user, other, pictures, theirs = await self.makePictures()
        await user.pictures.clear()
        self.assertEqual(await user.pictures.count(), 0)
        for picture in pictures:
            self.assertIsNone(await self.column(Picture, picture.id, "user_id"))
        self.assertEqual(await Picture.count(), 4)
        self.assertEqual(await self.column(Picture, theirs.id, "user_id"), other.id)

    async def test_setUnsaved(self) -> None:
        """
        C{set()} with an unsaved object raises L{ReferenceNotSavedError} and
        changes nothing.
        """
        user, other, pictures, theirs = await self.makePictures()
        with self.assertRaises(ReferenceNotSavedError):
            await user.pictures.set([theirs, Picture(name="new")])
        self.assertEqual(await self.column(Picture, theirs.id, "user_id"), other.id)
        self.assertEqual(await user.pictures.count(), 3)
        self.assertEqual(await Picture.count(), 4)

    async def test_foreignKeyAndClassName(self) -> None:
        """
        C{class_name} and C{foreign_key} replace the conventions (which would
        look for a C{Remark} class and an C{article_id} column).
        """
        post = await Article(title="t").save()
        mine = await Comment(body="mine", blogpost_id=post.id).save()
        await Comment(body="elsewhere", blogpost_id=post.id + 1).save()
        found = await post.remarks.get()
        self.assertEqual([c.id for c in found], [mine.id])
        self.assertIsInstance(found[0], Comment)


class HasOneTests(RelationshipTestCase):
    """
    Tests for L{twistar.relationships.HasOne}.
    """

    async def test_setInvalid(self) -> None:
        """
        C{set()} with an invalid object fails with L{ValidationError} and
        changes nothing: the previous object stays linked, and the invalid
        one keeps its own foreign key.
        """
        Avatar.validatesPresenceOf("name")
        self.addCleanup(Avatar.clearValidations)
        user = await User(first_name="Ann").save()
        old = await Avatar(name="old", user_id=user.id).save()
        invalid = Avatar(name="")
        with self.assertRaises(ValidationError) as caught:
            await user.avatar.set(invalid)
        self.assertEqual(caught.exception.objects, [invalid])
        self.assertEqual((await user.avatar.get()).id, old.id)
        self.assertIsNone(invalid.id)
        self.assertNotIn("user_id", invalid.__dict__)

    async def test_setCancelledByHook(self) -> None:
        """
        C{set()} with an object whose hook cancels its save (new or saved)
        fails with L{DBObjectSaveError} and changes nothing: the previous
        object stays linked.
        """

        class VetoedAvatar(DBObject):
            TABLENAME = "avatars"

            def beforeSave(self) -> bool:
                return self.__dict__.get("name") != "veto"

        Registry.register(VetoedAvatar)
        self.addCleanup(Registry.REGISTRATION.pop, "VetoedAvatar")

        class Owner(DBObject):
            TABLENAME = "users"
            HASONE = [{"name": "avatar", "class_name": "VetoedAvatar", "foreign_key": "user_id"}]

        user = await Owner(first_name="Ann").save()
        old = await VetoedAvatar(name="old", user_id=user.id).save()
        saved = await VetoedAvatar(name="free").save()
        saved.name = "veto"  # type: ignore[attr-defined]
        for vetoed in (VetoedAvatar(name="veto"), saved):
            with self.assertRaises(DBObjectSaveError):
                await user.avatar.set(vetoed)
            self.assertEqual((await user.avatar.get()).id, old.id)
            self.assertEqual(await VetoedAvatar.count(), 2)
        self.assertIsNone((await VetoedAvatar.find(saved.id)).user_id)

    async def test_get(self) -> None:
        """
        C{get()} returns the object whose foreign key names the owner.
        """
        user = await User(first_name="Ann").save()
        other = await User(first_name="Bob").save()
        await Avatar(name="theirs", user_id=other.id).save()
        avatar = await Avatar(name="mine", user_id=user.id).save()
        found = await user.avatar.get()
        self.assertIsInstance(found, Avatar)
        self.assertEqual(found.id, avatar.id)
        self.assertEqual(found.name, "mine")

    async def test_getNone(self) -> None:
        """
        C{get()} is C{None} when no object names the owner.
        """
        user = await User(first_name="Ann").save()
        await Avatar(name="orphan").save()
        self.assertIsNone(await user.avatar.get())

    async def test_set(self) -> None:
        """
        C{set(obj)} links C{obj} to the owner in the database.
        """
        user = await User(first_name="Ann").save()
        avatar = await Avatar(name="a").save()
        await user.avatar.set(avatar)
        self.assertEqual(await self.column(Avatar, avatar.id, "user_id"), user.id)
        self.assertEqual((await user.avatar.get()).id, avatar.id)

    async def test_setUnlinksPrevious(self) -> None:
        """
        C{set(obj)} unlinks the previous object and leaves other owners'
        objects alone.
        """
        user = await User(first_name="Ann").save()
        other = await User(first_name="Bob").save()
        old = await Avatar(name="old", user_id=user.id).save()
        theirs = await Avatar(name="theirs", user_id=other.id).save()
        new = await Avatar(name="new").save()
        await user.avatar.set(new)
        self.assertIsNone(await self.column(Avatar, old.id, "user_id"))
        self.assertEqual(await self.column(Avatar, new.id, "user_id"), user.id)
        self.assertEqual(await self.column(Avatar, theirs.id, "user_id"), other.id)
        self.assertEqual((await user.avatar.get()).id, new.id)

    async def test_setUnsavedSaves(self) -> None:
        """
        C{set(obj)} with an unsaved object saves it, linked.
        """
        user = await User(first_name="Ann").save()
        avatar = Avatar(name="fresh")
        await user.avatar.set(avatar)
        self.assertIsNotNone(avatar.id)
        self.assertEqual(await self.column(Avatar, avatar.id, "user_id"), user.id)


class BelongsToTests(RelationshipTestCase):
    """
    Tests for L{twistar.relationships.BelongsTo}.
    """

    async def test_get(self) -> None:
        """
        C{get()} returns the object the foreign key names.
        """
        user = await User(first_name="Ann").save()
        await User(first_name="Bob").save()
        picture = await Picture(name="p", user_id=user.id).save()
        found = await picture.user.get()
        self.assertIsInstance(found, User)
        self.assertEqual(found.id, user.id)
        self.assertEqual(found.first_name, "Ann")

    async def test_getNone(self) -> None:
        """
        C{get()} is C{None} when the foreign key is NULL.
        """
        await User(first_name="Ann").save()
        picture = await Picture(name="p").save()
        self.assertIsNone(await picture.user.get())

    async def test_set(self) -> None:
        """
        C{set(obj)} sets the foreign key and saves the owner.
        """
        user = await User(first_name="Ann").save()
        picture = await Picture(name="p").save()
        await picture.user.set(user)
        self.assertEqual(picture.user_id, user.id)
        self.assertEqual(await self.column(Picture, picture.id, "user_id"), user.id)
        self.assertEqual((await picture.user.get()).id, user.id)

    async def test_setUnsaved(self) -> None:
        """
        C{set()} with an unsaved object raises L{ReferenceNotSavedError} and
        writes nothing.
        """
        user = await User(first_name="Ann").save()
        picture = await Picture(name="p", user_id=user.id).save()
        with self.assertRaises(ReferenceNotSavedError):
            await picture.user.set(User(first_name="Ghost"))
        self.assertEqual(await self.column(Picture, picture.id, "user_id"), user.id)
        self.assertEqual(await User.count(), 1)

    async def test_clear(self) -> None:
        """
        C{clear()} sets the foreign key to NULL and saves.
        """
        user = await User(first_name="Ann").save()
        picture = await Picture(name="p", user_id=user.id).save()
        await picture.user.clear()
        self.assertIsNone(picture.user_id)
        self.assertIsNone(await self.column(Picture, picture.id, "user_id"))
        self.assertIsNone(await picture.user.get())

    async def test_classNameAndForeignKey(self) -> None:
        """
        C{class_name} and C{foreign_key} replace the conventions (which would
        look for an C{Author} class and an C{author_id}... here C{author_id}
        is given explicitly, and the class is L{User}).
        """
        author = await User(first_name="Ann").save()
        post = await Blogpost(title="t").save()
        comment = await Comment(body="b", blogpost_id=post.id).save()
        await comment.author.set(author)
        self.assertEqual(await self.column(Comment, comment.id, "author_id"), author.id)
        found = await comment.author.get()
        self.assertIsInstance(found, User)
        self.assertEqual(found.id, author.id)
        self.assertEqual((await comment.blogpost.get()).id, post.id)


class CountKeywordsTests(RelationshipTestCase):
    """
    C{count} of a relationship takes only the keywords it uses.
    """

    async def test_misspeltKeyword(self) -> None:
        """
        A keyword other than C{where} (and C{join_where} for
        has-and-belongs-to-many) raises C{TypeError} instead of counting
        every related row.
        """
        user = await User(first_name="Ann").save()
        for relationship in (user.pictures, user.favorite_colors):
            with self.assertRaises(TypeError):
                relationship.count(wehre=["name = ?", "x"])
        with self.assertRaises(TypeError):
            user.pictures.count(join_where=["1 = 1"])
        self.assertEqual(await user.favorite_colors.count(join_where=["1 = 1"]), 0)


class HABTMTests(RelationshipTestCase):
    """
    Tests for L{twistar.relationships.HABTM}.
    """

    async def makeColors(self, *names: str) -> list[FavoriteColor]:
        """
        @return: saved colours with those names.
        """
        return [await FavoriteColor(name=name).save() for name in names]

    async def test_defaultJoinTable(self) -> None:
        """
        The default join table is both table names sorted and joined by
        C{_}: C{favorite_colors_users}, from either side, with the columns
        C{user_id} and C{favorite_color_id}.
        """
        user = await User(first_name="Ann").save()
        red, blue = await self.makeColors("red", "blue")
        await user.favorite_colors.set([red, blue])
        self.assertEqual(
            await self.joinPairs("favorite_colors_users", "user_id", "favorite_color_id"),
            {(user.id, red.id), (user.id, blue.id)},
        )
        self.assertEqual([u.id for u in await red.users.get()], [user.id])

    async def test_get(self) -> None:
        """
        C{get()} returns the objects joined to the owner, and only those.
        """
        ann = await User(first_name="Ann").save()
        bob = await User(first_name="Bob").save()
        red, blue, green = await self.makeColors("red", "blue", "green")
        await self.config.insertMany("favorite_colors_users", [
            {"user_id": ann.id, "favorite_color_id": red.id},
            {"user_id": ann.id, "favorite_color_id": green.id},
            {"user_id": bob.id, "favorite_color_id": blue.id},
        ])
        found = await ann.favorite_colors.get()
        self.assertIsInstance(found, list)
        self.assertEqual(sorted(c.id for c in found), sorted([red.id, green.id]))
        self.assertTrue(all(isinstance(c, FavoriteColor) for c in found))
        self.assertEqual([c.name for c in await bob.favorite_colors.get()], ["blue"])
        found = await ann.favorite_colors.get(where=["name = ?", "green"])
        self.assertEqual([c.id for c in found], [green.id])
        found = await ann.favorite_colors.get(orderby="name DESC", limit=1)
        self.assertEqual(found.name, "red")

    async def test_getJoinWhere(self) -> None:
        """
        C{join_where} filters on the join table's columns.
        """
        ann = await User(first_name="Ann").save()
        bob = await User(first_name="Bob").save()
        red, blue, green = await self.makeColors("red", "blue", "green")
        await self.config.insertMany("favorite_colors_users", [
            {"user_id": ann.id, "favorite_color_id": red.id, "palette_id": 1},
            {"user_id": ann.id, "favorite_color_id": blue.id, "palette_id": 2},
            {"user_id": ann.id, "favorite_color_id": green.id, "palette_id": 1},
            {"user_id": bob.id, "favorite_color_id": blue.id, "palette_id": 1},
        ])
        found = await ann.favorite_colors.get(join_where=["palette_id = ?", 1])
        self.assertEqual(sorted(c.id for c in found), sorted([red.id, green.id]))
        found = await ann.favorite_colors.get(
            join_where=["palette_id = ?", 1], where=["name = ?", "green"])
        self.assertEqual([c.id for c in found], [green.id])
        self.assertEqual(await ann.favorite_colors.count(join_where=["palette_id = ?", 2]), 1)

    async def test_count(self) -> None:
        """
        C{count()} counts the owner's related objects, with an optional where.
        """
        ann = await User(first_name="Ann").save()
        bob = await User(first_name="Bob").save()
        red, blue, green = await self.makeColors("red", "blue", "green")
        await ann.favorite_colors.set([red, blue, green])
        await bob.favorite_colors.set([blue])
        self.assertEqual(await ann.favorite_colors.count(), 3)
        self.assertEqual(await bob.favorite_colors.count(), 1)
        self.assertEqual(await ann.favorite_colors.count(where=["name <> ?", "red"]), 2)

    async def test_set(self) -> None:
        """
        C{set(objects)} makes exactly those the related objects, leaving
        other owners' join rows alone.
        """
        ann = await User(first_name="Ann").save()
        bob = await User(first_name="Bob").save()
        red, blue, green = await self.makeColors("red", "blue", "green")
        await ann.favorite_colors.set([red, blue])
        await bob.favorite_colors.set([red])
        await ann.favorite_colors.set([blue, green])
        self.assertEqual(
            await self.joinPairs("favorite_colors_users", "user_id", "favorite_color_id"),
            {(ann.id, blue.id), (ann.id, green.id), (bob.id, red.id)},
        )

    async def test_setDuplicates(self) -> None:
        """
        An object given twice to C{set()} is joined once.
        """
        ann = await User(first_name="Ann").save()
        red, blue = await self.makeColors("red", "blue")
        await ann.favorite_colors.set([red, blue, red, red])
        rows = await self.rows("favorite_colors_users")
        self.assertEqual(len(rows), 2)
        self.assertEqual(await ann.favorite_colors.count(), 2)

    async def test_setUnsaved(self) -> None:
        """
        C{set()} with an unsaved object raises L{ReferenceNotSavedError} and
        leaves the join table as it was.
        """
        ann = await User(first_name="Ann").save()
        red, blue = await self.makeColors("red", "blue")
        await ann.favorite_colors.set([red])
        with self.assertRaises(ReferenceNotSavedError):
            await ann.favorite_colors.set([blue, FavoriteColor(name="new")])
        self.assertEqual(
            await self.joinPairs("favorite_colors_users", "user_id", "favorite_color_id"),
            {(ann.id, red.id)},
        )
        self.assertEqual(await FavoriteColor.count(), 2)

    async def test_clear(self) -> None:
        """
        C{clear()} removes the owner's join rows only; the related objects
        stay.
        """
        ann = await User(first_name="Ann").save()
        bob = await User(first_name="Bob").save()
        red, blue = await self.makeColors("red", "blue")
        await ann.favorite_colors.set([red, blue])
        await bob.favorite_colors.set([blue])
        await ann.favorite_colors.clear()
        self.assertEqual(await ann.favorite_colors.get(), [])
        self.assertEqual(
            await self.joinPairs("favorite_colors_users", "user_id", "favorite_color_id"),
            {(bob.id, blue.id)},
        )
        self.assertEqual(await FavoriteColor.count(), 2)

    async def test_deleteOwnerCleansJoinRows(self) -> None:
        """
        Deleting an object deletes its join rows, not the others'.
        """
        ann = await User(first_name="Ann").save()
        bob = await User(first_name="Bob").save()
        red, blue = await self.makeColors("red", "blue")
        await ann.favorite_colors.set([red, blue])
        await bob.favorite_colors.set([red])
        annId = ann.id
        await ann.delete()
        self.assertEqual(
            await self.joinPairs("favorite_colors_users", "user_id", "favorite_color_id"),
            {(bob.id, red.id)},
        )
        self.assertIsNone(await User.find(annId))

    async def test_deleteOtherSideCleansJoinRows(self) -> None:
        """
        Deleting an object of the other side (which declares the HABTM too)
        deletes its join rows.
        """
        ann = await User(first_name="Ann").save()
        bob = await User(first_name="Bob").save()
        red, blue = await self.makeColors("red", "blue")
        await ann.favorite_colors.set([red, blue])
        await bob.favorite_colors.set([red])
        await red.delete()
        self.assertEqual(
            await self.joinPairs("favorite_colors_users", "user_id", "favorite_color_id"),
            {(ann.id, blue.id)},
        )
        self.assertEqual([c.id for c in await ann.favorite_colors.get()], [blue.id])

    async def test_deleteTargetOfOneSidedHABTM(self) -> None:
        """
        Deleting an object whose class declares no HABTM, but is the target
        of another class's, deletes the join rows that name it (so that a
        later object given the same id does not inherit them).
        """
        article = await Article(title="a").save()
        first, second = await Label(name="first").save(), await Label(name="second").save()
        await article.labels.set([first, second])
        await first.delete()
        self.assertEqual(
            await self.joinPairs("posts_categories", "blogpost_id", "category_id"),
            {(article.id, second.id)},
        )
        self.assertEqual([label.id for label in await article.labels.get()], [second.id])

    async def test_deleteIgnoresMissingJoinTablesOfOthers(self) -> None:
        """
        A HABTM of another class that points at this one, whose join table
        does not exist (or lacks the column), does not stop a delete.
        """

        class Stray(DBObject):
            TABLENAME = "boys"
            HABTM = [{"name": "girls", "join_table": "no_such_join_table"},
                     {"name": "lasses", "class_name": "Girl", "join_table": "posts_categories"}]

        Registry.register(Stray)
        self.addCleanup(Registry.REGISTRATION.pop, "Stray")
        girl = await Girl(name="g").save()
        await girl.delete()
        self.assertEqual(await Girl.count(), 0)

    async def test_customJoinTable(self) -> None:
        """
        C{join_table} names the join table, used from both sides, and
        deleting an owner cleans it.
        """
        post = await Blogpost(title="t").save()
        news = await Category(name="news").save()
        tech = await Category(name="tech").save()
        await post.categories.set([news, tech])
        self.assertEqual(
            await self.joinPairs("posts_categories", "blogpost_id", "category_id"),
            {(post.id, news.id), (post.id, tech.id)},
        )
        self.assertEqual(await self.rows("favorite_colors_users"), [])
        self.assertEqual(sorted(c.name for c in await post.categories.get()), ["news", "tech"])
        self.assertEqual([p.id for p in await tech.blogposts.get()], [post.id])
        await news.delete()
        self.assertEqual(
            await self.joinPairs("posts_categories", "blogpost_id", "category_id"),
            {(post.id, tech.id)},
        )
        await post.delete()
        self.assertEqual(await self.rows("posts_categories"), [])

    async def test_foreignKeyOptions(self) -> None:
        """
        C{class_name}, C{foreign_key} and C{association_foreign_key} replace
        the conventions (which would give C{Label}'s C{label_id} and
        C{article_id}, columns that do not exist).
        """
        article = await Article(title="t").save()
        label = await Label(name="l").save()
        await Label(name="unused").save()
        await article.labels.set([label])
        self.assertEqual(
            await self.joinPairs("posts_categories", "blogpost_id", "category_id"),
            {(article.id, label.id)},
        )
        found = await article.labels.get()
        self.assertEqual([c.id for c in found], [label.id])
        self.assertIsInstance(found[0], Label)
        self.assertEqual(await article.labels.count(), 1)


class PolymorphicTests(RelationshipTestCase):
    """
    Tests for polymorphic relationships: C{as} on a has-many and
    C{polymorphic} on a belongs-to.
    """

    async def makeTwins(self) -> tuple[Boy, Girl]:
        """
        @return: a boy and a girl with the same id.
        """
        await self.config.insert("boys", {"id": SHARED_ID, "name": "Al"})
        await self.config.insert("girls", {"id": SHARED_ID, "name": "Bea"})
        boy = await Boy.find(SHARED_ID)
        girl = await Girl.find(SHARED_ID)
        self.assertEqual(boy.id, girl.id)
        return boy, girl

    async def test_getDoesNotMix(self) -> None:
        """
        The nicknames of a boy and of a girl with the same id do not mix.
        """
        boy, girl = await self.makeTwins()
        bn = await Nickname(value="b", nicknameable_id=boy.id, nicknameable_type="Boy").save()
        gn = await Nickname(value="g", nicknameable_id=girl.id, nicknameable_type="Girl").save()
        self.assertEqual([n.id for n in await boy.nicknames.get()], [bn.id])
        self.assertEqual([n.id for n in await girl.nicknames.get()], [gn.id])
        self.assertEqual(await boy.nicknames.count(), 1)

    async def test_belongsToGet(self) -> None:
        """
        C{get()} on the nickname resolves the class by the stored type name.
        """
        boy, girl = await self.makeTwins()
        bn = await Nickname(value="b", nicknameable_id=boy.id, nicknameable_type="Boy").save()
        gn = await Nickname(value="g", nicknameable_id=girl.id, nicknameable_type="Girl").save()
        owner = await bn.nicknameable.get()
        self.assertIsInstance(owner, Boy)
        self.assertEqual(owner.name, "Al")
        owner = await gn.nicknameable.get()
        self.assertIsInstance(owner, Girl)
        self.assertEqual(owner.name, "Bea")
        orphan = await Nickname(value="o").save()
        self.assertIsNone(await orphan.nicknameable.get())

    async def test_hasManySet(self) -> None:
        """
        C{set()} on a polymorphic has-many stores the owner's id and class
        name, and unlinks only the owner's own nicknames.
        """
        boy, girl = await self.makeTwins()
        old = await Nickname(value="old", nicknameable_id=boy.id, nicknameable_type="Boy").save()
        gn = await Nickname(value="g", nicknameable_id=girl.id, nicknameable_type="Girl").save()
        new = await Nickname(value="new").save()
        await boy.nicknames.set([new])
        row = await self.config.select("nicknames", id=new.id)
        self.assertEqual((row["nicknameable_id"], row["nicknameable_type"]), (boy.id, "Boy"))
        row = await self.config.select("nicknames", id=old.id)
        self.assertIsNone(row["nicknameable_id"])
        row = await self.config.select("nicknames", id=gn.id)
        self.assertEqual((row["nicknameable_id"], row["nicknameable_type"]), (girl.id, "Girl"))
        self.assertEqual([n.id for n in await boy.nicknames.get()], [new.id])

    async def test_hasManyClear(self) -> None:
        """
        C{clear()} on a polymorphic has-many leaves the same-id owner of the
        other class alone.
        """
        boy, girl = await self.makeTwins()
        await Nickname(value="b", nicknameable_id=boy.id, nicknameable_type="Boy").save()
        gn = await Nickname(value="g", nicknameable_id=girl.id, nicknameable_type="Girl").save()
        await boy.nicknames.clear()
        self.assertEqual(await boy.nicknames.get(), [])
        self.assertEqual([n.id for n in await girl.nicknames.get()], [gn.id])

    async def test_belongsToSetAndClear(self) -> None:
        """
        C{set(obj)} on a polymorphic belongs-to stores the id and class name
        of C{obj}; C{clear()} stores NULL in both.
        """
        boy, girl = await self.makeTwins()
        nickname = await Nickname(value="n").save()
        await nickname.nicknameable.set(girl)
        row = await self.config.select("nicknames", id=nickname.id)
        self.assertEqual((row["nicknameable_id"], row["nicknameable_type"]), (girl.id, "Girl"))
        self.assertEqual([n.id for n in await girl.nicknames.get()], [nickname.id])
        self.assertEqual(await boy.nicknames.get(), [])
        await nickname.nicknameable.set(boy)
        self.assertIsInstance(await nickname.nicknameable.get(), Boy)
        await nickname.nicknameable.clear()
        row = await self.config.select("nicknames", id=nickname.id)
        self.assertEqual((row["nicknameable_id"], row["nicknameable_type"]), (None, None))
        self.assertIsNone(await nickname.nicknameable.get())

    async def test_belongsToSetUnregistered(self) -> None:
        """
        A polymorphic belongs-to refuses an object of a class that is not
        registered (it could not be found again by its name), or that is
        not a model object, and stores nothing.
        """

        class Stray(DBObject):
            TABLENAME = "boys"

        stray = await Stray(name="s").save()
        nickname = await Nickname(value="n").save()
        for bad in (stray, None, "Boy"):
            with self.assertRaises(TypeError):
                await nickname.nicknameable.set(bad)
        row = await self.config.select("nicknames", id=nickname.id)
        self.assertEqual((row["nicknameable_id"], row["nicknameable_type"]), (None, None))


class LoadRelationsTests(RelationshipTestCase):
    """
    Tests for L{DBObject.loadRelations}.
    """

    async def test_named(self) -> None:
        """
        C{loadRelations(*names)} gives the C{get()} result of the named
        relationships only.
        """
        user = await User(first_name="Ann").save()
        picture = await Picture(name="p", user_id=user.id).save()
        avatar = await Avatar(name="a", user_id=user.id).save()
        loaded = await user.loadRelations("pictures", "avatar")
        self.assertEqual(set(loaded), {"pictures", "avatar"})
        self.assertEqual([p.id for p in loaded["pictures"]], [picture.id])
        self.assertEqual(loaded["avatar"].id, avatar.id)

    async def test_all(self) -> None:
        """
        C{loadRelations()} with no names loads every relationship.
        """
        user = await User(first_name="Ann").save()
        picture = await Picture(name="p", user_id=user.id).save()
        red = await FavoriteColor(name="red").save()
        await user.favorite_colors.set([red])
        loaded = await user.loadRelations()
        self.assertEqual(set(loaded), {"pictures", "avatar", "favorite_colors"})
        self.assertEqual([p.id for p in loaded["pictures"]], [picture.id])
        self.assertIsNone(loaded["avatar"])
        self.assertEqual([c.id for c in loaded["favorite_colors"]], [red.id])

    async def test_unknownName(self) -> None:
        """
        A name that is not a relationship raises L{InvalidRelationshipError}
        naming it.
        """
        user = await User(first_name="Ann").save()
        with self.assertRaises(InvalidRelationshipError) as caught:
            await user.loadRelations("pictures", "nope")
        self.assertIn("'nope'", str(caught.exception))


class DeclarationTests(RelationshipTestCase):
    """
    Tests for how relationships are declared and installed on a class.
    """

    def test_unsavedOwner(self) -> None:
        """
        Using any relationship of an unsaved object raises
        L{ReferenceNotSavedError}.
        """
        for owner, name in [(User(), "pictures"), (User(), "avatar"), (Picture(), "user"),
                            (User(), "favorite_colors"), (Nickname(), "nicknameable")]:
            with self.assertRaises(ReferenceNotSavedError):
                getattr(owner, name).get()

    def test_missingName(self) -> None:
        """
        A dict declaration without C{name} raises L{InvalidRelationshipError}
        when the class is defined.
        """
        with self.assertRaises(InvalidRelationshipError):

            class Broken(DBObject):
                TABLENAME = "users"
                HASMANY = [{"class_name": "Picture"}]

    async def test_misspeltForeignKey(self) -> None:
        """
        A foreign key option naming no column makes C{get()} and C{count()}
        fail with a database error, on every database (on SQLite too, where
        a double-quoted unknown name would silently be a string).
        """
        klass = type("Typo", (DBObject,), {
            "TABLENAME": "users",
            "HASMANY": [{"name": "pictures", "class_name": "Picture", "foreign_key": "usr_id"}],
        })
        user = await klass(first_name="Ann").save()
        await Picture(name="p", user_id=user.id).save()
        with self.assertRaises(DatabaseError):
            await user.pictures.get()
        with self.assertRaises(DatabaseError):
            await user.pictures.count()

    def test_malformedLists(self) -> None:
        """
        A declaration that is a single name or dict instead of a list, a
        name declared twice, or a name that would hide a L{DBObject} method
        raises L{InvalidRelationshipError} when the class is defined.
        """
        for kind, declarations in [
            ("HASMANY", "pictures"), ("BELONGSTO", {"name": "user"}),
            ("HASMANY", ["pictures", {"name": "pictures"}]), ("HASMANY", ["count"]),
            ("HABTM", ["save"]), ("HASONE", [{"name": "errors"}]),
        ]:
            with self.assertRaises(InvalidRelationshipError):
                type("Broken", (DBObject,), {"TABLENAME": "users", kind: declarations})
        with self.assertRaises(InvalidRelationshipError):
            type("Broken", (DBObject,), {
                "TABLENAME": "users", "HASMANY": ["pictures"], "HABTM": ["pictures"],
            })

    async def test_unregisteredClass(self) -> None:
        """
        A relationship to a class that was never registered fails with
        L{ClassNotRegisteredError} naming that class.
        """

        class Ghost(DBObject):
            TABLENAME = "users"
            HASMANY = ["widgets"]

        ghost = await Ghost(first_name="Ann").save()
        with self.assertRaises(ClassNotRegisteredError) as caught:
            await ghost.widgets.get()
        self.assertIn("Widget", str(caught.exception))

    def test_descriptor(self) -> None:
        """
        A relationship name is a descriptor on the class (read from the class
        it is the descriptor itself), and DBObject has no
        C{__getattribute__} override.
        """
        self.assertIsInstance(vars(User)["pictures"], RelationshipDescriptor)
        self.assertIsInstance(User.pictures, RelationshipDescriptor)  # type: ignore[attr-defined]
        self.assertIsInstance(vars(Nickname)["nicknameable"], RelationshipDescriptor)
        self.assertNotIn("__getattribute__", vars(DBObject))
        self.assertIs(type(User).__getattribute__, type.__getattribute__)

    async def test_reassign(self) -> None:
        """
        Assigning a new list to C{HASMANY} after the class was created
        installs the new relationship.
        """

        class Roster(DBObject):
            TABLENAME = "users"

        self.assertFalse(hasattr(Roster, "photos"))
        Roster.HASMANY = [{"name": "photos", "class_name": "Picture", "foreign_key": "user_id"}]
        self.assertIsInstance(vars(Roster)["photos"], RelationshipDescriptor)
        member = await Roster(first_name="Ann").save()
        picture = await Picture(name="p", user_id=member.id).save()
        self.assertEqual([p.id for p in await member.photos.get()], [picture.id])
        Roster.HASMANY = []
        self.assertNotIn("photos", vars(Roster))
        self.assertEqual(Roster._relationships, {})
