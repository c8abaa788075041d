# -*- test-case-name: twistar.tests.test_replicas -*-
"""
Where statements go: named databases, their read replicas, and what the
running code has written.

L{twistar.registry.Registry} keeps a L{Replica} for each replica pool; the
SQL layer (L{twistar.dbconfig.runner}) sends reads outside transactions to
one of them and everything else to the database's primary. After a write,
the running code's context (the C{contextvars} context that transactions
use too, so it follows a request through callbacks and coroutines) keeps
the primary's log position; a later read in that context uses a replica
only once the replica has replayed that position (read-your-writes).

This module sits below the SQL layer and the registry: it imports neither.
"""

from __future__ import annotations

import contextvars
import enum
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from twistar.exceptions import TwistarError

if TYPE_CHECKING:
    from twisted.enterprise.adbapi import ConnectionPool

DEFAULT_DATABASE = "default"
"""The name of the database of L{Registry.DBPOOL<twistar.registry.Registry.DBPOOL>}."""


@dataclass(frozen=True)
class Route:
    """
    Where the calls made inside L{routedTo} go.

    @ivar database: the database's name, or C{None} for each model's own.
    @ivar primary: whether reads go to the primary too.
    """

    database: str | None = None
    primary: bool = False


_route: contextvars.ContextVar[Route | None] = contextvars.ContextVar(
    "twistar.route", default=None
)
_primaryForced: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "twistar.primary", default=False
)


def currentRoute() -> Route | None:
    """
    @return: the route chosen by the enclosing L{routedTo}, or C{None}.
    """
    return _route.get()


def routeOf(owner: Any) -> Route | None:
    """
    @param owner: a model object, or C{None}.
    @return: the route of statements about C{owner}'s related objects: the
        L{currentRoute}, else C{owner}'s database when it remembers one
        (it was loaded or saved through C{Model.using(name)}).
    """
    route = _route.get()
    if route is not None or owner is None:
        return route
    database = owner.__dict__.get("_database")
    return None if database is None else Route(database)


@contextmanager
def routedTo(route: Route | None) -> Iterator[None]:
    """
    Run the block with C{route} as the L{currentRoute} (for the calls that
    read it as they are made: finders and saves choose their database
    then).
    """
    token = _route.set(route)
    try:
        yield
    finally:
        _route.reset(token)


M = TypeVar("M")


class Using(Generic[M]):
    """
    A model's class methods, each call made inside L{routedTo} a route:
    what C{Model.using(...)} returns. C{User.using("analytics").find(1)},
    C{User.using(primary=True).query().where(...).all()},
    C{User.using("analytics").save(user)}.
    """

    def __init__(self, model: type[M], route: Route) -> None:
        self._model = model
        self._route = route

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._model, name)
        if not callable(attribute):
            return attribute
        route = self._route

        def routed(*args: Any, **kw: Any) -> Any:
            with routedTo(route):
                return attribute(*args, **kw)

        return routed

    def __repr__(self) -> str:
        return f"<{self._model.__name__} using {self._route!r}>"


class RoutedModel:
    """
    The choice of database of L{twistar.dbobject.DBObject}.
    """

    @classmethod
    def using(
        cls: type[M], database: str | None = None, *, primary: bool = False
    ) -> Using[M]:
        """
        Choose where the model's class methods called on the result run:
        C{User.using("analytics").find(1)}. Objects they load or save
        remember the database, so their later saves, deletes and related
        objects go there too.

        @param database: a database name (see
            L{Registry.addDatabase<twistar.registry.Registry.addDatabase>}),
            or C{None} for the model's own (its C{DATABASE}).
        @param primary: read from the database's primary, not its replicas.
        @raise TwistarError: for a database name that is not a non-empty
            string.
        """
        if database is not None and (not isinstance(database, str) or not database):
            raise TwistarError(f"a database name must be a non-empty string, not {database!r}")
        return Using(cls, Route(database, bool(primary)))

    @classmethod
    def _storedIn(cls, database: str, objects: Iterable[Any]) -> None:
        """
        Have C{objects}, written to or read from C{database}, remember it
        when it is not the model's own.
        """
        if database != (getattr(cls, "DATABASE", None) or DEFAULT_DATABASE):
            for obj in objects:
                obj.__dict__["_database"] = database


