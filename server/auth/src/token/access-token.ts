import jwt from 'jsonwebtoken';
import { SIGNING_ALGORITHM, type SigningKeyRing } from './signing-keys.ts';

export const ACCESS_TOKEN_ISSUER = 'govault-auth';
export const ACCESS_TOKEN_AUDIENCE = 'govault-api';

export interface AccessTokenSigner {
  readonly ttlSeconds: number;
  sign(userId: string): string;
}

/** ES256 JWTs the gateway verifies against /api/auth/jwks.json. */
export class JwtAccessTokenSigner implements AccessTokenSigner {
  constructor(
    private readonly keys: SigningKeyRing,
    readonly ttlSeconds: number,
  ) {}

  sign(userId: string): string {
    const key = this.keys.current;
    return jwt.sign({ typ: 'access' }, key.privateKey, {
      algorithm: SIGNING_ALGORITHM,
      keyid: key.kid,
      issuer: ACCESS_TOKEN_ISSUER,
      audience: ACCESS_TOKEN_AUDIENCE,
      subject: userId,
      expiresIn: this.ttlSeconds,
    });
  }
}
