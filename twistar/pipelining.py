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

_pipelinedCursor: Any = None


def runPipelined(
    connection: Any, works: Sequence[Any], pause: Callable[[], None]
) -> list[tuple[bool, Any] | None]:
    """
    Run C{works} on C{connection} (in autocommit mode), in the connection's
    worker greenlet, their statements pipelined.

    @param works: objects with a C{body(connection, work)} to run and a
        C{cancelled} flag (works cancelled are left out).
    @param pause: called before each work is switched to: it lets the
        reactor run a turn when the works have run a while.
    @return: each work's outcome: C{(True, result)} or C{(False, Failure)};
        C{None} for a work left out.
    """
    from greenlet import getcurrent, greenlet

    here = getcurrent()
    outcomes: list[tuple[bool, Any] | None] = [None] * len(works)
    steps: list[tuple[int, Any, tuple[Any, ...]]] = []
    for index, work in enumerate(works):
        if not work.cancelled:
            child = greenlet(_runWork, parent=here)
            child.pipelined = True
            steps.append((index, child, (connection, work)))
    previous = connection.cursor_factory
    connection.cursor_factory = _pipelinedCursorClass()
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
    finally:
        connection.cursor_factory = previous
    return outcomes


def _runWork(connection: Any, work: Any) -> tuple[bool, Any]:
    """
    A work's greenlet: run it.

    @return: its outcome.
    """
    from greenlet import GreenletExit

    try:
        return True, work.body(connection, work)
    except GreenletExit:
        raise
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
    try:
        with connection.pipeline():
            connection.execute("BEGIN")
            for statement in statements:
                statement.run()
            connection.execute("COMMIT")
    except Exception as e:
        if connection.closed:
            return [e] * len(statements)
        # Nothing was committed: each statement runs again, for its own
        # outcome.
        try:
            connection.rollback()
        except Exception as lost:
            return [lost] * len(statements)
        return [statement.runAlone() for statement in statements]
    return [None] * len(statements)


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
        import psycopg

        psycopg.Cursor.execute(self.cursor, self.query, self.params, **self.kw)

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


def _pipelinedCursorClass() -> Any:
    """
    @return: the cursor class the works' connection makes while they run
        (made on the first call: importing this module imports neither
        psycopg nor greenlet). Its C{execute}, in a work's greenlet, hands
        the statement to the connection's worker greenlet and returns once
        it has run; elsewhere it executes as usual.
    """
    global _pipelinedCursor
    if _pipelinedCursor is None:
        import psycopg
        from greenlet import getcurrent

        class PipelinedCursor(psycopg.Cursor):
            def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
                current = getcurrent()
                if not getattr(current, "pipelined", False):
                    return super().execute(query, params, **kw)
                error = current.parent.switch(_Statement(self, query, params, kw))
                if error is not None:
                    raise error
                return self

        _pipelinedCursor = PipelinedCursor
    return _pipelinedCursor
