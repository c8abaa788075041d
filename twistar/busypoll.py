# -*- test-case-name: twistar.tests.test_pgpool -*-
"""
L{BusyPoll}: the reactor kept polling, without sleeping, for a short while
after a L{PostgresPool<twistar.pgpool.PostgresPool>} sends a statement.

A reactor with nothing to do sleeps in C{epoll_wait} (or C{select}); its
processor may then go idle, and waking an idle processor when the server's
answer comes takes tens of microseconds: on a virtual machine, or on a
host whose processors save power in deep sleep states, as much as the
round trip itself. A plain synchronous driver pays the same when it blocks
in C{poll}. While statements are in flight, L{BusyPoll} has the reactor
poll with a timeout of zero (a call scheduled for every turn) for at most
L{BusyPoll.seconds} after the latest was sent: the answer is then found at
once, and the reactor still runs everything else as it comes. It costs
the processor time of those turns, at most C{seconds} each time a
statement begins to wait (one that takes longer is waited for as
before).
"""

from __future__ import annotations

import math
from time import monotonic
from typing import Any

from twistar.exceptions import TwistarError

BUSY_POLL_SECONDS = 0.0002
"""A L{PostgresPool<twistar.pgpool.PostgresPool>}'s default
C{busyPollSeconds}."""


def finiteSeconds(value: Any) -> float | None:
    """
    @param value: a number of seconds given by the user.
    @return: C{value} as a float, if it is a finite number (an C{int} or a
        C{float}, not a C{bool}); else C{None}.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def checkedBusyPoll(seconds: Any) -> float:
    """
    @param seconds: a C{busyPollSeconds} given by the user.
    @return: C{seconds} as a float.
    @raise TwistarError: unless it is a finite number >= 0.
    """
    value = finiteSeconds(seconds)
    if value is None or value < 0:
        raise TwistarError(f"busyPollSeconds must be a number of seconds >= 0, not {seconds!r}")
    return value


class BusyPoll:
    """
    Keeps a reactor turning without sleeping while statements are in flight,
    for at most L{seconds} after the latest was sent.

    @ivar reactor: the reactor kept turning.
    @ivar seconds: how long after a statement is sent the reactor polls
        without sleeping (0: never).
    @ivar inFlight: how many statements wait for the server's answer.
    """

    def __init__(self, reactor: Any, seconds: float) -> None:
        """
        @param reactor: the reactor to keep turning.
        @param seconds: L{seconds}.
        @raise TwistarError: unless C{seconds} is a finite number >= 0.
        """
        self.reactor = reactor
        self.seconds = checkedBusyPoll(seconds)
        self.inFlight = 0
        self._until = 0.0
        self._call: Any = None

    def sent(self) -> None:
        """
        Called when a statement waits for the server's answer; L{answered}
        must follow.
        """
        self.inFlight += 1
        if self.seconds > 0:
            self._until = monotonic() + self.seconds
            if self._call is None:
                self._call = self.reactor.callLater(0, self._turn)

    def answered(self) -> None:
        """
        Called when a statement that L{sent} reported no longer waits.
        """
        self.inFlight -= 1

    def _turn(self) -> None:
        if self.inFlight > 0 and monotonic() < self._until:
            self._call = self.reactor.callLater(0, self._turn)
        else:
            self._call = None

    def stop(self) -> None:
        """
        Stop polling (when the pool closes).
        """
        if self._call is not None:
            self._call.cancel()
            self._call = None