class onPrimary:
    """
    A context manager (C{with} or C{async with}) sending every statement
    of the code inside it to the primary of its database, reads included.

    Inside a coroutine it holds for everything the coroutine awaits in the
    block; around plain code, for the calls made in the block (each call
    chooses its connection when it is made).
    """

    def __init__(self) -> None:
        self._tokens: list[contextvars.Token[bool]] = []

    def __enter__(self) -> onPrimary:
        self._tokens.append(_primaryForced.set(True))
        return self

    def __exit__(
        self, excType: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _primaryForced.reset(self._tokens.pop())

    async def __aenter__(self) -> onPrimary:
        return self.__enter__()

    async def __aexit__(
        self, excType: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(excType, exc, tb)


def primaryForced() -> bool:
    """
    @return: whether the running code is inside L{onPrimary}.
    """
    return _primaryForced.get()


# -- what the running code wrote --------------------------------------------


class WrittenPositions:
    """
    The log position, on each primary (by its pool), of the last write made
    in one context: reads in that context wait for replicas to reach it.
    Keyed by pool, not by database name: a position on a pool replaced
    since means nothing to the new one's replicas.
    """

    __slots__ = ("positions",)

    def __init__(self) -> None:
        self.positions: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


_written: contextvars.ContextVar[WrittenPositions | None] = contextvars.ContextVar(
    "twistar.written", default=None
)

UNKNOWN_POSITION = object()
"""The position of a write whose position could not be read: no replica is
known to have reached it, so reads after it go to the primary."""


def writesOfContext() -> WrittenPositions:
    """
    @return: the running context's L{WrittenPositions}, made (and set in
        that context) if it has none. Called when a write is sent, so that
        the copies of the context that its callbacks run in share it.
    """
    written = _written.get()
    if written is None:
        written = WrittenPositions()
        _written.set(written)
    return written


def writerContext() -> contextvars.Context:
    """
    @return: a copy of the running context without its route (see
        L{routedTo}): the context to fire the result of a write in, so that
        the reads its callbacks make wait for the write as the writing
        code's own reads do (see L{writesOfContext}, called first).
    """
    context = contextvars.copy_context()
    context.run(_route.set, None)
    return context


def writtenPosition(pool: Any) -> Any:
    """
    @return: the position of the running context's last write through
        C{pool}, a primary's, or C{None} if it wrote nothing there.
    """
    written = _written.get()
    return None if written is None else written.positions.get(pool)


# -- replicas ----------------------------------------------------------------


class Replica:
    """
    A read replica of a database, and what is known of its health.

    Its state is read and set on the reactor and on its pool's threads;
    each field is one value, replaced whole.

    @ivar pool: the replica's connection pool.
    @ivar maxLag: seconds of replication lag beyond which it is not used.
    @ivar checkInterval: seconds between checks of its lag.
    @ivar retryAfter: seconds it is not used after it failed.
    @ivar position: its replay position at the last check (C{None} before).
    @ivar checkedAt: when it was last checked (C{time.monotonic()}).
    @ivar unusableUntil: when it may be used again after failing or
        lagging (C{time.monotonic()}).
    @ivar reads: how many reads it has run (counted on the reactor).
    """

    def __init__(
        self, pool: ConnectionPool, maxLag: float, checkInterval: float, retryAfter: float
    ) -> None:
        self.pool = pool
        self.maxLag = maxLag
        self.checkInterval = checkInterval
        self.retryAfter = retryAfter
        self.position: Any = None
        self.checkedAt = -float("inf")
        self.unusableUntil = -float("inf")
        self.reads = 0

    def usable(self, now: float) -> bool:
        """
        @return: whether reads may be sent to it at C{now}.
        """
        return now >= self.unusableUntil

    def failed(self) -> None:
        """
        Stop using it for L{retryAfter} seconds (it could not run a read).
        """
        self.unusableUntil = time.monotonic() + self.retryAfter

    def lagging(self) -> None:
        """
        Stop using it (it lags beyond L{maxLag}) until its next check is due.
        """
        self.unusableUntil = time.monotonic() + self.checkInterval

    def checked(self, position: Any, lagChecked: bool) -> None:
        """
        Record the replay position read from it now, and whether its lag
        was checked with it.
        """
        self.position = position
        if lagChecked:
            self.checkedAt = time.monotonic()

    def __repr__(self) -> str:
        return f"<Replica {self.pool!r}>"


class ReplicaSet:
    """
    The replicas of one database, used in turn (round-robin).
    """

    def __init__(self) -> None:
        self.replicas: tuple[Replica, ...] = ()
        self._next = 0
        self._lock = threading.Lock()

    def add(self, replica: Replica) -> None:
        """
        Add C{replica} to the set.
        """
        self.replicas = (*self.replicas, replica)

    def remove(self, pool: Any) -> bool:
        """
        Remove the replica of C{pool}.

        @return: whether it was in the set.
        """
        kept = tuple(r for r in self.replicas if r.pool is not pool)
        found = len(kept) != len(self.replicas)
        self.replicas = kept
        return found

    def inTurn(self) -> list[Replica]:
        """
        @return: the usable replicas, starting with the one whose turn it is.
        """
        now = time.monotonic()
        replicas = self.replicas
        with self._lock:
            start = self._next
            self._next = start + 1
        count = len(replicas)
        return [
            replica
            for replica in (replicas[(start + i) % count] for i in range(count))
            if replica.usable(now)
        ]

    def __bool__(self) -> bool:
        return bool(self.replicas)


class ReplicaBehind(Exception):
    """
    Raised on a replica's thread: it has not replayed the position the read
    needs, or it lags too far. The read goes elsewhere; never seen by users.
    """


class Check(enum.IntEnum):
    """
    What a read on a replica reads of it first.
    """

    NOTHING = 0
    """Nothing (it was seen to reach the position the read needs)."""
    POSITION = 1
    """Its replay position (the read needs one it was not seen to reach)."""
    LAG = 2
    """Its replay position and its lag (its last check is too old)."""


def dueCheck(replica: Replica, wanted: Any, reached: Callable[[Any, Any], bool]) -> Check:
    """
    @param wanted: the position the read needs, or C{None}.
    @param reached: whether a replay position is at or past a wanted one.
    @return: what a read on C{replica} must first read of it: its lag
        (with its position) when its last lag check is older than its
        C{checkInterval}; its position when it was not seen to reach
        C{wanted}; else nothing.
    """
    if time.monotonic() - replica.checkedAt >= replica.checkInterval:
        return Check.LAG
    if wanted is None:
        return Check.NOTHING
    if wanted is UNKNOWN_POSITION or replica.position is None:
        return Check.POSITION
    return Check.NOTHING if reached(replica.position, wanted) else Check.POSITION
