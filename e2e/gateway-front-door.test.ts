import { createHash, createHmac, createPrivateKey, randomBytes, randomUUID, sign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import * as tus from 'tus-js-client';
import { freePort } from '@govault/lib';
import { ServiceProcess, requireRealServices } from '@govault/lib/testing';
import { rotateSigningKey } from '../server/auth/src/token/signing-keys.ts';
import { postJson, registerAndLogin } from './client.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { ROOT, availableModes } from './system.ts';

/**
 * The gateway as the one front door, in front of real service processes: token checks
 * against the real auth JWKS (and its rotation), header spoofing, a shared Redis budget
 * across two gateway processes, and services that crash and come back: a restarted
 * upload service costs a tus client nothing, a dead files service is a quick 503 with an
 * open breaker, and both come back without restarting the gateway. One cluster per mode
 * serves every test of the file (serially), since each costs seconds to start.
 */
const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function metric(cluster: Cluster, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${cluster.gatewayMetricsUrl}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}


const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT made by hand, so that the test can make the bad ones a library refuses to make. */
function jwtWith(header: Record<string, unknown>, claims: Record<string, unknown>, signWith: (input: string) => string): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${signWith(input)}`;
}
const es256 = (key: KeyObject) => (input: string) => sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');

function accessClaims(userId: string, overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { typ: 'access', sub: userId, iss: 'govault-auth', aud: 'govault-api', iat: now, exp: now + 300, ...overrides };
}

const redisUrl = process.env.REDIS_URL;
if (!redisUrl && requireRealServices) throw new Error('REDIS_URL must be set when GOVAULT_REQUIRE_REAL_SERVICES=1');
if (!redisUrl) console.warn('e2e: two gateways on one Redis not tested here (REDIS_URL not set)');

const clusters: Cluster[] = [];
test.after.always(async () => {
  for (const cluster of clusters) await cluster.stop();
});

for (const mode of availableModes()) {
  let started: Promise<Cluster> | undefined;
  // The resume HEAD must outwait a restart of upload, or tus-js-client starts over from
  // zero: the gateway's shipped hold (UPSTREAM_RETRY_SECONDS, 30 s) has to cover it. The
  // gateway is configured as if behind one TLS proxy; requests without X-Forwarded-* are unchanged.
  const clusterOf = () => (started ??= startCluster(mode, { serviceEnv: { gateway: { TRUST_PROXY_HOPS: '1' } } }).then((c) => (clusters.push(c), c)));

  test.serial(`${mode}: behind a TLS proxy, a tus upload's Location is https on the public host, and the upload completes there`, async (t) => {
    const cluster = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const data = randomBytes(64 * 1024);
    const proxied = { ...user.auth, 'Tus-Resumable': '1.0.0', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'vault.example.com', 'X-Forwarded-For': '203.0.113.5' };
    const created = await fetch(`${cluster.baseUrl}/api/uploads/tus`, {
      method: 'POST',
      headers: { ...proxied, 'Upload-Length': String(data.length), 'Upload-Metadata': `filename ${Buffer.from('behind-proxy.bin').toString('base64')}` },
    });
    t.is(created.status, 201);
    const location = new URL(created.headers.get('location')!);
    t.is(location.origin, 'https://vault.example.com');
    // The proxy would send the client's PATCH for that URL here, to the same path.
    const patched = await fetch(`${cluster.baseUrl}${location.pathname}`, {
      method: 'PATCH',
      headers: { ...proxied, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: data,
    });
    t.is(patched.status, 204);
    t.is(patched.headers.get('upload-offset'), String(data.length));
  });

  test.serial(`${mode}: restarting the upload service mid-upload: tus-js-client resumes from its offset, bytes intact`, async (t) => {
    const cluster = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const data = randomBytes(24 * MiB);
    const requests: Array<{ method: string; offset: string | null }> = [];
    let acceptedBeforeRestart = 0;
    let restarting: Promise<void> | undefined;
    let fileId: string | undefined;

    await new Promise<void>((resolve, reject) => {
      const upload = new tus.Upload(data, {
        endpoint: `${cluster.baseUrl}/api/uploads/tus`,
        headers: user.auth,
        metadata: { filename: `restart-${mode}.bin`, filetype: 'application/octet-stream' },
        chunkSize: 4 * MiB,
        // retryDelays: the library's default ([0, 1000, 3000, 5000])
        onBeforeRequest: (req) => {
          requests.push({ method: req.getMethod(), offset: req.getHeader('Upload-Offset') ?? null });
        },
        onAfterResponse: (req, res) => {
          requests.push({ method: `${req.getMethod()} answered ${res.getStatus()}`, offset: res.getHeader('Upload-Offset') ?? null });
          fileId = res.getHeader('GoVault-File-Id') ?? fileId;
        },
        onChunkComplete: (_size, accepted) => {
          if (accepted >= 8 * MiB && !restarting) {
            acceptedBeforeRestart = accepted;
            requests.push({ method: 'RESTART', offset: null });
            restarting = cluster.uploads[0]!.restart();
          }
        },
        onSuccess: () => resolve(),
        onError: reject,
      });
      upload.start();
    });
    await restarting;

    const afterRestart = requests.slice(requests.findIndex((r) => r.method === 'RESTART') + 1);
    t.is(requests.filter((r) => r.method === 'POST').length, 1, `the upload was never created again: ${JSON.stringify(afterRestart)}`);
    t.true(afterRestart.some((r) => r.method === 'HEAD'), 'the client asked for its offset');
    const resumedAt = Number(afterRestart.find((r) => r.method === 'PATCH' && Number(r.offset) > 0)?.offset);
    t.true(resumedAt >= acceptedBeforeRestart, `resumed at ${resumedAt}, ${acceptedBeforeRestart} bytes were accepted before the restart`);
    t.false(afterRestart.some((r) => r.method === 'PATCH' && r.offset === '0'), 'no PATCH from zero');

    t.truthy(fileId, 'the completing request carried GoVault-File-Id');
    const content = await fetch(`${cluster.baseUrl}/api/files/${fileId}/content`, { headers: user.auth });
    t.is(content.status, 200);
    t.is(sha256(new Uint8Array(await content.arrayBuffer())), sha256(data));
  });

  test.serial(`${mode}: a killed files service is a quick 503 with the breaker open; it serves again after a restart`, async (t) => {
    const cluster = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const labels = { upstream: 'files', upstream_instance: cluster.files.url };
    t.is((await fetch(`${cluster.baseUrl}/api/files`, { headers: user.auth })).status, 200);

    await cluster.files.kill();
    const killed = Date.now();
    let first503: number | undefined;
    let open = 0;
    while (Date.now() - killed < 10_000 && !open) {
      const response = await fetch(`${cluster.baseUrl}/api/files`, { headers: user.auth });
      if (response.status === 503) {
        first503 ??= Date.now() - killed;
        t.is(response.headers.get('retry-after'), '5');
        open = (await metric(cluster, 'circuit_breaker_open', labels)) ?? 0;
      }
    }
    t.log(`first 503 after ${first503} ms; breaker open after ${Date.now() - killed} ms`);
    // The issue asks for one second; the margin is for a loaded CI machine.
    t.true(first503 !== undefined && first503 < 2_000, `first 503 after ${first503} ms`);
    t.is(open, 1, 'circuit_breaker_open{upstream="files"} is 1');

    await cluster.files.start();
    let status = 0;
    for (const deadline = Date.now() + 10_000; status !== 200 && Date.now() < deadline; ) {
      status = (await fetch(`${cluster.baseUrl}/api/files`, { headers: user.auth })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    t.is(status, 200, 'files serves again through the same gateway process');
    t.is(await metric(cluster, 'circuit_breaker_open', labels), 0);
  });
  test.serial(`${mode}: forged, expired and misaddressed access tokens get 401 from the real gateway and auth keys`, async (t) => {
    const cluster = await clusterOf();
    const user = await registerAndLogin(cluster.baseUrl);
    const { keys } = (await (await fetch(`${cluster.baseUrl}/api/auth/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    const kid = keys[0]!.kid;
    const realKey = createPrivateKey(readFileSync(join(cluster.dataDir, 'auth-signing-keys', 'signing.key')));
    const me = (token: string) => fetch(`${cluster.baseUrl}/api/auth/me`, { headers: { Authorization: `Bearer ${token}` } });

    const control = await me(jwtWith({ alg: 'ES256', typ: 'JWT', kid }, accessClaims(user.id), es256(realKey)));
    t.is(control.status, 200, 'a well-made token passes, so the 401s below are about what is wrong with each');
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const publicPem = readFileSync(join(cluster.dataDir, 'auth-signing-keys', 'signing.pub'), 'utf8');
    const bad: Record<string, string> = {
      expired: jwtWith({ alg: 'ES256', kid }, accessClaims(user.id, { exp: Math.floor(Date.now() / 1000) - 10 }), es256(realKey)),
      'wrong signature': jwtWith({ alg: 'ES256', kid }, accessClaims(user.id), es256(other)),
      'alg none': `${b64({ alg: 'none', kid })}.${b64(accessClaims(user.id))}.`,
      'HS256 signed with the public key': jwtWith({ alg: 'HS256', kid }, accessClaims(user.id), (input) =>
        createHmac('sha256', publicPem).update(input).digest('base64url'),
      ),
      'wrong audience': jwtWith({ alg: 'ES256', kid }, accessClaims(user.id, { aud: 'elsewhere' }), es256(realKey)),
      'unknown kid': jwtWith({ alg: 'ES256', kid: 'not-a-key' }, accessClaims(user.id), es256(realKey)),
      'not an access token': jwtWith({ alg: 'ES256', kid }, accessClaims(user.id, { typ: 'refresh' }), es256(realKey)),
    };
    for (const [name, token] of Object.entries(bad)) {
      const response = await me(token);
      t.is(response.status, 401, name);
      t.is(((await response.json()) as { error: { code: string } }).error.code, 'unauthenticated', name);
    }
  });

  test.serial(`${mode}: refresh tokens rotate through the gateway, reuse revokes the family, logout revokes`, async (t) => {
    const cluster = await clusterOf();
    const email = `rotate-${randomUUID()}@example.test`;
    const password = `pw-${randomUUID()}`;
    await postJson(`${cluster.baseUrl}/api/auth/register`, { email, password });
    const login = (await postJson(`${cluster.baseUrl}/api/auth/login`, { email, password })).body as { refreshToken: string; accessToken: string };
    const refresh = (refreshToken: string) => postJson(`${cluster.baseUrl}/api/auth/refresh`, { refreshToken });
    const rotated = await refresh(login.refreshToken);
    t.is(rotated.status, 200);
    const next = rotated.body as { refreshToken: string; accessToken: string };
    t.not(next.refreshToken, login.refreshToken);
    const newest = await refresh(next.refreshToken);
    t.is(newest.status, 200);
    t.is((await refresh(login.refreshToken)).status, 401, 'a token whose successor was used is refused');
    t.is((await refresh((newest.body as { refreshToken: string }).refreshToken)).status, 401, 'its reuse revoked the whole family');

    const again = (await postJson(`${cluster.baseUrl}/api/auth/login`, { email, password })).body as { refreshToken: string; accessToken: string };
    const logout = await fetch(`${cluster.baseUrl}/api/auth/logout`, { method: 'POST', headers: { Authorization: `Bearer ${again.accessToken}` } });
    t.is(logout.status, 204);
    t.is((await refresh(again.refreshToken)).status, 401, 'logout revoked the refresh token');
  });

  test.serial(`${mode}: spoofed X-User-Id and X-Internal-Token from a client never reach a service`, async (t) => {
    const cluster = await clusterOf();
    const alice = await registerAndLogin(cluster.baseUrl, 'Alice');
    const mallory = await registerAndLogin(cluster.baseUrl, 'Mallory');
    const spoofed = { 'X-User-Id': alice.id, 'X-Internal-Token': 'forged', 'X-Internal-Caller': 'upload' };
    const me = await fetch(`${cluster.baseUrl}/api/auth/me`, { headers: { ...mallory.auth, ...spoofed } });
    t.is(me.status, 200);
    t.is(((await me.json()) as { id: string }).id, mallory.id, 'the service saw the token\'s user, not the header');
    const anonymous = await fetch(`${cluster.baseUrl}/api/files`, { headers: spoofed });
    t.is(anonymous.status, 401);
  });

  test.serial(`${mode}: a rotated signing key: the gateway fetches the JWKS again for the new kid, old tokens still pass`, async (t) => {
    const cluster = await clusterOf();
    const before = await registerAndLogin(cluster.baseUrl);
    const newKid = rotateSigningKey(join(cluster.dataDir, 'auth-signing-keys'));
    await cluster.auth.restart();
    const after = await registerAndLogin(cluster.baseUrl);
    const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    t.is(kidOf(after.accessToken), newKid);
    t.not(kidOf(before.accessToken), newKid);
    t.is((await fetch(`${cluster.baseUrl}/api/auth/me`, { headers: after.auth })).status, 200);
    t.is((await fetch(`${cluster.baseUrl}/api/files`, { headers: before.auth })).status, 200);
  });

  if (redisUrl) {
    test.serial(`${mode}: two gateway processes on one Redis share one rate-limit budget`, async (t) => {
      const cluster = await clusterOf();
      const user = await registerAndLogin(cluster.baseUrl);
      const prefix = `govault-e2e:${randomUUID()}:`;
      const gateways = await Promise.all(
        [1, 2].map(async (n) => {
          const port = await freePort();
          const env = { ...cluster.env, REDIS_URL: redisUrl, RATE_LIMIT_PREFIX: prefix, RATE_LIMIT_MAX: '5', GATEWAY_PORT: String(port) };
          return new ServiceProcess(`gateway-${n}`, port, join(ROOT, 'server/gateway/src/main.ts'), env, '/healthz', ROOT, 'gateway');
        }),
      );
      t.teardown(() => Promise.all(gateways.map((g) => g.kill('SIGTERM'))));
      await Promise.all(gateways.map((g) => g.start()));
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const response = await fetch(`${gateways[i % 2]!.url}/api/files`, { headers: user.auth });
        statuses.push(response.status);
        if (response.status === 429) t.truthy(response.headers.get('retry-after'));
      }
      t.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    });
  }
}

