#!/usr/bin/env python3
"""
Eager loading and bulk inserts: C{createMany}, C{find(include=...)},
C{preload}, and the queries they save, counted from twistar's query log.

Run it with C{python examples/eager.py} (SQLite in a temporary directory).
The test suite runs L{run} against every test database.
"""

from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.exceptions import ValidationError
from twistar.registry import Registry

from support import QueryCounter, recreateTables, sqliteMain


class Author(DBObject):
    TABLENAME = "ea_authors"
    HASMANY = ["books"]                             # Book, ea_books.author_id
    HASONE = ["portrait"]                           # Portrait, ea_portraits.author_id
    HABTM = [{"name": "prizes", "join_table": "ea_authors_prizes"}]


class Book(DBObject):
    TABLENAME = "ea_books"
    BELONGSTO = ["author"]


class Portrait(DBObject):
    TABLENAME = "ea_portraits"
    BELONGSTO = ["author"]


class Prize(DBObject):
    TABLENAME = "ea_prizes"


Author.validatesPresenceOf("name")
Registry.register(Author, Book, Portrait, Prize)


# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "ea_authors": "id {pk}, name VARCHAR(255), country VARCHAR(255)",
    "ea_books": "id {pk}, title VARCHAR(255), author_id INTEGER",
    "ea_portraits": "id {pk}, painter VARCHAR(255), author_id INTEGER",
    "ea_prizes": "id {pk}, name VARCHAR(255)",
    "ea_authors_prizes": "author_id INTEGER, prize_id INTEGER",
}


def names(objects, attribute="name"):
    return sorted(getattr(obj, attribute) for obj in objects)


async def run(echo=print):
    """
    Insert authors and their books in bulk, then load them with and without
    eager loading, on the database of C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)

    echo("-- createMany")
    with QueryCounter() as counter:
        authors = await Author.createMany([
            Author(name="Le Guin", country="US"),
            Author(name="Pratchett", country="UK"),
            Author(name="Tolkien", country="UK"),
        ])
    echo(f"{len(authors)} authors in {counter.count('INSERT')} INSERT;"
         f" ids set: {all(author.id is not None for author in authors)}")
    leguin, pratchett, tolkien = authors
    await Book.createMany([
        Book(title="A Wizard of Earthsea", author_id=leguin.id),
        Book(title="The Dispossessed", author_id=leguin.id),
        Book(title="Mort", author_id=pratchett.id),
        Book(title="The Hobbit", author_id=tolkien.id),
        Book(title="The Silmarillion", author_id=tolkien.id),
    ])
    await Portrait.createMany([Portrait(painter="Gray", author_id=tolkien.id)])
    hugo, nebula = await Prize.createMany([Prize(name="Hugo"), Prize(name="Nebula")])
    await leguin.prizes.set([hugo, nebula])
    await pratchett.prizes.set([hugo])
    try:
        await Author.createMany([Author(name="Herbert"), Author(country="FR")])
    except ValidationError as e:
        echo(f"ValidationError: {e}; the invalid one: {e.objects[0].errors}")
    echo(f"still {await Author.count()} authors")

    echo("-- without include: a query per relationship and author")
    with QueryCounter() as counter:
        for author in await Author.find(orderby="name"):
            await author.books.get()
            await author.portrait.get()
            await author.prizes.get()
    echo(f"{counter.count()} queries")

    echo("-- include: a query per relationship")
    with QueryCounter() as counter:
        authors = await Author.find(orderby="name", include=["books", "portrait", "prizes"])
    echo(f"loading: {counter.count()} queries")
    with QueryCounter() as counter:
        for author in authors:
            books = await author.books.get()        # no query: already loaded
            portrait = await author.portrait.get()
            prizes = await author.prizes.get()
            echo(f"{author.name}: {names(books, 'title')},"
                 f" portrait by {portrait.painter if portrait else None}, prizes {names(prizes)}")
    echo(f"reading them: {counter.count()} queries")
    with QueryCounter() as counter:
        # A get() with arguments always queries.
        hobbit = await authors[2].books.get(where=["title LIKE ?", "%Hobbit"])
    echo(f"get(where=...) gives {names(hobbit, 'title')} with {counter.count()} query")

    echo("-- findBy, all and preload")
    british = await Author.findBy(country="UK", include=["books"])
    with QueryCounter() as counter:
        titles = [book.title for author in british for book in await author.books.get()]
    echo(f"British books: {sorted(titles)}, {counter.count()} queries")
    books = await Book.all()
    with QueryCounter() as counter:
        await Book.preload(books, "author")         # one query for all the authors
        owners = {book.title: (await book.author.get()).name for book in books}
    echo(f"{owners['Mort']} wrote Mort; {len(books)} books, {counter.count()} query")

    echo("-- dirty tracking")
    tolkien = await Author.find(tolkien.id)
    with QueryCounter() as counter:
        await tolkien.save()                        # nothing changed: no UPDATE
        tolkien.country = "GB"
        await tolkien.save()                        # UPDATE of country only
    echo(f"two saves, {counter.count('UPDATE')} UPDATE")


main = sqliteMain(run, "eager")


if __name__ == "__main__":
    task.react(main)
