# -*- test-case-name: twistar.tests.test_transaction,twistar.tests.test_retry -*-
"""
Database transactions that are isolated, never block the reactor, and nest.

A transaction holds one pool thread and its connection from start to end; its
statements run there, one after another, while the reactor goes on. The
transaction is found through a context variable, so only the code that runs
inside it (the transaction's function, the callbacks of the Deferreds it gets,
and the C{inlineCallbacks} generators and coroutines it starts) joins it;
every other query of the application runs on its own connection as usual.
A transaction opened inside a running one becomes a savepoint.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import random
import threading
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast, overload

from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.logger import Logger
from twisted.python.failure import Failure

from twistar.context import RunningTransaction, currentTransaction, runningTransaction
from twistar.exceptions import (
    ConcurrencyError,
    DeadlockError,
    PoolExhaustedError,
    SerializationError,
    TransactionError,
    TransactionTimeoutError,
    TwistarError,
)
from twistar.greenworker import GreenTransactionWorker
from twistar.pgpool import PostgresPool
from twistar.pool import PoolWork, cancellable
from twistar.querylog import watched, withWatchers
from twistar.registry import Registry
from twistar.replicas import DEFAULT_DATABASE, writesOfContext
from twistar.slicing import inSlices
from twistar.txnworker import TransactionWorker

if TYPE_CHECKING:
    from twisted.enterprise.adbapi import ConnectionPool

    from twistar.dbconfig.base import InteractionBase

T = TypeVar("T")
_log = Logger(namespace="twistar")

RetryOn: TypeAlias = "type[ConcurrencyError] | tuple[type[ConcurrencyError], ...] | None"
"""What C{retryOn} takes: a L{ConcurrencyError} subclass, a tuple of them,
or C{None} for L{DEFAULT_RETRY_ON}."""

DEFAULT_TIMEOUT = 300.0
"""Seconds a transaction may stay open before it is rolled back."""

SYNC_CALL_TIMEOUT = 60.0
"""Seconds a synchronous call on a transaction's cursor may wait."""

DEFAULT_RETRY_ON: tuple[type[ConcurrencyError], ...] = (SerializationError, DeadlockError)
"""The causes of failure on which a transaction given C{retry} runs again."""

RETRY_DELAY = 0.015
"""Seconds of the longest pause before the first retry; doubled for each
later one, up to L{RETRY_MAX_DELAY}. Each pause is a random part (from half
to all) of it."""

RETRY_MAX_DELAY = 0.5
"""Seconds of the longest pause between two attempts."""

_savepointNumbers = itertools.count(1)


