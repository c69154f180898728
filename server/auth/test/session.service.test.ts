import test from 'ava';
import { AppError } from '@govault/lib';
import type { AccessTokenSigner } from '../src/token/access-token.ts';
import { FairScheduler } from '../src/password/fair-scheduler.ts';
import { MemoryLoginThrottle } from '../src/token/login-throttle.ts';
import type { RefreshToken } from '../src/token/refresh-token.entity.ts';
import type { RefreshTokenRepository } from '../src/token/refresh-token.repository.ts';
import { SessionService, hashToken } from '../src/token/session.service.ts';
import type { PasswordHasher } from '../src/password/password-hasher.ts';
import type { User } from '../src/user/user.entity.ts';
import { DuplicateEmailError, type UserRepository } from '../src/user/user.repository.ts';
import { UserService } from '../src/user/user.service.ts';

class FakeUsers implements UserRepository {
  readonly rows: User[] = [];
  async insert(user: User) {
    if (this.rows.some((u) => u.email.toLowerCase() === user.email.toLowerCase())) throw new DuplicateEmailError();
    this.rows.push(user);
  }
  async findById(id: string) {
    return this.rows.find((u) => u.id === id);
  }
  async findByEmail(email: string) {
    return this.rows.find((u) => u.email.toLowerCase() === email.toLowerCase());
  }
}

class FakeRefreshTokens implements RefreshTokenRepository {
  readonly rows: RefreshToken[] = [];
  async insert(token: RefreshToken) {
    this.rows.push({ ...token });
  }
  async findByHash(tokenHash: string) {
    const row = this.rows.find((r) => r.tokenHash === tokenHash);
    return row && { ...row };
  }
  async findById(id: string) {
    const row = this.rows.find((r) => r.id === id);
    return row && { ...row };
  }
  async rotate(oldId: string, next: RefreshToken) {
    const old = this.rows.find((r) => r.id === oldId && !r.revokedAt);
    if (!old) return false;
    Object.assign(old, { revokedAt: next.createdAt, replacedBy: next.id });
    this.rows.push({ ...next });
    return true;
  }
  async revokeFamily(familyId: string) {
    for (const r of this.rows) if (r.familyId === familyId) r.revokedAt ??= new Date();
  }
  async revokeAllOfUser(userId: string) {
    for (const r of this.rows) if (r.userId === userId) r.revokedAt ??= new Date();
  }
}

const plainHasher: PasswordHasher = {
  hash: async (p) => `plain:${p}`,
  verify: async (p, hash) => hash === `plain:${p}`,
};
const signer: AccessTokenSigner = { ttlSeconds: 60, sign: (userId) => `access-for-${userId}` };
const client = 'ip:192.0.2.1';

async function setup() {
  const tokens = new FakeRefreshTokens();
  const users = new UserService(new FakeUsers(), plainHasher, new FairScheduler({ concurrency: 2, maxQueuedPerClient: 10 }));
  const sessions = new SessionService(users, tokens, signer, 3600, new MemoryLoginThrottle({ maxFailures: 3, windowSeconds: 60 }));
  const user = await users.register({ email: 'kim@example.com', password: 'password1' }, client);
  return { tokens, sessions, user };
}

test('refresh tokens are stored only as their sha256', async (t) => {
  const { tokens, sessions } = await setup();
  const pair = await sessions.login('KIM@example.com', 'password1', client);
  t.is(tokens.rows.length, 1);
  t.is(tokens.rows[0]!.tokenHash, hashToken(pair.refreshToken));
  t.false(JSON.stringify(tokens.rows).includes(pair.refreshToken));
});

test('an expired refresh token is refused', async (t) => {
  const { tokens, sessions } = await setup();
  const pair = await sessions.login('kim@example.com', 'password1', client);
  tokens.rows[0]!.expiresAt = new Date(Date.now() - 1000);
  const err = await t.throwsAsync(sessions.refresh(pair.refreshToken), { instanceOf: AppError });
  t.is(err?.status, 401);
});

