# -*- test-case-name: twistar.tests.test_querylog -*-
"""
Helpers for the tests of applications built on twistar.

  - L{queries}: records the statements run by the code inside a block.
  - L{QueryAssertions}: a mixin for trial test cases, with
    L{assertQueries<QueryAssertions.assertQueries>}.
  - L{strictNPlusOne}: raises L{NPlusOneError} when the code inside a
    block reads a relationship one object at a time for objects loaded
    together.

Each is a context manager, for C{with} (also inside an C{async def}) and
C{async with}. Only the code inside the block is observed, with what it
starts: work that other code runs meanwhile is not.
"""

from __future__ import annotations

from types import TracebackType

from twistar.exceptions import NPlusOneError
from twistar.querylog import NPlusOneDetector, QueryRecord, QueryRecorder

__all__ = [
    "NPlusOneError",
    "QueryAssertions",
    "QueryRecord",
    "QueryRecorder",
    "queries",
    "strictNPlusOne",
]


def queries() -> QueryRecorder:
    """
    Record the statements run by the code inside the block::

        with queries() as recorded:
            await User.find(where=["age > ?", 30])
        assert recorded.count == 1

    @return: a L{QueryRecorder}: C{count}, C{statements} (their SQL) and
        C{records} (their L{QueryRecord}s).
    """
    return QueryRecorder()


def strictNPlusOne() -> NPlusOneDetector:
    """
    Inside the block, raise L{NPlusOneError} at a relationship's C{get()}
    that queries for a second object of the objects one query loaded::

        with strictNPlusOne():
            for author in await Author.all():
                await author.books.get()  # NPlusOneError for the second author

    @return: an L{NPlusOneDetector}.
    """
    return NPlusOneDetector()


class QueryAssertions:
    """
    A mixin for trial test cases (or any C{unittest.TestCase}) with
    L{assertQueries}.
    """

    def assertQueries(self, count: int) -> _ExpectedQueries:
        """
        Fail (with the statements run) unless the code inside the block
        runs exactly C{count} statements::

            with self.assertQueries(2):
                await Author.find(include=["books"])

        @return: the L{QueryRecorder} of the block.
        """
        return _ExpectedQueries(count, getattr(self, "failureException", AssertionError))


class _ExpectedQueries(QueryRecorder):
    """
    A L{QueryRecorder} that fails at the end of its block unless it recorded
    as many statements as expected.
    """

    def __init__(self, expected: int, failure: type[BaseException]) -> None:
        super().__init__()
        self.expected = expected
        self.failure = failure

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(kind, value, traceback)
        if kind is None and self.count != self.expected:
            listed = "".join(f"\n  {n}. {sql}" for n, sql in enumerate(self.statements, 1))
            raise self.failure(
                f"expected {self.expected} queries, {self.count} ran:{listed or ' none'}"
            )
