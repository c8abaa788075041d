"""
Tests for the SQL that L{twistar.dbconfig.base.InteractionBase} and its
per-database subclasses generate, asserted as exact strings for each
dialect, without a database.
"""

from twisted.trial.unittest import SynchronousTestCase

from twistar.dbconfig.base import InteractionBase
from twistar.dbconfig.mysql import MySQLDBConfig
from twistar.dbconfig.postgres import PostgreSQLDBConfig
from twistar.dbconfig.sqlite import SQLiteDBConfig
from twistar.dbconfig.sqltext import convertPlaceholders, placeholdersAfterIs
from twistar.exceptions import (
    InvalidIdentifierError,
    InvalidQueryError,
    PlaceholderCountError,
)


class ConvertPlaceholdersTests(SynchronousTestCase):
    """
    Tests for L{convertPlaceholders}, the lexical C{?} to paramstyle
    conversion.
    """

    def test_qmarkUnchanged(self):
        """
        With the C{?} marker the query is unchanged, C{%} included, and the
        placeholders are counted.
        """
        self.assertEqual(
            convertPlaceholders("a = ? AND b LIKE '5%' AND c = ?", "?"),
            ("a = ? AND b LIKE '5%' AND c = ?", 2),
        )

    def test_format(self):
        """
        With the C{%s} marker each C{?} becomes C{%s} and every C{%} is
        doubled.
        """
        self.assertEqual(
            convertPlaceholders("a = ? AND b LIKE 'x%' AND c % 2 = ?", "%s"),
            ("a = %s AND b LIKE 'x%%' AND c %% 2 = %s", 2),
        )

    def test_quotedAndCommentsLeftAlone(self):
        """
        A C{?} inside a quoted string (with doubled quotes), a quoted
        identifier or a comment is not a placeholder.
        """
        query = "a = ? -- ?\n AND b = 'it''s ?' AND \"q?\" = ? /* ? */"
        self.assertEqual(
            convertPlaceholders(query, "%s"),
            ("a = %s -- ?\n AND b = 'it''s ?' AND \"q?\" = %s /* ? */", 2),
        )

    def test_backslashEscapes(self):
        """
        In MySQL a backslash-escaped quote does not end the string; in
        standard SQL it does.
        """
        query = r"a = 'x\' ?' AND b = ?"
        self.assertEqual(
            convertPlaceholders(query, "%s", "mysql"), (r"a = 'x\' ?' AND b = %s", 1)
        )
        self.assertEqual(
            convertPlaceholders(query, "%s", "standard"), (r"a = 'x\' %s' AND b = ?", 1)
        )

    def test_mysqlComments(self):
        """
        MySQL's C{#} comments hide a C{?}; its C{--} starts a comment only
        when a space follows.
        """
        self.assertEqual(
            convertPlaceholders("a = ? # b = ?\nAND c = ?", "%s", "mysql"),
            ("a = %s # b = ?\nAND c = %s", 2),
        )
        self.assertEqual(
            convertPlaceholders("a = 1--? \nAND b = ? -- c = ?", "%s", "mysql"),
            ("a = 1--%s \nAND b = %s -- c = ?", 2),
        )
        self.assertEqual(
            convertPlaceholders("a = ? # b = ?", "?", "standard"), ("a = ? # b = ?", 2)
        )

    def test_postgresQuoting(self):
        """
        PostgreSQL's C{E'...'} strings (with backslash escapes) and dollar
        quoting hide a C{?}; C{$1} is not dollar quoting.
        """
        self.assertEqual(
            convertPlaceholders(r"a = E'x\' ?' AND b = ?", "%s", "postgres"),
            (r"a = E'x\' ?' AND b = %s", 1),
        )
        self.assertEqual(
            convertPlaceholders("a = $$it's ? 5%$$ AND b = $q$ ? $q$ AND c = ?", "%s",
                                "postgres"),
            ("a = $$it's ? 5%%$$ AND b = $q$ ? $q$ AND c = %s", 1),
        )
        self.assertEqual(
            convertPlaceholders("a = $1 AND b = ? AND name = 'E'", "%s", "postgres"),
            ("a = $1 AND b = %s AND name = 'E'", 1),
        )


