import test from 'ava';
import { ApiError, OfflineError } from '../src/api/errors.ts';
import { Session, type TokenPair } from '../src/api/session.ts';

/** localStorage's interface over a Map: the session's only view of the browser here. */
class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  clear() {
    this.items.clear();
  }
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  key(index: number) {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
}

/** An auth server that rotates refresh tokens and refuses a used one, as the real one does. */
function rotatingServer(expiresIn = 900) {
  let generation = 0;
  const calls: string[] = [];
  const renew = async (refreshToken: string): Promise<TokenPair> => {
    calls.push(refreshToken);
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (refreshToken !== `refresh-${generation}`) throw new ApiError(401, 'unauthenticated', 'refresh token reused');
    generation++;
    return { accessToken: `access-${generation}`, refreshToken: `refresh-${generation}`, tokenType: 'Bearer', expiresIn };
  };
  return { renew, calls };
}

function signedInSession(renew: (token: string) => Promise<TokenPair>) {
  const storage = new MemoryStorage();
  storage.setItem('govault.refreshToken', 'refresh-0');
  return { session: new Session(renew, storage), storage };
}

test('requests that find no access token after a reload share one renewal', async (t) => {
  const server = rotatingServer();
  const { session } = signedInSession(server.renew);

  const tokens = await Promise.all(Array.from({ length: 10 }, () => session.currentAccessToken()));

  t.deepEqual(new Set(tokens), new Set(['access-1']));
  t.deepEqual(server.calls, ['refresh-0']);
  t.true(session.signedIn);
});

test('a 401 seen with a token that was already replaced does not renew again', async (t) => {
  const server = rotatingServer();
  const { session } = signedInSession(server.renew);
  const first = await session.currentAccessToken();

  const renewed = await session.renew(first);
  const late = await session.renew(first);

  t.is(renewed, 'access-2');
  t.is(late, 'access-2');
  t.deepEqual(server.calls, ['refresh-0', 'refresh-1']);
});

test('a refused refresh token signs the browser out; being offline does not', async (t) => {
  const offline = new Session(async () => {
    throw new TypeError('Failed to fetch');
  }, withToken(new MemoryStorage()));
  await t.throwsAsync(offline.currentAccessToken(), { instanceOf: OfflineError });
  t.true(offline.signedIn);

  let changes = 0;
  const refused = new Session(async () => {
    throw new ApiError(401, 'unauthenticated', 'revoked');
  }, withToken(new MemoryStorage()));
  refused.onChange(() => changes++);
  await t.throwsAsync(refused.currentAccessToken(), { instanceOf: ApiError });
  t.false(refused.signedIn);
  t.is(changes, 1);
});

test('the access token is renewed before it expires, without a request asking', async (t) => {
  const server = rotatingServer(2);
  const { session } = signedInSession(server.renew);
  await session.currentAccessToken();

  await new Promise((resolve) => setTimeout(resolve, 1300));

  t.deepEqual(server.calls, ['refresh-0', 'refresh-1']);
  t.is(await session.currentAccessToken(), 'access-2');
  session.forget();
});

function withToken(storage: Storage): Storage {
  storage.setItem('govault.refreshToken', 'refresh-0');
  return storage;
}
