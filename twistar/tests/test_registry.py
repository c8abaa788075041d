"""
Tests for L{twistar.registry.Registry}.
"""

from datetime import date

from twisted.internet.defer import maybeDeferred
from twisted.trial.unittest import SynchronousTestCase

from twistar.dbconfig.mysql import MySQLDBConfig
from twistar.dbconfig.postgres import PostgreSQLDBConfig, PsycopgDBConfig
from twistar.dbconfig.sqlite import SQLiteDBConfig
from twistar.dbobject import DBObject
from twistar.exceptions import ClassNotRegisteredError, TwistarError
from twistar.registry import Registry
from twistar.tests.helpers import SQLITE, TABLES, DBTestCase, closePool, makePool, tableDDL
from twistar.tests.models import Picture, User
from twistar.tests.test_logging import captureQueries
from twistar.utils import transaction


class FakePool:
    """
    Just enough of a connection pool for L{Registry.getConfig}.
    """

    def __init__(self, dbapiName):
        self.dbapiName = dbapiName


class RegistrationTests(SynchronousTestCase):
    """
    Tests for L{Registry.register} and L{Registry.getClass}.
    """

    def test_register(self):
        """
        A registered class is found by its name.
        """

        class Registered(DBObject):
            pass

        class AlsoRegistered(DBObject):
            pass

        self.addCleanup(Registry.REGISTRATION.pop, "Registered", None)
        self.addCleanup(Registry.REGISTRATION.pop, "AlsoRegistered", None)
        Registry.register(Registered, AlsoRegistered)
        self.assertIs(Registry.getClass("Registered"), Registered)
        self.assertIs(Registry.getClass("AlsoRegistered"), AlsoRegistered)

    def test_sharedModelsRegistered(self):
        """
        The test models are registered by their module.
        """
        self.assertIs(Registry.getClass("User"), User)

    def test_notRegistered(self):
        """
        An unknown name raises L{ClassNotRegisteredError} naming it.
        """
        error = self.assertRaises(ClassNotRegisteredError, Registry.getClass, "NoSuchModel")
        self.assertIn("NoSuchModel", str(error))


class GetConfigTests(SynchronousTestCase):
    """
    Tests for L{Registry.getConfig} with pools of each driver.
    """

    def setUp(self):
        self.addCleanup(setattr, Registry, "DBPOOL", Registry.DBPOOL)

    def test_drivers(self):
        """
        The config class follows the pool's driver, changing when the pool
        is reassigned.
        """
        for driver, klass in [
            ("sqlite3", SQLiteDBConfig),
            ("psycopg2", PostgreSQLDBConfig),
            ("MySQLdb", MySQLDBConfig),
            ("psycopg", PsycopgDBConfig),
            ("pymysql", MySQLDBConfig),
            ("sqlite3", SQLiteDBConfig),
        ]:
            Registry.DBPOOL = FakePool(driver)
            self.assertIsInstance(Registry.getConfig(), klass, driver)

    def test_samePoolSameConfig(self):
        """
        Repeated calls for one pool return the same config.
        """
        Registry.DBPOOL = FakePool("sqlite3")
        self.assertIs(Registry.getConfig(), Registry.getConfig())

    def test_unset(self):
        """
        Without a pool, a L{TwistarError} says that C{DBPOOL} must be set.
        """
        Registry.DBPOOL = None
        error = self.assertRaises(TwistarError, Registry.getConfig)
        self.assertIn("DBPOOL", str(error))

    def test_unknownDriver(self):
        """
        An unsupported driver raises C{NotImplementedError} naming it.
        """
        Registry.DBPOOL = FakePool("oracledb")
        error = self.assertRaises(NotImplementedError, Registry.getConfig)
        self.assertIn("oracledb", str(error))


