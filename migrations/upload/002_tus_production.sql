-- Production tus: expired uploads, resume bookkeeping, the S3 parts of each upload, the
-- registration outbox and the S3 store's shared state.
ALTER TABLE upload_sessions DROP CONSTRAINT IF EXISTS upload_sessions_state_check;
ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_state_check
  CHECK (state IN ('created', 'uploading', 'completed', 'terminated', 'expired'));
ALTER TABLE upload_sessions ADD COLUMN resume_count integer NOT NULL DEFAULT 0;
ALTER TABLE upload_sessions ADD COLUMN last_resumed_at timestamptz;

-- The expiry sweep looks for old incomplete uploads by creation time (tus expiration is
-- counted from creation, as in tusd and @tus/server).
CREATE INDEX upload_sessions_expiry ON upload_sessions (created_at) WHERE state IN ('created', 'uploading');

-- Every completed S3 part of an upload in flight: what ListParts says, kept in step.
CREATE TABLE upload_parts (
  upload_id   text NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
  part_number integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
  size        bigint NOT NULL CHECK (size >= 0),
  etag        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (upload_id, part_number)
);

-- Finished uploads waiting to be registered with the files service. A row exists from
-- the moment an upload completes until the files service has answered with its file.
CREATE TABLE registration_outbox (
  upload_id       text PRIMARY KEY REFERENCES upload_sessions (id) ON DELETE CASCADE,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registration_outbox_due ON registration_outbox (next_attempt_at);

-- @tus/s3-store's cache of upload info, shared by every upload instance.
CREATE TABLE tus_store_state (
  key        text PRIMARY KEY,
  value      jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
