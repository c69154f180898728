import { createHash, randomBytes } from 'node:crypto';
import test from 'ava';
import { getJson, registerAndLogin, type TestUser } from './client.ts';
import { availableModes, systemPerMode, type RunningSystem } from './system.ts';

/**
 * Direct multipart uploads through the whole system, with plain fetch making exactly the
 * calls Uppy 6's @uppy/aws-s3 makes with `companionEndpoint: '/api/uploads'`. Embedded:
 * parts go to the gateway's self-signed part URLs; real: straight to S3.
 */
const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const bare = (etag: string) => etag.replaceAll('"', '');

const { systemFor, stopAll } = systemPerMode();
test.after.always(stopAll);

function companion(system: RunningSystem, user: TestUser | undefined) {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${system.baseUrl}/api/uploads/s3/multipart${path}`, {
      method,
      headers: { ...(user?.auth ?? {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
  };
  return {
    call,
    create: (filename: string) => call('POST', '', { filename, type: 'application/octet-stream', metadata: { name: filename, relativePath: null } }),
    sign: (u: { uploadId: string; key: string }, n: number) => call('GET', `/${u.uploadId}/${n}?key=${u.key}`),
    batch: (u: { uploadId: string; key: string }, numbers: number[]) => call('GET', `/${u.uploadId}/batch?key=${u.key}&partNumbers=${numbers.join(',')}`),
    list: (u: { uploadId: string; key: string }) => call('GET', `/${u.uploadId}?key=${u.key}`),
    complete: (u: { uploadId: string; key: string }, parts: unknown[]) => call('POST', `/${u.uploadId}/complete?key=${u.key}`, { parts }),
    abort: (u: { uploadId: string; key: string }) => call('DELETE', `/${u.uploadId}?key=${u.key}`),
  };
}

/** As a browser's XHR sends a part: no token, no Content-Type; the page's origin. */
const putPart = (url: string, bytes: Uint8Array, origin?: string) =>
  fetch(url, { method: 'PUT', body: bytes, headers: origin ? { origin } : {} });

for (const mode of availableModes()) {
  test.serial(`${mode}: a direct multipart upload through the gateway: parallel parts out of order, list, complete, listed and intact`, async (t) => {
    const system = await systemFor(mode);
    const user = await registerAndLogin(system.baseUrl);
    const api = companion(system, user);
    const data = randomBytes(13 * MiB + 7);
    const chunks = [0, 1, 2].map((i) => data.subarray(i * 5 * MiB, Math.min((i + 1) * 5 * MiB, data.length)));
    const name = `multipart ü 東京 ${mode}.bin`;

    const created = await api.create(name);
    t.is(created.status, 200);
    const u = created.body as { uploadId: string; key: string; partSize: number };
    const urls = (await api.batch(u, [1, 2])).body.presignedUrls as Record<string, string>;
    urls['3'] = ((await api.sign(u, 3)).body as { url: string }).url;
    if (mode === 'embedded') t.true(urls['1']!.startsWith(`${system.baseUrl}/api/uploads/parts/`), 'part URLs lead back through the gateway');

    const etags: string[] = [];
    await Promise.all(
      [3, 1, 2].map(async (n) => {
        const put = await putPart(urls[String(n)]!, chunks[n - 1]!, mode === 'embedded' ? system.baseUrl : undefined);
        t.is(put.status, 200, `part ${n}`);
        if (mode === 'embedded') t.regex(put.headers.get('access-control-expose-headers') ?? '', /ETag/i, 'the browser may read the ETag');
        etags[n - 1] = bare(put.headers.get('etag')!);
      }),
    );

    const listed = await api.list(u);
    t.deepEqual(listed.body.map((p: { PartNumber: number; Size: number }) => [p.PartNumber, p.Size]), [[1, 5 * MiB], [2, 5 * MiB], [3, 3 * MiB + 7]]);

    const done = await api.complete(u, etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })));
    t.is(done.status, 200);
    t.truthy(done.body.fileId);
    t.is(done.body.location, `${system.baseUrl}/api/files/${done.body.fileId}`);

    const files = await getJson<{ items: Array<{ id: string; name: string; size: number }> }>(`${system.baseUrl}/api/files?view=owned`, user.auth);
    t.like(files.body.items.find((f) => f.id === done.body.fileId), { name, size: data.length });
    const download = await fetch(`${system.baseUrl}/api/files/${done.body.fileId}/content`, { headers: user.auth });
    t.is(download.status, 200);
    t.is(sha256(new Uint8Array(await download.arrayBuffer())), sha256(data), 'downloaded bytes equal the original');
  });

  test.serial(`${mode}: resume with a new client, abort, and refusals through the gateway`, async (t) => {
    const system = await systemFor(mode);
    const owner = await registerAndLogin(system.baseUrl);
    const api = companion(system, owner);
    const data = randomBytes(6 * MiB);

    const u = (await api.create('resumed.bin')).body as { uploadId: string; key: string };
    const first = await putPart(((await api.sign(u, 1)).body as { url: string }).url, data.subarray(0, 5 * MiB));
    t.is(first.status, 200);

    // A new client (say, after a page reload) knows the upload id and key, lists, and sends only what is missing.
    const again = companion(system, owner);
    const parts = ((await again.list(u)).body as Array<{ PartNumber: number; ETag: string }>).map((p) => ({ PartNumber: p.PartNumber, ETag: bare(p.ETag) }));
    t.deepEqual(parts.map((p) => p.PartNumber), [1]);
    const second = await putPart(((await again.sign(u, 2)).body as { url: string }).url, data.subarray(5 * MiB));
    parts.push({ PartNumber: 2, ETag: bare(second.headers.get('etag')!) });
    const done = await again.complete(u, parts);
    t.is(done.status, 200);
    const download = await fetch(`${system.baseUrl}/api/files/${done.body.fileId}/content`, { headers: owner.auth });
    t.is(sha256(new Uint8Array(await download.arrayBuffer())), sha256(data));

    // Refusals.
    const v = (await api.create('refused.bin')).body as { uploadId: string; key: string };
    const url = new URL(((await api.sign(v, 1)).body as { url: string }).url);
    const param = mode === 'embedded' ? 'signature' : 'X-Amz-Signature';
    url.searchParams.set(param, url.searchParams.get(param)!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')));
    t.is((await putPart(url.toString(), randomBytes(10))).status, 403, 'a tampered part URL');
    const stranger = companion(system, await registerAndLogin(system.baseUrl));
    t.is((await stranger.list(v)).status, 404, "another user's upload");
    t.is((await stranger.complete(v, [{ PartNumber: 1, ETag: 'x' }])).status, 404);
    t.is((await companion(system, undefined).create('anonymous.bin')).status, 401, 'no access token');
    const missing = await api.complete(v, [{ PartNumber: 1, ETag: 'd41d8cd98f00b204e9800998ecf8427e' }]);
    t.is(missing.status, 400);
    t.is(missing.body.error.code, 'validation_failed');

    t.deepEqual(await api.abort(v), { status: 200, body: {} });
    t.is((await api.sign(v, 1)).status, 404, 'an aborted upload is gone');
    const files = await getJson<{ items: Array<{ name: string }> }>(`${system.baseUrl}/api/files?view=owned`, owner.auth);
    t.deepEqual(files.body.items.map((f) => f.name), ['resumed.bin'], 'nothing half-registered');
  });
}
