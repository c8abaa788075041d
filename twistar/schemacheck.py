# -*- test-case-name: twistar.tests.test_cli -*-
"""
Checking models against a database: what C{twistar check} reports.

L{checkModels} compares model classes with the tables read from the
database (see L{twistar.dbconfig.introspection}) and lists, for each
model, what its use would miss: its table; the columns of its primary key,
C{LOCK_VERSION} and C{TIMESTAMPS}; the columns it annotates; and for each
relationship, the columns of its foreign key, the join table and its
columns, and the related class (registered) and its table.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from twistar.dbconfig.introspection import TableInfo
from twistar.dbconfig.objects import timestampColumns
from twistar.dbobject import DBObject
from twistar.exceptions import TwistarError
from twistar.relationships import RelationshipSpec

_KIND_NAMES = {
    "BELONGSTO": "belongs-to", "HASONE": "has-one", "HASMANY": "has-many", "HABTM": "HABTM",
}


@dataclass(frozen=True)
class ModelReport:
    """
    What L{checkModels} found for one model.

    @ivar model: the model class.
    @ivar table: its table.
    @ivar problems: what the database lacks for it, one sentence each
        (none when the model and the database agree).
    """

    model: type[DBObject]
    table: str
    problems: tuple[str, ...]


def checkModels(
    models: Iterable[type[DBObject]], tables: Mapping[str, TableInfo]
) -> list[ModelReport]:
    """
    @param models: the model classes to check (registered, so that their
        relationships find the classes they name).
    @param tables: the database's tables, by name.
    @return: a report for each model, in the order of C{models}.
    """
    return [
        ModelReport(model, model.tablename(), tuple(dict.fromkeys(_problems(model, tables))))
        for model in models
    ]


def formatReports(reports: Sequence[ModelReport]) -> str:
    """
    @return: C{reports} as lines of text: each model with C{ok} or its
        problems, then a summary line.
    """
    lines = []
    for report in reports:
        title = f"{report.model.__name__} (table {report.table})"
        if not report.problems:
            lines.append(f"  {title}: ok")
            continue
        lines.append(f"  {title}:")
        lines += [f"    - {problem}" for problem in report.problems]
    count = sum(len(report.problems) for report in reports)
    if count:
        lines.append(f"{count} problem{'s' if count > 1 else ''} in "
                     f"{sum(1 for report in reports if report.problems)} of "
                     f"{len(reports)} models.")
    else:
        lines.append(f"All {len(reports)} models match the database.")
    return "\n".join(lines)


def _problems(model: type[DBObject], tables: Mapping[str, TableInfo]) -> Iterable[str]:
    """
    @return: what the database lacks for C{model}.
    """
    tablename = model.tablename()
    table = tables.get(tablename)
    if table is None:
        yield f"table {tablename} does not exist"
    else:
        key = "the primary key" + ("" if model._keyColumns != ("id",) else "; set PRIMARY_KEY")
        yield from _missing(table, model._keyColumns, key)
        if model.LOCK_VERSION is not None:
            yield from _missing(table, [model.LOCK_VERSION], "LOCK_VERSION")
        yield from _missing(table, timestampColumns(model.TIMESTAMPS) or (), "TIMESTAMPS")
        relationships = model._relationships
        annotated = [name for name in annotatedNames(model) if name not in relationships]
        yield from _missing(table, annotated, "annotated")
    for spec in model._relationships.values():
        try:
            yield from _relationshipProblems(spec, tables)
        except TwistarError as e:  # a class not registered, a bad declaration
            yield f"{spec.name}: {e}"


def _relationshipProblems(spec: RelationshipSpec,
                          tables: Mapping[str, TableInfo]) -> Iterable[str]:
    """
    @return: what the database lacks for the relationship C{spec}.
    @raise ClassNotRegisteredError: for a class it names that is not
        registered.
    @raise InvalidRelationshipError: when it is declared wrongly.
    """
    if spec.kind == "HASMANY" and spec.through:
        spec.hops()  # its relationships are checked with their own models
        return
    target = spec.target if spec.className is not None else None
    what = f"{spec.name}: {_KIND_NAMES[spec.kind]}"
    if target is not None:
        what += f" {target.__name__}"
        if target.tablename() not in tables:
            yield f"table {target.tablename()} does not exist ({what})"
    typeColumn = [spec.typeColumn] if spec.typeColumn else []
    if spec.kind == "BELONGSTO":
        owner: Any = spec.owner
        yield from _missingIn(tables, owner.tablename(),
                              [*spec.foreignColumns(), *typeColumn], what)
    elif spec.kind in ("HASMANY", "HASONE"):
        assert target is not None
        yield from _missingIn(tables, target.tablename(),
                              [*spec.foreignColumns(), *typeColumn], what)
    else:
        joinTable = spec.habtmTable()
        if spec.through:
            spec.joinModel()
        if joinTable not in tables:
            yield f"join table {joinTable} does not exist ({what})"
        else:
            yield from _missingIn(tables, joinTable,
                                  [*spec.foreignColumns(), *spec.habtmOtherColumns()], what)


def _missingIn(tables: Mapping[str, TableInfo], tablename: str, columns: Iterable[str],
               why: str) -> Iterable[str]:
    """
    @return: a sentence for each of C{columns} that table C{tablename} lacks
        (nothing when there is no such table: that is said elsewhere).
    """
    table = tables.get(tablename)
    return () if table is None else _missing(table, columns, why)


def _missing(table: TableInfo, columns: Iterable[str], why: str) -> list[str]:
    """
    @return: a sentence for each of C{columns} that C{table} lacks.
    """
    names = set(table.columnNames)
    return [f"{table.name} has no column {column!r} ({why})"
            for column in dict.fromkeys(columns) if column not in names]


def annotatedNames(model: type) -> list[str]:
    """
    @return: the attributes that C{model} and its bases below
        L{DBObject} annotate as columns: neither private, nor constants
        (upper case), nor C{ClassVar}s.
    """
    names: dict[str, None] = {}
    for klass in reversed(model.__mro__):
        if not issubclass(klass, DBObject) or klass is DBObject:
            continue
        for name, annotation in _annotations(klass).items():
            text = annotation if isinstance(annotation, str) else repr(annotation)
            if name.startswith("_") or name.isupper() or "ClassVar" in text:
                continue
            names[name] = None
    return list(names)


def _annotations(klass: type) -> dict[str, Any]:
    """
    @return: the annotations of C{klass} itself, as written when they
        cannot be evaluated.
    """
    try:
        return dict(inspect.get_annotations(klass))
    except NameError:  # Python 3.14: a name imported for type checking only
        annotationlib = import_module("annotationlib")
        return dict(annotationlib.get_annotations(klass, format=annotationlib.Format.STRING))
