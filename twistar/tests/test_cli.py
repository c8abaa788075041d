"""
Tests for the C{twistar} command (L{twistar.cli}): C{twistar models}, whose
code is run against the database it was written from (rows saved, found and
followed through every relationship), and C{twistar check}, on the schemas
of L{twistar.tests.test_introspection} on the test database; C{--help};
and the command run as C{python -m twistar}.

The command runs in the test's reactor (L{twistar.cli.run}); C{sys.stdout}
and C{sys.stderr} are captured.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, entry_points
from importlib.metadata import distribution as installedDistribution
from io import StringIO
from pathlib import Path
from typing import Any

from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from twistar import cli
from twistar.dbconfig.introspection import ColumnInfo, ForeignKeyInfo, TableInfo
from twistar.dbconfig.sqlite import SQLiteDBConfig
from twistar.modelgen import writeModels
from twistar.registry import Registry
from twistar.tests.helpers import SQLITE, testDatabase
from twistar.tests.test_docs import NO_CHECKOUT, ROOT
from twistar.tests.test_introspection import PLAIN_JOINS, SCHEMA, SchemaTestCase

# The tables models are written for in most tests: the schema's, but the
# plain join tables (found without being named).
TABLES = [name for name in SCHEMA if name not in PLAIN_JOINS]


def sameTwistar() -> dict[str, str]:
    """
    @return: the environment for a Python subprocess that imports the
        twistar these tests import.
    """
    env = dict(os.environ)
    parent = str(Path(cli.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([parent, *filter(None, [env.get("PYTHONPATH")])])
    return env


def keepRegistry(testCase: TestCase | SynchronousTestCase) -> None:
    """
    Put L{Registry.REGISTRATION} back as it is now at the end of
    C{testCase}: the models written register classes named as other tests'.
    """
    saved = dict(Registry.REGISTRATION)

    def restore() -> None:
        Registry.REGISTRATION.clear()
        Registry.REGISTRATION.update(saved)

    testCase.addCleanup(restore)


def loadSource(testCase: TestCase | SynchronousTestCase, source: str) -> dict[str, Any]:
    """
    Run the module C{source}, registering its models until the end of
    C{testCase}.

    @return: its names.
    """
    keepRegistry(testCase)
    namespace: dict[str, Any] = {"__name__": "twistar_generated_models"}
    exec(compile(source, "<twistar models>", "exec"), namespace)
    return namespace


def modulesDirectory(testCase: TestCase | SynchronousTestCase) -> Path:
    """
    @return: a new directory on C{sys.path} until the end of C{testCase},
        whose modules are forgotten then.
    """
    directory = Path(tempfile.mkdtemp(prefix="models-", dir="."))
    sys.path.insert(0, str(directory.resolve()))
    before = set(sys.modules)

    def forget() -> None:
        sys.path.remove(str(directory.resolve()))
        for name in set(sys.modules) - before:
            module = sys.modules[name]
            if str(getattr(module, "__file__", "") or "").startswith(str(directory.resolve())):
                del sys.modules[name]

    testCase.addCleanup(forget)
    return directory


class CommandTestCase(SchemaTestCase):
    """
    A test case that runs the command on the test database, which has the
    tables of L{SCHEMA}.
    """

    def url(self) -> str:
        """
        @return: the URL of the test database (for SQLite, of this test's
            file).
        """
        if self.backend == SQLITE:
            return "sqlite:///" + os.path.abspath(self.pool.connargs[0])
        return testDatabase()

    async def command(self, *argv: str) -> tuple[int, str, str]:
        """
        Run C{twistar argv...} in this process.

        @return: its exit status, what it printed to standard output, and
            to standard error.
        """
        out, err = StringIO(), StringIO()
        self.patch(sys, "stdout", out)
        self.patch(sys, "stderr", err)
        try:
            status = await cli.run(list(argv))
        finally:
            self.patch(sys, "stdout", sys.__stdout__)
            self.patch(sys, "stderr", sys.__stderr__)
        self.assertIs(Registry.DBPOOL, self.pool)
        return status, out.getvalue(), err.getvalue()

    async def models(self, *tables: str) -> str:
        """
        @return: the module C{twistar models URL tables...} writes.
        """
        status, out, err = await self.command("models", self.url(), *tables)
        self.assertEqual((status, err), (cli.OK, ""))
        return out


class ModelsTests(CommandTestCase):
    """
    C{twistar models}.
    """

    async def test_declarations(self) -> None:
        """
        The classes are named by their tables' singulars, with TABLENAME,
        PRIMARY_KEY, TIMESTAMPS, LOCK_VERSION and the relationships, with
        their options, where they differ from the conventions.
        """
        source = await self.models(*TABLES)
        for line in [
            "class Customer(DBObject):\n    TIMESTAMPS = True\n",
            '    HASMANY = ["addresses", "orders"]',
            '    LOCK_VERSION = "lock_version"',
            '    HABTM = [{"name": "products", "through": "OrderItem"}]',
            'class OrderItem(DBObject):\n    BELONGSTO = ["order", "product"]\n',
            'class Bin(DBObject):\n    PRIMARY_KEY = ("aisle", "shelf")\n',
            '    HABTM = [{"name": "products", "through": "StockItem"}]',
            'class StockItem(DBObject):\n    BELONGSTO = ["bin", "product"]\n',
            'class Status(DBObject):\n    TABLENAME = "status"\n    PRIMARY_KEY = "code"\n'
            '    HASMANY = [{"name": "data", "foreign_key": "status_code"}]\n',
            'class Datum(DBObject):\n    BELONGSTO = [{"name": "status", '
            '"foreign_key": "status_code"}]\n',
            "class News(DBObject):\n    id: int\n",
            "    # column 'count': DBObject has an attribute of that name",
            '    BELONGSTO = [{"name": "manager", "class_name": "Employee"}]',
            '    HASMANY = [\n        {"name": "employees_as_manager", "class_name": "Employee",'
            ' "foreign_key": "manager_id"},\n    ]',
            '    HASONE = ["passport"]',
            'class Album(DBObject):\n    TABLENAME = "Album"\n    PRIMARY_KEY = "AlbumId"\n'
            '    BELONGSTO = [{"name": "artist", "foreign_key": "ArtistId"}]\n'
            '    HASMANY = [{"name": "tracks", "foreign_key": "AlbumId"}]\n',
            '        {"name": "tracks", "foreign_key": "PlaylistId", '
            '"association_foreign_key": "TrackId",\n         "join_table": "PlaylistTrack"},',
            '        {"name": "friends", "class_name": "Person", '
            '"association_foreign_key": "friend_id",\n         "join_table": "friendships"},',
            '        {"name": "people_as_friend", "class_name": "Person", '
            '"foreign_key": "friend_id",\n         "join_table": "friendships"},',
            "    orders: HasMany[Order]",
            "    products: HABTMThrough[Product]",
            "    labels: HasAndBelongsToMany[Label]",
            "    # order: BelongsTo[Order], hiding DBObject.order",
        ]:
            self.assertIn(line, source)
        self.assertIn('"""\nModels of the database from ', source)
        self.assertTrue(source.endswith(")\n"), source[-200:])

    async def test_annotations(self) -> None:
        """
        Columns are annotated with the Python types of their values as the
        driver reads them, C{| None} when they may be C{NULL}.
        """
        source = await self.models("orders", "products", "customers")
        for column, python in [
            ("id", "int"), ("customer_id", "int"), ("billing_address_id", "int | None"),
            ("total", "Decimal | None"), ("lock_version", "int | None"),
            ("photo", "bytes | None"), ("name", "str"), ("email", "str | None"),
        ]:
            self.assertIn(f"\n    {column}: {python}\n", source)
        types = {
            SQLITE: ("date | str", "bool | int", "datetime | str"),
            "postgres": ("date", "bool", "datetime"),
            "mysql": ("date", "bool | int", "datetime"),
        }[self.backend]
        for column, python in zip(["placed", "paid", "created_at"], types):
            self.assertIn(f"\n    {column}: {python} | None\n", source)
        self.assertIn("from decimal import Decimal\n", source)

    async def test_roundTrip(self) -> None:
        """
        The module written imports, and its models save rows, find them,
        and follow every relationship: belongs-to, has-many, has-one,
        HABTM through a join table and through a join model, with keys of
        other names and composite keys.
        """
        names = loadSource(self, await self.models(*TABLES))
        Customer, Address, Order, Product, OrderItem, Label = (
            names[n] for n in ("Customer", "Address", "Order", "Product", "OrderItem", "Label"))
        alice = await Customer(name="Alice", email="alice@example.com").save()
        self.assertIsNotNone(alice.created_at)
        home = await Address(customer_id=alice.id, street="1 Main St").save()
        order = await Order(customer_id=alice.id, billing_address_id=home.id,
                            placed=date(2024, 1, 2), total=Decimal("9.50"), paid=True).save()
        self.assertEqual(order.lock_version, 0)
        widget = await Product(name="widget", price=Decimal("4.75")).save()
        gadget = await Product(name="gadget").save()
        item = await order.products.add(widget, quantity=2)
        self.assertIsInstance(item, OrderItem)
        await OrderItem(order_id=order.id, product_id=gadget.id, quantity=1).save()

        loaded = await Order.find(order.id)
        self.assertEqual((str(loaded.placed), loaded.total, loaded.paid),
                         ("2024-01-02", Decimal("9.5"), True))
        loaded.total = Decimal("10")
        await loaded.save()
        self.assertEqual(loaded.lock_version, 1)
        self.assertEqual((await order.customer.get()).name, "Alice")
        self.assertEqual((await order.billing_address.get()).street, "1 Main St")
        self.assertEqual([o.id for o in await alice.orders.get()], [order.id])
        self.assertEqual([a.street for a in await alice.addresses.get()], ["1 Main St"])
        self.assertEqual([o.id for o in await home.orders_as_billing_address.get()], [order.id])
        self.assertEqual(sorted(p.name for p in await order.products.get()),
                         ["gadget", "widget"])
        self.assertEqual([o.id for o in await widget.orders.get()], [order.id])
        self.assertEqual((await item.order.get()).id, order.id)
        self.assertEqual([i.quantity for i in await widget.order_items.get()], [2])

        red = await Label(name="red").save()
        await widget.labels.set([red])
        self.assertEqual([p.name for p in await red.products.get()], ["widget"])

        Bin, StockItem = names["Bin"], names["StockItem"]
        upper = await Bin(aisle=1, shelf=2).save()
        await Bin(aisle=2, shelf=1).save()
        stock = await upper.products.add(widget, quantity=3)
        self.assertIsInstance(stock, StockItem)
        self.assertEqual((stock.bin_aisle, stock.bin_shelf), (1, 2))
        self.assertEqual((await stock.bin.get()).shelf, 2)
        self.assertEqual([s.quantity for s in await upper.stock_items.get()], [3])
        self.assertEqual([p.name for p in await upper.products.get()], ["widget"])
        self.assertEqual([(b.aisle, b.shelf) for b in await widget.bins.get()], [(1, 2)])
        self.assertEqual((await Bin.find((1, 2))).aisle, 1)

    async def test_roundTripStaff(self) -> None:
        """
        A self-reference, a has-one, a self-referencing join table, text
        keys and names that do not come back from their class names.
        """
        names = loadSource(self, await self.models(*TABLES))
        Employee, Person, Passport = (names[n] for n in ("Employee", "Person", "Passport"))
        boss = await Employee(name="Boss").save()
        worker = await Employee(name="Worker", manager_id=boss.id).save()
        self.assertEqual((await worker.manager.get()).name, "Boss")
        self.assertEqual([e.name for e in await boss.employees_as_manager.get()], ["Worker"])

        ann, bob = await Person(name="Ann").save(), await Person(name="Bob").save()
        await ann.passport.set(Passport(number="P-1"))
        self.assertEqual((await ann.passport.get()).number, "P-1")
        self.assertIsNone(await bob.passport.get())
        await ann.friends.set([bob])
        self.assertEqual([p.name for p in await ann.friends.get()], ["Bob"])
        self.assertEqual([p.name for p in await bob.people_as_friend.get()], ["Ann"])

        Status, Datum, News = (names[n] for n in ("Status", "Datum", "News"))
        self.assertEqual((Status.tablename(), Datum.tablename(), News.tablename()),
                         ("status", "data", "news"))
        fresh = await Status(code="new", label="New").save()
        datum = await Datum(status_code="new", value=1.5).save()
        self.assertEqual((await datum.status.get()).label, "New")
        self.assertEqual([d.value for d in await fresh.data.get()], [1.5])
        self.assertEqual((await Status.find("new")).label, "New")
        news = await News(title="hello").save()
        self.assertEqual((await News.find(news.id)).title, "hello")

        Artist, Album, Track, Playlist = (names[n] for n in ("Artist", "Album", "Track",
                                                             "Playlist"))
        acdc = await Artist(Name="AC/DC").save()
        album = await Album(Title="Back in Black", ArtistId=acdc.ArtistId).save()
        bells = await Track(Name="Hells Bells", AlbumId=album.AlbumId).save()
        shoot = await Track(Name="Shoot to Thrill", AlbumId=album.AlbumId).save()
        self.assertEqual((await album.artist.get()).Name, "AC/DC")
        self.assertEqual([a.Title for a in await acdc.albums.get()], ["Back in Black"])
        self.assertEqual(sorted(t.Name for t in await album.tracks.get()),
                         ["Hells Bells", "Shoot to Thrill"])
        rock = await Playlist(Name="Rock").save()
        await rock.tracks.set([bells, shoot])
        self.assertEqual(sorted(t.TrackId for t in await rock.tracks.get()),
                         sorted([bells.TrackId, shoot.TrackId]))
        self.assertEqual([p.Name for p in await bells.playlists.get()], ["Rock"])

    async def test_typeChecks(self) -> None:
        """
        The module written passes C{mypy --strict}: the annotations name
        types it imports, under other names where attributes hide them.
        """
        if importlib.util.find_spec("mypy") is None:
            raise SkipTest("mypy is not installed (pip install 'twistar[dev]')")
        path = modulesDirectory(self) / "typed_models.py"
        path.write_text(await self.models(*TABLES))
        env = sameTwistar()
        env["MYPYPATH"] = env["PYTHONPATH"]
        out, err, status = await getProcessOutputAndValue(
            sys.executable, ["-m", "mypy", "--strict", "--no-incremental",
                             "--cache-dir", os.devnull, str(path)], env=env)
        self.assertEqual(status, 0, (out + err).decode())

    async def test_everyTable(self) -> None:
        """
        Without table names, a model is written for every table but the
        plain join tables, which the HABTMs name.
        """
        source = await self.models()
        names = loadSource(self, source)
        for name in ["Customer", "Order", "OrderItem", "Bin", "Status", "Datum", "Playlist"]:
            self.assertIn(name, names)
        for name in ["LabelsProduct", "Friendship", "PlaylistTrack"]:
            self.assertNotIn(name, names)
        self.assertEqual(names["Label"].HABTM, ["products"])
        self.assertEqual(names["Playlist"].HABTM, [{
            "name": "tracks", "foreign_key": "PlaylistId", "association_foreign_key": "TrackId",
            "join_table": "PlaylistTrack"}])

    async def test_someTables(self) -> None:
        """
        Given table names, models are written for those only, with the
        relationships between them.
        """
        names = loadSource(self, await self.models("orders", "customers"))
        models = [name for name, value in names.items()
                  if isinstance(value, type) and value.__module__ == "twistar_generated_models"]
        self.assertEqual(sorted(models), ["Customer", "Order"])
        self.assertEqual(names["Order"].BELONGSTO, ["customer"])
        self.assertEqual(names["Customer"].HASMANY, ["orders"])

    async def test_unknownTable(self) -> None:
        """
        A name of no table is an error (exit status 2), which names it.
        """
        status, out, err = await self.command("models", self.url(), "orders", "nosuchtable")
        self.assertEqual((status, out), (cli.ERROR, ""))
        self.assertIn("no table nosuchtable in ", err)

    async def test_output(self) -> None:
        """
        C{-o FILE} writes the module to that file instead.
        """
        path = os.path.abspath("models_output.py")
        status, out, err = await self.command("models", "-o", path, self.url(), "customers")
        self.assertEqual((status, out, err), (cli.OK, "", ""))
        self.assertIn("class Customer(DBObject):", Path(path).read_text())

    async def test_urlFromEnvironment(self) -> None:
        """
        Without a URL, the one of C{DATABASE_URL} is used; without either,
        the command fails (exit status 2), saying so.
        """
        self.patch(os, "environ", {**os.environ, "DATABASE_URL": self.url()})
        status, out, err = await self.command("models", "customers")
        self.assertEqual((status, err), (cli.OK, ""))
        self.assertIn("class Customer(DBObject):", out)
        del os.environ["DATABASE_URL"]
        status, out, err = await self.command("models", "customers")
        self.assertEqual((status, out), (cli.ERROR, ""))
        self.assertIn("no database URL given, and $DATABASE_URL is not set", err)

    async def test_badURL(self) -> None:
        """
        A URL that cannot be used is an error (exit status 2), explained.
        """
        status, out, err = await self.command("models", "nosuchdb://localhost/x")
        self.assertEqual((status, out), (cli.ERROR, ""))
        self.assertIn("InvalidURLError", err)
        self.assertIn("nosuchdb", err)
        # No server listens on port 1; the password is never printed.
        status, out, err = await self.command("models", "postgresql://app:s3cret@127.0.0.1:1/x")
        self.assertEqual((status, out), (cli.ERROR, ""))
        self.assertIn("twistar: ", err)
        self.assertNotIn("s3cret", err)

    async def test_noDatabase(self) -> None:
        """
        A SQLite file that is not there is an error (exit status 2), and is
        not made; so is a database without tables.
        """
        path = os.path.abspath("nosuch.db")
        status, out, err = await self.command("models", "sqlite:///" + path)
        self.assertEqual((status, out, err),
                         (cli.ERROR, "", f"twistar: no SQLite database at {path}\n"))
        self.assertFalse(os.path.exists(path))
        status, out, err = await self.command("models", "sqlite://:memory:")
        self.assertEqual((status, out, err),
                         (cli.ERROR, "", "twistar: no tables in sqlite://:memory:\n"))

    async def test_asSubprocess(self) -> None:
        """
        C{python -m twistar models} writes the module and exits with status 0.
        """
        out, err, status = await getProcessOutputAndValue(
            sys.executable, ["-m", "twistar", "models", self.url(), "customers", "orders"],
            env=sameTwistar(),
        )
        self.assertEqual((status, err.decode()), (0, ""))
        self.assertIn(b"class Order(DBObject):", out)
        self.assertIn(b'    HASMANY = ["orders"]', out)


