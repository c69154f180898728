import type { ServiceClient } from '@govault/lib';

/** A GoVault user as the auth service describes them. */
export interface DirectoryUser {
  id: string;
  email: string;
  displayName: string | null;
}

/** Who a share is granted to: looked up by id or by email. Unknown users are a 404 AppError. */
export interface UserDirectory {
  byId(id: string, requestId?: string): Promise<DirectoryUser>;
  byEmail(email: string, requestId?: string): Promise<DirectoryUser>;
}

/**
 * The auth service's internal lookups, through a ServiceClient: an internal token signed
 * by files, a timeout, and a circuit breaker (an unreachable auth becomes 503).
 */
export class AuthUserDirectory implements UserDirectory {
  constructor(private readonly auth: ServiceClient) {}

  byId(id: string, requestId?: string): Promise<DirectoryUser> {
    return this.auth.call<DirectoryUser>('GET', `/internal/users/${encodeURIComponent(id)}`, { requestId });
  }

  byEmail(email: string, requestId?: string): Promise<DirectoryUser> {
    return this.auth.call<DirectoryUser>('GET', `/internal/users?email=${encodeURIComponent(email)}`, { requestId });
  }
}
