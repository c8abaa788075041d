#!/usr/bin/env python3
"""
Validations and hooks: built-in validators, a custom validator, the
C{errors} of an invalid object, and C{before*} hooks that change or cancel
a save or delete.

Run it with C{python examples/validation.py} (SQLite in a temporary
directory). The test suite runs L{run} against every test database.
"""

from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.registry import Registry

from support import recreateTables, sqliteMain


class Member(DBObject):
    TABLENAME = "val_members"

    def beforeSave(self):
        # Runs before every insert and update (after beforeCreate/beforeUpdate).
        email = getattr(self, "email", None)  # unset attributes do not exist
        if email:
            self.email = email.strip().lower()

    def beforeDelete(self):
        # Returning False cancels the delete.
        return not getattr(self, "admin", False)


Member.validatesPresenceOf("name", "email")
Member.validatesLengthOf("name", range=range(2, 21))
Member.validatesUniquenessOf("email", message="is already registered.")


def emailHasAt(member):
    """
    A custom validator: it adds to C{member.errors} (and may return a Deferred).
    """
    email = getattr(member, "email", None)
    if email and "@" not in email:
        member.errors.add("email", "must contain an @.")


Member.addValidator(emailHasAt)
Registry.register(Member)


# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "val_members": "id {pk}, name VARCHAR(255), email VARCHAR(255), admin BOOLEAN",
}


async def run(echo=print):
    """
    Validate, save and delete members on the database of C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)

    echo("-- a valid member")
    ann = await Member(name="Ann", email="  ANN@example.com ", admin=False).save()
    echo(f"saved: {ann.id is not None}; email stored as {ann.email!r}")

    echo("-- an invalid member is not saved")
    bad = await Member(name="X", email="nowhere").save()
    echo(f"saved: {bad.id is not None}; {len(bad.errors)} error(s)")
    for message in bad.errors.errorsFor("name") + bad.errors.errorsFor("email"):
        echo(f"  {message}")

    echo("-- uniqueness ignores the object's own row")
    clash = Member(name="Annie", email="ann@example.com")
    echo(f"valid: {await clash.isValid()}; errors: {clash.errors}")
    ann.name = "Ann B."
    echo(f"Ann herself, changed: valid {await ann.isValid()}")
    await ann.save()

    echo("-- checking without saving")
    blank = Member()
    await blank.validate()
    echo(f"errors: {dict(blank.errors)}")

    echo("-- a beforeDelete hook that says no")
    root = await Member(name="Root", email="root@example.com", admin=True).save()
    await root.delete()
    echo(f"root still there: {await Member.exists(['id = ?', root.id])}")
    await ann.delete()
    echo(f"members left: {[member.name for member in await Member.all()]}")


main = sqliteMain(run, "validation")


if __name__ == "__main__":
    task.react(main)
