-- Direct multipart uploads (Uppy Companion's S3 contract). The session is an ordinary
-- upload session with protocol 'multipart'; its parts (number, size, ETag) go to
-- upload_parts (from 002) like the S3 parts of a tus upload, and the store's own
-- upload id sits beside the session.
ALTER TABLE upload_sessions DROP CONSTRAINT IF EXISTS upload_sessions_protocol_check;
ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_protocol_check CHECK (protocol IN ('tus', 'multipart'));

-- 'aborted': a multipart upload the client (or the cleanup job) gave up; its parts are gone.
-- Keep this list the union of every state any migration has allowed.
ALTER TABLE upload_sessions DROP CONSTRAINT IF EXISTS upload_sessions_state_check;
ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_state_check
  CHECK (state IN ('created', 'uploading', 'completed', 'terminated', 'expired', 'aborted'));

CREATE TABLE multipart_uploads (
  session_id      text PRIMARY KEY REFERENCES upload_sessions (id) ON DELETE CASCADE,
  store_upload_id text NOT NULL CHECK (store_upload_id <> '')
);

-- The cleanup job's query: multipart sessions in flight, by last activity.
CREATE INDEX upload_sessions_multipart_in_flight ON upload_sessions (updated_at)
  WHERE protocol = 'multipart' AND state IN ('created', 'uploading');