_BROKEN = '''
from twistar.dbobject import DBObject
from twistar.registry import Registry


class Customer(DBObject):
    TIMESTAMPS = ("created", "updated_at")
    HASMANY = ["orders", "invoices"]
    HABTM = ["coupons"]
    nickname: str | None


class Order(DBObject):
    LOCK_VERSION = "version"
    BELONGSTO = ["customer", "shop"]


class Invoice(DBObject):
    pass


class Shelf(DBObject):
    TABLENAME = "bins"


Registry.register(Customer, Order, Invoice, Shelf)
'''


class CheckTests(CommandTestCase):
    """
    C{twistar check}.
    """

    def module(self, name: str, source: str) -> str:
        """
        Write the module C{name} for the command to import.

        @return: its name.
        """
        keepRegistry(self)
        (modulesDirectory(self) / f"{name}.py").write_text(source)
        return name

    async def test_modelsMatch(self) -> None:
        """
        The models written by C{twistar models} match the database: exit
        status 0, each model C{ok}.
        """
        module = self.module("shop_models", await self.models(*TABLES))
        status, out, err = await self.command("check", self.url(), module)
        self.assertEqual((status, err), (cli.OK, ""), out)
        self.assertIn(f"Checking {len(TABLES)} models of shop_models against ", out)
        self.assertIn("  OrderItem (table order_items): ok\n", out)
        self.assertTrue(out.endswith(f"All {len(TABLES)} models match the database.\n"), out)

    async def test_missing(self) -> None:
        """
        What the database lacks for the models is reported, model by model,
        and the exit status is 1.
        """
        module = self.module("broken_models", _BROKEN)
        status, out, err = await self.command("check", self.url(), module)
        self.assertEqual((status, err), (cli.PROBLEMS, ""))
        self.assertEqual(out.split("\n", 1)[1], "\n".join([
            "  Customer (table customers):",
            "    - customers has no column 'created' (TIMESTAMPS)",
            "    - customers has no column 'nickname' (annotated)",
            "    - table invoices does not exist (invoices: has-many Invoice)",
            "    - coupons: class 'Coupon' is not registered; call Registry.register(Coupon)"
            " after defining it",
            "  Invoice (table invoices):",
            "    - table invoices does not exist",
            "  Order (table orders):",
            "    - orders has no column 'version' (LOCK_VERSION)",
            "    - shop: class 'Shop' is not registered; call Registry.register(Shop) after"
            " defining it",
            "  Shelf (table bins):",
            "    - bins has no column 'id' (the primary key; set PRIMARY_KEY)",
            "8 problems in 4 of 4 models.",
            "",
        ]))

    async def test_relationshipColumns(self) -> None:
        """
        Missing foreign key columns and join tables of relationships are
        reported.
        """
        module = self.module("links_models", '''
from twistar.dbobject import DBObject
from twistar.registry import Registry


class Product(DBObject):
    HASMANY = ["stock_items", {"name": "items", "class_name": "OrderItem"}]
    HABTM = [
        "labels",
        {"name": "tags", "class_name": "Label", "association_foreign_key": "tag_id"},
        {"name": "stickers", "class_name": "Label", "join_table": "product_stickers"},
    ]


class Label(DBObject):
    pass


class OrderItem(DBObject):
    BELONGSTO = [{"name": "item", "class_name": "Product"}]


class StockItem(DBObject):
    HASONE = [{"name": "bin", "foreign_key": "stock_item_id"}]


class Bin(DBObject):
    PRIMARY_KEY = ("aisle", "shelf")


Registry.register(Product, Label, OrderItem, StockItem, Bin)
''')
        status, out, err = await self.command("check", self.url(), module)
        self.assertEqual((status, err), (cli.PROBLEMS, ""))
        self.assertEqual(out.split("\n", 1)[1], "\n".join([
            "  Bin (table bins): ok",
            "  Label (table labels): ok",
            "  OrderItem (table order_items):",
            "    - order_items has no column 'item_id' (item: belongs-to Product)",
            "  Product (table products):",
            "    - labels_products has no column 'tag_id' (tags: HABTM Label)",
            "    - join table product_stickers does not exist (stickers: HABTM Label)",
            "  StockItem (table stock_items):",
            "    - bins has no column 'stock_item_id' (bin: has-one Bin)",
            "4 problems in 3 of 5 models.",
            "",
        ]))

    async def test_importError(self) -> None:
        """
        A module that cannot be imported is an error (exit status 2), with
        its traceback.
        """
        module = self.module("failing_models", "raise RuntimeError('no models today')\n")
        status, out, err = await self.command("check", self.url(), module)
        self.assertEqual((status, out), (cli.ERROR, ""))
        self.assertIn("twistar: cannot import failing_models:", err)
        self.assertIn("RuntimeError: no models today", err)
        status, out, err = await self.command("check", self.url(), "no_such_module_here")
        self.assertEqual(status, cli.ERROR)
        self.assertIn("No module named 'no_such_module_here'", err)

    async def test_noModels(self) -> None:
        """
        A module that registers no models is an error (exit status 2).
        """
        module = self.module("empty_models", "VALUE = 1\n")
        status, out, err = await self.command("check", self.url(), module)
        self.assertEqual((status, out), (cli.ERROR, ""))
        self.assertIn("no models registered by empty_models", err)

    async def test_urlFromEnvironment(self) -> None:
        """
        Without a URL, the first argument is a module and C{DATABASE_URL}
        gives the database.
        """
        module = self.module("env_models", _BROKEN)
        self.patch(os, "environ", {**os.environ, "DATABASE_URL": self.url()})
        status, out, err = await self.command("check", module)
        self.assertEqual((status, err), (cli.PROBLEMS, ""))
        self.assertIn("8 problems in 4 of 4 models.", out)


