#!/usr/bin/env python3
"""
Models and finders in more detail: table names, every finder, partial
updates, refresh, toHash, upsert, deleteAll, optimistic locking,
timestamps and primary keys.

Run it with C{python examples/models.py} (SQLite in a temporary
directory). The test suite runs L{run} against every test database.
"""

import uuid

from twisted.internet import task

from twistar.dbobject import DBObject
from twistar.exceptions import StaleObjectError
from twistar.registry import Registry

from support import recreateTables, sqliteMain


class Book(DBObject):
    TABLENAME = "mo_books"
    # Annotated columns: a type checker knows them (the others are Any).
    title: str | None
    year: int | None

    def afterInit(self):
        # Runs for every object built from a query result.
        self.loadedFromDatabase = True


class FavoriteBook(DBObject):
    pass  # no TABLENAME: the table is "favorite_books"


Registry.register(Book, FavoriteBook)


class Stock(DBObject):
    TABLENAME = "mo_stock"  # isbn is UNIQUE


Registry.register(Stock)


class Page(DBObject):
    TABLENAME = "mo_pages"
    LOCK_VERSION = "lock_version"  # an integer column


Registry.register(Page)


class Post(DBObject):
    TABLENAME = "mo_posts"
    TIMESTAMPS = True  # columns created_at and updated_at


Registry.register(Post)


class Film(DBObject):
    TABLENAME = "mo_films"
    PRIMARY_KEY = "code"  # a text key the application makes
    KEY_GENERATOR = lambda: uuid.uuid4().hex  # noqa: E731


class Seat(DBObject):
    TABLENAME = "mo_seats"
    PRIMARY_KEY = ("hall", "number")  # a composite key


Registry.register(Film, Seat)


# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "mo_books": "id {pk}, title VARCHAR(255), author VARCHAR(255), year INTEGER,"
                " genre VARCHAR(255)",
    "mo_stock": "id {pk}, isbn VARCHAR(20) UNIQUE, title VARCHAR(255), copies INTEGER",
    "mo_pages": "id {pk}, body VARCHAR(255), lock_version INTEGER",
    # NULL: no automatic default on MySQL, which has no TIMESTAMP type alike.
    "mo_posts": "id {pk}, title VARCHAR(255), created_at TIMESTAMP(6) NULL,"
                " updated_at TIMESTAMP(6) NULL",
    "mo_films": "code VARCHAR(32) PRIMARY KEY, title VARCHAR(255)",
    "mo_seats": "hall INTEGER, number INTEGER, label VARCHAR(20), PRIMARY KEY (hall, number)",
}


