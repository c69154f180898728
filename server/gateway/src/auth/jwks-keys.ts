import { createPublicKey, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InternalTokenIssuer, Logger } from '@govault/lib';

interface Jwk {
  kid?: string;
  kty: string;
  [key: string]: unknown;
}

const REFETCH_COOLDOWN_MS = 1_000;

/**
 * The auth service's public signing keys, fetched from its JWKS. An unknown `kid` makes
 * it fetch again (key rotation), at most once a second so that forged kids cannot turn
 * the gateway into a load generator against auth (and they pass the rate limit first).
 */
export class JwksKeys {
  private keys = new Map<string, KeyObject>();
  private lastFetch = 0;
  private inFlight: Promise<void> | undefined;
  private scheduled: Promise<void> | undefined;

  constructor(
    /** An auth instance to ask (the next one in turn whose circuit is closed). */
    private readonly authUrl: () => string | undefined,
    private readonly issuer: InternalTokenIssuer,
    private readonly logger: Logger,
  ) {}

  async get(kid: string): Promise<KeyObject | undefined> {
    const known = this.keys.get(kid);
    if (known) return known;
    const wait = this.lastFetch + REFETCH_COOLDOWN_MS - Date.now();
    if (wait <= 0 || this.keys.size === 0) await this.refresh();
    // A key rotated just after a fetch: wait out the cooldown instead of answering 401,
    // with every such request sharing the one fetch that follows.
    else await (this.scheduled ??= sleep(wait).then(() => {
      this.scheduled = undefined;
      return this.refresh();
    }));
    return this.keys.get(kid);
  }

  private refresh(): Promise<void> {
    this.inFlight ??= this.fetchKeys().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetchKeys(): Promise<void> {
    this.lastFetch = Date.now();
    try {
      const authUrl = this.authUrl();
      if (!authUrl) throw new Error('no auth instance available');
      const response = await fetch(new URL('/api/auth/jwks.json', authUrl), {
        headers: { 'x-internal-token': this.issuer.issue('auth') },
        signal: AbortSignal.timeout(3_000),
      });
      if (!response.ok) throw new Error(`JWKS answered ${response.status}`);
      const { keys } = (await response.json()) as { keys: Jwk[] };
      const next = new Map<string, KeyObject>();
      for (const jwk of keys) {
        if (jwk.kid) next.set(jwk.kid, createPublicKey({ key: jwk as never, format: 'jwk' }));
      }
      this.keys = next;
    } catch (err) {
      this.logger.warn({ err }, 'could not fetch the auth service JWKS');
    }
  }
}
