# -*- test-case-name: twistar.tests.test_transaction -*-
"""
The transaction the running code is in.

L{twistar.transaction} sets it; the SQL layer (L{twistar.dbconfig}) reads it
to run work on that transaction's connection. Both build on this module, so
neither imports the other.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from twisted.enterprise.adbapi import ConnectionPool
    from twisted.internet.defer import Deferred


class RunningTransaction(Protocol):
    """
    What the code below L{twistar.transaction} uses of its
    L{twistar.transaction.Transaction}.
    """

    @property
    def pool(self) -> ConnectionPool:
        """The pool whose connection the transaction holds."""

    def runWork(
        self, func: Callable[..., Any], args: Any, kw: Any,
        then: Callable[[Any], Any] | None = None,
    ) -> Deferred[Any]:
        """
        Run C{func(cursor, *args, **kw)} on the transaction's connection.
        """

    def registerObject(self, obj: Any) -> None:
        """
        Have C{obj}'s C{afterCommit} or C{afterRollback} hook called when the
        enclosing transaction ends.
        """

    def rememberStates(self, objects: Iterable[Any]) -> None:
        """
        Keep the attributes of C{objects} from before they are written, to
        put back if the transaction is an attempt of a retried one and fails.
        """


runningTransaction: contextvars.ContextVar[RunningTransaction | None] = contextvars.ContextVar(
    "twistar.transaction", default=None
)
"""The transaction of the running code; set only by L{twistar.transaction}."""


def currentTransaction() -> RunningTransaction | None:
    """
    @return: the transaction the calling code runs in, or C{None}.
    """
    return runningTransaction.get()
