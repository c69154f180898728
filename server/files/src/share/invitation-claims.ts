import { AppError, normalizeEmail, type Logger } from '@govault/lib';
import type { UserDirectory } from '../users/user-directory.ts';
import type { InvitationRepository } from './invitation.repository.ts';

export interface InvitationClaimSettings {
  /** How long "no invitation waits anywhere" is believed before the database is asked again. */
  pendingCheckMs: number;
  /** How long a user's address, as auth reported it, is reused. */
  emailTtlMs: number;
  maxCachedUsers: number;
}

export const DEFAULT_CLAIM_SETTINGS: InvitationClaimSettings = { pendingCheckMs: 2_000, emailTtlMs: 60_000, maxCachedUsers: 10_000 };

/**
 * Invitations become shares when their invitee shows up: a user who calls the files
 * service (a list, or a file by id) claims the invitations for their address first. The
 * address comes from auth (GET /internal/users/:id), only while some invitation waits,
 * so that requests cost nothing extra when none does; the grant itself never asks auth,
 * so its answer cannot tell whether the address is registered.
 */
export class InvitationClaims {
  private pending = { value: true, until: 0 };
  private pendingCheck: Promise<boolean> | null = null;
  private readonly emails = new Map<string, { email: string | null; until: number }>();

  constructor(
    private readonly invitations: InvitationRepository,
    private readonly users: UserDirectory,
    private readonly logger: Logger,
    private readonly settings: InvitationClaimSettings = DEFAULT_CLAIM_SETTINGS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A grant by email on this instance: the next request checks for claims at once. */
  invited(): void {
    this.pending = { value: true, until: this.now().getTime() + this.settings.pendingCheckMs };
  }

  /** Never fails the request it runs in: a claim that cannot run now is retried by the next one. */
  async claimFor(userId: string, requestId?: string): Promise<void> {
    try {
      if (!(await this.anyPending())) return;
      const email = await this.emailOf(userId, requestId);
      if (email) await this.invitations.claim(email, userId, this.now());
    } catch (err) {
      this.logger.warn({ err, userId, requestId }, 'invitations not claimed; the next request tries again');
    }
  }

  private anyPending(): Promise<boolean> {
    if (this.now().getTime() < this.pending.until) return Promise.resolve(this.pending.value);
    this.pendingCheck ??= this.invitations
      .anyPending()
      .then((value) => {
        this.pending = { value, until: this.now().getTime() + this.settings.pendingCheckMs };
        return value;
      })
      .finally(() => {
        this.pendingCheck = null;
      });
    return this.pendingCheck;
  }

  private async emailOf(userId: string, requestId?: string): Promise<string | null> {
    const cached = this.emails.get(userId);
    if (cached && this.now().getTime() < cached.until) return cached.email;
    let email: string | null;
    try {
      email = normalizeEmail((await this.users.byId(userId, requestId)).email);
    } catch (err) {
      if (!(err instanceof AppError && err.status === 404)) throw err;
      email = null; // no such user (any more): nothing to claim
    }
    this.remember(userId, email);
    return email;
  }

  private remember(userId: string, email: string | null): void {
    this.emails.delete(userId);
    if (this.emails.size >= this.settings.maxCachedUsers) {
      const oldest = this.emails.keys().next().value;
      if (oldest !== undefined) this.emails.delete(oldest);
    }
    this.emails.set(userId, { email, until: this.now().getTime() + this.settings.emailTtlMs });
  }
}
