"""
What the examples share, so that each of them shows only twistar: the
auto-increment primary key of each driver, dropping and creating an
example's tables with raw SQL, collecting the queries twistar sends,
running an example as a script on a SQLite database in a temporary
directory, and the stand-ins for replicas of C{examples/replicas.py}.

This is no part of twistar. The examples import it as C{support}: a script's
own directory is on C{sys.path}, and C{twistar.tests.test_docs} puts
C{examples/} there while it loads them. (C{examples/quickstart.py}, the
README's example, keeps its own copy so that it reads on its own.)
"""

import os
import shutil
import socket
import tempfile

from twisted.enterprise import adbapi
from twisted.internet import defer
from twisted.logger import globalLogPublisher

from twistar.dbconfig.base import InteractionBase
from twistar.registry import Registry

# The auto-increment primary key, spelled for each DB-API driver.
PRIMARY_KEY = {
    "sqlite3": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "psycopg2": "SERIAL PRIMARY KEY",
    "psycopg": "SERIAL PRIMARY KEY",
    "MySQLdb": "INTEGER PRIMARY KEY AUTO_INCREMENT",
    "pymysql": "INTEGER PRIMARY KEY AUTO_INCREMENT",
}


def primaryKey():
    """
    @return: the column definition of an auto-increment primary key for the
        driver of C{Registry.DBPOOL}.
    """
    return PRIMARY_KEY[Registry.DBPOOL.dbapiName]


def recreateTables(tables):
    """
    Drop and create tables with raw SQL, one statement after another.

    @param tables: maps each table name to its column definitions, in which
        C{{pk}} stands for L{primaryKey}.
    @return: a L{Deferred} that fires when the tables exist, empty.
    """

    async def recreate():
        config = Registry.getConfig()
        pk = primaryKey()
        for name, columns in tables.items():
            await config.executeOperation(f"DROP TABLE IF EXISTS {name}")
            await config.executeOperation(f"CREATE TABLE {name} ({columns.format(pk=pk)})")

    return defer.ensureDeferred(recreate())


def secondPool():
    """
    @return: a new pool on the database of C{Registry.DBPOOL}, with the same
        driver and arguments: the examples' stand-in for a read replica,
        which needs no replication to run.
    """
    pool = Registry.DBPOOL
    return adbapi.ConnectionPool(pool.dbapiName, *pool.connargs, cp_min=1, cp_max=3,
                                 cp_openfun=pool.openfun, **pool.connkw)


def unreachablePool():
    """
    @return: a pool like L{secondPool}'s, of a server database, aimed at a
        port of this machine where nothing listens: a replica that is down.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pool = Registry.DBPOOL
    connkw = dict(pool.connkw, host="127.0.0.1", port=port)
    return adbapi.ConnectionPool(pool.dbapiName, *pool.connargs, cp_min=1, cp_max=1, **connkw)


def sqliteMain(run, name):
    """
    Make the C{main} of an example, for C{task.react}.

    @param run: the example's C{run}: called without arguments, it returns a
        coroutine or a L{Deferred}.
    @param name: names the temporary directory and the database file.
    @return: a function of the reactor that runs C{run} on a new SQLite
        database in a temporary directory, removes both afterwards and
        returns a L{Deferred} that fires when done.
    """

    async def runOnSQLite():
        directory = tempfile.mkdtemp(prefix=f"twistar-{name}-")
        Registry.DBPOOL = adbapi.ConnectionPool(
            "sqlite3", os.path.join(directory, f"{name}.db"), check_same_thread=False
        )
        try:
            await run()
        finally:
            Registry.DBPOOL.close()
            shutil.rmtree(directory)

    return lambda reactor: defer.ensureDeferred(runOnSQLite())


class QueryCounter:
    """
    Collect the queries twistar runs while it is in use as a context
    manager: it turns on the query log (C{InteractionBase.LOG}) and reads
    it with a C{twisted.logger} observer.
    """

    def __enter__(self):
        self.queries = []
        self.wasLogging = InteractionBase.LOG
        InteractionBase.LOG = True
        globalLogPublisher.addObserver(self.observe)
        return self

    def __exit__(self, *exc_info):
        globalLogPublisher.removeObserver(self.observe)
        InteractionBase.LOG = self.wasLogging

    def observe(self, event):
        # Called on the thread that ran the query; list.append is thread-safe.
        if str(event.get("log_namespace")).startswith("twistar") and "query" in event:
            self.queries.append(event["query"])

    def count(self, statement="SELECT"):
        """
        @return: how many of the queries start with C{statement}.
        """
        return sum(query.lstrip().upper().startswith(statement) for query in self.queries)
