#!/usr/bin/env python3
"""
Relationships: has-many, has-one, belongs-to, has-and-belongs-to-many,
polymorphic ones, and join models (has-and-belongs-to-many through a model,
has-many through another relationship).

Run it with C{python examples/relationships.py} (SQLite in a temporary
directory). The test suite runs L{run} against every test database.
"""

from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.exceptions import InvalidRelationshipError
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


class Actor(DBObject):
    TABLENAME = "rel_actors"
    HASMANY = ["castings"]                          # Casting, rel_castings.actor_id
    HABTM = [
        # Movie objects through the join model Casting, whose table
        # rel_castings (columns actor_id and movie_id) is the join table.
        {"name": "movies", "through": "Casting"},
    ]


class Movie(DBObject):
    TABLENAME = "rel_movies"
    BELONGSTO = ["studio"]
    HASMANY = [
        "castings",
        # Through this movie's castings to each casting's actor.
        {"name": "actors", "through": "castings"},
    ]


class Casting(DBObject):
    TABLENAME = "rel_castings"                      # also: role, billing
    BELONGSTO = ["actor", "movie"]


class Studio(DBObject):
    TABLENAME = "rel_studios"
    HASMANY = [
        "movies",
        # Through its movies to their actors (a has-many through in turn).
        {"name": "actors", "through": "movies"},
    ]


Registry.register(User, Picture, Avatar, Color, Nickname, Actor, Movie, Casting, Studio)


class Shelf(DBObject):
    TABLENAME = "rel_shelves"
    PRIMARY_KEY = ("room", "number")                # a composite key
    HASMANY = ["boxes"]                             # rel_boxes.shelf_room, .shelf_number


class Box(DBObject):
    TABLENAME = "rel_boxes"
    BELONGSTO = ["shelf"]                           # shelf_room, shelf_number
    # Or name the columns, in the order of the key:
    # BELONGSTO = [{"name": "shelf", "foreign_key": ("room", "shelf_no")}]


Registry.register(Shelf, Box)


# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "rel_users": "id {pk}, name VARCHAR(255)",
    "rel_pictures": "id {pk}, name VARCHAR(255), user_id INTEGER",
    "rel_avatars": "id {pk}, name VARCHAR(255), user_id INTEGER",
    "rel_colors": "id {pk}, name VARCHAR(255)",
    "rel_colors_users": "color_id INTEGER, user_id INTEGER",
    "rel_nicknames": "id {pk}, value VARCHAR(255),"
                     " nicknameable_id INTEGER, nicknameable_type VARCHAR(255)",
    "rel_actors": "id {pk}, name VARCHAR(255)",
    "rel_studios": "id {pk}, name VARCHAR(255)",
    "rel_movies": "id {pk}, title VARCHAR(255), studio_id INTEGER",
    "rel_castings": "id {pk}, actor_id INTEGER, movie_id INTEGER,"
                    " role VARCHAR(255), billing INTEGER",
    "rel_shelves": "room VARCHAR(20), number INTEGER, PRIMARY KEY (room, number)",
    "rel_boxes": "id {pk}, label VARCHAR(255), shelf_room VARCHAR(20), shelf_number INTEGER",
}


def names(objects):
    return sorted(obj.name for obj in objects)


def titles(movies):
    return sorted(movie.title for movie in movies)


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

    echo("-- join models")
    pixar = await Studio(name="Pixar").save()
    up = await Movie(title="Up", studio_id=pixar.id).save()
    cars = await Movie(title="Cars", studio_id=pixar.id).save()
    ann = await Actor(name="Ann").save()
    cy = await Actor(name="Cy").save()
    casting = await ann.movies.add(up, role="lead", billing=1)  # a new Casting, saved
    echo(f"{type(casting).__name__}: {casting.role} in {(await casting.movie.get()).title}")
    await ann.movies.add(cars, role="cameo", billing=3)
    await cy.movies.add(up, role="voice", billing=2)
    echo(f"Ann plays in {titles(await ann.movies.get())}")
    leads = ann.movies.where("rel_castings.role = ?", "lead")
    echo(f"Ann's leads: {titles(await leads.all())}")
    byBilling = ann.movies.order("rel_castings.billing DESC")
    echo(f"by billing, last first: {[movie.title for movie in await byBilling.all()]}")
    cameo = (await Casting.findBy(role="cameo"))[0]  # an ordinary model
    cameo.role = "villain"
    await cameo.save()
    echo(f"Ann's roles: {sorted(c.role for c in await ann.castings.get())}")
    await ann.movies.remove(cars)                   # deletes the linking castings
    echo(f"after remove(cars): {titles(await ann.movies.get())}")
    await ann.movies.set([up, cars])                # keeps Up's casting, adds one
    roles = {c.movie_id: c.role for c in await ann.castings.get()}
    echo(f"after set([up, cars]): Up {roles[up.id]!r}, Cars {roles[cars.id]!r}")

    echo("-- has many through")
    echo(f"Up's cast: {names(await up.actors.get())}")
    voices = up.actors.where("rel_castings.role = ?", "voice")
    echo(f"Up's voices: {names(await voices.all())}")
    echo(f"Pixar's actors: {names(await pixar.actors.get())}")  # Ann twice: two movies
    echo(f"once each: {names(await pixar.actors.distinct().all())}")
    try:
        await up.actors.set([ann])
    except InvalidRelationshipError:
        echo("up.actors is read-only: change the castings")
    actors = await Actor.find(orderby="name", include="movies")  # one query for all
    echo(f"loaded: {[(actor.name, titles(await actor.movies.get())) for actor in actors]}")
    joined = Actor.joins("movies").where("rel_movies.title = ?", "Cars")
    echo(f"in Cars: {names(await joined.all())}")

    echo("-- keys of related models")
    upper = await Shelf(room="attic", number=2).save()
    await Shelf(room="cellar", number=2).save()
    box = await Box(label="photos").save()
    await box.shelf.set(upper)  # sets shelf_room and shelf_number
    echo(f"the box is on {box.shelf_room}/{box.shelf_number}")
    echo(f"on the attic shelf: {[b.label for b in await upper.boxes.get()]}")
    shelf = await box.shelf.get()
    echo(f"the box's shelf: {shelf.room}/{shelf.number}")


main = sqliteMain(run, "relationships")


if __name__ == "__main__":
    task.react(main)