class Transaction:
    """
    A running transaction (or savepoint), as given to a transaction's
    function.

    Its cursor methods (C{execute}, C{fetchall}, ...) may be called directly,
    as on an C{adbapi} transaction; from the reactor thread they wait for the
    statement, so prefer the L{DBObject} and L{InteractionBase} calls, which
    return Deferreds and run in this transaction automatically. On a
    L{PostgresPool<twistar.pgpool.PostgresPool>} they block the reactor
    meanwhile, and cannot run while another statement of the transaction
    runs (see L{twistar.greenworker}).
    """

    def __init__(
        self, worker: TransactionWorker | GreenTransactionWorker, parent: Transaction | None,
        savepoint: str | None,
    ) -> None:
        # A PostgresPool has the surface of the adbapi pool twistar uses.
        self.pool = cast("ConnectionPool", worker.pool)
        self.config = worker.config
        self._worker = worker
        self.parent = parent
        self.savepoint = savepoint
        self.context: contextvars.Context | None = None
        self.finished = False
        self.cancelledWork = False
        # The objects written in it, in order, by id(): each once.
        self._objects: dict[int, Any] = {}

    @property
    def number(self) -> int:
        """
        The number of the top-level transaction (shared by its savepoints),
        unique in the process: the C{transaction} of query events (see
        L{twistar.querylog}).
        """
        return self._worker.number

    @classmethod
    def begin(
        cls, isolation: str | None = None, timeout: float | None = None,
        database: str | None = None,
    ) -> Transaction:
        """
        Start a transaction, or a savepoint when one is running on the same
        database.

        @param isolation: an isolation level such as C{"SERIALIZABLE"}, for a
            top-level transaction.
        @param timeout: seconds before an unfinished transaction is rolled
            back (default L{DEFAULT_TIMEOUT}).
        @param database: the name of the database (see
            L{Registry.addDatabase}); by default L{Registry.DBPOOL}'s.
        """
        _checkOptions(isolation, timeout)
        config = Registry.getConfig(database)
        if isolation is not None:
            isolation = isolation.upper()
            if isolation not in config.isolationLevels:
                raise TransactionError(
                    f"isolation level {isolation!r} is not supported here; "
                    f"choose from {sorted(config.isolationLevels)}"
                )
        parent = _enclosing(config.pool)
        if parent is not None:
            if parent.finished:
                raise TransactionError("the enclosing transaction has already finished")
            if isolation is not None and isolation != parent._worker.level():
                raise TransactionError(
                    f"a nested transaction runs at the isolation level of the enclosing "
                    f"one; start that one with isolation={isolation!r}"
                )
            name = f"twistar_sp{next(_savepointNumbers)}"
            txn = cls(parent._worker, parent, name)
            txn.run(_runStatement, config, f"SAVEPOINT {name}").addErrback(lambda f: None)
            return txn
        pool = config.pool
        worker: TransactionWorker | GreenTransactionWorker
        if isinstance(pool, PostgresPool):
            worker = GreenTransactionWorker(pool, config, isolation, timeout or DEFAULT_TIMEOUT)
        else:
            worker = TransactionWorker(pool, config, isolation, timeout or DEFAULT_TIMEOUT)
        if Registry.replicasOf(config.database) is not None:
            # Reads after it in this context must see what it wrote.
            worker.written = writesOfContext()
        return cls(worker, None, None)

    def run(self, func: Callable[..., T], *args: Any, **kw: Any) -> Deferred[T]:
        """
        Run C{func(cursor, *args, **kw)} on this transaction's connection.

        @return: a L{Deferred} of its result, fired in this transaction's
            context, so its callbacks run in the transaction too.
        """
        return self.runWork(func, args, kw)

    def runWork(
        self, func: Callable[..., Any], args: Any, kw: Any,
        then: Callable[[Any], Any] | None = None,
    ) -> Deferred[Any]:
        """
        L{run} C{func(cursor, *args, **kw)}; cancelling the L{Deferred} skips
        it if it has not started, and otherwise makes this transaction roll
        back instead of committing (see L{InteractionBase.runWork}).

        @param then: applied to the result once C{func} has run, even if the
            caller cancelled meanwhile.
        """
        if self.finished:
            return fail(TransactionError("this transaction has already finished"))
        work = PoolWork()

        def cancelled(started: bool) -> None:
            if started:
                self.cancelledWork = True

        done = self._submit(
            watched(self.config, func), args, kw,
            withWatchers(self.context) or contextvars.copy_context(), True, work,
        )
        if then is None:
            return cancellable(work, done, None, cancelled)

        def applied(result: Any) -> Any:
            # Work cancelled while it ran will be rolled back with the
            # transaction: the objects must not take it in.
            if work.cancelledWhileRunning:
                raise CancelledError()
            return then(result)

        return cancellable(work, done, applied, cancelled)

    def _submit(
        self, func: Callable[..., Any] | str, args: Any, kw: Any,
        context: contextvars.Context | None, statement: bool = False,
        work: PoolWork | None = None,
    ) -> Deferred[Any]:
        """
        Queue C{func} on the worker; its L{Deferred} fires on the reactor, in
        a copy of C{context} (or outside every transaction when C{None}).

        @param statement: C{func} is a statement, which L{TransactionWorker.abandon}
            may fail before it ends.
        @param work: the statement's state, for cancelling it.
        """
        d: Deferred[Any] = Deferred()
        reactor = self.pool._reactor
        pending = self._worker.pending
        if statement:
            pending[d] = context

        def fire(ok: bool, value: Any) -> None:
            if statement and pending.pop(d, False) is False:
                return  # abandoned
            (d.callback if ok else d.errback)(value)

        def report(ok: bool, result: Any) -> None:
            value = result if ok else Failure(result)
            if context is None:
                reactor.callFromThread(fire, ok, value)
            else:
                reactor.callFromThread(context.copy().run, fire, ok, value)

        self._worker.submit(func, args, kw, report, work)
        return d

    def commit(self) -> Deferred[None]:
        """
        Commit (or release the savepoint), then call the C{afterCommit} hooks
        of the objects written in it. If a statement of it was cancelled
        while it ran, roll back instead and fail with L{TransactionError}.
        """
        if self.cancelledWork:

            def refuse(_: Any) -> None:
                raise TransactionError(
                    "rolled back instead of committed: a statement of the transaction "
                    "was cancelled while it ran"
                )

            return self.rollback().addCallback(refuse)
        if self.savepoint is not None:
            d = self.run(_runStatement, self.config, f"RELEASE SAVEPOINT {self.savepoint}")
        else:
            d = self._end("commit").addCallback(self._remember)
        return d.addCallback(self._finish, True)

    def _remember(self, result: Any) -> Any:
        worker = self._worker
        if worker.written is not None:
            self.config.rememberWrite(worker.written, worker.logPosition)
        return result

    def rollback(self) -> Deferred[None]:
        """
        Roll back (to the savepoint), then call the C{afterRollback} hooks of
        the objects written in it.
        """
        if self.savepoint is not None:
            name = self.savepoint
            d = self.run(_runStatement, self.config, f"ROLLBACK TO SAVEPOINT {name}")
        else:
            d = self._end("rollback")
        return d.addBoth(self._finish, False)

    def _end(self, how: str) -> Deferred[None]:
        # Fired outside the transaction: after-hooks must not join it.
        return self._submit(how, (), {}, None)

    def _finish(self, result: Any, committed: bool) -> Any:
        self.finished = True
        objects, self._objects = self._objects, {}
        if committed and self.parent is not None:
            self.parent._objects.update(objects)
            return result
        hook = "afterCommit" if committed else "afterRollback"
        ran = inSlices(lambda obj: obj._runAfterHook(hook), objects.values(), cancellable=False)
        return ran.addCallback(lambda _: result)

    def registerObject(self, obj: Any) -> None:
        """
        Have C{obj}'s C{afterCommit} or C{afterRollback} hook called when the
        enclosing transaction ends.
        """
        self._objects[id(obj)] = obj

    def rememberStates(self, objects: Iterable[Any]) -> None:
        """
        Keep the attributes of C{objects} as they are before they are
        written: if this is an attempt of a retried transaction that fails,
        they are put back (see the C{retry} of L{transaction}). Called
        before each write; an object's first write in the attempt counts.
        """
        snapshots = self._worker.snapshots
        if snapshots is None:
            return
        for obj in objects:
            if id(obj) not in snapshots:
                snapshots[id(obj)] = (obj, dict(obj.__dict__))

    # -- the synchronous cursor interface ------------------------------------

    def _sync(self, func: Callable[..., T], *args: Any) -> T:
        worker = self._worker
        if isinstance(worker, GreenTransactionWorker):
            return worker.runSync(func, args)  # type: ignore[no-any-return]
        if threading.get_ident() == worker.threadId:
            return func(worker.cursor, *args)
        event = threading.Event()
        box: list[tuple[bool, Any]] = []

        def report(ok: bool, result: Any) -> None:
            box.append((ok, result))
            event.set()

        worker.submit(func, args, {}, report)
        if not event.wait(SYNC_CALL_TIMEOUT):
            raise TransactionError("a synchronous call on the transaction timed out")
        ok, result = box[0]
        if not ok:
            raise result
        return result  # type: ignore[no-any-return]

    def execute(self, query: str, *args: Any) -> Any:
        """
        Run raw SQL (in the driver's paramstyle) on this transaction's cursor
        and wait for it.
        """
        return self._sync(lambda cursor: cursor.execute(query, *args))

    def __getattr__(self, name: str) -> Any:
        cursor = self._worker.cursor
        if cursor is None:
            self._sync(lambda c: None)
            cursor = self._worker.cursor
        attr = getattr(cursor, name)
        if not callable(attr):
            return attr
        return lambda *args, **kw: self._sync(lambda c: getattr(c, name)(*args, **kw))


