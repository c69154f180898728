-- One form of an email for storage, lookup and throttling: normalizeEmail() in
-- server/lib/src/email.ts (NFKC, then case-folded). lower(email) folded some characters
-- (the Kelvin sign, a dotted capital I) that the throttle's key did not, so the two
-- disagreed about which address a login was for. From here on the application writes
-- email_key and every lookup reads it alone; `email` keeps the address as typed.
ALTER TABLE users ADD COLUMN email_key text;

-- Registration accepted ASCII addresses only, for which this equals normalizeEmail().
UPDATE users SET email_key = lower(normalize(email, NFKC));

ALTER TABLE users
  ALTER COLUMN email_key SET NOT NULL,
  ADD CONSTRAINT users_email_key_length CHECK (length(email_key) BETWEEN 3 AND 320);

CREATE UNIQUE INDEX users_email_key_key ON users (email_key);
DROP INDEX users_email_lower_key;
