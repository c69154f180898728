-- A registration the files service refused (a 4xx that no retry can change) is not retried
-- forever: its outbox row is kept, marked failed with the files service's reason, so that
-- the owner sees why the upload did not become a file and an operator can repair it. The
-- upload's bytes stay where they are.
ALTER TABLE registration_outbox ADD COLUMN failed_at timestamptz;
ALTER TABLE registration_outbox ADD COLUMN failure_code text;
ALTER TABLE registration_outbox ADD CONSTRAINT registration_outbox_failure_check
  CHECK ((failed_at IS NULL) = (failure_code IS NULL));

-- The retry worker takes only pending rows; the backlog gauge counts only those.
DROP INDEX IF EXISTS registration_outbox_due;
CREATE INDEX registration_outbox_due ON registration_outbox (next_attempt_at) WHERE failed_at IS NULL;
CREATE INDEX registration_outbox_failed ON registration_outbox (failed_at) WHERE failed_at IS NOT NULL;

-- GET /api/uploads?state=incomplete: an owner's uploads in flight, newest first.
CREATE INDEX upload_sessions_owner_in_flight ON upload_sessions (owner_id, created_at DESC) WHERE state IN ('created', 'uploading');
