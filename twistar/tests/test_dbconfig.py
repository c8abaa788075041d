"""
Tests for the low-level CRUD API of L{twistar.dbconfig.base.InteractionBase}
(C{Registry.getConfig()}) against the database.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from twisted.internet.defer import maybeDeferred

from twistar.dbconfig import batches
from twistar.exceptions import ImaginaryTableError
from twistar.querylog import QueryRecorder
from twistar.registry import Registry
from twistar.slicing import bulkOnPoolThread
from twistar.tests.helpers import DBTestCase
from twistar.tests.models import User
from twistar.tests.test_logging import captureQueries


class SelectTests(DBTestCase):
    """
    Tests for C{select}.
    """

    async def setUp(self):
        await super().setUp()
        self.ids = []
        for first, last, age in [("A", "X", 1), ("B", "X", 2), ("C", "Y", 3)]:
            self.ids.append(
                await self.config.insert(
                    "users", {"first_name": first, "last_name": last, "age": age}
                )
            )

    async def test_id(self):
        """
        With an id, C{select} fires with one dict keyed by column, or
        C{None}.
        """
        row = await self.config.select("users", id=self.ids[1])
        self.assertEqual(
            row, {"id": self.ids[1], "first_name": "B", "last_name": "X", "age": 2, "dob": None}
        )
        self.assertIsNone(await self.config.select("users", id=max(self.ids) + 1000))

    async def test_limitOne(self):
        """
        With C{limit=1}, C{select} fires with one dict or C{None}.
        """
        row = await self.config.select("users", where=["age = ?", 3], limit=1)
        self.assertEqual(row["first_name"], "C")
        self.assertIsNone(await self.config.select("users", where=["age = ?", 9], limit=1))

    async def test_list(self):
        """
        Otherwise C{select} fires with a list of dicts.
        """
        rows = await self.config.select("users", where=["last_name = ?", "X"], orderby="id")
        self.assertEqual([row["first_name"] for row in rows], ["A", "B"])
        self.assertEqual(await self.config.select("users", where=["age > ?", 5]), [])
        rows = await self.config.select("users", limit=(2, 1), orderby="id")
        self.assertEqual([row["id"] for row in rows], self.ids[1:])

    async def test_groupOrderSelect(self):
        """
        C{group}, C{orderby} and C{select} shape the query.
        """
        rows = await self.config.select(
            "users", select="last_name, COUNT(*) AS n", group="last_name",
            orderby="last_name DESC",
        )
        self.assertEqual(
            [(row["last_name"], int(row["n"])) for row in rows], [("Y", 1), ("X", 2)]
        )

    async def test_count(self):
        """
        C{count} counts every row, or those matching a where.
        """
        self.assertEqual(await self.config.count("users"), 3)
        self.assertEqual(await self.config.count("users", ["last_name = ? AND age > ?", "X", 1]), 1)

    async def test_doselect(self):
        """
        C{_doselect} runs a select in the driver's paramstyle inside
        C{runInteraction}, giving dicts.
        """
        p = self.config.placeholder

        def interaction(txn):
            many = self.config._doselect(
                txn, f"SELECT first_name FROM users WHERE last_name = {p} ORDER BY id",
                ["X"], "users",
            )
            one = self.config._doselect(
                txn, f"SELECT first_name, age FROM users WHERE id = {p}", [self.ids[2]],
                "users", one=True,
            )
            return many, one

        many, one = await self.config.runInteraction(interaction)
        self.assertEqual(many, [{"first_name": "A"}, {"first_name": "B"}])
        self.assertEqual(one, {"first_name": "C", "age": 3})


class WriteTests(DBTestCase):
    """
    Tests for C{insert}, C{insertMany}, C{update} and C{delete}.
    """

    async def test_insert(self):
        """
        C{insert} fires with the new row's id.
        """
        first = await self.config.insert("users", {"first_name": "A", "age": 3})
        second = await self.config.insert("users", {"first_name": "B"})
        self.assertNotEqual(first, second)
        self.assertEqual((await self.config.select("users", id=first))["age"], 3)
        self.assertEqual((await self.config.select("users", id=second))["first_name"], "B")

    async def test_insertNoColumns(self):
        """
        Inserting no values makes a row of defaults.
        """
        newId = await self.config.insert("users", {})
        row = await self.config.select("users", id=newId)
        self.assertEqual(row["first_name"], None)

    async def test_insertInInteraction(self):
        """
        Given a C{txn}, C{insert} returns the id itself.
        """

        def interaction(txn):
            newId = self.config.insert("users", {"first_name": "T"}, txn)
            self.assertIsInstance(newId, int)
            return newId, self.config.select

        newId, _ = await self.config.runInteraction(interaction)
        self.assertEqual((await self.config.select("users", id=newId))["first_name"], "T")

    async def test_insertMany(self):
        """
        C{insertMany} inserts every row in one statement; a key missing
        from a row inserts NULL.
        """
        queries = captureQueries(self)
        await self.config.insertMany("users", [
            {"first_name": "A", "age": 1},
            {"last_name": "B"},
            {"first_name": "C", "last_name": "D", "age": 3},
        ])
        self.assertEqual(len(queries.starting("INSERT")), 1)
        rows = await self.config.select("users", orderby="id")
        self.assertEqual(
            [(r["first_name"], r["last_name"], r["age"]) for r in rows],
            [("A", None, 1), (None, "B", None), ("C", "D", 3)],
        )

    async def test_insertManyFormatted(self) -> None:
        """
        Where the driver formats the values into the statement itself
        (psycopg2), each multi-row C{INSERT} is formatted one pool
        thread at a time (under L{bulkOnPoolThread}), then sent as it is:
        values with C{%} and quotes are stored as given, and the query log
        sees the statement with its placeholders and its values.
        """
        entered: list[int] = []

        @contextmanager
        def counted() -> Iterator[None]:
            entered.append(1)
            with bulkOnPoolThread():
                yield

        self.patch(batches, "bulkOnPoolThread", counted)
        rowsPerStatement = self.config.rowsPerStatement(1)
        names = [f"100% '{index}' %s %(x)s" for index in range(rowsPerStatement + 1)]
        with QueryRecorder() as recorder:
            await self.config.insertMany("users", [{"first_name": name} for name in names])
        rows = await self.config.select("users", orderby="id")
        self.assertEqual([row["first_name"] for row in rows], names)
        inserts = [record for record in recorder.records if record.sql.startswith("INSERT")]
        self.assertEqual(len(inserts), 2)
        self.assertEqual(list(inserts[1].args), names[-1:])
        # The values' check, and each statement's formatting when the driver
        # formats them.
        self.assertEqual(len(entered), 3 if self.config.formatsInClient else 1)
        self.assertEqual(self.config.formatsInClient, self.pool.dbapiName == "psycopg2")

    async def test_insertManyExtraKeys(self):
        """
        A later row with a key the first row lacks has that value inserted
        too (the other rows get NULL there).
        """
        await self.config.insertMany("users", [
            {"first_name": "A", "age": 1},
            {"first_name": "B", "age": 2, "last_name": "Extra"},
        ])
        rows = await self.config.select("users", orderby="id")
        self.assertEqual(
            [(r["first_name"], r["last_name"], r["age"]) for r in rows],
            [("A", None, 1), ("B", "Extra", 2)],
        )

    async def test_insertManyLaterBatches(self):
        """
        Rows are sent in batches; a row of a later batch with an extra key
        or a value that needs converting (a C{date}) is inserted as it would
        be in the first.
        """
        self.patch(type(self.config), "maxParameters", 4)
        queries = captureQueries(self)
        rows = [{"first_name": f"n{i}", "age": i} for i in range(5)]
        rows[3] = {"first_name": "extra", "age": 3, "last_name": "L"}
        rows[4] = {"first_name": "born", "age": 4, "dob": date(2001, 2, 3)}
        await self.config.insertMany("users", rows)
        # Four columns in all, so one row per statement.
        self.assertEqual(len(queries.starting("INSERT")), 5)
        found = await self.config.select("users", orderby="id")
        self.assertEqual(
            [(r["first_name"], r["last_name"], r["age"], str(r["dob"])) for r in found],
            [("n0", None, 0, "None"), ("n1", None, 1, "None"), ("n2", None, 2, "None"),
             ("extra", "L", 3, "None"), ("born", None, 4, "2001-02-03")],
        )

    async def test_insertManyMissingKeyInLaterBatch(self):
        """
        A row of a later batch that lacks a key of the first row inserts
        C{NULL} there.
        """
        self.patch(type(self.config), "maxParameters", 4)
        rows = [{"first_name": f"n{i}", "age": i} for i in range(5)]
        del rows[3]["age"]
        await self.config.insertMany("users", rows)
        found = await self.config.select("users", orderby="id")
        self.assertEqual([r["age"] for r in found], [0, 1, 2, None, 4])

    async def test_insertManyNoKeys(self):
        """
        Rows without keys each insert a row of defaults, also next to rows
        with keys.
        """
        await self.config.insertMany("users", [{}, {}, {}])
        self.assertEqual(await self.config.count("users"), 3)
        await self.config.insertMany("users", [{}, {"first_name": "x"}])
        found = await self.config.select("users", orderby="id")
        self.assertEqual([r["first_name"] for r in found], [None] * 4 + ["x"])

    async def test_insertManyEmpty(self):
        """
        Inserting no rows does nothing.
        """
        await self.config.insertMany("users", [])
        self.assertEqual(await self.config.count("users"), 0)

    async def test_update(self):
        """
        C{update} changes the matching rows and fires with their number.
        """
        for age in (1, 2, 3):
            await self.config.insert("users", {"first_name": "A", "age": age})
        changed = await self.config.update("users", {"last_name": "Old"}, ["age > ?", 1])
        self.assertEqual(changed, 2)
        self.assertEqual(await self.config.count("users", ["last_name = ?", "Old"]), 2)
        self.assertEqual(await self.config.update("users", {"first_name": "All"}), 3)
        self.assertEqual(await self.config.count("users", ["first_name = ?", "All"]), 3)

    async def test_updateLimit(self):
        """
        C{update} with a limit changes at most that many rows.
        """
        for age in (1, 2, 3):
            await self.config.insert("users", {"first_name": "A", "age": age})
        changed = await self.config.update("users", {"age": 9}, ["first_name = ?", "A"], limit=2)
        self.assertEqual(changed, 2)
        self.assertEqual(await self.config.count("users", ["age = ?", 9]), 2)

    async def test_updateInInteraction(self):
        """
        Given a C{txn}, C{update} returns the count itself.
        """
        rowId = await self.config.insert("users", {"first_name": "A"})

        def interaction(txn):
            return self.config.update("users", {"age": 5}, ["id = ?", rowId], txn)

        self.assertEqual(await self.config.runInteraction(interaction), 1)
        self.assertEqual((await self.config.select("users", id=rowId))["age"], 5)

    async def test_delete(self):
        """
        C{delete} removes the matching rows, or every row.
        """
        for name in ("A", "B", "C"):
            await self.config.insert("users", {"first_name": name})
        await self.config.delete("users", ["first_name <> ?", "B"])
        rows = await self.config.select("users")
        self.assertEqual([r["first_name"] for r in rows], ["B"])
        await self.config.delete("users")
        self.assertEqual(await self.config.count("users"), 0)

    async def test_reservedWordColumns(self):
        """
        Columns named C{select} and C{where} work with the low-level API.
        """
        rowId = await self.config.insert("coltests", {"select": "s", "where": "w"})
        q = self.config.quoteIdentifier
        await self.config.update("coltests", {"where": "w2"}, [f"{q('select')} = ?", "s"])
        row = await self.config.select("coltests", where=[f"{q('where')} = ?", "w2"], limit=1)
        self.assertEqual(row, {"id": rowId, "select": "s", "where": "w2"})
        await self.config.insertMany("coltests", [{"select": "a"}, {"where": "b"}])
        self.assertEqual(await self.config.count("coltests"), 3)


class ObjectTests(DBTestCase):
    """
    Tests for C{insertObj}, C{updateObj} and C{refreshObj}.
    """

    async def test_insertObj(self):
        """
        C{insertObj} inserts the object's columns and sets its id.
        """
        user = User(first_name="A", nickname="ignored")
        result = await self.config.insertObj(user)
        self.assertIs(result, user)
        self.assertIsNotNone(user.id)
        row = await self.config.select("users", id=user.id)
        self.assertEqual(row["first_name"], "A")

    async def test_updateObj(self):
        """
        C{updateObj} writes the object's changes to its row.
        """
        user = await self.config.insertObj(User(first_name="A", age=1))
        user.age = 2
        self.assertIs(await self.config.updateObj(user), user)
        row = await self.config.select("users", id=user.id)
        self.assertEqual((row["first_name"], row["age"]), ("A", 2))

    async def test_refreshObj(self):
        """
        C{refreshObj} reloads the object's attributes.
        """
        user = await self.config.insertObj(User(first_name="A"))
        await self.config.update("users", {"first_name": "B"}, ["id = ?", user.id])
        self.assertIs(await self.config.refreshObj(user), user)
        self.assertEqual(user.first_name, "B")


class SchemaTests(DBTestCase):
    """
    Tests for C{getSchema}.
    """

    columns = ["id", "first_name", "last_name", "age", "dob"]

    async def test_deferred(self):
        """
        Without a C{txn} C{getSchema} fires with the column names, in order,
        and caches them.
        """
        self.assertEqual(await self.config.getSchema("users"), self.columns)
        self.assertEqual(Registry.SCHEMAS["users"], self.columns)

    async def test_txn(self):
        """
        With a C{txn} C{getSchema} returns the column names.
        """
        Registry.SCHEMAS.clear()
        result = await self.config.runInteraction(
            lambda txn: self.config.getSchema("coltests", txn)
        )
        self.assertEqual(result, ["id", "select", "where"])

    async def test_missingTable(self):
        """
        A missing table fails with L{ImaginaryTableError} naming it, in
        both forms.
        """
        error = await self.assertFailure(
            maybeDeferred(self.config.getSchema, "no_such_table"), ImaginaryTableError
        )
        self.assertIn("no_such_table", str(error))
        error = await self.assertFailure(
            self.config.runInteraction(lambda txn: self.config.getSchema("no_such_table", txn)),
            ImaginaryTableError,
        )
        self.assertIn("no_such_table", str(error))
        self.assertNotIn("no_such_table", Registry.SCHEMAS)


class RawSQLTests(DBTestCase):
    """
    Tests for C{runInteraction}, C{execute}, C{executeOperation},
    C{executeTxn}, C{whereToString}, C{escapeColNames} and
    C{getLastInsertID}.
    """

    async def test_runInteraction(self):
        """
        C{runInteraction} calls the function with a cursor and the
        arguments, and fires with its result.
        """

        def interaction(txn, a, b=None):
            txn.execute("SELECT 1")
            return (a, b, txn.fetchall()[0][0])

        self.assertEqual(await self.config.runInteraction(interaction, 1, b=2), (1, 2, 1))

    async def test_runInteractionRollsBack(self):
        """
        When the function raises, its statements are rolled back and the
        Deferred fails with its exception.
        """

        def interaction(txn):
            self.config.insert("users", {"first_name": "A"}, txn)
            raise ZeroDivisionError()

        await self.assertFailure(self.config.runInteraction(interaction), ZeroDivisionError)
        self.assertEqual(await self.config.count("users"), 0)

    async def test_execute(self):
        """
        C{execute} runs SQL in the driver's paramstyle, its arguments going
        to the cursor's C{execute}, and fires with rows; C{executeOperation}
        runs SQL that returns none.
        """
        p = self.config.placeholder
        await self.config.executeOperation(
            f"INSERT INTO users (first_name, age) VALUES ({p}, {p})", ("A", 4)
        )
        rows = await self.config.execute(
            f"SELECT first_name, age FROM users WHERE age = {p}", (4,)
        )
        self.assertEqual([tuple(row) for row in rows], [("A", 4)])

    async def test_executeTxn(self):
        """
        C{executeTxn} runs SQL on a cursor inside C{runInteraction}.
        """
        p = self.config.placeholder

        def interaction(txn):
            self.config.executeTxn(txn, f"INSERT INTO users (first_name) VALUES ({p})", ("T",))
            self.config.executeTxn(txn, f"SELECT first_name FROM users WHERE first_name = {p}",
                                   ("T",))
            return txn.fetchall()

        self.assertEqual([tuple(r) for r in await self.config.runInteraction(interaction)],
                         [("T",)])

    async def test_whereToStringAndEscape(self):
        """
        C{whereToString} and C{escapeColNames} give SQL the driver runs.
        """
        await self.config.insert("coltests", {"select": "50%", "where": "w?"})
        await self.config.insert("coltests", {"select": "other", "where": "w?"})
        select, where = self.config.escapeColNames(["select", "where"])
        condition, args = self.config.whereToString(
            [f"{select} LIKE '5%' AND {where} = ? AND {where} <> '?'", "w?"]
        )
        rows = await self.config.execute(
            f"SELECT {select} FROM coltests WHERE {condition}", args
        )
        self.assertEqual([tuple(r) for r in rows], [("50%",)])

    async def test_getLastInsertID(self):
        """
        C{getLastInsertID} gives the id of the last insert on the cursor's
        connection.
        """
        p = self.config.placeholder

        def interaction(txn):
            self.config.executeTxn(txn, f"INSERT INTO users (first_name) VALUES ({p})", ("L",))
            return self.config.getLastInsertID(txn)

        newId = await self.config.runInteraction(interaction)
        self.assertEqual((await self.config.select("users", id=newId))["first_name"], "L")