class HelpTests(SynchronousTestCase):
    """
    C{--help} of the command and of each subcommand, and usage errors, in
    this process through L{twistar.cli.main}, which needs no reactor for
    them.
    """

    def main(self, *argv: str) -> tuple[int, str, str]:
        out, err = StringIO(), StringIO()
        self.patch(sys, "stdout", out)
        self.patch(sys, "stderr", err)
        status = cli.main(list(argv))
        return status, out.getvalue(), err.getvalue()

    def test_help(self) -> None:
        """
        C{twistar --help} names the commands, the URLs and examples.
        """
        status, out, err = self.main("--help")
        self.assertEqual((status, err), (0, ""))
        self.assertTrue(out.startswith("usage: twistar [-h] [--version] COMMAND ...\n"), out)
        for text in ["models    write model classes for the tables of a database",
                     "check     check the models of modules against a database",
                     "postgresql://user:password@host:port/dbname", "DATABASE_URL",
                     "twistar models sqlite:///shop.db > shop/models.py"]:
            self.assertIn(text, out)

    def test_commandHelp(self) -> None:
        """
        Each command's C{--help} says what it does, its arguments and
        examples.
        """
        status, out, err = self.main("models", "--help")
        self.assertEqual(status, 0)
        self.assertTrue(out.startswith("usage: twistar models [-h] [-o FILE] [URL] [TABLE ...]"))
        self.assertIn("HABTM from each table of exactly two foreign keys", out)
        status, out, err = self.main("check", "-h")
        self.assertEqual(status, 0)
        self.assertTrue(out.startswith("usage: twistar check [-h] [URL] MODULE [MODULE ...]"))
        self.assertIn("The exit status is 0", out)

    def test_usageErrors(self) -> None:
        """
        No command, or a command without its arguments, is a usage error
        (exit status 2).
        """
        for argv in [(), ("check",), ("nosuchcommand",)]:
            status, out, err = self.main(*argv)
            self.assertEqual((status, out), (2, ""), argv)
            self.assertIn("usage: twistar", err)

    def test_version(self) -> None:
        """
        C{--version} prints twistar's version.
        """
        import twistar

        self.assertEqual(self.main("--version"), (0, f"twistar {twistar.__version__}\n", ""))


