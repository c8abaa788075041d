-- Books get the year they were first published: SQL that every database
-- runs alike, in a plain SQL file (its rollback is the .rollback.sql file).
-- depends: 0001_create_tables
ALTER TABLE books ADD COLUMN published_year INTEGER
