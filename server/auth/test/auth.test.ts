import { createHash, createPublicKey, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import jwt from 'jsonwebtoken';
import { createLogger, listen, parseConfig, type RunningServer } from '@govault/lib';
import { testDatabase, testServiceKeys, type TestDatabase } from '@govault/lib/testing';
import { authConfigSchema, buildAuthApp } from '../src/index.ts';

const keys = testServiceKeys();
const gateway = keys.issuerFor('gateway');
let db: TestDatabase;
let server: RunningServer;
let closeApp: () => Promise<void>;
let baseUrl: string;

test.before(async () => {
  db = await testDatabase('auth');
  const config = parseConfig(authConfigSchema, {
    AUTH_DATABASE_URL: db.url,
    INTERNAL_KEY_DIR: keys.dir,
    DATA_DIR: mkdtempSync(join(tmpdir(), 'govault-auth-')),
    BCRYPT_ROUNDS: '4',
    // Every test here logs in from the same address, many at once; fairness has its own suite.
    PASSWORD_HASH_QUEUE_PER_CLIENT: '1000',
    LOG_LEVEL: 'silent',
  });
  const built = await buildAuthApp(config, createLogger('auth', 'silent'));
  closeApp = built.close;
  server = await listen(built.app, '127.0.0.1', 0);
  baseUrl = `http://127.0.0.1:${server.port}`;
});

test.after.always(async () => {
  await server?.close();
  await closeApp?.();
  await db?.stop();
});

interface CallOptions {
  body?: unknown;
  rawBody?: string;
  userId?: string;
  /** The internal token; defaults to one from the gateway. `null` sends none. */
  token?: string | null;
}

async function call(method: string, path: string, options: CallOptions = {}) {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? gateway.issue('auth', { userId: options.userId }) : options.token;
  if (token) headers['x-internal-token'] = token;
  if (options.userId) headers['x-user-id'] = options.userId;
  let body: string | undefined;
  if (options.body !== undefined || options.rawBody !== undefined) {
    headers['content-type'] = 'application/json';
    body = options.rawBody ?? JSON.stringify(options.body);
  }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const uniqueEmail = (name: string) => `${name}-${randomUUID().slice(0, 8)}@Example.com`;
const password = 'correct horse battery';

async function registerAndLogin(name: string) {
  const email = uniqueEmail(name);
  const registered = await call('POST', '/api/auth/register', { body: { email, password, displayName: name } });
  const login = await call('POST', '/api/auth/login', { body: { email, password } });
  return { email, user: registered.body, tokens: login.body };
}

test('register, login and me return the same user', async (t) => {
  const email = uniqueEmail('alice');
  const registered = await call('POST', '/api/auth/register', { body: { email, password, displayName: 'Alice' } });
  t.is(registered.status, 201);
  t.like(registered.body, { email, displayName: 'Alice' });
  t.deepEqual(Object.keys(registered.body).sort(), ['createdAt', 'displayName', 'email', 'id']);

  const login = await call('POST', '/api/auth/login', { body: { email: email.toLowerCase(), password } });
  t.is(login.status, 200);
  t.is(login.body.tokenType, 'Bearer');
  t.is(login.body.expiresIn, 900);
  t.is(typeof login.body.accessToken, 'string');
  t.regex(login.body.refreshToken, /^[A-Za-z0-9_-]{43}$/);

  const me = await call('GET', '/api/auth/me', { userId: registered.body.id });
  t.is(me.status, 200);
  t.deepEqual(me.body, registered.body);
});

test('displayName is optional and then null', async (t) => {
  const email = uniqueEmail('nameless');
  const registered = await call('POST', '/api/auth/register', { body: { email, password } });
  t.is(registered.status, 201);
  t.is(registered.body.displayName, null);
});

test('an email registered twice, in another case, is a 409 conflict', async (t) => {
  const email = uniqueEmail('bob');
  t.is((await call('POST', '/api/auth/register', { body: { email, password } })).status, 201);
  const again = await call('POST', '/api/auth/register', { body: { email: email.toUpperCase(), password } });
  t.is(again.status, 409);
  t.is(again.body.error.code, 'conflict');
});

test('passwords must be 8 to 72 bytes of UTF-8', async (t) => {
  const short = await call('POST', '/api/auth/register', { body: { email: uniqueEmail('short'), password: 'seven77' } });
  t.is(short.status, 400);
  t.is(short.body.error.code, 'validation_failed');

  // 37 two-byte characters: 37 characters but 74 bytes.
  const long = await call('POST', '/api/auth/register', { body: { email: uniqueEmail('long'), password: 'é'.repeat(37) } });
  t.is(long.status, 400);
  const bytes73 = await call('POST', '/api/auth/register', { body: { email: uniqueEmail('long'), password: 'a'.repeat(73) } });
  t.is(bytes73.status, 400);
  t.is(bytes73.body.error.code, 'validation_failed');

  const bytes72 = await call('POST', '/api/auth/register', { body: { email: uniqueEmail('max'), password: 'é'.repeat(36) } });
  t.is(bytes72.status, 201);
});

test('bad input is a 400, never a 500', async (t) => {
  const cases: CallOptions[] = [
    { rawBody: '{"email": "a@b.c", "password": ' },
    { body: { email: 'not-an-email', password } },
    { body: { email: uniqueEmail('x'), password: 12345678 } },
    { body: { email: uniqueEmail('x'), password, isAdmin: true } },
    { body: ['array'] },
    {},
  ];
  for (const options of cases) {
    const response = await call('POST', '/api/auth/register', options);
    t.is(response.status, 400, JSON.stringify(options));
    t.is(response.body.error.code, 'validation_failed');
  }
  const malformedLogin = await call('POST', '/api/auth/login', { rawBody: 'not json' });
  t.is(malformedLogin.status, 400);
  t.is(malformedLogin.body.error.code, 'validation_failed');
});

test('a body over 64 KiB is refused with 413', async (t) => {
  const response = await call('POST', '/api/auth/register', {
    body: { email: uniqueEmail('big'), password, displayName: 'x'.repeat(70_000) },
  });
  t.is(response.status, 413);
  t.is(response.body.error.code, 'payload_too_large');
});

test('a wrong password and an unknown email get the same 401', async (t) => {
  const { email } = await registerAndLogin('carol');
  const wrong = await call('POST', '/api/auth/login', { body: { email, password: 'not the password' } });
  const unknown = await call('POST', '/api/auth/login', { body: { email: uniqueEmail('nobody'), password } });
  t.is(wrong.status, 401);
  t.is(unknown.status, 401);
  t.is(wrong.body.error.code, 'unauthenticated');
  t.is(wrong.body.error.message, unknown.body.error.message);
});

test('a password that only shares its first 72 bytes with the real one is refused', async (t) => {
  const email = uniqueEmail('prefix');
  const long = 'b'.repeat(72);
  t.is((await call('POST', '/api/auth/register', { body: { email, password: long } })).status, 201);
  t.is((await call('POST', '/api/auth/login', { body: { email, password: long } })).status, 200);
  t.is((await call('POST', '/api/auth/login', { body: { email, password: `${long}extra` } })).status, 401);
});

test('the access token verifies against the published JWKS with the agreed claims', async (t) => {
  const { user, tokens } = await registerAndLogin('dave');
  const jwks = await call('GET', '/api/auth/jwks.json');
  t.is(jwks.status, 200);
  t.is(jwks.body.keys.length, 1);
  const [jwk] = jwks.body.keys;
  t.like(jwk, { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
  t.false('d' in jwk, 'no private part is published');

  const header = jwt.decode(tokens.accessToken, { complete: true })!.header;
  t.is(header.alg, 'ES256');
  t.is(header.kid, jwk.kid);

  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const claims = jwt.verify(tokens.accessToken, key, {
    algorithms: ['ES256'],
    issuer: 'govault-auth',
    audience: 'govault-api',
  }) as jwt.JwtPayload;
  t.is(claims.sub, user.id);
  t.is(claims.typ, 'access');
  t.is(claims.exp! - claims.iat!, 900);
});

test('the key id is the RFC 7638 thumbprint of the public key', async (t) => {
  const { body } = await call('GET', '/api/auth/jwks.json');
  const [jwk] = body.keys;
  const canonical = `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`;
  t.is(jwk.kid, createHash('sha256').update(canonical).digest('base64url'));
});

test('refresh rotates the token; reusing a rotated one revokes the whole family', async (t) => {
  const { user, tokens } = await registerAndLogin('erin');
  const first = tokens.refreshToken;

  const rotated = await call('POST', '/api/auth/refresh', { body: { refreshToken: first } });
  t.is(rotated.status, 200);
  t.is(rotated.body.tokenType, 'Bearer');
  t.not(rotated.body.refreshToken, first);
  t.is((jwt.decode(rotated.body.accessToken) as jwt.JwtPayload).sub, user.id);
  const newest = await call('POST', '/api/auth/refresh', { body: { refreshToken: rotated.body.refreshToken } });
  t.is(newest.status, 200);

  // Its successor was used: whoever presents `first` now holds a copy.
  const reused = await call('POST', '/api/auth/refresh', { body: { refreshToken: first } });
  t.is(reused.status, 401);
  t.is(reused.body.error.code, 'unauthenticated');

  const after = await call('POST', '/api/auth/refresh', { body: { refreshToken: newest.body.refreshToken } });
  t.is(after.status, 401, 'the newest token of the family is revoked with it');
});

test('a rotated token presented again before its successor is used gets the same successor (an answer lost to a reload)', async (t) => {
  const { tokens } = await registerAndLogin('lost-answer');
  const first = tokens.refreshToken;

  const answered = await call('POST', '/api/auth/refresh', { body: { refreshToken: first } });
  const lost = await call('POST', '/api/auth/refresh', { body: { refreshToken: first } });

  t.is(answered.status, 200);
  t.is(lost.status, 200);
  t.is(lost.body.refreshToken, answered.body.refreshToken);
  const next = await call('POST', '/api/auth/refresh', { body: { refreshToken: lost.body.refreshToken } });
  t.is(next.status, 200, 'the successor was not revoked by the second answer');
  t.is((await call('POST', '/api/auth/refresh', { body: { refreshToken: first } })).status, 401, 'once the successor is used, the old token is reuse');
  t.is((await call('POST', '/api/auth/refresh', { body: { refreshToken: next.body.refreshToken } })).status, 401);
});

test('reuse revokes only the family it belongs to', async (t) => {
  const { email, tokens } = await registerAndLogin('frank');
  const otherDevice = (await call('POST', '/api/auth/login', { body: { email, password } })).body;
  const rotated = await call('POST', '/api/auth/refresh', { body: { refreshToken: tokens.refreshToken } });
  await call('POST', '/api/auth/refresh', { body: { refreshToken: rotated.body.refreshToken } });
  t.is((await call('POST', '/api/auth/refresh', { body: { refreshToken: tokens.refreshToken } })).status, 401);
  t.is((await call('POST', '/api/auth/refresh', { body: { refreshToken: otherDevice.refreshToken } })).status, 200);
});

test('an unknown refresh token is a 401', async (t) => {
  const response = await call('POST', '/api/auth/refresh', { body: { refreshToken: 'A'.repeat(43) } });
  t.is(response.status, 401);
  t.is(response.body.error.code, 'unauthenticated');
});

test('logout revokes every refresh token of the user', async (t) => {
  const { email, user, tokens } = await registerAndLogin('grace');
  const second = (await call('POST', '/api/auth/login', { body: { email, password } })).body;

  const logout = await call('POST', '/api/auth/logout', { userId: user.id });
  t.is(logout.status, 204);
  t.is(logout.body, undefined);

  for (const refreshToken of [tokens.refreshToken, second.refreshToken]) {
    t.is((await call('POST', '/api/auth/refresh', { body: { refreshToken } })).status, 401);
  }
  t.is((await call('POST', '/api/auth/login', { body: { email, password } })).status, 200, 'logging in again works');
});

test('me and logout need a user in the internal token', async (t) => {
  for (const [method, path] of [
    ['GET', '/api/auth/me'],
    ['POST', '/api/auth/logout'],
  ] as const) {
    const response = await call(method, path);
    t.is(response.status, 401, path);
    t.is(response.body.error.code, 'unauthenticated');
  }
});

test('requests without a valid internal token from an allowed caller are refused', async (t) => {
  const { user } = await registerAndLogin('heidi');
  const other = testServiceKeys().issuerFor('gateway');
  const refused: Array<[string, CallOptions]> = [
    ['no token', { token: null }],
    ['garbage', { token: 'not.a.jwt' }],
    ['signed by an unknown key', { token: other.issue('auth', { userId: user.id }) }],
    ['for another audience', { token: gateway.issue('files', { userId: user.id }) }],
    ['from a service that may not call public routes', { token: keys.issuerFor('files').issue('auth', { userId: user.id }) }],
  ];
  for (const [label, options] of refused) {
    for (const path of ['/api/auth/me', '/api/auth/jwks.json']) {
      const response = await call('GET', path, { userId: user.id, ...options });
      t.is(response.status, 401, `${label}: ${path}`);
      t.is(response.body.error.code, 'unauthenticated');
    }
  }
  const noToken = await call('POST', '/api/auth/register', { token: null, body: { email: uniqueEmail('x'), password } });
  t.is(noToken.status, 401);
  const mismatch = await call('GET', '/api/auth/me', { token: gateway.issue('auth', { userId: randomUUID() }), userId: user.id });
  t.is(mismatch.status, 401, 'an X-User-Id that differs from the token is refused');
});

test('operational routes need no token', async (t) => {
  for (const path of ['/healthz', '/readyz']) {
    const response = await fetch(`${baseUrl}${path}`);
    t.is(response.status, 200, path);
  }
  const metrics = await fetch(`${baseUrl}/metrics`);
  t.is(metrics.status, 200);
  t.regex(await metrics.text(), /http_requests_total\{[^}]*service="auth"/);
});

test('internal user lookups by id and by email, case-insensitively', async (t) => {
  const { email, user } = await registerAndLogin('ivan');
  const files = keys.issuerFor('files');

  const byId = await call('GET', `/internal/users/${user.id}`, { token: files.issue('auth') });
  t.is(byId.status, 200);
  t.deepEqual(byId.body, user);

  const byEmail = await call('GET', `/internal/users?email=${encodeURIComponent(email.toUpperCase())}`, { token: files.issue('auth') });
  t.is(byEmail.status, 200);
  t.deepEqual(byEmail.body, user);

  for (const path of [`/internal/users/${randomUUID()}`, '/internal/users/not-a-uuid', '/internal/users?email=nobody%40example.com']) {
    const missing = await call('GET', path, { token: files.issue('auth') });
    t.is(missing.status, 404, path);
    t.is(missing.body.error.code, 'not_found');
  }
  t.is((await call('GET', '/internal/users', { token: files.issue('auth') })).status, 400);
  t.is((await call('GET', `/internal/users/${user.id}`, { token: null })).status, 401);
});

test('user lookups answer files only: the gateway and upload tokens are refused', async (t) => {
  const { email, user } = await registerAndLogin('least-privilege');
  const paths = [`/internal/users/${user.id}`, `/internal/users?email=${encodeURIComponent(email)}`];
  for (const caller of ['gateway', 'upload']) {
    const token = keys.issuerFor(caller).issue('auth', { userId: user.id });
    for (const path of paths) {
      const response = await call('GET', path, { token, userId: user.id });
      t.is(response.status, 401, `${caller}: ${path}`);
      t.is(response.body.error.code, 'unauthenticated');
      t.false(JSON.stringify(response.body).includes(email.toLowerCase()), 'nothing of the user leaks');
    }
  }
  // Spellings a router might fold onto the route: none of them answers with the user.
  const gatewayToken = gateway.issue('auth');
  for (const path of [`/%69nternal/users/${user.id}`, `/internal/users/${user.id}/`, `//internal/users/${user.id}`, `/INTERNAL/users/${user.id}`]) {
    const response = await call('GET', path, { token: gatewayToken });
    t.true([401, 404].includes(response.status), `${path}: ${response.status}`);
  }
  for (const path of paths) t.is((await call('GET', path, { token: keys.issuerFor('files').issue('auth') })).status, 200, path);
});

test('NUL, other control characters and unpaired surrogates in any string field are a 400', async (t) => {
  const bad = ['\u0000', '\u0007', '\u001b[31m', '\u007f', '\u0085', '\ud800', '\udc00x'];
  for (const sample of bad) {
    const label = JSON.stringify(sample);
    const bodies: Array<[string, unknown]> = [
      ['/api/auth/register', { email: `a${sample}b@example.com`, password }],
      ['/api/auth/register', { email: uniqueEmail('ctl'), password, displayName: `Ali${sample}ce` }],
      ['/api/auth/register', { email: uniqueEmail('ctl'), password: `${password}${sample}` }],
      ['/api/auth/login', { email: `a${sample}b@example.com`, password }],
      ['/api/auth/refresh', { refreshToken: `${'A'.repeat(42)}${sample}` }],
    ];
    for (const [path, body] of bodies) {
      const response = await call('POST', path, { body });
      t.is(response.status, 400, `${path} ${label} ${JSON.stringify(body)}`);
      t.is(response.body.error.code, 'validation_failed');
    }
    if (/[\ud800-\udfff]/.test(sample)) continue; // a URL cannot carry an unpaired surrogate
    const lookup = await call('GET', `/internal/users?email=${encodeURIComponent(`a${sample}b@example.com`)}`, { token: keys.issuerFor('files').issue('auth') });
    t.is(lookup.status, 400, `lookup ${label}`);
  }
});

test('a login password with a NUL or an unpaired surrogate is wrong (401), never a match', async (t) => {
  const { email } = await registerAndLogin('nul-login');
  for (const presented of [`${password}\u0000`, `${password}\u0000anything`, `${password}\ud800`]) {
    const response = await call('POST', '/api/auth/login', { body: { email, password: presented } });
    t.is(response.status, 401, JSON.stringify(presented));
    t.is(response.body.error.code, 'unauthenticated');
  }
  // The replacement character UTF-8 would have substituted is an ordinary, registrable character.
  const replacement = uniqueEmail('fffd');
  t.is((await call('POST', '/api/auth/register', { body: { email: replacement, password: `${password}\ufffd` } })).status, 201);
  t.is((await call('POST', '/api/auth/login', { body: { email: replacement, password: `${password}\ud800` } })).status, 401);
  t.is((await call('POST', '/api/auth/login', { body: { email: replacement, password: `${password}\ufffd` } })).status, 200);
  t.is((await call('POST', '/api/auth/login', { body: { email, password: 'a wrong but fine password' } })).status, 401);
});

/** Spellings of one address that a careless fold would tell apart or run together (the throttle bypass of issue 11). */
const FULL_WIDTH = (ascii: string) => [...ascii].map((c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0)).join('');
const spellings = (local: string, domain: string) => ({
  upper: `${local.toUpperCase()}@${domain}`,
  kelvin: `${local.replace('k', '\u212a')}@${domain}`,
  fullWidth: `${FULL_WIDTH(local)}@${domain}`,
});

async function failTenTimes(email: string) {
  for (let i = 0; i < 10; i++) await call('POST', '/api/auth/login', { body: { email, password: `wrong-${i}-password` } });
}

test('every spelling that reaches an account counts against its login throttle (Kelvin sign, full-width, case)', async (t) => {
  for (const [name, spell] of Object.entries(spellings('thrik', 'example.com'))) {
    const id = randomUUID().slice(0, 8);
    const ascii = `thrik-${id}@example.com`;
    const variant = spell.replace('@', `-${id}@`);
    t.is((await call('POST', '/api/auth/register', { body: { email: ascii, password } })).status, 201);
    t.is((await call('POST', '/api/auth/login', { body: { email: variant, password } })).status, 200, `${name} reaches the account`);

    await failTenTimes(ascii);
    const afterAsciiFailures = await call('POST', '/api/auth/login', { body: { email: variant, password } });
    t.is(afterAsciiFailures.status, 429, `${name} after ten failures as typed`);
    for (let i = 0; i < 10; i++) {
      t.is((await call('POST', '/api/auth/login', { body: { email: variant, password: `guess-${i}-password` } })).status, 429, `${name} guess ${i}`);
    }
  }
});

test('failures under another spelling throttle the address as registered', async (t) => {
  for (const [name, spell] of Object.entries(spellings('thrik', 'example.com'))) {
    const id = randomUUID().slice(0, 8);
    const ascii = `thrik-${id}@example.com`;
    t.is((await call('POST', '/api/auth/register', { body: { email: ascii, password } })).status, 201);
    await failTenTimes(spell.replace('@', `-${id}@`));
    t.is((await call('POST', '/api/auth/login', { body: { email: ascii, password } })).status, 429, name);
  }
});

test('a dotted capital I is another address: it neither logs in to the ASCII account nor escapes its throttle', async (t) => {
  const id = randomUUID().slice(0, 8);
  const ascii = `thri-x-${id}@example.com`;
  const dotted = `thr\u0130-x-${id}@example.com`;
  t.is((await call('POST', '/api/auth/register', { body: { email: ascii, password } })).status, 201);
  t.is((await call('POST', '/api/auth/login', { body: { email: dotted, password } })).status, 401);
  await failTenTimes(ascii);
  t.is((await call('POST', '/api/auth/login', { body: { email: dotted, password } })).status, 401, 'not 200: the attack of issue 11');
  t.is((await call('POST', '/api/auth/login', { body: { email: ascii, password } })).status, 429);
  const lookup = await call('GET', `/internal/users?email=${encodeURIComponent(dotted)}`, { token: keys.issuerFor('files').issue('auth') });
  t.is(lookup.status, 404);
});

test('registering another spelling of a taken address never creates a second user', async (t) => {
  const id = randomUUID().slice(0, 8);
  const ascii = `thrik-${id}@example.com`;
  const first = await call('POST', '/api/auth/register', { body: { email: ascii, password } });
  t.is(first.status, 201);
  for (const [name, spell] of Object.entries(spellings('thrik', 'example.com'))) {
    const again = await call('POST', '/api/auth/register', { body: { email: spell.replace('@', `-${id}@`), password } });
    // As typed the upper-case one is a valid address (409); the others are not addresses as typed (400).
    t.is(again.status, name === 'upper' ? 409 : 400, name);
  }
  const files = keys.issuerFor('files');
  for (const [name, spell] of Object.entries(spellings('thrik', 'example.com'))) {
    const lookup = await call('GET', `/internal/users?email=${encodeURIComponent(spell.replace('@', `-${id}@`))}`, { token: files.issue('auth') });
    t.is(lookup.status, 200, `lookup ${name}`);
    t.is(lookup.body.id, first.body.id);
    t.is(lookup.body.email, ascii, 'shown as typed at registration');
  }
});

test('a login email that normalises to nothing or to more than 320 characters is a 400', async (t) => {
  for (const email of ['   ', '\ufdfa'.repeat(100)]) {
    const response = await call('POST', '/api/auth/login', { body: { email, password } });
    t.is(response.status, 400, JSON.stringify(email.slice(0, 8)));
    t.is(response.body.error.code, 'validation_failed');
  }
});

test('an unknown route is a JSON 404', async (t) => {
  const response = await call('GET', '/api/auth/nope');
  t.is(response.status, 404);
  t.is(response.body.error.code, 'not_found');
});

test('refreshes racing with one token rotate it once: within the grace every racer gets that one successor', async (t) => {
  const { tokens } = await registerAndLogin('judy');
  const first = tokens.refreshToken;
  const results = await Promise.all([1, 2, 3, 4, 5].map(() => call('POST', '/api/auth/refresh', { body: { refreshToken: first } })));
  // REFRESH_TOKEN_REUSE_GRACE_SECONDS (30 by default): a presentation racing the rotation
  // is answered with the successor that rotation made, so no racer is logged out.
  t.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200]);
  const handedOut = new Set(results.map((r) => r.body.refreshToken));
  t.is(handedOut.size, 1, `${handedOut.size} different successors: the token was rotated more than once`);
  const [successor] = handedOut;
  t.not(successor, first);
  t.true(results.every((r) => typeof r.body.accessToken === 'string'));

  const next = await call('POST', '/api/auth/refresh', { body: { refreshToken: successor } });
  t.is(next.status, 200, 'the one successor works');
  t.is((await call('POST', '/api/auth/refresh', { body: { refreshToken: first } })).status, 401, 'once it is used, the raced token is reuse');
  t.is((await call('POST', '/api/auth/refresh', { body: { refreshToken: next.body.refreshToken } })).status, 401, 'and the family is revoked');
});

test('a password equal to the email is refused at registration', async (t) => {
  const email = uniqueEmail('same');
  const response = await call('POST', '/api/auth/register', { body: { email, password: email.toUpperCase() } });
  t.is(response.status, 400);
  t.is(response.body.error.details[0].path, 'password');
});

test('login throttling: after 10 failures an email gets 429 with Retry-After, the right password too', async (t) => {
  const { email } = await registerAndLogin('throttled');
  for (let i = 0; i < 10; i++) {
    t.is((await call('POST', '/api/auth/login', { body: { email, password: `wrong-${i}-password` } })).status, 401);
  }
  const response = await fetch(`${baseUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-internal-token': gateway.issue('auth') },
    body: JSON.stringify({ email: email.toLowerCase(), password }),
  });
  t.is(response.status, 429);
  t.is(((await response.json()) as { error: { code: string } }).error.code, 'rate_limited');
  const retryAfter = Number(response.headers.get('retry-after'));
  t.true(retryAfter > 0 && retryAfter <= 900, `Retry-After ${retryAfter}`);
  const other = await registerAndLogin('not-throttled');
  t.is(typeof other.tokens.accessToken, 'string', 'other emails still log in');
});
