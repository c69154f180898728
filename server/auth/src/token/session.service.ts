import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { AppError, rateLimited, unauthenticated } from '@govault/lib';
import type { UserService } from '../user/user.service.ts';
import type { AccessTokenSigner } from './access-token.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { RefreshToken } from './refresh-token.entity.ts';
import type { RefreshTokenRepository } from './refresh-token.repository.ts';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/**
 * Login, refresh and logout. Refresh tokens rotate on every use; presenting one that was
 * already rotated means it leaked, so its whole family is revoked (OAuth 2.0 Security
 * BCP, "refresh token rotation").
 *
 * One exception keeps a lost answer from logging a user out: a browser reloaded while its
 * refresh was in flight never stored the successor, and presents the rotated token again.
 * Within `reuseGraceSeconds` of its rotation, and while the successor is still unused,
 * that token gets the same successor again. A successor is derived from the token it
 * replaces and its own row id (never sent to clients), so it can be given twice without
 * being stored; it cannot be computed from a token alone.
 */
export class SessionService {
  constructor(
    private readonly users: UserService,
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly accessTokens: AccessTokenSigner,
    private readonly refreshTtlSeconds: number,
    private readonly throttle: LoginThrottle,
    private readonly reuseGraceSeconds = 0,
  ) {}

  /**
   * Past the throttle's limit every attempt for that email is refused, the right password
   * too. `client` is the caller's address (see UserService.register).
   */
  async login(email: string, password: string, client: string): Promise<TokenPair> {
    const wait = await this.throttle.retryAfter(email);
    if (wait > 0) throw rateLimited(wait, 'Too many failed logins for this email; try again later');
    const user = await this.users.authenticate(email, password, client).catch(async (err: unknown) => {
      if (err instanceof AppError && err.status === 401) await this.throttle.recordFailure(email);
      throw err;
    });
    await this.throttle.reset(email);
    const { token, record } = this.newRefreshToken(user.id, randomUUID());
    await this.refreshTokens.insert(record);
    return this.pair(user.id, token);
  }

  async refresh(presented: string): Promise<TokenPair> {
    const current = await this.refreshTokens.findByHash(hashToken(presented));
    if (!current || current.expiresAt <= new Date()) throw invalidRefreshToken();
    if (current.revokedAt) return this.answeredAgain(presented, current);
    const id = randomUUID();
    const token = successorOf(presented, id);
    if (!(await this.refreshTokens.rotate(current.id, this.record(id, token, current.userId, current.familyId)))) {
      // A concurrent refresh with the same token won: it derived the same kind of successor.
      return this.answeredAgain(presented, (await this.refreshTokens.findByHash(hashToken(presented))) ?? current);
    }
    return this.pair(current.userId, token);
  }

  /** A rotated token presented again: its unused successor once more within the grace, else reuse. */
  private async answeredAgain(presented: string, rotated: RefreshToken): Promise<TokenPair> {
    const graceEndsAt = (rotated.revokedAt?.getTime() ?? 0) + this.reuseGraceSeconds * 1000;
    if (rotated.replacedBy && Date.now() <= graceEndsAt) {
      const successor = await this.refreshTokens.findById(rotated.replacedBy);
      const token = successorOf(presented, rotated.replacedBy);
      const unused = successor && !successor.revokedAt && successor.expiresAt > new Date();
      if (unused && successor.tokenHash === hashToken(token)) return this.pair(rotated.userId, token);
    }
    return this.reused(rotated);
  }

  async logout(userId: string): Promise<void> {
    await this.refreshTokens.revokeAllOfUser(userId);
  }

  private async reused(token: RefreshToken): Promise<never> {
    await this.refreshTokens.revokeFamily(token.familyId);
    throw invalidRefreshToken();
  }

  private pair(userId: string, refreshToken: string): TokenPair {
    return {
      accessToken: this.accessTokens.sign(userId),
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: this.accessTokens.ttlSeconds,
    };
  }

  private newRefreshToken(userId: string, familyId: string): { token: string; record: RefreshToken } {
    const id = randomUUID();
    const token = randomBytes(32).toString('base64url');
    return { token, record: this.record(id, token, userId, familyId) };
  }

  private record(id: string, token: string, userId: string, familyId: string): RefreshToken {
    const now = new Date();
    return {
      id,
      userId,
      familyId,
      tokenHash: hashToken(token),
      expiresAt: new Date(now.getTime() + this.refreshTtlSeconds * 1000),
      revokedAt: null,
      replacedBy: null,
      createdAt: now,
    };
  }
}

/** The one token that may replace `presented` under the row id `id`. */
function successorOf(presented: string, id: string): string {
  return createHmac('sha256', presented).update(`govault-refresh-successor:${id}`).digest('base64url');
}

const invalidRefreshToken = () => unauthenticated('Invalid refresh token');

/** Only the sha256 of a refresh token is stored: a database leak yields no usable tokens. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
