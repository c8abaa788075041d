# -*- test-case-name: twistar.tests.test_cli -*-
"""
The C{twistar} command (also C{python -m twistar}):

  - C{twistar models [URL] [TABLE ...]} writes model classes for the tables
    of an existing database (see L{twistar.modelgen});
  - C{twistar check [URL] MODULE [MODULE ...]} imports modules that
    register models, and checks those models against the database (see
    L{twistar.schemacheck}).

The URL is a database URL as L{twistar.connect<twistar.connection.connect>}
reads it; left out, the environment variable C{DATABASE_URL} gives it. The
exit status is 0 when all went well, 1 when C{check} found something
missing, 2 for an error (bad arguments, a database that cannot be reached,
a module that cannot be imported).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from twistar import __version__
from twistar.connection import DATABASE_URL, SQLITE, connect, parseURL, redacted
from twistar.dbconfig.introspection import TableInfo
from twistar.exceptions import TwistarError
from twistar.registry import Registry

if TYPE_CHECKING:
    from twistar.dbobject import DBObject

OK = 0
"""The exit status when all went well."""
PROBLEMS = 1
"""The exit status of C{check} when the database lacks what models need."""
ERROR = 2
"""The exit status for an error: bad arguments, no database, a module that
cannot be imported."""

_URLS = """\
database URLs:
  sqlite:///relative/path.db   sqlite:////absolute/path.db
  postgresql://user:password@host:port/dbname     (postgresql+psycopg:// for psycopg 3)
  mysql://user:password@host:port/dbname          (mysql+pymysql:// for PyMySQL)
  Without a URL, the environment variable DATABASE_URL gives it."""

_MAIN_EPILOG = f"""\
{_URLS}

examples:
  twistar models sqlite:///shop.db > shop/models.py
  twistar models postgresql://app@localhost/shop customers orders
  twistar check sqlite:///shop.db shop.models
  DATABASE_URL=mysql://app@localhost/shop twistar check shop.models

Run "twistar COMMAND --help" for the options of a command."""

_MODELS_DESCRIPTION = """\
Write a Python module of twistar models for the tables of an existing
database, to standard output (or the file given with -o):

  - one DBObject class per table, named by the table's singular
    (order_items: OrderItem), with TABLENAME where twistar would not find
    the table from the class name, and PRIMARY_KEY where the key is not id;
  - BELONGSTO on the table of each foreign key, HASMANY (HASONE when its
    columns are unique) on the table it names, with class_name and
    foreign_key where the names differ from twistar's conventions;
  - HABTM from each table of exactly two foreign keys (a join table); when
    that table has columns of its own, it gets a model too (a join model),
    named in the HABTMs' "through" option;
  - TIMESTAMPS for created_at and updated_at columns, LOCK_VERSION for a
    lock_version column;
  - an annotation of each column (its Python type, "| None" when it may be
    NULL) and of each relationship.

Relationship names come from column names (manager_id: manager); read the
module through before using it."""

_MODELS_EPILOG = f"""\
{_URLS}

examples:
  twistar models sqlite:///shop.db > shop/models.py
  twistar models -o shop/models.py postgresql://app@localhost/shop
  twistar models "$DATABASE_URL" customers orders order_items"""

_CHECK_DESCRIPTION = """\
Import the modules (which define models and register them with
Registry.register) and check each model they register against the
database: its table; the columns of its primary key, of LOCK_VERSION and
TIMESTAMPS, and those it annotates; and for each relationship, the
columns of its foreign key, the join table and its columns, and the
related model (registered) and its table.

Prints a report of what is missing, model by model. The exit status is 0
when every model matches the database, 1 when something is missing, 2 for
an error (a module that cannot be imported, a database that cannot be
reached)."""

_CHECK_EPILOG = f"""\
{_URLS}

examples:
  twistar check sqlite:///shop.db shop.models
  DATABASE_URL=postgresql://app@localhost/shop twistar check shop.models

