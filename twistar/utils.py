# -*- test-case-name: twistar.tests.test_utils -*-
"""
Helpers for building wheres, gathering Deferreds and building objects, and
the L{transaction} decorator.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred, gatherResults, succeed

from twistar.dbconfig.sqltext import checkIdentifier, checkWhere
from twistar.exceptions import InvalidIdentifierError, InvalidQueryError
from twistar.slicing import inSlices
from twistar.transaction import Transaction, runInTransaction, transaction

__all__ = [
    "transaction", "runInTransaction", "Transaction", "dictToWhere", "joinWheres",
    "joinMultipleWheres", "deferredDict", "createInstances",
]


# Keywords that read as values where dictToWhere expects an unquoted column.
_VALUE_KEYWORDS = frozenset({
    "null", "true", "false", "unknown", "default", "current_date", "current_time",
    "current_timestamp", "localtime", "localtimestamp", "current_user", "session_user",
    "current_role", "current_catalog", "current_schema", "user",
})


def dictToWhere(attrs: Mapping[str, Any], joiner: str = "AND") -> list[Any] | None:
    """
    @return: a where matching every C{name = value} of C{attrs} (C{is} for a
        C{None} value), or C{None} when C{attrs} is empty:
        C{{'a': 1, 'b': None}} gives C{['(a = ?) AND (b is ?)', 1, None]}.
    @raise InvalidIdentifierError: if a key is not a plain identifier.
    """
    if not isinstance(attrs, Mapping):
        raise InvalidQueryError(f"dictToWhere takes a dict, not {attrs!r}")
    if not attrs:
        return None
    conditions = []
    for name, value in attrs.items():
        if checkIdentifier(name).lower() in _VALUE_KEYWORDS:
            raise InvalidIdentifierError(
                f"{name!r} is an SQL keyword standing for a value, not a column name "
                f"(findBy quotes column names)"
            )
        conditions.append(f"({name} {'is' if value is None else '='} ?)")
    return [f" {joiner} ".join(conditions), *attrs.values()]


def joinWheres(wone: Sequence[Any], wtwo: Sequence[Any], joiner: str = "AND") -> list[Any]:
    """
    @return: a where matching both C{wone} and C{wtwo} (or either, with
        C{joiner="OR"}).
    @raise InvalidQueryError: if either is not a where.
    """
    checkWhere(wone)
    checkWhere(wtwo)
    return [f"({wone[0]}) {joiner} ({wtwo[0]})", *wone[1:], *wtwo[1:]]


def joinMultipleWheres(
    wheres: Iterable[Sequence[Any] | None], joiner: str = "AND"
) -> list[Any]:
    """
    @return: the wheres joined by C{joiner}, skipping empty ones; C{[]} if
        none is left.
    @raise InvalidQueryError: for an item that is not a where.
    """
    result: list[Any] = []
    for where in wheres:
        if not where:
            continue
        result = list(checkWhere(where)) if not result else joinWheres(result, where, joiner)
    return result


def checkKeywords(method: str, given: Mapping[str, Any], allowed: set[str]) -> None:
    """
    @raise TypeError: for a keyword argument of C{method} not in C{allowed}.
    """
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise TypeError(f"{method}() got unexpected keyword argument(s) {unknown}")


def deferredOf(result: Any) -> Any:
    """
    @return: C{result}, started as a L{Deferred} when it is a coroutine (what
        an C{async def} hook or validator returns); anything else unchanged.
    """
    if isinstance(result, Coroutine):
        return Deferred.fromCoroutine(result)
    return result


def gather(deferreds: Iterable[Deferred[Any]]) -> Deferred[list[Any]]:
    """
    @return: a L{Deferred} of the results of C{deferreds}, in order; it
        fails with the first failure itself (not Twisted's C{FirstError}).
    """
    listed = gatherResults(list(deferreds), consumeErrors=True)
    # A plain Deferred: a DeferredList does not pass cancellation on to the
    # Deferred that its callbacks wait for.
    result: Deferred[list[Any]] = Deferred(lambda _: listed.cancel())
    listed.addCallbacks(
        lambda values: None if result.called else result.callback(values),
        lambda failure: None if result.called else result.errback(failure.value.subFailure),
    )
    return result


def deferredDict(d: Mapping[Any, Deferred[Any]]) -> Deferred[dict[Any, Any]]:
    """
    @return: a L{Deferred} of a dict with the results of the Deferreds of C{d}
        (it fails with the first failure).
    """
    keys = list(d)
    return gather(d[key] for key in keys).addCallback(lambda values: dict(zip(keys, values)))


def createInstances(props: Any, klass: type[Any]) -> Deferred[Any]:
    """
    Build objects of C{klass} from row dicts, running their C{afterInit}.

    @param props: a list of dicts, one dict, or C{None}.
    @return: a L{Deferred} of a list of objects, one object, or C{None}.
    """
    if props is None:
        return succeed(None)
    if isinstance(props, Mapping):
        return createInstances([props], klass).addCallback(lambda objs: objs[0])

    def build(row: Mapping[str, Any]) -> Any:
        return klass._fromRow(tuple(row), tuple(row.values()), range(len(row)))

    return inSlices(build, props).addCallback(klass._afterLoad)

