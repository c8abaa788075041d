"""
The bookshop's JSON API: authors, books and reviews, each listed, created,
shown, updated and deleted.

    GET    /authors            ?page=N&per_page=N     POST /authors
    GET    /authors/{id}       PATCH /authors/{id}    DELETE /authors/{id}
    GET    /books              ?page=N&per_page=N     POST /books
    GET    /books/{id}         PATCH /books/{id}      DELETE /books/{id}
    GET    /books/{id}/reviews                        POST /books/{id}/reviews
    GET    /reviews/{id}       PATCH /reviews/{id}    DELETE /reviews/{id}

Invalid data gets C{422} and the validation errors, a missing row C{404}.
Every request that writes runs in a transaction (see L{bookshop.routing}).
"""

import datetime

from twisted.web.server import Site

from bookshop.models import Author, Book, Review, Tag
from bookshop.routing import HTTPError, Invalid, NotFound, Router, readJSON

router = Router()

AUTHOR_FIELDS = ("name",)
BOOK_FIELDS = ("title", "author_id", "published_year")
REVIEW_FIELDS = ("rating", "body")
"""The columns a client may set, by model."""


def makeSite():
    """
    @return: a twisted.web site serving the API.
    """
    return Site(router)


# -- JSON ------------------------------------------------------------------------


def timestamp(value):
    """
    @return: a time from the database in ISO 8601 (SQLite gives text).
    """
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value.isoformat() if value is not None else None


def authorJSON(author):
    return {
        "id": author.id,
        "name": author.name,
        "created_at": timestamp(author.created_at),
        "updated_at": timestamp(author.updated_at),
    }


def reviewJSON(review):
    return {
        "id": review.id,
        "book_id": review.book_id,
        "rating": review.rating,
        "body": getattr(review, "body", None),  # an attribute never set does not exist
        "created_at": timestamp(review.created_at),
        "updated_at": timestamp(review.updated_at),
    }


async def bookJSON(book):
    """
    @return: the book, with its author and tags: loaded already when the
        book was found with C{include=}, else one query each.
    """
    return {
        "id": book.id,
        "title": book.title,
        "published_year": getattr(book, "published_year", None),
        "author": authorJSON(await book.author.get()),
        "tags": sorted(tag.name for tag in await book.tags.get()),
        "created_at": timestamp(book.created_at),
        "updated_at": timestamp(book.updated_at),
    }


# -- helpers ---------------------------------------------------------------------


async def found(model, id, include=()):
    """
    @return: the C{model} object of C{id}, with the relationships of
        C{include} loaded.
    @raise NotFound: when there is none.
    """
    obj = await model.find(id, include=include)
    if obj is None:
        raise NotFound(f"no {model.__name__.lower()} {id}")
    return obj


def assign(obj, body, fields):
    """
    Set the attributes of C{obj} that C{body} gives.

    @raise Invalid: when C{body} names anything but C{fields}.
    """
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise Invalid({name: [f"{name} is not a field."] for name in unknown})
    for name in fields:
        if name in body:
            setattr(obj, name, body[name])


async def saved(obj):
    """
    Save C{obj}.

    @raise Invalid: with its errors, when it is invalid.
    """
    await obj.save()
    if obj.errors:
        raise Invalid(obj.errors)
    return obj


def pageOf(request):
    """
    @return: the page number and size the query string asks for (C{page},
        from 1; C{per_page}, from 1 to 100, by default 20).
    """
    try:
        number = int(request.args.get(b"page", [b"1"])[0])
        size = int(request.args.get(b"per_page", [b"20"])[0])
    except ValueError:
        raise HTTPError(400, "page and per_page are whole numbers")
    if number < 1 or not 1 <= size <= 100:
        raise HTTPError(400, "page is from 1, per_page from 1 to 100")
    return number, size


def pageJSON(page, items):
    return {"items": items, "page": page.number, "pages": page.pages, "total": page.total}