def _runStatement(cursor: Any, config: InteractionBase, statement: str) -> None:
    config.run(cursor, statement, [])


def _enclosing(pool: Any) -> Transaction | None:
    """
    @return: the running transaction that one started now on C{pool} would
        nest in (as a savepoint): the current one, if it runs on C{pool}.
    """
    # Only this module sets the running transaction: a Transaction.
    parent = cast("Transaction | None", currentTransaction())
    if parent is not None and parent.pool is pool:
        return parent
    return None


def _callInContext(
    context: contextvars.Context, func: Callable[..., Any], *args: Any, **kw: Any
) -> Deferred[Any]:
    """
    Call C{func} in C{context}; a coroutine or generator result becomes a
    Deferred there, so everything it awaits runs in that context.
    """

    def call() -> Deferred[Any]:
        try:
            result = func(*args, **kw)
        except BaseException:
            return fail()
        if isinstance(result, Deferred):
            return result
        if isinstance(result, Coroutine):
            return Deferred.fromCoroutine(result)
        d: Deferred[Any] = Deferred()
        d.callback(result)
        return d

    return context.run(call)


def _runTransaction(
    func: Callable[..., Any], args: Any, kw: Any, isolation: str | None, timeout: float | None,
    snapshots: dict[int, tuple[Any, dict[str, Any]]] | None = None,
    database: str | None = None,
) -> Deferred[Any]:
    """
    @param snapshots: where a top-level transaction keeps the attributes of
        the objects it writes from before their first write (see
        L{Transaction.rememberStates}).
    """
    try:
        txn = Transaction.begin(isolation, timeout, database)
    except TwistarError as e:
        return fail(e)
    # Copied once begin() has given the caller's context its writes (on a
    # database with replicas), so that the result's callbacks share them.
    callerContext = contextvars.copy_context()
    if txn.parent is None:
        txn._worker.snapshots = snapshots
    context = contextvars.copy_context()
    context.run(runningTransaction.set, txn)
    txn.context = context
    state = {"timedOut": False, "busy": False, "waiting": False, "cancelled": False}

    def stop(error: BaseException) -> None:
        # Roll back now, whatever the function does next (its later
        # statements fail): the connection is not held until it returns.
        worker = txn._worker
        state["busy"] = worker.busy
        state["waiting"] = worker.closeUnstarted(error)
        worker.interrupt()
        txn.rollback().addErrback(lambda f: None)
        inner.cancel()

    def cancel(d: Deferred[Any]) -> None:
        state["cancelled"] = True
        timer.cancel() if timer.active() else None
        stop(CancelledError())

    result: Deferred[Any] = Deferred(canceller=cancel)

    def deliver(fire: Callable[[Any], Any], value: Any) -> None:
        if not result.called:
            callerContext.copy().run(fire, value)

    # Neither returns the Deferred of the commit or rollback: cancelling the
    # transaction's Deferred must not reach those.
    def succeeded(value: Any) -> None:
        if state["cancelled"] or state["timedOut"]:
            return failed(Failure(CancelledError()))
        timer.cancel() if timer.active() else None
        txn.commit().addCallbacks(
            lambda _: deliver(result.callback, value),
            lambda f: deliver(result.errback, _transactionFailure(f, "commit failed")),
        )

    def failed(failure: Failure) -> None:
        timer.cancel() if timer.active() else None
        d = txn.rollback()
        if state["timedOut"]:
            failure = Failure(_timedOut(timeout, failure.value, state["waiting"]))
            if state["busy"]:
                # The statement may not stop before the lock it waits for is
                # released: do not wait for the rollback that follows it.
                deliver(result.errback, failure)
        d.addBoth(lambda _: deliver(result.errback, _transactionFailure(failure)))

    def expire() -> None:
        state["timedOut"] = True
        stop(_timedOut(timeout))

    timer = txn.pool._reactor.callLater(timeout or DEFAULT_TIMEOUT, expire)
    inner = _callInContext(context, func, txn, *args, **kw)
    inner.addCallbacks(succeeded, failed).addErrback(lambda f: None)
    return result


