import type { FileItem, View } from '../api/files-api.ts';
import type { FileAction } from './file-actions.ts';
import { FileRow } from './file-row.tsx';

export interface FileTableProps {
  caption: string;
  files: FileItem[];
  view: View;
  shortcutIds: ReadonlyMap<string, string>;
  busyIds: ReadonlySet<string>;
  onAction: (action: FileAction, file: FileItem) => void;
  headingId: string;
}

/** The files of a view, newest first as the API lists them. On narrow screens each row wraps into a card. */
export function FileTable({ caption, files, view, shortcutIds, busyIds, onAction, headingId }: FileTableProps) {
  const showRole = view === 'shared' || view === 'shortcuts';
  return (
    <table class="files">
      <caption class="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Size</th>
          <th scope="col">{view === 'trash' ? 'Trashed' : 'Added'}</th>
          {showRole && <th scope="col">Your role</th>}
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {files.map((file) => (
          <FileRow
            key={file.id}
            file={file}
            view={view}
            shortcutId={file.shortcut?.id ?? shortcutIds.get(file.id)}
            showRole={showRole}
            busy={busyIds.has(file.id)}
            onAction={onAction}
            headingId={headingId}
          />
        ))}
      </tbody>
    </table>
  );
}
