"""
The tables of the example service: authors, their books, the books'
reviews, and tags, linked to books through the join table books_tags.

Each database writes an auto-increment key and a point in time its own way,
so this migration is Python: perBackend runs the SQL of the database it is
applied to. What the SQL depends on is written here, not imported: a
migration stays as it was applied, and a later change is a new migration.
"""

from collections.abc import Callable
from typing import Any

from yoyo import step

from twistar.migrations import perBackend

TYPES = {
    "sqlite": {"key": "INTEGER PRIMARY KEY AUTOINCREMENT", "time": "TIMESTAMP", "options": ""},
    "postgres": {"key": "SERIAL PRIMARY KEY", "time": "TIMESTAMP", "options": ""},
    "mysql": {"key": "INTEGER PRIMARY KEY AUTO_INCREMENT", "time": "DATETIME(6)",
              "options": " DEFAULT CHARSET=utf8mb4"},
}


def createTable(name: str, *columns: str) -> Callable[[Any], None]:
    """
    A step function creating table C{name} on any database: C{{key}} and
    C{{time}} in C{columns} are that database's types of L{TYPES}.
    """
    return perBackend(**{
        backend: "CREATE TABLE %s (%s)%s" % (
            name, ", ".join(columns).format(**types), types["options"])
        for backend, types in TYPES.items()
    })


step(
    createTable("authors",
                "id {key}",
                "name VARCHAR(200) NOT NULL",
                "created_at {time}",
                "updated_at {time}"),
    "DROP TABLE authors",
)
step(
    createTable("books",
                "id {key}",
                "author_id INTEGER NOT NULL",
                "title VARCHAR(200) NOT NULL",
                "created_at {time}",
                "updated_at {time}",
                "FOREIGN KEY (author_id) REFERENCES authors (id)"),
    "DROP TABLE books",
)
step(
    createTable("reviews",
                "id {key}",
                "book_id INTEGER NOT NULL",
                "rating INTEGER NOT NULL",
                "body TEXT",
                "created_at {time}",
                "updated_at {time}",
                "FOREIGN KEY (book_id) REFERENCES books (id)"),
    "DROP TABLE reviews",
)
step(
    createTable("tags",
                "id {key}",
                "name VARCHAR(100) NOT NULL UNIQUE"),
    "DROP TABLE tags",
)
# The same SQL on every database: a plain string.
step(
    "CREATE TABLE books_tags ("
    "book_id INTEGER NOT NULL, "
    "tag_id INTEGER NOT NULL, "
    "PRIMARY KEY (book_id, tag_id), "
    "FOREIGN KEY (book_id) REFERENCES books (id), "
    "FOREIGN KEY (tag_id) REFERENCES tags (id))",
    "DROP TABLE books_tags",
)
