"""
Tests that keep the documentation true: every program under C{examples/}
runs against the test database and prints exactly the output the docs show,
runs as a script, and every code excerpt in C{README.md} and C{doc/} is
found, as written, in the example file it names.

The docs mark what they quote with an HTML comment, alone on the line
before a fenced block::

    <!-- snippet: examples/quickstart.py -->     an excerpt of that file;
                                                 a line "..." separates parts
    <!-- output: examples/quickstart.py -->      what running it prints
    <!-- output: examples/replicas.py on postgres, mysql -->
                                                 what it prints on those
                                                 backends (of sqlite,
                                                 postgres and mysql) only

They need a checkout of twistar (C{README.md}, C{doc/}, C{examples/}): the
directory above the C{twistar} package, or the one named by the
C{TWISTAR_TEST_CHECKOUT} environment variable. An installed twistar has none
beside it, so there they skip, saying so.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SynchronousTestCase, TestCase

import twistar
from twistar.registry import Registry
from twistar.tests.helpers import MYSQL, POSTGRES, SQLITE, DBTestCase

#: The directory holding the imported C{twistar} package.
PACKAGE_PARENT = Path(twistar.__file__).resolve().parent.parent
ROOT = Path(os.environ.get("TWISTAR_TEST_CHECKOUT") or PACKAGE_PARENT)
EXAMPLES = ROOT / "examples"
#: The repository's address, as the README links to its files (the README
#: is also the PyPI page, where relative links lead nowhere).
REPOSITORY = "https://github.com/twistar/twistar"
_REPOSITORY_FILE = re.compile(re.escape(REPOSITORY) + r"/(?:blob|tree)/main/([^#]*)")


def _noCheckout() -> str | None:
    """
    @return: why the documentation tests cannot run here (no checkout at
        L{ROOT}), or L{None} when they can.
    """
    needed = [ROOT / "README.md", ROOT / "doc" / "index.md", EXAMPLES / "quickstart.py"]
    if all(path.exists() for path in needed):
        return None
    return (f"needs a twistar checkout (README.md, doc/, examples/) at {ROOT}: an installed"
            " twistar has none; set TWISTAR_TEST_CHECKOUT to a checkout to run these")


NO_CHECKOUT = _noCheckout()
#: The backends an output marker may name.
BACKENDS = (SQLITE, POSTGRES, MYSQL)
EXAMPLE_NAMES = ("quickstart", "callbacks", "models", "relationships", "transactions",
                 "validation", "lowlevel", "eager", "queries", "querylog", "databases",
                 "replicas")
# The module of what the examples share; not an example itself.
SUPPORT = "support"

_MARKER = re.compile(
    r"^\s*<!--\s*(snippet|output):\s*(\S+)(?:\s+on\s+(\w+(?:\s*,\s*\w+)*))?\s*-->\s*$"
)
_FENCE = re.compile(r"^\s*(```+|~~~+)")
_NUMBERED = re.compile(r"(\bid |find\()\d+")


def docFiles() -> list[Path]:
    """
    @return: C{README.md} and the markdown files under C{doc/}.
    """
    return [ROOT / "README.md", *sorted((ROOT / "doc").glob("*.md"))]


def markedBlocks(path: Path) -> list[tuple[str, str, int, list[str]]]:
    """
    @return: C{(kind, target, lineNumber, lines)} for each fenced block of
        C{path} marked by a C{snippet} or C{output} comment (the backends
        an output is for left out: see L{backendsOfBlocks}).
    @raise ValueError: if a marker is not followed by a fenced block.
    """
    return [block for block, _ in backendsOfBlocks(path)]


def backendsOfBlocks(
    path: Path,
) -> list[tuple[tuple[str, str, int, list[str]], tuple[str, ...] | None]]:
    """
    @return: each of L{markedBlocks}, with the backends its marker names
        after C{on} (C{None} when it names none: all of them).
    @raise ValueError: if a marker is not followed by a fenced block, or
        names an unknown backend.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        match = _MARKER.search(lines[index])
        index += 1
        if not match:
            continue
        while index < len(lines) and not lines[index].strip():
            index += 1
        fence = _FENCE.match(lines[index]) if index < len(lines) else None
        if fence is None:
            raise ValueError(f"{path.name}:{index}: marker not followed by a code block")
        start = index + 1
        index = start
        while index < len(lines) and not lines[index].strip().startswith(fence.group(1)):
            index += 1
        backends = None
        if match.group(3):
            backends = tuple(name.strip() for name in match.group(3).split(","))
            unknown = set(backends) - set(BACKENDS)
            if unknown:
                raise ValueError(f"{path.name}:{start}: unknown backends {sorted(unknown)}")
        blocks.append(((match.group(1), match.group(2), start, lines[start:index]), backends))
        index += 1
    return blocks


