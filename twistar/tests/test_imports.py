# -*- test-case-name: twistar.tests.test_imports -*-
"""
Tests for how twistar's modules import each other: no cycle among them,
and no database driver imported when twistar is.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import twistar

_PACKAGE = Path(twistar.__file__).parent

_DRIVERS = frozenset({"psycopg2", "psycopg", "MySQLdb", "pymysql", "sqlite3"})
"""The DB-API modules twistar supports."""

_DRIVER_IMPORTERS = {"sqlite3": frozenset({"twistar.dbconfig.sqlite"})}
"""The modules that may import a driver when they are imported: the SQLite
configuration imports the standard library's C{sqlite3} (to read its
version), and twistar imports that configuration only for a pool of
C{sqlite3} connections."""


def moduleFiles() -> dict[str, Path]:
    """
    @return: the files of twistar's modules but its tests, by module name (a
        package's C{__init__} under the package's name).
    """
    modules = {}
    for path in sorted(_PACKAGE.rglob("*.py")):
        parts = path.relative_to(_PACKAGE.parent).with_suffix("").parts
        if "tests" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def importedModules(
    source: str, module: str, isPackage: bool, known: Collection[str]
) -> set[str]:
    """
    @param module: the name of the module whose C{source} this is.
    @param known: the names of the modules to look for.
    @return: the modules of C{known} that C{source} imports anywhere: at
        module level, inside functions, or for type checking only. A name
        imported from a package is the module of that name if there is
        one, else the package.
    """
    package = module if isPackage else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.add(name if name in known else base)
    return {name for name in found if name in known and name != module}


def importGraph() -> dict[str, set[str]]:
    """
    @return: each of twistar's modules but its tests, with the ones of them
        it imports.
    """
    files = moduleFiles()
    return {
        module: importedModules(path.read_text(), module, path.name == "__init__.py", files)
        for module, path in files.items()
    }


def findCycle(graph: Mapping[str, Collection[str]]) -> list[str] | None:
    """
    @return: a cycle of C{graph} (a module, the modules it imports one after
        another, and that module again), or C{None} if it has none.
    """
    done: set[str] = set()
    path: list[str] = []
    onPath: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        onPath.add(node)
        for following in sorted(graph.get(node, ())):
            if following in onPath:
                return path[path.index(following):] + [following]
            if following not in done:
                cycle = visit(following)
                if cycle is not None:
                    return cycle
        onPath.discard(path.pop())
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done:
            cycle = visit(node)
            if cycle is not None:
                return cycle
    return None


def moduleLevelImports(source: str) -> Iterator[str]:
    """
    @return: the top-level names of the modules that C{source} imports when
        it runs: outside functions and C{if TYPE_CHECKING:} blocks.
    """

    def walk(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.Import):
                yield from (alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if not node.level and node.module:
                    yield node.module.partition(".")[0]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(node.orelse)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    yield from walk(getattr(node, field, []))

    return walk(ast.parse(source).body)


class ImportCycleTests(SynchronousTestCase):
    """
    twistar's modules import each other in layers, with no cycle, counting
    the imports inside functions and those for type checking only.
    """

    def test_noCycle(self) -> None:
        """
        No module of twistar (but its tests) imports, through any chain of
        imports, itself.
        """
        graph = importGraph()
        self.assertIn("twistar.dbconfig", graph["twistar.registry"])
        cycle = findCycle(graph)
        self.assertIsNone(cycle, "import cycle: " + " -> ".join(cycle or []))

    def test_everyImportCounts(self) -> None:
        """
        Imports inside functions and for type checking only count, and
        C{from twistar import x} imports the module C{twistar.x}.
        """
        source = (
            "from typing import TYPE_CHECKING\n"
            "from twistar import exceptions, version\n"
            "from . import sqltext\n"
            "if TYPE_CHECKING:\n"
            "    from twistar.dbobject import DBObject\n"
            "def f():\n"
            "    import twistar.registry\n"
        )
        known = {
            "twistar", "twistar.exceptions", "twistar.dbobject", "twistar.registry",
            "twistar.dbconfig.sqltext",
        }
        self.assertEqual(
            importedModules(source, "twistar.dbconfig.base", False, known),
            {"twistar", "twistar.exceptions", "twistar.dbobject", "twistar.registry",
             "twistar.dbconfig.sqltext"},
        )

    def test_cycleReported(self) -> None:
        """
        L{findCycle} gives the modules of a cycle in the order they import
        each other.
        """
        graph = {"a": {"b"}, "b": {"c"}, "c": {"b", "d"}, "d": set()}
        self.assertEqual(findCycle(graph), ["b", "c", "b"])
        self.assertIsNone(findCycle({"a": {"b"}, "b": set()}))

    def test_noDriverImported(self) -> None:
        """
        No module of twistar imports a database driver when it is imported,
        but the SQLite configuration, which imports C{sqlite3}.
        """
        for module, path in moduleFiles().items():
            for name in moduleLevelImports(path.read_text()):
                if name in _DRIVERS:
                    allowed = _DRIVER_IMPORTERS.get(name, frozenset())
                    self.assertIn(module, allowed, f"{module} imports {name}")

    def test_greenletNotImported(self) -> None:
        """
        No module of twistar imports C{greenlet} when it is imported (a
        L{twistar.pgpool.PostgresPool} imports it when made); the pool is
        also C{twistar.pool.PostgresPool}.
        """
        for module, path in moduleFiles().items():
            self.assertNotIn("greenlet", moduleLevelImports(path.read_text()), module)
        from twistar import pgpool, pool

        self.assertIs(pool.PostgresPool, pgpool.PostgresPool)

    def test_builderIsPure(self) -> None:
        """
        Building SQL needs nothing but SQL text and twistar's exceptions: no
        pool, reactor, registry or driver, so another way of running the
        statements plugs in without touching it.
        """
        graph = importGraph()
        for module in ("twistar.dbconfig.builder", "twistar.dbconfig.writes",
                       "twistar.dbconfig.sqltext"):
            self.assertLessEqual(
                graph[module],
                {"twistar", "twistar.dbconfig", "twistar.dbconfig.sqltext",
                 "twistar.dbconfig.builder", "twistar.exceptions"},
                module,
            )
            source = moduleFiles()[module].read_text()
            self.assertLessEqual(
                set(moduleLevelImports(source)),
                {"__future__", "collections", "functools", "re", "typing", "twistar"},
                module,
            )