class RegistryDBTests(DBTestCase):
    """
    Tests for L{Registry} with real pools.
    """

    async def test_closedPool(self):
        """
        Work on a closed pool fails at once with a L{TwistarError} saying
        so, instead of never running.
        """
        await User(first_name="a").save()
        self.pool.close()
        calls = [lambda: User.find(1), lambda: User(first_name="b").save(),
                 lambda: self.config.select("users"), transaction(lambda txn: None)]
        for call in calls:
            error = await self.assertFailure(maybeDeferred(call), TwistarError)
            self.assertIn("closed", str(error))

    def test_getDBAPIClass(self):
        """
        C{getDBAPIClass} returns the driver module's type objects.
        """
        dbapi = self.pool.dbapi
        self.assertIs(Registry.getDBAPIClass("Date"), dbapi.Date)
        self.assertIs(Registry.getDBAPIClass("Binary"), dbapi.Binary)
        self.assertIs(Registry.getDBAPIClass("Timestamp"), dbapi.Timestamp)
        self.assertRaises(AttributeError, Registry.getDBAPIClass, "NoSuchThing")

    async def test_dbapiValuesStored(self):
        """
        Values made by the C{Date} and C{Binary} of C{getDBAPIClass} can be
        stored.
        """
        Date = Registry.getDBAPIClass("Date")
        Binary = Registry.getDBAPIClass("Binary")
        rowId = await self.config.insert(
            "values_tests", {"a_date": Date(2020, 2, 29), "a_bytes": Binary(b"\x00\x01\xff")}
        )
        row = await self.config.select("values_tests", id=rowId)
        self.assertEqual(bytes(row["a_bytes"]), b"\x00\x01\xff")
        self.assertIn(row["a_date"], (date(2020, 2, 29), "2020-02-29"))

    async def test_schemasCache(self):
        """
        The columns of a table used are cached in C{SCHEMAS}; a cached
        schema is not queried again; a new pool clears the cache.
        """
        await User(first_name="F").save()
        self.assertEqual(
            Registry.SCHEMAS["users"], ["id", "first_name", "last_name", "age", "dob"]
        )
        queries = captureQueries(self)
        self.assertEqual(
            await self.config.getSchema("users"), ["id", "first_name", "last_name", "age", "dob"]
        )
        self.assertEqual(queries.all(), [])

        Registry.SCHEMAS["users"] = ["id", "first_name"]
        saved = await User(first_name="G", last_name="not saved").save()
        self.assertIsNone((await User.find(saved.id)).last_name)

        other = makePool("sqlite")
        self.addCleanup(closePool, other)
        self.addCleanup(setattr, Registry, "DBPOOL", self.pool)
        Registry.DBPOOL = other
        Registry.getConfig()
        self.assertNotIn("users", Registry.SCHEMAS)

    async def test_forgetSchemas(self):
        """
        L{Registry.forgetSchemas} forgets the cached columns of the tables
        it names, or of every table: the next use reads the table again,
        and sees a column added meanwhile.
        """
        await User.all()
        await self.config.getSchema("pictures")
        Registry.forgetSchemas("users")
        self.assertNotIn("users", Registry.SCHEMAS)
        self.assertIn("pictures", Registry.SCHEMAS)
        Registry.forgetSchemas("no_such_table")
        self.assertIn("pictures", Registry.SCHEMAS)

        await self.config.getSchema("users")
        await self.pool.runOperation("ALTER TABLE pictures ADD COLUMN caption VARCHAR(50)")
        if self.backend != SQLITE:
            # The server's test tables stay for the next tests (a SQLite
            # test has a database of its own, whose other connections may
            # not see the new column yet).
            self.addCleanup(self.pool.runOperation, "ALTER TABLE pictures DROP COLUMN caption")
        self.assertNotIn("caption", await self.config.getSchema("pictures"))
        Registry.forgetSchemas()
        self.assertEqual(Registry.SCHEMAS, {})
        saved = await Picture(name="beach", caption="at noon").save()
        self.assertEqual((await Picture.find(saved.id)).caption, "at noon")

    async def test_reassignPool(self):
        """
        Reassigning C{DBPOOL} makes later calls use the new pool.
        """
        pools = [makePool("sqlite"), makePool("sqlite")]
        for pool in pools:
            self.addCleanup(closePool, pool)
            await pool.runOperation(tableDDL("sqlite", "users", TABLES["users"]))
        self.addCleanup(setattr, Registry, "DBPOOL", self.pool)
        await User(first_name="Main").save()

        Registry.DBPOOL = pools[0]
        self.assertIsInstance(Registry.getConfig(), SQLiteDBConfig)
        await User(first_name="Zero").save()
        Registry.DBPOOL = pools[1]
        self.assertEqual(await User.all(), [])
        await User(first_name="One").save()
        await User(first_name="Two").save()

        Registry.DBPOOL = pools[0]
        self.assertEqual([u.first_name for u in await User.all()], ["Zero"])
        Registry.DBPOOL = pools[1]
        self.assertEqual(await User.count(), 2)
        Registry.DBPOOL = self.pool
        self.assertEqual([u.first_name for u in await User.all()], ["Main"])
