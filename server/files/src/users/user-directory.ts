import type { ServiceClient } from '@govault/lib';

/** A GoVault user as the auth service describes them. */
export interface DirectoryUser {
  id: string;
  email: string;
  displayName: string | null;
}

/**
 * Users by id: whether a grant by id names a real user, and the address an invitee's
 * invitations are claimed for. Unknown users are a 404 AppError. There is no lookup by
 * email: a grant by email must not learn whether the address is registered.
 */
export interface UserDirectory {
  byId(id: string, requestId?: string): Promise<DirectoryUser>;
}

/**
 * The auth service's internal lookup, through a ServiceClient: an internal token signed
 * by files, a timeout, and a circuit breaker (an unreachable auth becomes 503).
 */
export class AuthUserDirectory implements UserDirectory {
  constructor(private readonly auth: ServiceClient) {}

  byId(id: string, requestId?: string): Promise<DirectoryUser> {
    return this.auth.call<DirectoryUser>('GET', `/internal/users/${encodeURIComponent(id)}`, { requestId });
  }
}
