# -*- test-case-name: twistar.tests.test_querylog -*-
"""
What twistar tells about the statements it runs: query events on
C{twisted.logger}, recorders of the statements run in a block of code, and
the detection of N+1 loading.

Every statement the SQL layer sends through its cursor
(C{run} and C{executeTxn} of L{twistar.dbconfig.base.InteractionBase}) can
be observed:

  - With C{InteractionBase.QUERY_EVENTS} set, each one is an event in the
    namespace L{NAMESPACE}, at debug level (error level when it failed,
    warning level when it was slow), with the fields of L{QueryRecord}.
  - With C{InteractionBase.SLOW_QUERY} set, each one that took at least
    that many seconds is an event at warning level.
  - A L{QueryRecorder} keeps the L{QueryRecord} of each statement run for
    the code inside it (its context: see C{contextvars}), not for other
    work running meanwhile.
  - An L{NPlusOneDetector} raises L{NPlusOneError} when the code inside it
    reads a relationship of the objects of a list one object at a time.

Statements run on the pool's threads: what the code on the reactor was
inside when it asked for the work (recorders, a detector) travels with the
work (L{watched}, L{resultContext}, L{withWatchers}), and the
transaction a thread runs is kept for that thread (L{threadTransaction}).
Nobody observing costs a few attribute reads per statement.

The arguments of events and records are the values themselves, but for the
values of secret columns (see L{addSecretColumns}), replaced by
L{REDACTED}.
"""

from __future__ import annotations

import contextvars
import itertools
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from twisted.logger import Logger, LogLevel

from twistar.exceptions import InvalidIdentifierError, NPlusOneError

if TYPE_CHECKING:
    from twisted.enterprise.adbapi import ConnectionPool

NAMESPACE = "twistar.query"
"""The C{log_namespace} of query events."""

_log = Logger(namespace=NAMESPACE)

_FORMAT = (
    "{sql} args={args!r} rows={rows} duration={duration:.6f}s "
    "database={database} transaction={transaction}"
)
_FAILED_FORMAT = "failed: {error!r}: " + _FORMAT
_SLOW_FORMAT = "slow: " + _FORMAT


class _Redacted:
    """
    The type of L{REDACTED}.
    """

    def __repr__(self) -> str:
        return "<redacted>"


REDACTED = _Redacted()
"""What stands for the value of a secret column in the arguments of query
events and records."""


@dataclass(frozen=True)
class QueryRecord:
    """
    One statement sent to the database: the fields of its query event.

    @ivar sql: the statement, in the driver's paramstyle.
    @ivar args: its arguments (a tuple, or a dict for named placeholders),
        the values of secret columns replaced by L{REDACTED}.
    @ivar duration: seconds from sending it until its rows were read (for a
        statement returning rows: by the work that ran it) or, when it
        failed, until it failed.
    @ivar rows: how many rows it returned (when twistar read them) or
        changed; C{None} when the driver does not tell (C{rowcount} -1).
    @ivar database: the database it ran on: for now the name of the pool's
        DB-API module (C{"sqlite3"}, C{"psycopg2"}, ...).
    @ivar transaction: the number of the transaction it ran in (see
        L{twistar.transaction.Transaction.number}), or C{None}.
    @ivar error: the twistar exception it failed with, or C{None}.
    """

    sql: str
    args: Any
    duration: float
    rows: int | None
    database: str | None
    transaction: int | None
    error: BaseException | None = None


class ObservedConfig(Protocol):
    """
    What this module uses of the L{twistar.dbconfig.base.InteractionBase}
    running a statement (which sits above it).
    """

    @property
    def QUERY_EVENTS(self) -> bool:
        """Whether every statement is an event."""

    @property
    def SLOW_QUERY(self) -> float | None:
        """Seconds from which a statement is slow."""

    @property
    def database(self) -> str:
        """The name of the database it runs on."""

    @property
    def registry(self) -> _RegistryView:
        """Where the pool is."""

    def translateError(self, error: BaseException) -> BaseException:
        """
        @return: the twistar exception for a driver's.
        """

    def placeholderColumns(self, query: str) -> tuple[tuple[str | None, ...], frozenset[str]]:
        """
        @return: the column of each placeholder of C{query}, and its names.
        """

    def __hash__(self) -> int:
        """It is hashable (a key of a cache)."""


