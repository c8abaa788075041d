#!/usr/bin/env python3
"""
Queries: C{Model.where(...)} and the other chainable calls, what they find
and the SQL they send.

Run it with C{python examples/queries.py} (SQLite in a temporary directory).
The test suite runs L{run} against every test database.
"""

import re

from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.exceptions import (
    InvalidIdentifierError,
    InvalidQueryError,
    InvalidRelationshipError,
    TransactionError,
)
from twistar.registry import Registry
from twistar.utils import transaction

from support import QueryCounter, recreateTables, sqliteMain


class User(DBObject):
    TABLENAME = "qu_users"
    HASMANY = ["pictures"]                          # Picture, qu_pictures.user_id


class Picture(DBObject):
    TABLENAME = "qu_pictures"
    BELONGSTO = ["user"]                            # User, qu_pictures.user_id


Registry.register(User, Picture)


# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "qu_users": "id {pk}, first_name VARCHAR(255), last_name VARCHAR(255), age INTEGER,"
                " active INTEGER",
    "qu_pictures": "id {pk}, name VARCHAR(255), size INTEGER, user_id INTEGER",
}


def plain(sql):
    """
    @return: C{sql} without identifier quotes and with C{?} placeholders, so
        that it reads the same for every database.
    """
    return re.sub(r"%s", "?", sql.replace('"', "").replace("`", ""))


def firstNames(users):
    return [user.first_name for user in users]


