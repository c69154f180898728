import test from 'ava';
import { ApiError } from '../src/api/errors.ts';
import { Http } from '../src/api/http.ts';
import type { Session } from '../src/api/session.ts';

interface Seen {
  method: string;
  url: string;
  authorization: string | null;
}

/** A fetch that answers from a script and records what was asked of it. */
function scriptedFetch(answers: Array<(seen: Seen) => Response>) {
  const seen: Seen[] = [];
  const fetchStub = async (url: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const request = { method: init?.method ?? 'GET', url: String(url), authorization: headers.get('Authorization') };
    seen.push(request);
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected request ${request.method} ${request.url}`);
    return answer(request);
  };
  return { fetchStub, seen };
}

function fakeSession() {
  let token = 'old';
  const renewals: string[] = [];
  const session = {
    currentAccessToken: async () => token,
    renew: async (stale: string) => {
      renewals.push(stale);
      token = 'new';
      return token;
    },
  } as unknown as Session;
  return { session, renewals };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

test.serial('a 401 renews the token once and repeats the request with the new one', async (t) => {
  const { fetchStub, seen } = scriptedFetch([() => json(401, { error: { code: 'unauthenticated', message: 'expired' } }), () => json(200, { ok: true })]);
  globalThis.fetch = fetchStub as typeof fetch;
  const { session, renewals } = fakeSession();

  const body = await new Http(session).json('GET', '/api/files');

  t.deepEqual(body, { ok: true });
  t.deepEqual(renewals, ['old']);
  t.deepEqual(seen.map((s) => s.authorization), ['Bearer old', 'Bearer new']);
});

test.serial('a second 401 is the answer: no renewal loop', async (t) => {
  const refused = () => json(401, { error: { code: 'unauthenticated', message: 'no' } });
  const { fetchStub, seen } = scriptedFetch([refused, refused]);
  globalThis.fetch = fetchStub as typeof fetch;

  const error = await t.throwsAsync(new Http(fakeSession().session).json('GET', '/api/files'), { instanceOf: ApiError });

  t.is(error?.status, 401);
  t.is(seen.length, 2);
});

test.serial('a read that meets 503 waits and tries again; a write does not', async (t) => {
  const unavailable = () => json(503, { error: { code: 'upstream_unavailable', message: 'down' } }, { 'Retry-After': '1' });
  const read = scriptedFetch([unavailable, () => json(200, { items: [] })]);
  globalThis.fetch = read.fetchStub as typeof fetch;
  t.deepEqual(await new Http(fakeSession().session).json('GET', '/api/files'), { items: [] });

  const write = scriptedFetch([unavailable]);
  globalThis.fetch = write.fetchStub as typeof fetch;
  const error = await t.throwsAsync(new Http(fakeSession().session).json('POST', '/api/shortcuts', { body: {} }), { instanceOf: ApiError });
  t.is(error?.retryAfterSeconds, 1);
  t.is(write.seen.length, 1);
});
