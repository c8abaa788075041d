# -*- test-case-name: twistar.tests.test_cli -*-
"""
Writing model classes for the tables of an existing database: the code
that C{twistar models} prints.

L{writeModels} reads L{TableInfo}s (see
L{twistar.dbconfig.introspection}) and writes a module of
L{twistar.dbobject.DBObject} subclasses that follows twistar's conventions
where the schema does, and declares the rest:

  - one class per table, named by the table's singular (C{order_items} →
    C{OrderItem}), with C{TABLENAME} when twistar would not find the table
    from that name (C{status} → C{Status}, whose table would be
    C{statuses});
  - C{PRIMARY_KEY} when the key is not C{id} (a tuple for a composite
    key);
  - from each foreign key, a C{BELONGSTO} on its table and a C{HASMANY} (a
    C{HASONE} when the key's columns are unique) on the table it names,
    with C{class_name} and C{foreign_key} where the names differ from the
    conventions;
  - from each table of exactly two foreign keys, a C{HABTM} on each of the
    two tables: through the plain join table (no class of its own) when it
    holds nothing but the keys (and maybe an id), through its model (the
    C{through} option) when it has more columns;
  - annotations of the columns (Python types as the database's driver reads
    them, C{| None} for a nullable column) and of the relationships;
  - C{TIMESTAMPS} for tables with C{created_at} and C{updated_at},
    C{LOCK_VERSION} for an integer C{lock_version} column;
  - C{Registry.register(...)} of every class at the end.
"""

from __future__ import annotations

import builtins
import json
import keyword
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inflection import camelize, pluralize, singularize, underscore

from twistar.dbconfig.introspection import ForeignKeyInfo, TableInfo
from twistar.dbobject import DBObject
from twistar.finders import QUERY_STARTERS

_KINDS = ("BELONGSTO", "HASONE", "HASMANY", "HABTM")
_ANNOTATIONS = {
    "BELONGSTO": "BelongsTo", "HASONE": "HasOne", "HASMANY": "HasMany", "HABTM": "HABTM",
}
_IMPORTS = {
    "date": "datetime", "datetime": "datetime", "time": "datetime", "timedelta": "datetime",
    "Decimal": "decimal", "Any": "typing",
    "BelongsTo": "twistar.relationships", "HasOne": "twistar.relationships",
    "HasMany": "twistar.relationships", "HABTM": "twistar.relationships",
    "HABTMThrough": "twistar.through",
}
# What an import hidden by a class attribute is imported as (else its name
# after a "_").
_ALIASES = {"HABTM": "HasAndBelongsToMany"}
# The class attributes a model may set.
_CONSTANTS = frozenset({"TABLENAME", "PRIMARY_KEY", "TIMESTAMPS", "LOCK_VERSION", *_KINDS})
# Names the module defines or imports: no class may take them.
_RESERVED = frozenset({"DBObject", "Registry", "annotations", *_IMPORTS})
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

SKIPPED_TABLES = re.compile(r"\A(_yoyo_\w+|yoyo_lock)\Z")
"""The tables no model is written for unless named: the bookkeeping of
yoyo-migrations (see the migrations recipe in the docs)."""


@dataclass
class _Relationship:
    """
    One relationship of a model being written.
    """

    kind: str
    name: str
    target: str
    options: dict[str, Any]
    annotation: str

    def declaration(self) -> str:
        """
        @return: how the relationship is written in its list.
        """
        if not self.options:
            return _literal(self.name)
        return _literal({"name": self.name, **self.options})


@dataclass
class _Model:
    """
    A model being written: its table, class name and what it declares.
    """

    table: TableInfo
    className: str
    relationships: list[_Relationship] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, ...]:
        """The columns relationships name: the primary key, else C{id}."""
        return self.table.primaryKey or ("id",)

    @property
    def prefix(self) -> str:
        """What twistar starts the foreign keys naming this model with."""
        return underscore(self.className)

    def ownerKey(self) -> tuple[str, ...]:
        """
        @return: the columns a has-many, has-one or HABTM of this model
            expects to name it, by convention.
        """
        return _conventionalKey(self.prefix, self.key)

    def takenNames(self) -> set[str]:
        """
        @return: the names a new relationship of this model cannot have.
        """
        return {*self.table.columnNames, *(r.name for r in self.relationships)}

    def add(self, kind: str, base: str, target: _Model,
            annotation: str | None = None) -> _Relationship:
        """
        Add a relationship named C{base}, or a free name like it (see
        L{_freeName}), without options yet.

        @param annotation: the class of the relationship's annotation,
            when it is not the one of C{kind}.
        @return: the relationship.
        """
        relationship = _Relationship(
            kind, _freeName(base, self.takenNames()), target.className, {},
            f"{annotation or _ANNOTATIONS[kind]}[{target.className}]",
        )
        self.relationships.append(relationship)
        return relationship