class _RegistryView(Protocol):
    @classmethod
    def poolOf(cls, database: str = ...) -> ConnectionPool | None:
        """The pool of a database's primary."""


# -- secret columns ------------------------------------------------------------

_secretColumns: frozenset[str] = frozenset()


def addSecretColumns(owner: str, names: Iterable[str]) -> None:
    """
    Have the values of columns C{names} redacted from query events and
    records, in every statement (a model's C{SECRET_COLUMNS} comes here).

    @param owner: what declares them, for an error message.
    @raise InvalidIdentifierError: unless C{names} is a list or tuple of
        names.
    """
    global _secretColumns
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple, frozenset, set)):
        raise InvalidIdentifierError(
            f"{owner}: SECRET_COLUMNS must be a tuple of column names, not {names!r}"
        )
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidIdentifierError(f"{owner}: SECRET_COLUMNS: {name!r} is no column name")
    _secretColumns = _secretColumns | {name.lower() for name in names}


def secretColumns() -> frozenset[str]:
    """
    @return: the names (lower-case) of the columns whose values are redacted.
    """
    return _secretColumns


def redacted(config: ObservedConfig, sql: str, args: Any) -> Any:
    """
    @return: C{args} of C{sql} as a tuple (a dict stays one), each value
        given for a secret column (as
        L{twistar.dbconfig.sqltext.placeholderColumns} reads the SQL)
        replaced by L{REDACTED}; where a statement naming a secret column
        has a placeholder whose column cannot be told, its value too.
    """
    secrets = _secretColumns
    if isinstance(args, Mapping):
        return {key: REDACTED if str(key).lower() in secrets else value
                for key, value in args.items()}
    values = tuple(args) if args is not None else ()
    if not secrets or not values:
        return values
    hidden = _secretPositions(config, sql, secrets, len(values))
    if not hidden:
        return values
    return tuple(REDACTED if index in hidden else value for index, value in enumerate(values))


@lru_cache(maxsize=512)
def _secretPositions(
    config: ObservedConfig, sql: str, secrets: frozenset[str], count: int
) -> frozenset[int]:
    lowered = sql.lower()
    if not any(name in lowered for name in secrets):
        return frozenset()
    columns, names = config.placeholderColumns(sql)
    if names.isdisjoint(secrets):
        return frozenset()
    if len(columns) != count:
        return frozenset(range(count))  # not read right: hide them all
    return frozenset(index for index, column in enumerate(columns)
                     if column is None or column in secrets)


# -- who observes --------------------------------------------------------------


@dataclass(frozen=True)
class _Watch:
    """
    What observes the statements of some work: recorders, and an N+1
    detector.
    """

    recorders: tuple[QueryRecorder, ...] = ()
    detector: NPlusOneDetector | None = None


_UNWATCHED = _Watch()
_watching: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar(
    "twistar.querylog", default=None
)


class _ThreadState(threading.local):
    """
    What a pool thread knows of the work it runs.

    @ivar watch: what observes it, while it runs work that is observed.
    @ivar transaction: the number of the transaction the thread runs.
    @ivar pending: the statement whose rows are being read, if any.
    """

    watch: _Watch | None = None
    transaction: int | None = None
    pending: ObservedStatement | None = None


_threadState = _ThreadState()


class _GreenletState:
    """
    L{_ThreadState} for work running in a greenlet (on a
    L{PostgresPool<twistar.pgpool.PostgresPool>}, several on one thread).
    """

    watch: _Watch | None = None
    transaction: int | None = None
    pending: ObservedStatement | None = None


def _state() -> _ThreadState | _GreenletState:
    """
    @return: the state of the work running now: its greenlet's, in a
        greenlet other than the thread's first; else its thread's.
    """
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return _threadState
    current = greenlet.getcurrent()
    if current.parent is None:
        return _threadState
    state: _GreenletState | None = getattr(current, "twistarState", None)
    if state is None:
        state = current.twistarState = _GreenletState()
    return state


def threadTransaction(number: int | None) -> None:
    """
    Called on a transaction's thread: the statements it runs from now on
    belong to transaction C{number} (none for C{None}).
    """
    _state().transaction = number


