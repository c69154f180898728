import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { FileItem, View } from '../api/files-api.ts';
import { useApi } from '../api-context.ts';

export const PAGE_SIZE = 50;

export interface FileList {
  files: FileItem[];
  /** Loading the first page (for a new view or query). */
  loading: boolean;
  loadingMore: boolean;
  error: unknown;
  hasMore: boolean;
  loadMore(): void;
  retry(): void;
  /** Local changes after an action, so the list needs no reload. */
  replace(file: FileItem): void;
  remove(id: string): void;
  prepend(file: FileItem): void;
}

/**
 * A view's files, page by page (keyset: the server's nextCursor). A newer query wins:
 * an answer that arrives for an older one is dropped.
 */
export function useFileList(view: View, query: string): FileList {
  const api = useApi();
  const [files, setFiles] = useState<FileItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const generation = useRef(0);
  const lastRequest = useRef<string | null>(null);

  const fetchPage = useCallback(
    async (after: string | null) => {
      const current = ++generation.current;
      lastRequest.current = after;
      setError(undefined);
      after ? setLoadingMore(true) : setLoading(true);
      try {
        const page = await api.files.list({ view, q: query || undefined, cursor: after ?? undefined, limit: PAGE_SIZE });
        if (current !== generation.current) return;
        setFiles((shown) => (after ? appendNew(shown, page.items) : page.items));
        setCursor(page.nextCursor);
      } catch (err) {
        if (current === generation.current) setError(err);
      } finally {
        if (current === generation.current) {
          setLoading(false);
          setLoadingMore(false);
        }
      }
    },
    [api, view, query],
  );

  useEffect(() => void fetchPage(null), [fetchPage]);

  return {
    files,
    loading,
    loadingMore,
    error,
    hasMore: cursor !== null,
    // Not while a new query's first page loads: its answer would be dropped for an older query's next page.
    loadMore: () => void (cursor && !loading && !loadingMore && fetchPage(cursor)),
    retry: () => void fetchPage(lastRequest.current),
    replace: (file) => setFiles((shown) => shown.map((f) => (f.id === file.id ? { ...f, ...file } : f))),
    remove: (id) => setFiles((shown) => shown.filter((f) => f.id !== id)),
    prepend: (file) => setFiles((shown) => [file, ...shown.filter((f) => f.id !== file.id)]),
  };
}

/** A file shown at the top after an upload may come again in a later page: show it once. */
function appendNew(shown: FileItem[], page: FileItem[]): FileItem[] {
  const ids = new Set(shown.map((f) => f.id));
  return [...shown, ...page.filter((f) => !ids.has(f.id))];
}
