#!/usr/bin/env python3
"""
The quick start again, in the classic Twisted style: every twistar call
returns a L{Deferred}, and the next step is a callback added to it.

Run it with C{python examples/callbacks.py} (SQLite in a temporary
directory). The test suite runs L{run} against every test database.
"""

import os
import shutil
import tempfile

from twisted.enterprise import adbapi
from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.registry import Registry


class User(DBObject):
    TABLENAME = "cb_users"
    HASMANY = ["pictures"]


class Picture(DBObject):
    TABLENAME = "cb_pictures"
    BELONGSTO = ["user"]


User.validatesPresenceOf("first_name")
Registry.register(User, Picture)


PRIMARY_KEY = {
    "sqlite3": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "psycopg2": "SERIAL PRIMARY KEY",
    "psycopg": "SERIAL PRIMARY KEY",
    "MySQLdb": "INTEGER PRIMARY KEY AUTO_INCREMENT",
    "pymysql": "INTEGER PRIMARY KEY AUTO_INCREMENT",
}


def createTables():
    """
    Drop and create this example's tables, one statement after another.

    @return: a L{Deferred} that fires when they exist.
    """
    config = Registry.getConfig()
    pk = PRIMARY_KEY[Registry.DBPOOL.dbapiName]
    statements = [
        "DROP TABLE IF EXISTS cb_pictures",
        "DROP TABLE IF EXISTS cb_users",
        f"CREATE TABLE cb_users (id {pk}, first_name VARCHAR(255),"
        f" last_name VARCHAR(255), age INTEGER)",
        f"CREATE TABLE cb_pictures (id {pk}, name VARCHAR(255), user_id INTEGER)",
    ]
    d = config.executeOperation(statements[0])
    for statement in statements[1:]:
        d.addCallback(lambda _, statement=statement: config.executeOperation(statement))
    return d


def run(echo=print):
    """
    Walk through the basics with callbacks on the database of
    C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    @return: a L{Deferred} that fires when done.
    """
    users = {}

    def saveUsers(_):
        echo("-- save")
        alice = User(first_name="Alice", last_name="Smith", age=30)
        return alice.save().addCallback(savedAlice)

    def savedAlice(alice):
        users["alice"] = alice
        return User(first_name="Bob", last_name="Jones", age=25).save()

    def savedBob(bob):
        users["bob"] = bob
        echo(f"saved Alice (id {users['alice'].id}) and Bob (id {bob.id})")
        echo("-- find")
        return User.find(where=["age > ?", 26], orderby="first_name")

    def foundOlder(found):
        echo(f"older than 26: {[user.first_name for user in found]}")
        echo("-- findBy")
        return User.findBy(last_name="Jones")

    def foundJoneses(joneses):
        echo(f"findBy(last_name='Jones'): {[user.first_name for user in joneses]}")
        echo("-- update")
        alice = users["alice"]
        alice.age = 31
        return alice.save()

    def updated(alice):
        return User.find(alice.id).addCallback(
            lambda again: echo(f"{again.first_name} is now {again.age}")
        )

    def addPicture(_):
        echo("-- relationship")
        return Picture(name="beach.jpg", user_id=users["alice"].id).save()

    def listPictures(_):
        return users["alice"].pictures.get()

    def showPictures(pictures):
        echo(f"Alice's pictures: {[picture.name for picture in pictures]}")

    def failValidation(_):
        echo("-- validation")
        return User(last_name="Doe").save()

    def showErrors(nameless):
        echo(f"saved: {nameless.id is not None}; errors: {nameless.errors}")

    def deleteBob(_):
        echo("-- delete")
        return users["bob"].delete()

    def countUsers(_):
        return User.count().addCallback(lambda count: echo(f"users left: {count}"))

    d = createTables()
    d.addCallback(saveUsers)
    d.addCallback(savedBob)
    d.addCallback(foundOlder)
    d.addCallback(foundJoneses)
    d.addCallback(updated)
    d.addCallback(addPicture)
    d.addCallback(listPictures)
    d.addCallback(showPictures)
    d.addCallback(failValidation)
    d.addCallback(showErrors)
    d.addCallback(deleteBob)
    d.addCallback(countUsers)
    return d


def main(reactor):
    """
    Run L{run} on a new SQLite database in a temporary directory.

    @return: a L{Deferred} that fires when done.
    """
    directory = tempfile.mkdtemp(prefix="twistar-callbacks-")
    Registry.DBPOOL = adbapi.ConnectionPool(
        "sqlite3", os.path.join(directory, "callbacks.db"), check_same_thread=False
    )

    def cleanUp(result):
        Registry.DBPOOL.close()
        shutil.rmtree(directory)
        return result

    return run().addBoth(cleanUp)


if __name__ == "__main__":
    task.react(main)