def _runRetried(
    func: Callable[..., Any], args: Any, kw: Any, isolation: str | None, timeout: float | None,
    retry: int, retryOn: tuple[type[ConcurrencyError], ...], database: str | None = None,
) -> Deferred[Any]:
    """
    Run C{func} in a transaction; while an attempt fails with a
    L{TransactionError} caused by one of C{retryOn}, run it again, up to
    C{retry} more times, each in a new transaction after a short random
    pause. After every failed attempt the objects it wrote get their
    attributes back. Inside a running transaction: once, as a savepoint.

    @return: a L{Deferred} of the result of the attempt that committed, or
        of the failure of the last one (its message says how many there
        were).
    """
    pool = Registry.poolOf(database or DEFAULT_DATABASE)
    if not retry or pool is None or _enclosing(pool) is not None:
        return _runTransaction(func, args, kw, isolation, timeout, None, database)
    if Registry.replicasOf(database or DEFAULT_DATABASE) is not None:
        # Every attempt's commit is a write of the caller's context.
        writesOfContext()
    callerContext = contextvars.copy_context()
    reactor = pool._reactor
    attempts = 0
    running: Deferred[Any] | None = None
    pause: Any = None

    def cancel(d: Deferred[Any]) -> None:
        if pause is not None and pause.active():
            pause.cancel()
        elif running is not None:
            running.cancel()

    result: Deferred[Any] = Deferred(canceller=cancel)

    def attempt() -> None:
        nonlocal attempts, running
        attempts += 1
        snapshots: dict[int, tuple[Any, dict[str, Any]]] = {}
        running = _runTransaction(func, args, kw, isolation, timeout, snapshots, database)
        running.addCallbacks(result.callback, failed, errbackArgs=(snapshots,))

    def failed(failure: Failure, snapshots: dict[int, tuple[Any, dict[str, Any]]]) -> None:
        nonlocal pause
        for obj, state in snapshots.values():
            obj.__dict__ = state
        error = failure.value
        if attempts <= retry and type(error) is TransactionError and isinstance(
            error.__cause__, retryOn
        ):
            longest = min(RETRY_MAX_DELAY, RETRY_DELAY * 2 ** (attempts - 1))
            delay = longest * (0.5 + random.random() / 2)
            pause = reactor.callLater(delay, lambda: callerContext.copy().run(attempt))
            return
        if isinstance(error, TransactionError) and error.args:
            counted = f"{error.args[0]} ({attempts} attempt{'s' if attempts > 1 else ''})"
            error.args = (counted, *error.args[1:])
        result.errback(failure)

    attempt()
    return result


