import { notSignedIn } from '../errors.ts';
import { withFileLock } from '../config/file-lock.ts';
import type { CredentialStore, Credentials } from '../config/credentials.ts';
import type { HttpClient, JsonResponse, RequestOptions } from './http.ts';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

/** Renew a little before expiry, so that a token does not lapse between check and use. */
const EARLY_MS = 30_000;

/**
 * A signed-in user of one server: requests carry a current access token, renewed with
 * the stored refresh token when it is due or when the server refuses it.
 */
export class Session {
  constructor(
    readonly http: HttpClient,
    private readonly store: CredentialStore,
  ) {}

  get server(): string {
    return this.http.server;
  }

  async credentials(): Promise<Credentials> {
    const saved = await this.store.get(this.server);
    if (!saved) throw notSignedIn(this.server);
    return saved;
  }

  /** `Authorization` for a request now. */
  async authorization(): Promise<string> {
    const saved = await this.credentials();
    const current = saved.accessToken && (saved.accessTokenExpiresAt ?? 0) - EARLY_MS > Date.now();
    return `Bearer ${current ? saved.accessToken : await this.renew(saved.refreshToken)}`;
  }

  /** After the server refused the current access token: a new one, or "not signed in". */
  async renewNow(): Promise<void> {
    await this.renew((await this.credentials()).refreshToken);
  }

  /** A JSON request as this user; a refused token is renewed once. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<JsonResponse<T>> {
    const accept = [...(options.accept ?? []), 401];
    const first = await this.http.json<T>(method, path, { ...options, accept, headers: { ...options.headers, authorization: await this.authorization() } });
    if (first.status !== 401 || options.accept?.includes(401)) return first;
    const renewed = `Bearer ${await this.renew((await this.credentials()).refreshToken)}`;
    return this.http.json<T>(method, path, { ...options, headers: { ...options.headers, authorization: renewed } });
  }

  /**
   * Rotates the refresh token under a lock. Another process may have rotated it while this
   * one waited: then its fresh access token is used, and the spent refresh token is never
   * presented again (the server would take that for theft and end every session).
   */
  renew(spent: string): Promise<string> {
    return withFileLock(this.store.lockPath, async () => {
      const saved = await this.credentials();
      if (saved.refreshToken !== spent && saved.accessToken) return saved.accessToken;
      const answer = await this.http.json<TokenPair>('POST', '/api/auth/refresh', { body: { refreshToken: saved.refreshToken }, accept: [400, 401] });
      if (answer.status !== 200) throw notSignedIn(this.server);
      await this.store.save(this.server, { ...saved, ...tokenFields(answer.body) });
      return answer.body.accessToken;
    });
  }
}

export function tokenFields(pair: TokenPair): Pick<Credentials, 'refreshToken' | 'accessToken' | 'accessTokenExpiresAt'> {
  return { refreshToken: pair.refreshToken, accessToken: pair.accessToken, accessTokenExpiresAt: Date.now() + pair.expiresIn * 1000 };
}
