import { conflict, normalizeEmail, notFound, validationFailed } from '@govault/lib';
import type { ShareRole } from '../access/access.ts';
import type { FileService } from '../file/file.service.ts';
import type { UserDirectory } from '../users/user-directory.ts';
import { MissingFileError } from '../db-errors.ts';
import type { InvitationClaims } from './invitation-claims.ts';
import { DuplicateInvitationError, type Invitation, type InvitationRepository } from './invitation.repository.ts';
import { DuplicateShareError, type Share, type ShareRepository } from './share.repository.ts';

/**
 * A grant as the owner sees it (ARCHITECTURE.md: shares list items, plus `status`). It
 * shows only what the owner gave: a grant by id has no email, a grant by email the
 * address typed (normalised) and, once claimed, the user id. New grants carry no display
 * name (only rows from before invitations do, see migrations/files/003).
 */
export interface ShareView {
  userId: string | null;
  email: string | null;
  displayName: string | null;
  role: ShareRole;
  createdAt: string;
  status: 'active' | 'pending';
}

export type Grantee = { userId: string } | { email: string };

/** Only the owner shares: every method checks the 'manage' action first. */
export class ShareService {
  constructor(
    private readonly files: FileService,
    private readonly shares: ShareRepository,
    private readonly invitations: InvitationRepository,
    private readonly claims: InvitationClaims,
    private readonly users: UserDirectory,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Active shares and pending invitations, oldest first. */
  async list(userId: string, fileId: string): Promise<ShareView[]> {
    await this.files.access(userId, fileId, { action: 'manage' });
    const [shares, invitations] = await Promise.all([this.shares.listForFile(fileId), this.invitations.listForFile(fileId)]);
    return [...shares.map(shareView), ...invitations.map(invitationView)].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async grant(userId: string, fileId: string, grantee: Grantee, role: ShareRole, requestId?: string): Promise<ShareView> {
    const { file } = await this.files.access(userId, fileId, { action: 'manage', activeOnly: true });
    try {
      return 'userId' in grantee
        ? await this.grantToUser(file.ownerId, fileId, grantee.userId, role, requestId)
        : await this.invite(file.ownerId, fileId, grantee.email, role);
    } catch (err) {
      if (err instanceof DuplicateShareError || err instanceof DuplicateInvitationError) {
        throw conflict(`${err.message}; change its role with PUT`);
      }
      if (err instanceof MissingFileError) throw notFound('file');
      throw err;
    }
  }

  /** `grantee` is a user id (a share) or an email (the invitation, or the share it became). */
  async changeRole(userId: string, fileId: string, grantee: Grantee, role: ShareRole): Promise<ShareView> {
    await this.files.access(userId, fileId, { action: 'manage', activeOnly: true });
    const at = this.now();
    if ('userId' in grantee) return shareView(found(await this.shares.updateRole(fileId, grantee.userId, role, at)));
    const email = normalizeEmail(grantee.email);
    const invitation = await this.invitations.updateRole(fileId, email, role, at);
    if (invitation) return invitationView(invitation);
    return shareView(found(await this.shares.updateRoleByEmail(fileId, email, role, at)));
  }

  async revoke(userId: string, fileId: string, grantee: Grantee): Promise<void> {
    await this.files.access(userId, fileId, { action: 'manage' });
    if ('userId' in grantee) {
      if (!(await this.shares.delete(fileId, grantee.userId))) throw notFound('share');
      return;
    }
    const email = normalizeEmail(grantee.email);
    const [invitation, share] = await Promise.all([this.invitations.delete(fileId, email), this.shares.deleteByEmail(fileId, email)]);
    if (!invitation && !share) throw notFound('share');
  }

  /** Whom the id names is checked with auth; the answer carries nothing auth said. */
  private async grantToUser(ownerId: string, fileId: string, granteeId: string, role: ShareRole, requestId?: string): Promise<ShareView> {
    const user = await this.users.byId(granteeId, requestId);
    if (user.id === ownerId) throw validationFailed('The owner cannot share a file with themselves');
    const now = this.now();
    const share: Share = { fileId, ownerId, userId: user.id, role, email: null, displayName: null, createdAt: now, updatedAt: now };
    await this.shares.insert(share);
    return shareView(share);
  }

  /**
   * Never asks auth: registered or not (the owner's own address included), the answer is
   * the same invitation, and it becomes a share when its user shows up (InvitationClaims).
   */
  private async invite(ownerId: string, fileId: string, rawEmail: string, role: ShareRole): Promise<ShareView> {
    const now = this.now();
    const invitation: Invitation = { fileId, ownerId, email: normalizeEmail(rawEmail), role, createdAt: now, updatedAt: now };
    await this.invitations.insert(invitation);
    this.claims.invited();
    return invitationView(invitation);
  }
}

function found(share: Share | null): Share {
  if (!share) throw notFound('share');
  return share;
}

function shareView(share: Share): ShareView {
  return {
    userId: share.userId,
    email: share.email,
    displayName: share.displayName,
    role: share.role,
    createdAt: share.createdAt.toISOString(),
    status: 'active',
  };
}

function invitationView(invitation: Invitation): ShareView {
  return {
    userId: null,
    email: invitation.email,
    displayName: null,
    role: invitation.role,
    createdAt: invitation.createdAt.toISOString(),
    status: 'pending',
  };
}
