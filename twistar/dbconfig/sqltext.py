# -*- test-case-name: twistar.tests.test_sql -*-
"""
SQL text: reading queries written with C{?} placeholders, checking and
quoting names, and the shapes of wheres and limits. Pure functions, used by
L{twistar.dbconfig.base.InteractionBase} to build statements.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from twistar.exceptions import InvalidIdentifierError, InvalidQueryError

Where = Sequence[Any]
"""A where: C{[condition, arg, ...]}, the condition written with C{?}."""
Limit = int | tuple[int, int] | list[int] | None
"""A limit: C{n}, C{(n, offset)} or C{None}."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# One token of SQL: a quoted string or identifier, a comment, a placeholder,
# a percent sign, or a run of anything else; in each database's dialect.
_STRINGS = r"""'(?:[^']|'')*'?|"(?:[^"]|"")*"?"""
_BACKSLASH_STRINGS = r"""'(?:[^'\\]|\\.|'')*'?|"(?:[^"\\]|\\.|"")*"?"""
_BACKQUOTED = r"`(?:[^`]|``)*`?"
_BLOCK_COMMENT = r"/\*.*?(?:\*/|\Z)"
_OTHERS = r"""\?|%|[^'"`?%/\-#$Ee]+|."""
_LEXICONS = {
    "standard": re.compile(
        "|".join([_STRINGS, _BACKQUOTED, r"--[^\n]*", _BLOCK_COMMENT, _OTHERS]), re.S
    ),
    # MySQL: backslash escapes in strings; '#' comments; '--' needs a space.
    "mysql": re.compile(
        "|".join([_BACKSLASH_STRINGS, _BACKQUOTED, r"#[^\n]*", r"--(?=\s)[^\n]*|--\Z",
                  _BLOCK_COMMENT, _OTHERS]),
        re.S,
    ),
    # PostgreSQL: E'...' strings with backslash escapes; $tag$...$tag$ quoting.
    "postgres": re.compile(
        "|".join([r"[Ee]'(?:[^'\\]|\\.|'')*'?",
                  r"\$(?P<tag>(?:[A-Za-z_][A-Za-z0-9_]*)?)\$.*?(?:\$(?P=tag)\$|\Z)",
                  _STRINGS, _BACKQUOTED, r"--[^\n]*", _BLOCK_COMMENT, _OTHERS]),
        re.S,
    ),
}


@lru_cache(maxsize=4096)
def convertPlaceholders(
    query: str, marker: str = "?", lexicon: str = "standard"
) -> tuple[str, int]:
    """
    Convert a query written with C{?} placeholders to a driver's paramstyle.

    A C{?} inside a quoted string, a quoted identifier or a comment is left
    alone. When C{marker} is not C{?} (C{format}/C{pyformat} drivers), every
    C{%} is doubled so the driver reads it as a literal percent sign.

    @param marker: the driver's placeholder (C{"?"} or C{"%s"}).
    @param lexicon: how the database quotes and comments: C{"standard"},
        C{"mysql"} (backslash escapes, C{#} comments) or C{"postgres"}
        (C{E'...'} strings, dollar quoting).
    @return: the converted query and the number of placeholders in it.
    """
    doublePercent = marker != "?"
    parts = []
    count = 0
    for match in _LEXICONS[lexicon].finditer(query):
        token = match.group()
        if token == "?":
            parts.append(marker)
            count += 1
        elif doublePercent and "%" in token:
            parts.append(token.replace("%", "%%"))
        else:
            parts.append(token)
    return "".join(parts), count


# A placeholder of the C{format} paramstyle, or a literal percent sign.
_FORMAT_MARKER = re.compile(r"%[%s]")
# C{IS} or C{IS NOT} ending a run of SQL code.
_ENDS_WITH_IS = re.compile(r"(?i)(?<![\w$])IS(?:\s+NOT)?\s*\Z")


