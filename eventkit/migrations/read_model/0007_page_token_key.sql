-- The key that signs ListUsers page tokens when PAGE_TOKEN_SECRET is not set: made once per read
-- model from PostgreSQL's cryptographic random source (gen_random_uuid, pg_strong_random), so every
-- replica of the query service reads the same key without being told one, and nobody can derive
-- it from names (the earlier default was derived from the schema and projection names, public
-- knowledge). Read-only for every service role (eventkit/migrations/grants.py).
CREATE TABLE page_token_key (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    key       text NOT NULL
);

INSERT INTO page_token_key (key)
VALUES (encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'));
