-- tus upload locks where advisory locks exclude nothing (embedded PGlite runs every
-- connection in one session): one row per locked upload, held while its holder renews
-- the lease, free once the lease has lapsed (the holder died). A waiting request sets
-- release_requested; the holder reads it when it renews and lets go.
CREATE TABLE tus_lock_leases (
  upload_id         text PRIMARY KEY,
  holder            uuid NOT NULL,
  expires_at        timestamptz NOT NULL,
  release_requested boolean NOT NULL DEFAULT false
);