def _checkRetry(retry: Any, retryOn: Any) -> tuple[type[ConcurrencyError], ...]:
    """
    @return: C{retryOn} as a tuple of classes (L{DEFAULT_RETRY_ON} for
        C{None}).
    @raise TransactionError: unless C{retry} is a non-negative C{int} and
        C{retryOn} is C{None}, a L{ConcurrencyError} subclass or a non-empty
        tuple of them.
    """
    if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
        raise TransactionError(
            f"retry must be how many times to run a transaction again (an int, 0 or "
            f"more), not {retry!r}"
        )
    if retryOn is None:
        return DEFAULT_RETRY_ON
    classes = retryOn if isinstance(retryOn, tuple) else (retryOn,)
    if not classes or not all(
        isinstance(c, type) and issubclass(c, ConcurrencyError) for c in classes
    ):
        raise TransactionError(
            f"retryOn must be a ConcurrencyError subclass or a tuple of them, such as "
            f"(SerializationError, DeadlockError, LockTimeoutError), not {retryOn!r}"
        )
    return classes


def _checkOptions(isolation: Any, timeout: Any) -> None:
    """
    @raise TransactionError: unless C{isolation} is C{None} or a level name
        and C{timeout} is C{None} or a positive number of seconds.
    """
    if isolation is not None and not isinstance(isolation, str):
        raise TransactionError(
            f"isolation must be a level name such as 'SERIALIZABLE', not {isolation!r}"
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float))
        or not 0 < timeout < math.inf
    ):
        raise TransactionError(f"timeout must be a positive number of seconds, not {timeout!r}")