def watched(config: ObservedConfig, func: Callable[..., Any]) -> Callable[..., Any]:
    """
    Called on the reactor thread before work is sent to a pool thread.

    @param func: the work, C{func(cursor, *args, **kw)}.
    @return: C{func}, or (when its statements are observed: by the
        recorders and detector of the calling code, or by query events) a
        function running it so that they are.
    """
    watch = _watching.get()
    if watch is None:
        if not config.QUERY_EVENTS and config.SLOW_QUERY is None:
            return func
        watch = _UNWATCHED

    def run(cursor: Any, *args: Any, **kw: Any) -> Any:
        state = _state()
        previous = state.watch
        state.watch = watch
        try:
            return func(cursor, *args, **kw)
        finally:
            pending = state.pending
            if pending is not None:
                pending.finish(None)
            state.watch = previous

    return run


def resultContext() -> contextvars.Context | None:
    """
    @return: the context to fire the result of work in, so that the work it
        leads to (eager loading, say) is observed as it is: a copy of the
        caller's when recorders or a detector observe it, else C{None}.
    """
    return None if _watching.get() is None else contextvars.copy_context()


def withWatchers(context: contextvars.Context | None) -> contextvars.Context | None:
    """
    @param context: the context a result is to be fired in.
    @return: C{context}, or a copy of it with the recorders and detector of
        the calling code when it lacks them.
    """
    watch = _watching.get()
    if watch is None or context is None or context.get(_watching) is watch:
        return context
    context = context.copy()
    context.run(_watching.set, watch)
    return context


# -- statements ----------------------------------------------------------------


def observed(config: ObservedConfig) -> _Watch | None:
    """
    Called on a pool thread before a statement runs.

    @return: what observes it, or C{None} when nothing does.
    """
    watch = _state().watch
    if watch is None and (config.QUERY_EVENTS or config.SLOW_QUERY is not None):
        return _UNWATCHED
    return watch


class ObservedStatement:
    """
    An observed statement (see L{observed}), from the moment it is sent:
    call L{ran} or L{failed} when it has run. Its rows may then be read
    (see L{rowsRead}).
    """

    __slots__ = ("watch", "config", "cursor", "sql", "args", "start", "rows")

    def __init__(
        self, watch: _Watch, config: ObservedConfig, cursor: Any, sql: str, args: Any
    ) -> None:
        self.watch = watch
        self.config = config
        self.cursor = cursor
        self.sql = sql
        self.args = args
        self.rows: int | None = None
        pending = _state().pending
        if pending is not None:
            pending.finish(None)
        self.start = perf_counter()

    def ran(self) -> None:
        """
        The statement was executed: it is over unless it returns rows, which
        are read next (see L{rowsRead}) within observed work.
        """
        cursor = self.cursor
        try:
            rowcount = int(cursor.rowcount)
        except Exception:
            rowcount = -1
        self.rows = rowcount if rowcount >= 0 else None
        if cursor.description is None or _state().watch is not self.watch:
            self.finish(None)
        else:
            _state().pending = self

    def failed(self, error: BaseException) -> None:
        """
        The statement failed with C{error} (a driver's exception, or
        twistar's).
        """
        self.report(error, None)

    def finish(self, rows: int | None) -> None:
        """
        Its rows (C{rows} of them, or as many as the driver said) are read.
        """
        if _state().pending is self:
            _state().pending = None
        self.report(None, self.rows if rows is None else rows)

    def report(self, error: BaseException | None, rows: int | None) -> None:
        """
        Record the statement and emit its event; never raises (a statement
        runs on whatever its observers do).
        """
        duration = perf_counter() - self.start
        try:
            self._report(error, rows, duration)
        except Exception:
            _log.failure("could not report the statement {sql}", sql=self.sql)

    def _report(self, error: BaseException | None, rows: int | None, duration: float) -> None:
        config = self.config
        if error is not None:
            error = config.translateError(error)
        watch = self.watch
        slow = config.SLOW_QUERY
        if error is not None:
            level = LogLevel.error if config.QUERY_EVENTS else None
        elif slow is not None and duration >= slow:
            level = LogLevel.warn
        else:
            level = LogLevel.debug if config.QUERY_EVENTS else None
        if level is None and not watch.recorders:
            return
        pool = config.registry.poolOf(config.database)
        record = QueryRecord(
            self.sql, redacted(config, self.sql, self.args), duration, rows,
            getattr(pool, "dbapiName", None), _state().transaction, error,
        )
        for recorder in watch.recorders:
            recorder.records.append(record)
        if level is not None:
            form = (_FAILED_FORMAT if level is LogLevel.error else
                    _SLOW_FORMAT if level is LogLevel.warn else _FORMAT)
            _log.emit(level, form, pool=pool, **vars(record))