async def run(echo=print):
    """
    Query users and their pictures on the database of C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)
    alice, bob, carol, dave = [
        await User(first_name=first, last_name=last, age=age, active=1).save()
        for first, last, age in [("Alice", "Smith", 30), ("Bob", "Jones", 25),
                                 ("Carol", "Smith", None), ("Dave", "Brown", 40)]
    ]
    await Picture.createMany([
        Picture(name="beach.jpg", size=120, user_id=alice.id),
        Picture(name="mountains.jpg", size=2500, user_id=alice.id),
        Picture(name="cat.jpg", size=800, user_id=bob.id),
        Picture(name="sunset.jpg", size=4000, user_id=dave.id),
    ])

    echo("-- where")
    smiths = User.where(last_name="Smith")
    older = smiths.where("age > ?", 21)             # a new query; smiths is unchanged
    echo(f"Smiths: {firstNames(await smiths.order('first_name').all())}")
    echo(f"Smiths older than 21: {firstNames(await older.all())}")
    echo(f"age 25 or 40: {await User.where(age=[25, 40]).order('age').pluck('first_name')}")
    echo(f"no age: {await User.where(age=None).pluck('first_name')}")
    youngOrUnknown = User.where(age=[25, None]).order("first_name")   # None: IS NULL
    echo(f"age 25 or none: {await youngOrUnknown.pluck('first_name')}")
    echo(f"an empty list matches nothing: {await User.where(age=[]).count()}")
    echo(f"a 2.0 where list: {await User.where(['age < ?', 30]).pluck('first_name')}")
    others = User.whereNot(last_name="Smith").order("first_name")
    echo(f"not Smith: {await others.pluck('first_name')}")
    either = User.where(first_name="Alice") | User.where(age=25)
    echo(f"Alice or 25: {await either.order('first_name').pluck('first_name')}")
    bigPictures = Picture.where("size > ?", 1000).select("user_id")
    owners = User.where(id=bigPictures).order("first_name")
    echo(f"own a picture over 1000: {await owners.pluck('first_name')}")

    echo("-- order, limit, offset")
    byName = User.order("first_name")
    echo(f"second and third: {await byName.limit(2).offset(1).pluck('first_name')}")
    echo(f"reordered: {await byName.reorder('last_name', 'first_name').pluck('first_name')}")
    try:
        byName.limit(-1)
    except InvalidQueryError as e:
        echo(f"limit(-1): InvalidQueryError: {e}")

    echo("-- first, count, exists, pluck, ids")
    youngest = await User.where("age IS NOT NULL").order("age").first()
    first = await User.query().first()              # the lowest id
    echo(f"youngest: {youngest.first_name}; first: {first.first_name}")
    echo(f"nobody is 99: {await User.where(age=99).first()}")
    jones = await User.where(last_name="Jones").exists()
    echo(f"Smiths: {await smiths.count()}; any Jones: {jones}")
    over26 = User.where("age > ?", 26).order("age")
    echo(f"names and ages: {await over26.pluck('first_name', 'age')}")
    ids = await User.order("id").ids()
    echo(f"ids in order: {ids == [alice.id, bob.id, carol.id, dave.id]}")

    echo("-- sum, avg, min, max")
    echo(f"total size: {await Picture.query().sum('size')}")
    echo(f"Alice's: {await Picture.where(user_id=alice.id).sum('size')}")
    echo(f"average age: {float(await User.query().avg('age')):.1f}")
    echo(f"ages from {await User.query().min('age')} to {await User.query().max('age')}")
    echo(f"sum of nothing: {await Picture.where(size=[]).sum('size')}")
    owners = User.joins("pictures").distinct()      # each owner once
    echo(f"ages of the owners: {await owners.sum('age')}; of the pictures' rows: "
         f"{await User.joins('pictures').sum('age')}")

    echo("-- select, group, having, rows")
    bob = await User.select("id", "first_name").where(first_name="Bob").first()
    echo(f"selected: {bob.first_name}; has an age: {hasattr(bob, 'age')}")
    bob.first_name = "Robert"
    await bob.save()                                # writes first_name only
    bob = await User.find(bob.id)
    echo(f"after save: {bob.first_name} {bob.last_name}, {bob.age}")
    perOwner = Picture.joins("user").select("qu_users.first_name", "COUNT(*) AS n").group(
        "qu_users.first_name").order("qu_users.first_name")
    echo(f"pictures per owner: {await perOwner.rows()}")
    echo(f"owners of several: {await perOwner.having('COUNT(*) > ?', 1).rows()}")
    echo(f"last names: {await User.select('last_name').distinct().order('last_name').rows()}")

    echo("-- joins")
    big = User.joins("pictures").where("qu_pictures.size > ?", 1000).distinct()
    echo(f"with a picture over 1000: {firstNames(await big.order('first_name').all())}")
    withPictures = User.joins("pictures")
    echo(f"one row per picture: {await withPictures.count()}, distinct: "
         f"{await withPictures.distinct().count()}")
    lonely = User.leftJoins("pictures").where(**{"qu_pictures.id": None})
    echo(f"no pictures: {await lonely.pluck('first_name')}")
    owned = Picture.joins("user").where(**{"qu_users.last_name": "Smith"}).order("name")
    echo(f"Smiths' pictures: {await owned.pluck('name')}")
    raw = User.joins("JOIN qu_pictures p ON p.user_id = qu_users.id AND p.size < 1000")
    echo(f"raw join: {await raw.order('first_name').pluck('first_name')}")
    try:
        User.joins("friends")
    except InvalidRelationshipError as e:
        echo(f"InvalidRelationshipError: {e}")

    echo("-- includes")
    users = await User.includes("pictures").order("first_name").all()
    for user in users:
        pictures = await user.pictures.get()        # no query: already loaded
        echo(f"{user.first_name}: {sorted(picture.name for picture in pictures)}")
    named = await Picture.select("name", "user_id").includes("user").order("name").all()
    echo(f"owners: {[(p.name, (await p.user.get()).first_name) for p in named]}")

    echo("-- relationships")
    bigOnes = alice.pictures.where("size > ?", 1000).order("name")
    echo(f"Alice's big pictures: {await bigOnes.pluck('name')}")
    echo(f"Alice has {await alice.pictures.query().count()} pictures")

    echo("-- updateAll, deleteAll")
    changed = await User.where("age < ?", 30).updateAll(active=0)
    echo(f"made inactive: {changed}")
    gone = await Picture.where("size < ?", 500).deleteAll()
    echo(f"small pictures deleted: {gone}")

    echo("-- each")
    async for user in User.where(active=1).each(batchSize=2):
        echo(f"active: {user.first_name}")

    echo("-- page")
    page = await User.order("first_name").page(2, perPage=3)
    echo(f"page {page.number} of {page.pages}: {firstNames(page.items)} ({page.total} users)")
    firstThree = User.order("first_name").limit(3)  # pages of these three
    page = await firstThree.page(2, perPage=2)
    echo(f"page {page.number} of {page.pages}: {firstNames(page.items)} ({page.total} users)")

    echo("-- lock")
    async with transaction():
        dave = await User.where(first_name="Dave").lock().first()
        dave.age += 1
        await dave.save()
    echo(f"Dave is now {(await User.find(dave.id)).age}")
    try:
        await User.where(first_name="Dave").lock().first()
    except TransactionError as e:
        echo(f"TransactionError: {e}")

    echo("-- checked names")
    try:
        await User.where(**{"first_name = '' OR 1": 1}).all()
    except InvalidIdentifierError as e:
        echo(f"InvalidIdentifierError: {e}")

    echo("-- the SQL")
    echo(plain(User.where(last_name="Smith").order("age").limit(10).offset(20).toSQL()[0]))
    echo(plain(User.where(age=[25, 40]).whereNot(first_name=None).toSQL()[0]))
    echo(plain(User.where(age=[25, None]).toSQL()[0]))
    echo(plain((User.where(first_name="Alice") | User.where(age=25)).toSQL()[0]))
    echo(plain(User.joins("pictures").select("qu_users.id", "first_name").toSQL()[0]))
    with QueryCounter() as sent:
        await User.where(last_name="Smith").first()
        await User.where(last_name="Smith").count()
        await User.where(last_name="Smith").exists()
        await User.where(last_name="Smith").pluck("first_name")
        await Picture.query().sum("size")
        await User.where(last_name="Smith").updateAll(active=1)
        await User.where(age=None).deleteAll()
    for query in sent.queries:
        echo(plain(query))


main = sqliteMain(run, "queries")


if __name__ == "__main__":
    task.react(main)