def findExcerpt(fileLines: list[str], excerpt: list[str]) -> bool:
    """
    @return: whether C{excerpt} appears as consecutive lines of C{fileLines},
        all indented there by the same extra prefix (blank lines match blank
        lines).
    """
    while excerpt and not excerpt[-1].strip():
        excerpt = excerpt[:-1]
    if not excerpt:
        return True
    first = excerpt[0]
    for start, line in enumerate(fileLines):
        if not line.endswith(first) or line[: len(line) - len(first)].strip():
            continue
        prefix = line[: len(line) - len(first)]
        candidate = fileLines[start:start + len(excerpt)]
        if len(candidate) == len(excerpt) and all(
            (not want.strip() and not got.strip()) or got == prefix + want
            for want, got in zip(excerpt, candidate, strict=True)
        ):
            return True
    return False


def normalised(lines: list[str]) -> list[str]:
    """
    @return: C{lines} with the numbers that depend on the database's id
        counters (C{id 3}, C{find(3)}) replaced by C{N}.
    """
    return [_NUMBERED.sub(r"\1N", line.rstrip()) for line in lines]


def documentedOutput(name: str, backend: str | None = None) -> list[list[str]]:
    """
    @return: every output block the docs show for C{examples/NAME.py}, or
        only those for C{backend} (C{"sqlite"}, C{"postgres"}, C{"mysql"}).
    """
    target = f"examples/{name}.py"
    return [
        lines for path in docFiles()
        for (kind, blockTarget, _, lines), backends in backendsOfBlocks(path)
        if kind == "output" and blockTarget == target
        and (backend is None or backends is None or backend in backends)
    ]


def importSupport(testCase: TestCase) -> None:
    """
    Make C{examples/support.py} importable as C{support}, as it is for the
    examples run as scripts (a script's directory is on C{sys.path}), until
    C{testCase} ends.
    """
    sys.path.insert(0, str(EXAMPLES))

    def forget() -> None:
        sys.path.remove(str(EXAMPLES))
        sys.modules.pop(SUPPORT, None)

    testCase.addCleanup(forget)