def writeModels(
    tables: Mapping[str, TableInfo], pythonType: Callable[[str], str],
    only: Sequence[str] | None = None, source: str | None = None,
) -> str:
    """
    @param tables: the database's tables, by name: all of them, so that
        relationships to and through tables left out of C{only} are found.
    @param pythonType: the Python type (an annotation's text) of the values
        of a declared column type (see
        L{twistar.dbconfig.introspection.Introspection.pythonType}).
    @param only: the tables to write models for (the join tables between
        them are used without being named); C{None} for all but
        L{SKIPPED_TABLES} and plain join tables.
    @param source: what the tables were read from, for the module's
        docstring.
    @return: the source of a module defining and registering the models.
    @raise KeyError: for a name of C{only} that is no table of C{tables}.
    """
    if only is not None:
        missing = [name for name in only if name not in tables]
        if missing:
            raise KeyError(", ".join(missing))
    joins = {name: ends for name, table in tables.items()
             if (ends := _joinEnds(table, tables)) is not None and _isJoin(table, ends)}
    if only is None:
        chosen = [name for name in sorted(tables, key=str.lower)
                  if not SKIPPED_TABLES.match(name)
                  and not (name in joins and _isPlainJoin(tables[name], joins[name]))]
    else:
        chosen = list(dict.fromkeys(only))
    models = _nameModels([tables[name] for name in chosen])
    for table in tables.values():
        for foreignKey in sorted(table.foreignKeys, key=_keyOrder):
            _addForeignKey(models, table, foreignKey)
    for name, ends in joins.items():
        _addHABTMs(models, tables[name], ends)
    return _module(models, pythonType, source)


def _nameModels(tables: Iterable[TableInfo]) -> dict[str, _Model]:
    """
    @return: a model for each of C{tables}, by table name, each with a
        class name of its own: the tables whose names come back from their
        class names choose first; the others get their camel-cased name
        (C{person} → C{Person}, unless C{people} took it: C{PersonTable}).
    """
    tables = list(tables)
    models: dict[str, _Model] = {}
    taken: set[str] = set()
    for table in sorted(tables, key=lambda t: _tableNameOf(_className(t.name)) != t.name):
        className = _className(table.name)
        if className in taken:
            plain = camelize(table.name.lstrip("_"))
            className = _freeName(plain if plain not in taken else f"{plain}Table", taken)
        taken.add(className)
        models[table.name] = _Model(table, className)
    return {table.name: models[table.name] for table in tables}


def _tableNameOf(className: str) -> str:
    """
    @return: the table twistar reads the rows of class C{className} from.
    """
    return pluralize(underscore(className))


def _className(tablename: str) -> str:
    """
    @return: the class name twistar would find C{tablename} from: the
        camel-cased singular (C{"order_items"} → C{"OrderItem"}), made a
        name no builtin or import of the module has.
    """
    name = camelize(singularize(tablename).lstrip("_"))
    if not name.isidentifier() or keyword.iskeyword(name):
        name = "Table" + name
    if name in _RESERVED or hasattr(builtins, name):
        name += "Model"
    return name


def _freeName(base: str, taken: set[str]) -> str:
    """
    @return: C{base}, or when it is taken (in C{taken}, by L{DBObject}
        but for its query starters, or a Python keyword) a name made from it.
    """
    if keyword.iskeyword(base):
        base += "_"
    name, number = base, 1
    while name in taken or (hasattr(DBObject, name) and name not in QUERY_STARTERS):
        number += 1
        name = f"{base}_{number}"
    return name


def _conventionalKey(prefix: str, key: tuple[str, ...]) -> tuple[str, ...]:
    """
    @return: the columns twistar names a key C{key} with by default, for a
        relationship whose columns start with C{prefix}.
    """
    if len(key) == 1:
        return (f"{prefix}_id",)
    return tuple(f"{prefix}_{column}" for column in key)


def _keyOrder(foreignKey: ForeignKeyInfo) -> tuple[str, ...]:
    """
    @return: what foreign keys are sorted by, so that models are written
        alike whatever order the database gives them in: their columns.
    """
    return foreignKey.columns


