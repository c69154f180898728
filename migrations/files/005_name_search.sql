-- `q` (a case-insensitive substring of the name) was `ILIKE '%…%'` over the owner's rows in
-- list order: a user with 100,000 files and a rare name read them all (230–348 ms). A
-- trigram index finds the few candidates instead; the planner keeps the ordered index
-- scan when a substring is common. pg_trgm is a trusted extension (PostgreSQL 13+), so the
-- database's owner may create it; embedded PGlite loads it (server/lib/src/embedded-postgres.ts).
--
-- The extension goes in a schema of its own, not in this one (search_path = files): a
-- database holds it once, and dropping a service's schema must not take it (and every
-- index using it) along. Where it already exists, its operator class is named where it is.
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA extensions;
DO $$
DECLARE
  trgm text := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm');
BEGIN
  EXECUTE format('CREATE INDEX files_name_trgm_idx ON files USING gin (name %I.gin_trgm_ops)', trgm);
  EXECUTE format('CREATE INDEX shortcuts_name_trgm_idx ON shortcuts USING gin (name %I.gin_trgm_ops)', trgm);
END $$;
