-- File and shortcut names: the database's copy of the name rule (fileNameProblem in
-- @govault/lib) learns two more refusals. Runs with search_path = files.
--
-- 1. Bidirectional controls, exactly the lib's set: `invoice\u202Efdp.exe` shows as
--    `invoiceexe.pdf`.
-- 2. A name must hold a visible character. SQL has no Unicode property classes, so the
--    characters named invisible here are a subset of what the lib calls invisible (white
--    space, format characters, combining marks, fillers; test/database.test.ts checks the
--    subset against the lib over every code point). The database may be looser than the
--    service, never stricter: a name the service accepts must always be storable.
CREATE FUNCTION valid_file_name(name text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN char_length(name) BETWEEN 1 AND 255
    AND name !~ '[\x01-\x1f\x7f-\x9f/\\]'
    AND name !~ '[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]'
    AND name NOT IN ('.', '..')
    AND name ~ '[^\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\u0300-\u036f\ufe00-\ufe0f\u115f\u1160\u3164\uffa0\u2800\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]';

-- Rows stored before this rule: the bidi controls are removed (what is left is the name
-- as it displayed before), and a name with nothing visible left becomes `untitled`, as
-- the upload service names such files (fileNameFrom).
ALTER TABLE files DROP CONSTRAINT files_name_valid;
ALTER TABLE shortcuts DROP CONSTRAINT shortcuts_name_valid;

UPDATE files SET name = coalesce(nullif(btrim(regexp_replace(name, '[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]', '', 'g')), ''), 'untitled'), updated_at = now()
 WHERE NOT valid_file_name(name);
UPDATE files SET name = 'untitled' WHERE NOT valid_file_name(name);
UPDATE shortcuts SET name = coalesce(nullif(btrim(regexp_replace(name, '[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]', '', 'g')), ''), 'untitled')
 WHERE NOT valid_file_name(name);
UPDATE shortcuts SET name = 'untitled' WHERE NOT valid_file_name(name);

ALTER TABLE files ADD CONSTRAINT files_name_valid CHECK (valid_file_name(name));
ALTER TABLE shortcuts ADD CONSTRAINT shortcuts_name_valid CHECK (valid_file_name(name));