def _timedOut(
    timeout: float | None, cause: BaseException | None = None, waiting: bool = False
) -> TransactionTimeoutError:
    """
    @param cause: what the transaction's function failed with when stopped.
    @param waiting: the transaction was still waiting for a connection: the
        cause is then a L{PoolExhaustedError}.
    """
    seconds = timeout or DEFAULT_TIMEOUT
    error = TransactionTimeoutError(
        f"the transaction did not finish within {seconds} s and was rolled back"
        + (" (it was still waiting for a free connection)" if waiting else "")
    )
    if waiting:
        cause = PoolExhaustedError(
            f"no database connection became free within the transaction's timeout "
            f"of {seconds} s"
        )
    error.__cause__ = cause
    return error


def _transactionFailure(failure: Failure, what: str = "transaction failed") -> Failure:
    error = failure.value
    if isinstance(error, TransactionError):
        return failure
    wrapped = TransactionError(f"{what}, rolled back: {error!r}")
    wrapped.__cause__ = error
    return Failure(wrapped)


class _TransactionBlock:
    """
    What L{transaction} returns when called without a function: a decorator
    with options, and an C{async with} block.
    """

    def __init__(
        self, isolation: str | None, timeout: float | None, retry: int,
        retryOn: tuple[type[ConcurrencyError], ...], database: str | None = None,
    ) -> None:
        _checkOptions(isolation, timeout)
        self.database = database
        self.isolation = isolation
        self.timeout = timeout
        self.retry = retry
        self.retryOn = retryOn
        self._txn: Transaction | None = None
        self._token: contextvars.Token[RunningTransaction | None] | None = None
        self._timer: Any = None
        self._expired: Deferred[None] | None = None
        self._busyAtExpiry = False
        self._waitingAtExpiry = False

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Deferred[Any]]:
        return _decorate(
            func, self.isolation, self.timeout, self.retry, self.retryOn, self.database
        )

    async def __aenter__(self) -> Transaction:
        if self.retry:
            raise TransactionError(
                "an 'async with' block cannot be run again: give retry to "
                "@transaction(retry=...) or runInTransaction(..., retry=...) instead"
            )
        if self._txn is not None:
            raise TransactionError(
                "this transaction() block is already in use; "
                "write 'async with transaction()' for each block"
            )
        txn = Transaction.begin(self.isolation, self.timeout, self.database)
        self._token = runningTransaction.set(txn)
        txn.context = contextvars.copy_context()
        self._txn = txn
        self._expired = None
        self._timer = txn.pool._reactor.callLater(
            self.timeout or DEFAULT_TIMEOUT, self._expire, txn
        )
        return txn

    def _expire(self, txn: Transaction) -> None:
        # The block is still running: roll back now; its end reports it.
        worker = txn._worker
        self._busyAtExpiry = worker.busy
        self._waitingAtExpiry = worker.closeUnstarted(_timedOut(self.timeout))
        worker.interrupt()
        self._expired = txn.rollback()
        self._expired.addErrback(lambda f: None)
        # Last: the block's code may go on (and end) right here.
        worker.abandon(_timedOut(self.timeout))

    async def __aexit__(
        self, excType: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        txn, token, timer, expired = self._txn, self._token, self._timer, self._expired
        self._txn = self._token = self._timer = self._expired = None
        assert txn is not None and token is not None
        runningTransaction.reset(token)
        if timer.active():
            timer.cancel()
        if expired is not None:
            if self._busyAtExpiry:
                # As in _runTransaction: the rollback follows the statement.
                expired.addErrback(lambda f: None)
            else:
                await expired
            error = _timedOut(self.timeout, exc, self._waitingAtExpiry)
            raise error from error.__cause__
        if excType is None:
            await txn.commit()
        else:
            await txn.rollback()

    def __enter__(self) -> None:
        raise TypeError("use 'async with transaction()', not 'with'")

    def __exit__(self, *args: Any) -> None:
        pass


def _decorate(
    func: Callable[..., Any], isolation: str | None, timeout: float | None, retry: int = 0,
    retryOn: tuple[type[ConcurrencyError], ...] = DEFAULT_RETRY_ON, database: str | None = None,
) -> Callable[..., Deferred[Any]]:
    _checkOptions(isolation, timeout)
    def wrapper(*args: Any, **kw: Any) -> Deferred[Any]:
        return _runRetried(func, args, kw, isolation, timeout, retry, retryOn, database)

    wrapper.__name__ = getattr(func, "__name__", "transaction")
    wrapper.__qualname__ = getattr(func, "__qualname__", wrapper.__name__)
    wrapper.__doc__ = func.__doc__
    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


@overload
def transaction(func: Callable[..., Any]) -> Callable[..., Deferred[Any]]: ...


@overload
def transaction(
    func: None = None, *, isolation: str | None = None, timeout: float | None = None,
    retry: int = 0, retryOn: RetryOn = None, database: str | None = None,
) -> _TransactionBlock: ...


def transaction(
    func: Callable[..., Any] | None = None,
    *,
    isolation: str | None = None,
    timeout: float | None = None,
    retry: int = 0,
    retryOn: RetryOn = None,
    database: str | None = None,
) -> Callable[..., Deferred[Any]] | _TransactionBlock:
    """
    Run a function in one database transaction.

    As a decorator (C{@transaction} or C{@transaction(isolation=...,
    timeout=...)}): the function gets the L{Transaction} first, then the
    caller's arguments; calling it returns a L{Deferred} of its result. Every
    twistar call made by the function, in callbacks chained on those calls,
    in C{inlineCallbacks} generators and in coroutines it runs, runs in the
    transaction. If the function raises or its Deferred fails, everything is
    rolled back and the Deferred fails with L{TransactionError} whose
    C{__cause__} is the original error. Inside a running transaction it
    becomes a savepoint: on failure only its own work is rolled back.

    As C{async with transaction() as txn:}, the block runs in a transaction
    that commits at its end or rolls back if it raises (the exception goes
    on unchanged).

    @param isolation: an isolation level, e.g. C{"SERIALIZABLE"}.
    @param timeout: seconds after which an unfinished transaction (each
        attempt of a retried one) is rolled back and fails with
        L{TransactionTimeoutError}.
    @param retry: how many times at most to run the function again, each
        time in a new transaction after a short random pause, when an
        attempt fails with a L{TransactionError} caused by one of
        C{retryOn}; when the last attempt fails, its error says how many
        attempts were made. Objects written in a failed attempt get back
        the attributes they had before. Ignored by a transaction started
        inside another (a savepoint: the enclosing one may be retried);
        refused by C{async with}, which cannot run its block again.
    @param retryOn: the L{ConcurrencyError} subclass (or a tuple of them)
        to retry on; by default L{DEFAULT_RETRY_ON}, that is
        L{SerializationError} and L{DeadlockError}.
    @param database: the name of the database to run in (see
        L{Registry.addDatabase}); by default L{Registry.DBPOOL}'s. Calls on
        models of other databases made inside it do not run in it.
    @raise TransactionError: for options out of range.
    """
    classes = _checkRetry(retry, retryOn)
    if func is None:
        return _TransactionBlock(isolation, timeout, retry, classes, database)
    return _decorate(func, isolation, timeout, retry, classes, database)


def runInTransaction(
    func: Callable[..., Any], *args: Any, retry: int = 0, retryOn: RetryOn = None, **kw: Any
) -> Deferred[Any]:
    """
    Call C{func(txn, *args, **kw)} in a transaction, as L{transaction} does;
    C{retry} and C{retryOn} are those of L{transaction} (so C{func} cannot
    be given keyword arguments of those names).

    @return: a L{Deferred} of its result. It fails with L{TransactionError}
        before anything runs if C{retry} or C{retryOn} is out of range.
    """
    try:
        classes = _checkRetry(retry, retryOn)
    except TransactionError as e:
        return fail(e)
    return _runRetried(func, args, kw, None, None, retry, classes)