class ProgramTests(TestCase):
    """
    The command as a program.
    """

    async def test_pythonDashM(self) -> None:
        """
        C{python -m twistar --help} prints the help and exits with status 0.
        """
        out, err, status = await getProcessOutputAndValue(
            sys.executable, ["-m", "twistar", "--help"], env=sameTwistar())
        self.assertEqual((status, err), (0, b""))
        self.assertTrue(out.startswith(b"usage: twistar "), out)

    def test_consoleScript(self) -> None:
        """
        The installed distribution declares the C{twistar} console script,
        which is L{twistar.cli.main}.
        """
        try:
            installedDistribution("twistar")
        except PackageNotFoundError:
            raise SkipTest("twistar is imported from a directory on sys.path, not installed")
        scripts = [e for e in entry_points(group="console_scripts") if e.name == "twistar"]
        self.assertEqual([e.value for e in scripts], ["twistar.cli:main"])
        self.assertIs(scripts[0].load(), cli.main)


_DOC_MARKER = re.compile(r"^<!-- cli: (\w+)(?: (\S+))? -->$")


def docBlocks() -> dict[str, tuple[str | None, str]]:
    """
    @return: the blocks of C{doc/cli.md} marked C{<!-- cli: NAME [FILE] -->},
        as C{(FILE, text)} by NAME.
    """
    lines = (ROOT / "doc" / "cli.md").read_text(encoding="utf-8").splitlines()
    blocks = {}
    for index, line in enumerate(lines):
        match = _DOC_MARKER.match(line)
        if match:
            start = index + 2  # after the opening fence
            end = lines.index("```", start)
            blocks[match.group(1)] = (match.group(2), "\n".join(lines[start:end]) + "\n")
    return blocks


