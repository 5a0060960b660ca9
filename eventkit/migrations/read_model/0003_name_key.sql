-- ListUsers' case-insensitive prefix compares a stored Unicode case-folded key of the name instead of
-- lower(name): under the C locale lower() folds ASCII only, so `é` did not find "Émile" nor `ΣΟΦ`
-- "Σοφία". The key is Python's str.casefold() in NFC (eventkit/namekey.py), computed by the projector
-- for every row it writes: PostgreSQL has no function that computes the same key on every version
-- and locale. The "C" collation makes its order code-point order, so a prefix is a key range.
ALTER TABLE users ADD COLUMN name_key text COLLATE "C";
DROP INDEX users_name_key;
-- Continued in Python (eventkit/migrations/name_keys.py, run in the same transaction): existing rows
-- get their key, then the column becomes NOT NULL and the index users_name_key (name_key, id) is built.
