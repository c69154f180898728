-- Grants by email become invitations. Runs with search_path = files.
--
-- A grant by email never asks auth whether the address is registered: the answer must
-- be the same either way (ARCHITECTURE.md). The invitation waits here, keyed by the
-- normalised address (normalizeEmail in @govault/lib), and becomes a share when a user
-- with that address is seen by the files service.
CREATE TABLE invitations (
  file_id    uuid NOT NULL,
  -- The file's owner, under the same composite foreign key as shares carry.
  owner_id   uuid NOT NULL,
  email      text NOT NULL CONSTRAINT invitations_email_valid CHECK (char_length(email) BETWEEN 3 AND 320),
  role       text NOT NULL CONSTRAINT invitations_role_valid CHECK (role IN ('viewer', 'editor')),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (file_id, email),
  CONSTRAINT invitations_file_owner_fk FOREIGN KEY (file_id, owner_id) REFERENCES files (id, owner_id) ON DELETE CASCADE
);

-- The claim: every invitation for one address, when its user shows up.
CREATE INDEX invitations_email_idx ON invitations (email);

-- A share shows only what the granter gave: a grant by user id has no email, a share that
-- was an invitation keeps the address the owner typed. Rows made before this migration
-- keep the email auth reported then: the owner who made each of them was shown that
-- email in the answer to the grant, so showing it again to that owner tells nobody
-- anything new, and clearing it would leave honest owners with nameless shares.
ALTER TABLE shares ALTER COLUMN email DROP NOT NULL;