class PlaceholdersAfterIsTests(SynchronousTestCase):
    """
    Tests for L{placeholdersAfterIs}, which finds the C{%s} placeholders
    that follow C{IS} or C{IS NOT} (psycopg 3 writes C{None}, C{True} and
    C{False} there into the statement).
    """

    def test_dictToWhere(self):
        """
        The query is cut at its placeholders; the one after C{is} is found.
        """
        self.assertEqual(
            placeholdersAfterIs("(a = %s) AND (b is %s)", "postgres"),
            (("(a = ", ") AND (b is ", ")"), frozenset({1})),
        )

    def test_isNot(self):
        """
        C{IS NOT} in any case, with any white space, also at the end.
        """
        self.assertEqual(
            placeholdersAfterIs("x IS NOT %s AND y iS\n  nOt\t%s", "postgres"),
            (("x IS NOT ", " AND y iS\n  nOt\t", ""), frozenset({0, 1})),
        )

    def test_none(self):
        """
        C{None} when no placeholder follows C{IS}: C{IS} inside a word, a
        quoted name, a string or a comment does not count, nor does a
        literal percent sign, nor C{IS DISTINCT FROM}.
        """
        for query in [
            "this %s", "x_is %s", 'a = "is" %s', "a = 'is %s'", "a = 1 -- is %s",
            "a = 1 /* is %s */", "a = $$ is %s $$", "a = E'\\' is %s'", "a is %%s",
            "a IS DISTINCT FROM %s", "a = %s",
        ]:
            self.assertIsNone(placeholdersAfterIs(query, "postgres"), query)

    def test_quotedPartsKept(self):
        """
        Strings, quoted names and comments stay in the pieces unchanged, and
        the placeholders after them are counted.
        """
        self.assertEqual(
            placeholdersAfterIs("'%%s' = %s AND \"b\" IS %s /* %s */", "postgres"),
            (("'%%s' = ", ' AND "b" IS ', " /* %s */"), frozenset({1})),
        )


