import { createContext, type ComponentChildren } from 'preact';
import { useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { plainMessage } from '../api/errors.ts';

type Notice = { kind: 'info'; text: string } | { kind: 'error'; text: string } | { kind: 'link'; text: string; url: string };

export interface Notices {
  info(text: string): void;
  error(error: unknown): void;
  /** The clipboard was refused: show the link to copy by hand. */
  link(text: string, url: string): void;
  clear(): void;
}

const NoticesContext = createContext<Notices | undefined>(undefined);
const CurrentNotice = createContext<Notice | undefined>(undefined);

/** One notice at a time for the signed-in screens: the outcome of the last action. */
export function NoticesProvider({ children }: { children: ComponentChildren }) {
  const [notice, setNotice] = useState<Notice | undefined>(undefined);
  const notices = useMemo<Notices>(
    () => ({
      info: (text) => setNotice({ kind: 'info', text }),
      error: (error) => setNotice({ kind: 'error', text: plainMessage(error) }),
      link: (text, url) => setNotice({ kind: 'link', text, url }),
      clear: () => setNotice(undefined),
    }),
    [],
  );
  return (
    <NoticesContext.Provider value={notices}>
      <CurrentNotice.Provider value={notice}>{children}</CurrentNotice.Provider>
    </NoticesContext.Provider>
  );
}

export function useNotices(): Notices {
  const notices = useContext(NoticesContext);
  if (!notices) throw new Error('useNotices outside <NoticesProvider>');
  return notices;
}

/**
 * The live regions exist before any message, so that screen readers announce what
 * appears in them; each shows only while it has something to say.
 */
export function NoticeArea() {
  const notice = useContext(CurrentNotice);
  const { clear } = useNotices();
  const dismiss = notice && (
    <button type="button" class="quiet" onClick={clear}>
      Dismiss
    </button>
  );
  return (
    <div class="notices">
      <div role="alert" class={notice?.kind === 'error' ? 'notice notice-error' : 'notice-empty'}>
        {notice?.kind === 'error' && (
          <>
            <span>{notice.text}</span>
            {dismiss}
          </>
        )}
      </div>
      <div role="status" class={notice && notice.kind !== 'error' ? 'notice notice-info' : 'notice-empty'}>
        {notice?.kind === 'info' && (
          <>
            <span>{notice.text}</span>
            {dismiss}
          </>
        )}
        {notice?.kind === 'link' && (
          <>
            <LinkToCopy text={notice.text} url={notice.url} />
            {dismiss}
          </>
        )}
      </div>
    </div>
  );
}

/** Focused and selected at once, so that Ctrl+C (or a long press) copies it. */
function LinkToCopy({ text, url }: { text: string; url: string }) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    ref.current?.focus();
    ref.current?.select();
  }, [url]);
  return (
    <label class="link-fallback">
      <span>{text}</span>
      <input ref={ref} type="text" readOnly value={url} onFocus={(e) => e.currentTarget.select()} />
    </label>
  );
}
