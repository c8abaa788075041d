# -*- test-case-name: twistar.tests.test_docstrings -*-
"""
Tests that every public name of twistar has a docstring: modules, classes,
functions, methods, and module and class attributes (a string right after
the assignment, or an C{@ivar}/C{@cvar} of the class docstring). A method or
attribute that overrides one of a base class shares its docstring, as in
the API reference.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

import twistar
from twistar.tests.test_imports import moduleFiles

_FIELDS = re.compile(r"@(?:ivar|cvar|var|type)\s+(\w+)")


def _isString(node: ast.stmt | None) -> bool:
    return (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _overrides(owner: Any, name: str) -> bool:
    """
    @return: whether C{name}, defined in the class C{owner}, is defined by a
        base class of it too.
    """
    return any(
        name in vars(base) or name in vars(base).get("__annotations__", {})
        for base in owner.__mro__[1:] if base is not object
    )


def undocumented(module: str, path: Path) -> list[str]:
    """
    @return: the public names of the module C{module}, whose source is
        C{path}, that have no docstring.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [] if ast.get_docstring(tree) else [module]
    live = importlib.import_module(module)

    def visit(body: list[ast.stmt], prefix: str, owner: Any, fields: set[str]) -> None:
        for index, node in enumerate(body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = node.name
                if name.startswith("_"):
                    continue
                decorators = [ast.unparse(each) for each in node.decorator_list]
                if any("overload" in each or ".setter" in each for each in decorators):
                    continue
                overriding = owner is not None and _overrides(owner, name)
                if not ast.get_docstring(node) and not overriding:
                    found.append(f"{module}.{prefix}{name}")
                if isinstance(node, ast.ClassDef):
                    klass = getattr(owner or live, name, None)
                    if isinstance(klass, type):
                        docstring = ast.get_docstring(node) or ""
                        visit(node.body, f"{prefix}{name}.", klass,
                              set(_FIELDS.findall(docstring)))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                following = body[index + 1] if index + 1 < len(body) else None
                for target in targets:
                    if not isinstance(target, ast.Name) or target.id.startswith("_"):
                        continue
                    name = target.id
                    if name in fields or _isString(following):
                        continue
                    if owner is not None and _overrides(owner, name):
                        continue
                    value = getattr(owner or live, name, None)
                    if type(value).__name__ == "TypeVar":
                        continue
                    found.append(f"{module}.{prefix}{name}")

    visit(tree.body, "", None, set())
    return found


class DocstringTests(SynchronousTestCase):
    """
    Every public name of the package is documented.
    """

    def test_publicNamesHaveDocstrings(self) -> None:
        """
        No public module, class, function, method or attribute of twistar
        (its tests aside) lacks a docstring.
        """
        missing = []
        for module, path in moduleFiles().items():
            missing += undocumented(module, path)
        self.assertEqual(missing, [])

    def test_checkFindsMissing(self) -> None:
        """
        The check reports an undocumented function, class attribute and
        method, and accepts documented and overriding ones.
        """
        source = Path(self.mktemp() + ".py")
        source.write_text(
            '"""A module."""\n'
            "from twistar.registry import Registry\n"
            "def bare(): pass\n"
            "class Sub(Registry):\n"
            '    """A class."""\n'
            "    DBPOOL = None\n"
            "    LIMIT = 3\n"
            "    SHOWN = 4\n"
            '    """Documented."""\n'
            "    def method(self): pass\n",
            encoding="utf-8",
        )
        spec = importlib.util.spec_from_file_location("twistar_docstring_probe", source)
        assert spec is not None and spec.loader is not None
        probe = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(probe)
        sys.modules["twistar_docstring_probe"] = probe
        self.addCleanup(sys.modules.pop, "twistar_docstring_probe")
        self.assertEqual(
            undocumented("twistar_docstring_probe", source),
            ["twistar_docstring_probe.bare", "twistar_docstring_probe.Sub.LIMIT",
             "twistar_docstring_probe.Sub.method"],
        )
        self.assertTrue(twistar.__doc__)