class DocumentationTests(TestCase):
    """
    The example of C{doc/cli.md}, on a SQLite database made from its
    schema: the module C{twistar models} writes, and the report of
    C{twistar check}, are those the page shows.
    """

    skip = NO_CHECKOUT

    async def command(self, *argv: str) -> tuple[int, str]:
        out = StringIO()
        self.patch(sys, "stdout", out)
        try:
            status = await cli.run(list(argv))
        finally:
            self.patch(sys, "stdout", sys.__stdout__)
        return status, out.getvalue().replace(self.url, "sqlite:///shop.db")

    async def setUp(self) -> None:
        self.blocks = docBlocks()
        path = os.path.abspath(tempfile.mkdtemp(prefix="doc-", dir=".") + "/shop.db")
        with sqlite3.connect(path) as connection:
            connection.executescript(self.blocks["schema"][1])
        connection.close()
        self.url = "sqlite:///" + path

    async def test_models(self) -> None:
        """
        C{twistar models} writes the module shown, which imports and runs.
        """
        status, out = await self.command("models", self.url)
        self.assertEqual((status, out), (cli.OK, self.blocks["models"][1]))
        names = loadSource(self, out)
        self.assertEqual(names["Status"].tablename(), "status")

    async def test_check(self) -> None:
        """
        C{twistar check} of the module shown prints the report shown, and
        exits with status 1.
        """
        keepRegistry(self)
        filename, source = self.blocks["module"]
        assert filename is not None
        path = modulesDirectory(self) / filename
        path.parent.mkdir()
        (path.parent / "__init__.py").write_text("")
        path.write_text(source)
        status, out = await self.command("check", self.url, "shop.models")
        self.assertEqual((status, out), (cli.PROBLEMS, self.blocks["check"][1]))