@lru_cache(maxsize=1024)
def placeholdersAfterIs(
    query: str, lexicon: str = "standard"
) -> tuple[tuple[str, ...], frozenset[int]] | None:
    """
    Find the placeholders of a query in the C{format} paramstyle (C{%s},
    with C{%%} for a percent sign) that directly follow C{IS} or C{IS NOT}.

    @param lexicon: as for L{convertPlaceholders}.
    @return: C{None} when there are none; otherwise the query cut at its
        placeholders (one piece more than there are placeholders, without
        the C{%s}) and the positions of those placeholders.
    """
    pieces: list[str] = []
    piece: list[str] = []
    after: set[int] = set()
    code: list[str] = []

    def cutCode() -> None:
        text = "".join(code)
        code.clear()
        start = 0
        for marker in _FORMAT_MARKER.finditer(text):
            if marker.group() == "%%":
                continue
            if _ENDS_WITH_IS.search(text, start, marker.start()):
                after.add(len(pieces))
            piece.append(text[start:marker.start()])
            pieces.append("".join(piece))
            piece.clear()
            start = marker.end()
        piece.append(text[start:])

    for match in _LEXICONS[lexicon].finditer(query):
        token = match.group()
        # A quoted string or identifier, or a comment (what else starts with
        # these characters is a single character).
        if token[0] in "'\"`" or (len(token) > 1 and token[0] in "$Ee-/#"):
            cutCode()
            piece.append(token)
        else:
            code.append(token)
    cutCode()
    if not after:
        return None
    pieces.append("".join(piece))
    return tuple(pieces), frozenset(after)


def checkIdentifier(name: Any) -> str:
    """
    @return: C{name} if it is a plain SQL identifier (letters, digits and
        underscores, not starting with a digit).
    @raise InvalidIdentifierError: otherwise.
    """
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise InvalidIdentifierError(f"{name!r} is not a valid SQL identifier")
    return name


@lru_cache(maxsize=4096)
def quotedName(name: str, quote: str, dotted: bool) -> str:
    """
    @return: C{name} checked and quoted; with C{dotted}, each part of a
        C{schema.table} name.
    """
    parts = name.split(".") if dotted else [name]
    return ".".join(quote + checkIdentifier(part) + quote for part in parts)


def checkLimit(limit: Any) -> tuple[int, int | None] | None:
    """
    @return: C{(limit, offset)} for a C{limit} of C{n} or C{(n, offset)}, or
        C{None} for no limit.
    @raise InvalidQueryError: if the limit or offset is not a non-negative int.
    """
    if limit is None:
        return None
    if isinstance(limit, (tuple, list)):
        if len(limit) != 2:
            raise InvalidQueryError(f"limit must be an int or (limit, offset), not {limit!r}")
        count, offset = limit
    else:
        count, offset = limit, None
    for value in (count, offset):
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise InvalidQueryError(
                f"limit and offset must be non-negative integers, not {value!r}"
            )
    return count, offset


def checkWhere(where: Any) -> Where:
    """
    @return: C{where} if it is a list or tuple whose first item is the
        condition string.
    @raise InvalidQueryError: otherwise.
    """
    if not isinstance(where, (list, tuple)) or not where or not isinstance(where[0], str):
        raise InvalidQueryError(
            f"where must be a list like ['name = ?', value], not {where!r}"
        )
    return where


def safeText(value: Any) -> str:
    """
    @return: a printable text for any value; never raises.
    """
    return value if isinstance(value, str) else safeRepr(value)


