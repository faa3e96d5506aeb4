-- SQLite's messages keep their summary's rowid for the walk of a common
-- word's search (see the SQLite script). PostgreSQL weighs its own word
-- index against the list's index: nothing to change.
SELECT 1;
