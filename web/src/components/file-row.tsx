import { useEffect, useRef } from 'preact/hooks';
import type { FileItem, Role, View } from '../api/files-api.ts';
import { formatBytes, formatDate } from '../format.ts';
import { ACTION_LABELS, actionsFor, type FileAction } from './file-actions.ts';
import { passFocusOn } from './keep-focus.ts';

const ROLE_LABELS: Record<Role, string> = { owner: 'Owner', editor: 'Editor', viewer: 'Viewer', public: 'Public link' };

export interface FileRowProps {
  file: FileItem;
  view: View;
  /** The caller's shortcut to this file, when known (view=shortcuts, or one added here). */
  shortcutId: string | undefined;
  showRole: boolean;
  busy: boolean;
  onAction: (action: FileAction, file: FileItem) => void;
  /** Where the focus goes when the last row goes. */
  headingId: string;
}

/** One file: its name, size, date, role, and the actions its role allows. */
export function FileRow({ file, view, shortcutId, showRole, busy, onAction, headingId }: FileRowProps) {
  const row = useRef<HTMLTableRowElement>(null);
  useEffect(() => () => passFocusOn(row.current, headingId), [headingId]);
  const date = view === 'trash' && file.deletedAt ? file.deletedAt : file.createdAt;
  const shortcutName = file.shortcut && file.shortcut.name !== file.name ? file.shortcut.name : undefined;
  return (
    <tr ref={row} class="file-row" aria-busy={busy}>
      <th scope="row" class="file-name">
        <span class="name-text">{file.name}</span>
        {shortcutName && <span class="aside"> (shortcut “{shortcutName}”)</span>}
        {file.visibility === 'public' && view !== 'trash' && <span class="badge">Public</span>}
      </th>
      <td class="file-size">{formatBytes(file.size)}</td>
      <td class="file-date">
        <time dateTime={date}>{formatDate(date)}</time>
      </td>
      {showRole && <td class="file-role">{ROLE_LABELS[file.role]}</td>}
      <td class="file-actions">
        <div class="actions">
          {actionsFor(file, view, shortcutId).map((action) => (
            <button
              key={slotOf(action)}
              type="button"
              class={action === 'deleteForever' || action === 'trash' ? 'danger' : undefined}
              aria-disabled={busy}
              onClick={() => busy || onAction(action, file)}
            >
              {ACTION_LABELS[action]}
            </button>
          ))}
        </div>
      </td>
    </tr>
  );
}

/** A toggle keeps its button (and so the keyboard focus) when its label flips. */
function slotOf(action: FileAction): string {
  if (action === 'makePublic' || action === 'makePrivate') return 'visibility';
  if (action === 'addShortcut' || action === 'removeShortcut') return 'shortcut';
  return action;
}
