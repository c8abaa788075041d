#!/usr/bin/env python3
"""
The quick start again, in the classic Twisted style: every twistar call
returns a L{Deferred}, and the next step is a callback added to it.

Run it with C{python examples/callbacks.py} (SQLite in a temporary
directory). The test suite runs L{run} against every test database.
"""

from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.registry import Registry

from support import recreateTables, sqliteMain


class User(DBObject):
    TABLENAME = "cb_users"
    HASMANY = ["pictures"]


class Picture(DBObject):
    TABLENAME = "cb_pictures"
    BELONGSTO = ["user"]


User.validatesPresenceOf("first_name")
Registry.register(User, Picture)


# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "cb_users": "id {pk}, first_name VARCHAR(255), last_name VARCHAR(255), age INTEGER",
    "cb_pictures": "id {pk}, name VARCHAR(255), user_id INTEGER",
}


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

    d = recreateTables(TABLES)
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


main = sqliteMain(run, "callbacks")


if __name__ == "__main__":
    task.react(main)
