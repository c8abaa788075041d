#!/usr/bin/env python3
"""
The low-level SQL API of C{Registry.getConfig()}: select, insert,
insertMany, upsertMany, update, delete and count on plain dicts, raw SQL,
and several statements in one interaction.

Run it with C{python examples/lowlevel.py} (SQLite in a temporary
directory). The test suite runs L{run} against every test database.
"""

from twisted.internet import task

from twistar.registry import Registry

from support import recreateTables, sqliteMain

# Created by support.recreateTables; {pk} is the driver's auto-increment key.
TABLES = {
    "ll_people": "id {pk}, name VARCHAR(255), age INTEGER, city VARCHAR(255)",
    "ll_rates": "currency VARCHAR(3) PRIMARY KEY, rate INTEGER, source VARCHAR(20)",
}


async def run(echo=print):
    """
    Use the low-level API on the database of C{Registry.DBPOOL}.

    @param echo: called with each line of output.
    """
    await recreateTables(TABLES)
    config = Registry.getConfig()

    echo("-- insert and insertMany")
    newId = await config.insert("ll_people", {"name": "Ann", "age": 31, "city": "Oslo"})
    echo(f"inserted Ann with id {newId}")
    await config.insertMany("ll_people", [
        {"name": "Ben", "age": 45, "city": "Rome"},
        {"name": "Cy", "age": 17, "city": "Oslo"},
        {"name": "Di", "age": 62},  # a missing key inserts NULL
    ])
    echo(f"rows: {await config.count('ll_people')}")

    echo("-- select")
    ann = await config.select("ll_people", id=newId)
    echo(f"by id: {ann['name']}, {ann['age']}")
    adults = await config.select("ll_people", where=["age >= ?", 18], orderby="age DESC")
    echo(f"adults, oldest first: {[row['name'] for row in adults]}")
    youngest = await config.select("ll_people", orderby="age", limit=1)
    echo(f"youngest: {youngest['name']}")
    page = await config.select("ll_people", orderby="name", limit=(2, 1))
    echo(f"2 rows after the first: {[row['name'] for row in page]}")
    cities = await config.select(
        "ll_people", select="city, COUNT(*) AS n", where=["city IS NOT NULL"],
        group="city", orderby="city",
    )
    echo(f"per city: {[(row['city'], row['n']) for row in cities]}")

    echo("-- upsertMany")
    await config.upsertMany("ll_rates", [
        {"currency": "EUR", "rate": 100, "source": "bank"},
        {"currency": "USD", "rate": 92, "source": "bank"},
    ], uniqueBy="currency")
    # EUR exists: only its rate is overwritten; GBP is inserted.
    await config.upsertMany("ll_rates", [
        {"currency": "EUR", "rate": 101, "source": "feed"},
        {"currency": "GBP", "rate": 117, "source": "feed"},
    ], uniqueBy="currency", update=["rate"])
    rates = await config.select("ll_rates", orderby="currency")
    echo(f"rates: {[(r['currency'], r['rate'], r['source']) for r in rates]}")

    echo("-- update, count and delete")
    changed = await config.update("ll_people", {"city": "Bergen"}, where=["city = ?", "Oslo"])
    echo(f"moved {changed} people to Bergen")
    echo(f"in Bergen: {await config.count('ll_people', where=['city = ?', 'Bergen'])}")
    deleted = await config.delete("ll_people", where=["age < ?", 18])
    echo(f"deleted {deleted} minor(s)")

    echo("-- raw SQL")
    # whereToString turns ? placeholders into the driver's own paramstyle.
    condition, args = config.whereToString(["age > ?", 40])
    rows = await config.execute(f"SELECT name FROM ll_people WHERE {condition} ORDER BY name",
                                args)
    echo(f"older than 40: {[row[0] for row in rows]}")

    echo("-- several statements in one interaction")

    def renameAndCount(txn, old, new):
        # Runs on a pool thread, in one database transaction; with a txn,
        # insert and update return their result directly.
        config.update("ll_people", {"name": new}, where=["name = ?", old], txn=txn)
        config.insert("ll_people", {"name": "Eve", "age": 28}, txn=txn)
        query, args = config.buildSelect("ll_people", orderby="name")
        return config._doselect(txn, query, args, "ll_people")

    rows = await config.runInteraction(renameAndCount, "Ben", "Benjamin")
    echo(f"everyone: {[row['name'] for row in rows]}")


main = sqliteMain(run, "lowlevel")


if __name__ == "__main__":
    task.react(main)
