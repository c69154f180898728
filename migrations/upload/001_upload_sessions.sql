-- Every upload the service has accepted, whatever its protocol: the operator's view of
-- uploads in flight, and the record of which file each finished upload became.
CREATE TABLE upload_sessions (
  id            text PRIMARY KEY,
  owner_id      uuid NOT NULL,
  protocol      text NOT NULL CHECK (protocol IN ('tus')),
  filename      text NOT NULL,
  content_type  text NOT NULL,
  size          bigint CHECK (size IS NULL OR size >= 0),
  upload_offset bigint NOT NULL DEFAULT 0 CHECK (upload_offset >= 0),
  state         text NOT NULL CHECK (state IN ('created', 'uploading', 'completed', 'terminated')),
  storage_key   text NOT NULL,
  metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
  file_id       uuid,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  completed_at  timestamptz,
  CHECK (size IS NULL OR upload_offset <= size)
);

CREATE INDEX upload_sessions_owner_created ON upload_sessions (owner_id, created_at DESC);
CREATE INDEX upload_sessions_in_flight ON upload_sessions (updated_at) WHERE state IN ('created', 'uploading');
