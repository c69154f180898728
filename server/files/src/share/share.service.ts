import { conflict, notFound, validationFailed } from '@govault/lib';
import type { ShareRole } from '../access/access.ts';
import type { FileService } from '../file/file.service.ts';
import type { UserDirectory } from '../users/user-directory.ts';
import { MissingFileError } from '../db-errors.ts';
import { DuplicateShareError, type Share, type ShareRepository } from './share.repository.ts';

/** A share as clients see it (ARCHITECTURE.md: shares list items). */
export interface ShareView {
  userId: string;
  email: string;
  displayName: string | null;
  role: ShareRole;
  createdAt: string;
}

export type Grantee = { userId: string } | { email: string };

/** Only the owner shares: every method checks the 'manage' action first. */
export class ShareService {
  constructor(
    private readonly files: FileService,
    private readonly shares: ShareRepository,
    private readonly users: UserDirectory,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async list(userId: string, fileId: string): Promise<ShareView[]> {
    await this.files.access(userId, fileId, { action: 'manage' });
    return (await this.shares.listForFile(fileId)).map(toView);
  }

  async grant(userId: string, fileId: string, grantee: Grantee, role: ShareRole, requestId?: string): Promise<ShareView> {
    const { file } = await this.files.access(userId, fileId, { action: 'manage', activeOnly: true });
    const user = 'userId' in grantee ? await this.users.byId(grantee.userId, requestId) : await this.users.byEmail(grantee.email, requestId);
    if (user.id === file.ownerId) throw validationFailed('The owner cannot share a file with themselves');
    const now = this.now();
    const share: Share = { fileId, ownerId: file.ownerId, userId: user.id, role, email: user.email, displayName: user.displayName, createdAt: now, updatedAt: now };
    try {
      await this.shares.insert(share);
    } catch (err) {
      if (err instanceof DuplicateShareError) throw conflict(`${err.message}; change its role with PUT`);
      if (err instanceof MissingFileError) throw notFound('file');
      throw err;
    }
    return toView(share);
  }

  async changeRole(userId: string, fileId: string, granteeId: string, role: ShareRole): Promise<ShareView> {
    await this.files.access(userId, fileId, { action: 'manage', activeOnly: true });
    const share = await this.shares.updateRole(fileId, granteeId, role, this.now());
    if (!share) throw notFound('share');
    return toView(share);
  }

  async revoke(userId: string, fileId: string, granteeId: string): Promise<void> {
    await this.files.access(userId, fileId, { action: 'manage' });
    if (!(await this.shares.delete(fileId, granteeId))) throw notFound('share');
  }
}

function toView(share: Share): ShareView {
  return {
    userId: share.userId,
    email: share.email,
    displayName: share.displayName,
    role: share.role,
    createdAt: share.createdAt.toISOString(),
  };
}
