import { useState } from 'preact/hooks';
import type { FileItem, View } from '../api/files-api.ts';
import { plainMessage } from '../api/errors.ts';
import { useApi } from '../api-context.ts';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { useDocumentTitle } from '../components/document-title.ts';
import { FileTable } from '../components/file-table.tsx';
import { useNotices } from '../components/notices.tsx';
import { RenameDialog } from '../components/rename-dialog.tsx';
import { SearchBox } from '../components/search-box.tsx';
import { ShareDialog } from '../components/share-dialog.tsx';
import { StatusMessage } from '../components/status-message.tsx';
import { UploadPanel } from '../upload/upload-panel.tsx';
import { useFileCommands } from './use-file-commands.ts';
import { useFileList } from './use-file-list.ts';

const TITLES: Record<View, string> = { owned: 'My files', shared: 'Shared with me', shortcuts: 'Shortcuts', trash: 'Trash' };

const EMPTY: Record<View, string> = {
  owned: 'No files yet. Upload one above and it appears here.',
  shared: 'Nothing is shared with you yet. When someone shares a file with your email address, it appears here.',
  shortcuts: 'No shortcuts yet. Choose “Add shortcut” on any file you can see to keep it here.',
  trash: 'The trash is empty. Files you move to the trash wait here until you restore them or delete them forever.',
};

/** One of the four file views: search, the list page by page, and each file's actions. */
export function FilesView({ view }: { view: View }) {
  const api = useApi();
  const notices = useNotices();
  const [query, setQuery] = useState('');
  const list = useFileList(view, query);
  const commands = useFileCommands(view, list);
  useDocumentTitle(TITLES[view]);

  const showUploaded = (fileId: string) =>
    api.files.get(fileId).then(list.prepend, (err: unknown) => notices.error(err));

  return (
    <section class="files-view" aria-labelledby="view-title">
      <h1 id="view-title" tabIndex={-1}>
        {TITLES[view]}
      </h1>
      {view === 'owned' && <UploadPanel onFileUploaded={showUploaded} />}
      <SearchBox onSearch={setQuery} />
      <FileListBody view={view} query={query} list={list} commands={commands} />
      <OpenDialog commands={commands} />
    </section>
  );
}

interface BodyProps {
  view: View;
  query: string;
  list: ReturnType<typeof useFileList>;
  commands: ReturnType<typeof useFileCommands>;
}

function FileListBody({ view, query, list, commands }: BodyProps) {
  if (list.loading && list.files.length === 0) return <p role="status" class="placeholder">Loading files…</p>;
  if (list.error && list.files.length === 0) return <LoadFailed error={list.error} onRetry={list.retry} />;
  if (list.files.length === 0) {
    return <p class="placeholder empty">{query ? `No files match “${query}”. Try another part of the name.` : EMPTY[view]}</p>;
  }
  return (
    <>
      <FileTable
        caption={query ? `${TITLES[view]} matching “${query}”` : TITLES[view]}
        files={list.files}
        view={view}
        shortcutIds={commands.shortcutIds}
        busyIds={commands.busyIds}
        onAction={commands.onAction}
        headingId="view-title"
      />
      {list.error !== undefined && <LoadFailed error={list.error} onRetry={list.retry} />}
      {list.hasMore && (
        <div class="load-more">
          <button type="button" aria-disabled={list.loading || list.loadingMore} onClick={list.loadMore}>
            {list.loadingMore ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
    </>
  );
}

function LoadFailed({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  return (
    <div class="load-failed">
      <StatusMessage kind="error">The files could not be loaded. {plainMessage(error)}</StatusMessage>
      <button type="button" onClick={onRetry}>
        Try again
      </button>
    </div>
  );
}

function OpenDialog({ commands }: { commands: ReturnType<typeof useFileCommands> }) {
  const { dialog, closeDialog } = commands;
  if (!dialog) return null;
  const file: FileItem = dialog.file;
  switch (dialog.kind) {
    case 'rename':
      return <RenameDialog name={file.name} onRename={(name) => commands.rename(file, name)} onClose={closeDialog} />;
    case 'share':
      return <ShareDialog file={file} onClose={closeDialog} />;
    case 'deleteForever':
      return (
        <ConfirmDialog
          title={`Delete ${file.name} forever?`}
          confirmLabel="Delete forever"
          onConfirm={() => commands.deleteForever(file)}
          onClose={closeDialog}
        >
          <p>The file and its bytes are removed for good. People it was shared with lose it too. This cannot be undone.</p>
        </ConfirmDialog>
      );
  }
}
