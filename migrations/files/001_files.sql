-- File metadata. Runs with search_path = files (see server/lib/src/db.ts).
CREATE TABLE files (
  id           uuid PRIMARY KEY,
  owner_id     uuid NOT NULL,
  upload_id    text NOT NULL UNIQUE,
  name         text NOT NULL,
  size         bigint NOT NULL CHECK (size >= 0),
  content_type text NOT NULL,
  checksum     text NULL,
  storage_key  text NOT NULL,
  visibility   text NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'public')),
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  deleted_at   timestamptz NULL,
  -- Target of the composite foreign keys (file_id, owner_id) that shares will carry.
  UNIQUE (id, owner_id)
);

-- view=owned: keyset pagination, newest first.
CREATE INDEX files_owned_idx ON files (owner_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- view=trash: newest deleted first.
CREATE INDEX files_trash_idx ON files (owner_id, deleted_at DESC, id DESC) WHERE deleted_at IS NOT NULL;