def loadExample(testCase: TestCase, name: str) -> ModuleType:
    """
    Run C{examples/NAME.py} as a new module. The model classes it registers
    are forgotten again when C{testCase} ends, so they never replace the
    test suite's own models of the same name.
    """
    saved = dict(Registry.REGISTRATION)

    def restore() -> None:
        Registry.REGISTRATION.clear()
        Registry.REGISTRATION.update(saved)

    testCase.addCleanup(restore)
    importSupport(testCase)
    spec = importlib.util.spec_from_file_location(f"twistar_example_{name}",
                                                  EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExampleTests(DBTestCase):
    """
    Each example's C{run} on the test database prints what its docs show.
    """

    skip = NO_CHECKOUT

    async def runExample(self, name: str) -> None:
        """
        Run C{examples/NAME.py}'s C{run(echo)} on the test pool and compare
        its output with every output block of the docs for it.
        """
        module = loadExample(self, name)
        printed: list[str] = []
        echo: Callable[[str], Any] = printed.append
        await module.run(echo)
        shown = documentedOutput(name, self.backend)
        self.assertTrue(shown, f"no doc shows the output of examples/{name}.py on {self.backend}")
        for block in shown:
            self.assertEqual(normalised(printed), normalised(block))

    async def test_quickstart(self) -> None:
        """
        C{examples/quickstart.py} prints the output shown in the README.
        """
        await self.runExample("quickstart")

    async def test_callbacks(self) -> None:
        """
        C{examples/callbacks.py}, in callback style, prints its documented
        output.
        """
        await self.runExample("callbacks")

    async def test_models(self) -> None:
        """
        C{examples/models.py}, every finder and object method, prints its
        documented output.
        """
        await self.runExample("models")

    async def test_relationships(self) -> None:
        """
        C{examples/relationships.py} prints its documented output.
        """
        await self.runExample("relationships")

    async def test_transactions(self) -> None:
        """
        C{examples/transactions.py} prints its documented output: commits,
        rollbacks, savepoints and hooks behave as described.
        """
        await self.runExample("transactions")

    async def test_validation(self) -> None:
        """
        C{examples/validation.py} prints its documented output.
        """
        await self.runExample("validation")

    async def test_lowlevel(self) -> None:
        """
        C{examples/lowlevel.py} prints its documented output.
        """
        await self.runExample("lowlevel")

    async def test_eager(self) -> None:
        """
        C{examples/eager.py} prints its documented output, query counts
        included: eager loading and C{createMany} send the queries the docs
        say.
        """
        await self.runExample("eager")

    async def test_queries(self) -> None:
        """
        C{examples/queries.py} prints its documented output, the SQL it
        sends included: every query method finds and sends what the Queries
        page says.
        """
        await self.runExample("queries")

    async def test_querylog(self) -> None:
        """
        C{examples/querylog.py} prints its documented output: the query
        events (a secret column redacted), the query counts and the N+1
        error the query-log page shows.
        """
        await self.runExample("querylog")

    async def test_databases(self) -> None:
        """
        C{examples/databases.py} prints its documented output: models of a
        named database, C{using()}, relationships between two databases and
        a transaction on one go where the Scaling out page says.
        """
        await self.runExample("databases")

    async def test_replicas(self) -> None:
        """
        C{examples/replicas.py} prints the output documented for the
        backend: on the servers, reads go to the replica or the primary as
        the Scaling out page says; SQLite refuses replicas.
        """
        await self.runExample("replicas")


class ExampleScriptTests(TestCase):
    """
    Each example also runs as a script (as C{make demo} runs the quick
    start), on its own SQLite database.
    """

    skip = NO_CHECKOUT

    async def test_scripts(self) -> None:
        """
        Every example exits with status 0 and prints its documented output.
        """
        env = dict(os.environ)
        # The scripts import the twistar these tests import.
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PACKAGE_PARENT), *filter(None, [env.get("PYTHONPATH")])]
        )
        for name in EXAMPLE_NAMES:
            out, err, code = await getProcessOutputAndValue(
                sys.executable, [str(EXAMPLES / f"{name}.py")], env=env, path=str(ROOT)
            )
            self.assertEqual(code, 0, f"{name}.py failed:\n{err.decode(errors='replace')}")
            printed = out.decode("utf-8").splitlines()
            shown = documentedOutput(name, SQLITE)
            self.assertTrue(shown, f"no doc shows the output of examples/{name}.py on SQLite")
            for block in shown:
                self.assertEqual(normalised(printed), normalised(block), f"{name}.py")


