# -*- test-case-name: twistar.tests.test_builder -*-
"""
Tests for L{twistar.dbconfig.builder}: the exact SQL each dialect writes
for statements, without a database.
"""

from __future__ import annotations

import random
import sqlite3
from typing import TYPE_CHECKING, Any

from twisted.trial.unittest import SynchronousTestCase

from twistar.dbconfig import builder
from twistar.dbconfig.builder import (
    AllOf,
    AnyOf,
    Column,
    Equals,
    Fragment,
    In,
    InRows,
    InSelect,
    Join,
    Not,
    Same,
    Select,
    Text,
    columnsOf,
    compileAggregate,
    compileExists,
    compileSelect,
    rowsWithKeys,
    selectOf,
)
from twistar.dbconfig.mysql import MySQLDBConfig
from twistar.dbconfig.postgres import PostgreSQLDBConfig
from twistar.dbconfig.sqlite import SQLiteDBConfig
from twistar.dbconfig.writes import (
    Delete,
    Update,
    UpdateMany,
    Upsert,
    compileDelete,
    compileInsert,
    compileUpdate,
    compileUpdateMany,
    compileUpsert,
    updateManyBatch,
    upsertKeys,
    upsertOf,
)
from twistar.exceptions import InvalidIdentifierError, InvalidQueryError, PlaceholderCountError

if TYPE_CHECKING:
    _TestCase = SynchronousTestCase
else:
    _TestCase = object

_PICTURES = Join("INNER", "pictures", Same(Column("user_id", "pictures"), Column("id", "users")))


