"""
The bookshop's models: authors, their books, the books' reviews, and tags.

The tables come from the migrations in C{examples/service/migrations}; the
models name no column, twistar reads them from the database.
"""

import datetime

from twistar.dbobject import DBObject
from twistar.registry import Registry


class Author(DBObject):
    TIMESTAMPS = True                    # created_at and updated_at, filled by twistar
    HASMANY = ["books"]                  # Book, books.author_id


class Book(DBObject):
    TIMESTAMPS = True
    BELONGSTO = ["author"]               # the Author of books.author_id
    HASMANY = ["reviews"]                # Review, reviews.book_id
    HABTM = ["tags"]                     # Tag, through the join table books_tags


class Review(DBObject):
    TIMESTAMPS = True
    BELONGSTO = ["book"]


class Tag(DBObject):
    HABTM = ["books"]


Registry.register(Author, Book, Review, Tag)


def validatesTypeOf(model, kind, *names):
    """
    Add a validator to C{model}: each of the attributes C{names} is unset,
    C{None} or a C{kind} (JSON gives any type; C{True} is not an C{int}).
    """
    noun = {str: "text", int: "a whole number"}[kind]

    def check(obj):
        for name in names:
            value = getattr(obj, name, None)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                obj.errors.add(name, f"must be {noun}.")

    model.addValidator(check)


Author.validatesPresenceOf("name")
validatesTypeOf(Author, str, "name")
Author.validatesLengthOf("name", range=range(1, 201))

Book.validatesPresenceOf("title", "author_id")
validatesTypeOf(Book, str, "title")
validatesTypeOf(Book, int, "author_id", "published_year")
Book.validatesLengthOf("title", range=range(1, 201))


async def authorExists(book):
    """
    A validator that queries: the book's author is a row of C{authors}.
    """
    authorId = getattr(book, "author_id", None)
    if type(authorId) is int and not await Author.exists(["id = ?", authorId]):
        book.errors.add("author_id", "does not exist.")


def publishedInThePast(book):
    year = getattr(book, "published_year", None)
    if type(year) is int and not 0 < year <= datetime.date.today().year:
        book.errors.add("published_year", "must be a year, not in the future.")


Book.addValidator(authorExists)
Book.addValidator(publishedInThePast)

Review.validatesPresenceOf("book_id", "rating")
validatesTypeOf(Review, int, "rating")
validatesTypeOf(Review, str, "body")


def ratingFromOneToFive(review):
    rating = getattr(review, "rating", None)
    if type(rating) is int and not 1 <= rating <= 5:
        review.errors.add("rating", "must be from 1 to 5.")


Review.addValidator(ratingFromOneToFive)

Tag.validatesPresenceOf("name")
validatesTypeOf(Tag, str, "name")
Tag.validatesLengthOf("name", range=range(1, 101))
Tag.validatesUniquenessOf("name")
