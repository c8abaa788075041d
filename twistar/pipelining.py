# -*- test-case-name: twistar.tests.test_pipelining -*-
"""
Running several works, each writing with one statement, on one connection of
a L{PostgresPool<twistar.pgpool.PostgresPool>} in libpq's pipeline mode: their
statements go to the server together, in one round trip and one commit.

The pool gives a pipeline up to L{PIPELINE_SIZE} works. Each work runs in a
greenlet of its own (a child of the connection's worker greenlet) until it
executes a statement; once every work waits so, their statements are sent at
once, between C{BEGIN} and C{COMMIT}, and each work resumes with its
statement's result (it may then execute another: the next round). If any
statement of a round fails, the round commits nothing, and each of its
statements runs again alone, so that each work sees its own outcome. A
connection lost during a round fails each of its works (the commit may or may
not have happened).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.python.failure import Failure

PIPELINE_SIZE = 20
"""
The most works run in one pipeline: enough that a round trip is shared by
many statements, few enough that the works waiting in pipelines stay young
objects for the garbage collector, and that a pipeline's works resume in a
short reactor turn.
"""

_pipelinedCursors: dict[type, type] = {}


def runPipelined(
    connection: Any, works: Sequence[Any], pause: Callable[[], None]
) -> list[tuple[bool, Any] | None]:
    """
    Run C{works} on C{connection} (in autocommit mode), in the connection's
    worker greenlet, their statements pipelined. (With a C{cursor_factory}
    that is no C{psycopg.Cursor} class, they run one after the other.)

    @param works: objects with a C{body(connection, work)} to run and a
        C{cancelled} flag (works cancelled are left out).
    @param pause: called before each work is switched to: it lets the
        reactor run a turn when the works have run a while.
    @return: each work's outcome: C{(True, result)} or C{(False, Failure)};
        C{None} for a work left out.
    """
    from greenlet import getcurrent, greenlet

    outcomes: list[tuple[bool, Any] | None] = [None] * len(works)
    previous = connection.cursor_factory
    pipelined = _pipelinedCursorClass(previous)
    if pipelined is None:
        for index, work in enumerate(works):
            if not work.cancelled:
                outcomes[index] = _runWork(connection, work)
        return outcomes
    here = getcurrent()
    steps: list[tuple[int, Any, tuple[Any, ...]]] = []
    for index, work in enumerate(works):
        if not work.cancelled:
            child = greenlet(_runWork, parent=here)
            child.pipelined = True
            steps.append((index, child, (connection, work)))
    children = [child for _, child, _ in steps]
    connection.cursor_factory = pipelined
    try:
        while steps:
            waiting = []
            for index, child, given in steps:
                pause()
                value = child.switch(*given)
                if isinstance(value, _Statement):
                    waiting.append((index, child, value))
                else:
                    outcomes[index] = value
            errors = _runRound(connection, [statement for _, _, statement in waiting])
            steps = [(index, child, (error,)) for (index, child, _), error in zip(waiting, errors)]
    except BaseException:
        # Finish the works left waiting for their statements (their
        # outcomes are this error's).
        for child in children:
            if child:  # started, not finished
                child.throw()
        raise
    finally:
        connection.cursor_factory = previous
    return outcomes


def _runWork(connection: Any, work: Any) -> tuple[bool, Any]:
    """
    Run a work (in a greenlet of its own).

    @return: its outcome.
    """
    try:
        return True, work.body(connection, work)
    except BaseException:
        return False, Failure()


def _runRound(connection: Any, statements: list[_Statement]) -> list[BaseException | None]:
    """
    Run C{statements} in one pipeline, in one transaction; if it fails,
    run each alone.

    @return: each statement's error, or C{None}.
    """
    if len(statements) < 2:
        return [statement.runAlone() for statement in statements]
    failure: Exception | None = None
    commit = None
    try:
        with connection.pipeline():
            try:
                connection.execute("BEGIN")
                for statement in statements:
                    statement.run()
                commit = connection.execute("COMMIT")
            except Exception as e:
                # Any execute may raise an earlier statement's error, once
                # its result came: nothing more is sent, and the server
                # skips what was sent after the error (a COMMIT too).
                failure = e
    except Exception as e:
        failure = failure or e
    if commit is not None and commit.statusmessage == "COMMIT":
        return [None] * len(statements)
    assert failure is not None
    if connection.closed:
        return [failure] * len(statements)
    # Nothing was committed: each statement runs again, for its own outcome.
    try:
        connection.rollback()
    except Exception as lost:
        return [lost] * len(statements)
    return [statement.runAlone() for statement in statements]


class _Statement:
    """
    A statement that a work executes: run by the connection's worker
    greenlet, on the work's cursor.
    """

    __slots__ = ("cursor", "query", "params", "kw")

    def __init__(self, cursor: Any, query: Any, params: Any, kw: dict[str, Any]) -> None:
        self.cursor = cursor
        self.query = query
        self.params = params
        self.kw = kw

    def run(self) -> None:
        """
        Execute the statement (in a pipeline, only send it).
        """
        self.cursor.executeNow(self.query, self.params, **self.kw)

    def runAlone(self) -> BaseException | None:
        """
        Execute the statement (committing alone).

        @return: its error, or C{None}.
        """
        try:
            self.run()
        except Exception as e:
            return e
        return None


class _PipelinedExecute:
    """
    What a cursor class made by L{_pipelinedCursorClass} adds to its base.
    """

    def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        """
        In a work's greenlet, hand the statement to the connection's worker
        greenlet and return once it has run; elsewhere, execute it.
        """
        from greenlet import getcurrent

        current = getcurrent()
        if not getattr(current, "pipelined", False):
            return self.executeNow(query, params, **kw)
        error = current.parent.switch(_Statement(self, query, params, kw))
        if error is not None:
            raise error.with_traceback(None)
        return self

    def executeNow(self, query: Any, params: Any = None, **kw: Any) -> Any:
        """
        Execute the statement (as the base class does).
        """
        return super().execute(query, params, **kw)  # type: ignore[misc]


def _pipelinedCursorClass(base: Any) -> type | None:
    """
    @return: the cursor class that the works' connection makes while they
        run: C{base} with L{_PipelinedExecute}'s C{execute}; C{None} if
        C{base} is no subclass of C{psycopg.Cursor}.
    """
    import psycopg

    if not (isinstance(base, type) and issubclass(base, psycopg.Cursor)):
        return None
    pipelined = _pipelinedCursors.get(base)
    if pipelined is None:
        pipelined = _pipelinedCursors[base] = type(
            f"Pipelined{base.__name__}", (_PipelinedExecute, base), {})
    return pipelined
