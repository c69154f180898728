import { createHash, randomBytes, randomUUID } from 'node:crypto';
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
 */
export class SessionService {
  constructor(
    private readonly users: UserService,
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly accessTokens: AccessTokenSigner,
    private readonly refreshTtlSeconds: number,
    private readonly throttle: LoginThrottle,
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
    if (current.revokedAt) return this.reused(current);
    const { token, record } = this.newRefreshToken(current.userId, current.familyId);
    if (!(await this.refreshTokens.rotate(current.id, record))) return this.reused(current);
    return this.pair(current.userId, token);
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
    const token = randomBytes(32).toString('base64url');
    const now = new Date();
    const record: RefreshToken = {
      id: randomUUID(),
      userId,
      familyId,
      tokenHash: hashToken(token),
      expiresAt: new Date(now.getTime() + this.refreshTtlSeconds * 1000),
      revokedAt: null,
      replacedBy: null,
      createdAt: now,
    };
    return { token, record };
  }
}

const invalidRefreshToken = () => unauthenticated('Invalid refresh token');

/** Only the sha256 of a refresh token is stored: a database leak yields no usable tokens. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
