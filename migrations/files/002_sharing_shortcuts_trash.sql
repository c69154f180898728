-- Sharing, shortcuts, trash and object deletion. Runs with search_path = files.
-- The rules below hold even if application code has a bug: PostgreSQL refuses the row.

-- Names as the API accepts them: 1..255 characters, no control characters, no path
-- separators, not "." or "..".
ALTER TABLE files
  ADD CONSTRAINT files_name_valid CHECK (
    char_length(name) BETWEEN 1 AND 255
    AND name !~ '[\x01-\x1f\x7f-\x9f/\\]'
    AND name NOT IN ('.', '..')
  );

-- Purge of items in trash longer than the retention period: oldest first, across owners.
CREATE INDEX files_purge_idx ON files (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE shares (
  file_id    uuid NOT NULL,
  -- The file's owner, copied here so the database can check it: the composite foreign
  -- key makes a share whose owner_id is not the file's owner impossible.
  owner_id   uuid NOT NULL,
  user_id    uuid NOT NULL,
  role       text NOT NULL CONSTRAINT shares_role_valid CHECK (role IN ('viewer', 'editor')),
  -- What auth said about the grantee when the share was made (shown in the shares list).
  email        text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 320),
  display_name text NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (file_id, user_id),
  CONSTRAINT shares_file_owner_fk FOREIGN KEY (file_id, owner_id) REFERENCES files (id, owner_id) ON DELETE CASCADE,
  CONSTRAINT shares_not_owner CHECK (user_id <> owner_id)
);

-- view=shared: the files shared with a user, newest share first.
CREATE INDEX shares_user_idx ON shares (user_id, created_at DESC, file_id DESC);

CREATE TABLE shortcuts (
  id         uuid PRIMARY KEY,
  user_id    uuid NOT NULL,
  file_id    uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  name       text NOT NULL CONSTRAINT shortcuts_name_valid CHECK (
    char_length(name) BETWEEN 1 AND 255
    AND name !~ '[\x01-\x1f\x7f-\x9f/\\]'
    AND name NOT IN ('.', '..')
  ),
  created_at timestamptz NOT NULL,
  CONSTRAINT shortcuts_one_per_user_file UNIQUE (user_id, file_id)
);

-- view=shortcuts: newest first. The foreign key's own index serves the cascade.
CREATE INDEX shortcuts_user_idx ON shortcuts (user_id, created_at DESC, id DESC);
CREATE INDEX shortcuts_file_idx ON shortcuts (file_id);

-- Objects whose file row is gone. A permanent delete or a purge removes the row and
-- queues its object in one statement; the object is deleted right after, and a failed
-- delete stays here to be retried. So no row ever points at a deleted object, and no
-- object outlives its row for longer than the retries take.
CREATE TABLE object_deletions (
  storage_key     text PRIMARY KEY,
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL,
  last_error      text NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX object_deletions_due_idx ON object_deletions (next_attempt_at);
