import type { Http } from './http.ts';
import type { TokenPair } from './session.ts';

export interface User {
  id: string;
  email: string;
  displayName: string | null;
  createdAt: string;
}

/** The auth service, through the gateway. */
export class AuthApi {
  constructor(private readonly http: Http) {}

  register(email: string, password: string, displayName?: string): Promise<User> {
    return this.http.json('POST', '/api/auth/register', { auth: false, body: { email, password, ...(displayName ? { displayName } : {}) } });
  }

  login(email: string, password: string): Promise<TokenPair> {
    return this.http.json('POST', '/api/auth/login', { auth: false, body: { email, password } });
  }

  refresh(refreshToken: string): Promise<TokenPair> {
    return this.http.json('POST', '/api/auth/refresh', { auth: false, body: { refreshToken } });
  }

  /** Revokes every refresh token of the user. */
  logout(): Promise<void> {
    return this.http.json('POST', '/api/auth/logout');
  }

  me(): Promise<User> {
    return this.http.json('GET', '/api/auth/me');
  }
}