class DialectTestsMixin:
    """
    Exact SQL expected from one dialect; subclasses set C{config} and the
    dialect's expectations.
    """

    config: InteractionBase
    q: str
    placeholder: str
    insertSuffix: str
    emptyInsert: str
    lastInsertIDQuery: str

    def sql(self, text):
        """
        @return: C{text} with C{[} and C{]} replaced by this dialect's
            identifier quote and C{$} by its placeholder.
        """
        return text.replace("[", self.q).replace("]", self.q).replace("$", self.placeholder)

    def test_placeholder(self):
        """
        C{placeholder} is the driver's paramstyle marker.
        """
        self.assertEqual(self.config.placeholder, self.placeholder)

    def test_selectAll(self):
        """
        A select without arguments selects every column of the quoted table.
        """
        self.assertEqual(
            self.config.buildSelect("users"), (self.sql("SELECT * FROM [users]"), [])
        )

    def test_selectEverything(self):
        """
        An id, a where, group, order and a (limit, offset) all appear, with
        the id condition ANDed to the where.
        """
        self.assertEqual(
            self.config.buildSelect(
                "users", 3, ["age > ? AND first_name LIKE ?", 1, "a%"], "age", (2, 5),
                "age DESC",
            ),
            (
                self.sql(
                    "SELECT * FROM [users] WHERE ([id] = $) AND (age > $ AND first_name LIKE $)"
                    " GROUP BY age ORDER BY age DESC LIMIT 2 OFFSET 5"
                ),
                [3, 1, "a%"],
            ),
        )

    def test_selectLimitAndSelect(self):
        """
        C{limit} adds a LIMIT clause and C{select} replaces C{*}.
        """
        self.assertEqual(
            self.config.buildSelect("users", limit=1, select="COUNT(*)"),
            (self.sql("SELECT COUNT(*) FROM [users] LIMIT 1"), []),
        )

    def test_selectBadLimit(self):
        """
        A negative or non-integer limit is rejected before any SQL exists.
        """
        self.assertRaises(InvalidQueryError, self.config.buildSelect, "users", limit=-1)
        self.assertRaises(InvalidQueryError, self.config.buildSelect, "users", limit="1")
        self.assertRaises(InvalidQueryError, self.config.buildSelect, "users", limit=(1, 2, 3))

    def test_insert(self):
        """
        An insert quotes the column names (reserved words included) and
        returns the id where the dialect can.
        """
        self.assertEqual(
            self.config.buildInsert("coltests", ["select", "where"], True),
            self.sql("INSERT INTO [coltests] ([select], [where]) VALUES ($, $)")
            + self.insertSuffix,
        )
        self.assertEqual(
            self.config.buildInsert("coltests", ["select"], False),
            self.sql("INSERT INTO [coltests] ([select]) VALUES ($)"),
        )

    def test_insertNoColumns(self):
        """
        An insert of no columns uses the dialect's empty-insert clause.
        """
        self.assertEqual(
            self.config.buildInsert("users", [], False),
            self.sql("INSERT INTO [users] ") + self.emptyInsert,
        )

    def test_update(self):
        """
        An update sets the quoted columns; the where arguments are returned.
        """
        self.assertEqual(
            self.config.buildUpdate("users", ["first_name", "age"], ["id = ?", 3], None),
            (self.sql("UPDATE [users] SET [first_name] = $, [age] = $ WHERE id = $"), [3]),
        )

    def test_updateNoWhere(self):
        """
        An update without a where has no WHERE clause.
        """
        self.assertEqual(
            self.config.buildUpdate("users", ["age"], None, None),
            (self.sql("UPDATE [users] SET [age] = $"), []),
        )

    def test_delete(self):
        """
        A delete with a where, and one without.
        """
        self.assertEqual(
            self.config.buildDelete("users", ["age < ?", 3]),
            (self.sql("DELETE FROM [users] WHERE age < $"), [3]),
        )
        self.assertEqual(
            self.config.buildDelete("users", None), (self.sql("DELETE FROM [users]"), [])
        )

    def test_whereToString(self):
        """
        C{whereToString} converts placeholders (not the quoted C{?}) and
        returns the arguments as a list.
        """
        percent = "%" if self.placeholder == "?" else "%%"
        self.assertEqual(
            self.config.whereToString(("a = ? AND b = '?' AND c LIKE '5%'", 1)),
            (self.sql("a = $ AND b = '?' AND c LIKE '5") + percent + "'", [1]),
        )

    def test_whereToStringWrongCount(self):
        """
        A where whose placeholders and arguments differ in number fails.
        """
        self.assertRaises(PlaceholderCountError, self.config.whereToString, ["a = ? AND b = ?", 1])
        self.assertRaises(PlaceholderCountError, self.config.whereToString, ["a = ?", 1, 2])

    def test_whereToStringNotAList(self):
        """
        A where that is not a list or tuple starting with a string fails.
        """
        self.assertRaises(InvalidQueryError, self.config.whereToString, "a = 1")
        self.assertRaises(InvalidQueryError, self.config.whereToString, [])
        self.assertRaises(InvalidQueryError, self.config.whereToString, [1, 2])

    def test_escapeColNames(self):
        """
        C{escapeColNames} quotes each name.
        """
        self.assertEqual(
            self.config.escapeColNames(["select", "where", "first_name"]),
            [self.sql("[select]"), self.sql("[where]"), self.sql("[first_name]")],
        )

    def test_escapeColNamesInvalid(self):
        """
        A name that is not a plain identifier is rejected.
        """
        self.assertRaises(InvalidIdentifierError, self.config.escapeColNames, ["a b"])
        self.assertRaises(InvalidIdentifierError, self.config.escapeColNames, ['a"b'])
        self.assertRaises(InvalidIdentifierError, self.config.buildSelect, "users; DROP")

    def test_quoteIdentifierDotted(self):
        """
        A C{schema.table} name has each part quoted.
        """
        self.assertEqual(self.config.quoteIdentifier("main.users"), self.sql("[main].[users]"))

    def test_lastInsertIDQuery(self):
        """
        The dialect's query for the last inserted id.
        """
        self.assertEqual(self.config.lastInsertIDQuery(), self.lastInsertIDQuery)


