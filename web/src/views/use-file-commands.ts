import { useState } from 'preact/hooks';
import { ApiError } from '../api/errors.ts';
import type { FileItem, View } from '../api/files-api.ts';
import { useApi } from '../api-context.ts';
import type { FileAction } from '../components/file-actions.ts';
import { useNotices } from '../components/notices.tsx';
import { saveFile } from '../components/save-file.ts';
import type { FileList } from './use-file-list.ts';

/** An action that asks first: the screen shows its dialog. */
export type OpenDialog = { kind: 'rename' | 'share' | 'deleteForever'; file: FileItem } | undefined;

export function publicLink(id: string): string {
  return `${location.origin}/p/${encodeURIComponent(id)}`;
}

/**
 * What each row action does: the API call, then the list updated in place and one notice
 * saying what happened (or why not).
 */
export function useFileCommands(view: View, list: FileList) {
  const api = useApi();
  const notices = useNotices();
  const [dialog, setDialog] = useState<OpenDialog>(undefined);
  const [busyIds, setBusyIds] = useState<ReadonlySet<string>>(new Set());
  // Shortcuts added from this screen, so their row offers "Remove shortcut" at once.
  const [shortcutIds, setShortcutIds] = useState<ReadonlyMap<string, string>>(new Map());

  const busy = async (file: FileItem, work: () => Promise<void>) => {
    setBusyIds((ids) => new Set(ids).add(file.id));
    notices.clear();
    try {
      await work();
    } catch (err) {
      notices.error(err);
    } finally {
      setBusyIds((ids) => withoutId(ids, file.id));
    }
  };

  const shortcutOf = (file: FileItem) => file.shortcut?.id ?? shortcutIds.get(file.id);

  const run: Record<FileAction, (file: FileItem) => void> = {
    download: (file) =>
      busy(file, async () => {
        notices.info(`Downloading ${file.name}…`);
        saveFile(await api.files.content(file.id), file.name);
        notices.info(`Downloaded ${file.name}.`);
      }),
    rename: (file) => setDialog({ kind: 'rename', file }),
    share: (file) => setDialog({ kind: 'share', file }),
    deleteForever: (file) => setDialog({ kind: 'deleteForever', file }),
    makePublic: (file) =>
      busy(file, async () => {
        list.replace(await api.files.setVisibility(file.id, 'public'));
        notices.info(`${file.name} is public: anyone with its link can download it.`);
      }),
    makePrivate: (file) =>
      busy(file, async () => {
        list.replace(await api.files.setVisibility(file.id, 'private'));
        notices.info(`${file.name} is private again. Its public link no longer works.`);
      }),
    copyLink: (file) =>
      busy(file, async () => {
        const url = publicLink(file.id);
        try {
          await navigator.clipboard.writeText(url);
          notices.info(`Copied the public link of ${file.name}.`);
        } catch {
          notices.link(`Copy the public link of ${file.name}:`, url);
        }
      }),
    addShortcut: (file) =>
      busy(file, async () => {
        const remember = (id: string | undefined) => id && setShortcutIds((ids) => new Map(ids).set(file.id, id));
        try {
          remember((await api.files.addShortcut(file.id)).shortcut.id);
          notices.info(`Added a shortcut to ${file.name}. Find it under Shortcuts.`);
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 409)) throw err;
          remember(await api.files.findShortcut(file.id, file.name).catch(() => undefined));
          notices.info(`${file.name} is already in your shortcuts.`);
        }
      }),
    removeShortcut: (file) =>
      busy(file, async () => {
        const id = shortcutOf(file);
        if (!id) return;
        await api.files.removeShortcut(id);
        setShortcutIds((ids) => withoutKey(ids, file.id));
        if (view === 'shortcuts') list.remove(file.id);
        notices.info(`Removed the shortcut to ${file.name}.`);
      }),
    trash: (file) =>
      busy(file, async () => {
        await api.files.trash(file.id);
        list.remove(file.id);
        notices.info(`Moved ${file.name} to the trash.`);
      }),
    restore: (file) =>
      busy(file, async () => {
        await api.files.restore(file.id);
        list.remove(file.id);
        notices.info(`Restored ${file.name} to My files.`);
      }),
  };

  return {
    dialog,
    closeDialog: () => setDialog(undefined),
    busyIds,
    shortcutIds,
    onAction: (action: FileAction, file: FileItem) => run[action](file),
    rename: async (file: FileItem, name: string) => {
      const renamed = await api.files.rename(file.id, name);
      list.replace(renamed);
      setDialog(undefined);
      notices.info(`Renamed ${file.name} to ${renamed.name}.`);
    },
    deleteForever: async (file: FileItem) => {
      await api.files.deleteForever(file.id);
      // The dialog closes first and gives the focus back to the row, which then passes it on as it goes.
      setDialog(undefined);
      setTimeout(() => list.remove(file.id));
      notices.info(`Deleted ${file.name} forever.`);
    },
  };
}

function withoutId(ids: ReadonlySet<string>, id: string): ReadonlySet<string> {
  const copy = new Set(ids);
  copy.delete(id);
  return copy;
}

function withoutKey(map: ReadonlyMap<string, string>, key: string): ReadonlyMap<string, string> {
  const copy = new Map(map);
  copy.delete(key);
  return copy;
}
