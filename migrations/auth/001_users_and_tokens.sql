-- Runs with search_path = auth (see server/lib/src/db.ts): table names stay unqualified.

CREATE TABLE users (
  id            uuid PRIMARY KEY,
  email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  display_name  text,
  password_hash text,
  token_version integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Emails keep the case they were given but are unique case-insensitively.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE refresh_tokens (
  id          uuid PRIMARY KEY,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- Every token rotated from one login shares a family; reuse of a rotated token revokes it.
  family_id   uuid NOT NULL,
  -- sha256 of the token; the token itself is never stored.
  token_hash  text NOT NULL UNIQUE,
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz,
  -- Deferred: rotation marks the old token before the new one is inserted, in one transaction.
  replaced_by uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (replaced_by IS NULL OR revoked_at IS NOT NULL)
);

CREATE INDEX refresh_tokens_family_active_idx ON refresh_tokens (family_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_user_active_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
