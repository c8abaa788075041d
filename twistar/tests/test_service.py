"""
Tests for the example service (C{examples/service}): the bookshop's JSON
API served on a free loopback port and driven over HTTP with
C{twisted.web.client.Agent}, on the test database, each test in a fresh
database made by the example's migrations
(L{twistar.testing.DatabaseTestCase}); and C{examples/service/app.py} run as
a program, migrating its database and serving.

They need a checkout (C{examples/}; see L{twistar.tests.test_docs}) and
yoyo-migrations.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import sys
import tempfile
from importlib import import_module
from io import BytesIO
from types import ModuleType
from typing import Any

from twisted.internet import defer, protocol
from twisted.internet import reactor as _reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from twistar.migrations import applyMigrations
from twistar.registry import Registry
from twistar.testing import DatabaseTestCase
from twistar.tests.helpers import SQLITE, testDatabase
from twistar.tests.test_docs import EXAMPLES, NO_CHECKOUT, PACKAGE_PARENT

NO_WEB: str | None = None
try:
    from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
    from twisted.web.http_headers import Headers
    from twisted.web.resource import Resource
except ImportError as error:
    # Older Twisted (22.10 among them) on Python 3.13: its twisted.web
    # imports cgi, which Python 3.13 removed.
    NO_WEB = f"the example service needs twisted.web, which cannot be imported here: {error}"
    Resource = object  # type: ignore[assignment, misc]

NO_YOYO: str | None = None
try:
    import yoyo  # noqa: F401
except ImportError:
    NO_YOYO = ("needs yoyo-migrations, which twistar's test extra installs:"
               " pip install 'twistar[test]'")

reactor: Any = _reactor
"""The reactor (typed loosely: the stubs of its interfaces' methods are not
checkable)."""

SERVICE = EXAMPLES / "service"
SERVER = None if testDatabase() == SQLITE else testDatabase()
"""The test database server, for L{DatabaseTestCase}'s throwaway databases;
C{None} for SQLite files."""


def importBookshop() -> ModuleType:
    """
    @return: the module C{bookshop.api} of C{examples/service} (which
        imports C{bookshop.models}), as C{app.py} imports it.
    """
    sys.path.insert(0, str(SERVICE))
    try:
        return import_module("bookshop.api")
    finally:
        sys.path.remove(str(SERVICE))


class InSenderContext(Resource):
    """
    The service's resource, serving each request in the context (see
    C{contextvars}) of the test code that sent it: client and service share
    the reactor, so the test's C{assertQueries} counts the statements the
    service runs for the request.

    @ivar context: the context of the next request.
    """

    isLeaf = True

    def __init__(self, resource: Resource) -> None:
        super().__init__()
        self.resource = resource
        self.context = contextvars.copy_context()

    def render(self, request: Any) -> Any:
        return self.context.run(self.resource.render, request)


class HTTPClient:
    """
    A mixin for test cases: JSON requests to a service with an C{Agent},
    whose connections are closed when the test ends.

    @ivar url: the service's address (bytes), set by the test.
    @ivar response: the last response.
    @ivar served: the L{InSenderContext} of an in-process service, if any.
    """

    url: bytes
    response: Any
    served: InSenderContext | None = None

    def startClient(self) -> None:
        pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)  # type: ignore[attr-defined]
        self.agent = Agent(reactor, pool=pool)

    async def call(self, method: str, path: str, body: Any = None,
                   raw: bytes | None = None) -> tuple[int, Any]:
        """
        Send a request, with C{body} as JSON (or the bytes C{raw}).

        @return: the response's status and its JSON body (C{None} if empty).
        """
        if body is not None:
            raw = json.dumps(body).encode("utf-8")
        producer: Any = FileBodyProducer(BytesIO(raw)) if raw is not None else None
        headers = Headers({b"Content-Type": [b"application/json"]})
        if self.served is not None:
            self.served.context = contextvars.copy_context()
        self.response = await self.agent.request(
            method.encode("ascii"), self.url + path.encode("utf-8"), headers, producer
        )
        content = await readBody(self.response)
        if content:
            self.assertEqual(  # type: ignore[attr-defined]
                self.response.headers.getRawHeaders(b"Content-Type"), [b"application/json"]
            )
        return self.response.code, json.loads(content) if content else None


class ServiceTests(HTTPClient, DatabaseTestCase):
    """
    The bookshop's API, served on a free loopback port, on a fresh
    database in each test.
    """

    skip = NO_CHECKOUT or NO_YOYO or NO_WEB
    serverURL = SERVER

    def migrate(self, pool, url):
        return applyMigrations(SERVICE / "migrations", url)

    async def setUp(self):
        await super().setUp()
        saved = dict(Registry.REGISTRATION)
        self.addCleanup(Registry.REGISTRATION.update, saved)
        self.addCleanup(Registry.REGISTRATION.clear)
        self.api = importBookshop()
        self.models = import_module("bookshop.models")
        Registry.register(self.models.Author, self.models.Book, self.models.Review,
                          self.models.Tag)
        site = self.api.makeSite()
        self.served = site.resource = InSenderContext(site.resource)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = b"http://127.0.0.1:%d" % (port.getHost().port,)
        self.startClient()

    async def addAuthor(self, name: str) -> int:
        status, author = await self.call("POST", "/authors", {"name": name})
        self.assertEqual(status, 201, author)
        return author["id"]

    async def addBook(self, title: str, authorId: int, **more: Any) -> dict[str, Any]:
        status, book = await self.call("POST", "/books",
                                       {"title": title, "author_id": authorId, **more})
        self.assertEqual(status, 201, book)
        return book

    async def test_createAndShow(self):
        """
        C{POST} creates (C{201}, the new object as JSON); C{GET} of the new
        book shows it with its author, its tags and its reviews, and the
        author with their books.
        """
        status, author = await self.call("POST", "/authors", {"name": "Ursula K. Le Guin"})
        self.assertEqual(status, 201)
        self.assertEqual(author["name"], "Ursula K. Le Guin")
        self.assertIsInstance(author["id"], int)
        self.assertTrue(author["created_at"].startswith("20"), author)
        book = await self.addBook("The Dispossessed", author["id"], published_year=1974,
                                  tags=["utopia", "sf", "utopia"])
        self.assertEqual(book["author"], author)
        self.assertEqual(book["tags"], ["sf", "utopia"])
        self.assertEqual(book["published_year"], 1974)
        status, shown = await self.call("GET", f"/books/{book['id']}")
        self.assertEqual(status, 200)
        self.assertEqual(shown, {**book, "reviews": []})
        status, shown = await self.call("GET", f"/authors/{author['id']}")
        self.assertEqual(shown["books"], [{"id": book["id"], "title": "The Dispossessed"}])
        self.assertEqual(await self.models.Tag.count(), 2)

    async def test_listBooks(self):
        """
        C{GET /books} lists the books by title, a page at a time, each with
        its author and tags.
        """
        leGuin = await self.addAuthor("Le Guin")
        tolkien = await self.addAuthor("Tolkien")
        await self.addBook("The Hobbit", tolkien, tags=["fantasy"])
        await self.addBook("A Wizard of Earthsea", leGuin, tags=["fantasy", "ya"])
        await self.addBook("The Dispossessed", leGuin)
        status, page = await self.call("GET", "/books?per_page=2")
        self.assertEqual(status, 200)
        self.assertEqual((page["page"], page["pages"], page["total"]), (1, 2, 3))
        self.assertEqual(
            [(book["title"], book["author"]["name"], book["tags"]) for book in page["items"]],
            [("A Wizard of Earthsea", "Le Guin", ["fantasy", "ya"]),
             ("The Dispossessed", "Le Guin", [])],
        )
        status, page = await self.call("GET", "/books?per_page=2&page=2")
        self.assertEqual([book["title"] for book in page["items"]], ["The Hobbit"])
        status, authors = await self.call("GET", "/authors")
        self.assertEqual([author["name"] for author in authors["items"]], ["Le Guin", "Tolkien"])
        for query in ("page=0", "per_page=101", "page=one"):
            status, error = await self.call("GET", "/books?" + query)
            self.assertEqual(status, 400, query)

    async def test_listBooksWithoutNPlusOne(self):
        """
        C{GET /books} runs four queries however many books it lists: the
        count, the books, their authors and their tags.
        """
        author = await self.addAuthor("Le Guin")
        await self.addBook("The Lathe of Heaven", author, tags=["sf"])
        with self.assertQueries(4):
            status, page = await self.call("GET", "/books")
        self.assertEqual(status, 200)
        for number in range(5):
            author = await self.addAuthor(f"Author {number}")
            await self.addBook(f"Book {number}", author, tags=[f"tag {number}", "sf"])
        with self.assertQueries(4):
            status, page = await self.call("GET", "/books")
        self.assertEqual(len(page["items"]), 6)
        self.assertEqual(page["items"][0]["author"]["name"], "Author 0")
        self.assertEqual(page["items"][0]["tags"], ["sf", "tag 0"])

    async def test_validationErrors(self):
        """
        Invalid data gets C{422} with the validation errors, by field, and
        nothing is saved.
        """
        Book, Review = self.models.Book, self.models.Review
        status, body = await self.call("POST", "/books", {})
        self.assertEqual(status, 422)
        self.assertEqual(body["errors"]["title"][0], "Title cannot be blank.")
        self.assertEqual(body["errors"]["author_id"], ["Author cannot be blank."])
        status, body = await self.call("POST", "/books", {"title": "Dune", "author_id": 999999})
        self.assertEqual((status, body["errors"]), (422, {"author_id": ["Author does not exist."]}))
        author = await self.addAuthor("Herbert")
        for fields, errors in [
            ({"published_year": "1965"}, {"published_year": ["Published Year must be a whole"
                                                             " number."]}),
            ({"published_year": 3000}, {"published_year": ["Published Year must be a year, not"
                                                           " in the future."]}),
            ({"title": ["Dune"]}, {"title": ["Title must be text."]}),
            ({"isbn": "0441013597"}, {"isbn": ["isbn is not a field."]}),
            ({"tags": "sf"}, {"tags": ["Tags must be a list of names."]}),
        ]:
            status, body = await self.call("POST", "/books",
                                           {"title": "Dune", "author_id": author, **fields})
            self.assertEqual((status, body["errors"]), (422, errors), fields)
        self.assertEqual(await Book.count(), 0)
        book = await self.addBook("Dune", author)
        for fields, errors in [
            ({"rating": 6}, {"rating": ["Rating must be from 1 to 5."]}),
            ({"rating": True}, {"rating": ["Rating must be a whole number."]}),
            ({"body": "Great"}, {"rating": ["Rating cannot be blank."]}),
        ]:
            status, body = await self.call("POST", f"/books/{book['id']}/reviews", fields)
            self.assertEqual((status, body["errors"]), (422, errors), fields)
        self.assertEqual(await Review.count(), 0)
        status, body = await self.call("POST", "/authors", {"name": ""})
        self.assertEqual((status, body["errors"]), (422, {"name": [
            "Name cannot be blank.", "Name must have a length between 1 and 200."]}))

    async def test_badRequests(self):
        """
        A body that is no JSON object gets C{400}; a path that is not
        served C{404}; a method a path does not take C{405}, with C{Allow}.
        """
        for raw in (b"{", b"[1, 2]", b""):
            status, body = await self.call("POST", "/authors", raw=raw)
            self.assertEqual(status, 400, raw)
            self.assertIn("error", body)
        status, body = await self.call("GET", "/nowhere")
        self.assertEqual((status, body), (404, {"error": "not found"}))
        status, body = await self.call("GET", "/books/one")
        self.assertEqual(status, 404)
        status, body = await self.call("PUT", "/books/1")
        self.assertEqual((status, body), (405, {"error": "method not allowed"}))
        self.assertEqual(self.response.headers.getRawHeaders(b"Allow"),
                         [b"GET, PATCH, DELETE"])

    async def test_missing(self):
        """
        A request for an author, book or review that does not exist gets
        C{404}.
        """
        for method, path in [
            ("GET", "/authors/999999"), ("PATCH", "/authors/999999"),
            ("DELETE", "/authors/999999"), ("GET", "/books/999999"),
            ("PATCH", "/books/999999"), ("DELETE", "/books/999999"),
            ("GET", "/books/999999/reviews"), ("POST", "/books/999999/reviews"),
            ("GET", "/reviews/999999"), ("PATCH", "/reviews/999999"),
            ("DELETE", "/reviews/999999"),
        ]:
            status, body = await self.call(method, path, {})
            self.assertEqual(status, 404, (method, path))
            self.assertRegex(body["error"], r"^no (author|book|review) 999999$")

    async def test_update(self):
        """
        C{PATCH} changes the fields it gives (the tags too, when given) and
        returns the object; invalid changes get C{422} and change nothing.
        """
        leGuin = await self.addAuthor("Le Guin")
        other = await self.addAuthor("U. K. Le Guin")
        book = await self.addBook("Earthsea", leGuin, tags=["fantasy"])
        path = f"/books/{book['id']}"
        status, changed = await self.call(
            "PATCH", path, {"title": "A Wizard of Earthsea", "author_id": other,
                            "tags": ["ya", "fantasy"]})
        self.assertEqual(status, 200)
        self.assertEqual((changed["title"], changed["author"]["id"], changed["tags"]),
                         ("A Wizard of Earthsea", other, ["fantasy", "ya"]))
        status, changed = await self.call("PATCH", path, {"published_year": 1968})
        self.assertEqual((changed["title"], changed["tags"], changed["published_year"]),
                         ("A Wizard of Earthsea", ["fantasy", "ya"], 1968))
        status, body = await self.call("PATCH", path, {"title": "", "published_year": 1969})
        self.assertEqual(status, 422)
        status, shown = await self.call("GET", path)
        self.assertEqual((shown["title"], shown["published_year"]),
                         ("A Wizard of Earthsea", 1968))
        status, author = await self.call("PATCH", f"/authors/{leGuin}",
                                         {"name": "Ursula K. Le Guin"})
        self.assertEqual((status, author["name"]), (200, "Ursula K. Le Guin"))

    async def test_transactionRollsBack(self):
        """
        A request that writes runs in one transaction: when its last step
        fails, what the earlier steps wrote is rolled back.
        """
        Book, Tag = self.models.Book, self.models.Tag
        author = await self.addAuthor("Le Guin")
        # The book and the tag "fine" are saved, then the long tag is invalid.
        status, body = await self.call("POST", "/books", {
            "title": "The Dispossessed", "author_id": author, "tags": ["fine", "x" * 101]})
        self.assertEqual(status, 422)
        self.assertEqual(body["errors"], {"tags": ["Name must have a length between 1 and 100."]})
        self.assertEqual((await Book.count(), await Tag.count()), (0, 0))
        book = await self.addBook("The Dispossessed", author, tags=["sf"])
        status, body = await self.call("PATCH", f"/books/{book['id']}", {
            "title": "Changed", "tags": ["fine", ""]})
        self.assertEqual(status, 422)
        status, shown = await self.call("GET", f"/books/{book['id']}")
        self.assertEqual((shown["title"], shown["tags"]), ("The Dispossessed", ["sf"]))
        self.assertEqual(await Tag.pluck("name"), ["sf"])

    async def test_delete(self):
        """
        C{DELETE} of a book deletes its reviews and its links to tags (not
        the tags); of an author, their books too. Both answer C{204}.
        """
        Author, Book, Review, Tag = (self.models.Author, self.models.Book, self.models.Review,
                                     self.models.Tag)
        leGuin = await self.addAuthor("Le Guin")
        tolkien = await self.addAuthor("Tolkien")
        earthsea = await self.addBook("Earthsea", leGuin, tags=["fantasy"])
        await self.addBook("The Dispossessed", leGuin, tags=["sf"])
        hobbit = await self.addBook("The Hobbit", tolkien, tags=["fantasy"])
        for book in (earthsea, hobbit):
            status, _ = await self.call("POST", f"/books/{book['id']}/reviews", {"rating": 5})
            self.assertEqual(status, 201)
        status, body = await self.call("DELETE", f"/books/{earthsea['id']}")
        self.assertEqual((status, body), (204, None))
        status, _ = await self.call("GET", f"/books/{earthsea['id']}")
        self.assertEqual(status, 404)
        self.assertEqual(await Review.count(), 1)
        fantasy = (await Tag.findBy(name="fantasy"))[0]
        self.assertEqual([book.title for book in await fantasy.books.get()], ["The Hobbit"])
        status, body = await self.call("DELETE", f"/authors/{leGuin}")
        self.assertEqual((status, body), (204, None))
        self.assertEqual(await Author.pluck("name"), ["Tolkien"])
        self.assertEqual(await Book.pluck("title"), ["The Hobbit"])
        self.assertEqual(sorted(await Tag.pluck("name")), ["fantasy", "sf"])
        self.assertEqual(await Review.count(), 1)

    async def test_reviews(self):
        """
        A book's reviews are listed and created under the book, shown,
        changed and deleted under C{/reviews}.
        """
        book = await self.addBook("Earthsea", await self.addAuthor("Le Guin"))
        reviews = f"/books/{book['id']}/reviews"
        status, first = await self.call("POST", reviews, {"rating": 4, "body": "Wise."})
        self.assertEqual((status, first["book_id"], first["rating"], first["body"]),
                         (201, book["id"], 4, "Wise."))
        status, second = await self.call("POST", reviews, {"rating": 5})
        self.assertIsNone(second["body"])
        status, listed = await self.call("GET", reviews)
        self.assertEqual(listed, [first, second])
        status, shown = await self.call("GET", f"/reviews/{first['id']}")
        self.assertEqual(shown, first)
        status, changed = await self.call("PATCH", f"/reviews/{first['id']}", {"rating": 5})
        self.assertEqual((status, changed["rating"], changed["body"]), (200, 5, "Wise."))
        status, body = await self.call("PATCH", f"/reviews/{first['id']}", {"book_id": 1})
        self.assertEqual((status, body["errors"]), (422, {"book_id": ["book_id is not a field."]}))
        status, _ = await self.call("DELETE", f"/reviews/{first['id']}")
        self.assertEqual(status, 204)
        status, listed = await self.call("GET", reviews)
        self.assertEqual([review["id"] for review in listed], [second["id"]])

    async def test_program(self):
        """
        C{app.py}, run as a program with C{DATABASE_URL} naming the test's
        database (migrated already: it applies nothing), serves the API on
        that database.
        """
        env = dict(os.environ, DATABASE_URL=self.databaseURL)
        service = await startProgram(self, env, tempfile.mkdtemp(dir="."))
        self.assertIn(b"migrations applied: none", service.output)
        self.url = b"http://127.0.0.1:%d" % (service.port,)
        self.served = None
        author = await self.addAuthor("Le Guin")
        [found] = await self.models.Author.find(where=["id = ?", author])
        self.assertEqual(found.name, "Le Guin")
        self.assertEqual(await stopProgram(service), 0)


class ProgramTests(HTTPClient, unittest.TestCase):
    """
    C{examples/service/app.py}, run as a program.
    """

    skip = NO_CHECKOUT or NO_YOYO or NO_WEB

    async def test_migratesAndServes(self):
        """
        Without C{--database} or C{DATABASE_URL}, C{app.py} makes the SQLite
        file C{bookshop.db} in the current directory, applies the
        migrations to it and serves the API.
        """
        directory = os.path.abspath(tempfile.mkdtemp(dir="."))
        env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
        service = await startProgram(self, env, directory)
        self.assertIn(b"migrations applied: 0001_create_tables, 0002_add_books_published_year",
                      service.output)
        self.assertTrue(os.path.exists(os.path.join(directory, "bookshop.db")))
        self.url = b"http://127.0.0.1:%d" % (service.port,)
        self.startClient()
        status, page = await self.call("GET", "/books")
        self.assertEqual((status, page), (200, {"items": [], "page": 1, "pages": 0, "total": 0}))
        self.assertEqual(await stopProgram(service), 0)

    async def test_help(self):
        """
        C{app.py --help} describes its options.
        """
        out, err, code = await getProcessOutputAndValue(
            sys.executable, [str(SERVICE / "app.py"), "--help"],
            env=programEnvironment(dict(os.environ)))
        self.assertEqual(code, 0, err)
        for option in (b"--port", b"--interface", b"--database", b"DATABASE_URL"):
            self.assertIn(option, out)


class ServiceProcess(protocol.ProcessProtocol):
    """
    C{app.py} running: its output, and the port it serves on once it says.

    @ivar serving: a L{Deferred} of the port (it fails if the program ends
        first).
    @ivar ended: a L{Deferred} of the exit status.
    """

    def __init__(self) -> None:
        self.output = b""
        self.port: int | None = None
        self.serving: defer.Deferred[int] = defer.Deferred()
        self.ended: defer.Deferred[int] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        found = re.search(rb"serving http://127\.0\.0\.1:(\d+)/", self.output)
        if found and not self.serving.called:
            self.port = int(found.group(1))
            self.serving.callback(self.port)

    errReceived = outReceived

    def processEnded(self, reason: Any) -> None:
        if not self.serving.called:
            self.serving.errback(AssertionError(
                "app.py ended before serving:\n" + self.output.decode(errors="replace")))
        self.ended.callback(reason.value.exitCode)


def programEnvironment(env: dict[str, str]) -> dict[str, str]:
    """
    @return: C{env}, with the twistar these tests import first on the path.
    """
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_PARENT), *filter(None, [env.get("PYTHONPATH")])])
    return env


async def startProgram(testCase: unittest.TestCase, env: dict[str, str],
                       directory: str) -> ServiceProcess:
    """
    Run C{app.py --port 0} in C{directory} until C{testCase} ends.

    @return: the running program, serving.
    """
    service = ServiceProcess()
    transport = reactor.spawnProcess(
        service, sys.executable, [sys.executable, str(SERVICE / "app.py"), "--port", "0"],
        env=programEnvironment(env), path=directory)

    async def kill() -> None:
        if not service.ended.called:
            transport.signalProcess("KILL")
            await service.ended

    testCase.addCleanup(lambda: defer.ensureDeferred(kill()))
    await service.serving
    return service


async def stopProgram(service: ServiceProcess) -> int:
    """
    Stop C{service} as Ctrl-C would.

    @return: its exit status.
    """
    transport: Any = service.transport
    transport.signalProcess("INT")
    return await service.ended
