-- Login throttling: failed logins per email (lower-cased, known or not, so the answer
-- tells nothing about which emails exist) in a fixed window that starts at the first failure.
CREATE TABLE login_failures (
  email_key         text PRIMARY KEY CHECK (length(email_key) BETWEEN 1 AND 320),
  failures          integer NOT NULL CHECK (failures > 0),
  window_started_at timestamptz NOT NULL
);

CREATE INDEX login_failures_window_idx ON login_failures (window_started_at);
