import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import * as tus from 'tus-js-client';
import { getJson, registerAndLogin } from './client.ts';
import { ROOT, availableModes, startSystem, type RunningSystem } from './system.ts';

const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface FileItem {
  id: string;
  name: string;
  size: number;
  ownerId: string;
}

/** Runs the worker until it has had `chunks` chunks accepted, then SIGKILLs it; returns the upload URL. */
async function uploadThenKillClient(system: RunningSystem, file: string, token: string, name: string, chunks: number) {
  const worker = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'e2e/tus-upload-worker.ts'), file, `${system.baseUrl}/api/uploads/tus`, token, name, String(5 * MiB)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let url: string | undefined;
  let accepted = 0;
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  for await (const line of createInterface({ input: worker.stdout })) {
    const event = JSON.parse(line) as { event: string; url?: string; bytesAccepted?: number; message?: string };
    if (event.event === 'url') url = event.url;
    if (event.event === 'error') throw new Error(`worker failed: ${event.message}`);
    if (event.event === 'chunk' && ++accepted === chunks) {
      accepted = event.bytesAccepted!;
      worker.kill('SIGKILL');
      break;
    }
  }
  await exited;
  if (!url) throw new Error('the worker never reported an upload URL');
  return { url, bytesAccepted: accepted };
}

function resumeUpload(url: string, data: Buffer, token: string) {
  let firstProgress: number | undefined;
  let fileId: string | undefined;
  return new Promise<{ firstProgress: number | undefined; fileId: string | undefined }>((resolve, reject) => {
    const upload = new tus.Upload(data, {
      uploadUrl: url,
      chunkSize: 5 * MiB,
      headers: { Authorization: `Bearer ${token}` },
      onProgress: (sent) => {
        firstProgress ??= sent;
      },
      onAfterResponse: (_req, res) => {
        fileId = res.getHeader('GoVault-File-Id') ?? fileId;
      },
      onSuccess: () => resolve({ firstProgress, fileId }),
      onError: reject,
    });
    upload.start();
  });
}

for (const mode of availableModes()) {
  test.serial(`${mode}: a 30 MiB tus upload survives a killed client, resumes, and downloads intact`, async (t) => {
    const system = await startSystem(mode);
    t.teardown(() => system.stop());
    const user = await registerAndLogin(system.baseUrl);

    const data = randomBytes(30 * MiB);
    const dir = mkdtempSync(join(tmpdir(), 'govault-e2e-file-'));
    const file = join(dir, 'source.bin');
    writeFileSync(file, data);
    const name = `holiday 東京 ü ${mode}.bin`;

    const first = await uploadThenKillClient(system, file, user.accessToken, name, 2);
    t.true(first.bytesAccepted >= 10 * MiB, `two chunks were accepted before the kill (${first.bytesAccepted})`);
    const head = await fetch(first.url, { method: 'HEAD', headers: { ...user.auth, 'Tus-Resumable': '1.0.0' } });
    t.is(head.status, 200);
    // At least the two accepted chunks; on disk also whatever of the third arrived before the kill.
    const kept = Number(head.headers.get('upload-offset'));
    t.true(kept >= first.bytesAccepted && kept < data.length, `the server kept what the killed client sent (${kept})`);
    const resumed = await resumeUpload(first.url, data, user.accessToken);
    t.true((resumed.firstProgress ?? 0) >= first.bytesAccepted, 'the new client started where the killed one stopped');
    t.truthy(resumed.fileId, 'the completing PATCH names the file (GoVault-File-Id)');

    const listing = await getJson<{ items: FileItem[] }>(`${system.baseUrl}/api/files?view=owned`, user.auth);
    t.is(listing.status, 200);
    const listed = listing.body.items.filter((item) => item.name === name);
    t.is(listed.length, 1, 'the file is listed once');
    t.is(listed[0]!.size, 30 * MiB);
    t.is(listed[0]!.id as string | undefined, resumed.fileId);

    const download = await fetch(`${system.baseUrl}/api/files/${listed[0]!.id}/content`, { headers: user.auth });
    t.is(download.status, 200);
    t.is(sha256(new Uint8Array(await download.arrayBuffer())), sha256(data), 'downloaded bytes equal the original');
  });

  test.serial(`${mode}: services refuse requests that bypass the gateway, and a client cannot pose as another user`, async (t) => {
    const system = await startSystem(mode);
    t.teardown(() => system.stop());
    const alice = await registerAndLogin(system.baseUrl, 'Alice');
    const mallory = await registerAndLogin(system.baseUrl, 'Mallory');

    const upload = await new Promise<string>((resolve, reject) => {
      const u = new tus.Upload(Buffer.from('alice private notes'), {
        endpoint: `${system.baseUrl}/api/uploads/tus`,
        headers: alice.auth,
        metadata: { filename: 'alice.txt', filetype: 'text/plain' },
        onSuccess: () => resolve(u.url!),
        onError: reject,
      });
      u.start();
    });
    // What Alice herself sees, so that what Mallory does not see below is a refusal, not an empty system.
    const own = await fetch(upload, { method: 'HEAD', headers: { ...alice.auth, 'Tus-Resumable': '1.0.0' } });
    t.is(own.status, 200);
    t.is(own.headers.get('upload-offset'), String('alice private notes'.length), 'Alice sees her whole upload');
    const aliceFiles = await getJson<{ items: FileItem[] }>(`${system.baseUrl}/api/files?view=owned`, alice.auth);
    t.deepEqual(aliceFiles.body.items.map((item) => [item.name, item.size, item.ownerId]), [['alice.txt', 19, alice.id]], 'Alice sees her file');

    for (const [service, path] of [
      ['auth', '/api/auth/me'],
      ['files', '/api/files?view=owned'],
      ['upload', '/api/uploads/tus'],
    ] as const) {
      const direct = await fetch(`http://127.0.0.1:${system.ports[service]}${path}`, {
        method: service === 'upload' ? 'POST' : 'GET',
        headers: { 'X-User-Id': alice.id, 'Tus-Resumable': '1.0.0', 'Upload-Length': '1' },
      });
      t.is(direct.status, 401, `${service} refuses a request without an internal token`);
      const forged = await fetch(`http://127.0.0.1:${system.ports[service]}${path}`, {
        headers: { 'X-User-Id': alice.id, 'X-Internal-Token': 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJnYXRld2F5In0.' },
      });
      t.is(forged.status, 401, `${service} refuses a forged internal token`);
    }

    const spoofed = await getJson<{ items: FileItem[] }>(`${system.baseUrl}/api/files?view=owned`, {
      ...mallory.auth,
      'X-User-Id': alice.id,
      'X-Internal-Token': 'forged',
    });
    t.is(spoofed.status, 200);
    t.deepEqual(spoofed.body.items, [], "Mallory's spoofed X-User-Id does not show Alice's files");

    const head = await fetch(upload, { method: 'HEAD', headers: { ...mallory.auth, 'Tus-Resumable': '1.0.0', 'X-User-Id': alice.id } });
    t.is(head.status, 404, "Mallory cannot see Alice's upload");

    const anonymous = await fetch(`${system.baseUrl}/api/files?view=owned`);
    t.is(anonymous.status, 401);
    t.is(((await anonymous.json()) as { error: { code: string } }).error.code, 'unauthenticated');
  });
}