class BuilderTestsMixin(_TestCase):
    """
    Exact SQL of one dialect; subclasses set C{dialect}, C{q} (its
    identifier quote) and C{placeholder}.
    """

    dialect: Any
    q: str
    placeholder: str
    castsValues = False

    def sql(self, text: str) -> str:
        """
        @return: C{text} with C{[}/C{]} as this dialect's identifier quote and
            C{$} as its placeholder.
        """
        return text.replace("[", self.q).replace("]", self.q).replace("$", self.placeholder)

    def assertSQL(self, compiled: tuple[str, list[Any]], text: str, args: list[Any]) -> None:
        """
        Assert C{compiled} is C{text} (see L{sql}) with C{args}.
        """
        self.assertEqual(compiled, (self.sql(text), args))

    def test_selectAll(self) -> None:
        """
        A bare select reads every column of the quoted table.
        """
        self.assertSQL(compileSelect(self.dialect, Select("users")), "SELECT * FROM [users]", [])

    def test_selectEverything(self) -> None:
        """
        Columns, distinct, where, group, having, order, limit and offset
        appear in SQL's order, with the arguments in text order.
        """
        statement = Select(
            "users", (Column("age"), Fragment("COUNT(*) AS n")), True,
            where=(Equals(Column("last_name"), "Smith"), Fragment("age > ?", (21,))),
            group=("age",), having=(Fragment("COUNT(*) > ?", (1,)),), order=("age DESC",),
            limit=10, offset=20,
        )
        self.assertSQL(
            compileSelect(self.dialect, statement),
            "SELECT DISTINCT [age], COUNT(*) AS n FROM [users] WHERE ([last_name] = $) AND "
            "(age > $) GROUP BY age HAVING COUNT(*) > $ ORDER BY age DESC LIMIT 10 OFFSET 20",
            ["Smith", 21, 1],
        )

    def test_terms(self) -> None:
        """
        C{None} is C{IS NULL}, an L{In} lists one placeholder per value and
        an empty one matches nothing; L{Not} and L{AnyOf} nest.
        """
        where = (
            Equals(Column("email"), None),
            In(Column("age"), (1, 2)),
            Not(In(Column("id"), ())),
            AnyOf((Equals(Column("a"), 1), AllOf((Fragment("b = ?", (2,)), Fragment("c"))))),
        )
        self.assertSQL(
            compileSelect(self.dialect, Select("users", where=where)),
            "SELECT * FROM [users] WHERE ([email] IS NULL) AND ([age] IN ($, $)) AND "
            "(NOT (1 = 0)) AND (([a] = $) OR ((b = $) AND (c)))",
            [1, 2, 1, 2],
        )

    def test_joinsQualifyBareColumns(self) -> None:
        """
        With joins, the model's own columns are selected, and bare column
        names mean the model's table; dotted ones name their own.
        """
        statement = Select(
            "users", joins=(_PICTURES,),
            where=(Equals(Column("last_name"), "S"), Equals(Column.named("pictures.size"), 3)),
        )
        self.assertSQL(
            compileSelect(self.dialect, statement),
            "SELECT [users].* FROM [users] INNER JOIN [pictures] ON [pictures].[user_id] = "
            "[users].[id] WHERE ([users].[last_name] = $) AND ([pictures].[size] = $)",
            ["S", 3],
        )

    def test_rawJoin(self) -> None:
        """
        A raw join fragment is written as given.
        """
        statement = Select("users", joins=(Text("JOIN x ON x.user_id = users.id"),))
        self.assertSQL(
            compileSelect(self.dialect, statement),
            "SELECT [users].* FROM [users] JOIN x ON x.user_id = users.id", [],
        )

    def test_textIsSentAsWritten(self) -> None:
        """
        L{Text} has no placeholders: a C{?} in it stays (PostgreSQL's JSON
        operator), and a C{%} is doubled for the C{%s} drivers.
        """
        statement = Select("users", (Text("data ? 'k' AS has"), Text("age % 2 AS odd")))
        percent = "%" if self.placeholder == "?" else "%%"
        self.assertSQL(
            compileSelect(self.dialect, statement),
            f"SELECT data ? 'k' AS has, age {percent} 2 AS odd FROM [users]", [],
        )

    def test_emptyAnyOf(self) -> None:
        """
        At least one of no condition matches nothing; all of none, everything.
        """
        statement = Select("users", where=(AnyOf(()), AllOf(())))
        self.assertSQL(compileSelect(self.dialect, statement),
                       "SELECT * FROM [users] WHERE (1 = 0) AND (1 = 1)", [])

    def test_aggregateOverJoins(self) -> None:
        """
        Over joins, an aggregate of a bare name is of the model's own column.
        """
        self.assertSQL(
            compileAggregate(self.dialect, Select("users", joins=(_PICTURES,)), "SUM",
                             Column("id")),
            "SELECT SUM([users].[id]) FROM [users] INNER JOIN [pictures] ON "
            "[pictures].[user_id] = [users].[id]", [],
        )

    def test_existsKeepsDistinctRowsAndHaving(self) -> None:
        """
        A distinct query's own columns make its rows, and a having may name
        them: exists reads them rather than a constant.
        """
        statement = Select("users", (Column("age"),), True, offset=2)
        self.assertSQL(
            compileExists(self.dialect, statement),
            "SELECT DISTINCT [age] FROM [users] LIMIT 1 OFFSET 2", [],
        )

    def test_fragmentPlaceholderCount(self) -> None:
        """
        Each fragment's placeholders are counted against its own arguments,
        so one short of an argument cannot borrow another's.
        """
        where = (Fragment("a = ? AND b = ?", (1,)), Fragment("c = ?", (2, 3)))
        self.assertRaises(
            PlaceholderCountError, compileSelect, self.dialect, Select("users", where=where)
        )

    def test_tooManyParameters(self) -> None:
        """
        A statement with more parameters than the database takes is refused.
        """
        many = tuple(range(self.dialect.maxParameters + 1))
        statement = Select("users", where=(In(Column("id"), many),))
        self.assertRaises(InvalidQueryError, compileSelect, self.dialect, statement)

    def test_badNames(self) -> None:
        """
        Table and column names are checked.
        """
        self.assertRaises(InvalidIdentifierError, compileSelect, self.dialect,
                          Select("users; DROP"))
        self.assertRaises(InvalidIdentifierError, Column.named, "a b")
        self.assertRaises(InvalidIdentifierError, Column.named, "users.")

    def test_columnsOf(self) -> None:
        """
        Names (plain or dotted) become checked columns, anything else trusted SQL.
        """
        self.assertEqual(
            columnsOf(["age", "users.id", "COUNT(*) AS n"]),
            (Column("age"), Column("id", "users"), Text("COUNT(*) AS n")),
        )
        self.assertRaises(InvalidQueryError, columnsOf, [""])
        self.assertRaises(InvalidQueryError, columnsOf, [3])

    def test_count(self) -> None:
        """
        A count drops the order; a distinct or limited one counts a subquery.
        """
        statement = Select("users", where=(Equals(Column("age"), 3),), order=("age",))
        self.assertSQL(
            compileAggregate(self.dialect, statement, "COUNT", None),
            "SELECT COUNT(*) FROM [users] WHERE [age] = $", [3],
        )
        limited = Select("users", distinct=True, limit=5)
        self.assertSQL(
            compileAggregate(self.dialect, limited, "COUNT", None),
            "SELECT COUNT(*) FROM (SELECT DISTINCT * FROM [users] LIMIT 5) AS [twistar_rows]",
            [],
        )

    def test_sumOfLimited(self) -> None:
        """
        The sum of a limited query adds up the column of its rows only.
        """
        self.assertSQL(
            compileAggregate(self.dialect, Select("users", limit=2), "SUM", Column("age")),
            "SELECT SUM([twistar_rows].[age]) FROM (SELECT [age] FROM [users] LIMIT 2) AS "
            "[twistar_rows]",
            [],
        )

    def test_exists(self) -> None:
        """
        Exists selects a constant from one row.
        """
        self.assertSQL(
            compileExists(self.dialect, Select("users", order=("age",))),
            "SELECT 1 FROM [users] LIMIT 1", [],
        )

    def test_update(self) -> None:
        """
        An update sets quoted columns (values first) where its rows match.
        """
        update = Update(Select("users", where=(Fragment("age < ?", (3,)),)),
                        ((Column("age"), 4), (Column("select"), None)))
        self.assertSQL(
            compileUpdate(self.dialect, update),
            "UPDATE [users] SET [age] = $, [select] = $ WHERE age < $", [4, None, 3],
        )
        self.assertRaises(InvalidQueryError, compileUpdate, self.dialect,
                          Update(Select("users"), ()))

    def test_deleteThroughJoin(self) -> None:
        """
        A delete of joined rows deletes by id, from a subquery.
        """
        rows = Select("users", joins=(_PICTURES,), where=(Fragment("pictures.size > ?", (9,)),))
        inner = ("SELECT [users].[id] FROM [users] INNER JOIN [pictures] ON "
                 "[pictures].[user_id] = [users].[id] WHERE pictures.size > $")
        self.assertSQL(
            compileDelete(self.dialect, Delete(rows)),
            f"DELETE FROM [users] WHERE [id] IN ({self.subquery(inner)})", [9],
        )

    def test_inSelect(self) -> None:
        """
        A column C{IN} a subquery.
        """
        inner = Select("pictures", (Column("user_id"),), where=(Equals(Column("size"), 1),))
        self.assertSQL(
            compileSelect(self.dialect, Select("users", where=(InSelect(Column("id"), inner),))),
            "SELECT * FROM [users] WHERE [id] IN "
            f"({self.subquery('SELECT [user_id] FROM [pictures] WHERE [size] = $')})",
            [1],
        )

    def test_insert(self) -> None:
        """
        An insert of columns, and one of defaults only.
        """
        self.assertEqual(
            compileInsert(self.dialect, "users", ["a", "b"], False),
            self.sql("INSERT INTO [users] ([a], [b]) VALUES ($, $)"),
        )
        self.assertEqual(
            compileInsert(self.dialect, "users", [], False),
            self.sql("INSERT INTO [users] ") + self.dialect.emptyInsertClause,
        )

    def test_selectOf(self) -> None:
        """
        The finders' arguments: an id ANDed with the where, a (limit, offset).
        """
        self.assertEqual(
            selectOf("users", 3, ["a = ?", 1], "g", (2, 5), "o", "COUNT(*)"),
            Select("users", (Text("COUNT(*)"),),
                   where=(Equals(Column("id"), 3), Fragment("a = ?", (1,))),
                   group=("g",), order=("o",), limit=2, offset=5),
        )
        self.assertRaises(InvalidQueryError, selectOf, "users", None, "a = 1", None, None,
                          None, None)
        self.assertRaises(InvalidQueryError, selectOf, "users", None, None, None, -1, None, None)

    def subquery(self, inner: str) -> str:
        """
        @return: C{inner} as this dialect writes an C{IN} subquery.
        """
        return inner

    def upserts(self) -> list[str]:
        """
        @return: this dialect's SQL of an upsert of two rows that updates,
            of one that leaves existing rows alone, and of one on a key of
            two columns returning the id and the key.
        """
        updating = upsertOf("tags", ["code", "label", "n"], ("code",), None)
        ignoring = upsertOf("tags", ["code", "label"], ("code",), ())
        composite = Upsert("scores", ("player", "game", "points"), ("player", "game"),
                           ("points",), 1, ("id", "player", "game"))
        return [
            compileUpsert(self.dialect, updating._replace(rows=2)),
            compileUpsert(self.dialect, ignoring),
            compileUpsert(self.dialect, composite),
        ]

    def test_upsertNames(self) -> None:
        """
        L{upsertKeys} takes a name or a list of names, defaults C{update} to
        C{None} (every column but the key's, which L{upsertOf} picks), and
        refuses an empty key, a bad or repeated name, C{update} naming a
        key column; L{upsertOf} refuses rows without a key column or a
        column of C{update}.
        """
        self.assertEqual(upsertKeys("code", None), (("code",), None))
        self.assertEqual(upsertKeys(["a", "b"], ()), (("a", "b"), ()))
        self.assertEqual(upsertKeys(("a",), ["c"]), (("a",), ("c",)))
        self.assertEqual(
            upsertOf("tags", ["code", "label"], ("code",), None),
            Upsert("tags", ("code", "label"), ("code",), ("label",)),
        )
        refused: list[tuple[Any, Any]] = [
            ([], None), ((), ()), (["a", "a"], None), (["a"], ["b", "b"]), (["a"], ["a"]),
            (["a", "b"], ("c", "b")), ({"a"}, None), (["a"], 3),
        ]
        for uniqueBy, update in refused:
            self.assertRaises(InvalidQueryError, upsertKeys, uniqueBy, update)
        badNames: list[tuple[Any, Any]] = [(["a; DROP"], None), ([1], None), (["a"], ["b c"])]
        for uniqueBy, update in badNames:
            self.assertRaises(InvalidIdentifierError, upsertKeys, uniqueBy, update)
        self.assertRaises(InvalidQueryError, upsertOf, "tags", ["label"], ("code",), None)
        self.assertRaises(InvalidQueryError, upsertOf, "tags", ["code"], ("code",), ("label",))

    def test_upsertBadNames(self) -> None:
        """
        A bad table or column name of an upsert is refused when written.
        """
        for statement in [Upsert("t; x", ("a",), ("a",), ()), Upsert("t", ("a b",), ("a",), ())]:
            self.assertRaises(InvalidIdentifierError, compileUpsert, self.dialect, statement)

    def test_rowsWithKeys(self) -> None:
        """
        The rows of keys: C{IN} for a key of one column, rows of values
        (C{(a, b) IN ((?, ?), ...)}) for a key of several; nothing for no
        keys.
        """
        self.assertSQL(
            compileSelect(self.dialect, rowsWithKeys("tags", ("code",), [("a",), ("b",)], None)),
            "SELECT [id], [code] FROM [tags] WHERE [code] IN ($, $)", ["a", "b"],
        )
        pair = (Column("player"), Column("game"))
        select = rowsWithKeys("scores", ("player", "game"), [("p", 1), ("q", 2)], None)
        self.assertSQL(
            compileSelect(self.dialect, select),
            "SELECT [id], [player], [game] FROM [scores] "
            "WHERE ([player], [game]) IN (($, $), ($, $))",
            ["p", 1, "q", 2],
        )
        self.assertSQL(
            compileSelect(self.dialect, Select("scores", where=(InRows(pair, ()),))),
            "SELECT * FROM [scores] WHERE 1 = 0", [],
        )
        # Remembered by shape: other values, the same text.
        again = rowsWithKeys("scores", ("player", "game"), [("r", 3), ("s", 4)], None)
        self.assertEqual(compileSelect(self.dialect, again)[1], ["r", 3, "s", 4])

    def typed(self, declared: str) -> str:
        """
        @return: a value of a column of type C{declared} as this dialect
            writes it in a C{CASE} result (see L{sql}).
        """
        return f"CAST($ AS {declared})" if self.castsValues else "$"

    def test_updateMany(self) -> None:
        """
        An update of many rows sets each column by a C{CASE} on the id (its
        values typed where the dialect needs it), where the id is one of
        the rows'.
        """
        statement = UpdateMany("users", ("age", "select"), ("integer", "varchar(9)"),
                               ((1, None, (30, "a")), (2, None, (None, "b"))))
        age, name = self.typed("integer"), self.typed("varchar(9)")
        self.assertSQL(
            compileUpdateMany(self.dialect, statement),
            f"UPDATE [users] SET [age] = CASE [id] WHEN $ THEN {age} WHEN $ THEN {age} END, "
            f"[select] = CASE [id] WHEN $ THEN {name} WHEN $ THEN {name} END "
            "WHERE [id] IN ($, $)",
            [1, 30, 2, None, 1, "a", 2, "b", 1, 2],
        )
        self.assertRaises(InvalidQueryError, compileUpdateMany, self.dialect,
                          UpdateMany("users", (), (), ((1, None, ()),)))
        self.assertRaises(InvalidIdentifierError, compileUpdateMany, self.dialect,
                          UpdateMany("users", ("a b",), ("integer",), ((1, None, (2,)),)))

    def test_updateManyLocked(self) -> None:
        """
        With a version column, a row matches only at its version (C{IS
        NULL} for none), and the update bumps it.
        """
        statement = UpdateMany("drafts", ("title",), ("text",),
                               ((1, 4, ("a",)), (2, None, ("b",)), (3, 0, ("c",))),
                               "lock_version")
        title = self.typed("text")
        whens = " ".join([f"WHEN $ THEN {title}"] * 3)
        self.assertSQL(
            compileUpdateMany(self.dialect, statement),
            f"UPDATE [drafts] SET [title] = CASE [id] {whens} END, "
            "[lock_version] = COALESCE([lock_version], 0) + 1 "
            "WHERE (([id], [lock_version]) IN (($, $), ($, $))) "
            "OR (([id] IN ($)) AND ([lock_version] IS NULL))",
            [1, "a", 2, "b", 3, "c", 1, 4, 3, 0, 2],
        )

    def test_updateManyBatch(self) -> None:
        """
        A batch of an update of many rows keeps within the dialect's
        parameters: two per column and row, and one or two for the key.
        """
        most = self.dialect.maxParameters
        self.assertEqual(updateManyBatch(self.dialect, 1, False), min(1000, most // 3))
        self.assertEqual(updateManyBatch(self.dialect, 200, True), most // 402)
        self.assertEqual(updateManyBatch(self.dialect, 10 ** 6, False), 1)


class SQLiteBuilderTests(BuilderTestsMixin, SynchronousTestCase):
    """
    SQLite's SQL: backquotes, C{?}, no row locks, C{LIMIT -1} for an offset
    alone.
    """

    dialect = SQLiteDBConfig()
    q = "`"
    placeholder = "?"

    def test_offsetAndLock(self) -> None:
        """
        An offset without a limit needs C{LIMIT -1}; a lock adds nothing.
        """
        self.assertSQL(
            compileSelect(self.dialect, Select("users", offset=3, lock="FOR UPDATE")),
            "SELECT * FROM [users] LIMIT -1 OFFSET 3", [],
        )

    def test_upsert(self) -> None:
        """
        C{ON CONFLICT (key) DO UPDATE SET c = excluded.c}, or C{DO NOTHING};
        C{RETURNING} from SQLite 3.35 on.
        """
        returning = " RETURNING `id`, `player`, `game`" if self.dialect.upsertReturns else ""
        self.assertEqual(self.upserts(), [
            "INSERT INTO `tags` (`code`, `label`, `n`) VALUES (?, ?, ?), (?, ?, ?) "
            "ON CONFLICT (`code`) DO UPDATE SET `label` = excluded.`label`, `n` = excluded.`n`",
            "INSERT INTO `tags` (`code`, `label`) VALUES (?, ?) ON CONFLICT (`code`) DO NOTHING",
            "INSERT INTO `scores` (`player`, `game`, `points`) VALUES (?, ?, ?) "
            "ON CONFLICT (`player`, `game`) DO UPDATE SET `points` = excluded.`points`"
            + returning,
        ])
        self.assertEqual(
            self.dialect.upsertReturns, sqlite3.sqlite_version_info >= (3, 35)
        )

    def test_updateLimit(self) -> None:
        """
        No C{UPDATE ... LIMIT}: a limited update goes through an id subquery.
        """
        update = Update(Select("users", limit=2), ((Column("age"), 1),))
        self.assertSQL(
            compileUpdate(self.dialect, update),
            "UPDATE [users] SET [age] = $ WHERE [id] IN (SELECT [id] FROM [users] LIMIT 2)", [1],
        )


class PostgreSQLBuilderTests(BuilderTestsMixin, SynchronousTestCase):
    """
    PostgreSQL's SQL: double quotes, C{%s}, row locks.
    """

    dialect = PostgreSQLDBConfig()
    q = '"'
    placeholder = "%s"
    castsValues = True

    def test_offsetAndLock(self) -> None:
        """
        An offset may stand alone; a lock follows the limit.
        """
        self.assertSQL(
            compileSelect(self.dialect, Select("users", offset=3, lock="FOR UPDATE")),
            "SELECT * FROM [users] OFFSET 3 FOR UPDATE", [],
        )

    def test_upsert(self) -> None:
        """
        C{ON CONFLICT (key) DO UPDATE SET c = excluded.c}, or C{DO NOTHING};
        C{RETURNING}.
        """
        self.assertEqual(self.upserts(), [
            'INSERT INTO "tags" ("code", "label", "n") VALUES (%s, %s, %s), (%s, %s, %s) '
            'ON CONFLICT ("code") DO UPDATE SET "label" = excluded."label", "n" = excluded."n"',
            'INSERT INTO "tags" ("code", "label") VALUES (%s, %s) ON CONFLICT ("code") DO NOTHING',
            'INSERT INTO "scores" ("player", "game", "points") VALUES (%s, %s, %s) '
            'ON CONFLICT ("player", "game") DO UPDATE SET "points" = excluded."points" '
            'RETURNING "id", "player", "game"',
        ])

    def test_percentInFragment(self) -> None:
        """
        A C{%} in a trusted fragment is doubled for the C{%s} driver.
        """
        statement = Select("users", where=(Fragment("name LIKE 'a%' AND age = ?", (1,)),),
                           order=("name LIKE '%b'",))
        self.assertSQL(
            compileSelect(self.dialect, statement),
            "SELECT * FROM [users] WHERE name LIKE 'a%%' AND age = $ ORDER BY name LIKE '%%b'",
            [1],
        )


class MySQLBuilderTests(BuilderTestsMixin, SynchronousTestCase):
    """
    MySQL's SQL: backquotes, C{%s}, C{UPDATE ... LIMIT}, and subqueries
    read through a derived table (MySQL refuses a limit in an C{IN}
    subquery, and a subquery of the table being changed).
    """

    dialect = MySQLDBConfig()
    q = "`"
    placeholder = "%s"

    def subquery(self, inner: str) -> str:
        """
        @return: C{inner} read through a derived table.
        """
        return f"SELECT * FROM ({inner}) AS [twistar_subquery]"

    def test_offsetAndLock(self) -> None:
        """
        An offset needs a (huge) limit; a lock follows it.
        """
        self.assertSQL(
            compileSelect(self.dialect, Select("users", offset=3, lock="FOR UPDATE")),
            "SELECT * FROM [users] LIMIT 18446744073709551615 OFFSET 3 FOR UPDATE", [],
        )

    def test_upsert(self) -> None:
        """
        C{ON DUPLICATE KEY UPDATE c = VALUES(c)}; a key column set to itself
        to leave a row alone (not C{INSERT IGNORE}, which turns other
        errors into warnings); no C{RETURNING}: the rows are selected by
        key, with a lock (a locking read sees the latest rows).
        """
        self.assertEqual(self.upserts(), [
            "INSERT INTO `tags` (`code`, `label`, `n`) VALUES (%s, %s, %s), (%s, %s, %s) "
            "ON DUPLICATE KEY UPDATE `label` = VALUES(`label`), `n` = VALUES(`n`)",
            "INSERT INTO `tags` (`code`, `label`) VALUES (%s, %s) "
            "ON DUPLICATE KEY UPDATE `code` = `code`",
            "INSERT INTO `scores` (`player`, `game`, `points`) VALUES (%s, %s, %s) "
            "ON DUPLICATE KEY UPDATE `points` = VALUES(`points`)",
        ])
        select = rowsWithKeys("tags", ("code",), [("a",)], self.dialect.upsertLookupLock)
        self.assertSQL(
            compileSelect(self.dialect, select),
            "SELECT [id], [code] FROM [tags] WHERE [code] IN ($) FOR UPDATE", ["a"],
        )

    def test_updateLimit(self) -> None:
        """
        MySQL has C{UPDATE ... LIMIT}.
        """
        update = Update(Select("users", where=(Equals(Column("a"), 1),), limit=2),
                        ((Column("age"), 1),))
        self.assertSQL(
            compileUpdate(self.dialect, update),
            "UPDATE [users] SET [age] = $ WHERE [a] = $ LIMIT 2", [1, 1],
        )


class RememberedTextTests(SynchronousTestCase):
    """
    The text remembered for a statement's shape, with the arguments
    collected again, is what writing the statement afresh gives.
    """

    def randomSelect(self, rng: random.Random, depth: int = 0) -> Select:
        """
        @return: a random statement using every kind of part.
        """

        def value() -> Any:
            return rng.choice([None, 1, 2, "a", "b%", 3.5, True, b"x"])

        def column() -> Column:
            return Column(rng.choice(["a", "b", "id"]), rng.choice([None, None, "t", "u"]))

        def fragment() -> Fragment:
            count = rng.randint(0, 3)
            return Fragment(" AND ".join(["x = ?"] * count) or "1 = 1",
                            tuple(value() for _ in range(count)))

        def term(level: int) -> Any:
            kind = rng.randint(0, 7 if level < 2 else 3)
            if kind == 0:
                return fragment()
            if kind == 1:
                return Equals(column(), value())
            if kind == 2:
                return In(column(), tuple(value() for _ in range(rng.randint(0, 4))))
            if kind == 3:
                return Same(column(), column())
            if kind == 4:
                return InSelect(column(), self.randomSelect(rng, level + 1))
            if kind == 5:
                return Not(term(level + 1))
            terms = tuple(term(level + 1) for _ in range(rng.randint(0, 3)))
            return AllOf(terms) if kind == 6 else AnyOf(terms)

        columns: list[Column | Text | Fragment] = []
        for _ in range(rng.randint(0, 2)):
            selected: list[Column | Text | Fragment] = [
                column(), Text("n + 1"), Fragment("COALESCE(x, ?)", (1,))
            ]
            columns.append(rng.choice(selected))
        joins: list[Join | Text | Fragment] = []
        for _ in range(rng.randint(0, 2)):
            joins.append(rng.choice([Join("INNER", "u", term(depth + 1)), fragment(),
                                     Text("JOIN v")]))
        return Select(
            rng.choice(["t", "s"]), tuple(columns), rng.random() < 0.3, tuple(joins),
            tuple(term(depth) for _ in range(rng.randint(0, 3))),
            tuple(rng.choice(["a", "b"]) for _ in range(rng.randint(0, 1))),
            tuple(term(depth + 1) for _ in range(rng.randint(0, 1))),
            tuple(rng.choice(["a DESC", "b %"]) for _ in range(rng.randint(0, 1))),
            rng.choice([None, 0, 5]), rng.choice([None, 3]), rng.choice([None, "FOR UPDATE"]),
        )

    def test_rememberedAgreesWithWritten(self) -> None:
        """
        For random statements, compiled once remembered and once afresh,
        C{compileSelect}, C{compileAggregate} and C{compileExists} give the
        same text and arguments (or the same error) on every dialect.
        """
        rng = random.Random(12)
        for dialect in (SQLiteDBConfig(), PostgreSQLDBConfig(), MySQLDBConfig()):
            for _ in range(1500):
                select = self.randomSelect(rng)
                function = rng.choice(["COUNT", "SUM"])
                column = rng.choice([None, Column("a"), Column("b", "t")])
                for compiler, extra in ((compileSelect, ()), (compileExists, ()),
                                        (compileAggregate, (function, column))):
                    results: list[Any] = []
                    for _ in range(2):
                        try:
                            results.append(compiler(dialect, select, *extra))
                        except Exception as error:
                            results.append(type(error))
                    builder._compiledSelects.clear()
                    try:
                        fresh: Any = compiler(dialect, select, *extra)
                    except Exception as error:
                        fresh = type(error)
                    self.assertEqual(results, [fresh, fresh], select)
