-- Undoes 0002_add_books_published_year.sql (SQLite: 3.35 or later).
ALTER TABLE books DROP COLUMN published_year
