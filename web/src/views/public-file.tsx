import { useEffect, useState } from 'preact/hooks';
import { Link } from 'wouter-preact';
import { ApiError, plainMessage } from '../api/errors.ts';
import type { PublicFile } from '../api/files-api.ts';
import { useApi } from '../api-context.ts';
import { useDocumentTitle } from '../components/document-title.ts';
import { StatusMessage } from '../components/status-message.tsx';
import { formatBytes, formatDate } from '../format.ts';

type State = { kind: 'loading' } | { kind: 'found'; file: PublicFile } | { kind: 'notFound' } | { kind: 'failed'; error: unknown };

/**
 * A public file, signed in or not. Private, trashed and unknown files are one and the
 * same "not found", as the API answers them.
 */
export function PublicFileView({ fileId }: { fileId: string }) {
  const api = useApi();
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [attempt, setAttempt] = useState(0);
  useDocumentTitle(state.kind === 'found' ? state.file.name : state.kind === 'notFound' ? 'File not found' : undefined);

  useEffect(() => {
    let current = true;
    setState({ kind: 'loading' });
    api.files.publicFile(fileId).then(
      (file) => current && setState({ kind: 'found', file }),
      (error: unknown) => current && setState(isNotFound(error) ? { kind: 'notFound' } : { kind: 'failed', error }),
    );
    return () => {
      current = false;
    };
  }, [fileId, attempt]);

  return (
    <main class="public-page">
      <p class="brand">
        <Link href="/">GoVault</Link>
      </p>
      {state.kind === 'loading' && <p role="status">Loading…</p>}
      {state.kind === 'found' && <FoundFile file={state.file} href={api.files.publicContentUrl(state.file.id)} />}
      {state.kind === 'notFound' && <NotFound />}
      {state.kind === 'failed' && (
        <>
          <h1>This file could not be loaded</h1>
          <StatusMessage kind="error">{plainMessage(state.error)}</StatusMessage>
          <button type="button" onClick={() => setAttempt((n) => n + 1)}>
            Try again
          </button>
        </>
      )}
    </main>
  );
}

function FoundFile({ file, href }: { file: PublicFile; href: string }) {
  return (
    <article class="public-file">
      <h1 class="public-name">{file.name}</h1>
      <dl class="facts">
        <dt>Size</dt>
        <dd>{formatBytes(file.size)}</dd>
        <dt>Type</dt>
        <dd>{file.contentType || 'Unknown'}</dd>
        <dt>Added</dt>
        <dd>
          <time dateTime={file.createdAt}>{formatDate(file.createdAt)}</time>
        </dd>
      </dl>
      <a class="button primary" href={href} download={file.name}>
        Download
      </a>
    </article>
  );
}

function NotFound() {
  return (
    <>
      <h1>File not found</h1>
      <p>This link does not lead to a public file. It may have been made private or deleted, or the address is mistyped.</p>
    </>
  );
}

// A malformed id is refused as invalid before the lookup: to a visitor it is the same dead link.
const isNotFound = (error: unknown) => error instanceof ApiError && (error.status === 404 || error.status === 400);
