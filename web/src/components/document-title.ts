import { useEffect } from 'preact/hooks';

/** Each screen names the tab (and what a screen reader announces on navigation). */
export function useDocumentTitle(title: string | undefined): void {
  useEffect(() => {
    document.title = title ? `${title} – GoVault` : 'GoVault';
  }, [title]);
}