async def run(echo=print):
    """
    Use the finders and the object methods on the database of
    C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)

    echo("-- table names")
    echo(f"Book: {Book.tablename()}, FavoriteBook: {FavoriteBook.tablename()}")

    echo("-- saving")
    dune = Book(title="Dune", author="Herbert", year=1965, genre="sf", rating=5)
    echo(f"before save: id={dune.id}")
    await dune.save()  # rating is no column: it stays on the object, unsaved
    echo(f"after save: id is set: {dune.id is not None}; rating={dune.rating}")
    for title, author, year, genre in [
        ("Emma", "Austen", 1815, "novel"),
        ("Persuasion", "Austen", 1817, "novel"),
        ("Foundation", "Asimov", 1951, "sf"),
        ("Untitled", None, None, None),
    ]:
        await Book(title=title, author=author, year=year, genre=genre).save()

    echo("-- find")
    books = await Book.find(where=["author = ? AND year < ?", "Austen", 1816])
    echo(f"by Austen before 1816: {[book.title for book in books]}")
    latest = await Book.find(where=["year IS NOT NULL"], orderby="year DESC", limit=1)
    echo(f"latest (limit=1 gives one object): {latest.title}")
    page = await Book.find(where=["year IS NOT NULL"], orderby="year", limit=(2, 1))
    echo(f"(limit, offset)=(2, 1): {[book.title for book in page]}")
    echo(f"find of a missing id: {await Book.find(-1)}")
    echo(f"afterInit ran: {latest.loadedFromDatabase}")

    echo("-- findBy, findOrCreate, all, count, exists")
    echo(f"findBy(genre='sf'): {sorted(book.title for book in await Book.findBy(genre='sf'))}")
    echo(f"findBy(author=None): {[book.title for book in await Book.findBy(author=None)]}")
    emma = await Book.findOrCreate(title="Emma", author="Austen")
    created = await Book.findOrCreate(title="Ulysses", author="Joyce")
    echo(f"findOrCreate found Emma ({emma.year}); created Ulysses: {created.id is not None}")
    echo(f"all: {len(await Book.all())} books")
    echo(f"count(where=...): {await Book.count(['author = ?', 'Austen'])}")
    echo(f"exists(where=...): {await Book.exists(['author = ?', 'Tolkien'])}")

    echo("-- updating, refresh and toHash")
    emma.year = 1816  # only the changed column is written
    await emma.save()
    copy = await Book.find(emma.id)
    copy.genre = "classic"
    await copy.save()
    await emma.refresh()
    echo(f"after refresh: {emma.toHash(['title', 'year', 'genre'])}")
    echo(f"same row, equal objects: {emma == copy}")

    echo("-- upsert")
    await Stock(isbn="0441013597", title="Dune", copies=1).save()
    arrivals = [
        Stock(isbn="0441013597", title="Dune", copies=3),  # the row exists: updated
        Stock(isbn="0553293354", title="Foundation", copies=2),  # inserted
    ]
    await Stock.upsert(arrivals, uniqueBy=["isbn"], update=["copies"])
    echo(f"ids set: {all(s.id is not None for s in arrivals)}; {await Stock.count()} rows")
    echo(f"Dune: {(await Stock.findBy(isbn='0441013597'))[0].copies} copies")
    await Stock.insertOrIgnore([Stock(isbn="0553293354", copies=0)], uniqueBy=["isbn"])
    echo(f"Foundation: {(await Stock.findBy(isbn='0553293354'))[0].copies} copies (ignored)")

    echo("-- updateMany")
    shelf = await Stock.find(orderby="isbn")
    for item in shelf:
        item.copies += 1
    shelf[0].title = "Dune (reissue)"
    await Stock.updateMany(shelf)  # one UPDATE per set of changed columns: two here
    echo(f"copies: {[item.copies for item in await Stock.find(orderby='isbn')]}")

    echo("-- deleting")
    await dune.delete()
    echo(f"deleted: id={dune.id}")
    removed = await Book.deleteAll(where=["author IS NULL"])
    echo(f"deleteAll removed {removed}; {await Book.count()} left")

    echo("-- optimistic locking")
    page = await Page(body="draft").save()
    echo(f"inserted at version {page.lock_version}")
    mine, theirs = await Page.find(page.id), await Page.find(page.id)
    mine.body = "my edit"
    await mine.save()  # ... WHERE id = ? AND lock_version = 0
    echo(f"saved: version {mine.lock_version}")
    theirs.body = "their edit"
    try:
        await theirs.save()
    except StaleObjectError:
        echo(f"stale: {theirs.body!r} not saved, still at version {theirs.lock_version}")
    await theirs.refresh()  # the row's values and version: edit again
    echo(f"refreshed: {theirs.body!r} at version {theirs.lock_version}")
    theirs.body = "their edit, redone"
    await theirs.save()
    echo(f"saved: version {theirs.lock_version}")

    echo("-- timestamps")
    post = await Post(title="hello").save()
    echo(f"inserted: created_at == updated_at: {post.created_at == post.updated_at}")
    post.title = "hello, world"
    await post.save()  # sets updated_at, not created_at
    echo(f"updated: updated_at moved: {post.updated_at != post.created_at}")
    loaded = await Post.find(post.id)
    echo(f"reloaded: equal: {loaded.updated_at == post.updated_at}")
    await loaded.save()  # no change: nothing sent, updated_at kept
    echo(f"unchanged save: updated_at kept: {loaded.updated_at == post.updated_at}")

    echo("-- primary keys")
    film = await Film(title="Alien").save()  # KEY_GENERATOR gives the code
    echo(f"generated code: {len(film.code)} hex digits")
    film.title = "Aliens"
    await film.save()  # loaded or saved: an UPDATE ... WHERE code = ?
    found = await Film.find(film.code)
    echo(f"found by code: {found.title}; equal: {found == film}")
    seat = await Seat(hall=1, number=7, label="aisle").save()
    seat.label = "window"
    await seat.save()  # ... WHERE hall = ? AND number = ?
    again = await Seat.find((1, 7))  # a composite key is found by a tuple
    echo(f"seat {again.hall}/{again.number}: {again.label}")
    echo(f"keys: {await Seat.query().ids()}")


main = sqliteMain(run, "models")


if __name__ == "__main__":
    task.react(main)