def rowsRead(cursor: Any, count: int) -> None:
    """
    Called on a pool thread when all C{count} rows of the result of the
    statement last run on C{cursor} have been read.
    """
    pending = _state().pending
    if pending is not None and pending.cursor is cursor:
        pending.finish(count)


# -- recorders -----------------------------------------------------------------


class _Observer:
    """
    Something that observes the statements of the code inside it, a context
    manager (C{with} or C{async with}).
    """

    _token: contextvars.Token[_Watch | None] | None = None

    def _watch(self, current: _Watch) -> _Watch:
        raise NotImplementedError

    def __enter__(self) -> Any:
        if self._token is not None:
            raise RuntimeError(f"{type(self).__name__} is already in use")
        self._token = _watching.set(self._watch(_watching.get() or _UNWATCHED))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            _watching.reset(token)

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(kind, value, traceback)


class QueryRecorder(_Observer):
    """
    A context manager that records the statements run for the code inside
    it: by that code, by the callbacks and coroutines it starts, and by
    twistar for it (eager loading, the statements of a transaction), but not
    by other work running at the same time.

    @ivar records: the L{QueryRecord} of each statement, in the order they
        ended.
    """

    def __init__(self) -> None:
        self.records: list[QueryRecord] = []

    def _watch(self, current: _Watch) -> _Watch:
        return _Watch(current.recorders + (self,), current.detector)

    @property
    def count(self) -> int:
        """The number of statements recorded."""
        return len(self.records)

    @property
    def statements(self) -> list[str]:
        """The SQL of the statements recorded."""
        return [record.sql for record in self.records]

    def __enter__(self) -> QueryRecorder:
        return super().__enter__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> QueryRecorder:
        return self.__enter__()


# -- N+1 detection -------------------------------------------------------------

_batchNumbers = itertools.count(1)


class NPlusOneDetector(_Observer):
    """
    A context manager inside which reading a relationship of the objects of
    a list one object at a time raises L{NPlusOneError}.

    The objects one statement loads inside it (by C{find}, a query, a
    relationship's C{get}, eager loading) are a batch. Reading a
    relationship (its C{get()}, without arguments) of a second object of a
    batch, where that runs a query, is the N+1 pattern: eager loading
    (C{include=}, C{includes}, C{preload}) reads it for all of them at once.
    """

    def __init__(self) -> None:
        # (batch, relationship) -> the first object that read it.
        self._readers: dict[tuple[int, str], Any] = {}

    def _watch(self, current: _Watch) -> _Watch:
        return _Watch(current.recorders, self)

    def __enter__(self) -> NPlusOneDetector:
        return super().__enter__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> NPlusOneDetector:
        return self.__enter__()

    def reading(self, obj: Any, name: str) -> None:
        """
        C{obj} reads its relationship C{name} with a query.

        @raise NPlusOneError: if another object of its batch did so already.
        """
        batch = obj.__dict__.get("_loadBatch")
        if batch is None:
            return
        first = self._readers.setdefault((batch, name), obj)
        if first is not obj:
            model = type(obj).__name__
            raise NPlusOneError(
                f"N+1 queries: {model}.{name} is read one object at a time for "
                f"{model} objects loaded together; load it with them "
                f"(include=[{name!r}], .includes({name!r}) or {model}.preload)"
            )


def loaded(objects: Sequence[Any]) -> None:
    """
    Called (on a pool thread) with the objects built from the rows of one
    result: inside an L{NPlusOneDetector}, they are marked as a batch.
    """
    watch = _state().watch
    if watch is None or watch.detector is None or len(objects) < 2:
        return
    batch = next(_batchNumbers)
    for obj in objects:
        obj.__dict__["_loadBatch"] = batch


def lazyLoad(obj: Any, name: str, findargs: Mapping[str, Any] | None = None) -> None:
    """
    Called by a relationship's C{get()} when it is about to query.

    @param findargs: the arguments of C{get()}; with any, no eager loading
        could have answered it.
    @raise NPlusOneError: inside an L{NPlusOneDetector}, when that is the
        N+1 pattern.
    """
    if findargs:
        return
    watch = _watching.get()
    if watch is not None and watch.detector is not None:
        watch.detector.reading(obj, name)