class SQLiteSQLTests(DialectTestsMixin, SynchronousTestCase):
    """
    SQL generated by L{SQLiteDBConfig}.
    """

    config = SQLiteDBConfig()
    q = "`"
    placeholder = "?"
    insertSuffix = ""
    emptyInsert = "DEFAULT VALUES"
    lastInsertIDQuery = "SELECT last_insert_rowid()"

    def test_updateLimit(self):
        """
        SQLite has no UPDATE ... LIMIT: the limit goes in an id subquery.
        """
        self.assertEqual(
            self.config.buildUpdate("users", ["age"], ["age = ?", 3], 2),
            (
                "UPDATE `users` SET `age` = ? WHERE `id` IN "
                "(SELECT `id` FROM `users` WHERE age = ? LIMIT 2)",
                [3],
            ),
        )


class PostgreSQLSQLTests(DialectTestsMixin, SynchronousTestCase):
    """
    SQL generated by L{PostgreSQLDBConfig}.
    """

    config = PostgreSQLDBConfig()
    q = '"'
    placeholder = "%s"
    insertSuffix = ' RETURNING "id"'
    emptyInsert = "DEFAULT VALUES"
    lastInsertIDQuery = "SELECT lastval()"

    def test_updateLimit(self):
        """
        PostgreSQL has no UPDATE ... LIMIT: the limit goes in an id subquery.
        """
        self.assertEqual(
            self.config.buildUpdate("users", ["age"], ["age = ?", 3], 2),
            (
                'UPDATE "users" SET "age" = %s WHERE "id" IN '
                '(SELECT "id" FROM "users" WHERE age = %s LIMIT 2)',
                [3],
            ),
        )


class MySQLSQLTests(DialectTestsMixin, SynchronousTestCase):
    """
    SQL generated by L{MySQLDBConfig}.
    """

    config = MySQLDBConfig()
    q = "`"
    placeholder = "%s"
    insertSuffix = ""
    emptyInsert = "() VALUES ()"
    lastInsertIDQuery = "SELECT LAST_INSERT_ID()"

    def test_updateLimit(self):
        """
        MySQL supports UPDATE ... LIMIT directly.
        """
        self.assertEqual(
            self.config.buildUpdate("users", ["age"], ["age = ?", 3], 2),
            ("UPDATE `users` SET `age` = %s WHERE age = %s LIMIT 2", [3]),
        )

    def test_whereBackslash(self):
        """
        In MySQL a backslash-escaped quote does not end a string, so a C{?}
        after it is still inside the string.
        """
        self.assertEqual(
            self.config.whereToString([r"a = 'x\' ?' AND b = ?", 1]),
            (r"a = 'x\' ?' AND b = %s", [1]),
        )


class InteractionBaseTests(SynchronousTestCase):
    """
    Tests for L{InteractionBase} itself.
    """

    def test_constructibleWithoutArguments(self):
        """
        C{InteractionBase()} needs no arguments and uses C{?} placeholders.
        """
        config = InteractionBase()
        self.assertEqual(config.placeholder, "?")
        self.assertFalse(InteractionBase.LOG)
