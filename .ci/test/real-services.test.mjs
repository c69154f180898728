// The GOVAULT_REQUIRE_REAL_SERVICES guard: in CI a suite whose real service variable is
// missing must fail (and so fail the summary), never fall back to embedded or skip.
// GOVAULT_TEST_MODE=embedded is the one deliberate way to PGlite and disk under it.
// The fixtures use server/lib/src/testing.ts and e2e/system.ts as the suites do.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { ava, summarize, tempDir, writeLog } from './helpers.mjs';

const REQUIRE = { GOVAULT_REQUIRE_REAL_SERVICES: '1' };
const S3 = { S3_ENDPOINT: 'http://127.0.0.1:9', S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's' };
const DATABASES = {
  AUTH_DATABASE_URL: 'postgres://postgres@127.0.0.1:9/a',
  UPLOAD_DATABASE_URL: 'postgres://postgres@127.0.0.1:9/u',
  FILES_DATABASE_URL: 'postgres://postgres@127.0.0.1:9/f',
};

// Each case: fixture files and environment. Run side by side; each is its own ava.
const cases = {
  databaseMissing: [['real-database.fixture.mjs'], { ...REQUIRE, ...S3 }],
  s3Incomplete: [['real-s3.fixture.mjs'], { ...REQUIRE, ...DATABASES, ...S3, S3_SECRET_ACCESS_KEY: undefined }],
  e2eOneMissing: [['e2e-modes.fixture.mjs'], { ...REQUIRE, ...DATABASES, ...S3, S3_BUCKET: undefined }],
  e2eAllSet: [['e2e-modes.fixture.mjs'], { ...REQUIRE, ...DATABASES, ...S3 }],
  e2eDeveloper: [['e2e-modes.fixture.mjs'], { ...DATABASES }],
  embedded: [['--verbose', 'real-database.fixture.mjs', 'real-s3.fixture.mjs'], { ...REQUIRE, GOVAULT_TEST_MODE: 'embedded' }],
  embeddedButSet: [['real-database.fixture.mjs'], { ...REQUIRE, GOVAULT_TEST_MODE: 'embedded', FILES_DATABASE_URL: DATABASES.FILES_DATABASE_URL }],
};
const out = {};
before(async () => {
  const names = Object.keys(cases);
  const results = await Promise.all(names.map((name) => ava(...cases[name])));
  names.forEach((name, i) => (out[name] = results[i]));
});

async function summaryOf(t, result) {
  return summarize([writeLog(tempDir(t), result.output), '--test-status', String(result.status)]);
}

test('testDatabase: with real services required and AUTH_DATABASE_URL unset, the suite fails, not skips', async (t) => {
  const r = out.databaseMissing;
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /AUTH_DATABASE_URL must be set when GOVAULT_REQUIRE_REAL_SERVICES=1/);
  const s = await summaryOf(t, r);
  assert.equal(s.status, 1, s.output);
  assert.equal(s.lastLine, 'tests: 0 passed, 1 failed, 0 skipped');
});

test('testS3: with real services required and one S3 variable unset, the suite fails at load', async (t) => {
  const r = out.s3Incomplete;
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /S3_\* must be set when GOVAULT_REQUIRE_REAL_SERVICES=1/);
  const s = await summaryOf(t, r);
  assert.equal(s.status, 1, s.output);
  assert.equal(s.lastLine, 'tests: 0 passed, 1 failed, 0 skipped');
});

test('e2e availableModes: one variable missing under the guard fails the suite; all set gives both modes', async (t) => {
  const r = out.e2eOneMissing;
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /GOVAULT_REQUIRE_REAL_SERVICES=1 but S3_BUCKET not set/);
  const s = await summaryOf(t, r);
  assert.equal(s.status, 1, s.output);
  assert.equal(s.lastLine, 'tests: 0 passed, 1 failed, 0 skipped');

  assert.equal(out.e2eAllSet.status, 0, out.e2eAllSet.output);
  assert.equal((await summaryOf(t, out.e2eAllSet)).lastLine, 'tests: 2 passed, 0 failed, 0 skipped');
});

test('e2e availableModes without the guard (a laptop): embedded only, with a warning', async (t) => {
  const r = out.e2eDeveloper;
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /real PostgreSQL \+ S3 mode not run here/);
  assert.equal((await summaryOf(t, r)).lastLine, 'tests: 1 passed, 0 failed, 0 skipped');
});

test('GOVAULT_TEST_MODE=embedded: PGlite and disk on purpose, with real services still required', async (t) => {
  const r = out.embedded;
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /database kind: embedded/);
  assert.match(r.output, /storage: disk/);
  const s = await summaryOf(t, r);
  assert.equal(s.status, 0, s.output);
  assert.equal(s.lastLine, 'tests: 2 passed, 0 failed, 0 skipped');
});

test('GOVAULT_TEST_MODE=embedded refuses a real database variable left set', async (t) => {
  const r = out.embeddedButSet;
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /GOVAULT_TEST_MODE=embedded but FILES_DATABASE_URL set/);
  assert.equal((await summaryOf(t, r)).lastLine, 'tests: 0 passed, 1 failed, 0 skipped');
});
