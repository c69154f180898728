import type { Session } from '../api/session.ts';

/**
 * The access token of tus requests. tus-js-client asks for it before every request
 * (async) and decides on a retry synchronously: after a 401 the renewal starts at once,
 * and the retried request waits for it. A token that was itself the fruit of such a
 * renewal and is refused again ends the retries: one renewal per refusal.
 */
export class TusAccessToken {
  private renewal: Promise<string> | undefined;
  private readonly renewedAfter401 = new Set<string>();

  constructor(private readonly session: Session) {}

  async current(): Promise<string> {
    const token = await (this.renewal ?? this.session.currentAccessToken());
    if (!token) throw new Error('Not signed in.');
    return token;
  }

  /** Answers whether to retry the refused request. */
  renewAfter401(authorization: string | undefined): boolean {
    const stale = authorization?.replace(/^Bearer /, '');
    if (!stale || this.renewedAfter401.has(stale)) return false;
    const renewal = this.session.renew(stale).then((token) => {
      this.renewedAfter401.add(token);
      return token;
    });
    this.renewal = renewal;
    renewal
      .finally(() => {
        if (this.renewal === renewal) this.renewal = undefined;
      })
      .catch(() => undefined);
    return true;
  }
}