def safeRepr(value: Any) -> str:
    """
    @return: C{repr(value)}, or a placeholder when that raises.
    """
    try:
        return repr(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


# SQL code outside strings and comments, in tokens: a name, a number, an
# operator or anything else (a placeholder is told apart first).
_CODE = re.compile(
    r"(?P<space>\s+)|(?P<placeholder>%s)|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)"
    r"|(?P<literal>[0-9][0-9.]*)|(?P<op><>|!=|<=|>=|\|\||%%|[=<>(),.+*/-])|(?P<other>.)",
    re.S,
)
# Words of a condition, between a column and the value compared with it.
_CONDITION_WORDS = frozenset({
    "IN", "NOT", "LIKE", "ILIKE", "BETWEEN", "AND", "IS", "DISTINCT", "FROM", "ESCAPE",
    "NULL", "TRUE", "FALSE", "GLOB", "REGEXP", "SIMILAR", "TO", "COLLATE",
})
# Words that are SQL rather than names of columns.
_KEYWORDS = _CONDITION_WORDS | frozenset({
    "SELECT", "WHERE", "OR", "SET", "VALUES", "INSERT", "INTO", "UPDATE", "DELETE", "CASE",
    "WHEN", "THEN", "ELSE", "END", "ON", "JOIN", "LEFT", "RIGHT", "INNER", "OUTER", "CROSS",
    "AS", "ORDER", "BY", "GROUP", "HAVING", "LIMIT", "OFFSET", "RETURNING", "CONFLICT", "DO",
    "NOTHING", "DUPLICATE", "KEY", "EXISTS", "UNION", "ALL", "FOR", "WITH", "ASC", "DESC",
    "DEFAULT", "USING", "REPLACE", "IGNORE", "FETCH", "FIRST", "NEXT", "ROWS", "ONLY",
})
# What may stand between a column and a value compared with it.
_BETWEEN = frozenset({"(", ")", ",", ".", "=", "<>", "!=", "<", ">", "<=", ">=", "+", "-",
                      "*", "/", "||"})


class _Group:
    """
    An open parenthesis of a statement read by L{placeholderColumns}.

    @ivar row: the columns of its values, by position, when it is a row.
    @ivar rows: the columns of the rows directly inside it (a list of rows).
    @ivar items: the name of each of its comma-separated items so far
        (C{None} for an item that has none yet).
    @ivar listOfNames: whether it holds nothing but names and commas.
    """

    __slots__ = ("row", "rows", "items", "listOfNames")

    def __init__(self, row: tuple[str, ...] | None, rows: tuple[str, ...] | None) -> None:
        self.row = row
        self.rows = rows
        self.items: list[str | None] = [None]
        self.listOfNames = True

    def names(self) -> tuple[str, ...] | None:
        """
        @return: the names it lists, when it is a list of names.
        """
        items = self.items
        if not self.listOfNames or None in items:
            return None
        return tuple(items)  # type: ignore[arg-type]


@lru_cache(maxsize=1024)
def placeholderColumns(
    query: str, marker: str = "?", lexicon: str = "standard"
) -> tuple[tuple[str | None, ...], frozenset[str]]:
    """
    Read which column each placeholder of a query gives a value for, as far
    as the text tells: a value inserted into a column (by position, in
    C{INSERT INTO t (a, b) VALUES (?, ?), ...}), assigned to one (C{SET a =
    ?}; C{a = CASE id WHEN ? THEN ? END}), or compared with one (C{a = ?},
    C{lower(t.a) LIKE ?}, C{a IN (?, ?)}, C{a BETWEEN ? AND ?}, C{(a, b) IN
    ((?, ?), ...)}). A placeholder elsewhere (a C{LIMIT}, a value compared
    with an expression) has none.

    @param marker: the placeholder, C{"?"} or C{"%s"}.
    @param lexicon: as for L{convertPlaceholders}.
    @return: the column (lower-case, without its table or quotes) or
        C{None} of each placeholder, in order; and every name in the
        query's code (outside its strings and comments), lower-case.
    """
    tokens = _codeTokens(query, marker, lexicon)
    names = frozenset(text.lower() for kind, text in tokens if _isName(kind, text))
    columns: list[str | None] = []
    found: dict[int, str | None] = {}
    groups: list[_Group] = []
    cases: list[list[str | None]] = []  # [assigned column, operand] of each open CASE
    closed: tuple[str, ...] | None = None  # the names of a list just closed
    # The columns of the next row (after "(a, b) ="), of the rows of the next
    # list (after "(a, b) IN"), and of the rows after "(a, b) VALUES".
    nextRow: tuple[str, ...] | None = None
    nextRows: tuple[str, ...] | None = None
    values: tuple[str, ...] | None = None
    valuesDepth = -1
    for index, (kind, text) in enumerate(tokens):
        word = text.upper() if kind == "word" else ""
        if valuesDepth == len(groups) and text not in ("(", ","):
            values, valuesDepth = None, -1
        if kind == "placeholder":
            column = _rowColumn(groups)
            if column is None:
                column = _comparedColumn(tokens, index, found, cases)
            found[index] = column
            columns.append(column)
        if kind == "op" and text == "(":
            row, rows = nextRow, nextRows
            if row is None and rows is None:
                if values is not None and valuesDepth == len(groups):
                    row = values
                elif groups:
                    row = groups[-1].rows
            groups.append(_Group(row, rows))
            nextRow = nextRows = closed = None
            continue
        if kind == "op" and text == ")":
            if groups:
                closed = groups.pop().names()
            continue
        if groups:
            _noteItem(groups[-1], kind, text)
        if closed is not None:
            if word == "VALUES":
                values, valuesDepth = closed, len(groups)
            elif word == "IN" and len(closed) > 1:
                nextRows = closed
            elif text == "=" and len(closed) > 1:
                nextRow = closed
        if word == "CASE":
            cases.append([_assignedColumn(tokens, index), None])
        elif word == "END" and cases:
            cases.pop()
        elif cases and _isName(kind, text) and _previous(tokens, index) in ("CASE", "."):
            cases[-1][1] = text.lower()
        if word != "NOT":
            closed = None
    return tuple(columns), names


def _codeTokens(query: str, marker: str, lexicon: str) -> list[tuple[str, str]]:
    """
    @return: the tokens of C{query} as C{(kind, text)} pairs: C{"word"} (a
        name or keyword), C{"name"} (a quoted name, unquoted),
        C{"placeholder"}, C{"literal"} (a string or number), C{"op"} or
        C{"other"}; without spaces and comments.
    """
    tokens: list[tuple[str, str]] = []
    code: list[str] = []

    def readCode() -> None:
        for match in _CODE.finditer("".join(code)):
            kind = match.lastgroup or "other"
            if kind == "placeholder" and marker != "%s":
                kind = "other"
            if kind != "space":
                tokens.append((kind, match.group()))
        code.clear()

    for match in _LEXICONS[lexicon].finditer(query):
        token = match.group()
        if token == "?" and marker == "?":
            readCode()
            tokens.append(("placeholder", token))
        elif token[0] in "\"`":
            readCode()
            tokens.append(("name", token[1:-1].replace(token[0] * 2, token[0])))
        elif token[0] == "'" or (len(token) > 1 and token[0] in "$Ee"):
            readCode()
            tokens.append(("literal", token))
        elif len(token) > 1 and token[0] in "-/#":
            readCode()  # a comment
        else:
            code.append(token)
    readCode()
    return tokens


def _isName(kind: str, text: str) -> bool:
    return kind == "name" or (kind == "word" and text.upper() not in _KEYWORDS)


def _previous(tokens: list[tuple[str, str]], index: int) -> str:
    """
    @return: the token before C{tokens[index]} (a word upper-case), or C{""}.
    """
    if index == 0:
        return ""
    kind, text = tokens[index - 1]
    return text.upper() if kind == "word" else text


def _noteItem(group: _Group, kind: str, text: str) -> None:
    """
    Note a token inside C{group}: a name (perhaps after its table's) keeps
    the group a list of names; anything else makes it none.
    """
    if text == ",":
        group.items.append(None)
    elif _isName(kind, text):
        group.items[-1] = text.lower()
    elif text != ".":
        group.listOfNames = False


def _rowColumn(groups: list[_Group]) -> str | None:
    """
    @return: the column of a placeholder in the innermost row of values
        around it, by its position there; C{None} outside rows.
    """
    for group in reversed(groups):
        if group.row is not None:
            position = len(group.items) - 1
            return group.row[position] if position < len(group.row) else None
    return None


def _assignedColumn(tokens: list[tuple[str, str]], index: int) -> str | None:
    """
    @return: the column a C{CASE} at C{tokens[index]} is assigned to
        (C{column = CASE ...}), or C{None}.
    """
    if index >= 2 and tokens[index - 1] == ("op", "="):
        kind, text = tokens[index - 2]
        if _isName(kind, text):
            return text.lower()
    return None


def _comparedColumn(
    tokens: list[tuple[str, str]], index: int, found: dict[int, str | None],
    cases: list[list[str | None]],
) -> str | None:
    """
    @return: the column the placeholder at C{tokens[index]} is compared
        with or assigned to, walking back over operators, condition words,
        parentheses and function names to the nearest name; C{None} when a
        clause starts first.
    """
    for back in range(index - 1, -1, -1):
        kind, text = tokens[back]
        if kind == "placeholder":
            return found[back]  # a list of values, or a range: the same column
        if _isName(kind, text):
            if kind == "word" and tokens[back + 1] == ("op", "("):
                continue  # a function
            return text.lower()
        word = text.upper() if kind == "word" else ""
        if word in ("THEN", "ELSE"):
            return cases[-1][0] if cases else None
        if word == "WHEN":
            return cases[-1][1] if cases else None
        if not (word in _CONDITION_WORDS or kind == "literal" or text in _BETWEEN):
            return None
    return None
