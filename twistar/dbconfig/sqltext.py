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