def _keyColumns(foreignKey: ForeignKeyInfo, target: TableInfo) -> tuple[str, ...] | None:
    """
    @return: the columns of C{foreignKey} in the order of C{target}'s key
        (its primary key, else C{id}), or C{None} when it names other
        columns (no relationship can follow it).
    """
    key = target.primaryKey or ("id",)
    if sorted(foreignKey.references) != sorted(key) or len(set(key)) != len(key):
        return None
    byReference = dict(zip(foreignKey.references, foreignKey.columns))
    return tuple(byReference[column] for column in key)


def _linkName(columns: tuple[str, ...], target: _Model) -> str:
    """
    @return: the name of the belongs-to that foreign key C{columns} (in
        key order) make: the column less its C{_id} (C{manager_id} →
        C{manager}, C{ArtistId} → C{artist}), the common start of the
        columns of a composite key (C{bin_aisle}, C{bin_shelf} → C{bin}),
        else the singular of the other table.
    """
    if len(columns) == 1:
        name = underscore(columns[0])
        if name.endswith("_id") and len(name) > 3:
            return name[:-3]
    else:
        ending = f"_{target.key[0]}"
        prefix = columns[0][: -len(ending)] if columns[0].endswith(ending) else ""
        if prefix and _conventionalKey(prefix, target.key) == columns:
            return prefix
    return target.prefix


def _addForeignKey(models: dict[str, _Model], table: TableInfo,
                   foreignKey: ForeignKeyInfo) -> None:
    """
    Add the belongs-to of C{foreignKey} to the model of C{table}, and the
    has-many or has-one it makes to the model of the table it names.
    """
    child = models.get(table.name)
    parent = models.get(foreignKey.table)
    if child is None or parent is None:
        return
    columns = _keyColumns(foreignKey, parent.table)
    if columns is None:
        child.notes.append(
            f"{', '.join(foreignKey.columns)} -> {foreignKey.table}"
            f"({', '.join(foreignKey.references)}): names no primary key, so no relationship"
        )
        return
    link = _linkName(columns, parent)
    _belongsToOptions(child.add("BELONGSTO", link, parent), columns, parent)
    unique = table.isUnique(columns)
    base = child.prefix if unique else pluralize(child.prefix)
    if link != parent.prefix:
        base = f"{base}_as_{link}"
    relationship = parent.add("HASONE" if unique else "HASMANY", base, child)
    _ownerOptions(relationship, parent, columns)


def _belongsToOptions(relationship: _Relationship, columns: tuple[str, ...],
                      target: _Model) -> None:
    """
    Set the options of a belongs-to whose name does not tell its class or
    foreign key.
    """
    if camelize(relationship.name) != target.className:
        relationship.options["class_name"] = target.className
    if _conventionalKey(relationship.name, target.key) != columns:
        relationship.options["foreign_key"] = _keyOption(columns)


def _ownerOptions(relationship: _Relationship, owner: _Model, columns: tuple[str, ...]) -> None:
    """
    Set the options of a has-many, has-one or HABTM whose name does not
    tell its class, or whose columns naming C{owner} are not the
    conventional ones.
    """
    if relationship.kind == "HASONE":
        default = camelize(relationship.name)
    else:
        default = camelize(singularize(relationship.name))
    if default != relationship.target:
        relationship.options["class_name"] = relationship.target
    if owner.ownerKey() != columns:
        relationship.options["foreign_key"] = _keyOption(columns)


def _keyOption(columns: tuple[str, ...]) -> str | tuple[str, ...]:
    return columns[0] if len(columns) == 1 else columns


def _joinEnds(
    table: TableInfo, tables: Mapping[str, TableInfo]
) -> tuple[tuple[ForeignKeyInfo, tuple[str, ...]], ...] | None:
    """
    @return: for a table of exactly two foreign keys, each naming the key of
        a table of C{tables}: each foreign key and its columns in key
        order; C{None} for other tables.
    """
    if len(table.foreignKeys) != 2:
        return None
    ends = []
    for foreignKey in sorted(table.foreignKeys, key=_keyOrder):
        target = tables.get(foreignKey.table)
        columns = None if target is None else _keyColumns(foreignKey, target)
        if columns is None:
            return None
        ends.append((foreignKey, columns))
    return tuple(ends)


def _isJoin(table: TableInfo,
            ends: tuple[tuple[ForeignKeyInfo, tuple[str, ...]], ...]) -> bool:
    """
    @return: whether C{table}, of two foreign keys, links the rows of the
        tables they name: it holds nothing but the keys (and maybe an id),
        or its keys' columns cannot be C{NULL} (a row with an optional link
        is a row of its own).
    """
    return _isPlainJoin(table, ends) or all(
        not column.nullable for column in table.columns
        if any(column.name in columns for _, columns in ends)
    )


