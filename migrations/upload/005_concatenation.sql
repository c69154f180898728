-- tus concatenation (parallel uploads). A partial upload's bytes become part of a final
-- upload, never a file of their own; a final upload names the partials it joined, in order,
-- and is the one registered as a file. Plain uploads have neither.
ALTER TABLE upload_sessions ADD COLUMN concat text;
ALTER TABLE upload_sessions ADD COLUMN concat_parts jsonb;
ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_concat_check
  CHECK ((concat IS NULL AND concat_parts IS NULL) OR (concat = 'partial' AND concat_parts IS NULL) OR (concat = 'final' AND jsonb_typeof(concat_parts) = 'array'));

-- The expiry sweep also takes completed partials: they are kept until they expire, so that
-- a final upload can be retried (or made twice), and removed with their bytes then.
CREATE INDEX upload_sessions_completed_partials ON upload_sessions (created_at) WHERE concat = 'partial' AND state = 'completed';
