# -*- test-case-name: twistar.tests.test_through -*-
"""
Tests for join models (L{twistar.through}): a HABTM through a join model
(C{HABTM = [{"name": "films", "through": "Role"}]}) and a has-many through
another relationship (C{HASMANY = [{"name": "actors", "through":
"roles"}]}): reading, filtering and ordering by the tables on the way,
linking with extra columns, eager loading, joins, custom keys, and the
errors of bad declarations.

The tests make their own tables (L{ThroughTestCase.setUp}), per backend, and
check what they write by reading the tables with plain SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from twisted.internet.defer import maybeDeferred
from twisted.trial.unittest import SynchronousTestCase

from twistar import eager
from twistar.dbobject import DBObject
from twistar.exceptions import (
    ClassNotRegisteredError,
    DBObjectSaveError,
    InvalidQueryError,
    InvalidRelationshipError,
    ReferenceNotSavedError,
    ValidationError,
)
from twistar.registry import Registry
from twistar.tests.helpers import SQLITE, DBTestCase, _createTables, _emptyTables, testDatabase
from twistar.tests.test_logging import captureQueries
from twistar.through import HABTMThrough, HasManyThrough

# -- tables and models ------------------------------------------------------------

TABLES: dict[str, list[str]] = {
    "jm_agents": ["id {pk}", "name {str}"],
    "jm_actors": ["id {pk}", "name {str}", "agent_id {int}"],
    "jm_studios": ["id {pk}", "name {str}"],
    "jm_films": ["id {pk}", "title {str}", "year {int}", "studio_id {int}",
                 "flagship_studio_id {int}"],
    "jm_roles": ["id {pk}", "actor_id {int}", "film_id {int}", "part {str}", "billing {int}"],
    "jm_memos": ["id {pk}", "body {str}", "memoable_id {int}", "memoable_type {str}",
                 "film_id {int}"],
    "jm_bands": ["code {str} PRIMARY KEY", "name {str}"],
    "jm_venues": ["slug {str} PRIMARY KEY", "city {str}"],
    "jm_gigs": ["gig_no {pk}", "band_id {str}", "venue_id {str}", "fee {int}"],
    "jm_parcels": ["tenant_id {int} NOT NULL", "number {int} NOT NULL", "note {str}",
                   "PRIMARY KEY (tenant_id, number)"],
    "jm_stamps": ["id {pk}", "name {str}"],
    "jm_stampings": ["id {pk}", "parcel_tenant_id {int}", "parcel_number {int}",
                     "stamp_id {int}", "weight {int}"],
}

# The server databases whose tables were made by this process: later tests
# only empty them.
_made: set[str] = set()

hooksRun: list[tuple[str, Any]] = []
"""The hooks L{Role} objects ran, as C{(hook, part)}."""


async def relatedIds(owner: Any, names: tuple[str, ...]) -> list[list[Any]]:
    """
    @return: for each relationship of C{names}, the sorted ids of the
        objects C{owner}'s C{get()} gives.
    """
    return [sorted(o.id for o in await getattr(owner, name).get()) for name in names]


class Agent(DBObject):
    """
    An agent of actors: the films of its actors are reached through the
    actors' join model.
    """

    TABLENAME = "jm_agents"
    HASMANY = [
        "actors",
        {"name": "films", "through": "actors"},                      # source Actor.films
        {"name": "memos", "as": "memoable"},
        {"name": "memo_films", "through": "memos", "source": "film"},
    ]


class Actor(DBObject):
    """
    An actor: films through the join model L{Role}, and the same films as a
    has-many through its roles.
    """

    TABLENAME = "jm_actors"
    HABTM = [{"name": "films", "through": "Role"}]
    HASMANY = ["roles", {"name": "credits", "through": "roles", "source": "film"}]
    BELONGSTO = ["agent"]


class Film(DBObject):
    """
    A film: its actors through its roles (the source found as C{actor}).
    """

    TABLENAME = "jm_films"
    HASMANY = ["roles", {"name": "actors", "through": "roles"}]
    BELONGSTO = ["studio"]


class Role(DBObject):
    """
    The join model of actors and films, with a part and a billing; it
    records its hooks, cancels the insert of a part C{"cut"}, and refuses a
    billing below 1 (and a missing part, when C{requirePart}).
    """

    TABLENAME = "jm_roles"
    BELONGSTO = ["actor", "film"]
    requirePart = False

    def beforeCreate(self) -> Any:
        hooksRun.append(("create", self.__dict__.get("part")))
        return self.__dict__.get("part") != "cut"

    def beforeSave(self) -> Any:
        hooksRun.append(("save", self.__dict__.get("part")))

    def beforeDelete(self) -> Any:
        hooksRun.append(("delete", self.__dict__.get("part")))


def _checkRole(role: Role) -> None:
    billing = role.__dict__.get("billing")
    if billing is not None and billing < 1:
        role.errors.add("billing", "must be at least 1")
    if type(role).requirePart and not role.__dict__.get("part"):
        role.errors.add("part", "is required")


Role.addValidator(_checkRole)


class Studio(DBObject):
    """
    A studio: roles and actors through its films (a has-many source, and a
    has-many through one), and the cast of its flagship film (through a
    has-one).
    """

    TABLENAME = "jm_studios"
    HASMANY = [
        "films",
        {"name": "roles", "through": "films"},
        {"name": "actors", "through": "films"},
        {"name": "memos", "as": "memoable"},
        {"name": "flagship_cast", "through": "flagship", "source": "actors"},
    ]
    HASONE = [{"name": "flagship", "class_name": "Film", "foreign_key": "flagship_studio_id"}]


class Memo(DBObject):
    """
    A memo of an agent or a studio (polymorphic) about a film.
    """

    TABLENAME = "jm_memos"
    BELONGSTO = [{"name": "memoable", "polymorphic": True}, "film"]


class Band(DBObject):
    """
    A band keyed by its C{code}: venues through the join model L{Gig}.
    """

    TABLENAME = "jm_bands"
    PRIMARY_KEY = "code"
    HABTM = [{"name": "venues", "through": "Gig"}]


class Venue(DBObject):
    """
    A venue keyed by its C{slug}: bands through its gigs.
    """

    TABLENAME = "jm_venues"
    PRIMARY_KEY = "slug"
    HASMANY = ["gigs", {"name": "bands", "through": "gigs"}]


class Gig(DBObject):
    """
    The join model of bands and venues, keyed by C{gig_no} (made by the
    database); C{band_id} holds a band's code, C{venue_id} a venue's slug.
    """

    TABLENAME = "jm_gigs"
    PRIMARY_KEY = "gig_no"
    BELONGSTO = ["band", "venue"]


class Parcel(DBObject):
    """
    A parcel keyed by C{(tenant_id, number)}: stamps through the join model
    L{Stamping} (columns C{parcel_tenant_id} and C{parcel_number}), and
    the same as a has-many through.
    """

    TABLENAME = "jm_parcels"
    PRIMARY_KEY = ("tenant_id", "number")
    HABTM = [{"name": "stamps", "through": "Stamping"}]
    HASMANY = ["stampings", {"name": "marks", "through": "stampings", "source": "stamp"}]


class Stamp(DBObject):
    """
    A stamp: parcels through L{Stamping}.
    """

    TABLENAME = "jm_stamps"
    HABTM = [{"name": "parcels", "through": "Stamping"}]


class Stamping(DBObject):
    """
    The join model of parcels and stamps.
    """

    TABLENAME = "jm_stampings"
    BELONGSTO = ["parcel", "stamp"]


Registry.register(Agent, Actor, Film, Role, Studio, Memo, Band, Venue, Gig, Parcel, Stamp,
                  Stamping)


def titles(films: list[Any]) -> list[str]:
    """
    @return: the titles of C{films}, sorted (repeated ones repeated).
    """
    return sorted(film.title for film in films)


def names(objects: list[Any]) -> list[str]:
    """
    @return: the names of C{objects}, sorted (repeated ones repeated).
    """
    return sorted(obj.name for obj in objects)


@dataclass
class Cast:
    """
    What L{makeCast} saves.
    """

    pixar: Studio
    united: Studio
    up: Film
    heat: Film
    jaws: Film
    ann: Actor
    bob: Actor
    cy: Actor
    ace: Agent


async def makeCast() -> Cast:
    """
    Save: studios Pixar (Up, Heat; its flagship Up) and United (Jaws);
    films Up (2009), Heat (1995), Jaws (1975); the agent Ace of Ann and
    Bob; Cy without agent or roles; roles, written as plain rows: Ann as
    the lead of Up (billing 1) and a cameo in Heat (3), Bob as a voice in
    Up (2) and the lead of Jaws (1).
    """
    pixar = await Studio(name="Pixar").save()
    united = await Studio(name="United").save()
    up = await Film(title="Up", year=2009, studio_id=pixar.id, flagship_studio_id=pixar.id).save()
    heat = await Film(title="Heat", year=1995, studio_id=pixar.id).save()
    jaws = await Film(title="Jaws", year=1975, studio_id=united.id).save()
    ace = await Agent(name="Ace").save()
    ann = await Actor(name="Ann", agent_id=ace.id).save()
    bob = await Actor(name="Bob", agent_id=ace.id).save()
    cy = await Actor(name="Cy").save()
    config = Registry.getConfig()
    for actor, film, part, billing in ((ann, up, "lead", 1), (ann, heat, "cameo", 3),
                                       (bob, up, "voice", 2), (bob, jaws, "lead", 1)):
        await config.insert("jm_roles", {"actor_id": actor.id, "film_id": film.id,
                                         "part": part, "billing": billing})
    return Cast(pixar, united, up, heat, jaws, ann, bob, cy, ace)


class ThroughTestCase(DBTestCase):
    """
    A test case with this module's tables, empty, and helpers reading them.
    """

    async def setUp(self) -> None:
        await super().setUp()
        if self.backend == SQLITE or testDatabase() not in _made:
            await self.pool.runInteraction(_createTables, self.backend, TABLES)
            if self.backend != SQLITE:
                _made.add(testDatabase())
        else:
            await self.pool.runInteraction(_emptyTables, TABLES)
        del hooksRun[:]

    async def table(self, sql: str) -> list[tuple[Any, ...]]:
        """
        @param sql: a C{SELECT} without placeholders.
        @return: its rows, as tuples.
        """
        return [tuple(row) for row in await self.pool.runQuery(sql)]

    async def roleRows(self) -> list[tuple[Any, ...]]:
        """
        @return: C{(actor name, film title, part, billing)} of every role,
            sorted.
        """
        return sorted(await self.table(
            "SELECT a.name, f.title, r.part, r.billing FROM jm_roles r "
            "JOIN jm_actors a ON a.id = r.actor_id JOIN jm_films f ON f.id = r.film_id"
        ))

    async def assertFailsWith(self, work: Any, error: type[Exception]) -> Exception:
        """
        Assert that calling C{work} raises C{error} or gives a L{Deferred}
        that fails with it.

        @return: the exception.
        """
        return await self.assertFailure(maybeDeferred(work), error)


# -- HABTM through a join model -----------------------------------------------------


class JoinModelTests(ThroughTestCase):
    """
    A HABTM through the join model L{Role}: C{Actor.films}.
    """

    async def test_getAndCount(self) -> None:
        """
        C{get()} gives the films linked by the actor's roles and C{count()}
        their number, with one query joining the join model's table (no
        subquery); C{get} takes C{find}'s arguments.
        """
        c = await makeCast()
        await c.ann.films.get()  # the schema is read
        queries = captureQueries(self)
        self.assertIsInstance(c.ann.films, HABTMThrough)
        self.assertEqual(titles(await c.ann.films.get()), ["Heat", "Up"])
        self.assertEqual(len(queries.all()), 1)
        sql = queries.all()[0]
        self.assertIn("JOIN", sql)
        self.assertIn(self.config.quoteIdentifier("jm_roles"), sql)
        self.assertNotIn("IN (SELECT", sql)
        self.assertEqual(await c.ann.films.count(), 2)
        self.assertEqual(await c.cy.films.get(), [])
        self.assertEqual(await c.cy.films.count(), 0)
        self.assertEqual(titles(await c.ann.films.get(where=["year > ?", 2000])), ["Up"])
        first = await c.ann.films.get(orderby="jm_films.year DESC", limit=1)
        self.assertEqual(first.title, "Up")
        self.assertEqual((await c.bob.films.get(id=c.jaws.id)).title, "Jaws")
        self.assertIsNone(await c.bob.films.get(id=c.heat.id))

    async def test_filterAndOrderByJoinColumns(self) -> None:
        """
        The query of the relationship joins the join model's table: its
        conditions, order and plucked columns may name that table's
        columns; C{get} and C{count} take C{join_where}, a where on it.
        """
        c = await makeCast()
        leads = c.bob.films.where("jm_roles.part = ?", "lead")
        self.assertEqual(titles(await leads.all()), ["Jaws"])
        self.assertEqual(await leads.count(), 1)
        byBilling = c.ann.films.order("jm_roles.billing DESC")
        self.assertEqual([f.title for f in await byBilling.all()], ["Heat", "Up"])
        self.assertEqual(await c.ann.films.order("jm_roles.billing").pluck("jm_roles.part"),
                         ["lead", "cameo"])
        self.assertEqual((await c.ann.films.order("jm_roles.billing").first()).title, "Up")
        self.assertEqual(titles(await c.ann.films.where(**{"jm_roles.billing": 3}).all()),
                         ["Heat"])
        self.assertEqual(titles(await c.ann.films.get(join_where=["part = ?", "cameo"])),
                         ["Heat"])
        self.assertEqual(await c.ann.films.count(join_where=["billing < ?", 3]), 1)
        self.assertEqual(await c.ann.films.count(where=["year < ?", 2000]), 1)
        sql, args = c.ann.films.where("jm_roles.part = ?", "lead").toSQL()
        self.assertIn("INNER JOIN", sql)
        self.assertEqual(args, [c.ann.id, "lead"])
        page = await c.ann.films.order("jm_films.title").page(1, perPage=1)
        self.assertEqual(([f.title for f in page.items], page.total), (["Heat"], 2))

    async def test_add(self) -> None:
        """
        C{add(film, **columns)} saves a new join model object linking the
        actor and the film, with the extra columns, running its hooks, and
        gives it; the film is then among the actor's.
        """
        c = await makeCast()
        role = await c.cy.films.add(c.jaws, part="shark", billing=4)
        self.assertIsInstance(role, Role)
        self.assertEqual((role.actor_id, role.film_id, role.part), (c.cy.id, c.jaws.id, "shark"))
        self.assertIsNotNone(role.id)
        self.assertEqual(hooksRun, [("create", "shark"), ("save", "shark")])
        self.assertIn(("Cy", "Jaws", "shark", 4), await self.roleRows())
        self.assertEqual(titles(await c.cy.films.get()), ["Jaws"])
        self.assertEqual(names(await c.jaws.actors.get()), ["Bob", "Cy"])
        again = await Role.find(role.id)
        self.assertEqual((again.part, again.billing), ("shark", 4))
        bare = await c.cy.films.add(c.up)
        self.assertEqual(bare.toHash(["actor_id", "film_id", "part"], includeBlank=True),
                         {"actor_id": c.cy.id, "film_id": c.up.id, "part": None})
        self.assertIn(("Cy", "Up", None, None), await self.roleRows())

    async def test_addRefused(self) -> None:
        """
        C{add} of an invalid join model object fails with
        L{ValidationError}, and one whose hook cancels its save with
        L{DBObjectSaveError}, writing nothing; an unsaved film, an object
        of another class or a column that links it is refused before
        anything is sent.
        """
        c = await makeCast()
        before = await self.roleRows()
        error = await self.assertFailsWith(lambda: c.cy.films.add(c.up, billing=0),
                                           ValidationError)
        assert isinstance(error, ValidationError)
        self.assertEqual(error.objects[0].errors, {"billing": ["Billing must be at least 1"]})
        await self.assertFailsWith(lambda: c.cy.films.add(c.up, part="cut"), DBObjectSaveError)
        queries = captureQueries(self)
        self.assertRaises(ReferenceNotSavedError, c.cy.films.add, Film(title="New"))
        self.assertRaises(TypeError, c.cy.films.add, c.bob)
        error = self.assertRaises(TypeError, c.cy.films.add, c.up, film_id=c.jaws.id)
        self.assertIn("film_id", str(error))
        self.assertEqual(queries.all(), [])
        self.assertEqual(await self.roleRows(), before)

    async def test_joinRowsAreModels(self) -> None:
        """
        The join rows are ordinary L{Role} objects: found through the
        actor's has-many, by the finders, updated and deleted with their
        hooks; the relationship sees the changes.
        """
        c = await makeCast()
        role = (await c.ann.roles.where(film_id=c.heat.id).all())[0]
        self.assertEqual((role.part, role.billing), ("cameo", 3))
        self.assertEqual((await role.film.get()).title, "Heat")
        self.assertEqual((await role.actor.get()).name, "Ann")
        role.part = "villain"
        await role.save()
        self.assertEqual(titles(await c.ann.films.where("jm_roles.part = ?", "villain").all()),
                         ["Heat"])
        self.assertEqual(len(await Role.findBy(part="lead")), 2)
        await role.delete()
        self.assertIn(("delete", "villain"), hooksRun)
        self.assertEqual(titles(await c.ann.films.get()), ["Up"])
        self.assertEqual(await Role.count(), 3)

    async def test_linkedTwice(self) -> None:
        """
        A film linked twice to an actor (two roles) comes twice from
        C{get}, C{count}, the query and eager loading, as the join gives
        it; C{distinct()} gives it once.
        """
        c = await makeCast()
        await c.ann.films.add(c.up, part="double", billing=5)
        self.assertEqual(titles(await c.ann.films.get()), ["Heat", "Up", "Up"])
        self.assertEqual(await c.ann.films.count(), 3)
        self.assertEqual(titles(await c.ann.films.query().all()), ["Heat", "Up", "Up"])
        self.assertEqual(titles(await c.ann.films.distinct().all()), ["Heat", "Up"])
        self.assertEqual(await c.ann.films.distinct().count(), 2)
        [ann] = await Actor.find(where=["name = ?", "Ann"], include="films")
        self.assertEqual(titles(await ann.films.get()), ["Heat", "Up", "Up"])
        self.assertEqual(names(await c.up.actors.get()), ["Ann", "Ann", "Bob"])

    async def test_remove(self) -> None:
        """
        C{remove(*films)} deletes every join row linking the actor to those
        films (without the join model's hooks), and gives their number;
        other actors' rows stay.
        """
        c = await makeCast()
        await c.ann.films.add(c.up, part="double")
        del hooksRun[:]
        self.assertEqual(await c.ann.films.remove(c.up), 2)
        self.assertEqual(hooksRun, [])
        self.assertEqual(titles(await c.ann.films.get()), ["Heat"])
        self.assertEqual(await c.ann.films.remove(c.up, c.jaws), 0)
        self.assertEqual(await c.bob.films.remove(c.up, c.jaws, c.jaws), 2)
        self.assertEqual(await self.roleRows(), [("Ann", "Heat", "cameo", 3)])
        self.assertRaises(ReferenceNotSavedError, c.ann.films.remove, Film(title="New"))
        self.assertEqual(await c.ann.films.remove(), 0)

    async def test_set(self) -> None:
        """
        C{set(films)} keeps the join rows of the films kept (their ids and
        columns unchanged), deletes the others' (without hooks) and saves a
        new join model object for each film not linked yet (its hooks run);
        a film given twice is linked once.
        """
        c = await makeCast()
        upRole = (await c.ann.roles.where(film_id=c.up.id).all())[0]
        await c.ann.films.set([c.up, c.jaws, c.jaws])
        self.assertEqual(hooksRun, [("create", None), ("save", None)])
        rows = await self.roleRows()
        self.assertEqual([row for row in rows if row[0] == "Ann"],
                         [("Ann", "Jaws", None, None), ("Ann", "Up", "lead", 1)])
        self.assertEqual(len([row for row in rows if row[0] == "Bob"]), 2)
        kept = (await c.ann.roles.where(film_id=c.up.id).all())[0]
        self.assertEqual(kept.id, upRole.id)
        self.assertEqual(titles(await c.ann.films.get()), ["Jaws", "Up"])
        await c.ann.films.set([])
        self.assertEqual(await c.ann.films.get(), [])
        self.assertEqual(len(await self.roleRows()), 2)

    async def test_setRefused(self) -> None:
        """
        C{set} fails with L{ValidationError} when a new join model object is
        invalid, and with L{DBObjectSaveError} when its hook cancels its
        save, changing nothing (the rows it deleted first come back).
        """
        c = await makeCast()
        before = await self.roleRows()
        self.patch(Role, "requirePart", True)
        await self.assertFailsWith(lambda: c.ann.films.set([c.jaws]), ValidationError)
        self.assertEqual(await self.roleRows(), before)
        self.patch(Role, "requirePart", False)
        self.patch(Role, "beforeCreate", lambda self: False)
        await self.assertFailsWith(lambda: c.ann.films.set([c.jaws]), DBObjectSaveError)
        self.assertEqual(await self.roleRows(), before)
        self.assertRaises(TypeError, c.ann.films.set, [c.bob])

    async def test_clear(self) -> None:
        """
        C{clear()} deletes every join row of the actor, without hooks, and
        no other.
        """
        c = await makeCast()
        await c.ann.films.clear()
        self.assertEqual(await c.ann.films.get(), [])
        self.assertEqual(hooksRun, [])
        self.assertEqual([row[0] for row in await self.roleRows()], ["Bob", "Bob"])

    async def test_deleteOwnerDeletesJoinRows(self) -> None:
        """
        Deleting an actor deletes its join rows, as a plain HABTM's are, and
        so does deleting a film (the other end of the HABTM), without the
        join model's hooks.
        """
        c = await makeCast()
        await c.ann.delete()
        self.assertEqual([row[:2] for row in await self.roleRows()],
                         [("Bob", "Jaws"), ("Bob", "Up")])
        await c.jaws.delete()
        self.assertEqual([row[:2] for row in await self.roleRows()], [("Bob", "Up")])
        self.assertEqual(await self.table("SELECT COUNT(*) FROM jm_roles"), [(1,)])
        self.assertEqual(hooksRun, [])

    async def test_changesForgetLoaded(self) -> None:
        """
        C{add}, C{remove}, C{set} and C{clear} forget the films loaded
        eagerly, so that the next C{get()} reads them again.
        """
        c = await makeCast()
        changes = [
            lambda ann: ann.films.add(c.jaws),
            lambda ann: ann.films.remove(c.jaws),
            lambda ann: ann.films.set([c.jaws]),
            lambda ann: ann.films.clear(),
        ]
        for change in changes:
            ann = await Actor.find(c.ann.id, include="films")
            before = titles(await ann.films.get())
            await change(ann)
            self.assertEqual(titles(await ann.films.get()), titles(await c.ann.films.get()))
            self.assertNotEqual(titles(await ann.films.get()), before)

    async def test_eager(self) -> None:
        """
        C{find(include=...)}, C{includes} and C{preload} load the films of
        every actor with one query joining the join model's table, giving
        what C{get()} gives.
        """
        c = await makeCast()
        await c.ann.films.add(c.up, part="double")
        lazy = {actor.name: titles(await actor.films.get()) for actor in await Actor.all()}
        self.assertEqual(lazy, {"Ann": ["Heat", "Up", "Up"], "Bob": ["Jaws", "Up"], "Cy": []})
        queries = captureQueries(self)
        loaded = [
            await Actor.find(include="films"),
            await Actor.includes("films").all(),
            await Actor.preload(await Actor.all(), "films"),
        ]
        self.assertEqual(len(queries.starting("SELECT")), 6)
        for actors in loaded:
            queries.reset()
            self.assertEqual({a.name: titles(await a.films.get()) for a in actors}, lazy)
            self.assertEqual(queries.all(), [])

    async def test_joins(self) -> None:
        """
        C{Actor.joins("films")} joins the join model's table and the films'
        table; C{leftJoins} keeps actors without films.
        """
        c = await makeCast()
        recent = Actor.joins("films").where("jm_films.year > ?", 2000).distinct()
        self.assertEqual(names(await recent.all()), ["Ann", "Bob"])
        leads = Actor.joins("films").where("jm_roles.part = ? AND jm_films.year < ?", "lead", 2000)
        self.assertEqual(names(await leads.all()), ["Bob"])
        self.assertEqual(await Actor.joins("films").count(), 4)
        alone = Actor.leftJoins("films").where("jm_films.id IS NULL")
        self.assertEqual([a.id for a in await alone.all()], [c.cy.id])


class JoinModelSecondDriverTests(JoinModelTests):
    """
    L{JoinModelTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- has-many through --------------------------------------------------------------


class HasManyThroughTests(ThroughTestCase):
    """
    A has-many through another relationship of the owner.
    """

    async def test_sourceBelongsTo(self) -> None:
        """
        C{Film.actors} goes through the film's roles to each role's actor
        (the source found by the singular C{actor}); C{Actor.credits}
        through the actor's roles to their film (the source named).
        """
        c = await makeCast()
        self.assertIsInstance(c.up.actors, HasManyThrough)
        self.assertEqual(names(await c.up.actors.get()), ["Ann", "Bob"])
        self.assertEqual(await c.up.actors.count(), 2)
        self.assertEqual(titles(await c.ann.credits.get()), ["Heat", "Up"])
        self.assertEqual(titles(await c.ann.credits.get()), titles(await c.ann.films.get()))
        self.assertEqual(await c.cy.credits.get(), [])

    async def test_filterAndOrderByMiddleColumns(self) -> None:
        """
        The query joins the tables on the way: its conditions and order may
        name their columns, as C{get}'s and C{count}'s C{where} may.
        """
        c = await makeCast()
        byBilling = c.up.actors.order("jm_roles.billing")
        self.assertEqual([a.name for a in await byBilling.all()], ["Ann", "Bob"])
        self.assertEqual([a.name for a in await c.up.actors.order("jm_roles.billing DESC").all()],
                         ["Bob", "Ann"])
        self.assertEqual(names(await c.up.actors.where("jm_roles.part = ?", "voice").all()),
                         ["Bob"])
        self.assertEqual(names(await c.up.actors.get(where=["jm_roles.part = ?", "lead"])),
                         ["Ann"])
        self.assertEqual(await c.up.actors.count(where=["jm_roles.billing > ?", 1]), 1)
        self.assertEqual(await c.ann.credits.order("jm_roles.billing").pluck("title"),
                         ["Up", "Heat"])
        sql, args = c.up.actors.query().toSQL()
        self.assertIn("INNER JOIN", sql)
        self.assertNotIn("IN (SELECT", sql)
        self.assertEqual(args, [c.up.id])

    async def test_sourceHasMany(self) -> None:
        """
        C{Studio.roles} goes through the studio's films to their roles (the
        source found by the plural name, a has-many).
        """
        c = await makeCast()
        self.assertEqual(sorted(r.part for r in await c.pixar.roles.get()),
                         ["cameo", "lead", "voice"])
        self.assertEqual(sorted(r.part for r in await c.united.roles.get()), ["lead"])
        self.assertEqual(await c.pixar.roles.where("jm_films.year < ?", 2000).pluck("part"),
                         ["cameo"])

    async def test_nested(self) -> None:
        """
        A source may itself go through others: C{Studio.actors} through the
        studio's films to their actors (a has-many through their roles),
        C{Agent.films} through the agent's actors to their films (a HABTM
        through L{Role}); an actor in two of the studio's films comes twice.
        """
        c = await makeCast()
        self.assertEqual(names(await c.pixar.actors.get()), ["Ann", "Ann", "Bob"])
        self.assertEqual(names(await c.pixar.actors.distinct().all()), ["Ann", "Bob"])
        self.assertEqual(names(await c.united.actors.get()), ["Bob"])
        self.assertEqual(titles(await c.ace.films.get()), ["Heat", "Jaws", "Up", "Up"])
        self.assertEqual(titles(await c.ace.films.where("jm_actors.name = ?", "Bob").all()),
                         ["Jaws", "Up"])
        leads = c.ace.films.where("jm_roles.part = ?", "lead").order("jm_films.year")
        self.assertEqual([f.title for f in await leads.all()], ["Jaws", "Up"])

    async def test_throughHasOne(self) -> None:
        """
        A has-many may go through a has-one: C{Studio.flagship_cast}, the
        actors of the studio's flagship film.
        """
        c = await makeCast()
        self.assertEqual(names(await c.pixar.flagship_cast.get()), ["Ann", "Bob"])
        self.assertEqual(await c.united.flagship_cast.get(), [])

    async def test_throughPolymorphic(self) -> None:
        """
        A has-many may go through a polymorphic has-many (C{as}): only the
        rows whose type column names the owner's class are followed.
        """
        c = await makeCast()
        # A studio's memo with the agent's id: the type tells them apart.
        await Memo(body="a", memoable_id=c.ace.id, memoable_type="Agent", film_id=c.up.id).save()
        await Memo(body="s", memoable_id=c.ace.id, memoable_type="Studio",
                   film_id=c.jaws.id).save()
        self.assertEqual(titles(await c.ace.memo_films.get()), ["Up"])
        [ace] = await Agent.find(where=["id = ?", c.ace.id], include="memo_films")
        self.assertEqual(titles(await ace.memo_films.get()), ["Up"])
        self.assertEqual(names(await Agent.joins("memo_films").all()), ["Ace"])

    async def test_readOnly(self) -> None:
        """
        A has-many through has no C{set}, C{add}, C{remove} or C{clear}:
        each raises L{InvalidRelationshipError}, sending nothing.
        """
        c = await makeCast()
        queries = captureQueries(self)
        for call in (lambda: c.up.actors.set([c.cy]), lambda: c.up.actors.add(c.cy),
                     lambda: c.up.actors.remove(c.ann), lambda: c.up.actors.clear()):
            error = self.assertRaises(InvalidRelationshipError, call)
            self.assertIn("'roles'", str(error))
        self.assertEqual(queries.all(), [])

    async def test_eager(self) -> None:
        """
        Every has-many through is loaded eagerly with one query per
        relationship (per chunk of owners), giving what C{get()} gives.
        """
        await makeCast()
        cases = [(Film, ("actors",)), (Actor, ("credits",)),
                 (Studio, ("roles", "actors", "flagship_cast")), (Agent, ("films",))]
        for klass, rels in cases:
            owners = await klass.all()
            lazy = [await relatedIds(owner, rels) for owner in owners]
            queries = captureQueries(self)
            loaded = await klass.find(include=list(rels))
            self.assertEqual(len(queries.starting("SELECT")), 1 + len(rels))
            queries.reset()
            self.assertEqual([await relatedIds(owner, rels) for owner in loaded], lazy)
            self.assertEqual(queries.all(), [])
        self.patch(eager, "chunkSize", lambda config: 2)
        queries = captureQueries(self)
        films = await Film.preload(await Film.all(), "actors")
        self.assertEqual(len(queries.starting("SELECT")), 1 + 2)
        self.assertEqual({f.title: names(await f.actors.get()) for f in films},
                         {"Up": ["Ann", "Bob"], "Heat": ["Ann"], "Jaws": ["Bob"]})
        studios = await Studio.includes("actors").all()
        self.assertEqual({s.name: names(await s.actors.get()) for s in studios},
                         {"Pixar": ["Ann", "Ann", "Bob"], "United": ["Bob"]})

    async def test_joins(self) -> None:
        """
        C{Model.joins(name)} of a has-many through joins each table on its
        way; C{leftJoins} left-joins them.
        """
        c = await makeCast()
        withAnn = Studio.joins("actors").where("jm_actors.name = ?", "Ann").distinct()
        self.assertEqual(names(await withAnn.all()), ["Pixar"])
        sql, _ = Studio.joins("actors").toSQL()
        for table in ("jm_films", "jm_roles", "jm_actors"):
            self.assertIn(f"JOIN {self.config.quoteIdentifier(table)}", sql)
        self.assertEqual(await Film.joins("actors").where("jm_actors.name = ?", "Bob").count(), 2)
        noActors = Actor.leftJoins("credits").where("jm_films.id IS NULL")
        self.assertEqual([a.id for a in await noActors.all()], [c.cy.id])


class HasManyThroughSecondDriverTests(HasManyThroughTests):
    """
    L{HasManyThroughTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- keys other than id ----------------------------------------------------------------


class CustomKeyTests(ThroughTestCase):
    """
    Join models between models keyed by text columns (C{Band.code},
    C{Venue.slug}), the join model keyed by C{gig_no}.
    """

    async def makeGigs(self) -> tuple[Band, Band, Venue, Venue]:
        """
        Save the bands C{abba} and C{kiss} and the venues C{roxy} and
        C{apollo}; abba plays the roxy twice (fees 10 and 20) and the
        apollo once (30).
        """
        abba = await Band(code="abba", name="ABBA").save()
        kiss = await Band(code="kiss", name="Kiss").save()
        roxy = await Venue(slug="roxy", city="LA").save()
        apollo = await Venue(slug="apollo", city="NY").save()
        for venue, fee in ((roxy, 10), (roxy, 20), (apollo, 30)):
            gig = await abba.venues.add(venue, fee=fee)
            self.assertEqual((gig.band_id, gig.venue_id, gig.fee), ("abba", venue.slug, fee))
            self.assertIsNotNone(gig.gig_no)
        return abba, kiss, roxy, apollo

    async def gigRows(self) -> list[tuple[Any, ...]]:
        """
        @return: C{(band_id, venue_id, fee)} of every gig, sorted.
        """
        return sorted(await self.table("SELECT band_id, venue_id, fee FROM jm_gigs"),
                      key=repr)

    async def test_habtmThrough(self) -> None:
        """
        C{add}, C{get}, C{count}, queries, C{remove}, C{set} and C{clear}
        link by the keys' columns, and the join objects are keyed by
        C{gig_no}.
        """
        abba, kiss, roxy, apollo = await self.makeGigs()
        self.assertEqual(sorted(v.slug for v in await abba.venues.get()),
                         ["apollo", "roxy", "roxy"])
        self.assertEqual(await abba.venues.count(), 3)
        self.assertEqual(await abba.venues.order("jm_gigs.fee DESC").pluck("slug"),
                         ["apollo", "roxy", "roxy"])
        self.assertEqual((await abba.venues.get(id="apollo")).city, "NY")
        gig = (await Gig.findBy(fee=30))[0]
        gig.fee = 35
        await gig.save()
        self.assertIn(("abba", "apollo", 35), await self.gigRows())
        self.assertEqual(await abba.venues.remove(roxy), 2)
        await kiss.venues.set([roxy, apollo])
        await abba.venues.set([apollo, roxy])
        self.assertEqual(await self.gigRows(), [
            ("abba", "apollo", 35), ("abba", "roxy", None), ("kiss", "apollo", None),
            ("kiss", "roxy", None),
        ])
        await kiss.venues.clear()
        self.assertEqual(await kiss.venues.get(), [])
        await roxy.delete()
        self.assertEqual(await self.gigRows(), [("abba", "apollo", 35)])

    async def test_hasManyThroughAndEager(self) -> None:
        """
        C{Venue.bands} goes through the venue's gigs to their bands; both
        relationships load eagerly and join as their C{get()} reads.
        """
        abba, kiss, roxy, apollo = await self.makeGigs()
        await kiss.venues.add(apollo)
        self.assertEqual(sorted(b.code for b in await roxy.bands.get()), ["abba", "abba"])
        self.assertEqual(sorted(b.code for b in await apollo.bands.get()), ["abba", "kiss"])
        venues = await Venue.find(include="bands", orderby="slug")
        self.assertEqual([sorted(b.code for b in await v.bands.get()) for v in venues],
                         [["abba", "kiss"], ["abba", "abba"]])
        bands = await Band.preload(await Band.find(orderby="code"), "venues")
        self.assertEqual([sorted(v.slug for v in await b.venues.get()) for b in bands],
                         [["apollo", "roxy", "roxy"], ["apollo"]])
        self.assertEqual(await Band.joins("venues").where("jm_venues.city = ?", "LA")
                         .distinct().pluck("code"), ["abba"])
        self.assertEqual(await Venue.joins("bands").where(**{"jm_bands.code": "kiss"})
                         .pluck("slug"), ["apollo"])


    async def test_compositeKey(self) -> None:
        """
        A join model links objects of a composite key by as many columns;
        both ends read, change, load eagerly and join through it.
        """
        one = await Parcel(tenant_id=1, number=1).save()
        two = await Parcel(tenant_id=1, number=2).save()
        red = await Stamp(name="red").save()
        blue = await Stamp(name="blue").save()
        stamping = await one.stamps.add(red, weight=5)
        self.assertEqual((stamping.parcel_tenant_id, stamping.parcel_number, stamping.stamp_id),
                         (1, 1, red.id))
        await one.stamps.add(blue)
        await two.stamps.add(blue)
        self.assertEqual(names(await one.stamps.get()), ["blue", "red"])
        self.assertEqual(names(await one.marks.where("jm_stampings.weight = ?", 5).all()),
                         ["red"])
        self.assertEqual(sorted(p._keyValue() for p in await blue.parcels.get()),
                         [(1, 1), (1, 2)])
        parcels = await Parcel.find(include=["stamps", "marks"], orderby="number")
        self.assertEqual([(names(await p.stamps.get()), names(await p.marks.get()))
                          for p in parcels],
                         [(["blue", "red"], ["blue", "red"]), (["blue"], ["blue"])])
        stamps = await Stamp.preload(await Stamp.find(orderby="name"), "parcels")
        self.assertEqual([sorted(p.number for p in await s.parcels.get()) for s in stamps],
                         [[1, 2], [1]])
        self.assertEqual(await Parcel.joins("marks").where("jm_stamps.name = ?", "red")
                         .pluck("number"), [1])
        await one.stamps.set([blue])
        self.assertEqual(await one.stamps.remove(blue), 1)
        await two.delete()
        self.assertEqual(await self.table("SELECT COUNT(*) FROM jm_stampings"), [(0,)])


class CustomKeySecondDriverTests(CustomKeyTests):
    """
    L{CustomKeyTests} through psycopg (3) and PyMySQL.
    """

    secondDriver = True


# -- declarations ------------------------------------------------------------------


def uses(obj: Any, name: str) -> list[Callable[[], Any]]:
    """
    @return: calls that use the relationship C{name} of C{obj}'s class:
        reading it from C{obj}, including it in a query, preloading it for
        C{obj}, joining it, finding with it included.
    """
    klass = type(obj)
    return [partial(getattr, obj, name), partial(klass.includes, name),
            partial(klass.preload, [obj], name), partial(klass.joins, name),
            partial(klass.find, include=name)]



class DeclarationTests(SynchronousTestCase):
    """
    Bad C{through} and C{source} declarations raise
    L{InvalidRelationshipError}: when the class is defined for what the
    class alone tells, else when the relationship is first used, before any
    SQL.
    """

    def register(self, *klasses: type) -> None:
        """
        Register C{klasses} until the test ends.
        """
        saved = dict(Registry.REGISTRATION)

        def restore() -> None:
            Registry.REGISTRATION.clear()
            Registry.REGISTRATION.update(saved)

        self.addCleanup(restore)
        Registry.register(*klasses)

    def assertDefinitionFails(self, message: str, **declarations: Any) -> None:
        """
        Assert that a model declaring C{declarations} cannot be defined,
        with C{message} in the error.
        """
        with self.assertRaises(InvalidRelationshipError) as caught:
            type("Bad", (DBObject,), dict(declarations))
        self.assertIn(message, str(caught.exception))

    def test_atDefinition(self) -> None:
        """
        The errors a class shows alone: C{through} on a has-one or a
        belongs-to, or not a name; C{source} without C{through}; a
        HABTM through with a C{join_table}; a has-many through with a class
        or keys of its own, through a name that is no relationship, no
        has-many or has-one, or through itself.
        """
        fails = self.assertDefinitionFails
        fails("'through' is for", HASONE=[{"name": "film", "through": "Role"}])
        fails("'through' is for", BELONGSTO=[{"name": "film", "through": "roles"}])
        fails("bad through", HABTM=[{"name": "films", "through": 3}])
        fails("bad source",
              HASMANY=["roles", {"name": "films", "through": "roles", "source": "a b"}])
        fails("'source' goes with", HASMANY=[{"name": "films", "source": "film"}])
        fails("'source' goes with", HABTM=[{"name": "films", "through": "Role",
                                            "source": "film"}])
        fails("join_table", HABTM=[{"name": "films", "through": "Role", "join_table": "x"}])
        for option, value in (("class_name", "Film"), ("foreign_key", "x_id"),
                              ("association_foreign_key", "y_id"), ("join_table", "t"),
                              ("as", "thing")):
            fails(option, HASMANY=["roles", {"name": "films", "through": "roles",
                                             option: value}])
        fails("which is no relationship", HASMANY=[{"name": "films", "through": "roles"}])
        fails("a BELONGSTO", HASMANY=[{"name": "films", "through": "studio"}],
              BELONGSTO=["studio"])
        fails("a HABTM", HASMANY=[{"name": "actors", "through": "films"}],
              HABTM=[{"name": "films", "through": "Role"}])
        fails("goes through itself", HASMANY=[{"name": "a", "through": "b"},
                                              {"name": "b", "through": "a"}])
        fails("goes through itself", HASMANY=[{"name": "a", "through": "a"}])

    def test_whenUsed(self) -> None:
        """
        What needs the other classes is checked when the relationship is
        read from an object, joined, included or preloaded: a source not
        found, found twice (singular and plural) or a polymorphic
        belongs-to; a path meeting a table twice; an unregistered join
        model.
        """

        class Nowhere(DBObject):
            TABLENAME = "jm_films"
            HASMANY = [
                {"name": "roles", "class_name": "Role", "foreign_key": "film_id"},
                {"name": "stars", "through": "roles"},
                {"name": "gigs", "through": "roles", "source": "gig"},
                {"name": "memoables", "through": "memos"},
                {"name": "memos", "class_name": "Memo", "foreign_key": "film_id"},
                {"name": "twins", "through": "both"},
                {"name": "both", "class_name": "Twin", "foreign_key": "film_id"},
            ]
            HABTM = [{"name": "others", "class_name": "Film", "through": "Unknown"}]

        class Twin(DBObject):
            TABLENAME = "jm_roles"
            BELONGSTO = [{"name": "twin", "class_name": "Film", "foreign_key": "film_id"}]
            HASMANY = [{"name": "twins", "class_name": "Film", "foreign_key": "id"}]

        class Loop(DBObject):
            TABLENAME = "jm_studios"
            HASMANY = [
                {"name": "films", "class_name": "Film", "foreign_key": "studio_id"},
                {"name": "roles", "through": "films"},
                {"name": "again", "through": "roles", "source": "film"},
            ]

        self.register(Nowhere, Twin, Loop)
        obj = Nowhere(id=1)
        for name, message in (("stars", "no relationship 'star' or 'stars'"),
                              ("gigs", "no relationship 'gig'"),
                              ("memoables", "polymorphic"),
                              ("twins", "both 'twin' and 'twins'")):
            for use in uses(obj, name):
                with self.assertRaises(InvalidRelationshipError) as caught:
                    use()
                self.assertIn(message, str(caught.exception))
        self.assertRaises(ClassNotRegisteredError, getattr, obj, "others")
        loop = Loop(id=1)
        calls = uses(loop, "again")
        # The owner's table is on the way too: joining it is refused as any
        # join naming a table twice is.
        self.assertRaises(InvalidQueryError, calls.pop(3))
        for use in calls:
            with self.assertRaises(InvalidRelationshipError) as caught:
                use()
            self.assertIn("meets the table jm_films twice", str(caught.exception))