def _isPlainJoin(table: TableInfo,
                 ends: tuple[tuple[ForeignKeyInfo, tuple[str, ...]], ...]) -> bool:
    """
    @return: whether C{table} holds nothing but its two foreign keys (and
        maybe an id).
    """
    keys = {column for _, columns in ends for column in columns}
    others = set(table.columnNames) - keys - {"id"}
    if len(table.primaryKey) == 1:
        others -= set(table.primaryKey)
    return not others


def _addHABTMs(models: dict[str, _Model], table: TableInfo,
               ends: tuple[tuple[ForeignKeyInfo, tuple[str, ...]], ...]) -> None:
    """
    Add the HABTM that the join table C{table} makes to each of the models
    of the two tables it links, when both are written: through its model
    when it has one (with a key), else through the table.
    """
    (first, firstColumns), (second, secondColumns) = ends
    one, other = models.get(first.table), models.get(second.table)
    if one is None or other is None:
        return
    joinModel = models.get(table.name)
    if joinModel is not None and not (table.primaryKey or "id" in table.columnNames):
        joinModel = None
    for owner, ownColumns, target, otherColumns in (
        (one, firstColumns, other, secondColumns), (other, secondColumns, one, firstColumns),
    ):
        ownLink = _linkName(ownColumns, owner)
        base = pluralize(_linkName(otherColumns, target))
        if ownLink != owner.prefix:
            base = f"{base}_as_{ownLink}"
        annotation = "HABTM" if joinModel is None else "HABTMThrough"
        relationship = owner.add("HABTM", base, target, annotation)
        _ownerOptions(relationship, owner, ownColumns)
        if _conventionalKey(target.prefix, target.key) != otherColumns:
            relationship.options["association_foreign_key"] = _keyOption(otherColumns)
        if joinModel is not None:
            relationship.options["through"] = joinModel.className
        elif table.name != "_".join(sorted([owner.table.name, target.table.name])):
            relationship.options["join_table"] = table.name


def _module(models: Mapping[str, _Model], pythonType: Callable[[str], str],
            source: str | None) -> str:
    """
    @return: the source of the module of C{models}.
    """
    columns = {table: _columnAnnotations(model, pythonType) for table, model in models.items()}
    texts = [text for pairs in columns.values() for _, text in pairs if text]
    texts += [r.annotation for model in models.values() for r in model.relationships]
    used = {word for text in texts for word in _WORDS.findall(text) if word in _IMPORTS}
    # An import that a class attribute hides (a column called "date", the
    # HABTM list) is imported under another name.
    attributes = {*_CONSTANTS, *(model.className for model in models.values())}
    for model in models.values():
        attributes.update(model.table.columnNames, (r.name for r in model.relationships))
    aliases = {name: _freeName(_ALIASES.get(name, f"_{name}"), attributes)
               for name in used if name in attributes}

    def rename(text: str) -> str:
        return _WORDS.sub(lambda word: aliases.get(word.group(), word.group()), text)

    body = "\n\n\n".join(
        _classSource(model, columns[table], rename) for table, model in models.items()
    )
    statements: dict[str, list[list[str]]] = {}
    for name in sorted(used, key=_importOrder):
        groups = statements.setdefault(_IMPORTS[name], [])
        if name in aliases:
            groups.append([f"{name} as {aliases[name]}"])
        elif groups and " as " not in groups[-1][0]:
            groups[-1].append(name)
        else:
            groups.append([name])
    imports = {
        module: sorted((f"from {module} import {', '.join(group)}" for group in groups),
                       key=lambda line: _importOrder(line.split()[3].rstrip(",")))
        for module, groups in sorted(statements.items())
    }
    standard = [line for module, lines in imports.items() if not module.startswith("twistar")
                for line in lines]
    twistar = [
        "from twistar.dbobject import DBObject",
        "from twistar.registry import Registry",
        *(line for module, lines in imports.items() if module.startswith("twistar")
          for line in lines),
    ]
    origin = f" from {source}" if source else ""
    lines = [
        '"""',
        f'Models of the database{origin}, written by "twistar models".',
        '"""',
        "",
        "from __future__ import annotations",
        "",
        *([*standard, ""] if standard else []),
        *twistar,
        "",
        "",
        body,
        "",
        "",
        _call("Registry.register", [model.className for model in models.values()]),
        "",
    ]
    return "\n".join(lines)


def _importOrder(name: str) -> tuple[int, str]:
    """
    @return: where isort (and ruff) put C{name} in a C{from} import:
        constants, classes, then the rest.
    """
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2), name


