// `npm run test:embedded` reruns only the server workspaces whose suites open a database
// or pick a storage mode: the others (lib, gateway, launcher) would run the same tests
// twice. This keeps that list honest as suites change: every server workspace whose
// tests reach testing.ts's database or S3 helpers, or read those variables, is in it,
// and the script unsets every variable testing.ts refuses in embedded mode.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.mjs';

const script = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts['test:embedded'];
// A test file uses storage when it calls the helpers, or reads the environment and names a
// database or S3 variable (a literal config such as `{ S3_BUCKET: 'vault' }` alone does not).
// A file that picks its database itself, whatever the environment (the launcher's tests run
// embedded always; its migration race needs real PostgreSQL), says so with the marker
// `ci: picks its own database`: the embedded pass would add nothing, or only a skip, which fails CI.
const usesStorage = (source) =>
  !source.includes('ci: picks its own database') &&
  (/\btestDatabases?\(|\btestS3\(|startEmbeddedPostgres\(/.test(source) ||
    (/\bprocess\.env\b/.test(source) && /_DATABASE_URL\b|\bS3_[A-Z_]+\b/.test(source)));

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.[cm]?[jt]s$/.test(entry.name))
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

test('every server workspace whose tests use a database or S3 runs in the embedded pass', () => {
  const listed = [...script.matchAll(/-w (\S+)/g)].map((m) => m[1]);
  const workspaces = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).workspaces.filter((w) => w.startsWith('server/'));
  const needed = workspaces.filter((workspace) => {
    let files = [];
    try {
      files = filesUnder(join(ROOT, workspace, 'test'));
    } catch {
      return false; // no test folder
    }
    return files.some((file) => usesStorage(readFileSync(file, 'utf8')));
  });
  assert.ok(needed.length > 0, 'no server suite uses a database: the scan is broken');
  assert.deepEqual(needed.filter((w) => !listed.includes(w)), [], `test:embedded runs ${listed.join(', ')}`);
});

test('the embedded pass unsets every variable embedded mode refuses, and asks for embedded mode', () => {
  const testing = readFileSync(join(ROOT, 'server/lib/src/testing.ts'), 'utf8');
  const list = /REAL_SERVICE_VARIABLES = \[([^\]]*)\]/.exec(testing);
  assert.ok(list, 'REAL_SERVICE_VARIABLES not found in testing.ts');
  const refused = [...list[1].matchAll(/'([A-Z0-9_]+)'/g)].map((m) => m[1]);
  const unset = [...script.matchAll(/-u (\S+)/g)].map((m) => m[1]);
  assert.deepEqual(refused.filter((name) => !unset.includes(name)), []);
  assert.match(script, /\bGOVAULT_TEST_MODE=embedded\b/);
  assert.doesNotMatch(script, /-u REDIS_URL|-u GOVAULT_REQUIRE_REAL_SERVICES/);
});
