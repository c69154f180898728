import test from 'ava';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InternalTokenIssuer, InternalTokenVerifier, SERVICE_NAMES } from '@govault/lib';
import { loadSigningKeys } from '../../auth/src/token/signing-keys.ts';
import { outcomeOf, runImage, tempDir } from './image-process.ts';

const PUBLIC_KEYS = SERVICE_NAMES.map((s) => `${s}.pub`).sort();

/** Every file under dir: its contents, mode and modification time, which a second run must not change. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const info = statSync(path);
    files[path.slice(dir.length)] = `${(info.mode & 0o777).toString(8)} ${info.mtimeMs} ${entry.isFile() ? readFileSync(path, 'utf8') : 'dir'}`;
  }
  return files;
}

test('keys writes the least-privilege layout once, and a second run changes nothing', async (t) => {
  const parent = tempDir('keys');
  const keysDir = join(parent, 'keys'); // not there yet, as a fresh volume's subfolder may not be
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const first = await runImage(['keys'], { KEYS_DIR: keysDir });
  t.is(first.status, 0, first.stderr);
  t.is((outcomeOf(first).written as string[]).length, 22);
  const before = snapshot(keysDir);

  const second = await runImage(['keys'], { KEYS_DIR: keysDir });
  t.is(second.status, 0, second.stderr);
  t.deepEqual(outcomeOf(second).written, []);
  t.deepEqual(snapshot(keysDir), before);

  t.deepEqual(readdirSync(keysDir).sort(), ['auth', 'auth-signing', 'files', 'gateway', 'upload']);
  for (const service of SERVICE_NAMES) {
    const folder = join(keysDir, service);
    t.deepEqual(readdirSync(folder).sort(), [`${service}.key`, ...PUBLIC_KEYS].sort(), `${service} holds its own private key and only its own`);
    t.is(statSync(folder).mode & 0o777, 0o700);
    t.is(statSync(join(folder, `${service}.key`)).mode & 0o777, 0o600);
    for (const pub of PUBLIC_KEYS) t.is(statSync(join(folder, pub)).mode & 0o777, 0o644);
    for (const other of SERVICE_NAMES) {
      t.is(readFileSync(join(folder, `${other}.pub`), 'utf8'), readFileSync(join(keysDir, other, `${other}.pub`), 'utf8'), `${service}'s copy of ${other}.pub is ${other}'s`);
    }
  }
  t.deepEqual(readdirSync(join(keysDir, 'auth-signing')).sort(), ['signing.key', 'signing.pub']);
  t.is(statSync(join(keysDir, 'auth-signing', 'signing.key')).mode & 0o777, 0o600);
});

test('a token issued with one service folder verifies with another, and auth reads its signing folder', async (t) => {
  const keysDir = tempDir('keys-pair');
  t.teardown(() => rmSync(keysDir, { recursive: true, force: true }));
  t.is((await runImage(['keys'], { KEYS_DIR: keysDir })).status, 0);

  for (const [caller, callee] of [['gateway', 'upload'], ['upload', 'files'], ['files', 'auth'], ['gateway', 'auth']] as const) {
    const token = InternalTokenIssuer.fromKeyDir(join(keysDir, caller), caller).issue(callee, { userId: 'u-1' });
    const claims = InternalTokenVerifier.fromKeyDir(join(keysDir, callee), callee).verify(token, [caller]);
    t.is(claims.caller, caller);
    t.is(claims.userId, 'u-1');
  }
  // Another service's key cannot pass as the gateway's.
  const forged = new InternalTokenIssuer('gateway', readFileSync(join(keysDir, 'files', 'files.key'), 'utf8')).issue('upload');
  t.throws(() => InternalTokenVerifier.fromKeyDir(join(keysDir, 'upload'), 'upload').verify(forged, ['gateway']));

  const ring = loadSigningKeys(join(keysDir, 'auth-signing'));
  t.is(ring.jwks().keys.length, 1);
  t.deepEqual(readdirSync(join(keysDir, 'auth-signing')).sort(), ['signing.key', 'signing.pub'], 'auth found the key and made none of its own');
});

test('keys never replaces a private key whose public half is missing', async (t) => {
  const keysDir = tempDir('keys-half');
  t.teardown(() => rmSync(keysDir, { recursive: true, force: true }));
  t.is((await runImage(['keys'], { KEYS_DIR: keysDir })).status, 0);
  const privateKey = readFileSync(join(keysDir, 'upload', 'upload.key'), 'utf8');
  const publicKey = readFileSync(join(keysDir, 'upload', 'upload.pub'), 'utf8');
  rmSync(join(keysDir, 'upload', 'upload.pub'));
  rmSync(join(keysDir, 'gateway', 'upload.pub'));

  const again = await runImage(['keys'], { KEYS_DIR: keysDir });
  t.is(again.status, 0, again.stderr);
  t.deepEqual((outcomeOf(again).written as string[]).sort(), ['gateway/upload.pub', 'upload/upload.pub']);
  t.is(readFileSync(join(keysDir, 'upload', 'upload.key'), 'utf8'), privateKey);
  t.is(readFileSync(join(keysDir, 'gateway', 'upload.pub'), 'utf8'), publicKey);
});