def _columnAnnotations(model: _Model,
                       pythonType: Callable[[str], str]) -> list[tuple[str, str | None]]:
    """
    @return: each column of C{model}'s table and its annotation: the Python
        type of its values, C{| None} when it may be C{NULL}; C{None} for a
        column that cannot be annotated (its name is no Python name, or an
        attribute of L{DBObject}).
    """
    annotations: list[tuple[str, str | None]] = []
    for column in model.table.columns:
        name = column.name
        if not name.isidentifier() or keyword.iskeyword(name) or (
            name != "id" and hasattr(DBObject, name)
        ):
            annotations.append((name, None))
            continue
        python = pythonType(column.declared)
        annotations.append((name, python + (" | None" if column.nullable and python != "Any"
                                            else "")))
    return annotations


def _classSource(model: _Model, columns: list[tuple[str, str | None]],
                 rename: Callable[[str], str]) -> str:
    """
    @param columns: the columns and their annotations (see
        L{_columnAnnotations}).
    @param rename: gives an annotation the names its types are imported as.
    @return: the source of the class of C{model}.
    """
    table = model.table
    lines = [f"class {model.className}(DBObject):"]
    lines += [f"    # {note}" for note in model.notes]
    if _tableNameOf(model.className) != table.name:
        lines.append(f"    TABLENAME = {_literal(table.name)}")
    if table.primaryKey and table.primaryKey != ("id",):
        lines.append(f"    PRIMARY_KEY = {_literal(_keyOption(table.primaryKey))}")
    elif not table.primaryKey and "id" not in table.columnNames:
        lines.append("    # No primary key and no id column: twistar cannot tell its rows apart.")
    annotated = dict(columns)
    if all("datetime" in (annotated.get(name) or "") for name in ("created_at", "updated_at")):
        lines.append("    TIMESTAMPS = True")
    if (annotated.get("lock_version") or "").startswith("int"):
        lines.append('    LOCK_VERSION = "lock_version"')
    for kind in _KINDS:
        declarations = [r.declaration() for r in model.relationships if r.kind == kind]
        if declarations:
            lines.append(_listAssignment(f"    {kind}", declarations))
    if len(lines) > 1:
        lines.append("")
    for name, annotation in columns:
        if annotation is None:
            why = "not a Python name" if not name.isidentifier() or keyword.iskeyword(name) \
                else "DBObject has an attribute of that name"
            lines.append(f"    # column {name!r}: {why}")
        else:
            lines.append(f"    {name}: {rename(annotation)}")
    if model.relationships:
        lines.append("")
        for kind in _KINDS:
            for r in model.relationships:
                if r.kind != kind:
                    continue
                if hasattr(DBObject, r.name):  # a query starter, which type checkers see
                    lines.append(f"    # {r.name}: {rename(r.annotation)}, hiding "
                                 f"DBObject.{r.name}")
                else:
                    lines.append(f"    {r.name}: {rename(r.annotation)}")
    return "\n".join(lines)


def _listAssignment(target: str, items: list[str]) -> str:
    """
    @return: C{target = [items...]}, on one line when it fits in 99
        characters, else one item a line (a long one wrapped, see L{_wrap}).
    """
    line = f"{target} = [{', '.join(items)}]"
    if len(line) < 100:
        return line
    indent = " " * (len(target) - len(target.lstrip()) + 4)
    lines = [f"{target} = ["]
    lines += [_wrap(f"{indent}{item},") for item in items]
    lines.append(f"{indent[:-4]}]")
    return "\n".join(lines)


def _wrap(line: str) -> str:
    """
    @return: C{line}, a dict literal, broken after its commas into lines of
        less than 100 characters, aligned after its brace.
    """
    if len(line) < 100:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 1)
    parts = re.split(r'(?<=[",)]), (?=")', line)
    lines = [parts[0]]
    for part in parts[1:]:
        if len(lines[-1]) + len(part) + 2 < 100:
            lines[-1] += f", {part}"
        else:
            lines[-1] += ","
            lines.append(indent + part)
    return "\n".join(lines)


def _call(function: str, arguments: list[str]) -> str:
    """
    @return: C{function(arguments...)}, on one line when it fits in 99
        characters, else one argument a line.
    """
    line = f"{function}({', '.join(arguments)})"
    if len(line) < 100:
        return line
    return "\n".join([f"{function}(", *(f"    {argument}," for argument in arguments), ")"])


def _literal(value: Any) -> str:
    """
    @return: C{value} (a string, a tuple of strings, or a dict of those) as
        Python source, with double quotes.
    """
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        items = ", ".join(map(_literal, value))
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r}")
