#!/usr/bin/env python3
"""
twistar in one page: define models, save, find, update, follow a
relationship, fail a validation, delete.

Run it with C{make demo} (or C{python examples/quickstart.py}): it uses a
SQLite database in a temporary directory. The test suite
(C{twistar.tests.test_docs}) runs L{run} against SQLite, PostgreSQL and
MariaDB.
"""

import os
import shutil
import tempfile

from twisted.internet import defer, task

import twistar
from twistar.dbobject import DBObject
from twistar.registry import Registry


class User(DBObject):
    # Without TABLENAME the table would be "users"; the examples use their own.
    TABLENAME = "qs_users"
    HASMANY = ["pictures"]  # Picture objects, through qs_pictures.user_id


class Picture(DBObject):
    TABLENAME = "qs_pictures"
    BELONGSTO = ["user"]  # the User named by user_id


User.validatesPresenceOf("first_name")
Registry.register(User, Picture)


# The auto-increment primary key, spelled for each DB-API driver.
PRIMARY_KEY = {
    "sqlite3": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "psycopg2": "SERIAL PRIMARY KEY",
    "psycopg": "SERIAL PRIMARY KEY",
    "MySQLdb": "INTEGER PRIMARY KEY AUTO_INCREMENT",
    "pymysql": "INTEGER PRIMARY KEY AUTO_INCREMENT",
}


async def createTables():
    """
    Drop and create this example's tables with raw SQL.
    """
    config = Registry.getConfig()
    pk = PRIMARY_KEY[Registry.DBPOOL.dbapiName]
    for statement in [
        "DROP TABLE IF EXISTS qs_pictures",
        "DROP TABLE IF EXISTS qs_users",
        f"CREATE TABLE qs_users (id {pk}, first_name VARCHAR(255),"
        f" last_name VARCHAR(255), age INTEGER)",
        f"CREATE TABLE qs_pictures (id {pk}, name VARCHAR(255), user_id INTEGER)",
    ]:
        await config.executeOperation(statement)


async def run(echo=print):
    """
    Walk through the basics on the database of C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    """
    await createTables()

    echo("-- save")
    alice = await User(first_name="Alice", last_name="Smith", age=30).save()
    bob = await User(first_name="Bob", last_name="Jones", age=25).save()
    echo(f"saved {alice.first_name} (id {alice.id}) and {bob.first_name} (id {bob.id})")

    echo("-- find")
    found = await User.find(alice.id)
    echo(f"User.find({alice.id}): {found.first_name} {found.last_name}")
    over26 = await User.find(where=["age > ?", 26], orderby="first_name")
    echo(f"older than 26: {[user.first_name for user in over26]}")
    first = await User.find(orderby="age", limit=1)
    echo(f"youngest: {first.first_name}")

    echo("-- findBy")
    joneses = await User.findBy(last_name="Jones")
    echo(f"findBy(last_name='Jones'): {[user.first_name for user in joneses]}")

    echo("-- update")
    alice.age = 31
    await alice.save()
    again = await User.find(alice.id)
    echo(f"{again.first_name} is now {again.age}")

    echo("-- relationship")
    await Picture(name="beach.jpg", user_id=alice.id).save()
    await Picture(name="mountains.jpg", user_id=alice.id).save()
    pictures = await alice.pictures.get(orderby="name")
    echo(f"{alice.first_name}'s pictures: {[picture.name for picture in pictures]}")
    owner = await pictures[0].user.get()
    echo(f"{pictures[0].name} belongs to {owner.first_name}")

    echo("-- validation")
    nameless = await User(last_name="Doe").save()
    echo(f"saved: {nameless.id is not None}; errors: {nameless.errors}")

    echo("-- delete")
    await bob.delete()
    echo(f"users left: {await User.count()}")


async def main(reactor):
    """
    Run L{run} on a new SQLite database in a temporary directory.
    """
    directory = tempfile.mkdtemp(prefix="twistar-quickstart-")
    # The pool for this URL, made Registry.DBPOOL.
    pool = twistar.connect("sqlite:///" + os.path.join(directory, "quickstart.db"))
    try:
        await run()
    finally:
        pool.close()
        shutil.rmtree(directory)


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