class WriteModelsTests(SynchronousTestCase):
    """
    L{writeModels} on schemas made up here: names it must not take, keys
    no relationship can follow.
    """

    def write(self, *tables: TableInfo, only: list[str] | None = None) -> tuple[str, Any]:
        """
        @return: the module written for C{tables} (types as SQLite reads
            them), and its names once run.
        """
        source = writeModels({t.name: t for t in tables}, SQLiteDBConfig().pythonType, only)
        return source, loadSource(self, source)

    def test_reservedNames(self) -> None:
        """
        A class takes no name of a builtin or of an import of the module; a
        second table of one singular gets another; a column named as an
        imported type has that type imported under another name.
        """
        source, names = self.write(
            _table("exceptions", "id INTEGER", "raised DATE"),
            _table("registries", "id INTEGER"),
            _table("person", "id INTEGER"),
            _table("people", "id INTEGER", "date DATE", "time TIME"),
        )
        self.assertEqual(
            sorted(name for name, value in names.items() if isinstance(value, type)
                   and value.__module__ == "twistar_generated_models"),
            ["ExceptionModel", "Person", "PersonTable", "RegistryModel"],
        )
        self.assertEqual([names[name].tablename() for name in
                          ["ExceptionModel", "Person", "PersonTable", "RegistryModel"]],
                         ["exceptions", "people", "person", "registries"])
        self.assertIn("from datetime import date as _date\n", source)
        self.assertIn("from datetime import time as _time\n", source)
        self.assertIn("    raised: _date | str | None\n", source)
        self.assertIn("    date: _date | str | None\n", source)

    def test_namesTaken(self) -> None:
        """
        A relationship does not take the name of a column, a keyword or an
        attribute of L{DBObject}; a column whose name is no Python name is
        left unannotated.
        """
        source, names = self.write(
            _table("classes", "id INTEGER"),
            _table("errors", "id INTEGER"),
            _table("lessons", "id INTEGER", "class_id INTEGER", "customer_id INTEGER",
                   "customer TEXT", "error_id INTEGER", "from TEXT",
                   keys=[("class_id", "classes", "id"), ("error_id", "errors", "id")]),
        )
        self.assertEqual(names["Lesson"].BELONGSTO, [
            {"name": "class_", "class_name": "Class", "foreign_key": "class_id"},
            "error",
        ])
        self.assertEqual(names["Error"].HASMANY, ["lessons"])
        self.assertIn("    # column 'from': not a Python name\n", source)

    def test_keyOfNoModel(self) -> None:
        """
        A foreign key naming columns that are not the other table's key
        makes no relationship: the class says so. A table without a primary
        key or C{id} column says it too.
        """
        source, names = self.write(
            _table("owners", "id INTEGER", "code TEXT"),
            _table("pets", "id INTEGER", "owner_code TEXT",
                   keys=[("owner_code", "owners", "code")]),
            _table("logs", "message TEXT", key=()),
        )
        self.assertEqual((names["Pet"].BELONGSTO, names["Owner"].HASMANY), ([], []))
        self.assertIn(
            "    # owner_code -> owners(code): names no primary key, so no relationship\n", source)
        self.assertIn("class Log(DBObject):\n    # No primary key and no id column", source)

    def test_optionalLinks(self) -> None:
        """
        A table of two foreign keys and more columns is a join model only
        when its keys cannot be C{NULL}: a row with an optional link is a
        row of its own.
        """
        people = _table("people", "id INTEGER")
        rooms = _table("rooms", "id INTEGER")
        visit = [("person_id", "people", "id"), ("room_id", "rooms", "id")]
        optional = _table("visits", "id INTEGER", "person_id INTEGER", "room_id INTEGER",
                          "day DATE", keys=visit)
        _, names = self.write(people, rooms, optional)
        self.assertEqual(names["Person"].HABTM, [])
        required = _table("visits", "id INTEGER", "person_id INTEGER NOT NULL",
                          "room_id INTEGER NOT NULL", "day DATE", keys=visit)
        _, names = self.write(people, rooms, required)
        self.assertEqual(names["Person"].HABTM, [{"name": "rooms", "through": "Visit"}])

    def test_unknownTable(self) -> None:
        """
        Asking for a table that is not there raises L{KeyError}.
        """
        with self.assertRaises(KeyError):
            self.write(_table("people", "id INTEGER"), only=["people", "nosuch"])


def _table(name: str, *columns: str, key: tuple[str, ...] = ("id",),
           keys: Sequence[tuple[str, str, str]] = ()) -> TableInfo:
    """
    @param columns: C{"name TYPE"}, C{NOT NULL} after for a column that
        cannot be C{NULL}.
    @param keys: one-column foreign keys, as C{(column, table, column)}.
    @return: a table as L{twistar.dbconfig.introspection} reads it.
    """
    infos = []
    for column in columns:
        words = column.split(" ", 1)
        declared = words[1].replace(" NOT NULL", "") if len(words) > 1 else ""
        infos.append(ColumnInfo(words[0], declared,
                                not column.endswith("NOT NULL") and words[0] not in key))
    return TableInfo(name, tuple(infos), key if any(c.name in key for c in infos) else (),
                     tuple(ForeignKeyInfo((c,), t, (r,)) for c, t, r in keys))