test('a rotation lost to a concurrent one counts as reuse and revokes the family', async (t) => {
  const { tokens, sessions } = await setup();
  const pair = await sessions.login('kim@example.com', 'password1', client);
  // Another request revokes the token between this request's read and its rotation.
  const findByHash = tokens.findByHash.bind(tokens);
  tokens.findByHash = async (hash) => {
    const row = await findByHash(hash);
    await tokens.rotate(row!.id, { ...row!, id: 'winner', tokenHash: 'winner-hash', revokedAt: null, createdAt: new Date() });
    return row;
  };
  await t.throwsAsync(sessions.refresh(pair.refreshToken), { instanceOf: AppError });
  t.true(tokens.rows.every((r) => r.revokedAt !== null));
});

test('after too many failed logins for an email even the right password waits, with the time to wait', async (t) => {
  const { sessions } = await setup();
  for (let i = 0; i < 3; i++) await t.throwsAsync(sessions.login('kim@example.com', 'wrong-password', client), { instanceOf: AppError });
  const err = await t.throwsAsync(sessions.login('Kim@Example.com', 'password1', client), { instanceOf: AppError });
  t.is(err?.status, 429);
  t.is(err?.code, 'rate_limited');
  const retryAfter = Number(err?.headers['Retry-After']);
  t.true(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
});

test('an unknown email is throttled exactly like a known one', async (t) => {
  const { sessions } = await setup();
  for (let i = 0; i < 3; i++) await t.throwsAsync(sessions.login('nobody@example.com', 'wrong-password', client), { instanceOf: AppError });
  const err = await t.throwsAsync(sessions.login('nobody@example.com', 'wrong-password', client), { instanceOf: AppError });
  t.is(err?.status, 429);
});

test('a successful login clears the failures of its email', async (t) => {
  const { sessions } = await setup();
  for (let i = 0; i < 2; i++) await t.throwsAsync(sessions.login('kim@example.com', 'wrong-password', client));
  await sessions.login('kim@example.com', 'password1', client);
  for (let i = 0; i < 2; i++) await t.throwsAsync(sessions.login('kim@example.com', 'wrong-password', client));
  await t.notThrowsAsync(sessions.login('kim@example.com', 'password1', client));
});

test('a client whose bcrypt queue is full gets 429, and that is no failed login', async (t) => {
  let release = () => {};
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const slowHasher: PasswordHasher = { ...plainHasher, verify: async (p, hash) => (await blocked, hash === `plain:${p}`) };
  const users = new UserService(new FakeUsers(), slowHasher, new FairScheduler({ concurrency: 1, maxQueuedPerClient: 0 }));
  const throttle = new MemoryLoginThrottle({ maxFailures: 1, windowSeconds: 60 });
  const sessions = new SessionService(users, new FakeRefreshTokens(), signer, 3600, throttle);
  await users.register({ email: 'kim@example.com', password: 'password1' }, client);

  const first = sessions.login('kim@example.com', 'password1', client);
  const refused = await t.throwsAsync(sessions.login('kim@example.com', 'wrong-password', client), { instanceOf: AppError });
  t.is(refused?.status, 429);
  t.true(Number(refused?.headers['Retry-After']) >= 1);
  t.is(await throttle.retryAfter('kim@example.com'), 0, 'not counted against the email');
  release();
  await t.notThrowsAsync(first);
});

test('a rotated token gets its unused successor again only within the grace', async (t) => {
  const tokens = new FakeRefreshTokens();
  const users = new UserService(new FakeUsers(), plainHasher, new FairScheduler({ concurrency: 2, maxQueuedPerClient: 10 }));
  await users.register({ email: 'lee@example.com', password: 'password1' }, client);
  const sessions = new SessionService(users, tokens, signer, 3600, new MemoryLoginThrottle({ maxFailures: 3, windowSeconds: 60 }), 1);
  const login = await sessions.login('lee@example.com', 'password1', client);

  const answered = await sessions.refresh(login.refreshToken);
  t.is((await sessions.refresh(login.refreshToken)).refreshToken, answered.refreshToken);

  await new Promise((resolve) => setTimeout(resolve, 1_100));
  await t.throwsAsync(sessions.refresh(login.refreshToken), { instanceOf: AppError });
  t.true(tokens.rows.every((r) => r.revokedAt !== null), 'after the grace it is reuse: the family is revoked');
});
