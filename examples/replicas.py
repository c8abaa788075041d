#!/usr/bin/env python3
"""
Read replicas: reads outside transactions go to a replica, a read after
a write of the same context sees that write, C{using(primary=True)},
C{onPrimary()} and transactions read from the primary, and a replica that
is down is skipped.

The replicas here are stand-ins, so that the example runs on any
PostgreSQL or MariaDB server: a second pool on the same database (always
caught up, as a replica would be after a while) and a pool aimed at a port
where nothing listens (a replica that is down). SQLite has no replicas:
run as a script (C{python examples/replicas.py}, on SQLite in a temporary
directory) it says so. The test suite runs L{run} against every test
database.
"""

import time

from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.exceptions import TwistarError
from twistar.registry import Registry
from twistar.replicas import onPrimary
from twistar.utils import transaction

from support import recreateTables, secondPool, sqliteMain, unreachablePool

# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {"rep_authors": "id {pk}, name VARCHAR(255)"}


class Author(DBObject):
    TABLENAME = "rep_authors"


Registry.register(Author)


async def run(echo=print):
    """
    Give C{Registry.DBPOOL}'s database a replica and read from it.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)
    ann = await Author(name="Ann").save()
    echo("-- a replica")
    replicaPool = secondPool()
    try:
        Registry.addReplica(replicaPool, maxLag=10.0)
    except TwistarError as e:
        echo(f"no replica: {e}")
        replicaPool.close()
        return
    try:
        await readFromReplicas(echo, ann, replicaPool)
    finally:
        for replica in Registry.replicasOf().replicas:
            Registry.removeReplica(replica.pool)
            replica.pool.close()


async def readFromReplicas(echo, ann, replicaPool):
    replica = Registry.replicasOf().replicas[0]
    found = await Author.find(ann.id)
    echo(f"found {found.name}; reads on the replica: {replica.reads}")

    ann.name = "Anna"
    await ann.save()  # this context now waits for replicas to replay this write
    found = await Author.find(ann.id)
    echo(f"after the save: {found.name}; reads on the replica: {replica.reads}")

    echo("-- the primary")
    await Author.using(primary=True).find(ann.id)
    with onPrimary():
        await Author.count()
    async with transaction():
        await Author.find(ann.id)
    echo(f"reads on the replica: {replica.reads}")

    echo("-- the low-level API")
    config = Registry.getConfig()
    await config.select("rep_authors", id=ann.id)  # a read: on a replica
    await config.execute("SELECT COUNT(*) FROM rep_authors")  # raw SQL: on the primary
    await Registry.getConfig(primary=True).count("rep_authors")
    echo(f"reads on the replica: {replica.reads}")

    echo("-- a replica that is down")
    Registry.removeReplica(replicaPool)
    replicaPool.close()
    Registry.addReplica(unreachablePool(), retryAfter=60.0)
    down = Registry.replicasOf().replicas[0]
    found = await Author.find(ann.id)  # tried on the replica, then read on the primary
    echo(f"found {found.name}; the replica is skipped for a minute: "
         f"{not down.usable(time.monotonic() + 59)}")


main = sqliteMain(run, "replicas")


if __name__ == "__main__":
    task.react(main)
