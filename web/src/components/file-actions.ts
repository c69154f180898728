import type { FileItem, View } from '../api/files-api.ts';

export type FileAction =
  | 'download'
  | 'rename'
  | 'share'
  | 'makePublic'
  | 'makePrivate'
  | 'copyLink'
  | 'addShortcut'
  | 'removeShortcut'
  | 'trash'
  | 'restore'
  | 'deleteForever';

/** The accessible names of ARCHITECTURE.md "Web app": exact, since the row already names the file. */
export const ACTION_LABELS: Record<FileAction, string> = {
  download: 'Download',
  rename: 'Rename',
  share: 'Share',
  makePublic: 'Make public',
  makePrivate: 'Make private',
  copyLink: 'Copy public link',
  addShortcut: 'Add shortcut',
  removeShortcut: 'Remove shortcut',
  trash: 'Move to trash',
  restore: 'Restore',
  deleteForever: 'Delete forever',
};

/**
 * What the caller may do with a file in a view, by role (access.ts on the server):
 * owner everything; editor read and rename; viewer and public read. Trash holds only the
 * owner's own files, and there only restoring or deleting makes sense.
 */
export function actionsFor(file: FileItem, view: View, shortcutId: string | undefined): FileAction[] {
  if (view === 'trash') return file.role === 'owner' ? ['restore', 'deleteForever'] : [];
  const owner = file.role === 'owner';
  const actions: FileAction[] = ['download'];
  if (owner || file.role === 'editor') actions.push('rename');
  if (owner) {
    actions.push('share', file.visibility === 'public' ? 'makePrivate' : 'makePublic');
    if (file.visibility === 'public') actions.push('copyLink');
  }
  actions.push(shortcutId ? 'removeShortcut' : 'addShortcut');
  if (owner) actions.push('trash');
  return actions;
}