Modules are imported as "python -m" would: from the current directory
first."""


def makeParser() -> argparse.ArgumentParser:
    """
    @return: the parser of the C{twistar} command's arguments.
    """
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="twistar",
        description="twistar's command line: write the models of an existing database,\n"
                    "check models against a database.",
        epilog=_MAIN_EPILOG, formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"twistar {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                     required=True)
    models = commands.add_parser(
        "models", help="write model classes for the tables of a database",
        description=_MODELS_DESCRIPTION, epilog=_MODELS_EPILOG, formatter_class=formatter,
    )
    models.add_argument("-o", "--output", metavar="FILE",
                        help="write the module to FILE instead of standard output")
    models.add_argument("url", nargs="?", metavar="URL",
                        help=f"the database (default: ${DATABASE_URL})")
    models.add_argument("tables", nargs="*", metavar="TABLE",
                        help="the tables to write models for (default: every table but the "
                             "plain join tables, used by the HABTMs, and yoyo-migrations' own)")
    check = commands.add_parser(
        "check", help="check the models of modules against a database",
        description=_CHECK_DESCRIPTION, epilog=_CHECK_EPILOG, formatter_class=formatter,
    )
    check.add_argument("url", nargs="?", metavar="URL",
                       help=f"the database (default: ${DATABASE_URL})")
    check.add_argument("modules", nargs="+", metavar="MODULE",
                       help="a module that registers models, by its dotted name (myapp.models)")
    return parser


def parseArguments(argv: Sequence[str] | None = None) -> argparse.Namespace | int:
    """
    @param argv: the arguments (default: C{sys.argv[1:]}).
    @return: the arguments parsed (a URL left out is C{None}), or the exit
        status when there is nothing more to do (after C{--help}, or an
        error, which argparse has printed).
    """
    try:
        args = makeParser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else ERROR
    # The URL may be left out: a first word that is no URL is a table or
    # module.
    if args.url is not None and "://" not in args.url:
        words = "tables" if args.command == "models" else "modules"
        setattr(args, words, [args.url, *getattr(args, words)])
        args.url = None
    return args


async def run(argv: Sequence[str] | None = None) -> int:
    """
    Run the C{twistar} command in a running reactor, printing to
    C{sys.stdout} and C{sys.stderr}.

    @param argv: the arguments (default: C{sys.argv[1:]}).
    @return: the exit status: L{OK}, L{PROBLEMS} or L{ERROR}.
    """
    args = parseArguments(argv)
    if isinstance(args, int):
        return args
    return await runParsed(args)


async def runParsed(args: argparse.Namespace) -> int:
    """
    L{run}, for arguments already parsed by L{parseArguments}.
    """
    try:
        if args.command == "models":
            return await _models(args)
        return await _check(args)
    except (TwistarError, OSError) as e:
        kind = "" if type(e) is TwistarError else f"{type(e).__name__}: "
        _fail(f"{kind}{e}")
        return ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the C{twistar} command: start the reactor, run the command in it,
    stop the reactor.

    @param argv: the arguments (default: C{sys.argv[1:]}).
    @return: the exit status: L{OK}, L{PROBLEMS} or L{ERROR}.
    """
    args = parseArguments(argv)
    if isinstance(args, int):
        return args
    from twisted.internet.task import react

    status: list[int] = []

    async def command(reactor: Any) -> None:
        try:
            status.append(await runParsed(args))
        except Exception:
            traceback.print_exc()
            status.append(ERROR)

    try:
        react(lambda reactor: Deferred.fromCoroutine(command(reactor)))
    except SystemExit:
        pass
    return status[0] if status else ERROR


async def _models(args: argparse.Namespace) -> int:
    """
    C{twistar models}: write the models of the database's tables.
    """
    url = _url(args.url)
    tables, pythonType = await _readSchema(url)
    from twistar.modelgen import writeModels

    if not tables:
        _fail(f"no tables in {redacted(url)}")
        return ERROR
    missing = [name for name in args.tables if name not in tables]
    if missing:
        _fail(f"no table {', '.join(missing)} in {redacted(url)}; its tables: "
              f"{', '.join(sorted(tables)) or 'none'}")
        return ERROR
    source = writeModels(tables, pythonType, args.tables or None, redacted(url))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as output:
            output.write(source)
    else:
        sys.stdout.write(source)
    return OK


async def _check(args: argparse.Namespace) -> int:
    """
    C{twistar check}: import the modules, check the models they register.
    """
    url = _url(args.url)
    models = _importModels(args.modules)
    if models is None:
        return ERROR
    if not models:
        _fail(f"no models registered by {', '.join(args.modules)}")
        return ERROR
    tables, _ = await _readSchema(url)
    from twistar.schemacheck import checkModels, formatReports

    reports = checkModels(models, tables)
    sys.stdout.write(f"Checking {len(models)} models of {', '.join(args.modules)} against "
                     f"{redacted(url)}:\n{formatReports(reports)}\n")
    return PROBLEMS if any(report.problems for report in reports) else OK


def _url(given: str | None) -> str:
    """
    @return: the URL given, else that of C{DATABASE_URL}.
    @raise TwistarError: when there is neither.
    """
    url = given or os.environ.get(DATABASE_URL, "").strip()
    if not url:
        raise TwistarError(f"no database URL given, and ${DATABASE_URL} is not set")
    return url


async def _readSchema(url: str) -> tuple[dict[str, TableInfo], Any]:
    """
    @return: every table of the database at C{url}, and its
        configuration's C{pythonType}, read through a pool of its own (made
        L{Registry.DBPOOL} meanwhile).
    """
    parsed = parseURL(url)
    if parsed.backend == SQLITE and not parsed.memory and not os.path.exists(
        parsed.connectArgs[0]
    ):
        raise TwistarError(f"no SQLite database at {os.path.abspath(parsed.connectArgs[0])}")
    pool = connect(url, register=False)
    previous = Registry.DBPOOL
    Registry.DBPOOL = pool
    try:
        config = Registry.getConfig()
        tables = await config.introspect()
        return tables, config.pythonType
    finally:
        Registry.DBPOOL = previous
        pool.close()  # type: ignore[no-untyped-call]


def _importModels(modules: Sequence[str]) -> list[type[DBObject]] | None:
    """
    Import C{modules}, from the current directory first.

    @return: the models they register, by class name: those registered
        while importing them, and the registered ones they (or modules
        inside them) define; C{None} when one cannot be imported (said on
        C{sys.stderr}).
    """
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:
        sys.path.insert(0, here)
    before = dict(Registry.REGISTRATION)
    for name in modules:
        try:
            import_module(name)
        except ModuleNotFoundError as e:
            _fail(f"cannot import {name}: {e} (sys.path: the current directory, then "
                  f"PYTHONPATH and the installed packages)")
            return None
        except Exception:
            _fail(f"cannot import {name}:\n{traceback.format_exc().rstrip()}")
            return None
    from twistar.dbobject import DBObject

    found = []
    for klass in Registry.REGISTRATION.values():
        if not issubclass(klass, DBObject):
            continue
        home = getattr(klass, "__module__", "")
        ours = any(home == name or home.startswith(f"{name}.") for name in modules)
        if ours or before.get(klass.__name__) is not klass:
            found.append(klass)
    return sorted(found, key=lambda klass: klass.__name__)


def _fail(message: str) -> None:
    sys.stderr.write(f"twistar: {message}\n")
