"""
Tests for reading a database's schema (L{twistar.dbconfig.introspection}):
tables, columns, primary, foreign and unique keys, on the test database,
and the Python types of declared column types on each database.

The schemas here (a shop, a staff, a Chinook-like music library and tables
whose names do not follow twistar's inflection) are also those of the tests
of C{twistar models} and C{twistar check} (L{twistar.tests.test_cli}).
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from twistar.dbconfig.introspection import ColumnInfo, ForeignKeyInfo, TableInfo
from twistar.dbconfig.mysql import MySQLDBConfig
from twistar.dbconfig.postgres import PostgreSQLDBConfig, PsycopgDBConfig
from twistar.dbconfig.sqlite import SQLiteDBConfig
from twistar.exceptions import InvalidIdentifierError
from twistar.registry import Registry
from twistar.tests.helpers import MYSQL, POSTGRES, DBTestCase, tableDDL


def _fk(columns: str, table: str, references: str) -> str:
    return f"FOREIGN KEY ({columns}) REFERENCES {table} ({references})"


# Table name -> column definitions ({type} markers as in helpers.TABLES; the
# names of the music library are quoted with {q}; a definition starting with
# MYSQL is for MySQL only), in an order in which each table names only those
# before it.
SCHEMA: dict[str, list[str]] = {
    # A shop: a join model (order_items), a plain join table
    # (labels_products), two foreign keys to one table (orders), timestamps
    # and a version column.
    "customers": ["id {pk}", "name {str} NOT NULL", "email {str} UNIQUE",
                  "created_at {datetime}", "updated_at {datetime}"],
    "addresses": ["id {pk}", "customer_id {int} NOT NULL", "street {str}",
                  _fk("customer_id", "customers", "id")],
    "orders": ["id {pk}", "customer_id {int} NOT NULL", "billing_address_id {int}",
               "placed {date}", "total {decimal}", "paid {bool}", "lock_version {int}",
               _fk("customer_id", "customers", "id"),
               _fk("billing_address_id", "addresses", "id")],
    "products": ["id {pk}", "name {str} NOT NULL", "price {decimal}", "photo {bytes}"],
    "order_items": ["id {pk}", "order_id {int} NOT NULL", "product_id {int} NOT NULL",
                    "quantity {int} NOT NULL", _fk("order_id", "orders", "id"),
                    _fk("product_id", "products", "id")],
    "labels": ["id {pk}", "name {str}"],
    "labels_products": ["label_id {int} NOT NULL", "product_id {int} NOT NULL",
                        "PRIMARY KEY (label_id, product_id)", _fk("label_id", "labels", "id"),
                        _fk("product_id", "products", "id")],
    # A composite key, named by a composite foreign key written in another
    # order than the key's (which MySQL wants an index of, in that order),
    # from a join model.
    "bins": ["aisle {int} NOT NULL", "shelf {int} NOT NULL", "PRIMARY KEY (aisle, shelf)",
             "MYSQL INDEX (shelf, aisle)"],
    "stock_items": ["id {pk}", "bin_aisle {int} NOT NULL", "bin_shelf {int} NOT NULL",
                    "product_id {int} NOT NULL", "quantity {int}",
                    _fk("bin_shelf, bin_aisle", "bins", "shelf, aisle"),
                    _fk("product_id", "products", "id")],
    # Staff: a self-reference, a has-one (a unique foreign key), a
    # self-referencing join table.
    "employees": ["id {pk}", "name {str}", "manager_id {int}",
                  _fk("manager_id", "employees", "id")],
    "people": ["id {pk}", "name {str}"],
    "passports": ["id {pk}", "person_id {int} UNIQUE", "number {str}",
                  "FOREIGN KEY (person_id) REFERENCES people{people_key}"],
    "friendships": ["person_id {int} NOT NULL", "friend_id {int} NOT NULL",
                    _fk("person_id", "people", "id"), _fk("friend_id", "people", "id")],
    # Names that do not come back from their class name: status (a text
    # key), data and news (which do), a column named as a DBObject method.
    "status": ["code {str} PRIMARY KEY", "label {str}"],
    "data": ["id {pk}", "status_code {str}", "value {float}",
             _fk("status_code", "status", "code")],
    "news": ["id {pk}", "title {str}", "{q}count{q} {int}"],
    # A Chinook-like music library: CamelCase tables and columns, keys named
    # <Table>Id, a join table with a composite primary key.
    "Artist": ["{q}ArtistId{q} {pk}", "{q}Name{q} {str}"],
    "Album": ["{q}AlbumId{q} {pk}", "{q}Title{q} {str} NOT NULL", "{q}ArtistId{q} {int} NOT NULL",
              _fk("{q}ArtistId{q}", "{q}Artist{q}", "{q}ArtistId{q}")],
    "Track": ["{q}TrackId{q} {pk}", "{q}Name{q} {str} NOT NULL", "{q}AlbumId{q} {int}",
              "{q}Milliseconds{q} {int}", _fk("{q}AlbumId{q}", "{q}Album{q}", "{q}AlbumId{q}")],
    "Playlist": ["{q}PlaylistId{q} {pk}", "{q}Name{q} {str}"],
    "PlaylistTrack": ["{q}PlaylistId{q} {int} NOT NULL", "{q}TrackId{q} {int} NOT NULL",
                      "PRIMARY KEY ({q}PlaylistId{q}, {q}TrackId{q})",
                      _fk("{q}PlaylistId{q}", "{q}Playlist{q}", "{q}PlaylistId{q}"),
                      _fk("{q}TrackId{q}", "{q}Track{q}", "{q}TrackId{q}")],
}

PLAIN_JOINS = ("labels_products", "friendships", "PlaylistTrack")
"""The tables of L{SCHEMA} that hold nothing but two foreign keys."""


def _quote(kind: str) -> str:
    return "`" if kind == MYSQL else '"'


def createSchema(txn: Any, kind: str, tables: dict[str, list[str]] = SCHEMA) -> None:
    """
    Drop and create C{tables} (see L{SCHEMA}) for backend C{kind}.
    """
    dropSchema(txn, kind, tables)
    q = _quote(kind)
    for name, columns in tables.items():
        # REFERENCES a table without columns: its primary key (MySQL needs them).
        filled = [column.replace("{people_key}", " (id)" if kind == MYSQL else "")
                  for column in columns]
        filled = [column.removeprefix("MYSQL ") for column in filled
                  if kind == MYSQL or not column.startswith("MYSQL ")]
        txn.execute(tableDDL(kind, f"{q}{name}{q}", filled))


def dropSchema(txn: Any, kind: str, tables: dict[str, list[str]] = SCHEMA) -> None:
    """
    Drop C{tables}, those naming others first.
    """
    q = _quote(kind)
    for name in reversed(list(tables)):
        txn.execute(f"DROP TABLE IF EXISTS {q}{name}{q}{' CASCADE' if kind == POSTGRES else ''}")


class SchemaTestCase(DBTestCase):
    """
    A test case whose database also has the tables of L{SCHEMA}, dropped at
    its end.
    """

    async def setUp(self) -> None:
        await super().setUp()
        await self.pool.runInteraction(createSchema, self.backend)
        self.addCleanup(self.pool.runInteraction, dropSchema, self.backend)


class ReadTablesTests(SchemaTestCase):
    """
    C{Registry.getConfig().introspect()} and C{readTable} on the test
    database.
    """

    async def introspect(self, *names: str) -> dict[str, TableInfo]:
        return await Registry.getConfig().introspect(list(names) or None)

    async def test_tableNames(self) -> None:
        """
        Every table of the schema is read, with nothing for a name of no
        table.
        """
        tables = await self.introspect()
        self.assertTrue(set(SCHEMA) <= set(tables), sorted(set(SCHEMA) - set(tables)))
        self.assertEqual(await self.introspect("nosuchtable"), {})

    async def test_columns(self) -> None:
        """
        The columns come in order, with their declared types and whether
        they may be C{NULL}; primary key columns never may.
        """
        customers = (await self.introspect("customers"))["customers"]
        self.assertEqual(customers.columnNames,
                         ("id", "name", "email", "created_at", "updated_at"))
        self.assertEqual([c.nullable for c in customers.columns],
                         [False, False, True, True, True])
        self.assertIn("char", customers.column("name").declared.lower())
        self.assertIsNone(customers.column("missing"))
        bins = (await self.introspect("bins"))["bins"]
        self.assertEqual(bins.columns, (
            ColumnInfo("aisle", bins.columns[0].declared, False),
            ColumnInfo("shelf", bins.columns[1].declared, False),
        ))

    async def test_primaryKeys(self) -> None:
        """
        Primary keys are read in key order: one column, several, another
        name than C{id}, none.
        """
        tables = await self.introspect("customers", "bins", "status", "Artist", "PlaylistTrack",
                                       "friendships")
        self.assertEqual({name: table.primaryKey for name, table in tables.items()}, {
            "customers": ("id",), "bins": ("aisle", "shelf"), "status": ("code",),
            "Artist": ("ArtistId",), "PlaylistTrack": ("PlaylistId", "TrackId"),
            "friendships": (),
        })

    async def test_foreignKeys(self) -> None:
        """
        Foreign keys are read with the columns they name, in the order they
        were declared; one naming a table without columns names its primary
        key.
        """
        tables = await self.introspect("orders", "stock_items", "passports", "Album",
                                       "employees")
        self.assertEqual(sorted(tables["orders"].foreignKeys, key=repr), [
            ForeignKeyInfo(("billing_address_id",), "addresses", ("id",)),
            ForeignKeyInfo(("customer_id",), "customers", ("id",)),
        ])
        self.assertEqual(sorted(tables["stock_items"].foreignKeys, key=repr), [
            ForeignKeyInfo(("bin_shelf", "bin_aisle"), "bins", ("shelf", "aisle")),
            ForeignKeyInfo(("product_id",), "products", ("id",)),
        ])
        self.assertEqual(tables["passports"].foreignKeys,
                         (ForeignKeyInfo(("person_id",), "people", ("id",)),))
        self.assertEqual(tables["Album"].foreignKeys,
                         (ForeignKeyInfo(("ArtistId",), "Artist", ("ArtistId",)),))
        self.assertEqual(tables["employees"].foreignKeys,
                         (ForeignKeyInfo(("manager_id",), "employees", ("id",)),))

    async def test_uniqueKeys(self) -> None:
        """
        Unique constraints and unique indexes are read, but the primary key
        and indexes that are not unique; L{TableInfo.isUnique} knows them
        and the primary key.
        """
        await self.pool.runOperation("CREATE UNIQUE INDEX stock_place ON stock_items "
                                     "(bin_aisle, bin_shelf, product_id)")
        await self.pool.runOperation("CREATE INDEX stock_product ON stock_items (product_id)")
        tables = await self.introspect("customers", "passports", "stock_items", "orders")
        self.assertEqual(tables["customers"].uniqueKeys, (("email",),))
        self.assertEqual(tables["passports"].uniqueKeys, (("person_id",),))
        self.assertEqual(tables["stock_items"].uniqueKeys,
                         (("bin_aisle", "bin_shelf", "product_id"),))
        self.assertEqual(tables["orders"].uniqueKeys, ())
        self.assertTrue(tables["passports"].isUnique(["person_id"]))
        self.assertTrue(tables["stock_items"].isUnique(["product_id", "bin_aisle", "bin_shelf"]))
        self.assertTrue(tables["orders"].isUnique(["id"]))
        self.assertFalse(tables["orders"].isUnique(["customer_id"]))

    async def test_readTableOnTransaction(self) -> None:
        """
        C{readTable} runs on a cursor given, like the rest of the SQL layer;
        it refuses a name that is no identifier before sending anything.
        """
        config = Registry.getConfig()
        news = await self.pool.runInteraction(config.readTable, "news")
        self.assertEqual(news.columnNames, ("id", "title", "count"))
        self.assertIsNone(await self.pool.runInteraction(config.readTable, "nosuchtable"))
        with self.assertRaises(InvalidIdentifierError):
            await self.pool.runInteraction(config.readTable, "news; DROP TABLE news")


class PythonTypeTests(SynchronousTestCase):
    """
    C{pythonType}: the Python type of the values each database's driver
    reads from a column of a declared type.
    """

    def assertTypes(self, config: Any, expected: dict[str, str]) -> None:
        self.assertEqual({declared: config.pythonType(declared) for declared in expected},
                         expected)

    def test_sqlite(self) -> None:
        """
        SQLite: as its type affinity reads the declared type; dates and
        times come back as text, booleans as integers.
        """
        self.assertTypes(SQLiteDBConfig(), {
            "INTEGER": "int", "BIGINT": "int", "UNSIGNED BIG INT": "int", "VARCHAR(255)": "str",
            "TEXT": "str", "CLOB": "str", "BLOB": "bytes", "REAL": "float",
            "DOUBLE PRECISION": "float", "DECIMAL(20, 6)": "Decimal", "NUMERIC": "Decimal",
            "BOOLEAN": "bool | int", "DATE": "date | str", "TIME": "time | str",
            "TIMESTAMP": "datetime | str", "DATETIME": "datetime | str", "": "Any",
        })

    def test_postgres(self) -> None:
        """
        PostgreSQL, as C{format_type} writes the types, for both drivers.
        """
        expected = {
            "integer": "int", "bigint": "int", "smallint": "int", "character varying(255)": "str",
            "text": "str", "character(3)": "str", "boolean": "bool", "numeric(20,6)": "Decimal",
            "double precision": "float", "real": "float", "bytea": "bytes", "date": "date",
            "time without time zone": "time", "timestamp without time zone": "datetime",
            "timestamp(3) with time zone": "datetime", "interval": "timedelta",
            "integer[]": "list[Any]", "jsonb": "Any", "uuid": "Any", "int4range": "Any",
            "point": "Any",
        }
        self.assertTypes(PostgreSQLDBConfig(), expected)
        self.assertTypes(PsycopgDBConfig(), expected)

    def test_mysql(self) -> None:
        """
        MySQL and MariaDB, as C{COLUMN_TYPE} writes the types: BOOLEAN is
        C{tinyint(1)}, read as an integer; TIME is read as a timedelta.
        """
        self.assertTypes(MySQLDBConfig(), {
            "int(11)": "int", "bigint(20) unsigned": "int", "tinyint(4)": "int",
            "tinyint(1)": "bool | int", "varchar(255)": "str", "longtext": "str",
            "enum('a','b')": "str", "decimal(20,6)": "Decimal", "double": "float",
            "longblob": "bytes", "varbinary(16)": "bytes", "bit(1)": "bytes", "date": "date",
            "time(6)": "timedelta", "datetime(6)": "datetime", "timestamp": "datetime",
            "year(4)": "int", "json": "str",
        })

