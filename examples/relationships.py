#!/usr/bin/env python3
"""
Relationships: has-many, has-one, belongs-to, has-and-belongs-to-many and
polymorphic ones.

Run it with C{python examples/relationships.py} (SQLite in a temporary
directory). The test suite runs L{run} against every test database.
"""

from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.registry import Registry

from support import recreateTables, sqliteMain


class User(DBObject):
    TABLENAME = "rel_users"
    HASMANY = [
        "pictures",                                 # Picture, rel_pictures.user_id
        {"name": "nicknames", "as": "nicknameable"},  # polymorphic, see Nickname
    ]
    HASONE = ["avatar"]                             # Avatar, rel_avatars.user_id
    HABTM = [
        # Color objects through the join table rel_colors_users
        # (columns user_id and color_id).
        {"name": "colors", "join_table": "rel_colors_users"},
    ]


class Picture(DBObject):
    TABLENAME = "rel_pictures"
    BELONGSTO = ["user"]                            # User, rel_pictures.user_id
    HASMANY = [{"name": "nicknames", "as": "nicknameable"}]


class Avatar(DBObject):
    TABLENAME = "rel_avatars"
    BELONGSTO = ["user"]


class Color(DBObject):
    TABLENAME = "rel_colors"
    HABTM = [{"name": "users", "join_table": "rel_colors_users"}]


class Nickname(DBObject):
    TABLENAME = "rel_nicknames"
    # nicknameable_id names a row, nicknameable_type the class of its model.
    BELONGSTO = [{"name": "nicknameable", "polymorphic": True}]


Registry.register(User, Picture, Avatar, Color, Nickname)


# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "rel_users": "id {pk}, name VARCHAR(255)",
    "rel_pictures": "id {pk}, name VARCHAR(255), user_id INTEGER",
    "rel_avatars": "id {pk}, name VARCHAR(255), user_id INTEGER",
    "rel_colors": "id {pk}, name VARCHAR(255)",
    "rel_colors_users": "color_id INTEGER, user_id INTEGER",
    "rel_nicknames": "id {pk}, value VARCHAR(255),"
                     " nicknameable_id INTEGER, nicknameable_type VARCHAR(255)",
}


def names(objects):
    return sorted(obj.name for obj in objects)


async def run(echo=print):
    """
    Use each kind of relationship on the database of C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)
    alice = await User(name="Alice").save()
    bob = await User(name="Bob").save()

    echo("-- has many / belongs to")
    beach = await Picture(name="beach", user_id=alice.id).save()
    hills = await Picture(name="hills").save()
    await hills.user.set(alice)                     # sets user_id and saves
    echo(f"Alice's pictures: {names(await alice.pictures.get())}")
    echo(f"named 'hills': {names(await alice.pictures.get(where=['name = ?', 'hills']))}")
    echo(f"Alice has {await alice.pictures.count()} pictures")
    owner = await beach.user.get()
    echo(f"beach belongs to {owner.name}")
    await alice.pictures.set([beach])               # hills is unlinked
    echo(f"after set([beach]): {names(await alice.pictures.get())}")
    await hills.refresh()
    echo(f"hills.user_id is now {hills.user_id}")

    echo("-- has one")
    await alice.avatar.set(Avatar(name="smiley"))   # saves the avatar
    avatar = await alice.avatar.get()
    echo(f"Alice's avatar: {avatar.name}")
    echo(f"Bob's avatar: {await bob.avatar.get()}")

    echo("-- has and belongs to many")
    red = await Color(name="red").save()
    blue = await Color(name="blue").save()
    await alice.colors.set([red, blue])
    await bob.colors.set([blue])
    echo(f"Alice likes {names(await alice.colors.get())}")
    echo(f"blue is liked by {names(await blue.users.get())}")
    echo(f"Bob likes {await bob.colors.count()} color(s)")
    await alice.colors.clear()
    echo(f"after clear(): Alice likes {names(await alice.colors.get())}")

    echo("-- polymorphic")
    await Nickname(value="Al", nicknameable_id=alice.id, nicknameable_type="User").save()
    sunny = await Nickname(value="Sunny").save()
    await beach.nicknames.set([sunny])  # sets nicknameable_id and nicknameable_type
    echo(f"Alice's nicknames: {[nick.value for nick in await alice.nicknames.get()]}")
    echo(f"the picture's nicknames: {[nick.value for nick in await beach.nicknames.get()]}")
    target = await sunny.nicknameable.get()
    echo(f"Sunny names the {type(target).__name__} {target.name!r}")

    echo("-- loadRelations")
    loaded = await alice.loadRelations("pictures", "avatar")
    echo(f"loaded: pictures={names(loaded['pictures'])}, avatar={loaded['avatar'].name}")


main = sqliteMain(run, "relationships")


if __name__ == "__main__":
    task.react(main)
