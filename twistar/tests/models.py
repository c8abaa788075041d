"""
Model classes shared by the tests.
"""

from typing import Any

from twistar.dbobject import DBObject
from twistar.registry import Registry

# -- relationship models (used by test_relationships) ------------------------


class User(DBObject):
    """
    A row of C{users}, with pictures, an avatar and favourite colours.
    """

    HASMANY = ["pictures"]
    HASONE = ["avatar"]
    HABTM = ["favorite_colors"]


class Picture(DBObject):
    """
    A row of C{pictures}, belonging to a L{User} through C{user_id}.
    """

    BELONGSTO = ["user"]


class Avatar(DBObject):
    """
    A row of C{avatars}, the one avatar of a L{User}.
    """

    BELONGSTO = ["user"]


class FavoriteColor(DBObject):
    """
    A row of C{favorite_colors}; joined to L{User} by C{favorite_colors_users}.
    """

    HABTM = ["users"]


class Boy(DBObject):
    """
    A row of C{boys}, owning nicknames polymorphically.
    """

    HASMANY = [{"name": "nicknames", "as": "nicknameable"}]


class Girl(DBObject):
    """
    A row of C{girls}, owning nicknames polymorphically.
    """

    HASMANY = [{"name": "nicknames", "as": "nicknameable"}]


class Nickname(DBObject):
    """
    A row of C{nicknames}, belonging to a L{Boy} or a L{Girl}.
    """

    BELONGSTO = [{"name": "nicknameable", "polymorphic": True}]


class Blogpost(DBObject):
    """
    A row of C{blogposts}: comments, and categories through the custom join
    table C{posts_categories}.
    """

    HASMANY = ["comments"]
    HABTM = [
        {"name": "categories", "join_table": "posts_categories",
         "foreign_key": "blogpost_id", "association_foreign_key": "category_id"},
    ]


class Category(DBObject):
    """
    A row of C{categories}, joined to L{Blogpost} by C{posts_categories}.
    """

    HABTM = [{"name": "blogposts", "join_table": "posts_categories"}]


class Comment(DBObject):
    """
    A row of C{comments}: belongs to a L{Blogpost}, and to an author (a
    L{User}) through C{author_id}.
    """

    BELONGSTO = [
        "blogpost",
        {"name": "author", "class_name": "User", "foreign_key": "author_id"},
    ]


class Article(DBObject):
    """
    C{blogposts} again, under a name whose conventions match no column: its
    relationships work only through their explicit options.
    """

    TABLENAME = "blogposts"
    HASMANY = [{"name": "remarks", "class_name": "Comment", "foreign_key": "blogpost_id"}]
    HABTM = [
        {"name": "labels", "class_name": "Label", "join_table": "posts_categories",
         "foreign_key": "blogpost_id", "association_foreign_key": "category_id"},
    ]


class Label(DBObject):
    """
    C{categories} again, for L{Article}.
    """

    TABLENAME = "categories"


Registry.register(
    User, Picture, Avatar, FavoriteColor, Boy, Girl, Nickname, Blogpost, Category, Comment,
    Article, Label,
)


# -- models of test_dbobject, test_validation, test_utils, test_dbconfig ------


class Coltest(DBObject):
    """
    A row of C{coltests}, whose columns are the reserved words C{select} and
    C{where}.
    """


class Unique(DBObject):
    """
    A row of C{uniques}, whose C{code} column is UNIQUE.
    """


class Imaginary(DBObject):
    """
    A model whose table (C{imaginaries}) does not exist.
    """


class Member(DBObject):
    """
    C{users} again, with no relationships; validation tests add validators
    to it and clear them afterwards.
    """

    TABLENAME = "users"


class Lad(DBObject):
    """
    C{boys} again; a sibling of L{Lass} for per-class validators.
    """

    TABLENAME = "boys"


class Lass(DBObject):
    """
    C{girls} again; a sibling of L{Lad} for per-class validators.
    """

    TABLENAME = "girls"


Registry.register(Coltest, Unique, Imaginary, Member, Lad, Lass)


# -- models of test_safety and test_properties ----------------------------------

_INJECTED = "user_id = 0; DELETE FROM users; --"


class SafetySample(DBObject):
    """
    A row of C{values_tests}, for value round-trips.
    """

    TABLENAME = "values_tests"


class SafetyOwner(DBObject):
    """
    C{users} again, with relationships whose tables and keys are injection
    attempts: using any of them must fail before any SQL runs.
    """

    TABLENAME = "users"
    HASMANY = [{"name": "pictures", "class_name": "Picture", "foreign_key": _INJECTED}]
    HASONE = [{"name": "avatar", "class_name": "Avatar", "foreign_key": 'user_id" = 0 OR "1'}]
    HABTM = [
        {"name": "favorite_colors", "class_name": "FavoriteColor",
         "join_table": "favorite_colors_users; DELETE FROM users"},
        {"name": "colors", "class_name": "FavoriteColor", "join_table": "favorite_colors_users",
         "foreign_key": "user_id) OR (1 = 1"},
        {"name": "hues", "class_name": "FavoriteColor", "join_table": "favorite_colors_users",
         "foreign_key": "user_id",
         "association_foreign_key": "favorite_color_id FROM users; DELETE FROM users; --"},
    ]
    BELONGSTO = [{"name": "boss", "class_name": "User", "foreign_key": "age; DELETE FROM users"}]


class SafetyHaunted(DBObject):
    """
    C{users} again, related to classes that were never registered.
    """

    TABLENAME = "users"
    HASONE = [{"name": "ghost", "class_name": "Ghost"}]
    HABTM = [{"name": "phantoms", "join_table": "favorite_colors_users"}]
    BELONGSTO = [{"name": "spectre", "foreign_key": "age"}]


Registry.register(SafetySample, SafetyOwner, SafetyHaunted)


# -- models of test_locking -------------------------------------------------------


class Draft(DBObject):
    """
    A row of C{drafts}, optimistically locked by its C{lock_version} column,
    with reviewers joined by C{drafts_reviewers}.
    """

    LOCK_VERSION = "lock_version"
    HABTM = ["reviewers"]

    title: str | None
    body: str | None
    lock_version: int | None


class Reviewer(DBObject):
    """
    A row of C{reviewers}, linked to drafts.
    """


Registry.register(Draft, Reviewer)


# -- models of test_timestamps ----------------------------------------------------


class Story(DBObject):
    """
    A row of C{stories}, with C{created_at} and C{updated_at} set by twistar.
    """

    TIMESTAMPS = True

    title: str | None
    body: str | None
    created_at: Any
    updated_at: Any


class Note(DBObject):
    """
    A row of C{notes}, whose timestamps are C{inserted} and C{changed}.
    """

    TIMESTAMPS = ("inserted", "changed")

    title: str | None
    inserted: Any
    changed: Any


Registry.register(Story, Note)
