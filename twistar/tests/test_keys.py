"""
Tests for primary keys other than C{id}: one column of any name
(C{PRIMARY_KEY = "uuid"}), composite keys (C{PRIMARY_KEY = ("tenant_id",
"number")}), keys the database makes (an auto-increment column of another
name; on PostgreSQL and SQLite a C{DEFAULT} expression read back with
C{RETURNING}) and keys the application makes (C{KEY_GENERATOR}): saving,
finding, deleting, bulk writes, locking, validation, the query layer and
every kind of relationship, eagerly loaded and joined.

The tests make their own tables (L{KeyTestCase.setUp}), per backend, and
check what they write by reading the tables with plain SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from twisted.internet.defer import maybeDeferred
from twisted.trial.unittest import SynchronousTestCase

from twistar.dbobject import DBObject
from twistar.exceptions import (
    CannotRefreshError,
    DBObjectSaveError,
    IntegrityError,
    InvalidIdentifierError,
    InvalidRelationshipError,
    StaleObjectError,
    TwistarError,
)
from twistar.registry import Registry
from twistar.tests.helpers import (
    MYSQL,
    POSTGRES,
    SQLITE,
    DBTestCase,
    _createTables,
    _emptyTables,
    testDatabase,
)
from twistar.tests.models import User
from twistar.tests.test_logging import captureQueries

# -- tables ---------------------------------------------------------------------

_TEXT_KEY = "VARCHAR(64)"


def keyTables(kind: str) -> dict[str, list[str]]:
    """
    @param kind: C{"sqlite"}, C{"postgres"} or C{"mysql"}.
    @return: the tables of these tests, as L{twistar.tests.helpers.TABLES}
        gives them: the C{tickets} key is made by the database from a
        C{DEFAULT} expression (a C{UUID} on PostgreSQL).
    """
    generated = {
        SQLITE: "uuid TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16))))",
        POSTGRES: "uuid UUID PRIMARY KEY DEFAULT gen_random_uuid()",
        MYSQL: "uuid VARCHAR(36) PRIMARY KEY DEFAULT (UUID())",
    }[kind]
    ticketReference = {SQLITE: "TEXT", POSTGRES: "UUID", MYSQL: "VARCHAR(36)"}[kind]
    return {
        "gadgets": ["code_id {pk}", "name {str} UNIQUE", "size {int}", f"movie_id {_TEXT_KEY}"],
        "tokens": [f"id {_TEXT_KEY} PRIMARY KEY", "value {str}"],
        "movies": [f"uuid {_TEXT_KEY} PRIMARY KEY", "title {str} UNIQUE", "year {int}",
                   "lock_version {int}"],
        "castings": ["id {pk}", f"movie_id {_TEXT_KEY}", "actor {str}"],
        "posters": ["id {pk}", f"movie_id {_TEXT_KEY}", "url {str}"],
        "genres": [f"slug {_TEXT_KEY} PRIMARY KEY", "name {str}"],
        "genres_movies": [f"genre_id {_TEXT_KEY}", f"movie_id {_TEXT_KEY}"],
        "purchases": ["tenant_id {int} NOT NULL", "number {int} NOT NULL", "total {int}",
                      "note {str}", "lock_version {int}", "buyer_id {int}",
                      "PRIMARY KEY (tenant_id, number)"],
        "buyers": ["id {pk}", "name {str}"],
        "purchase_lines": ["id {pk}", "purchase_tenant_id {int}", "purchase_number {int}",
                           "product {str}"],
        "shipments": ["id {pk}", "tenant_id {int}", "purchase_number {int}", "carrier {str}"],
        "tags": ["id {pk}", "name {str}"],
        "purchases_tags": ["purchase_tenant_id {int}", "purchase_number {int}", "tag_id {int}"],
        "tag_links": ["tag_ref {int}", "p_tenant {int}", "p_number {int}"],
        "tickets": [generated, "seat {str} UNIQUE"],
        "scans": ["id {pk}", f"ticket_id {ticketReference}", "gate {str}"],
    }


# The server databases whose tables were made by this process: later tests
# only empty them.
_made: set[str] = set()


# -- models ---------------------------------------------------------------------


class Gadget(DBObject):
    """
    A row of C{gadgets}, whose key C{code_id} the database makes
    (auto-increment); it may belong to a movie.
    """

    PRIMARY_KEY = "code_id"
    BELONGSTO = ["movie"]

    code_id: Any
    name: str | None
    size: int | None


issuedTokens: list[str] = []
"""Every key L{issueToken} made."""


def issueToken() -> str:
    """
    The C{KEY_GENERATOR} of L{Token}: a plain function, recording its calls.

    @return: a new key.
    """
    token = f"tok-{uuid4().hex}"
    issuedTokens.append(token)
    return token


class Token(DBObject):
    """
    A row of C{tokens}: its key column is C{id}, a text made by
    L{issueToken}.
    """

    KEY_GENERATOR = issueToken

    value: str | None


class Movie(DBObject):
    """
    A row of C{movies}, keyed by C{uuid}, a text the application makes.
    """

    PRIMARY_KEY = "uuid"
    # A lambda, the form the docs show (a function that would bind as a method).
    KEY_GENERATOR = lambda: str(uuid4())  # noqa: E731
    HASMANY = ["castings", "gadgets"]
    HASONE = ["poster"]
    HABTM = ["genres"]

    uuid: str | None
    title: str | None
    year: int | None


class Casting(DBObject):
    """
    A row of C{castings}, whose C{movie_id} holds a movie's C{uuid}.
    """

    BELONGSTO = ["movie"]


class Poster(DBObject):
    """
    A row of C{posters}, the one poster of a movie (C{movie_id}).
    """

    BELONGSTO = ["movie"]


class Genre(DBObject):
    """
    A row of C{genres}, keyed by C{slug}, which the application sets;
    joined to movies by C{genres_movies}.
    """

    PRIMARY_KEY = "slug"
    HABTM = ["movies"]

    slug: str | None
    name: str | None


class Purchase(DBObject):
    """
    A row of C{purchases}, keyed by C{(tenant_id, number)}: lines (default
    foreign key columns), a shipment (declared ones), tags (the default join
    table) and labels (a join table of declared columns); it may belong to
    a buyer.
    """

    PRIMARY_KEY = ("tenant_id", "number")
    HASMANY = ["purchase_lines"]
    BELONGSTO = ["buyer"]
    HASONE = [{"name": "shipment", "foreign_key": ("tenant_id", "purchase_number")}]
    HABTM = [
        "tags",
        {"name": "labels", "class_name": "Tag", "join_table": "tag_links",
         "foreign_key": ("p_tenant", "p_number"), "association_foreign_key": "tag_ref"},
    ]

    tenant_id: int | None
    number: int | None
    total: int | None
    note: str | None


class Buyer(DBObject):
    """
    A row of C{buyers}, whose purchases (composite keys) name it by
    C{buyer_id}; its last purchase is one of them.
    """

    HASMANY = ["purchases"]
    HASONE = [{"name": "last_purchase", "class_name": "Purchase", "foreign_key": "buyer_id"}]


class PurchaseLine(DBObject):
    """
    A row of C{purchase_lines}: C{(purchase_tenant_id, purchase_number)}
    name its purchase.
    """

    BELONGSTO = ["purchase"]


class Shipment(DBObject):
    """
    A row of C{shipments}: C{(tenant_id, purchase_number)} name its purchase.
    """

    BELONGSTO = [{"name": "purchase", "foreign_key": ("tenant_id", "purchase_number")}]


class Tag(DBObject):
    """
    A row of C{tags}, joined to purchases by C{purchases_tags} (defaults)
    and by C{tag_links} (declared columns, as C{orders}).
    """

    HABTM = [
        "purchases",
        {"name": "orders", "class_name": "Purchase", "join_table": "tag_links",
         "foreign_key": "tag_ref", "association_foreign_key": ("p_tenant", "p_number")},
    ]


class Ticket(DBObject):
    """
    A row of C{tickets}, whose C{uuid} key the database makes from a
    C{DEFAULT} expression.
    """

    PRIMARY_KEY = "uuid"
    HASMANY = ["scans"]

    uuid: Any
    seat: str | None


class Scan(DBObject):
    """
    A row of C{scans}, whose C{ticket_id} holds a ticket's C{uuid}.
    """

    BELONGSTO = ["ticket"]


class LockedMovie(DBObject):
    """
    C{movies} again, optimistically locked.
    """

    TABLENAME = "movies"
    PRIMARY_KEY = "uuid"
    KEY_GENERATOR = lambda: str(uuid4())  # noqa: E731
    LOCK_VERSION = "lock_version"


class LockedPurchase(DBObject):
    """
    C{purchases} again, optimistically locked.
    """

    TABLENAME = "purchases"
    PRIMARY_KEY = ("tenant_id", "number")
    LOCK_VERSION = "lock_version"


class UniqueGenre(DBObject):
    """
    C{genres} again, whose names are unique.
    """

    TABLENAME = "genres"
    PRIMARY_KEY = "slug"


class UniquePurchase(DBObject):
    """
    C{purchases} again, whose notes are unique.
    """

    TABLENAME = "purchases"
    PRIMARY_KEY = ("tenant_id", "number")


UniqueGenre.validatesUniquenessOf("name")
UniquePurchase.validatesUniquenessOf("note")
Registry.register(
    Gadget, Token, Movie, Casting, Poster, Genre, Purchase, PurchaseLine, Shipment, Tag,
    Ticket, Scan, Buyer, LockedMovie, LockedPurchase, UniqueGenre, UniquePurchase,
)


# -- declarations -----------------------------------------------------------------


class KeyDeclarationTests(SynchronousTestCase):
    """
    C{PRIMARY_KEY} and C{KEY_GENERATOR} are checked when a class is defined
    and when they are assigned.
    """

    BAD_KEYS: list[Any] = [
        "uuid; DROP TABLE movies", "", "two words", 'uu"id', (), ("a", "a"), ("a", ""),
        ("a", 5), 5, None,
    ]

    def assertRefused(self, **namespace: Any) -> None:
        """
        Assert that a model with the class attributes C{namespace} cannot be
        defined: L{InvalidIdentifierError}.
        """
        try:
            type("Refused", (DBObject,), dict(namespace))
        except InvalidIdentifierError:
            return
        self.fail(f"a model with {namespace!r} was defined")

    def test_default(self) -> None:
        """
        Models are keyed by C{id}, with no generator, unless they say so.
        """
        self.assertEqual(DBObject.PRIMARY_KEY, "id")
        self.assertIsNone(DBObject.KEY_GENERATOR)
        self.assertEqual(User.PRIMARY_KEY, "id")
        self.assertIsNone(User.KEY_GENERATOR)

    def test_badPrimaryKey(self) -> None:
        """
        A C{PRIMARY_KEY} that is not a column name or a non-empty tuple of
        distinct ones is refused.
        """
        for value in self.BAD_KEYS:
            self.assertRefused(PRIMARY_KEY=value)

    def test_badGenerator(self) -> None:
        """
        A C{KEY_GENERATOR} must be callable, and cannot make a composite key.
        """
        self.assertRefused(PRIMARY_KEY="uuid", KEY_GENERATOR="uuid4")
        self.assertRefused(PRIMARY_KEY="uuid", KEY_GENERATOR=UUID(int=1))
        self.assertRefused(PRIMARY_KEY=("tenant_id", "number"), KEY_GENERATOR=uuid4)

    def test_goodDeclarations(self) -> None:
        """
        One column of any name, a tuple of columns, and a generator for one
        column are taken as given.
        """
        keyed: Any = type("Keyed", (DBObject,), {"PRIMARY_KEY": "code_id"})
        self.assertEqual(keyed.PRIMARY_KEY, "code_id")
        pair: Any = type("Pair", (DBObject,), {"PRIMARY_KEY": ("tenant_id", "number")})
        self.assertEqual(pair.PRIMARY_KEY, ("tenant_id", "number"))
        self.assertIs(Token.KEY_GENERATOR, issueToken)

    def test_badAssignments(self) -> None:
        """
        Assigning a bad C{PRIMARY_KEY} or C{KEY_GENERATOR}, or one that does
        not go with the other, fails and leaves the class as it was.
        """

        class Keyed(DBObject):
            PRIMARY_KEY = "uuid"

        class Pair(DBObject):
            PRIMARY_KEY = ("tenant_id", "number")

        class Generated(DBObject):
            PRIMARY_KEY: str | tuple[str, ...] = "uuid"
            KEY_GENERATOR = uuid4

        for value in self.BAD_KEYS:
            with self.assertRaises(InvalidIdentifierError):
                Keyed.PRIMARY_KEY = value
        self.assertEqual(Keyed.PRIMARY_KEY, "uuid")
        with self.assertRaises(InvalidIdentifierError):
            Keyed.KEY_GENERATOR = "uuid4"  # type: ignore[assignment]
        self.assertIsNone(Keyed.KEY_GENERATOR)
        with self.assertRaises(InvalidIdentifierError):
            Pair.KEY_GENERATOR = uuid4
        self.assertIsNone(Pair.KEY_GENERATOR)
        with self.assertRaises(InvalidIdentifierError):
            Generated.PRIMARY_KEY = ("tenant_id", "number")
        self.assertEqual(Generated.PRIMARY_KEY, "uuid")

    def test_goodAssignments(self) -> None:
        """
        A good C{PRIMARY_KEY} or C{KEY_GENERATOR} can be assigned.
        """

        class Keyed(DBObject):
            pass

        Keyed.PRIMARY_KEY = ("tenant_id", "number")
        self.assertEqual(Keyed.PRIMARY_KEY, ("tenant_id", "number"))
        Keyed.PRIMARY_KEY = "uuid"
        Keyed.KEY_GENERATOR = uuid4
        self.assertEqual((Keyed.PRIMARY_KEY, Keyed.KEY_GENERATOR), ("uuid", uuid4))
        Keyed.KEY_GENERATOR = None
        self.assertIsNone(Keyed.KEY_GENERATOR)


# -- fixtures ---------------------------------------------------------------------


class KeyTestCase(DBTestCase):
    """
    A test case with this module's tables, empty, and helpers reading them.
    """

    async def setUp(self) -> None:
        await super().setUp()
        tables = keyTables(self.backend)
        if self.backend == SQLITE or testDatabase() not in _made:
            await self.pool.runInteraction(_createTables, self.backend, tables)
            if self.backend != SQLITE:
                _made.add(testDatabase())
        else:
            await self.pool.runInteraction(_emptyTables, tables)

    async def table(self, sql: str) -> list[tuple[Any, ...]]:
        """
        @param sql: a C{SELECT} without placeholders.
        @return: its rows, as tuples.
        """
        return [tuple(row) for row in await self.pool.runQuery(sql)]

    async def countRows(self, source: str) -> int:
        """
        @param source: a table, with a C{WHERE} clause or not.
        @return: the number of its rows.
        """
        return int((await self.table(f"SELECT COUNT(*) FROM {source}"))[0][0])

    async def movieRows(self) -> list[tuple[Any, ...]]:
        """
        @return: C{(uuid, title, year)} of every movie, by title.
        """
        return await self.table("SELECT uuid, title, year FROM movies ORDER BY title")

    async def purchaseRows(self) -> list[tuple[Any, ...]]:
        """
        @return: C{(tenant_id, number, total, note)} of every purchase, by key.
        """
        return await self.table(
            "SELECT tenant_id, number, total, note FROM purchases ORDER BY tenant_id, number"
        )

    async def assertFailsWith(self, work: Any, error: type[Exception]) -> Exception:
        """
        Assert that calling C{work} raises C{error} or gives a L{Deferred}
        that fails with it.

        @return: the exception.
        """
        return await self.assertFailure(maybeDeferred(work), error)

    def quoted(self, name: str) -> str:
        """
        @return: C{name} quoted as twistar quotes identifiers on this backend.
        """
        return self.config.quoteIdentifier(name)


@dataclass
class Cinema:
    """
    Movies (keyed by uuid) with castings, posters and genres (keyed by slug).
    """

    up: Movie
    heat: Movie
    jaws: Movie
    ann: Casting
    bob: Casting
    cy: Casting
    dee: Casting
    upPoster: Poster
    jawsPoster: Poster
    drama: Genre
    action: Genre
    kids: Genre


async def makeCinema(test: KeyTestCase) -> Cinema:
    """
    Save: movies Up (2009), Heat (1995), Jaws (1975); castings Ann and Bob
    (Up), Cy (Heat), Dee (no movie); posters of Up and Jaws; genres drama,
    action and kids, Up being kids and drama, Heat action and drama (join
    rows written with SQL).
    """
    up = await Movie(title="Up", year=2009).save()
    heat = await Movie(title="Heat", year=1995).save()
    jaws = await Movie(title="Jaws", year=1975).save()
    ann = await Casting(actor="Ann", movie_id=up.uuid).save()
    bob = await Casting(actor="Bob", movie_id=up.uuid).save()
    cy = await Casting(actor="Cy", movie_id=heat.uuid).save()
    dee = await Casting(actor="Dee").save()
    upPoster = await Poster(url="up.png", movie_id=up.uuid).save()
    jawsPoster = await Poster(url="jaws.png", movie_id=jaws.uuid).save()
    drama = await Genre(slug="drama", name="Drama").save()
    action = await Genre(slug="action", name="Action").save()
    kids = await Genre(slug="kids", name="Kids").save()
    for genre, movie in ((kids, up), (drama, up), (action, heat), (drama, heat)):
        await test.pool.runOperation(
            f"INSERT INTO genres_movies (genre_id, movie_id) "
            f"VALUES ('{genre.slug}', '{movie.uuid}')"
        )
    return Cinema(up, heat, jaws, ann, bob, cy, dee, upPoster, jawsPoster, drama, action, kids)


# The keys of the purchases of makeShop, in the order they are saved (not
# the key order), and their totals.
SHOP_KEYS = [(2, 1), (1, 2), (2, 2), (1, 1)]
SHOP_TOTALS = {(2, 1): 30, (1, 2): 20, (2, 2): 40, (1, 1): 10}


@dataclass
class Shop:
    """
    Purchases (keyed by tenant and number) with lines, shipments and tags.
    """

    purchases: dict[tuple[int, int], Purchase]
    pen: PurchaseLine
    ink: PurchaseLine
    cup: PurchaseLine
    pad: PurchaseLine
    loose: PurchaseLine
    dhl: Shipment
    ups: Shipment
    red: Tag
    blue: Tag
    green: Tag


async def makeShop(test: KeyTestCase) -> Shop:
    """
    Save purchases (1, 1), (1, 2), (2, 1), (2, 2) (L{SHOP_KEYS}; note
    C{"n<tenant><number>"}); lines pen and ink of (1, 2), cup of (2, 1), pad
    of (1, 1) and loose of none; shipments dhl of (1, 2) and ups of (2, 1);
    tags red ((1, 2), (2, 1)), blue ((1, 2)) and green ((1, 1)) in
    C{purchases_tags}, and blue as a label of (2, 2) in C{tag_links} (join
    rows written with SQL). Many of these share one key column with another
    purchase, so that matching one column only shows.
    """
    purchases = {}
    for tenant, number in SHOP_KEYS:
        purchases[(tenant, number)] = await Purchase(
            tenant_id=tenant, number=number, total=SHOP_TOTALS[(tenant, number)],
            note=f"n{tenant}{number}",
        ).save()

    def line(product: str, key: tuple[int, int] | None) -> Any:
        tenant, number = key or (None, None)
        return PurchaseLine(
            product=product, purchase_tenant_id=tenant, purchase_number=number
        ).save()

    pen, ink = await line("pen", (1, 2)), await line("ink", (1, 2))
    cup, pad = await line("cup", (2, 1)), await line("pad", (1, 1))
    loose = await line("loose", None)
    dhl = await Shipment(carrier="dhl", tenant_id=1, purchase_number=2).save()
    ups = await Shipment(carrier="ups", tenant_id=2, purchase_number=1).save()
    red, blue, green = [await Tag(name=name).save() for name in ("red", "blue", "green")]
    for tag, (tenant, number) in ((red, (1, 2)), (red, (2, 1)), (blue, (1, 2)), (green, (1, 1))):
        await test.pool.runOperation(
            f"INSERT INTO purchases_tags (purchase_tenant_id, purchase_number, tag_id) "
            f"VALUES ({tenant}, {number}, {tag.id})"
        )
    await test.pool.runOperation(
        f"INSERT INTO tag_links (tag_ref, p_tenant, p_number) VALUES ({blue.id}, 2, 2)"
    )
    return Shop(purchases, pen, ink, cup, pad, loose, dhl, ups, red, blue, green)


def keysOf(purchases: list[Any]) -> list[tuple[int, int]]:
    """
    @return: the keys of C{purchases}, sorted.
    """
    return sorted((p.tenant_id, p.number) for p in purchases)


def titles(movies: list[Any]) -> list[str]:
    """
    @return: the titles of C{movies}, sorted.
    """
    return sorted(m.title for m in movies)


# -- one key column ---------------------------------------------------------------


class SingleKeyTests(KeyTestCase):
    """
    Saving, finding, deleting and comparing objects keyed by one column
    other than C{id}.
    """

    async def test_newUntilSaved(self) -> None:
        """
        An object given its key is new until saved: saving it inserts the
        row; saving it again updates that row.
        """
        queries = captureQueries(self)
        genre = await Genre(slug="drama", name="Drama").save()
        self.assertEqual((len(queries.starting("INSERT")), queries.starting("UPDATE")), (1, []))
        self.assertEqual(await self.table("SELECT slug, name FROM genres"), [("drama", "Drama")])
        queries.reset()
        genre.name = "Dramas"
        await genre.save()
        self.assertEqual((queries.starting("INSERT"), len(queries.starting("UPDATE"))), ([], 1))
        self.assertEqual(await self.table("SELECT slug, name FROM genres"), [("drama", "Dramas")])
        self.assertEqual(genre.slug, "drama")

    async def test_newObjectOfExistingKey(self) -> None:
        """
        A new object given the key of an existing row is inserted too, so
        the database refuses it, and the row is left as it was.
        """
        await Genre(slug="drama", name="Drama").save()
        await self.assertFailure(Genre(slug="drama", name="Other").save(), IntegrityError)
        self.assertEqual(await self.table("SELECT slug, name FROM genres"), [("drama", "Drama")])

    async def test_generatorLambda(self) -> None:
        """
        A C{KEY_GENERATOR} lambda gives a new object its key when it is
        inserted; a key the object has is kept.
        """
        movie = await Movie(title="Up", year=2009).save()
        self.assertEqual(str(UUID(movie.uuid)), movie.uuid)
        given = str(uuid4())
        mine = await Movie(uuid=given, title="Heat").save()
        self.assertEqual(mine.uuid, given)
        self.assertEqual(await self.movieRows(),
                         [(given, "Heat", None), (movie.uuid, "Up", 2009)])

    async def test_generatorCalledOnlyWithoutKey(self) -> None:
        """
        The generator (a plain function) is called once per object inserted
        without a key, and not for one with a key; a model keyed by C{id}
        with a generator treats an object given its C{id} as new.
        """
        before = len(issuedTokens)
        made = await Token(value="a").save()
        self.assertEqual(issuedTokens[before:], [made.id])
        given = await Token(id="mine", value="b").save()
        self.assertEqual(len(issuedTokens), before + 1)
        given.value = "c"
        await given.save()
        self.assertEqual(await self.table("SELECT id, value FROM tokens ORDER BY value"),
                         [(made.id, "a"), ("mine", "c")])

    async def test_find(self) -> None:
        """
        C{find} takes a key value; C{findBy} and C{all} find objects holding
        their keys.
        """
        c = await makeCinema(self)
        found = await Movie.find(c.heat.uuid)
        self.assertEqual((found.uuid, found.title, found.year), (c.heat.uuid, "Heat", 1995))
        self.assertIsNone(await Movie.find(str(uuid4())))
        self.assertEqual([m.uuid for m in await Movie.findBy(year=2009)], [c.up.uuid])
        self.assertEqual([m.title for m in await Movie.findBy(uuid=c.jaws.uuid)], ["Jaws"])
        self.assertEqual((await Genre.find("kids")).name, "Kids")
        created = await Genre.findOrCreate(slug="noir", name="Noir")
        self.assertEqual(await Genre.findOrCreate(slug="noir", name="Noir"), created)
        self.assertEqual(await self.countRows("genres WHERE slug = 'noir'"), 1)
        self.assertEqual(sorted(g.slug for g in await Genre.all()),
                         ["action", "drama", "kids", "noir"])

    async def test_updateChangedColumns(self) -> None:
        """
        Saving a loaded object updates its changed columns in the row its key
        names, and nothing when nothing changed.
        """
        c = await makeCinema(self)
        movie = await Movie.find(c.heat.uuid)
        queries = captureQueries(self)
        await movie.save()
        self.assertEqual(queries.starting("UPDATE"), [])
        movie.title = "Heat!"
        await movie.save()
        (update,) = queries.starting("UPDATE")
        self.assertIn(self.quoted("title"), update)
        self.assertNotIn(self.quoted("year"), update)
        self.assertRegex(update, r"WHERE .*uuid")
        self.assertEqual(await self.movieRows(), [
            (c.heat.uuid, "Heat!", 1995), (c.jaws.uuid, "Jaws", 1975), (c.up.uuid, "Up", 2009),
        ])
        queries.reset()
        await movie.save()
        self.assertEqual(queries.starting("UPDATE"), [])

    async def test_changeKey(self) -> None:
        """
        Changing the key of a loaded object and saving it updates the row its
        old key names; it is then the row of its new key.
        """
        await Genre(slug="drama", name="Drama").save()
        await Genre(slug="kids", name="Kids").save()
        genre = await Genre.find("drama")
        genre.slug = "thriller"
        await genre.save()
        self.assertEqual(await self.table("SELECT slug, name FROM genres ORDER BY slug"),
                         [("kids", "Kids"), ("thriller", "Drama")])
        self.assertIsNone(await Genre.find("drama"))
        genre.name = "Thriller"
        await genre.save()
        self.assertEqual(await self.table("SELECT slug, name FROM genres ORDER BY slug"),
                         [("kids", "Kids"), ("thriller", "Thriller")])

    async def test_delete(self) -> None:
        """
        Deleting an object deletes the row its key names (and its join
        rows), and nothing else; it cannot be saved again.
        """
        c = await makeCinema(self)
        await c.heat.delete()
        self.assertEqual([row[1] for row in await self.movieRows()], ["Jaws", "Up"])
        self.assertEqual(
            sorted(await self.table("SELECT genre_id, movie_id FROM genres_movies")),
            sorted([("drama", c.up.uuid), ("kids", c.up.uuid)]),
        )
        with self.assertRaises(DBObjectSaveError):
            c.heat.save()
        await c.drama.delete()
        self.assertEqual(await self.table("SELECT genre_id, movie_id FROM genres_movies"),
                         [("kids", c.up.uuid)])
        self.assertEqual(await self.table("SELECT slug FROM genres ORDER BY slug"),
                         [("action",), ("kids",)])

    async def test_refresh(self) -> None:
        """
        C{refresh} reloads the row the key names; it fails when that row
        is gone.
        """
        c = await makeCinema(self)
        await self.pool.runOperation(f"UPDATE movies SET year = 1 WHERE uuid = '{c.up.uuid}'")
        await c.up.refresh()
        self.assertEqual((c.up.title, c.up.year), ("Up", 1))
        await c.heat.refresh()
        self.assertEqual(c.heat.year, 1995)
        await self.pool.runOperation("DELETE FROM genres WHERE slug = 'kids'")
        await self.assertFailure(c.kids.refresh(), CannotRefreshError)

    async def test_equalityAndHash(self) -> None:
        """
        Objects of one row are equal and hash equal; objects of other rows
        are not; an unsaved object is equal only to itself, whatever its key.
        """
        c = await makeCinema(self)
        first, second = await Movie.find(c.up.uuid), await Movie.find(c.up.uuid)
        self.assertEqual(first, second)
        self.assertEqual(hash(first), hash(second))
        self.assertEqual(first, c.up)
        self.assertEqual(len({first, second, c.up}), 1)
        self.assertEqual({first: "found"}[second], "found")
        self.assertNotEqual(first, c.heat)
        unsaved = Movie(uuid=c.up.uuid, title="Up")
        self.assertNotEqual(unsaved, first)
        self.assertNotEqual(unsaved, Movie(uuid=c.up.uuid, title="Up"))
        self.assertEqual(unsaved, unsaved)
        gadget = await Gadget(name="g").save()
        self.assertEqual(await Gadget.find(gadget.code_id), gadget)
        self.assertNotEqual(Gadget(code_id=gadget.code_id), gadget)

    async def test_idModelsUnchanged(self) -> None:
        """
        A model keyed by C{id} without a generator keeps twistar 2.0's rule:
        an object is new exactly when its C{id} is C{None}.
        """
        user = await User(first_name="Ann").save()
        await User(id=user.id, first_name="Bea").save()
        self.assertEqual([(u.id, u.first_name) for u in await User.all()], [(user.id, "Bea")])
        copy = await User.find(user.id)
        copy.id = None
        await copy.save()
        self.assertNotEqual(copy.id, user.id)
        self.assertEqual(await User.count(), 2)


class SingleKeySecondDriverTests(SingleKeyTests):
    """
    L{SingleKeyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- composite keys -----------------------------------------------------------------


class CompositeKeyTests(KeyTestCase):
    """
    Saving, finding, deleting and comparing objects keyed by two columns.
    """

    async def test_find(self) -> None:
        """
        C{find} takes a tuple of the key's values; found objects hold both.
        """
        await makeShop(self)
        found = await Purchase.find((1, 2))
        self.assertEqual((found.tenant_id, found.number, found.total, found.note),
                         (1, 2, 20, "n12"))
        self.assertEqual((await Purchase.find((2, 1))).note, "n21")
        self.assertIsNone(await Purchase.find((1, 3)))
        self.assertEqual(keysOf(await Purchase.findBy(tenant_id=1)), [(1, 1), (1, 2)])
        self.assertEqual(keysOf(await Purchase.findBy(number=1)), [(1, 1), (2, 1)])

    async def test_newUntilSaved(self) -> None:
        """
        A new object is inserted; saved again it updates its row only; a
        new object of an existing key is refused by the database.
        """
        await makeShop(self)
        queries = captureQueries(self)
        purchase = await Purchase(tenant_id=3, number=1, total=5).save()
        self.assertEqual((len(queries.starting("INSERT")), queries.starting("UPDATE")), (1, []))
        purchase.total = 6
        await purchase.save()
        (update,) = queries.starting("UPDATE")
        self.assertRegex(update, r"WHERE .*tenant_id.*number|WHERE .*number.*tenant_id")
        rows = await self.purchaseRows()
        self.assertEqual(rows[-1], (3, 1, 6, None))
        self.assertEqual(rows[:-1], [(1, 1, 10, "n11"), (1, 2, 20, "n12"), (2, 1, 30, "n21"),
                                     (2, 2, 40, "n22")])
        await self.assertFailure(Purchase(tenant_id=1, number=2).save(), IntegrityError)
        self.assertEqual(await self.purchaseRows(), rows)

    async def test_updateOneRow(self) -> None:
        """
        Saving a changed loaded object updates its row, not rows sharing one
        of its key's values.
        """
        await makeShop(self)
        purchase = await Purchase.find((1, 2))
        purchase.note = "changed"
        await purchase.save()
        self.assertEqual(await self.purchaseRows(), [
            (1, 1, 10, "n11"), (1, 2, 20, "changed"), (2, 1, 30, "n21"), (2, 2, 40, "n22"),
        ])

    async def test_changeKey(self) -> None:
        """
        Changing a key column of a loaded object and saving it updates the
        row its old key names; it is then the row of its new key.
        """
        await makeShop(self)
        purchase = await Purchase.find((1, 2))
        purchase.number = 7
        await purchase.save()
        self.assertEqual(await self.purchaseRows(), [
            (1, 1, 10, "n11"), (1, 7, 20, "n12"), (2, 1, 30, "n21"), (2, 2, 40, "n22"),
        ])
        self.assertIsNone(await Purchase.find((1, 2)))
        purchase.total = 21
        await purchase.save()
        self.assertEqual((await Purchase.find((1, 7))).total, 21)
        self.assertEqual(await Purchase.count(), 4)

    async def test_delete(self) -> None:
        """
        Deleting an object deletes its row and its join rows only.
        """
        shop = await makeShop(self)
        await shop.purchases[(1, 2)].delete()
        self.assertEqual([row[:2] for row in await self.purchaseRows()],
                         [(1, 1), (2, 1), (2, 2)])
        self.assertEqual(
            sorted(await self.table(
                "SELECT purchase_tenant_id, purchase_number, tag_id FROM purchases_tags"
            )),
            sorted([(2, 1, shop.red.id), (1, 1, shop.green.id)]),
        )
        await shop.purchases[(2, 2)].delete()
        self.assertEqual(await self.countRows("tag_links"), 0)
        await shop.red.delete()
        self.assertEqual(
            await self.table("SELECT purchase_tenant_id, purchase_number, tag_id "
                             "FROM purchases_tags"),
            [(1, 1, shop.green.id)],
        )

    async def test_refresh(self) -> None:
        """
        C{refresh} reloads the row the key names.
        """
        shop = await makeShop(self)
        await self.pool.runOperation("UPDATE purchases SET total = 0 WHERE tenant_id = 1")
        purchase = shop.purchases[(1, 2)]
        await purchase.refresh()
        self.assertEqual((purchase.tenant_id, purchase.number, purchase.total), (1, 2, 0))
        await self.pool.runOperation("DELETE FROM purchases WHERE tenant_id = 2 AND number = 1")
        await self.assertFailure(shop.purchases[(2, 1)].refresh(), CannotRefreshError)

    async def test_equalityAndHash(self) -> None:
        """
        Objects of one row are equal and hash equal; objects of rows sharing
        one key value are not; an unsaved object is equal only to itself.
        """
        shop = await makeShop(self)
        first, second = await Purchase.find((1, 2)), await Purchase.find((1, 2))
        self.assertEqual(first, second)
        self.assertEqual(hash(first), hash(second))
        self.assertEqual(first, shop.purchases[(1, 2)])
        self.assertEqual(len({first, second, *shop.purchases.values()}), 4)
        self.assertNotEqual(first, shop.purchases[(1, 1)])
        self.assertNotEqual(first, shop.purchases[(2, 2)])
        self.assertNotEqual(Purchase(tenant_id=1, number=2), first)


class CompositeKeySecondDriverTests(CompositeKeyTests):
    """
    L{CompositeKeyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- keys the database makes ------------------------------------------------------


class DatabaseKeyTests(KeyTestCase):
    """
    Keys the database makes: an auto-increment column named other than
    C{id}, and a C{DEFAULT} expression (read back where the database can
    return it; refused, writing nothing, on MariaDB).
    """

    async def test_autoIncrement(self) -> None:
        """
        Saving an object without its key sets the key the database made; a
        key given is inserted as it is.
        """
        first = await Gadget(name="a", size=1).save()
        second = await Gadget(name="b", size=2).save()
        self.assertIsInstance(first.code_id, int)
        self.assertGreater(second.code_id, first.code_id)
        second.size = 3
        await second.save()
        given = await Gadget(code_id=1000001, name="c").save()
        self.assertEqual(given.code_id, 1000001)
        self.assertEqual(
            await self.table("SELECT code_id, name, size FROM gadgets ORDER BY name"),
            [(first.code_id, "a", 1), (second.code_id, "b", 3), (1000001, "c", None)],
        )
        self.assertEqual((await Gadget.find(first.code_id)).name, "a")

    async def test_autoIncrementCreateMany(self) -> None:
        """
        C{createMany} sets every object's key to its row's.
        """
        gadgets = await Gadget.createMany([Gadget(name=f"g{i}", size=i) for i in range(5)])
        self.assertEqual(len({g.code_id for g in gadgets}), 5)
        rows = dict(await self.table("SELECT name, code_id FROM gadgets"))
        self.assertEqual({g.name: g.code_id for g in gadgets}, rows)

    async def newTicket(self, **attrs: Any) -> Ticket:
        """
        @return: a new ticket saved with C{attrs}; given its key on MariaDB,
            which cannot tell twistar the key it made.
        """
        if self.backend == MYSQL:
            attrs.setdefault("uuid", str(uuid4()))
        return await Ticket(**attrs).save()

    async def test_defaultKey(self) -> None:
        """
        On PostgreSQL (a C{UUID} column) and SQLite, a key the database makes
        from a C{DEFAULT} expression is read back by C{save} and
        C{createMany}; saving the object again updates its row. MariaDB
        cannot give it back: saving fails with a twistar error, writing
        nothing.
        """
        if self.backend == MYSQL:
            for work in (lambda: Ticket(seat="A1").save(),
                         lambda: Ticket.createMany([Ticket(seat="A2"), Ticket(seat="A3")])):
                error = await self.assertFailsWith(work, TwistarError)
                self.assertTrue(any(word in str(error) for word in ("uuid", "Ticket", "tickets")),
                                str(error))
            self.assertEqual(await self.countRows("tickets"), 0)
            given = await self.newTicket(seat="A4")
            self.assertEqual(await self.table("SELECT uuid, seat FROM tickets"),
                             [(given.uuid, "A4")])
            return
        ticket = await Ticket(seat="A1").save()
        self.assertIsNotNone(ticket.uuid)
        self.assertEqual(await self.table("SELECT uuid, seat FROM tickets"),
                         [(ticket.uuid, "A1")])
        ticket.seat = "B1"
        await ticket.save()
        self.assertEqual(await self.table("SELECT uuid, seat FROM tickets"),
                         [(ticket.uuid, "B1")])
        self.assertEqual((await Ticket.find(ticket.uuid)).seat, "B1")
        many = await Ticket.createMany([Ticket(seat=f"C{i}") for i in range(3)])
        self.assertEqual(
            {t.seat: t.uuid for t in many},
            dict(await self.table("SELECT seat, uuid FROM tickets WHERE seat LIKE 'C%'")),
        )
        self.assertEqual(len({t.uuid for t in many} | {ticket.uuid}), 4)

    async def test_defaultKeyRelationships(self) -> None:
        """
        Objects related by a key the database makes (a C{UUID} on
        PostgreSQL) are found lazily and eagerly, and linked.
        """
        ticket = await self.newTicket(seat="A1")
        other = await self.newTicket(seat="A2")
        scans = [await Scan(gate=gate, ticket_id=ticket.uuid).save() for gate in ("n", "s")]
        await Scan(gate="w", ticket_id=other.uuid).save()
        self.assertEqual(sorted(s.gate for s in await ticket.scans.get()), ["n", "s"])
        self.assertEqual((await scans[0].ticket.get()).seat, "A1")
        (loaded,) = await Ticket.where(seat="A1").includes("scans").all()
        self.assertEqual(sorted(s.gate for s in await loaded.scans.get()), ["n", "s"])
        found = await Scan.all(include="ticket")
        self.assertEqual(sorted([((await s.ticket.get()).seat, s.gate) for s in found]),
                         [("A1", "n"), ("A1", "s"), ("A2", "w")])
        await scans[1].ticket.set(other)
        self.assertEqual(sorted(s.gate for s in await other.scans.get()), ["s", "w"])


class DatabaseKeySecondDriverTests(DatabaseKeyTests):
    """
    L{DatabaseKeyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- createMany, updateMany, upsert ----------------------------------------------


class BulkWriteKeyTests(KeyTestCase):
    """
    C{createMany}, C{updateMany} and C{upsert} of objects keyed other than
    by C{id}.
    """

    async def test_createManyGenerated(self) -> None:
        """
        C{createMany} gives every object without a key a generated one (and
        keeps a key given); the objects are then saved: saving one updates
        its row.
        """
        given = str(uuid4())
        movies = await Movie.createMany(
            [Movie(title="Up"), Movie(uuid=given, title="Heat"), Movie(title="Jaws")]
        )
        self.assertEqual(movies[1].uuid, given)
        self.assertEqual(len({m.uuid for m in movies}), 3)
        self.assertEqual(sorted((u, t) for u, t, _ in await self.movieRows()),
                         sorted((m.uuid, m.title) for m in movies))
        movies[0].year = 2009
        await movies[0].save()
        self.assertEqual(await self.countRows("movies"), 3)
        self.assertEqual((await Movie.find(movies[0].uuid)).year, 2009)

    async def test_createManyGeneratorCalls(self) -> None:
        """
        The generator is called once per object without a key.
        """
        before = len(issuedTokens)
        tokens = await Token.createMany([Token(value="a"), Token(id="mine", value="b"),
                                         Token(value="c")])
        self.assertEqual(issuedTokens[before:], [tokens[0].id, tokens[2].id])
        self.assertEqual(tokens[1].id, "mine")
        self.assertEqual(await self.table("SELECT id, value FROM tokens ORDER BY value"),
                         [(t.id, t.value) for t in tokens])

    async def test_createManyComposite(self) -> None:
        """
        C{createMany} of composite keys inserts them; the objects are then
        saved.
        """
        purchases = await Purchase.createMany(
            [Purchase(tenant_id=1, number=n, total=n) for n in (2, 1)]
        )
        purchases[0].note = "second"
        await purchases[0].save()
        self.assertEqual(await self.purchaseRows(), [(1, 1, 1, None), (1, 2, 2, "second")])

    async def test_updateMany(self) -> None:
        """
        C{updateMany} writes each object's changes to the row its key names.
        """
        c = await makeCinema(self)
        up, jaws = await Movie.find(c.up.uuid), await Movie.find(c.jaws.uuid)
        up.year, jaws.title = 2010, "Jaws 2"
        await Movie.updateMany([up, jaws])
        self.assertEqual(await self.movieRows(), [
            (c.heat.uuid, "Heat", 1995), (c.jaws.uuid, "Jaws 2", 1975), (c.up.uuid, "Up", 2010),
        ])
        await makeShop(self)
        first, second = await Purchase.find((1, 2)), await Purchase.find((2, 1))
        first.total, second.note = 21, "changed"
        await Purchase.updateMany([first, second])
        self.assertEqual(await self.purchaseRows(), [
            (1, 1, 10, "n11"), (1, 2, 21, "n12"), (2, 1, 30, "changed"), (2, 2, 40, "n22"),
        ])
        renamed = await Genre.find("kids")
        renamed.slug = "family"
        await Genre.updateMany([renamed])
        self.assertEqual(await self.table("SELECT slug, name FROM genres ORDER BY slug"),
                         [("action", "Action"), ("drama", "Drama"), ("family", "Kids")])

    async def test_upsertAutoIncrement(self) -> None:
        """
        Upserted objects get the keys of their rows, made by the database
        for new ones; they are then saved.
        """
        old = await Gadget(name="a", size=1).save()
        upserted = [Gadget(name="a", size=5), Gadget(name="b", size=6)]
        await Gadget.upsert(upserted, ["name"])
        self.assertEqual(upserted[0].code_id, old.code_id)
        rows = await self.table("SELECT code_id, name, size FROM gadgets ORDER BY name")
        self.assertEqual(rows, [(old.code_id, "a", 5), (upserted[1].code_id, "b", 6)])
        queries = captureQueries(self)
        upserted[1].size = 7
        await upserted[1].save()
        self.assertEqual((queries.starting("INSERT"), len(queries.starting("UPDATE"))), ([], 1))
        self.assertEqual(await self.countRows("gadgets"), 2)

    async def test_upsertGenerated(self) -> None:
        """
        Upserting by another unique column, an object of an existing row gets
        that row's key, a new one a generated key.
        """
        old = await Movie(title="Up", year=1).save()
        upserted = [Movie(title="Up", year=2009), Movie(title="Heat", year=1995)]
        await Movie.upsert(upserted, "title")
        self.assertEqual(upserted[0].uuid, old.uuid)
        self.assertIsNotNone(upserted[1].uuid)
        self.assertEqual(await self.movieRows(),
                         [(upserted[1].uuid, "Heat", 1995), (old.uuid, "Up", 2009)])
        upserted[1].year = 1996
        await upserted[1].save()
        self.assertEqual(await self.countRows("movies"), 2)
        self.assertEqual((await Movie.find(upserted[1].uuid)).year, 1996)

    async def test_upsertByCompositeKey(self) -> None:
        """
        Upserting by a composite key updates the rows of existing keys and
        inserts the others; the objects are then saved.
        """
        await Purchase(tenant_id=1, number=1, total=10, note="kept").save()
        upserted = [Purchase(tenant_id=1, number=1, total=11),
                    Purchase(tenant_id=1, number=2, total=12)]
        await Purchase.upsert(upserted, ("tenant_id", "number"))
        self.assertEqual(await self.purchaseRows(), [(1, 1, 11, "kept"), (1, 2, 12, None)])
        upserted[1].note = "new"
        await upserted[1].save()
        self.assertEqual(await self.purchaseRows(), [(1, 1, 11, "kept"), (1, 2, 12, "new")])


class BulkWriteKeySecondDriverTests(BulkWriteKeyTests):
    """
    L{BulkWriteKeyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- locking and validation ------------------------------------------------------


class LockingAndValidationKeyTests(KeyTestCase):
    """
    C{LOCK_VERSION} and C{validatesUniquenessOf} on models keyed other than
    by C{id}.
    """

    async def test_lockVersion(self) -> None:
        """
        Of two objects of one row, the second to save fails with
        L{StaleObjectError}, and so does its delete, writing nothing; once
        refreshed it deletes the row.
        """
        movie = await LockedMovie(title="Up").save()
        other = await LockedMovie(title="Heat").save()
        self.assertEqual(movie.lock_version, 0)
        first, second = await LockedMovie.find(movie.uuid), await LockedMovie.find(movie.uuid)
        first.title = "Up!"
        await first.save()
        second.title = "Up?"
        await self.assertFailure(second.save(), StaleObjectError)
        await self.assertFailure(second.delete(), StaleObjectError)
        self.assertEqual(
            await self.table("SELECT uuid, title, lock_version FROM movies ORDER BY title"),
            [(other.uuid, "Heat", 0), (movie.uuid, "Up!", 1)],
        )
        await second.refresh()
        await second.delete()
        self.assertEqual(await self.table("SELECT uuid FROM movies"), [(other.uuid,)])

    async def test_lockVersionComposite(self) -> None:
        """
        Locking a composite key checks and bumps the version of its row
        only.
        """
        for tenant, number in ((1, 1), (1, 2), (2, 1)):
            await LockedPurchase(tenant_id=tenant, number=number, total=0).save()
        first, second = await LockedPurchase.find((1, 2)), await LockedPurchase.find((1, 2))
        first.total = 1
        await first.save()
        second.total = 2
        await self.assertFailure(second.save(), StaleObjectError)
        self.assertEqual(
            await self.table("SELECT tenant_id, number, total, lock_version FROM purchases "
                             "ORDER BY tenant_id, number"),
            [(1, 1, 0, 0), (1, 2, 1, 1), (2, 1, 0, 0)],
        )

    async def test_uniqueness(self) -> None:
        """
        C{validatesUniquenessOf} does not count the object's own row (named
        by the key it was loaded with, even when changed), and counts
        the others.
        """
        await UniqueGenre(slug="drama", name="Drama").save()
        loaded = await UniqueGenre.find("drama")
        loaded.slug = "dramas"
        await loaded.save()
        self.assertTrue(loaded.errors.isEmpty())
        self.assertEqual(await self.table("SELECT slug, name FROM genres"), [("dramas", "Drama")])
        duplicate = await UniqueGenre(slug="other", name="Drama").save()
        self.assertFalse(duplicate.errors.isEmpty())
        self.assertEqual(await self.countRows("genres"), 1)

    async def test_uniquenessComposite(self) -> None:
        """
        With a composite key, the rows sharing one of the object's key values
        count, its own row does not.
        """
        await UniquePurchase(tenant_id=1, number=1, note="a").save()
        await UniquePurchase(tenant_id=1, number=2, note="b").save()
        own = await UniquePurchase.find((1, 1))
        own.total = 5
        await own.save()
        self.assertTrue(own.errors.isEmpty())
        sibling = await UniquePurchase.find((1, 2))
        sibling.note = "a"
        await sibling.save()
        self.assertFalse(sibling.errors.isEmpty())
        self.assertEqual(await self.purchaseRows(), [(1, 1, 5, "a"), (1, 2, None, "b")])


class LockingAndValidationKeySecondDriverTests(LockingAndValidationKeyTests):
    """
    L{LockingAndValidationKeyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- the query layer ----------------------------------------------------------------


class QueryKeyTests(KeyTestCase):
    """
    L{twistar.query.Query} on models keyed other than by C{id}.
    """

    async def test_whereAndIds(self) -> None:
        """
        C{where} finds objects holding their keys; C{ids} gives key values,
        tuples for a composite key.
        """
        c = await makeCinema(self)
        found = await Movie.where(year=[1995, 2009]).all()
        self.assertEqual(sorted(m.uuid for m in found), sorted([c.up.uuid, c.heat.uuid]))
        self.assertEqual(sorted(await Movie.where(year=[1995, 2009]).ids()),
                         sorted([c.up.uuid, c.heat.uuid]))
        self.assertEqual(await Movie.where(uuid=[c.up.uuid, c.jaws.uuid]).count(), 2)
        self.assertEqual(sorted(await Genre.query().ids()), ["action", "drama", "kids"])
        await makeShop(self)
        self.assertEqual(await Purchase.where(tenant_id=1).order("number").ids(), [(1, 1), (1, 2)])
        self.assertEqual(sorted(await Purchase.query().ids()), sorted(SHOP_KEYS))
        self.assertEqual(
            await Purchase.where(number=1).order("tenant_id").pluck("tenant_id", "note"),
            [(1, "n11"), (2, "n21")],
        )

    async def test_loadedAreSaved(self) -> None:
        """
        Objects a query loads are not new: saving one updates its row.
        """
        c = await makeCinema(self)
        (movie,) = await Movie.where(title="Jaws").all()
        movie.year = 1976
        await movie.save()
        self.assertEqual(await self.countRows("movies"), 3)
        self.assertEqual((await Movie.find(c.jaws.uuid)).year, 1976)

    async def test_selectKeepsKey(self) -> None:
        """
        Objects of a selection of columns hold their key too, so saving them
        updates their rows (and only the columns they hold).
        """
        c = await makeCinema(self)
        (movie,) = await Movie.where(title="Up").select("title").all()
        self.assertEqual(movie.uuid, c.up.uuid)
        movie.title = "Up!"
        await movie.save()
        self.assertIn((c.up.uuid, "Up!", 2009), await self.movieRows())
        await makeShop(self)
        (purchase,) = await Purchase.where(tenant_id=1, number=2).select("note").all()
        self.assertEqual((purchase.tenant_id, purchase.number), (1, 2))
        purchase.note = "partial"
        await purchase.save()
        self.assertEqual(await self.purchaseRows(), [
            (1, 1, 10, "n11"), (1, 2, 20, "partial"), (2, 1, 30, "n21"), (2, 2, 40, "n22"),
        ])
        gadget = await Gadget(name="g", size=3).save()
        (partial,) = await Gadget.query().select("name").all()
        self.assertEqual(partial.code_id, gadget.code_id)

    async def test_eachInKeyOrder(self) -> None:
        """
        C{each} walks every matching row once, in key order, across batches
        (composite keys included).
        """
        await makeShop(self)
        for size in (1, 3):
            seen = [(p.tenant_id, p.number) async for p in Purchase.query().each(batchSize=size)]
            self.assertEqual(seen, sorted(SHOP_KEYS))
        bigger = [(p.tenant_id, p.number)
                  async for p in Purchase.where("total > ?", 15).each(batchSize=1)]
        self.assertEqual(bigger, [(1, 2), (2, 1), (2, 2)])
        for code in (1000003, 1000001, 1000004, 1000002):
            await Gadget(code_id=code, name=f"g{code}").save()
        self.assertEqual([g.code_id async for g in Gadget.query().each(batchSize=3)],
                         [1000001, 1000002, 1000003, 1000004])
        c = await makeCinema(self)
        uuids = [m.uuid async for m in Movie.query().each(batchSize=2)]
        self.assertEqual(uuids, await Movie.query().order("uuid").pluck("uuid"))
        self.assertEqual(sorted(uuids), sorted([c.up.uuid, c.heat.uuid, c.jaws.uuid]))

    async def test_pageAndFirst(self) -> None:
        """
        C{page} and C{first} order by the key unless told otherwise.
        """
        await makeShop(self)
        page = await Purchase.query().page(1, perPage=3)
        self.assertEqual([(p.tenant_id, p.number) for p in page.items], sorted(SHOP_KEYS)[:3])
        self.assertEqual((page.total, page.pages), (4, 2))
        page = await Purchase.query().page(2, perPage=3)
        self.assertEqual([(p.tenant_id, p.number) for p in page.items], [(2, 2)])
        first: Any = await Purchase.query().first()
        self.assertEqual((first.tenant_id, first.number), (1, 1))
        first = await Purchase.where(number=2).first()
        self.assertEqual((first.tenant_id, first.number), (1, 2))
        for code in (1000002, 1000001):
            await Gadget(code_id=code, name=f"g{code}").save()
        lowest: Any = await Gadget.query().first()
        self.assertEqual(lowest.code_id, 1000001)

    async def test_updateAllAndDeleteAll(self) -> None:
        """
        C{updateAll} and C{deleteAll} change the rows of the query, also
        with an order and limit or a join (where the key picks the rows).
        """
        await makeShop(self)
        self.assertEqual(await Purchase.where(tenant_id=1).updateAll(note="t1"), 2)
        self.assertEqual(await Purchase.query().order("total DESC").limit(1).updateAll(note="top"),
                         1)
        joined = Purchase.joins("purchase_lines").where(**{"purchase_lines.product": "cup"})
        self.assertEqual(await joined.updateAll(note="cup"), 1)
        self.assertEqual(await self.purchaseRows(), [
            (1, 1, 10, "t1"), (1, 2, 20, "t1"), (2, 1, 30, "cup"), (2, 2, 40, "top"),
        ])
        self.assertEqual(await Purchase.query().order("total").limit(1).deleteAll(), 1)
        joined = Purchase.joins("tags").where(**{"tags.name": "blue"})
        self.assertEqual(await joined.deleteAll(), 1)
        self.assertEqual([row[:2] for row in await self.purchaseRows()], [(2, 1), (2, 2)])
        c = await makeCinema(self)
        self.assertEqual(await Movie.query().order("year").limit(2).updateAll(year=0), 2)
        self.assertEqual(
            await Movie.joins("castings").where(**{"castings.actor": "Ann"}).deleteAll(), 1
        )
        self.assertEqual(await self.movieRows(),
                         [(c.heat.uuid, "Heat", 0), (c.jaws.uuid, "Jaws", 0)])

    async def test_whereSubquery(self) -> None:
        """
        A query of a model keyed by one column used as a C{where} value
        selects its key.
        """
        await makeCinema(self)
        actors = await Casting.where(movie_id=Movie.where(year=[2009, 1975])).pluck("actor")
        self.assertEqual(sorted(actors), ["Ann", "Bob"])


class QueryKeySecondDriverTests(QueryKeyTests):
    """
    L{QueryKeyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- relationships ----------------------------------------------------------------


class RelationshipKeyTests(KeyTestCase):
    """
    Every kind of relationship to and from a model keyed by C{uuid}
    (foreign keys C{movie_id}) and one keyed by C{slug}.
    """

    async def castingLinks(self) -> list[tuple[Any, ...]]:
        """
        @return: C{(actor, movie_id)} of every casting, by actor.
        """
        return await self.table("SELECT actor, movie_id FROM castings ORDER BY actor")

    async def genreLinks(self) -> list[tuple[Any, ...]]:
        """
        @return: the C{(genre_id, movie_id)} join rows, sorted.
        """
        return sorted(await self.table("SELECT genre_id, movie_id FROM genres_movies"))

    async def test_belongsTo(self) -> None:
        """
        A belongs-to gets, sets and clears the object its C{<name>_id}
        holding a uuid names.
        """
        c = await makeCinema(self)
        self.assertEqual((await c.ann.movie.get()).uuid, c.up.uuid)
        self.assertIsNone(await c.dee.movie.get())
        await c.dee.movie.set(c.jaws)
        self.assertEqual(c.dee.movie_id, c.jaws.uuid)
        self.assertEqual((await c.dee.movie.get()).title, "Jaws")
        await c.ann.movie.clear()
        self.assertEqual(await self.castingLinks(), [
            ("Ann", None), ("Bob", c.up.uuid), ("Cy", c.heat.uuid), ("Dee", c.jaws.uuid),
        ])
        self.assertEqual((await c.upPoster.movie.get()).title, "Up")

    async def test_hasMany(self) -> None:
        """
        A has-many gets, counts, scopes queries to, sets and clears the
        objects whose C{movie_id} holds the owner's uuid.
        """
        c = await makeCinema(self)
        self.assertEqual(sorted(x.actor for x in await c.up.castings.get()), ["Ann", "Bob"])
        self.assertEqual(await c.up.castings.count(), 2)
        self.assertEqual(await c.jaws.castings.get(), [])
        self.assertEqual([x.actor for x in await c.up.castings.where(actor="Bob").all()], ["Bob"])
        self.assertEqual(await c.up.castings.query().order("actor").pluck("actor"), ["Ann", "Bob"])
        await c.up.castings.set([c.bob, c.cy])
        self.assertEqual(await self.castingLinks(), [
            ("Ann", None), ("Bob", c.up.uuid), ("Cy", c.up.uuid), ("Dee", None),
        ])
        await c.up.castings.clear()
        self.assertEqual(await self.countRows("castings WHERE movie_id IS NULL"), 4)

    async def test_hasOne(self) -> None:
        """
        A has-one gets the object whose C{movie_id} holds the owner's uuid;
        setting one saves it linked and unlinks the one before.
        """
        c = await makeCinema(self)
        self.assertEqual((await c.jaws.poster.get()).url, "jaws.png")
        self.assertIsNone(await c.heat.poster.get())
        new = await c.jaws.poster.set(Poster(url="jaws2.png"))
        self.assertEqual(new.movie_id, c.jaws.uuid)
        self.assertEqual(
            await self.table("SELECT url, movie_id FROM posters ORDER BY url"),
            [("jaws.png", None), ("jaws2.png", c.jaws.uuid), ("up.png", c.up.uuid)],
        )
        self.assertEqual((await c.jaws.poster.get()).url, "jaws2.png")

    async def test_habtm(self) -> None:
        """
        A has-and-belongs-to-many between two keys of other names gets,
        counts, scopes queries to, sets and clears join rows holding those
        keys, from either side.
        """
        c = await makeCinema(self)
        self.assertEqual(sorted(g.slug for g in await c.up.genres.get()), ["drama", "kids"])
        self.assertEqual(titles(await c.drama.movies.get()), ["Heat", "Up"])
        self.assertEqual(await c.heat.genres.count(), 2)
        self.assertEqual(await c.jaws.genres.count(), 0)
        self.assertEqual([g.slug for g in await c.heat.genres.where(name="Drama").all()],
                         ["drama"])
        await c.up.genres.set([c.action])
        self.assertEqual(await self.genreLinks(), sorted([
            ("action", c.up.uuid), ("action", c.heat.uuid), ("drama", c.heat.uuid),
        ]))
        await c.kids.movies.set([c.jaws, c.up])
        self.assertEqual(titles(await c.kids.movies.get()), ["Jaws", "Up"])
        await c.heat.genres.clear()
        self.assertEqual(await self.genreLinks(), sorted([
            ("action", c.up.uuid), ("kids", c.jaws.uuid), ("kids", c.up.uuid),
        ]))

    async def test_otherKeysOnBothSides(self) -> None:
        """
        Between two models keyed other than by C{id} (C{movies.uuid} and
        C{gadgets.code_id}), a has-many gets, sets and clears, a belongs-to
        gets and sets, and both load eagerly.
        """
        c = await makeCinema(self)
        gadgets = [await Gadget(name=name).save() for name in ("a", "b", "c")]

        async def links() -> list[tuple[Any, ...]]:
            return await self.table("SELECT name, movie_id FROM gadgets ORDER BY name")

        await c.up.gadgets.set(gadgets[:2])
        self.assertEqual(await links(), [("a", c.up.uuid), ("b", c.up.uuid), ("c", None)])
        await c.up.gadgets.set(gadgets[1:])
        self.assertEqual(await links(), [("a", None), ("b", c.up.uuid), ("c", c.up.uuid)])
        self.assertEqual(sorted(g.name for g in await c.up.gadgets.get()), ["b", "c"])
        await gadgets[0].movie.set(c.heat)
        self.assertEqual((await gadgets[0].movie.get()).title, "Heat")
        (up,) = await Movie.where(title="Up").includes("gadgets").all()
        loaded = await Gadget.all(include="movie")
        queries = captureQueries(self)
        self.assertEqual(sorted(g.name for g in await up.gadgets.get()), ["b", "c"])
        self.assertEqual(sorted([(g.name, (await g.movie.get()).title) for g in loaded]),
                         [("a", "Heat"), ("b", "Up"), ("c", "Up")])
        self.assertEqual(queries.all(), [])
        await c.up.gadgets.clear()
        self.assertEqual(await links(), [("a", c.heat.uuid), ("b", None), ("c", None)])


class RelationshipKeySecondDriverTests(RelationshipKeyTests):
    """
    L{RelationshipKeyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


class CompositeRelationshipTests(KeyTestCase):
    """
    Every kind of relationship to and from a model keyed by C{(tenant_id,
    number)}: default foreign key columns C{purchase_tenant_id} and
    C{purchase_number}, and declared ones.
    """

    async def lineLinks(self) -> list[tuple[Any, ...]]:
        """
        @return: C{(product, purchase_tenant_id, purchase_number)} of every
            line, by product.
        """
        return await self.table(
            "SELECT product, purchase_tenant_id, purchase_number FROM purchase_lines "
            "ORDER BY product"
        )

    async def tagLinks(self, table: str = "purchases_tags") -> list[tuple[Any, ...]]:
        """
        @return: the C{(tenant, number, tag id)} join rows of C{table}, sorted.
        """
        columns = {"purchases_tags": "purchase_tenant_id, purchase_number, tag_id",
                   "tag_links": "p_tenant, p_number, tag_ref"}[table]
        return sorted(await self.table(f"SELECT {columns} FROM {table}"))

    async def test_belongsTo(self) -> None:
        """
        A belongs-to gets, sets and clears the object its two foreign key
        columns name (default or declared ones).
        """
        shop = await makeShop(self)
        purchase = await shop.pen.purchase.get()
        self.assertEqual((purchase.tenant_id, purchase.number), (1, 2))
        self.assertEqual((await shop.pad.purchase.get()).note, "n11")
        self.assertIsNone(await shop.loose.purchase.get())
        await shop.loose.purchase.set(shop.purchases[(2, 2)])
        self.assertEqual((shop.loose.purchase_tenant_id, shop.loose.purchase_number), (2, 2))
        await shop.pen.purchase.clear()
        self.assertEqual(await self.lineLinks(), [
            ("cup", 2, 1), ("ink", 1, 2), ("loose", 2, 2), ("pad", 1, 1), ("pen", None, None),
        ])
        self.assertEqual((await shop.ups.purchase.get()).note, "n21")
        await shop.ups.purchase.set(shop.purchases[(1, 1)])
        self.assertEqual(
            await self.table("SELECT carrier, tenant_id, purchase_number FROM shipments "
                             "ORDER BY carrier"),
            [("dhl", 1, 2), ("ups", 1, 1)],
        )

    async def test_hasMany(self) -> None:
        """
        A has-many gets, counts, scopes queries to, sets and clears the
        objects whose two foreign key columns hold the owner's key.
        """
        shop = await makeShop(self)
        p12, p11, p22 = shop.purchases[(1, 2)], shop.purchases[(1, 1)], shop.purchases[(2, 2)]
        self.assertEqual(sorted(x.product for x in await p12.purchase_lines.get()), ["ink", "pen"])
        self.assertEqual(await p12.purchase_lines.count(), 2)
        self.assertEqual([x.product for x in await p11.purchase_lines.get()], ["pad"])
        self.assertEqual(await p22.purchase_lines.get(), [])
        self.assertEqual(
            [x.product for x in await p12.purchase_lines.get(where=["product = ?", "pen"])],
            ["pen"],
        )
        self.assertEqual(await p12.purchase_lines.where(product="ink").count(), 1)
        self.assertEqual(await p12.purchase_lines.query().order("product").pluck("product"),
                         ["ink", "pen"])
        await p22.purchase_lines.set([shop.pen, shop.loose])
        self.assertEqual(await self.lineLinks(), [
            ("cup", 2, 1), ("ink", 1, 2), ("loose", 2, 2), ("pad", 1, 1), ("pen", 2, 2),
        ])
        await p12.purchase_lines.clear()
        self.assertEqual(await self.lineLinks(), [
            ("cup", 2, 1), ("ink", None, None), ("loose", 2, 2), ("pad", 1, 1), ("pen", 2, 2),
        ])

    async def test_hasOne(self) -> None:
        """
        A has-one through declared foreign key columns gets the object
        holding the owner's key; setting one saves it linked and unlinks the
        one before.
        """
        shop = await makeShop(self)
        self.assertEqual((await shop.purchases[(1, 2)].shipment.get()).carrier, "dhl")
        self.assertIsNone(await shop.purchases[(1, 1)].shipment.get())
        await shop.purchases[(1, 2)].shipment.set(Shipment(carrier="fedex"))
        self.assertEqual(
            await self.table("SELECT carrier, tenant_id, purchase_number FROM shipments "
                             "ORDER BY carrier"),
            [("dhl", None, None), ("fedex", 1, 2), ("ups", 2, 1)],
        )

    async def test_habtm(self) -> None:
        """
        A has-and-belongs-to-many to or from a composite key gets, counts,
        scopes queries to, sets and clears join rows holding every key
        column, with default or declared (tuple) join columns.
        """
        shop = await makeShop(self)
        p12, p21, p22 = shop.purchases[(1, 2)], shop.purchases[(2, 1)], shop.purchases[(2, 2)]
        self.assertEqual(sorted(t.name for t in await p12.tags.get()), ["blue", "red"])
        self.assertEqual(keysOf(await shop.red.purchases.get()), [(1, 2), (2, 1)])
        self.assertEqual(await p21.tags.count(), 1)
        self.assertEqual(await shop.green.purchases.count(), 1)
        self.assertEqual([t.name for t in await p12.tags.where(name="red").all()], ["red"])
        self.assertEqual(keysOf(await shop.blue.orders.get()), [(2, 2)])
        self.assertEqual([t.name for t in await p22.labels.get()], ["blue"])
        await p21.tags.set([shop.blue, shop.green])
        red, blue, green = shop.red.id, shop.blue.id, shop.green.id
        self.assertEqual(await self.tagLinks(), sorted([
            (1, 2, red), (1, 2, blue), (2, 1, blue), (2, 1, green), (1, 1, green),
        ]))
        await shop.green.purchases.set([p22])
        self.assertEqual(await self.tagLinks(), sorted([
            (1, 2, red), (1, 2, blue), (2, 1, blue), (2, 2, green),
        ]))
        await shop.red.orders.set([p12, p21])
        await p22.labels.clear()
        self.assertEqual(await self.tagLinks("tag_links"), [(1, 2, red), (2, 1, red)])
        await p12.tags.clear()
        self.assertEqual(await self.tagLinks(), sorted([(2, 1, blue), (2, 2, green)]))

    async def test_compositeTargets(self) -> None:
        """
        A has-many and a has-one whose objects have composite keys link,
        unlink and load them by both key columns.
        """
        shop = await makeShop(self)
        p = shop.purchases
        ann, bob = await Buyer(name="ann").save(), await Buyer(name="bob").save()

        async def links() -> list[tuple[Any, ...]]:
            return await self.table(
                "SELECT tenant_id, number, buyer_id FROM purchases ORDER BY tenant_id, number"
            )

        await ann.purchases.set([p[(1, 2)], p[(2, 1)]])
        await bob.purchases.set([p[(1, 1)]])
        self.assertEqual(await links(),
                         [(1, 1, bob.id), (1, 2, ann.id), (2, 1, ann.id), (2, 2, None)])
        await ann.purchases.set([p[(2, 1)], p[(2, 2)]])
        self.assertEqual(await links(),
                         [(1, 1, bob.id), (1, 2, None), (2, 1, ann.id), (2, 2, ann.id)])
        self.assertEqual(keysOf(await ann.purchases.get()), [(2, 1), (2, 2)])
        self.assertEqual((await p[(1, 1)].buyer.get()).name, "bob")
        await bob.last_purchase.set(await Purchase.find((2, 2)))
        self.assertEqual(await links(),
                         [(1, 1, None), (1, 2, None), (2, 1, ann.id), (2, 2, bob.id)])
        buyers = await Buyer.query().order("name").includes("purchases", "last_purchase").all()
        purchases = await Purchase.query().includes("buyer").all()
        queries = captureQueries(self)
        self.assertEqual(
            [(b.name, keysOf(await b.purchases.get()), keysOf([await b.last_purchase.get()]))
             for b in buyers],
            [("ann", [(2, 1)], [(2, 1)]), ("bob", [(2, 2)], [(2, 2)])],
        )
        self.assertEqual(
            sorted([((x.tenant_id, x.number), getattr(await x.buyer.get(), "name", None))
                    for x in purchases]),
            [((1, 1), None), ((1, 2), None), ((2, 1), "ann"), ((2, 2), "bob")],
        )
        self.assertEqual(queries.all(), [])
        await ann.purchases.clear()
        self.assertEqual(await links(),
                         [(1, 1, None), (1, 2, None), (2, 1, None), (2, 2, bob.id)])

    async def test_foreignKeyLength(self) -> None:
        """
        A foreign key of as many columns as the key it names works; one of
        another length fails with L{InvalidRelationshipError} when the
        relationship is used, writing nothing.
        """
        shop = await makeShop(self)
        c = await makeCinema(self)

        class ShortLine(DBObject):
            TABLENAME = "purchase_lines"
            BELONGSTO = [{"name": "purchase", "class_name": "Purchase",
                          "foreign_key": "purchase_number"}]

        class WideMovie(DBObject):
            TABLENAME = "movies"
            PRIMARY_KEY = "uuid"
            HASMANY = [{"name": "castings", "class_name": "Casting",
                        "foreign_key": ("movie_id", "actor")}]

        class ShortTag(DBObject):
            TABLENAME = "tags"
            HABTM = [{"name": "purchases", "class_name": "Purchase",
                      "join_table": "purchases_tags", "foreign_key": "tag_id",
                      "association_foreign_key": "purchase_number"}]

        line = await ShortLine.find(shop.pen.id)
        await self.assertFailsWith(lambda: line.purchase.get(), InvalidRelationshipError)
        await self.assertFailsWith(lambda: line.purchase.set(shop.purchases[(2, 2)]),
                                   InvalidRelationshipError)
        movie = await WideMovie.find(c.up.uuid)
        await self.assertFailsWith(lambda: movie.castings.get(), InvalidRelationshipError)
        await self.assertFailsWith(lambda: movie.castings.set([]), InvalidRelationshipError)
        tag = await ShortTag.find(shop.red.id)
        await self.assertFailsWith(lambda: tag.purchases.get(), InvalidRelationshipError)
        await self.assertFailsWith(lambda: tag.purchases.set([]), InvalidRelationshipError)
        self.assertEqual(await self.table(
            f"SELECT purchase_tenant_id, purchase_number FROM purchase_lines "
            f"WHERE id = {shop.pen.id}"
        ), [(1, 2)])
        self.assertEqual(await self.countRows(f"castings WHERE movie_id = '{c.up.uuid}'"), 2)
        self.assertEqual(await self.countRows("purchases_tags"), 4)


class CompositeRelationshipSecondDriverTests(CompositeRelationshipTests):
    """
    L{CompositeRelationshipTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- eager loading and joins --------------------------------------------------------


class EagerAndJoinKeyTests(KeyTestCase):
    """
    Eager loading (C{include=}, C{includes()}, C{preload}) and C{joins()}
    through every kind of relationship of models keyed other than by C{id}.
    """

    async def test_eagerSingleKey(self) -> None:
        """
        Relationships of uuid and slug keys load eagerly with one query
        each; their C{get()} then runs none and gives what a lazy one does.
        """
        c = await makeCinema(self)
        queries = captureQueries(self)
        movies = await Movie.query().order("title").includes("castings", "poster", "genres").all()
        castings = await Casting.all(include="movie")
        genres = await Genre.find(where=["slug <> ?", "action"], include=["movies"])
        up = await Movie.find(c.up.uuid, include="genres")
        # One query per model read, and one per relationship loaded.
        self.assertEqual(len(queries.starting("SELECT")), 4 + 2 + 2 + 2)
        queries.reset()
        self.assertEqual(
            [(m.title, sorted(x.actor for x in await m.castings.get()),
              getattr(await m.poster.get(), "url", None),
              sorted(g.slug for g in await m.genres.get())) for m in movies],
            [("Heat", ["Cy"], None, ["action", "drama"]),
             ("Jaws", [], "jaws.png", []),
             ("Up", ["Ann", "Bob"], "up.png", ["drama", "kids"])],
        )
        self.assertEqual(
            sorted([(x.actor, getattr(await x.movie.get(), "uuid", None)) for x in castings]),
            [("Ann", c.up.uuid), ("Bob", c.up.uuid), ("Cy", c.heat.uuid), ("Dee", None)],
        )
        self.assertEqual(sorted([(g.slug, titles(await g.movies.get())) for g in genres]),
                         [("drama", ["Heat", "Up"]), ("kids", ["Up"])])
        self.assertEqual(sorted(g.slug for g in await up.genres.get()), ["drama", "kids"])
        self.assertEqual(queries.all(), [])
        posters = await Poster.preload(await Poster.all(), "movie")
        queries.reset()
        self.assertEqual(sorted([(p.url, (await p.movie.get()).title) for p in posters]),
                         [("jaws.png", "Jaws"), ("up.png", "Up")])
        self.assertEqual(queries.all(), [])

    async def test_eagerComposite(self) -> None:
        """
        Relationships to and from a composite key load eagerly with one
        query each; their C{get()} then runs none and gives what a lazy one
        does.
        """
        await makeShop(self)
        queries = captureQueries(self)
        purchases = await Purchase.all(include=["purchase_lines", "shipment", "tags", "labels"])
        lines = await PurchaseLine.query().includes("purchase").all()
        shipments = await Shipment.all(include="purchase")
        tags = await Tag.preload(await Tag.all(), "purchases", "orders")
        one = await Purchase.find((2, 1), include="tags")
        self.assertEqual(len(queries.starting("SELECT")), 5 + 2 + 2 + 3 + 2)
        queries.reset()
        self.assertEqual(
            sorted([((p.tenant_id, p.number),
                     sorted(x.product for x in await p.purchase_lines.get()),
                     getattr(await p.shipment.get(), "carrier", None),
                     sorted(t.name for t in await p.tags.get()),
                     [t.name for t in await p.labels.get()]) for p in purchases]),
            [((1, 1), ["pad"], None, ["green"], []),
             ((1, 2), ["ink", "pen"], "dhl", ["blue", "red"], []),
             ((2, 1), ["cup"], "ups", ["red"], []),
             ((2, 2), [], None, [], ["blue"])],
        )

        async def keyOf(relationship: Any) -> Any:
            purchase = await relationship.get()
            return None if purchase is None else (purchase.tenant_id, purchase.number)

        self.assertEqual(sorted([(x.product, await keyOf(x.purchase)) for x in lines],
                                key=repr),
                         sorted([("cup", (2, 1)), ("ink", (1, 2)), ("loose", None),
                                 ("pad", (1, 1)), ("pen", (1, 2))], key=repr))
        self.assertEqual(sorted([(s.carrier, await keyOf(s.purchase)) for s in shipments]),
                         [("dhl", (1, 2)), ("ups", (2, 1))])
        self.assertEqual(
            sorted([(t.name, keysOf(await t.purchases.get()), keysOf(await t.orders.get()))
                    for t in tags]),
            [("blue", [(1, 2)], [(2, 2)]), ("green", [(1, 1)], []),
             ("red", [(1, 2), (2, 1)], [])],
        )
        self.assertEqual([t.name for t in await one.tags.get()], ["red"])
        self.assertEqual(queries.all(), [])

    async def test_joinsSingleKey(self) -> None:
        """
        C{joins} through each kind of relationship of uuid and slug keys
        matches rows by those keys.
        """
        await makeCinema(self)
        self.assertEqual(
            titles(await Movie.joins("castings").where(**{"castings.actor": "Cy"}).all()),
            ["Heat"],
        )
        self.assertEqual(
            await Casting.joins("movie").where(**{"movies.title": "Up"}).order("actor")
            .pluck("actor"),
            ["Ann", "Bob"],
        )
        self.assertEqual(
            titles(await Movie.joins("poster").where(**{"posters.url": "jaws.png"}).all()),
            ["Jaws"],
        )
        self.assertEqual(
            titles(await Movie.leftJoins("poster").where(**{"posters.id": None}).all()), ["Heat"]
        )
        self.assertEqual(
            titles(await Movie.joins("genres").where(**{"genres.slug": "drama"}).all()),
            ["Heat", "Up"],
        )
        self.assertEqual(
            sorted(await Genre.joins("movies").where(**{"movies.title": "Up"}).ids()),
            ["drama", "kids"],
        )
        (heat,) = await Movie.joins("castings").where(**{"castings.actor": "Cy"}).all()
        heat.year = 1996
        await heat.save()
        self.assertIn((heat.uuid, "Heat", 1996), await self.movieRows())

    async def test_joinsComposite(self) -> None:
        """
        C{joins} through each kind of relationship to and from a composite
        key matches rows by every key column.
        """
        await makeShop(self)

        async def purchasesJoined(name: str, **where: Any) -> list[tuple[int, int]]:
            return keysOf(await Purchase.joins(name).where(**where).all())

        self.assertEqual(
            await purchasesJoined("purchase_lines", **{"purchase_lines.product": "pad"}), [(1, 1)]
        )
        self.assertEqual(await purchasesJoined("shipment", **{"shipments.carrier": "ups"}),
                         [(2, 1)])
        self.assertEqual(await purchasesJoined("tags", **{"tags.name": "red"}), [(1, 2), (2, 1)])
        self.assertEqual(await purchasesJoined("labels", **{"tags.name": "blue"}), [(2, 2)])
        self.assertEqual(
            await PurchaseLine.joins("purchase").where(**{"purchases.note": "n12"})
            .order("product").pluck("product"),
            ["ink", "pen"],
        )
        self.assertEqual(
            await Shipment.joins("purchase").where(**{"purchases.total": 30}).pluck("carrier"),
            ["ups"],
        )
        self.assertEqual(
            await Tag.joins("purchases").where(**{"purchases.note": "n11"}).pluck("name"),
            ["green"],
        )
        self.assertEqual(
            await Tag.joins("orders").where(**{"purchases.note": "n22"}).pluck("name"), ["blue"]
        )
        self.assertEqual(
            await Purchase.joins("purchase_lines").where(tenant_id=1).distinct().count(), 2
        )


class EagerAndJoinKeySecondDriverTests(EagerAndJoinKeyTests):
    """
    L{EagerAndJoinKeyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True
