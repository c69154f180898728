import { conflict, forbidden, notFound } from '@govault/lib';
import type { FileRecord } from '../file/file.entity.ts';

export type ShareRole = 'viewer' | 'editor';
export type Role = 'owner' | ShareRole | 'public';

/** What a caller wants to do with a file; each role may do some of it. */
export type Action = 'read' | 'rename' | 'manage';

const allowed: Record<Role, readonly Action[]> = {
  owner: ['read', 'rename', 'manage'],
  editor: ['read', 'rename'],
  viewer: ['read'],
  public: ['read'],
};

/**
 * The caller's role on a file, or null when the caller may not know it exists. The owner
 * sees the file in any state; everyone else loses it while it is in the trash.
 */
export function roleOf(file: FileRecord, userId: string | undefined, shareRole: ShareRole | null): Role | null {
  if (userId !== undefined && file.ownerId === userId) return 'owner';
  if (file.deletedAt) return null;
  if (shareRole) return shareRole;
  return file.visibility === 'public' ? 'public' : null;
}

export interface AccessRule {
  action: Action;
  /** Changes that make no sense in the trash (rename, share, shortcut) get 409 there. */
  activeOnly?: boolean;
}

/**
 * 404 when the caller may not see the file (its existence stays secret, ARCHITECTURE.md),
 * 403 when they see it but their role does not allow the action, 409 for a change to a
 * trashed file.
 */
export function authorize(file: FileRecord | null, role: Role | null, rule: AccessRule): asserts role is Role {
  if (!file || !role) throw notFound('file');
  if (!allowed[role].includes(rule.action)) throw forbidden(`A ${role} may not do this`);
  if (rule.activeOnly && file.deletedAt) throw conflict('The file is in the trash; restore it first');
}
