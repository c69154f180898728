import '../upload/unfinished-uploads.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { plainMessage } from '../api/errors.ts';
import type { UnfinishedUpload } from '../api/uploads-api.ts';
import { useApi } from '../api-context.ts';
import { formatBytes, formatDate } from '../format.ts';
import { mismatch, resumeUpload, resumingUpload, type ResumeProgress } from '../upload/resume-upload.ts';

const MODE_NAMES = { tus: 'Resumable (tus)', direct: 'Direct (S3 multipart)' } as const;

type Load = { state: 'loading' } | { state: 'failed'; message: string } | { state: 'ready'; items: UnfinishedUpload[] };

/** The caller's uploads that stopped before they finished: resume one with the same file (on any device), or abort it. */
export function UnfinishedUploadsView() {
  const api = useApi();
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [notice, setNotice] = useState<string>();

  const refresh = () =>
    api.uploads.unfinished().then(
      ({ items }) => setLoad({ state: 'ready', items }),
      (error) => setLoad({ state: 'failed', message: plainMessage(error) }),
    );
  useEffect(() => void refresh(), [api]);

  const drop = (id: string) => setLoad((current) => (current.state === 'ready' ? { state: 'ready', items: current.items.filter((item) => item.id !== id) } : current));

  return (
    <section class="unfinished-uploads">
      <h1>Unfinished uploads</h1>
      <p role="status" class="unfinished-notice">{notice}</p>
      {load.state === 'loading' && <p>Loading…</p>}
      {load.state === 'failed' && (
        <p role="alert">
          Could not load your unfinished uploads. {load.message}{' '}
          <button type="button" onClick={() => void refresh()}>Try again</button>
        </p>
      )}
      {load.state === 'ready' && load.items.length === 0 && (
        <p>No unfinished uploads. An upload that stops before it ends (a closed page, a lost connection) shows here, and you can resume it from any device.</p>
      )}
      {load.state === 'ready' && load.items.length > 0 && (
        <table>
          <caption>Pick the same file again to continue where the server stopped.</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Stored</th>
              <th scope="col">Mode</th>
              <th scope="col">Last activity</th>
              <th scope="col">Expires</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {load.items.map((upload) => (
              <UploadRow key={upload.id} upload={upload} onGone={() => drop(upload.id)} onNotice={setNotice} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function UploadRow({ upload, onGone, onNotice }: { upload: UnfinishedUpload; onGone: () => void; onNotice: (text: string) => void }) {
  const api = useApi();
  const picker = useRef<HTMLInputElement>(null);
  const [stored, setStored] = useState(upload.offset);
  const [busy, setBusy] = useState<'resuming' | 'aborting'>();
  const [problem, setProblem] = useState<string>();

  const follow = (resume = resumingUpload(upload.id)) => {
    if (!resume) return;
    setBusy('resuming');
    setProblem(undefined);
    const stop = resume.onProgress((progress: ResumeProgress) => setStored(progress.bytesUploaded));
    resume.done.then(
      () => {
        onNotice(`${upload.name} is uploaded; it is in My files.`);
        onGone();
      },
      (error) => {
        setProblem(`The upload stopped: ${plainMessage(error)}`);
        setBusy(undefined);
      },
    ).finally(stop);
  };
  useEffect(() => follow(), [upload.id]);

  const picked = (event: Event) => {
    const input = event.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    const wrong = mismatch(upload, file);
    if (wrong) return setProblem(wrong);
    follow(resumeUpload(api, upload, file));
  };

  const abort = async () => {
    setBusy('aborting');
    setProblem(undefined);
    try {
      if (upload.mode === 'tus') await api.uploads.abortTus(upload.id);
      else await api.uploads.abortDirect(upload.uploadId ?? upload.id, upload.key ?? upload.id);
      onNotice(`The upload of ${upload.name} was aborted.`);
      onGone();
    } catch (error) {
      setProblem(`Could not abort: ${plainMessage(error)}`);
      setBusy(undefined);
    }
  };

  const size = upload.size ?? 0;
  const sizeText = upload.size === null ? 'unknown size' : formatBytes(upload.size);
  return (
    <tr>
      <th scope="row" class="unfinished-name">
        {upload.name}
        {problem && <p class="unfinished-problem" role="alert">{problem}</p>}
      </th>
      <td>
        <progress max={size || 1} value={Math.min(stored, size || 1)} aria-label={`Stored of ${upload.name}`} />
        <span class="unfinished-bytes">{formatBytes(stored)} of {sizeText}</span>
      </td>
      <td>{MODE_NAMES[upload.mode]}</td>
      <td>{formatDate(upload.updatedAt)}</td>
      <td>{upload.expiresAt ? formatDate(upload.expiresAt) : 'never'}</td>
      <td class="unfinished-actions">
        <input ref={picker} type="file" hidden onChange={picked} aria-label={`File to resume ${upload.name}`} />
        <button type="button" disabled={busy !== undefined} onClick={() => picker.current?.click()}>
          {busy === 'resuming' ? 'Resuming…' : 'Resume'}
        </button>
        <button type="button" disabled={busy === 'aborting'} onClick={() => void abort()}>Abort</button>
      </td>
    </tr>
  );
}
