import { ApiError, OfflineError, SessionEndedError } from './errors.ts';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  /** Seconds the access token lives. */
  expiresIn: number;
}

/** What the session needs of the auth API: one call, so that a test can stand in for it. */
export type Renew = (refreshToken: string) => Promise<TokenPair>;

const REFRESH_KEY = 'govault.refreshToken';
const LOCK_NAME = 'govault.renewal';

/**
 * The signed-in state of this tab.
 *
 * The access token lives in memory only. The refresh token is kept in localStorage so
 * that a reload (or a second tab) keeps the session: the API uses no cookies, and the
 * gateway's CSP allows no inline or foreign script that could read it. Refresh tokens
 * rotate and a reused one revokes them all, so renewals are serialised: one in flight per
 * tab (every request waits for it), and across tabs a Web Lock, inside which the newest
 * refresh token is read again from storage.
 */
export class Session {
  private accessToken: string | undefined;
  private expiresAt = 0;
  private renewal: Promise<string> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refused = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly renewWith: Renew,
    private readonly storage: Storage = localStorage,
    private readonly now: () => number = Date.now,
  ) {
    // Another tab logged out: so does this one.
    globalThis.addEventListener?.('storage', (event) => {
      if (event.key === REFRESH_KEY && event.newValue === null) this.forget();
    });
  }

  get signedIn(): boolean {
    return this.storage.getItem(REFRESH_KEY) !== null;
  }

  /** The server refused this browser's refresh token (as opposed to a logout): the sign-in page says so. */
  get endedByServer(): boolean {
    return this.refused;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** After login: the pair the server answered. */
  adopt(tokens: TokenPair): void {
    this.storage.setItem(REFRESH_KEY, tokens.refreshToken);
    this.refused = false;
    this.accessToken = tokens.accessToken;
    // Renew a little before expiry: at 80 % of the lifetime, and at least 1 s before it ends.
    const lifetimeMs = tokens.expiresIn * 1000;
    this.expiresAt = this.now() + lifetimeMs;
    clearTimeout(this.timer);
    const renewInMs = Math.max(500, Math.min(lifetimeMs * 0.8, lifetimeMs - 1000));
    this.timer = setTimeout(() => void this.renew(tokens.accessToken).catch(() => undefined), renewInMs);
    // Outside a browser (the unit tests) a pending renewal must not keep the process alive.
    (this.timer as { unref?: () => void }).unref?.();
    this.notify();
  }

  /** The refresh token, for logout. */
  get refreshToken(): string | undefined {
    return this.storage.getItem(REFRESH_KEY) ?? undefined;
  }

  /** A valid access token, renewed first when it is missing or about to expire; undefined when signed out. */
  async currentAccessToken(): Promise<string | undefined> {
    if (!this.signedIn) return undefined;
    if (this.accessToken && this.now() < this.expiresAt - 1000) return this.accessToken;
    return this.renew(this.accessToken);
  }

  /**
   * Renews the access token the caller found stale (after a 401, say). A caller whose
   * token was already replaced gets the new one without a second renewal.
   */
  renew(stale: string | undefined): Promise<string> {
    if (this.accessToken && this.accessToken !== stale && this.now() < this.expiresAt - 1000) return Promise.resolve(this.accessToken);
    this.renewal ??= this.renewAcrossTabs().finally(() => {
      this.renewal = undefined;
    });
    return this.renewal;
  }

  /** Forgets the tokens of this browser (logout, or a refresh token the server refused). */
  forget(reason: 'logout' | 'refused' = 'logout'): void {
    clearTimeout(this.timer);
    this.refused = reason === 'refused';
    const wasSignedIn = this.accessToken !== undefined || this.signedIn;
    this.accessToken = undefined;
    this.expiresAt = 0;
    this.storage.removeItem(REFRESH_KEY);
    if (wasSignedIn) this.notify();
  }

  private async renewAcrossTabs(): Promise<string> {
    const locks = (globalThis.navigator as Navigator | undefined)?.locks;
    return locks ? locks.request(LOCK_NAME, () => this.renewNow()) : this.renewNow();
  }

  private async renewNow(): Promise<string> {
    const refreshToken = this.storage.getItem(REFRESH_KEY);
    if (refreshToken === null) throw new ApiError(401, 'unauthenticated', 'Not signed in.');
    try {
      const tokens = await this.renewWith(refreshToken);
      this.adopt(tokens);
      return tokens.accessToken;
    } catch (error) {
      // Only the server's refusal ends the session; being offline keeps it for later.
      if (error instanceof ApiError && error.status === 401) {
        // Another tab may have rotated the token while this one waited for the lock.
        if (this.storage.getItem(REFRESH_KEY) !== refreshToken) return this.renewNow();
        this.forget('refused');
        throw new SessionEndedError();
      }
      throw error instanceof ApiError || error instanceof OfflineError ? error : new OfflineError(error);
    }
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
