#!/usr/bin/env python3
"""
Query events on C{twisted.logger} (with a secret column redacted), counting
the queries of a block with C{twistar.testing.queries}, and the strict N+1
mode.

Run it with C{python examples/querylog.py} (SQLite in a temporary
directory). The test suite runs L{run} against every test database.
"""

from twisted.internet import task
from twisted.logger import globalLogPublisher

from twistar.dbconfig.base import InteractionBase
from twistar.dbobject import DBObject
from twistar.exceptions import IntegrityError, NPlusOneError
from twistar.registry import Registry
from twistar.testing import queries, strictNPlusOne

from support import recreateTables, sqliteMain


class Account(DBObject):
    TABLENAME = "ql_accounts"
    SECRET_COLUMNS = ("password",)                  # redacted from query events
    HASMANY = ["visits"]                            # Visit, ql_visits.account_id


class Visit(DBObject):
    TABLENAME = "ql_visits"
    BELONGSTO = ["account"]


Registry.register(Account, Visit)


# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "ql_accounts": "id {pk}, login VARCHAR(255) UNIQUE, password VARCHAR(255)",
    "ql_visits": "id {pk}, page VARCHAR(255), account_id INTEGER",
}


async def run(echo=print):
    """
    Log the statements of a few calls, then count queries and catch N+1
    loading, on the database of C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)
    bob = await Account(login="bob").save()

    echo("-- query events")

    def showQuery(event):
        # Called on the thread that ran the statement.
        if event.get("log_namespace") == "twistar.query":
            verb = event["sql"].split()[0]
            echo(f"{event['log_level'].name}: {verb} args={event['args']} rows={event['rows']}"
                 f" error={type(event['error']).__name__ if event['error'] else None}")

    globalLogPublisher.addObserver(showQuery)
    InteractionBase.QUERY_EVENTS = True
    try:
        ann = await Account(login="ann", password="s3cret").save()
        await Account.findBy(login="ann", password="s3cret")
        try:
            await Account(login="ann").save()
        except IntegrityError:
            echo("IntegrityError: login taken")
    finally:
        InteractionBase.QUERY_EVENTS = False
        globalLogPublisher.removeObserver(showQuery)

    for account, page in [(ann, "/"), (ann, "/help"), (bob, "/")]:
        await Visit(page=page, account_id=account.id).save()

    echo("-- counting queries")
    with queries() as recorded:
        for account in await Account.all():
            await account.visits.get()
    echo(f"one account at a time: {recorded.count} queries")
    with queries() as recorded:
        await Account.all(include=["visits"])
    echo(f"eager loading: {recorded.count} queries")

    echo("-- strict N+1 mode")
    with strictNPlusOne():
        accounts = await Account.all()
        try:
            for account in accounts:
                await account.visits.get()
        except NPlusOneError as e:
            echo(f"NPlusOneError: {e}")
        for account in await Account.all(include=["visits"]):
            await account.visits.get()              # loaded with them: no error
    echo("eager loading passes")


main = sqliteMain(run, "querylog")


if __name__ == "__main__":
    task.react(main)
