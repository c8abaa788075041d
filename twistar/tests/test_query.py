"""
Tests for L{twistar.query}: every method of L{Query} and L{Page}, on the
test database, with exact SQL (from L{Query.toSQL} or the query log) where
the shape of the SQL is the point, and query counts where the number of
queries is.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Callable
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.trial.unittest import SkipTest

from twistar.dbobject import DBObject
from twistar.exceptions import (
    DatabaseError,
    InvalidIdentifierError,
    InvalidQueryError,
    InvalidRelationshipError,
    LockTimeoutError,
    PlaceholderCountError,
    TransactionError,
    UnsupportedValueError,
)
from twistar.query import Page, Query
from twistar.registry import Registry
from twistar.tests.helpers import MYSQL, SQLITE, DBTestCase
from twistar.tests.models import (
    Article,
    Avatar,
    Blogpost,
    Boy,
    Category,
    Coltest,
    Comment,
    FavoriteColor,
    Girl,
    Label,
    Nickname,
    Picture,
    SafetyOwner,
    User,
)
from twistar.tests.test_logging import captureQueries
from twistar.utils import transaction


class Audited(DBObject):
    """
    C{users} again, with a validation and hooks that record their calls:
    the query layer's bulk writes run neither.
    """

    TABLENAME = "users"
    hooks: list[str] = []

    def afterInit(self) -> None:
        self.initialised = True

    def beforeSave(self) -> None:
        Audited.hooks.append("beforeSave")

    def beforeUpdate(self) -> None:
        Audited.hooks.append("beforeUpdate")

    def beforeDelete(self) -> None:
        Audited.hooks.append("beforeDelete")


Audited.validatesPresenceOf("first_name")


class Counter(DBObject):
    """
    A row of C{tallies}, whose C{count} column is named like a SQL
    function and like L{Query.count}.
    """

    TABLENAME = "tallies"


Registry.register(Audited, Counter)


async def names(query: Query[Any]) -> list[str]:
    """
    @return: the sorted first names of the users C{query} finds.
    """
    return sorted(user.first_name for user in await query.all())


async def drain(items: AsyncIterable[Any]) -> list[Any]:
    """
    @return: everything an asynchronous iterator gives, in order.
    """
    return [item async for item in items]


def selects(queries: list[str]) -> list[str]:
    """
    @return: the C{SELECT} statements among C{queries}.
    """
    return [query for query in queries if query.lstrip().upper().startswith("SELECT")]


class QueryTestCase(DBTestCase):
    """
    A test case with four users, their pictures, avatars and colours:

      - Alice Smith, 30: pictures p1 (size 10) and p2 (200), avatar "a",
        colours red and blue;
      - Bob Jones, 25: picture p3 (50), colour red;
      - Carol Smith, no age: nothing;
      - Dave Brown, 40: picture p4 (300), avatar "d".

    @ivar queries: the queries logged since its last C{reset()}.
    """

    async def setUp(self) -> None:
        await super().setUp()
        # Saved one by one, so that their ids are in this order.
        self.alice, self.bob, self.carol, self.dave = [
            await User(first_name=first, last_name=last, age=age).save()
            for first, last, age in [("Alice", "Smith", 30), ("Bob", "Jones", 25),
                                     ("Carol", "Smith", None), ("Dave", "Brown", 40)]
        ]
        self.p1, self.p2, self.p3, self.p4 = await Picture.createMany([
            Picture(name="p1", size=10, user_id=self.alice.id),
            Picture(name="p2", size=200, user_id=self.alice.id),
            Picture(name="p3", size=50, user_id=self.bob.id),
            Picture(name="p4", size=300, user_id=self.dave.id),
        ])
        await Avatar.createMany([
            Avatar(name="a", color="green", user_id=self.alice.id),
            Avatar(name="d", color="grey", user_id=self.dave.id),
        ])
        self.red, self.blue = await FavoriteColor.createMany(
            [FavoriteColor(name="red"), FavoriteColor(name="blue")]
        )
        await self.alice.favorite_colors.set([self.red, self.blue])
        await self.bob.favorite_colors.set([self.red])
        self.queries = captureQueries(self)

    def sql(self, text: str) -> str:
        """
        @return: C{text} with C{[} and C{]} replaced by the test database's
            identifier quote and C{$} by its placeholder.
        """
        quote = self.config.identifierQuote
        return text.replace("[", quote).replace("]", quote).replace("$", self.config.placeholder)

    def subquery(self, text: str) -> str:
        """
        @return: the SQL of C{text} as the inside of C{IN (...)}: MySQL and
            MariaDB read a subquery of the table being changed, or one with a
            C{LIMIT}, only through a derived table.
        """
        if self.backend == MYSQL:
            return f"SELECT * FROM ({text}) AS {self.sql('[twistar_subquery]')}"
        return text

    def sent(self) -> list[str]:
        """
        @return: the statements logged since the last call, and forget them.
        """
        sent = self.queries.all()
        self.queries.reset()
        return sent

    async def assertRefused(
        self, exception: type[BaseException], run: Callable[..., Any], *args: Any
    ) -> BaseException:
        """
        Assert that C{run(*args)} fails with C{exception}, either when called
        or through the L{Deferred} (or coroutine) it returns, and that no SQL
        was sent.

        @return: the exception.
        """
        self.queries.reset()
        try:
            result = run(*args)
            if isinstance(result, Deferred) or inspect.isawaitable(result):
                await result
        except exception as error:
            self.assertEqual(self.queries.all(), [], "SQL was sent before the error")
            return error
        self.fail(f"{exception.__name__} not raised")


class StartingTests(QueryTestCase):
    """
    Queries start from the model class with the starters of the contract,
    and only with those.
    """

    async def test_starters(self) -> None:
        """
        C{query}, C{where}, C{whereNot}, C{order}, C{select}, C{joins},
        C{leftJoins}, C{includes}, C{distinct}, C{group} and C{lock} return
        a L{Query} of the model; C{pluck} and C{page} run one.
        """
        for query in [
            User.query(), User.where(age=30), User.whereNot(age=30), User.order("id"),
            User.select("first_name"), User.joins("pictures"), User.leftJoins("avatar"),
            User.includes("pictures"), User.distinct(), User.group("last_name"), User.lock(),
        ]:
            self.assertIsInstance(query, Query)
        self.assertEqual(await names(User.query()), ["Alice", "Bob", "Carol", "Dave"])
        self.assertEqual(sorted(await User.pluck("first_name")), ["Alice", "Bob", "Carol", "Dave"])
        page = await User.page(1, perPage=3)
        self.assertIsInstance(page, Page)
        self.assertEqual((len(page.items), page.total), (3, 4))

    def test_noLimitOrOffsetOnTheClass(self) -> None:
        """
        C{limit} and C{offset} are no class methods: a query starts first.
        """
        self.assertFalse(hasattr(User, "limit"))
        self.assertFalse(hasattr(User, "offset"))

    async def test_finderContractsKept(self) -> None:
        """
        C{count}, C{exists}, C{all}, C{find}, C{findBy} and C{deleteAll} of
        the class keep their twistar 2.0 signatures.
        """
        self.assertEqual(await User.count(["age > ?", 26]), 2)
        self.assertTrue(await User.exists(["first_name = ?", "Bob"]))
        self.assertEqual(len(await User.all()), 4)
        self.assertEqual((await User.find(self.bob.id)).first_name, "Bob")
        self.assertEqual(len(await User.findBy(last_name="Smith")), 2)
        self.assertEqual(await User.deleteAll(["age > ?", 35]), 1)

    async def test_unfiltered(self) -> None:
        """
        C{Model.query()} is every row: C{SELECT * FROM} the table.
        """
        self.assertEqual(User.query().toSQL(), (self.sql("SELECT * FROM [users]"), []))
        self.assertEqual(len(await User.query().all()), 4)

    async def test_toSQLSendsNothing(self) -> None:
        """
        L{Query.toSQL} sends no SQL.
        """
        self.queries.reset()
        User.where(last_name="Smith").joins("pictures").order("users.id").limit(3).toSQL()
        self.assertEqual(self.queries.all(), [])


class ImmutabilityTests(QueryTestCase):
    """
    Each chained call returns a new query and leaves the one it was called
    on as it was; a query can be run again, and run by many at once.
    """

    async def test_chainingLeavesTheOriginal(self) -> None:
        """
        Every chain method returns a new L{Query}; the original's SQL, its
        includes and its lock are unchanged, and it still finds what it did.
        """
        query = User.where(last_name="Smith")
        before = query.toSQL()
        derived = [
            query.where(age=30), query.whereNot(age=30), query | User.where(age=25),
            query.order("age"), query.reorder("age"), query.limit(1), query.offset(1),
            query.select("first_name"), query.distinct(), query.group("age"),
            query.having("COUNT(*) > ?", 1), query.joins("pictures"), query.leftJoins("avatar"),
            query.includes("pictures"), query.lock(),
        ]
        for other in derived:
            self.assertIsInstance(other, Query)
            self.assertIsNot(other, query)
        self.assertEqual(query.toSQL(), before)
        self.sent()
        # No lock (it would need a transaction), no includes (one SELECT).
        self.assertEqual(await names(query), ["Alice", "Carol"])
        self.assertEqual(len(selects(self.sent())), 1)

    async def test_orderAndReorderLeaveTheOriginal(self) -> None:
        """
        C{order} appends to a copy of the order and C{reorder} replaces it in
        a copy: a query ordered once gives both without changing.
        """
        ordered = User.order("last_name")
        self.assertEqual(
            await ordered.order("first_name DESC").pluck("first_name"),
            ["Dave", "Bob", "Carol", "Alice"],
        )
        self.assertEqual(
            await ordered.reorder("first_name").pluck("first_name"),
            ["Alice", "Bob", "Carol", "Dave"],
        )
        self.assertEqual(ordered.toSQL(),
                         (self.sql("SELECT * FROM [users] ORDER BY last_name"), []))

    async def test_reusable(self) -> None:
        """
        A query runs again with the same result, also several times at once.
        """
        query = User.where("age > ?", 20).order("first_name")
        first = [user.first_name for user in await query.all()]
        again = [user.first_name for user in await query.all()]
        self.assertEqual(first, ["Alice", "Bob", "Dave"])
        self.assertEqual(again, first)
        results = await gatherResults([query.all(), query.all(), query.all()])
        self.assertEqual([[user.first_name for user in found] for found in results], [first] * 3)
        self.assertEqual(await gatherResults([query.count(), query.count()]), [3, 3])


class WhereTests(QueryTestCase):
    """
    Tests for L{Query.where}: each of its forms, alone and combined.
    """

    async def test_fragment(self) -> None:
        """
        A trusted fragment with C{?} placeholders and its arguments.
        """
        query = User.where("age > ? AND last_name <> ?", 26, "Brown")
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE age > $ AND last_name <> $"), [26, "Brown"]),
        )
        self.assertEqual(await names(query), ["Alice"])

    async def test_whereList(self) -> None:
        """
        A twistar 2.0 where list is accepted as it is.
        """
        query = User.where(["age > ? AND last_name = ?", 26, "Smith"])
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE age > $ AND last_name = $"), [26, "Smith"]),
        )
        self.assertEqual(await names(query), ["Alice"])

    async def test_keywords(self) -> None:
        """
        Keywords are quoted column equalities, ANDed.
        """
        query = User.where(last_name="Smith", age=30)
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE ([last_name] = $) AND ([age] = $)"),
             ["Smith", 30]),
        )
        self.assertEqual(await names(query), ["Alice"])
        self.assertEqual(await names(User.where(last_name="Smith")), ["Alice", "Carol"])

    async def test_none(self) -> None:
        """
        C{None} is C{IS NULL}.
        """
        query = User.where(age=None)
        self.assertEqual(query.toSQL(), (self.sql("SELECT * FROM [users] WHERE [age] IS NULL"), []))
        self.assertEqual(await names(query), ["Carol"])

    async def test_listAndTuple(self) -> None:
        """
        A list or a tuple is C{IN}, one parameter per value.
        """
        query = User.where(age=[25, 40])
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE [age] IN ($, $)"), [25, 40]),
        )
        self.assertEqual(await names(query), ["Bob", "Dave"])
        self.assertEqual(await names(User.where(first_name=("Bob", "Carol", "Zed"))),
                         ["Bob", "Carol"])

    async def test_emptyList(self) -> None:
        """
        An empty list matches nothing, with C{1 = 0}; negated, everything
        (rows with C{NULL} in that column too).
        """
        query = User.where(age=[])
        self.assertEqual(query.toSQL(), (self.sql("SELECT * FROM [users] WHERE 1 = 0"), []))
        self.assertEqual(await query.all(), [])
        self.assertEqual(await query.count(), 0)
        self.assertEqual(await names(User.whereNot(age=[])), ["Alice", "Bob", "Carol", "Dave"])

    async def test_noneInAList(self) -> None:
        """
        A C{None} in a list matches C{NULL}, as C{age=None} does: C{IN} the
        other values C{OR IS NULL}; negated, neither those values nor
        C{NULL}.
        """
        await User(first_name="Eve", last_name="Smith", age=30).save()
        query = User.where(age=[30, None])
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE ([age] IN ($) OR [age] IS NULL)"), [30]),
        )
        self.assertEqual(await query.count(), 3)
        self.assertEqual(await names(query), ["Alice", "Carol", "Eve"])
        self.assertEqual(
            User.whereNot(age=[30, None]).toSQL(),
            (self.sql("SELECT * FROM [users] WHERE NOT (([age] IN ($) OR [age] IS NULL))"),
             [30]),
        )
        self.assertEqual(await User.whereNot(age=[30, None]).count(), 2)
        self.assertEqual(await names(User.whereNot(age=[30, None])), ["Bob", "Dave"])
        self.assertEqual(User.where(age=[None]).toSQL(),
                         (self.sql("SELECT * FROM [users] WHERE [age] IS NULL"), []))
        self.assertEqual(await User.where(age=[None]).count(), 1)
        self.assertEqual(await User.whereNot(age=(None,)).count(), 4)
        self.assertEqual(await names(User.where(age=[None, 25, None, 40])),
                         ["Bob", "Carol", "Dave"])

    async def test_noneInAListKeepsTheOtherValuesInPlace(self) -> None:
        """
        The same query with other values (its SQL text reused) sends its
        own values, without the C{None}s, in their places among the others';
        a list without C{None} is a plain C{IN} again.
        """
        for ages, found in [([30, None], ["Alice", "Carol"]), ([25, None], ["Bob", "Carol"])]:
            query = User.where("first_name <> ?", "Zed").where(age=ages).where(last_name=[
                "Smith", "Jones", None])
            self.assertEqual(
                query.toSQL(),
                (self.sql("SELECT * FROM [users] WHERE (first_name <> $) AND "
                          "(([age] IN ($) OR [age] IS NULL)) AND "
                          "(([last_name] IN ($, $) OR [last_name] IS NULL))"),
                 ["Zed", ages[0], "Smith", "Jones"]),
            )
            self.assertEqual(await names(query), found)
        self.assertEqual(User.where(age=[30, 40]).toSQL(),
                         (self.sql("SELECT * FROM [users] WHERE [age] IN ($, $)"), [30, 40]))

    async def test_subquery(self) -> None:
        """
        Another query is C{IN (subquery)}, selecting its one selected column;
        its arguments take their place among the others.
        """
        pictures = Picture.where("size > ?", 100).select("user_id")
        query = User.where("age > ?", 20).where(id=pictures).where(last_name="Brown")
        inner = self.subquery(self.sql("SELECT [user_id] FROM [pictures] WHERE size > $"))
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE (age > $) AND ([id] IN (")
             + inner + self.sql(")) AND ([last_name] = $)"), [20, 100, "Brown"]),
        )
        self.assertEqual(await names(query), ["Dave"])
        self.assertEqual(await names(User.where(id=pictures)), ["Alice", "Dave"])

    async def test_subqueryOfIds(self) -> None:
        """
        A query that selects nothing in particular gives its ids.
        """
        smiths = User.where(last_name="Smith")
        query = Picture.where(user_id=smiths)
        inner = self.subquery(self.sql("SELECT [users].[id] FROM [users] WHERE [last_name] = $"))
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [pictures] WHERE [user_id] IN (") + inner + ")", ["Smith"]),
        )
        self.assertEqual(sorted(await query.pluck("name")), ["p1", "p2"])

    async def test_subqueryWithLimit(self) -> None:
        """
        A subquery may be ordered and limited (MySQL and MariaDB refuse a
        C{LIMIT} directly inside C{IN (...)}).
        """
        biggest = Picture.order("size DESC").limit(1).select("user_id")
        self.assertEqual(await names(User.where(id=biggest)), ["Dave"])
        self.assertEqual(await names(User.whereNot(id=biggest)), ["Alice", "Bob", "Carol"])

    async def test_percentSign(self) -> None:
        """
        A literal C{%} in a fragment reaches the database as written, also
        inside a subquery: it is escaped once for C{%s} drivers.
        """
        await Picture(name="50%", size=1, user_id=self.bob.id).save()
        self.assertEqual(await Picture.where("name = '50%'").pluck("name"), ["50%"])
        sql, _ = Picture.where("name LIKE 'p%'").toSQL()
        percent = "%" if self.config.placeholder == "?" else "%%"
        self.assertTrue(sql.endswith(f"name LIKE 'p{percent}'"), sql)
        owners = User.where(id=Picture.where("name = '50%'").select("user_id"))
        self.assertEqual(await names(owners), ["Bob"])

    async def test_percentInEveryFragment(self) -> None:
        """
        A literal C{%} reaches the database as written from every kind of
        trusted fragment: select, raw join, where, group, having and order.
        """
        await Picture(name="50%", size=1, user_id=self.bob.id).save()
        rows = await User.joins(
            "JOIN pictures ON pictures.user_id = users.id AND pictures.name LIKE '%0%'"
        ).select("users.first_name", "pictures.name LIKE '_0%' AS special").where(
            "pictures.name <> '%'").group("users.first_name", "pictures.name").having(
            "MAX(pictures.name) LIKE '5%'").order("users.first_name").rows()
        self.assertEqual([(row["first_name"], bool(row["special"])) for row in rows],
                         [("Bob", True)])
        ordered = await User.order("first_name LIKE 'C%' DESC", "id").pluck("first_name")
        self.assertEqual(ordered, ["Carol", "Alice", "Bob", "Dave"])

    async def test_questionMarksInStrings(self) -> None:
        """
        A C{?} inside a quoted string of a fragment is no placeholder.
        """
        self.assertEqual(await names(User.where("first_name <> '?' AND age > ?", 26)),
                         ["Alice", "Dave"])

    async def test_dottedColumn(self) -> None:
        """
        A keyword may name C{table.column}, of a joined table.
        """
        query = User.joins("pictures").where(**{"pictures.size": 200})
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT [users].* FROM [users] INNER JOIN [pictures] ON "
                      "[pictures].[user_id] = [users].[id] WHERE [pictures].[size] = $"), [200]),
        )
        self.assertEqual(await names(query), ["Alice"])

    async def test_bareColumnsOfTheModelWithJoins(self) -> None:
        """
        With joins, a keyword naming a bare column names the model's own,
        even when the joined table has a column of that name.
        """
        query = User.joins("pictures").where(id=self.bob.id)
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT [users].* FROM [users] INNER JOIN [pictures] ON "
                      "[pictures].[user_id] = [users].[id] WHERE [users].[id] = $"), [self.bob.id]),
        )
        self.assertEqual(await names(query), ["Bob"])

    async def test_severalWheresAnd(self) -> None:
        """
        Each C{where} call is ANDed to the earlier ones.
        """
        query = User.where("age > ?", 20).where(last_name="Smith")
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE (age > $) AND ([last_name] = $)"),
             [20, "Smith"]),
        )
        self.assertEqual(await names(query), ["Alice"])

    async def test_reservedWordColumns(self) -> None:
        """
        Keyword columns named like SQL keywords or functions are quoted.
        """
        await Coltest.createMany(
            [Coltest(select="s1", where="w1"), Coltest(select="s2", where="w2")]
        )
        self.assertEqual(await Coltest.where(select="s2").pluck("where"), ["w2"])
        await Counter.createMany([Counter(name="a", count=3), Counter(name="b", count=5)])
        self.assertEqual(await Counter.where(count=5).pluck("name"), ["b"])
        self.assertEqual(await Counter.query().sum("count"), 8)

    async def test_unknownColumn(self) -> None:
        """
        Keyword columns are not checked against the table: an unknown one is
        the database's error, translated.
        """
        with self.assertRaises(DatabaseError):
            await User.where(no_such_column=1).all()


class WhereNotTests(QueryTestCase):
    """
    Tests for L{Query.whereNot}.
    """

    async def test_keyword(self) -> None:
        """
        The condition is negated with C{NOT (...)}.
        """
        query = User.whereNot(last_name="Smith")
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE NOT ([last_name] = $)"), ["Smith"]),
        )
        self.assertEqual(await names(query), ["Bob", "Dave"])

    async def test_wholeConditionNegated(self) -> None:
        """
        With several keywords, their whole condition is negated: the rows
        left out are those matching all of them.
        """
        query = User.whereNot(last_name="Smith", age=25)
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE NOT (([last_name] = $) AND ([age] = $))"),
             ["Smith", 25]),
        )
        # Carol's age is NULL: NOT (TRUE AND NULL) is NULL, so she is left out.
        self.assertEqual(await names(query), ["Alice", "Bob", "Dave"])

    async def test_forms(self) -> None:
        """
        Fragments, C{None}, lists and subqueries are negated too.
        """
        self.assertEqual(await names(User.whereNot("age > ?", 26)), ["Bob"])
        self.assertEqual(await names(User.whereNot(["age < ?", 26])), ["Alice", "Dave"])
        self.assertEqual(await names(User.whereNot(age=None)), ["Alice", "Bob", "Dave"])
        self.assertEqual(await names(User.whereNot(age=[25, 30])), ["Dave"])
        owners = Picture.query().select("user_id")
        self.assertEqual(await names(User.whereNot(id=owners)), ["Carol"])

    async def test_withWhere(self) -> None:
        """
        C{whereNot} and C{where} AND together.
        """
        query = User.where(last_name="Smith").whereNot(first_name="Alice")
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE ([last_name] = $) AND "
                      "(NOT ([first_name] = $))"), ["Smith", "Alice"]),
        )
        self.assertEqual(await names(query), ["Carol"])


class OrTests(QueryTestCase):
    """
    Tests for C{q1 | q2}.
    """

    async def test_or(self) -> None:
        """
        Two queries' conditions are ORed.
        """
        query = User.where(first_name="Alice") | User.where(age=25)
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE ([first_name] = $) OR ([age] = $)"),
             ["Alice", 25]),
        )
        self.assertEqual(await names(query), ["Alice", "Bob"])

    async def test_severalConditionsEachSide(self) -> None:
        """
        Each side's conditions stay together: C{(a AND b) OR (c)}.
        """
        query = User.where(last_name="Smith").where("age > ?", 20) | User.whereNot(age=[25, 30])
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE (([last_name] = $) AND (age > $)) OR "
                      "(NOT ([age] IN ($, $)))"), ["Smith", 20, 25, 30]),
        )
        self.assertEqual(await names(query), ["Alice", "Dave"])

    async def test_thenWhere(self) -> None:
        """
        A condition added to an OR applies to both sides.
        """
        query = (User.where(first_name="Alice") | User.where(first_name="Bob")).where(age=25)
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE (([first_name] = $) OR ([first_name] = $)) "
                      "AND ([age] = $)"), ["Alice", "Bob", 25]),
        )
        self.assertEqual(await names(query), ["Bob"])

    async def test_unconditioned(self) -> None:
        """
        A query without conditions matches every row, so an OR with it does.
        """
        self.assertEqual(await names(User.query() | User.where(age=25)),
                         ["Alice", "Bob", "Carol", "Dave"])

    async def test_sameOrderLimitAndJoins(self) -> None:
        """
        Queries that share their order, limit and joins can be ORed; those
        stay.
        """
        left = User.joins("pictures").order("users.id").limit(2).where(**{"pictures.size": 10})
        right = User.joins("pictures").order("users.id").limit(2).where(**{"pictures.size": 300})
        self.assertEqual(await (left | right).pluck("first_name"), ["Alice", "Dave"])

    async def test_relationshipScoped(self) -> None:
        """
        An OR of two queries of one relationship stays within it.
        """
        query = self.alice.pictures.where(name="p1") | self.alice.pictures.where(name="p3")
        self.assertEqual(await query.pluck("name"), ["p1"])

    async def test_refused(self) -> None:
        """
        Queries of different models, or differing in more than their
        conditions, cannot be ORed: L{InvalidQueryError}.
        """
        base = User.where(age=25)
        for other in [
            Picture.where(size=10), User.where(age=30).order("id"), User.where(age=30).limit(1),
            User.where(age=30).offset(1), User.joins("pictures"), User.select("first_name"),
            User.distinct(), User.group("age"), User.includes("pictures"),
        ]:
            await self.assertRefused(InvalidQueryError, lambda other: base | other, other)


class OrderLimitTests(QueryTestCase):
    """
    Tests for L{Query.order}, L{Query.reorder}, L{Query.limit} and
    L{Query.offset}.
    """

    async def test_sql(self) -> None:
        """
        Order fragments are appended in order; limit and offset are
        literal numbers.
        """
        query = User.where(last_name="Smith").order("age DESC").order("id").limit(10).offset(20)
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT * FROM [users] WHERE [last_name] = $ ORDER BY age DESC, id "
                      "LIMIT 10 OFFSET 20"), ["Smith"]),
        )

    async def test_order(self) -> None:
        """
        Rows come in the order asked for, by several fragments.
        """
        self.assertEqual(
            await User.where("age IS NOT NULL").order("age DESC").pluck("first_name"),
            ["Dave", "Alice", "Bob"],
        )
        self.assertEqual(
            await User.order("last_name", "first_name").pluck("first_name"),
            ["Dave", "Bob", "Alice", "Carol"],
        )

    async def test_reorder(self) -> None:
        """
        C{reorder} replaces the order.
        """
        query = User.order("last_name").reorder("first_name DESC")
        self.assertEqual(query.toSQL(),
                         (self.sql("SELECT * FROM [users] ORDER BY first_name DESC"), []))
        self.assertEqual(await query.pluck("first_name"), ["Dave", "Carol", "Bob", "Alice"])

    async def test_limitAndOffset(self) -> None:
        """
        C{limit} and C{offset} cut the ordered rows; a later limit replaces
        an earlier one; C{limit(0)} finds nothing.
        """
        ordered = User.order("id")
        self.assertEqual(await ordered.limit(2).pluck("first_name"), ["Alice", "Bob"])
        self.assertEqual(await ordered.limit(2).offset(1).pluck("first_name"), ["Bob", "Carol"])
        self.assertEqual(await ordered.limit(5).limit(1).pluck("first_name"), ["Alice"])
        self.assertEqual(await ordered.limit(0).all(), [])

    async def test_offsetAlone(self) -> None:
        """
        An offset without a limit skips rows (SQLite and MySQL need a limit
        with it).
        """
        ordered = User.order("id").offset(3)
        self.assertEqual(await ordered.pluck("first_name"), ["Dave"])
        self.assertEqual([user.first_name for user in await ordered.all()], ["Dave"])
        self.assertEqual(await ordered.count(), 1)

    def test_badValues(self) -> None:
        """
        A limit or offset that is not a non-negative int (a bool, a float, a
        string, a pair) is refused when it is given.
        """
        query = User.query()
        for value in [-1, True, False, 1.5, "1", (1, 2), [1, 2]]:
            self.assertRaises(InvalidQueryError, query.limit, value)
            self.assertRaises(InvalidQueryError, query.offset, value)

    async def test_largestValues(self) -> None:
        """
        A limit or offset past the largest SQL integer (2**63 - 1) is
        refused when it is given; that largest one runs on every database.
        """
        query = User.order("id")
        for value in [2**63, 2**64, 10**30]:
            self.assertRaises(InvalidQueryError, query.limit, value)
            self.assertRaises(InvalidQueryError, query.offset, value)
        largest = 2**63 - 1
        self.assertEqual(await query.limit(largest).pluck("first_name"),
                         ["Alice", "Bob", "Carol", "Dave"])
        self.assertEqual(await query.limit(largest).count(), 4)
        self.assertEqual(await query.offset(largest).all(), [])
        self.assertEqual(await query.offset(largest).limit(largest).count(), 0)

    async def test_orderRefused(self) -> None:
        """
        An order that is not SQL text is refused before any SQL is sent.
        """
        await self.assertRefused(InvalidQueryError, lambda value: User.order(value).all(), 42)
        await self.assertRefused(InvalidQueryError,
                                 lambda value: User.query().reorder(value).all(), None)


class SelectTests(QueryTestCase):
    """
    Tests for L{Query.select}: partial objects, and saving them.
    """

    async def test_sql(self) -> None:
        """
        Bare and dotted names are quoted, expressions are trusted SQL.
        """
        self.assertEqual(
            User.select("id", "first_name", "users.age").toSQL(),
            (self.sql("SELECT [id], [first_name], [users].[age] FROM [users]"), []),
        )
        await User.select("last_name", "COUNT(*) AS n").group("last_name").rows()
        self.assertEqual(
            selects(self.sent()),
            [self.sql("SELECT [last_name], COUNT(*) AS n FROM [users] GROUP BY last_name")],
        )

    async def test_partialObjects(self) -> None:
        """
        The objects have only the selected columns.
        """
        users = await User.select("first_name", "age").order("id").all()
        self.assertEqual([(user.first_name, user.age) for user in users],
                         [("Alice", 30), ("Bob", 25), ("Carol", None), ("Dave", 40)])
        for user in users:
            self.assertFalse(hasattr(user, "last_name"))
            self.assertFalse(hasattr(user, "dob"))

    async def test_savingAPartialObject(self) -> None:
        """
        Saving an object of a selection writes what changed of what it has,
        and leaves the other columns as they are.
        """
        alice: Any = await User.select("id", "first_name").where(id=self.alice.id).first()
        self.assertEqual(alice.id, self.alice.id)
        self.sent()
        await alice.save()
        self.assertEqual([q for q in self.sent() if q.lstrip().upper().startswith("UPDATE")], [])
        alice.first_name = "Alicia"
        await alice.save()
        fresh = await User.find(self.alice.id)
        self.assertEqual((fresh.first_name, fresh.last_name, fresh.age), ("Alicia", "Smith", 30))

    async def test_expression(self) -> None:
        """
        A selected expression becomes an attribute of the objects; saving
        one does not try to write it.
        """
        found: list[Any] = await User.select("id", "first_name", "age + 1 AS older").where(
            first_name="Alice").all()
        (alice,) = found
        self.assertEqual(alice.older, 31)
        alice.first_name = "Alicia"
        await alice.save()
        fresh = await User.find(self.alice.id)
        self.assertEqual((fresh.first_name, fresh.age), ("Alicia", 30))

    async def test_joinedColumn(self) -> None:
        """
        A selected column of a joined table becomes an attribute; saving
        the object writes only its own changed columns.
        """
        found: list[Any] = await User.joins("avatar").select(
            "users.id", "users.first_name", "avatars.color").where(**{"avatars.name": "a"}).all()
        (alice,) = found
        self.assertEqual((alice.id, alice.first_name, alice.color),
                         (self.alice.id, "Alice", "green"))
        alice.first_name = "Alicia"
        await alice.save()
        fresh = await User.find(self.alice.id)
        self.assertEqual((fresh.first_name, fresh.last_name, fresh.age), ("Alicia", "Smith", 30))

    async def test_reservedWords(self) -> None:
        """
        Selected columns named like SQL keywords are quoted.
        """
        await Coltest(select="s", where="w").save()
        (row,) = await Coltest.select("select", "where").all()
        self.assertEqual((row.select, row.where), ("s", "w"))

    async def test_anotherTablesIdRefused(self) -> None:
        """
        Objects read with another table's C{id} selected would take it as
        their own (and saving one would write another row): every call that
        reads objects refuses it with L{InvalidQueryError}, naming the
        column, before any SQL is sent. Aliased, it is an attribute.
        """
        query = User.joins("pictures").select("pictures.id", "first_name")
        for run in [query.all, query.first, lambda: query.page(1),
                    lambda: drain(query.distinct().each())]:
            error = await self.assertRefused(InvalidQueryError, run)
            self.assertIn("pictures.id", str(error))
        self.assertRaises(InvalidQueryError, query.toSQL)
        found: list[Any] = await User.joins("pictures").select(
            "users.id", "pictures.id AS picture_id").order("pictures.id").all()
        self.assertEqual([(user.id, user.picture_id) for user in found],
                         [(self.alice.id, self.p1.id), (self.alice.id, self.p2.id),
                          (self.bob.id, self.p3.id), (self.dave.id, self.p4.id)])
        own: Any = await User.joins("pictures").select("id", "first_name").where(
            **{"pictures.name": "p3"}).first()
        self.assertEqual((own.id, own.first_name), (self.bob.id, "Bob"))

    async def test_starsOfOtherTablesRefused(self) -> None:
        """
        Over a join, C{*} and another table's C{.*} would give objects that
        table's id: refused before any SQL; the model's own C{.*} (quoted or
        not) is read as its rows.
        """
        for selection in ["*", "pictures.*", "`pictures`.*", '"pictures".*']:
            query = User.joins("pictures").select(selection)
            for run in [query.all, query.first]:
                await self.assertRefused(InvalidQueryError, run)
        for selection in ["users.*", "`users`.*", '"users".*']:
            if selection[0] in "`\"" and selection[0] != self.config.identifierQuote:
                continue
            found = await User.joins("pictures").select(selection, "pictures.name AS pn").where(
                **{"pictures.name": "p3"}).all()
            self.assertEqual([(user.id, user.first_name, user.pn) for user in found],
                             [(self.bob.id, "Bob", "p3")])
        self.assertEqual(len(await User.select("*").all()), 4)


class DistinctTests(QueryTestCase):
    """
    Tests for L{Query.distinct}.
    """

    async def test_sql(self) -> None:
        """
        C{SELECT DISTINCT}.
        """
        self.assertEqual(
            User.select("id", "last_name").distinct().toSQL(),
            (self.sql("SELECT DISTINCT [id], [last_name] FROM [users]"), []),
        )
        self.assertEqual(
            User.joins("pictures").distinct().toSQL(),
            (self.sql("SELECT DISTINCT [users].* FROM [users] INNER JOIN [pictures] ON "
                      "[pictures].[user_id] = [users].[id]"), []),
        )

    async def test_distinctColumns(self) -> None:
        """
        Duplicate values are left out of C{rows}, C{pluck} and C{count}.
        """
        query = User.select("last_name").distinct().order("last_name")
        self.assertEqual(await query.rows(),
                         [{"last_name": "Brown"}, {"last_name": "Jones"}, {"last_name": "Smith"}])
        self.assertEqual(await query.count(), 3)
        self.assertEqual(sorted(await User.distinct().pluck("last_name")),
                         ["Brown", "Jones", "Smith"])

    async def test_distinctObjectsThroughAJoin(self) -> None:
        """
        A join repeats the owner of several pictures; C{distinct} gives each
        once, and counts them once.
        """
        joined = User.joins("pictures")
        self.assertEqual(await names(joined), ["Alice", "Alice", "Bob", "Dave"])
        self.assertEqual(await joined.count(), 4)
        self.assertEqual(await names(joined.distinct()), ["Alice", "Bob", "Dave"])
        self.assertEqual(await joined.distinct().count(), 3)
        self.assertEqual(sorted(await joined.distinct().ids()),
                         sorted([self.alice.id, self.bob.id, self.dave.id]))

    async def test_aggregatesOfDistinctRows(self) -> None:
        """
        C{sum} and C{avg} of a distinct query add up the distinct rows it
        returns: whole rows (two users of one age count twice), or the
        selected columns (one age counts once); through joins, each object
        once.
        """
        await User(first_name="Eve", last_name="Smith", age=30).save()
        rows = User.where(age=[30, 40]).distinct()
        self.assertEqual(await rows.sum("age"), 100)
        self.assertAlmostEqual(float(await rows.avg("age")), 100 / 3, places=3)
        self.assertEqual((await rows.min("age"), await rows.max("age")), (30, 40))
        ages = User.where(age=[30, 40]).select("age").distinct()
        self.assertEqual(await ages.sum("age"), 70)
        self.assertEqual(float(await ages.avg("age")), 35.0)
        self.assertEqual(await ages.count(), 2)
        self.assertEqual(await User.select("age").distinct().sum("age"), 95)
        self.assertEqual(await User.select("users.age").distinct().sum("users.age"), 95)
        joined = User.joins("pictures")
        self.assertEqual(await joined.sum("age"), 125)
        self.assertEqual(await joined.distinct().sum("age"), 95)

    async def test_aggregateOfAColumnTheRowsLack(self) -> None:
        """
        An aggregate of a distinct query adds up a column of its rows: one
        they lack (another table's, or one not selected) is refused before
        any SQL is sent.
        """
        for query, column in [(User.joins("pictures").distinct(), "pictures.size"),
                              (User.select("last_name").distinct(), "age")]:
            for function in [Query.sum, Query.avg, Query.min, Query.max]:
                error = await self.assertRefused(InvalidQueryError, function, query, column)
                self.assertIn(column, str(error))


class GroupTests(QueryTestCase):
    """
    Tests for L{Query.group}, L{Query.having} and L{Query.rows}.
    """

    async def test_groupHavingRows(self) -> None:
        """
        Grouped rows come as dicts of the selected columns; C{having} keeps
        the groups matching its condition.
        """
        query = Picture.select("user_id", "COUNT(*) AS n").group("user_id")
        self.assertEqual(await query.having("COUNT(*) > ?", 1).rows(),
                         [{"user_id": self.alice.id, "n": 2}])
        self.assertEqual(
            selects(self.sent()),
            [self.sql("SELECT [user_id], COUNT(*) AS n FROM [pictures] GROUP BY user_id "
                      "HAVING COUNT(*) > $")],
        )
        totals = await Picture.select("user_id", "SUM(size) AS total").group("user_id").order(
            "user_id").rows()
        self.assertEqual(totals, [{"user_id": self.alice.id, "total": 210},
                                  {"user_id": self.bob.id, "total": 50},
                                  {"user_id": self.dave.id, "total": 300}])

    async def test_groupBySeveral(self) -> None:
        """
        Several group fragments, with a where and an order.
        """
        rows = await User.select("last_name", "COUNT(*) AS n").where("age IS NOT NULL").group(
            "last_name").order("last_name").rows()
        self.assertEqual(rows, [{"last_name": "Brown", "n": 1}, {"last_name": "Jones", "n": 1},
                                {"last_name": "Smith", "n": 1}])
        rows = await User.select("last_name", "age").group("last_name", "age").order(
            "last_name", "age").where(last_name="Smith").rows()
        self.assertEqual(len(rows), 2)

    async def test_countOfGroups(self) -> None:
        """
        C{count} of a grouped query counts its groups.
        """
        self.assertEqual(await Picture.select("user_id").group("user_id").count(), 3)
        self.assertEqual(
            await Picture.select("user_id").group("user_id").having("COUNT(*) > ?", 1).count(), 1
        )
        self.assertTrue(await Picture.group("user_id").having("COUNT(*) > ?", 1).exists())
        self.assertFalse(await Picture.group("user_id").having("COUNT(*) > ?", 2).exists())

    async def test_rowsOfAllColumns(self) -> None:
        """
        C{rows} of a plain query gives every column.
        """
        self.assertEqual(
            await User.where(first_name="Alice").rows(),
            [{"id": self.alice.id, "first_name": "Alice", "last_name": "Smith", "age": 30,
              "dob": None}],
        )

    async def test_rowsThroughAJoin(self) -> None:
        """
        Selected columns of the model and of a joined table, by their column
        names.
        """
        rows = await User.joins("pictures").select("users.first_name", "pictures.name").order(
            "pictures.name").rows()
        self.assertEqual(rows, [
            {"first_name": "Alice", "name": "p1"}, {"first_name": "Alice", "name": "p2"},
            {"first_name": "Bob", "name": "p3"}, {"first_name": "Dave", "name": "p4"},
        ])

    async def test_noObjectsOfGroupsOrAggregates(self) -> None:
        """
        C{first} of a grouped query or one selecting aggregates is refused
        before any SQL is sent.
        """
        await self.assertRefused(InvalidQueryError,
                                 lambda: Picture.select("user_id").group("user_id").first())
        await self.assertRefused(InvalidQueryError, lambda: User.select("COUNT(*) AS n").first())
        await self.assertRefused(
            InvalidQueryError,
            lambda: Picture.select("user_id", "COUNT(*) AS n").group("user_id").having(
                "COUNT(*) > ?", 1).first(),
        )

    async def test_everyDatabasesAggregatesRefused(self) -> None:
        """
        The aggregate functions of each database (SQLite's C{total},
        PostgreSQL's C{every} and C{bool_and}, MySQL's C{bit_or}, ...), in
        any case and spacing, make objects refused before any SQL is sent;
        C{rows()} reads them.
        """
        for expression in [
            "COUNT(*) AS n", "count (*) AS n", "total(age) AS t", "every(age > 1) AS e",
            "bool_and(age > 1) AS b", "bool_or(age > 1) AS b", "bit_or(age) AS b",
            "group_concat(first_name) AS g", "string_agg(first_name, ',') AS s",
            "json_agg(age) AS j", "json_group_array(age) AS j", "JSON_ARRAYAGG(age) AS j",
            "stddev(age) AS s", "variance(age) AS v", "Sum(age) + 1 AS s", "STD(age) AS s",
            "corr(age, id) AS c", "covar_pop(age, id) AS c", "regr_slope(age, id) AS r",
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY age) AS p",
            "jsonb_object_agg(a, b) AS j", "jsonb_group_array(age) AS j", "range_agg(r) AS r",
            "mode() WITHIN GROUP (ORDER BY age)",
        ]:
            query = User.select("first_name", expression)
            for run in [Query.all, Query.first, lambda query: query.page(1),
                        lambda query: drain(query.each())]:
                await self.assertRefused(InvalidQueryError, run, query)
        self.assertEqual(await User.select("SUM(age) + 1 AS s").rows(), [{"s": 96}])

    async def test_windowFunctionsKeepObjects(self) -> None:
        """
        An aggregate used as a window function (C{OVER}) keeps the rows:
        objects get it as an attribute.
        """
        found = await User.select("id", "SUM(age) OVER () AS total").order("id").all()
        self.assertEqual([int(user.total) for user in found], [95] * 4)


class JoinTests(QueryTestCase):
    """
    Tests for L{Query.joins} and L{Query.leftJoins} through every kind of
    relationship, and raw join fragments.
    """

    async def test_hasMany(self) -> None:
        """
        A has-many joins on the other table's foreign key.
        """
        query = User.joins("pictures").where("pictures.size > ?", 100)
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT [users].* FROM [users] INNER JOIN [pictures] ON "
                      "[pictures].[user_id] = [users].[id] WHERE pictures.size > $"), [100]),
        )
        self.assertEqual(await names(query), ["Alice", "Dave"])

    async def test_hasOne(self) -> None:
        """
        A has-one joins like a has-many.
        """
        query = User.joins("avatar")
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT [users].* FROM [users] INNER JOIN [avatars] ON "
                      "[avatars].[user_id] = [users].[id]"), []),
        )
        self.assertEqual(await names(query), ["Alice", "Dave"])
        self.assertEqual(await names(query.where(**{"avatars.color": "grey"})), ["Dave"])

    async def test_belongsTo(self) -> None:
        """
        A belongs-to joins on the owner's foreign key; with a class name and
        a foreign key of its own too.
        """
        query = Picture.joins("user").where(**{"users.last_name": "Smith"})
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT [pictures].* FROM [pictures] INNER JOIN [users] ON "
                      "[users].[id] = [pictures].[user_id] WHERE [users].[last_name] = $"),
             ["Smith"]),
        )
        self.assertEqual(sorted(picture.name for picture in await query.all()), ["p1", "p2"])
        post = await Blogpost(title="t").save()
        await Comment.createMany([
            Comment(body="by Bob", blogpost_id=post.id, author_id=self.bob.id),
            Comment(body="anonymous", blogpost_id=post.id),
        ])
        self.assertEqual(await Comment.joins("author").pluck("users.first_name"), ["Bob"])
        self.assertEqual(sorted(await Comment.leftJoins("author").pluck("body")),
                         ["anonymous", "by Bob"])

    async def test_habtm(self) -> None:
        """
        A has-and-belongs-to-many joins the join table, then the other one.
        """
        query = User.joins("favorite_colors").where(**{"favorite_colors.name": "red"})
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT [users].* FROM [users] INNER JOIN [favorite_colors_users] ON "
                      "[favorite_colors_users].[user_id] = [users].[id] INNER JOIN "
                      "[favorite_colors] ON [favorite_colors].[id] = "
                      "[favorite_colors_users].[favorite_color_id] WHERE "
                      "[favorite_colors].[name] = $"), ["red"]),
        )
        self.assertEqual(await names(query), ["Alice", "Bob"])
        self.assertEqual(sorted(await FavoriteColor.joins("users").pluck("users.first_name")),
                         ["Alice", "Alice", "Bob"])

    async def test_habtmWithOptions(self) -> None:
        """
        A has-and-belongs-to-many with its own join table and keys, from
        both sides, and relationships with class names of their own.
        """
        post, other = await Blogpost.createMany([Blogpost(title="post"), Blogpost(title="other")])
        news, art = await Category.createMany([Category(name="news"), Category(name="art")])
        await post.categories.set([news, art])
        await other.categories.set([art])
        self.assertEqual(
            await Blogpost.joins("categories").where(**{"categories.name": "news"}).pluck("title"),
            ["post"],
        )
        self.assertEqual(
            sorted(await Category.joins("blogposts").where(**{"blogposts.title": "other"}).pluck(
                "name")),
            ["art"],
        )
        self.assertEqual(
            sorted(await Article.joins("labels").where(**{"categories.name": "art"}).pluck(
                "title")),
            ["other", "post"],
        )
        self.assertEqual(await Label.query().count(), 2)
        await Comment(body="c", blogpost_id=other.id).save()
        self.assertEqual(await Article.joins("remarks").pluck("title"), ["other"])

    async def test_polymorphicHasMany(self) -> None:
        """
        A polymorphic has-many joins only the rows of the owner's class.
        """
        boy = await Boy(name="b").save()
        girl = await Girl(name="g").save()
        await Nickname.createMany([
            Nickname(value="x", nicknameable_id=boy.id, nicknameable_type="Boy"),
            Nickname(value="y", nicknameable_id=boy.id, nicknameable_type="Girl"),
            Nickname(value="z", nicknameable_id=girl.id, nicknameable_type="Girl"),
        ])
        query = Boy.joins("nicknames")
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT [boys].* FROM [boys] INNER JOIN [nicknames] ON "
                      "([nicknames].[nicknameable_id] = [boys].[id]) AND "
                      "([nicknames].[nicknameable_type] = $)"), ["Boy"]),
        )
        self.assertEqual(await query.pluck("nicknames.value"), ["x"])
        # x names the boy's id, which may be a girl's id too: not hers.
        self.assertEqual(
            await Girl.joins("nicknames").where(**{"nicknames.value": "x"}).count(), 0
        )
        self.assertIn("z", await Girl.joins("nicknames").pluck("nicknames.value"))
        self.assertEqual(await Boy.leftJoins("nicknames").where(
            **{"nicknames.value": "y"}).count(), 0)

    async def test_polymorphicBelongsToRefused(self) -> None:
        """
        A polymorphic belongs-to has no one table to join:
        L{InvalidQueryError}, before any SQL is sent.
        """
        await self.assertRefused(InvalidQueryError, lambda: Nickname.joins("nicknameable").all())
        await self.assertRefused(InvalidQueryError,
                                 lambda: Nickname.leftJoins("nicknameable").all())

    async def test_leftJoins(self) -> None:
        """
        A left join keeps the rows without a match.
        """
        query = User.leftJoins("pictures").where("pictures.id IS NULL")
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT [users].* FROM [users] LEFT OUTER JOIN [pictures] ON "
                      "[pictures].[user_id] = [users].[id] WHERE pictures.id IS NULL"), []),
        )
        self.assertEqual(await names(query), ["Carol"])
        self.assertEqual(await names(User.leftJoins("avatar").where(**{"avatars.id": None})),
                         ["Bob", "Carol"])
        self.assertEqual(
            await names(User.leftJoins("favorite_colors").where(**{"favorite_colors.id": None})),
            ["Carol", "Dave"],
        )
        self.assertEqual(await User.leftJoins("pictures").count(), 5)

    async def test_rawFragment(self) -> None:
        """
        A join containing a space is a raw, trusted join fragment.
        """
        query = User.joins("JOIN pictures ON pictures.user_id = users.id").where(
            "pictures.size > ?", 100)
        self.assertEqual(
            query.toSQL(),
            (self.sql("SELECT [users].* FROM [users] JOIN pictures ON pictures.user_id = users.id "
                      "WHERE pictures.size > $"), [100]),
        )
        self.assertEqual(await names(query), ["Alice", "Dave"])
        left = User.leftJoins("LEFT JOIN avatars ON avatars.user_id = users.id").where(
            "avatars.id IS NULL")
        self.assertEqual(await names(left), ["Bob", "Carol"])

    async def test_severalJoins(self) -> None:
        """
        Joins chain, in one call or several.
        """
        query = User.joins("pictures", "avatar").where(**{"avatars.name": "d"})
        self.assertEqual(await query.pluck("pictures.name"), ["p4"])
        self.assertEqual(await User.joins("pictures").joins("avatar").count(), 3)

    async def test_objectsOfTheModelOnly(self) -> None:
        """
        Objects read through joins are built from the model's own columns:
        their C{id} is theirs, and the joined table's columns are not there.
        """
        dave: Any = await User.joins("pictures").where(**{"pictures.name": "p4"}).first()
        self.assertEqual(dave.id, self.dave.id)
        self.assertFalse(hasattr(dave, "size"))
        self.assertFalse(hasattr(dave, "name"))

    async def test_everyRunWithJoins(self) -> None:
        """
        Every running call works through joins, where C{id} is in both
        tables.
        """
        query = User.joins("pictures").where("pictures.size > ?", 40).distinct()
        ids = sorted([self.alice.id, self.bob.id, self.dave.id])
        self.assertEqual(sorted(await query.ids()), ids)
        first: Any = await query.first()
        self.assertEqual(first.id, ids[0])
        self.assertEqual(await query.count(), 3)
        self.assertTrue(await query.exists())
        self.assertEqual(sorted(await query.pluck("id")), ids)
        self.assertEqual([user.id for user in await drain(query.each(batchSize=2))], ids)
        page = await query.page(2, perPage=2)
        self.assertEqual(([user.id for user in page.items], page.total), (ids[2:], 3))
        self.assertEqual(await User.joins("pictures").sum("pictures.size"), 560)
        self.assertEqual(await User.joins("pictures").max("age"), 40)

    async def test_unknownRelationship(self) -> None:
        """
        A name that is no relationship (and no fragment) is refused with
        L{InvalidRelationshipError}, before any SQL is sent.
        """
        for name in ["nope", "pictures;DROP", "Pictures"]:
            await self.assertRefused(InvalidRelationshipError,
                                     lambda name: User.joins(name).all(), name)
            await self.assertRefused(InvalidRelationshipError,
                                     lambda name: User.query().leftJoins(name).all(), name)

    async def test_relationshipNamesChecked(self) -> None:
        """
        The table and key names of a relationship are checked identifiers:
        a declaration holding SQL cannot be joined
        (L{InvalidIdentifierError}), and no SQL is sent.
        """
        for name in ["pictures", "avatar", "favorite_colors", "colors", "hues", "boss"]:
            await self.assertRefused(InvalidIdentifierError,
                                     lambda name: SafetyOwner.joins(name).all(), name)


class ReviewFindingsTests(QueryTestCase):
    """
    Cases a review of the query layer found wrong.
    """

    async def test_aggregatesOverJoins(self) -> None:
        """
        Over joins, an aggregate of a bare name is of the model's column
        (not an ambiguous one).
        """
        joined = User.joins("pictures").distinct()
        self.assertEqual(await joined.max("id"), self.dave.id)
        self.assertEqual(await User.joins("pictures").count(), 4)
        self.assertEqual(await User.joins("pictures").sum("id"),
                         2 * self.alice.id + self.bob.id + self.dave.id)

    async def test_existsAgreesWithCount(self) -> None:
        """
        C{exists} of a distinct query with an offset, and of a having that
        names a selected alias, agrees with C{count}.
        """
        ages = User.select("age").distinct().offset(2)
        self.assertEqual((await ages.count() > 0), await ages.exists())
        self.assertTrue(await ages.exists())
        self.assertFalse(await User.select("age").distinct().offset(4).exists())
        owners = Picture.select("user_id", "COUNT(*) AS n").group("user_id")
        self.assertTrue(await owners.having("COUNT(*) > ?", 1).exists())
        self.assertFalse(await owners.having("COUNT(*) > ?", 5).exists())

    async def test_tableJoinedTwiceRefused(self) -> None:
        """
        A join naming a table already in the query (the model's own, or one
        joined before) needs an alias: refused before any SQL is sent.
        """
        await self.assertRefused(InvalidQueryError, lambda: Picture.joins("user").joins("user"))
        await self.assertRefused(
            InvalidQueryError, lambda: User.joins("pictures").leftJoins("pictures")
        )

    async def test_aliasNamedLikeOver(self) -> None:
        """
        An aggregate whose alias starts with C{over} is no window function:
        objects of it are refused.
        """
        await self.assertRefused(InvalidQueryError, User.select("COUNT(*) AS overall").first)


class IncludesTests(QueryTestCase):
    """
    Tests for L{Query.includes}: eager loading with one query per
    relationship.
    """

    async def test_oneQueryPerRelationship(self) -> None:
        """
        The query, then one per relationship; the relationships' C{get()}
        then send nothing and give what a plain C{get()} gives.
        """
        query = User.order("id").includes("pictures", "avatar", "favorite_colors")
        await query.all()
        self.sent()
        users = await query.all()
        self.assertEqual(len(selects(self.sent())), 4)
        loaded = [
            (sorted(p.name for p in await user.pictures.get()),
             getattr(await user.avatar.get(), "name", None),
             sorted(c.name for c in await user.favorite_colors.get()))
            for user in users
        ]
        self.assertEqual(self.sent(), [])
        self.assertEqual(loaded, [
            (["p1", "p2"], "a", ["blue", "red"]), (["p3"], None, ["red"]),
            ([], None, []), (["p4"], "d", []),
        ])

    async def test_withFirstAndWhere(self) -> None:
        """
        C{first} loads the included relationships of its object; a where
        limits the objects loaded for.
        """
        alice: Any = await User.where(first_name="Alice").includes("pictures").first()
        self.sent()
        self.assertEqual(sorted(p.name for p in await alice.pictures.get()), ["p1", "p2"])
        self.assertEqual(self.sent(), [])
        pictures = await Picture.where("size > ?", 100).includes("user").order("size").all()
        self.sent()
        self.assertEqual([(await p.user.get()).first_name for p in pictures], ["Alice", "Dave"])
        self.assertEqual(self.sent(), [])

    async def test_nothingFoundAndEach(self) -> None:
        """
        C{first} finding nothing gives C{None}; C{each} and C{page} load the
        relationships of their objects.
        """
        self.assertIsNone(await User.where(age=99).includes("pictures").first())
        self.assertEqual(await User.where(age=99).includes("pictures").all(), [])
        users = await drain(User.includes("pictures").each(batchSize=3))
        page = await User.includes("avatar").order("id").page(1, perPage=2)
        self.sent()
        self.assertEqual([len(await user.pictures.get()) for user in users], [2, 1, 0, 1])
        self.assertEqual([getattr(await user.avatar.get(), "name", None) for user in page.items],
                         ["a", None])
        self.assertEqual(self.sent(), [])

    async def test_unknownRelationship(self) -> None:
        """
        An unknown name is refused when given, with
        L{InvalidRelationshipError}.
        """
        self.assertRaises(InvalidRelationshipError, User.includes, "nope")
        self.assertRaises(InvalidRelationshipError, User.query().includes, "pictures", "nope")

    def test_namesOnly(self) -> None:
        """
        A list or tuple of names (the C{include=} argument of C{find}) is no
        relationship name: refused when given, with
        L{InvalidRelationshipError}.
        """
        self.assertRaises(InvalidRelationshipError, User.includes, ["pictures"])
        self.assertRaises(InvalidRelationshipError, User.query().includes, ("pictures",))
        self.assertRaises(InvalidRelationshipError, User.query().includes, "avatar", None)

    async def test_belongsToNeedsItsForeignKey(self) -> None:
        """
        A selection that leaves out the foreign key of an included
        belongs-to (and the type column of a polymorphic one) is refused
        with L{InvalidQueryError} naming the column, before any SQL is sent.
        """
        query = Picture.select("name").includes("user")
        for run in [query.all, query.first, lambda: query.page(1),
                    lambda: drain(query.each())]:
            error = await self.assertRefused(InvalidQueryError, run)
            self.assertIn("user_id", str(error))
        error = await self.assertRefused(
            InvalidQueryError,
            lambda: Nickname.select("value", "nicknameable_id").includes("nicknameable").all(),
        )
        self.assertIn("nicknameable_type", str(error))
        self.assertNotIn("nicknameable_id", str(error))

    async def test_selectionWithTheForeignKey(self) -> None:
        """
        With the foreign key selected (bare or named with the table), an
        included belongs-to loads with one query more; a has-many needs no
        column of the selection.
        """
        for foreignKey in ["user_id", "pictures.user_id"]:
            self.sent()
            pictures = await Picture.select("name", foreignKey).includes("user").order("name").all()
            self.assertEqual(len(selects(self.sent())), 2)
            owners = [(picture.name, (await picture.user.get()).id) for picture in pictures]
            self.assertEqual(self.sent(), [])
            self.assertEqual(owners, [("p1", self.alice.id), ("p2", self.alice.id),
                                      ("p3", self.bob.id), ("p4", self.dave.id)])
        users = await User.select("first_name").includes("pictures").order("id").all()
        self.sent()
        self.assertEqual([len(await user.pictures.get()) for user in users], [2, 1, 0, 1])
        self.assertEqual(self.sent(), [])


class LockTests(QueryTestCase):
    """
    Tests for L{Query.lock}.
    """

    async def test_sql(self) -> None:
        """
        The locking clause ends the query, except on SQLite, whose
        transactions lock the whole database.
        """
        async with transaction():
            sql, args = User.where(id=self.alice.id).lock().toSQL()
            nowait, _ = User.query().lock("FOR UPDATE NOWAIT").toSQL()
        base = self.sql("SELECT * FROM [users] WHERE [id] = $")
        if self.backend == SQLITE:
            self.assertEqual((sql, args, nowait),
                             (base, [self.alice.id], self.sql("SELECT * FROM [users]")))
        else:
            self.assertEqual((sql, args), (base + " FOR UPDATE", [self.alice.id]))
            self.assertEqual(nowait, self.sql("SELECT * FROM [users] FOR UPDATE NOWAIT"))

    async def test_insideATransaction(self) -> None:
        """
        Inside a transaction a locking query reads its rows, which the
        transaction may then change.
        """
        async with transaction():
            alice: Any = await User.where(id=self.alice.id).lock().first()
            alice.age = 31
            await alice.save()
            self.assertEqual(len(await User.lock().where(last_name="Smith").all()), 2)
        self.assertEqual((await User.find(self.alice.id)).age, 31)

    async def test_outsideATransaction(self) -> None:
        """
        Outside a transaction a locking query is refused with
        L{TransactionError}, before any SQL is sent.
        """
        locked = User.where(id=self.alice.id).lock()
        for run in [locked.all, locked.first, locked.ids, locked.rows, locked.count,
                    locked.exists, lambda: locked.pluck("age"), lambda: locked.page(1),
                    lambda: drain(locked.each())]:
            await self.assertRefused(TransactionError, run)

    async def test_lockedSubqueryOutsideATransaction(self) -> None:
        """
        A query whose subquery locks (in C{where}, C{whereNot}, an OR, a
        C{having}, a subquery of a subquery) is a locking query: outside a
        transaction it is refused with L{TransactionError}, before any SQL
        is sent; inside one it runs.
        """
        locked = Picture.select("user_id").lock()
        owners = User.where(id=locked)
        deeper = User.where(id=Picture.where(user_id=User.select("id").lock()).select("user_id"))
        runs: list[Callable[[], Any]] = [
            owners.all, owners.first, owners.ids, owners.rows, owners.count, owners.exists,
            lambda: owners.pluck("age"), lambda: owners.sum("age"), lambda: owners.page(1),
            lambda: drain(owners.each()), User.whereNot(id=locked).all,
            (User.where(age=1) | owners).all, deeper.all, deeper.count,
            Picture.select("user_id").group("user_id").having(
                user_id=User.select("id").lock()).rows,
        ]
        runs += [lambda: owners.updateAll(age=1), owners.deleteAll,
                 lambda: User.where(id=-1).lock().updateAll(age=1),
                 User.where(id=-1).lock().deleteAll]
        for run in runs:
            await self.assertRefused(TransactionError, run)
        async with transaction():
            self.assertEqual(await names(owners), ["Alice", "Bob", "Dave"])
            self.assertEqual(await owners.count(), 3)
            self.assertEqual(await names(deeper), ["Alice", "Bob", "Dave"])

    async def test_aggregatesOfALockingQuery(self) -> None:
        """
        Inside a transaction C{count}, the aggregates and C{exists} of a
        locking query run, also distinct, cut by a limit or through joins
        (PostgreSQL allows no lock with C{DISTINCT} or an aggregate: the
        lock is left out of them).
        """
        async with transaction():
            self.assertEqual(await User.lock().distinct().count(), 4)
            self.assertEqual(await User.joins("pictures").lock().distinct().count(), 3)
            self.assertEqual(await User.lock().distinct().sum("age"), 95)
            self.assertEqual(await User.lock().order("id").limit(2).count(), 2)
            self.assertEqual(await User.lock().order("id").limit(2).max("age"), 30)
            self.assertEqual(await User.lock().count(), 4)
            self.assertTrue(await User.lock().distinct().exists())
        self.sent()
        async with transaction():
            await User.lock().distinct().count()
        self.assertEqual(selects(self.sent()), [
            self.sql("SELECT COUNT(*) FROM (SELECT DISTINCT * FROM [users]) AS [twistar_rows]")
        ])

    async def test_locksRows(self) -> None:
        """
        A row locked by one transaction cannot be locked by another at the
        same time: with C{NOWAIT}, its query fails at once
        (L{LockTimeoutError}); other rows can be.
        """
        if self.backend == SQLITE:
            raise SkipTest("SQLite has no row locks")
        held: Deferred[None] = Deferred()
        release: Deferred[None] = Deferred()

        @transaction
        async def hold(txn: Any) -> None:
            await User.where(id=self.alice.id).lock().all()
            held.callback(None)
            await release

        @transaction
        async def tryLock(txn: Any, id: int) -> list[Any]:
            return await User.where(id=id).lock("FOR UPDATE NOWAIT").all()

        holder = hold()
        try:
            await held
            error = await self.assertFailure(tryLock(self.alice.id), TransactionError)
            self.assertIsInstance(error.__cause__, LockTimeoutError)
            self.assertEqual([user.id for user in await tryLock(self.bob.id)], [self.bob.id])
        finally:
            release.callback(None)
            await holder

    def test_badClause(self) -> None:
        """
        An empty locking clause is refused when given.
        """
        self.assertRaises(InvalidQueryError, User.lock, "")


class RunningTests(QueryTestCase):
    """
    Tests for L{Query.all}, L{Query.first}, L{Query.count},
    L{Query.exists}, L{Query.pluck}, L{Query.ids} and the aggregates.
    """

    async def test_all(self) -> None:
        """
        C{all} gives the objects, built with C{afterInit}.
        """
        users = await Audited.where(last_name="Smith").order("id").all()
        self.assertEqual([user.first_name for user in users], ["Alice", "Carol"])
        self.assertTrue(all(isinstance(user, Audited) and user.initialised for user in users))

    async def test_first(self) -> None:
        """
        C{first} gives the object of lowest id unless the query is ordered,
        with C{LIMIT 1}, or C{None}; its offset counts.
        """
        first: Any = await Audited.where(last_name="Smith").first()
        self.assertEqual((first.first_name, first.initialised), ("Alice", True))
        self.assertEqual(
            selects(self.sent()),
            [self.sql("SELECT * FROM [users] WHERE [last_name] = $ ORDER BY [id] LIMIT 1")],
        )
        last: Any = await User.order("first_name DESC").first()
        self.assertEqual(last.first_name, "Dave")
        second: Any = await User.order("id").offset(1).first()
        self.assertEqual(second.first_name, "Bob")
        self.assertIsNone(await User.where(age=99).first())

    async def test_count(self) -> None:
        """
        C{count} counts the rows the query returns, limit and offset
        included, in one query.
        """
        self.sent()
        self.assertEqual(await User.where(last_name="Smith").count(), 2)
        self.assertEqual(self.sent(),
                         [self.sql("SELECT COUNT(*) FROM [users] WHERE [last_name] = $")])
        self.assertEqual(await User.query().count(), 4)
        self.assertEqual(await User.order("id").limit(2).count(), 2)
        self.assertEqual(await User.order("id").limit(10).offset(3).count(), 1)
        self.assertEqual(await User.where(age=99).count(), 0)

    async def test_exists(self) -> None:
        """
        C{exists} says whether the query returns any row.
        """
        self.assertTrue(await User.where(first_name="Bob").exists())
        self.assertFalse(await User.where(first_name="Zed").exists())
        self.assertTrue(await User.joins("avatar").exists())
        self.assertFalse(await User.order("id").offset(4).exists())
        self.assertEqual(len(selects(self.sent())), 4)

    async def test_firstAndExistsAgreeWithCount(self) -> None:
        """
        C{first} and C{exists} of a query whose limit or offset leaves no
        rows find nothing, as C{count} does.
        """
        for empty in [User.order("id").limit(0), User.order("id").offset(4),
                      User.order("id").limit(0).offset(1)]:
            found = (await empty.count(), await empty.exists(), await empty.first())
            self.assertEqual(found, (0, False, None), empty)
        second: Any = await User.order("id").limit(3).offset(1).first()
        self.assertEqual(second.first_name, "Bob")

    async def test_pluck(self) -> None:
        """
        C{pluck} gives the values of one column, or tuples of several, in
        the query's order.
        """
        query = User.where("age > ?", 20).order("age")
        self.assertEqual(await query.pluck("first_name"), ["Bob", "Alice", "Dave"])
        self.assertEqual(await query.pluck("first_name", "age"),
                         [("Bob", 25), ("Alice", 30), ("Dave", 40)])
        self.assertEqual(await query.pluck("users.last_name"), ["Jones", "Smith", "Brown"])
        self.assertEqual(await User.where(age=99).pluck("id"), [])

    async def test_ids(self) -> None:
        """
        C{ids} gives the ids of the rows.
        """
        self.assertEqual(await User.order("id").ids(),
                         [self.alice.id, self.bob.id, self.carol.id, self.dave.id])
        self.assertEqual(sorted(await User.where(last_name="Smith").ids()),
                         sorted([self.alice.id, self.carol.id]))

    async def test_aggregates(self) -> None:
        """
        C{sum}, C{avg}, C{min} and C{max} of a column, as the database gives
        them; C{NULL}s do not count.
        """
        self.assertEqual(await Picture.query().sum("size"), 560)
        self.assertEqual(await Picture.where(user_id=self.alice.id).sum("size"), 210)
        self.assertEqual(float(await Picture.query().avg("size")), 140.0)
        self.assertAlmostEqual(float(await User.query().avg("age")), 95 / 3, places=3)
        self.assertEqual(await Picture.query().min("size"), 10)
        self.assertEqual(await Picture.query().max("size"), 300)
        self.assertEqual(await User.query().min("first_name"), "Alice")
        self.assertEqual(await User.query().max("age"), 40)
        self.assertEqual(await Picture.query().sum("pictures.size"), 560)

    async def test_aggregatesOfCutRows(self) -> None:
        """
        With a limit or an offset, the aggregates are of the rows the query
        returns; through joins too.
        """
        firstTwo = User.order("id").limit(2)
        self.assertEqual(await firstTwo.sum("age"), 55)
        self.assertEqual(await firstTwo.max("age"), 30)
        self.assertEqual(await firstTwo.min("first_name"), "Alice")
        self.assertEqual(float(await firstTwo.avg("age")), 27.5)
        self.assertEqual(await User.order("id").offset(3).sum("age"), 40)
        pictures = User.joins("pictures").order("pictures.size").limit(2)
        self.assertEqual(await pictures.sum("pictures.size"), 60)
        self.assertEqual(await pictures.max("users.age"), 30)

    async def test_aggregatesOfNoRows(self) -> None:
        """
        The sum of no rows is 0; their average, least and greatest are
        C{None}.
        """
        none = Picture.where(size=[])
        self.assertEqual(await none.sum("size"), 0)
        self.assertIsNone(await none.avg("size"))
        self.assertIsNone(await none.min("size"))
        self.assertIsNone(await none.max("size"))

    async def test_oneQueryEach(self) -> None:
        """
        Each running call sends one query.
        """
        query = User.where(last_name="Smith")
        runs: list[Callable[[], Deferred[Any]]] = [
            query.all, query.first, query.count, query.exists, query.ids, query.rows,
            lambda: query.pluck("first_name"), lambda: query.sum("age"),
            lambda: query.avg("age"), lambda: query.min("age"), lambda: query.max("age"),
        ]
        for run in runs:
            self.sent()
            await run()
            self.assertEqual(len(self.sent()), 1)


class UpdateAllTests(QueryTestCase):
    """
    Tests for L{Query.updateAll}.
    """

    async def test_updateAll(self) -> None:
        """
        One C{UPDATE} of the rows of the query; the number of rows changed.
        """
        self.sent()
        self.assertEqual(await User.where(last_name="Smith").updateAll(age=50, dob=None), 2)
        self.assertEqual(
            self.sent(),
            [self.sql("UPDATE [users] SET [age] = $, [dob] = $ WHERE [last_name] = $")],
        )
        self.assertEqual(await User.order("id").pluck("age"), [50, 25, 50, 40])
        self.assertEqual(await User.where(age=99).updateAll(age=1), 0)
        self.assertEqual(await User.query().updateAll(last_name="X"), 4)

    async def test_rowsAlreadyHoldingTheValue(self) -> None:
        """
        The count is of the rows the query matched, also those that already
        held the value, on every database (MySQL by itself counts only the
        rows whose value changed).
        """
        self.assertEqual(await User.where(last_name="Smith").updateAll(last_name="Smith"), 2)
        self.assertEqual(await User.query().updateAll(last_name="Smith"), 4)

    async def test_noHooksNoValidation(self) -> None:
        """
        No hook runs and no validation: a value the validation would refuse
        is written.
        """
        Audited.hooks = []
        self.assertEqual(await Audited.where(first_name="Bob").updateAll(first_name=None), 1)
        self.assertEqual(Audited.hooks, [])
        self.assertEqual(await User.where(first_name=None).ids(), [self.bob.id])

    async def test_limitAndOrder(self) -> None:
        """
        With a limit and an order, the rows changed are those the query
        selects.
        """
        self.assertEqual(await User.order("id DESC").limit(2).updateAll(age=1), 2)
        self.assertEqual(await User.order("id").pluck("age"), [30, 25, 1, 1])
        self.assertEqual(await User.order("id").offset(3).updateAll(age=2), 1)
        self.assertEqual(await User.order("id").pluck("age"), [30, 25, 1, 2])

    async def test_joins(self) -> None:
        """
        With joins, the rows of the model the query selects are changed,
        each once.
        """
        query = User.joins("pictures").where("pictures.size > ?", 40)
        self.assertEqual(await query.updateAll(last_name="Pictured"), 3)
        self.sent()
        await User.joins("pictures").order("users.id").limit(1).updateAll(age=7)
        inner = self.subquery(self.sql(
            "SELECT [users].[id] FROM [users] INNER JOIN [pictures] ON "
            "[pictures].[user_id] = [users].[id] ORDER BY users.id LIMIT 1"))
        self.assertEqual(self.sent(),
                         [self.sql("UPDATE [users] SET [age] = $ WHERE [id] IN (") + inner + ")"])
        self.assertEqual(await User.order("id").pluck("last_name", "age"),
                         [("Pictured", 7), ("Pictured", 25), ("Smith", None), ("Pictured", 40)])

    async def test_subquery(self) -> None:
        """
        A where with a subquery of the same table.
        """
        older = User.where("age > ?", 26).select("id")
        self.assertEqual(await User.where(id=older).updateAll(last_name="Older"), 2)
        self.assertEqual(sorted(await User.where(last_name="Older").pluck("first_name")),
                         ["Alice", "Dave"])

    async def test_reservedWord(self) -> None:
        """
        Columns named like SQL keywords are quoted.
        """
        await Counter.createMany([Counter(name="a", count=1), Counter(name="b", count=2)])
        self.assertEqual(await Counter.where(name="a").updateAll(count=10), 1)
        self.assertEqual(await Counter.order("name").pluck("count"), [10, 2])

    async def test_inARolledBackTransaction(self) -> None:
        """
        Inside a transaction, the change is rolled back with it.
        """

        class Stop(Exception):
            pass

        with self.assertRaises(Stop):
            async with transaction():
                self.assertEqual(await User.query().updateAll(age=0), 4)
                raise Stop()
        self.assertEqual(await User.order("id").pluck("age"), [30, 25, None, 40])

    async def test_groupedRefused(self) -> None:
        """
        A grouped query (C{group} or C{having}: its rows are groups) is
        refused with L{InvalidQueryError} before any SQL is sent, with a
        limit too (MariaDB's C{UPDATE ... LIMIT} would drop the grouping and
        change rows of no group); nothing is changed.
        """
        for query in [Picture.group("user_id"),
                      Picture.group("user_id").having("COUNT(*) > ?", 100),
                      Picture.query().having("COUNT(*) > ?", 100),
                      Picture.group("user_id").having("COUNT(*) > ?", 100).limit(10),
                      Picture.group("user_id").order("user_id").limit(1)]:
            await self.assertRefused(InvalidQueryError, lambda query: query.updateAll(size=0),
                                     query)
        self.assertEqual(await Picture.order("id").pluck("size"), [10, 200, 50, 300])

    async def test_qualifiedColumnRefused(self) -> None:
        """
        The columns set are the model's own, named bare: a dotted name, of
        the model's table or a joined one, is refused with
        L{InvalidIdentifierError} before any SQL is sent.
        """
        await self.assertRefused(InvalidIdentifierError,
                                 lambda: User.query().updateAll(**{"users.age": 1}))
        await self.assertRefused(InvalidIdentifierError,
                                 lambda: User.joins("pictures").updateAll(**{"pictures.size": 1}))
        self.assertEqual(await User.order("id").pluck("age"), [30, 25, None, 40])


class DeleteAllTests(QueryTestCase):
    """
    Tests for L{Query.deleteAll}.
    """

    async def test_deleteAll(self) -> None:
        """
        One C{DELETE} of the rows of the query; the number of rows deleted.
        """
        self.sent()
        self.assertEqual(await User.where(last_name="Smith").deleteAll(), 2)
        self.assertEqual(self.sent(), [self.sql("DELETE FROM [users] WHERE [last_name] = $")])
        self.assertEqual(await names(User.query()), ["Bob", "Dave"])
        self.assertEqual(await User.where(age=99).deleteAll(), 0)
        self.assertEqual(await Picture.query().deleteAll(), 4)

    async def test_noHooks(self) -> None:
        """
        No C{beforeDelete} runs.
        """
        Audited.hooks = []
        self.assertEqual(await Audited.where(first_name="Bob").deleteAll(), 1)
        self.assertEqual(Audited.hooks, [])

    async def test_limitOrderAndJoins(self) -> None:
        """
        With a limit and an order, or joins, the rows deleted are those the
        query selects.
        """
        self.assertEqual(await User.order("id").limit(2).deleteAll(), 2)
        self.assertEqual(await names(User.query()), ["Carol", "Dave"])
        self.assertEqual(
            await Picture.joins("user").where(**{"users.last_name": "Smith"}).deleteAll(), 0
        )
        self.assertEqual(
            await Picture.joins("user").where(**{"users.last_name": "Brown"}).deleteAll(), 1
        )
        self.assertEqual(sorted(await Picture.query().pluck("name")), ["p1", "p2", "p3"])

    async def test_subqueryOfTheSameTable(self) -> None:
        """
        A where with a subquery of the table deleted from (which MySQL
        refuses unless it goes through a derived table).
        """
        older = User.where("age > ?", 26).select("id")
        self.assertEqual(await User.where(id=older).deleteAll(), 2)
        self.assertEqual(await names(User.query()), ["Bob", "Carol"])

    async def test_groupedRefused(self) -> None:
        """
        A grouped query (C{group} or C{having}: its rows are groups) is
        refused with L{InvalidQueryError} before any SQL is sent, with a
        limit too; nothing is deleted.
        """
        for query in [Picture.group("user_id"),
                      Picture.group("user_id").having("COUNT(*) > ?", 100),
                      Picture.query().having("COUNT(*) > ?", 100),
                      Picture.group("user_id").having("COUNT(*) > ?", 100).limit(10),
                      Picture.group("user_id").order("user_id").limit(1)]:
            await self.assertRefused(InvalidQueryError, query.deleteAll)
        self.assertEqual(await Picture.query().count(), 4)


class EachTests(QueryTestCase):
    """
    Tests for L{Query.each}.
    """

    async def makeUsers(self, count: int) -> list[Any]:
        """
        @return: the ids of all the users, after adding C{count} more.
        """
        await User.createMany([User(first_name=f"u{i}", age=i) for i in range(count)])
        return await User.order("id").ids()

    async def test_everyRowOnceInIdOrder(self) -> None:
        """
        Every row comes once, in id order, whatever the batch size (also
        one that divides the number of rows, and one larger than it).
        """
        ids = await self.makeUsers(5)
        self.assertEqual(len(ids), 9)
        for batchSize in [1, 2, 3, 4, 8, 9, 10, 1000]:
            found = await drain(User.query().each(batchSize=batchSize))
            self.assertEqual([user.id for user in found], ids, batchSize)
        self.assertEqual([user.id for user in await drain(User.query().each())], ids)

    async def test_batches(self) -> None:
        """
        Outside a transaction each batch is one query of at most C{batchSize}
        rows: no more than one batch is held.
        """
        await self.makeUsers(5)
        self.sent()
        await drain(User.query().each(batchSize=3))
        sent = selects(self.sent())
        self.assertIn(len(sent), (3, 4))
        for query in sent:
            self.assertTrue(query.endswith(" LIMIT 3"), query)

    async def test_where(self) -> None:
        """
        Only the rows of the query come, with its arguments kept in place
        from batch to batch.
        """
        ids = await self.makeUsers(6)
        query = User.where("age > ?", 2).where(last_name=None)
        found = await drain(query.each(batchSize=1))
        self.assertEqual([user.first_name for user in found], ["u3", "u4", "u5"])
        self.assertEqual([user.id for user in found], ids[-3:])

    async def test_objects(self) -> None:
        """
        The objects are built with C{afterInit}; a selection gives partial
        objects.
        """
        found = await drain(Audited.query().each(batchSize=3))
        self.assertTrue(all(isinstance(user, Audited) and user.initialised for user in found))
        partial = await drain(User.select("first_name").each(batchSize=3))
        self.assertEqual([user.first_name for user in partial], ["Alice", "Bob", "Carol", "Dave"])
        self.assertFalse(hasattr(partial[0], "last_name"))

    async def test_limitAndOffset(self) -> None:
        """
        A limit and an offset cut the rows walked in id order.
        """
        ids = await self.makeUsers(5)
        found = await drain(User.query().limit(5).each(batchSize=2))
        self.assertEqual([user.id for user in found], ids[:5])
        found = await drain(User.query().offset(2).limit(3).each(batchSize=2))
        self.assertEqual([user.id for user in found], ids[2:5])

    async def test_joinsAndRelationships(self) -> None:
        """
        A distinct join and a relationship-scoped query walk their rows once.
        """
        found = await drain(User.joins("pictures").distinct().each(batchSize=1))
        self.assertEqual([user.id for user in found], [self.alice.id, self.bob.id, self.dave.id])
        pictures = await drain(self.alice.pictures.query().each(batchSize=1))
        self.assertEqual([picture.name for picture in pictures], ["p1", "p2"])

    async def test_joinsNeedDistinct(self) -> None:
        """
        Over joins without C{distinct()} (whose rows repeat an object)
        C{each()} is refused with L{InvalidQueryError} before any SQL is
        sent; with it, every object comes once, in id order, whatever the
        batch size.
        """
        for query in [User.joins("pictures"), User.leftJoins("avatar"),
                      User.joins("JOIN pictures ON pictures.user_id = users.id"),
                      User.joins("pictures").select("users.id", "first_name")]:
            await self.assertRefused(InvalidQueryError, lambda query: drain(query.each()), query)
        owners = [self.alice.id, self.bob.id, self.dave.id]
        for batchSize in [1, 2, 3, 1000]:
            found = await drain(User.joins("pictures").distinct().each(batchSize=batchSize))
            self.assertEqual([user.id for user in found], owners, batchSize)
            found = await drain(User.leftJoins("pictures").distinct().each(batchSize=batchSize))
            self.assertEqual([user.id for user in found],
                             [self.alice.id, self.bob.id, self.carol.id, self.dave.id])
            selected = User.joins("pictures").select("users.id", "first_name").distinct()
            found = await drain(selected.each(batchSize=batchSize))
            self.assertEqual([user.first_name for user in found], ["Alice", "Bob", "Dave"])

    async def test_changingRowsInTheLoop(self) -> None:
        """
        The loop's body may write the rows walked.
        """
        await self.makeUsers(5)
        user: Any
        async for user in User.query().each(batchSize=2):
            user.age = 100
            await user.save()
        self.assertEqual(await User.whereNot(age=100).count(), 0)

    async def test_insideATransaction(self) -> None:
        """
        Inside a transaction every row comes once, in id order, also when
        the loop writes, and the transaction goes on after the loop, also
        after leaving it early.
        """
        ids = await self.makeUsers(5)
        async with transaction():
            found = await drain(User.query().each(batchSize=2))
            self.assertEqual([user.id for user in found], ids)
            user: Any
            async for user in User.where("age IS NOT NULL").each(batchSize=3):
                user.age += 1
                await user.save()
            async for _ in User.query().each(batchSize=2):
                break
            self.assertEqual(await User.where(age=31).count(), 1)
            await User(first_name="Eve").save()
        self.assertEqual(await User.order("id").pluck("age"),
                         [31, 26, None, 41, 1, 2, 3, 4, 5, None])

    async def test_refused(self) -> None:
        """
        A query with its own order, and a batch size below 1, are refused
        with L{InvalidQueryError} before any SQL is sent.
        """
        await self.assertRefused(InvalidQueryError, lambda: drain(User.order("age").each()))
        await self.assertRefused(InvalidQueryError,
                                 lambda: drain(User.where(age=1).order("id").each()))
        for batchSize in [0, -1]:
            await self.assertRefused(
                InvalidQueryError, lambda size: drain(User.query().each(batchSize=size)), batchSize
            )


class PageTests(QueryTestCase):
    """
    Tests for L{Query.page} and L{Page}.
    """

    async def test_page(self) -> None:
        """
        A page holds its objects, in the query's order, and the total.
        """
        ordered = User.order("first_name DESC")
        page = await ordered.page(1, perPage=3)
        self.assertIsInstance(page, Page)
        self.assertEqual([user.first_name for user in page.items], ["Dave", "Carol", "Bob"])
        self.assertEqual((page.total, page.number, page.perPage, page.pages), (4, 1, 3, 2))
        page = await ordered.page(2, perPage=3)
        self.assertEqual([user.first_name for user in page.items], ["Alice"])
        self.assertEqual((page.total, page.number, page.perPage, page.pages), (4, 2, 3, 2))

    async def test_defaults(self) -> None:
        """
        Twenty objects a page by default, in id order when the query has no
        order.
        """
        page = await User.where(last_name="Smith").page(1)
        self.assertEqual([user.id for user in page.items], [self.alice.id, self.carol.id])
        self.assertEqual((page.total, page.number, page.perPage, page.pages), (2, 1, 20, 1))

    async def test_pages(self) -> None:
        """
        The number of pages rounds up; it is 0 when nothing matches; a page
        past the end is empty.
        """
        self.assertEqual((await User.order("id").page(1, perPage=2)).pages, 2)
        self.assertEqual((await User.order("id").page(1, perPage=1)).pages, 4)
        self.assertEqual((await User.order("id").page(1, perPage=5)).pages, 1)
        empty = await User.where(age=[]).page(1)
        self.assertEqual((empty.items, empty.total, empty.pages), ([], 0, 0))
        past = await User.order("id").page(5, perPage=3)
        self.assertEqual((past.items, past.total, past.pages), ([], 4, 2))

    async def test_joinsAndWhere(self) -> None:
        """
        The total counts the rows the query returns.
        """
        query = User.joins("pictures").where("pictures.size > ?", 20).distinct().order("users.id")
        page = await query.page(1, perPage=1)
        self.assertEqual(([user.id for user in page.items], page.total, page.pages),
                         ([self.alice.id], 3, 3))

    async def test_refused(self) -> None:
        """
        A page number or size below 1 is refused with L{InvalidQueryError}
        before any SQL is sent.
        """
        for number, perPage in [(0, 20), (-1, 20), (1, 0), (1, -5)]:
            await self.assertRefused(InvalidQueryError, User.order("id").page, number, perPage)
        await self.assertRefused(InvalidQueryError, lambda: User.page(0))

    async def test_withinLimitAndOffset(self) -> None:
        """
        The pages of a query with its own limit and offset are cut from the
        rows it returns, and the total counts those rows; a page past them
        is empty.
        """
        await User.createMany([User(first_name=f"u{i}") for i in range(6)])
        ids = await User.order("id").ids()
        self.assertEqual(len(ids), 10)

        async def read(query: Query[Any], number: int, perPage: int) -> tuple[list[Any], int]:
            page = await query.page(number, perPage=perPage)
            return [user.id for user in page.items], page.total

        limited = User.order("id").limit(5)
        self.sent()
        self.assertEqual(await read(limited, 2, 3), (ids[3:5], 5))
        self.assertEqual(selects(self.sent())[-1],
                         self.sql("SELECT * FROM [users] ORDER BY id LIMIT 2 OFFSET 3"))
        self.assertEqual(await read(limited, 1, 3), (ids[:3], 5))
        self.assertEqual(await read(limited, 1, 20), (ids[:5], 5))
        self.assertEqual(await read(limited, 3, 3), ([], 5))
        self.assertEqual(await read(limited, 9, 3), ([], 5))
        skipped = User.order("id").offset(8)
        self.assertEqual(await read(skipped, 1, 5), (ids[8:], 2))
        self.assertEqual(await read(skipped, 2, 1), (ids[9:], 2))
        self.assertEqual(await read(skipped, 2, 5), ([], 2))
        both = User.order("id").offset(2).limit(5)
        self.assertEqual(await read(both, 1, 3), (ids[2:5], 5))
        self.assertEqual(await read(both, 2, 3), (ids[5:7], 5))
        self.assertEqual(await read(both, 3, 3), ([], 5))
        self.assertEqual(await read(User.query().limit(3), 1, 2), (ids[:2], 3))

    async def test_groupedRefused(self) -> None:
        """
        A page of a grouped query (its rows are groups, not objects) is
        refused with L{InvalidQueryError} before any SQL is sent, also the
        count.
        """
        for query in [Picture.select("user_id").group("user_id"),
                      Picture.group("user_id").having("COUNT(*) > ?", 1),
                      Picture.query().having("COUNT(*) > ?", 1)]:
            await self.assertRefused(InvalidQueryError, query.page, 1)

    async def test_hugeNumbersRefused(self) -> None:
        """
        A page number or size, or a page whose offset, past the largest SQL
        integer (2**63 - 1) is refused with L{InvalidQueryError} before any
        SQL is sent.
        """
        for number, perPage in [(2**63, 20), (1, 2**63), (2**62, 4), (2**64, 2**64)]:
            await self.assertRefused(InvalidQueryError, User.order("id").page, number, perPage)


class RelationshipQueryTests(QueryTestCase):
    """
    Queries started from a relationship of a saved object are scoped to
    the related rows.
    """

    async def test_hasMany(self) -> None:
        """
        A has-many's queries find only the owner's rows.
        """
        pictures = self.alice.pictures
        self.assertEqual(await pictures.query().count(), 2)
        self.assertEqual(
            [p.name for p in await pictures.where("size > ?", 5).order("name DESC").all()],
            ["p2", "p1"],
        )
        self.assertEqual([p.name for p in await pictures.order("size").all()], ["p1", "p2"])
        self.assertEqual(await pictures.where(name="p3").all(), [])
        self.assertEqual(sorted(await pictures.pluck("name")), ["p1", "p2"])
        (selected,) = await pictures.select("name").where(size=10).all()
        self.assertFalse(hasattr(selected, "size"))
        page = await pictures.page(2, perPage=1)
        self.assertEqual(([p.name for p in page.items], page.total), (["p2"], 2))
        self.assertEqual(await pictures.joins("user").pluck("users.first_name"),
                         ["Alice", "Alice"])
        loaded = await pictures.includes("user").order("name").all()
        self.sent()
        self.assertEqual([(await p.user.get()).id for p in loaded], [self.alice.id] * 2)
        self.assertEqual(self.sent(), [])

    async def test_hasManyWrites(self) -> None:
        """
        C{updateAll} and C{deleteAll} of a relationship change only its rows.
        """
        self.assertEqual(await self.alice.pictures.query().updateAll(size=1), 2)
        self.assertEqual(await Picture.order("id").pluck("size"), [1, 1, 50, 300])
        self.assertEqual(await self.alice.pictures.where(name="p1").deleteAll(), 1)
        self.assertEqual(sorted(await Picture.query().pluck("name")), ["p2", "p3", "p4"])

    async def test_habtm(self) -> None:
        """
        A has-and-belongs-to-many's queries find only the related rows.
        """
        colors = self.alice.favorite_colors
        self.assertEqual(await colors.query().count(), 2)
        self.assertEqual(await colors.where(name="red").pluck("name"), ["red"])
        self.assertEqual(await colors.order("name").pluck("name"), ["blue", "red"])
        self.assertEqual(await self.bob.favorite_colors.order("name").pluck("name"), ["red"])
        self.assertEqual(await self.carol.favorite_colors.query().all(), [])
        self.assertEqual(sorted(await self.bob.favorite_colors.joins("users").pluck(
            "users.first_name")), ["Alice", "Bob"])

    async def test_sql(self) -> None:
        """
        The relationship's condition comes first, ANDed to the query's.
        """
        self.assertEqual(
            self.alice.pictures.where(size=10).toSQL(),
            (self.sql("SELECT * FROM [pictures] WHERE ([user_id] = $) AND ([size] = $)"),
             [self.alice.id, 10]),
        )
        inner = self.subquery(self.sql(
            "SELECT [favorite_color_id] FROM [favorite_colors_users] WHERE [user_id] = $"))
        self.assertEqual(
            self.alice.favorite_colors.where(name="red").toSQL(),
            (self.sql("SELECT * FROM [favorite_colors] WHERE ([id] IN (") + inner
             + self.sql(")) AND ([name] = $)"), [self.alice.id, "red"]),
        )
        boy = await Boy(name="b").save()
        self.assertEqual(
            boy.nicknames.query().toSQL(),
            (self.sql("SELECT * FROM [nicknames] WHERE ([nicknameable_id] = $) AND "
                      "([nicknameable_type] = $)"), [boy.id, "Boy"]),
        )

    async def test_habtmWrites(self) -> None:
        """
        C{updateAll} and C{deleteAll} of a has-and-belongs-to-many change
        only the related rows.
        """
        self.assertEqual(await self.bob.favorite_colors.query().updateAll(name="crimson"), 1)
        self.assertEqual(await self.alice.favorite_colors.order("name").pluck("name"),
                         ["blue", "crimson"])
        self.assertEqual(await self.alice.favorite_colors.where(name="blue").deleteAll(), 1)
        self.assertEqual(await FavoriteColor.query().pluck("name"), ["crimson"])

    async def test_hasOne(self) -> None:
        """
        A has-one's query finds the owner's row.
        """
        self.assertEqual((await self.dave.avatar.query().first()).name, "d")
        self.assertEqual(await self.alice.avatar.where(color="green").pluck("name"), ["a"])
        self.assertFalse(await self.carol.avatar.query().exists())

    async def test_polymorphicHasMany(self) -> None:
        """
        A polymorphic has-many's queries find only the rows of the owner's
        class.
        """
        boy = await Boy(name="b").save()
        await Nickname.createMany([
            Nickname(value="x", nicknameable_id=boy.id, nicknameable_type="Boy"),
            Nickname(value="y", nicknameable_id=boy.id, nicknameable_type="Girl"),
        ])
        self.assertEqual(await boy.nicknames.query().pluck("value"), ["x"])
        self.assertEqual(await boy.nicknames.where(value="y").count(), 0)

    async def test_getAndCountKept(self) -> None:
        """
        The relationships' C{get} and C{count} keep their contract.
        """
        self.assertEqual(await self.alice.pictures.count(), 2)
        self.assertEqual(len(await self.alice.pictures.get(where=["size > ?", 100])), 1)
        self.assertEqual(await self.alice.favorite_colors.count(), 2)


class BadInputTests(QueryTestCase):
    """
    Bad input fails with a specific twistar exception before any SQL is
    sent.
    """

    async def test_badColumnNames(self) -> None:
        """
        Column names that are not plain identifiers (or C{table.column}) are
        refused with L{InvalidIdentifierError}: in keywords of C{where} and
        C{whereNot}, in C{pluck}, the aggregates, C{updateAll} and
        C{select}'s dotted names.
        """
        bad = ["first name", 'a"; DROP TABLE users; --', "users.first name", "1st", "a.b.c;d"]
        for name in bad:
            await self.assertRefused(InvalidIdentifierError,
                                     lambda name: User.where(**{name: 1}).all(), name)
            await self.assertRefused(InvalidIdentifierError,
                                     lambda name: User.whereNot(**{name: 1}).count(), name)
            await self.assertRefused(InvalidIdentifierError, User.pluck, name)
            await self.assertRefused(InvalidIdentifierError,
                                     lambda name: User.query().updateAll(**{name: 1}), name)
        for aggregate in ["sum", "avg", "min", "max"]:
            for column in ["age * 2", "age; --", "COUNT(*)"]:
                await self.assertRefused(
                    InvalidIdentifierError, getattr(User.query(), aggregate), column
                )

    async def test_badConditions(self) -> None:
        """
        A condition that is no fragment, where list or keyword is refused
        with L{InvalidQueryError}; placeholders and arguments that differ in
        number with L{PlaceholderCountError}; a value the driver cannot
        store with L{UnsupportedValueError}.
        """
        await self.assertRefused(InvalidQueryError, lambda: User.where(42).all())
        await self.assertRefused(InvalidQueryError, lambda: User.where([]).all())
        await self.assertRefused(PlaceholderCountError,
                                 lambda: User.where("age > ? AND age < ?", 1).all())
        await self.assertRefused(PlaceholderCountError, lambda: User.where(["age = ?"]).all())
        await self.assertRefused(PlaceholderCountError,
                                 lambda: User.where("age = ?", 1, 2).count())
        await self.assertRefused(PlaceholderCountError,
                                 lambda: User.group("age").having("COUNT(*) > ?").rows())
        await self.assertRefused(UnsupportedValueError, lambda: User.where(age=object()).all())
        await self.assertRefused(UnsupportedValueError, lambda: User.where(age=[1, object()]).ids())
        await self.assertRefused(UnsupportedValueError,
                                 lambda: User.where("age = ?", object()).exists())

    async def test_collectionsInAnInList(self) -> None:
        """
        A list, tuple, set or dict inside an C{IN} list (which PostgreSQL
        would send as an array) is refused with L{UnsupportedValueError} on
        every database, before any SQL is sent.
        """
        for value in [[[1, 2]], [(1, 2)], ([1],), [30, {1}], [frozenset()], [{"a": 1}]]:
            await self.assertRefused(UnsupportedValueError,
                                     lambda value: User.where(age=value).all(), value)
            await self.assertRefused(UnsupportedValueError,
                                     lambda value: User.whereNot(age=value).count(), value)
            await self.assertRefused(
                UnsupportedValueError,
                lambda value: User.group("age").having(age=value).rows(), value,
            )
            await self.assertRefused(UnsupportedValueError,
                                     lambda value: User.where(age=value).deleteAll(), value)

    async def test_subqueryOfSeveralColumns(self) -> None:
        """
        A subquery selecting several columns is refused.
        """
        two = Picture.select("user_id", "size")
        await self.assertRefused(InvalidQueryError, lambda: User.where(id=two).all())

    async def test_badFragments(self) -> None:
        """
        Order, group and select arguments that are not SQL text are refused.
        """
        await self.assertRefused(InvalidQueryError, lambda value: User.order(value).all(), None)
        await self.assertRefused(InvalidQueryError, lambda value: User.group(value).rows(), 1)
        await self.assertRefused(InvalidQueryError, lambda value: User.select(value).rows(), 1)

    async def test_badRunningArguments(self) -> None:
        """
        C{updateAll} without values, C{pluck} without columns, and values
        the driver cannot store are refused.
        """
        await self.assertRefused(InvalidQueryError, lambda: User.query().updateAll())
        await self.assertRefused(InvalidQueryError, lambda: User.query().pluck())
        await self.assertRefused(UnsupportedValueError,
                                 lambda: User.query().updateAll(age=object()))
        await self.assertRefused(UnsupportedValueError,
                                 lambda: User.where(age=object()).deleteAll())
        await self.assertRefused(UnsupportedValueError,
                                 lambda: User.where(age=object()).updateAll(age=1))