async def setTags(book, names):
    """
    Link C{book} to the tags called C{names}, making the tags that do not
    exist yet.

    @raise Invalid: when C{names} is no list of valid tag names.
    """
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise Invalid({"tags": ["Tags must be a list of names."]})
    tags = []
    for name in sorted(set(names)):
        tag = await Tag.findOrCreate(name=name)
        if tag.errors:
            raise Invalid({"tags": tag.errors.errorsFor("name")})
        tags.append(tag)
    await book.tags.set(tags)


# -- authors ---------------------------------------------------------------------


@router.route("GET", "/authors")
async def listAuthors(request):
    number, size = pageOf(request)
    page = await Author.order("name", "id").page(number, size)
    return pageJSON(page, [authorJSON(author) for author in page.items])


@router.route("POST", "/authors")
async def createAuthor(request):
    author = Author()
    assign(author, readJSON(request), AUTHOR_FIELDS)
    await saved(author)
    request.setResponseCode(201)
    return authorJSON(author)


@router.route("GET", "/authors/{id}")
async def showAuthor(request, id):
    author = await found(Author, id, include=["books"])
    books = await author.books.get()
    return {**authorJSON(author),
            "books": [{"id": book.id, "title": book.title} for book in books]}


@router.route("PATCH", "/authors/{id}")
async def updateAuthor(request, id):
    author = await found(Author, id)
    assign(author, readJSON(request), AUTHOR_FIELDS)
    await saved(author)
    return authorJSON(author)


@router.route("DELETE", "/authors/{id}")
async def deleteAuthor(request, id):
    author = await found(Author, id)
    for book in await author.books.get():
        await deleteReviewsAndBook(book)
    await author.delete()


# -- books -----------------------------------------------------------------------


@router.route("GET", "/books")
async def listBooks(request):
    number, size = pageOf(request)
    # Four queries whatever the number of books: the count, the page of
    # books, their authors and their tags.
    query = Book.includes("author", "tags").order("title", "id")
    page = await query.page(number, size)
    return pageJSON(page, [await bookJSON(book) for book in page.items])


@router.route("POST", "/books")
async def createBook(request):
    body = readJSON(request)
    tags = body.pop("tags", None)
    book = Book()
    assign(book, body, BOOK_FIELDS)
    await saved(book)
    if tags is not None:
        await setTags(book, tags)  # an invalid tag rolls the new book back too
    request.setResponseCode(201)
    return await bookJSON(book)


@router.route("GET", "/books/{id}")
async def showBook(request, id):
    book = await found(Book, id, include=["author", "tags", "reviews"])
    reviews = await book.reviews.get()
    return {**await bookJSON(book),
            "reviews": [reviewJSON(review) for review in sorted(reviews, key=lambda r: r.id)]}


@router.route("PATCH", "/books/{id}")
async def updateBook(request, id):
    book = await found(Book, id)
    body = readJSON(request)
    tags = body.pop("tags", None)
    assign(book, body, BOOK_FIELDS)
    await saved(book)
    if tags is not None:
        await setTags(book, tags)
    return await bookJSON(book)


@router.route("DELETE", "/books/{id}")
async def deleteBook(request, id):
    await deleteReviewsAndBook(await found(Book, id))


async def deleteReviewsAndBook(book):
    await Review.deleteAll(where=["book_id = ?", book.id])
    await book.delete()  # and its rows of books_tags


# -- reviews ---------------------------------------------------------------------


@router.route("GET", "/books/{id}/reviews")
async def listReviews(request, id):
    book = await found(Book, id)
    return [reviewJSON(review) for review in await book.reviews.get(orderby="id")]


@router.route("POST", "/books/{id}/reviews")
async def createReview(request, id):
    book = await found(Book, id)
    review = Review(book_id=book.id)
    assign(review, readJSON(request), REVIEW_FIELDS)
    await saved(review)
    request.setResponseCode(201)
    return reviewJSON(review)


@router.route("GET", "/reviews/{id}")
async def showReview(request, id):
    return reviewJSON(await found(Review, id))


@router.route("PATCH", "/reviews/{id}")
async def updateReview(request, id):
    review = await found(Review, id)
    assign(review, readJSON(request), REVIEW_FIELDS)
    await saved(review)
    return reviewJSON(review)


@router.route("DELETE", "/reviews/{id}")
async def deleteReview(request, id):
    await (await found(Review, id)).delete()
