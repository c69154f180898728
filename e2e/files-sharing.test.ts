import test from 'ava';
import { randomUUID } from 'node:crypto';
import { getJson, postJson, registerAndLogin, uploadWithTus, type TestUser } from './client.ts';
import { availableModes, startSystem } from './system.ts';

/**
 * Sharing and public links through the real gateway, exactly as `npm start` runs: share
 * by email (an invitation, claimed when Bob shows up), the 404-not-403 rule for a
 * stranger, anonymous public links.
 */
async function send(url: string, method: string, user: TestUser, body?: unknown) {
  const response = await fetch(url, {
    method,
    headers: { ...user.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined };
}

for (const mode of availableModes()) {
  test.serial(`${mode}: share by email, a stranger sees nothing, public links work without login`, async (t) => {
    const system = await startSystem(mode);
    t.teardown(() => system.stop());
    const base = system.baseUrl;
    const [alice, bob, carol] = (await Promise.all(['Alice', 'Bob', 'Carol'].map((n) => registerAndLogin(base, n)))) as [TestUser, TestUser, TestUser];
    const bytes = Buffer.from(`notes for ${mode} ${randomUUID()}`);
    const name = `Reisebericht München ${mode}.txt`;
    const fileId = await uploadWithTus(base, alice, name, bytes);
    const file = `${base}/api/files/${fileId}`;

    // Alice shares with Bob by email: an invitation, the same whether or not Bob has an
    // account; Bob's next request makes it his share.
    const granted = await postJson(`${file}/shares`, { email: bob.email, role: 'viewer' }, alice.auth);
    t.is(granted.status, 201);
    t.like(granted.body, { userId: null, email: bob.email, role: 'viewer', status: 'pending' });
    const shared = await getJson<{ items: Array<{ id: string; role: string; name: string }> }>(`${base}/api/files?view=shared`, bob.auth);
    t.deepEqual(shared.body.items.map((f) => [f.id, f.role, f.name]), [[fileId, 'viewer', name]]);
    const bobDownload = await fetch(`${file}/content`, { headers: bob.auth });
    t.is(bobDownload.status, 200);
    t.is(await bobDownload.text(), bytes.toString());
    t.is((await send(file, 'PATCH', bob, { name: 'mine now.txt' })).status, 403, 'a viewer may not rename');

    // Carol cannot tell the file exists: the same 404 as for an id that does not exist.
    const ghost = `${base}/api/files/${randomUUID()}`;
    for (const [suffix, method] of [['', 'GET'], ['/content', 'GET'], ['/shares', 'GET'], ['', 'DELETE']] as const) {
      const seen = await send(`${file}${suffix}`, method, carol);
      const none = await send(`${ghost}${suffix}`, method, carol);
      t.is(seen.status, 404, `${method} ${suffix}`);
      t.deepEqual({ ...(seen.body!.error as object), requestId: 0 }, { ...(none.body!.error as object), requestId: 0 });
    }

    // Private: the public link is a 404 for everyone, signed in or not.
    t.is((await fetch(`${base}/api/public/files/${fileId}`)).status, 404);
    t.like(await send(file, 'PATCH', alice, { visibility: 'public' }), { status: 200, body: { visibility: 'public' } });

    // Public: anonymous metadata and bytes (S3 mode: through a presigned redirect).
    const anonymous = await getJson<{ id: string; role: string; name: string }>(`${base}/api/public/files/${fileId}`);
    t.like(anonymous, { status: 200, body: { id: fileId, role: 'public', name } });
    t.false(JSON.stringify(anonymous.body).includes(alice.id), 'a public link names no owner');
    const anonymousDownload = await fetch(`${base}/api/public/files/${fileId}/content`);
    t.is(anonymousDownload.status, 200);
    t.is(await anonymousDownload.text(), bytes.toString());
    t.regex(anonymousDownload.headers.get('content-disposition') ?? '', /filename\*=UTF-8''Reisebericht%20M%C3%BCnchen/);
    t.like(await getJson(file, carol.auth), { status: 200, body: { role: 'public' } });
    t.is((await fetch(file)).status, 401, 'the private API still needs a token');

    // Trashed: gone for everyone but the owner, the public link included.
    t.is((await send(file, 'DELETE', alice)).status, 204);
    t.is((await fetch(`${base}/api/public/files/${fileId}`)).status, 404);
    t.is((await send(file, 'GET', bob)).status, 404);
    t.is((await send(`${file}/permanent`, 'DELETE', alice)).status, 204);
    t.is((await send(file, 'GET', alice)).status, 404);
  });
}
