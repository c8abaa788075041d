"""
Tests for query logging (L{InteractionBase.LOG} and L{InteractionBase.log}),
and L{captureQueries}, which other test modules use to see the SQL run.
"""

from datetime import date

from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from twistar.dbconfig.base import InteractionBase
from twistar.tests.helpers import DBTestCase
from twistar.tests.models import User


def captureEvents(testCase):
    """
    Collect twistar's log events for the rest of C{testCase}.

    @return: the list the events are appended to.
    """
    events = []

    def observe(event):
        if str(event.get("log_namespace", "")).startswith("twistar"):
            events.append(event)

    globalLogPublisher.addObserver(observe)
    testCase.addCleanup(globalLogPublisher.removeObserver, observe)
    return events


def captureQueries(testCase):
    """
    Turn on L{InteractionBase.LOG} for the rest of C{testCase} and collect
    the SQL of every query it logs.

    @return: the list the queries (strings) are appended to.
    """
    events = captureEvents(testCase)
    queries = _QueryList(events)
    testCase.addCleanup(setattr, InteractionBase, "LOG", False)
    InteractionBase.LOG = True
    return queries


class _QueryList:
    """
    A live view of the queries of captured log events.
    """

    def __init__(self, events):
        self.events = events
        self.start = 0

    def __iter__(self):
        return iter(self.all())

    def all(self):
        """
        @return: the queries logged since the last L{reset}.
        """
        return [e["query"] for e in self.events[self.start:] if "query" in e]

    def reset(self):
        """
        Forget the queries logged so far.
        """
        self.start = len(self.events)

    def starting(self, word):
        """
        @return: the queries logged since the last L{reset} that start with
            C{word} (case-insensitive).
        """
        return [q for q in self.all() if q.lstrip().upper().startswith(word.upper())]


class LogTests(SynchronousTestCase):
    """
    Tests for L{InteractionBase.log} without a database.
    """

    def test_logOffByDefault(self):
        """
        C{LOG} is off by default.
        """
        self.assertIs(InteractionBase.LOG, False)

    def test_logAnyValues(self):
        """
        C{log} logs the query and its arguments of every type, unicode
        included, without raising.
        """
        events = captureEvents(self)
        args = (1, None, b"\x00\xff", date(2020, 2, 29), "caf\u00e9 \U0001f600")
        InteractionBase().log("SELECT ? -- \U0001f600", args, {"k": "\u00e9"})
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["log_namespace"], "twistar")
        self.assertEqual(events[0]["query"], "SELECT ? -- \U0001f600")
        self.assertIn("\U0001f600", events[0]["args"])
        self.assertIn("datetime.date(2020, 2, 29)", events[0]["args"])
        self.assertIn("b'\\x00\\xff'", events[0]["args"])
        self.assertIn("None", events[0]["args"])
        self.assertIn("\u00e9", events[0]["kwargs"])

    def test_logUnprintable(self):
        """
        An argument whose C{repr} raises does not make C{log} raise.
        """

        class Unprintable:
            def __repr__(self):
                raise RuntimeError("no repr")

        events = captureEvents(self)
        InteractionBase().log("SELECT 1", (Unprintable(),), {})
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["query"], "SELECT 1")
        self.assertIn("unprintable", events[0]["args"])


class QueryLoggingTests(DBTestCase):
    """
    With C{LOG} on, the queries run against the database are logged.
    """

    async def test_everyQueryLogged(self):
        """
        Saving and finding log their INSERT and SELECT with the arguments,
        whatever their types; with C{LOG} off again nothing more is logged.
        """
        events = captureEvents(self)
        self.addCleanup(setattr, InteractionBase, "LOG", False)
        InteractionBase.LOG = True
        user = await User(
            first_name="\U0001f600 caf\u00e9", last_name=None, age=7, dob=date(2001, 2, 3)
        ).save()
        found = await User.find(where=["first_name = ?", "\U0001f600 caf\u00e9"], limit=1)
        self.assertEqual(found, user)
        queries = [e["query"] for e in events if "query" in e]
        inserts = [q for q in queries if q.startswith("INSERT")]
        selects = [q for q in queries if q.startswith("SELECT") and "first_name" in q]
        self.assertEqual(len(inserts), 1)
        self.assertEqual(len(selects), 1)
        insertEvent = next(e for e in events if e.get("query") == inserts[0])
        self.assertIn("\U0001f600 caf\u00e9", insertEvent["args"])
        self.assertIn("7", insertEvent["args"])

        InteractionBase.LOG = False
        count = len(events)
        await User.find(user.id)
        self.assertEqual(len(events), count)

    async def test_rawQueriesLogged(self):
        """
        C{executeTxn} (under C{execute}) logs raw queries with bytes
        arguments.
        """
        events = captureEvents(self)
        self.addCleanup(setattr, InteractionBase, "LOG", False)
        InteractionBase.LOG = True
        p = self.config.placeholder
        rows = await self.config.execute(f"SELECT {p}", (b"\x01\x02",))
        self.assertEqual(len(rows), 1)
        logged = [e for e in events if e.get("query") == f"SELECT {p}"]
        self.assertEqual(len(logged), 1)
        self.assertIn("\\x01\\x02", logged[0]["args"])
