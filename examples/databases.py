#!/usr/bin/env python3
"""
Several databases: a model kept in a named database, a model's calls sent
to another database with C{using()}, relationships between models of two
databases, a transaction on a named database and the low-level API of one.

The named database here is a SQLite file in a temporary directory, whatever
the default database is: two databases of different drivers work side by
side. Run it with C{python examples/databases.py} (the default database:
SQLite in a temporary directory too). The test suite runs L{run} against
every test database.
"""

import os
import shutil
import tempfile

from twisted.enterprise import adbapi
from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.exceptions import TwistarError
from twistar.registry import Registry
from twistar.utils import transaction

from support import recreateTables, sqliteMain

# Created by support.recreateTables in the default database.
TABLES = {"db_authors": "id {pk}, name VARCHAR(255)"}

# Created in the archive database, a SQLite file.
ARCHIVE_TABLES = [
    "CREATE TABLE db_authors (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(255))",
    "CREATE TABLE db_log_entries (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " author_id INTEGER, text VARCHAR(255))",
]


class Author(DBObject):
    TABLENAME = "db_authors"
    HASMANY = [{"name": "entries", "class_name": "LogEntry"}]  # db_log_entries.author_id


class LogEntry(DBObject):
    DATABASE = "archive"
    TABLENAME = "db_log_entries"
    BELONGSTO = ["author"]


Registry.register(Author, LogEntry)


async def names(model):
    return [obj.name for obj in await model.find(orderby="id")]


async def run(echo=print):
    """
    Use a second database, named C{"archive"}, beside C{Registry.DBPOOL}'s.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)
    directory = tempfile.mkdtemp(prefix="twistar-archive-")
    try:
        await useArchive(echo, directory)
    finally:
        Registry.removeDatabase("archive")
        shutil.rmtree(directory)


async def useArchive(echo, directory):
    echo("-- a model of a named database")
    try:
        await LogEntry.count()
    except TwistarError as e:
        echo(f"before addDatabase: {e}")
    archive = adbapi.ConnectionPool(
        "sqlite3", os.path.join(directory, "archive.db"), check_same_thread=False
    )
    Registry.addDatabase("archive", archive)
    try:
        await useArchivePool(echo)
    finally:
        archive.close()


async def useArchivePool(echo):
    config = Registry.getConfig("archive")
    for statement in ARCHIVE_TABLES:
        await config.executeOperation(statement)

    ann = await Author(name="Ann").save()
    ben = await Author(name="Ben").save()
    await LogEntry(author_id=ann.id, text="Ann joined").save()
    echo(f"log entries in the archive: {await LogEntry.count()}")

    echo("-- relationships between the two databases")
    entries = await ann.entries.get()
    echo(f"Ann's entries, read from the archive: {[e.text for e in entries]}")
    author = await entries[0].author.get()
    echo(f"their author, read from the default database: {author.name}")

    echo("-- using(): the archive's own db_authors table")
    await Author.using("archive").save(Author(name=ben.name))
    await ben.delete()
    echo(f"authors: {await names(Author)}, archived: {await names(Author.using('archive'))}")
    archived = await Author.using("archive").find(where=["name = ?", "Ben"], limit=1)
    archived.name = "Benjamin"
    await archived.save()  # remembers its database: saved in the archive
    echo(f"authors: {await names(Author)}, archived: {await names(Author.using('archive'))}")

    echo("-- a transaction on the archive")
    try:
        async with transaction(database="archive"):
            await LogEntry(author_id=ann.id, text="Ann left").save()
            await Author(name="Cy").save()  # the default database: not in the transaction
            raise RuntimeError("undo")
    except RuntimeError:
        pass
    echo(f"log entries: {await LogEntry.count()}; authors: {await names(Author)}")

    echo("-- the low-level API of the archive")
    rows = await config.select("db_log_entries", where=["author_id = ?", ann.id])
    echo(f"select: {[row['text'] for row in rows]}")
    counted = await Registry.getConfig("archive").count("db_authors")
    echo(f"archived authors: {counted}")


main = sqliteMain(run, "databases")


if __name__ == "__main__":
    task.react(main)