class DocExcerptTests(SynchronousTestCase):
    """
    The code the docs quote is the code of the examples.
    """

    skip = NO_CHECKOUT

    def test_snippetsComeFromExamples(self) -> None:
        """
        Every block marked C{snippet: examples/X.py} is found, part by part
        (parts are separated by a line C{...}), in that file.
        """
        checked = 0
        for path in docFiles():
            for kind, target, lineNumber, lines in markedBlocks(path):
                if kind != "snippet":
                    continue
                source = (ROOT / target).read_text(encoding="utf-8").splitlines()
                part: list[str] = []
                for line in [*lines, "..."]:
                    if line.strip() != "...":
                        part.append(line)
                        continue
                    self.assertTrue(
                        findExcerpt(source, part),
                        f"{path.name}:{lineNumber}: excerpt not found in {target}:\n"
                        + "\n".join(part),
                    )
                    checked += 1
                    part = []
        self.assertGreater(checked, len(EXAMPLE_NAMES))

    def test_everyExampleIsDocumented(self) -> None:
        """
        Every file under C{examples/} is known to these tests and quoted by
        the docs, and its output is shown.
        """
        onDisk = sorted(path.stem for path in EXAMPLES.glob("*.py") if path.stem != SUPPORT)
        self.assertEqual(onDisk, sorted(EXAMPLE_NAMES))
        quoted = {target for path in docFiles() for kind, target, _, _ in markedBlocks(path)
                  if kind == "snippet"}
        for name in EXAMPLE_NAMES:
            self.assertIn(f"examples/{name}.py", quoted)
            self.assertTrue(documentedOutput(name), name)

    def test_linksResolve(self) -> None:
        """
        Every relative link in the docs, and every link to a file of the
        repository, names a file or directory that exists. The README, which
        is also the PyPI page, links to the repository's files by their
        address, never relatively.
        """
        link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
        checked = 0
        for path in docFiles():
            for target in link.findall(path.read_text(encoding="utf-8")):
                inRepository = _REPOSITORY_FILE.match(target)
                if inRepository:
                    self.assertTrue((ROOT / inRepository.group(1)).exists(),
                                    f"{path.name} links to missing {target}")
                    checked += 1
                    continue
                if re.match(r"[a-z]+:", target):
                    continue
                self.assertNotEqual(path.name, "README.md",
                                    f"README.md links to {target}: use {REPOSITORY}/blob/main/"
                                    f"{target} (or /tree/main/ for a directory), for PyPI")
                self.assertTrue((path.parent / target).exists(),
                                f"{path.name} links to missing {target}")
                checked += 1
        self.assertGreater(checked, 10)


class FindExcerptTests(SynchronousTestCase):
    """
    L{findExcerpt}, which needs no checkout.
    """

    def test_findExcerpt(self) -> None:
        """
        L{findExcerpt} finds consecutive lines under a common extra indent
        and nothing else.
        """
        source = ["def f():", "    a = 1", "", "    b = 2", "c = 3"]
        self.assertTrue(findExcerpt(source, ["a = 1", "", "b = 2"]))
        self.assertTrue(findExcerpt(source, ["def f():", "    a = 1"]))
        self.assertFalse(findExcerpt(source, ["a = 1", "b = 2"]))
        self.assertFalse(findExcerpt(source, ["b = 2", "c = 3"]))
        self.assertFalse(findExcerpt(source, ["a = 2"]))


class MarkerTests(SynchronousTestCase):
    """
    L{backendsOfBlocks}, which needs no checkout.
    """

    def test_backends(self) -> None:
        """
        An output marker may name the backends its block is for, after
        C{on}; a block without them is for every backend; an unknown
        backend is refused.
        """
        path = Path(self.mktemp())
        path.write_text(
            "<!-- output: examples/a.py on postgres, mysql -->\n```\nserver\n```\n"
            "<!-- output: examples/a.py on sqlite -->\n```\nfile\n```\n"
            "<!-- snippet: examples/a.py -->\n```python\ncode\n```\n",
            encoding="utf-8",
        )
        self.assertEqual(backendsOfBlocks(path), [
            (("output", "examples/a.py", 2, ["server"]), ("postgres", "mysql")),
            (("output", "examples/a.py", 6, ["file"]), ("sqlite",)),
            (("snippet", "examples/a.py", 10, ["code"]), None),
        ])
        path.write_text("<!-- output: examples/a.py on oracle -->\n```\nx\n```\n",
                        encoding="utf-8")
        self.assertRaises(ValueError, backendsOfBlocks, path)
