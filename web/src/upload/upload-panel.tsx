import '@uppy/core/css/style.min.css';
import '@uppy/dashboard/css/style.min.css';
import './upload-panel.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { plainMessage } from '../api/errors.ts';
import { useApi } from '../api-context.ts';
import { MODE_LABELS, panelUploaders, saveMode, savedMode, type PanelUploaders } from './panel-uploaders.ts';
import type { UploadMode } from './uploader.ts';

const MODES: UploadMode[] = ['tus', 'direct'];

/**
 * The uploader of My files: a button "Upload" that opens the Uppy Dashboard of the chosen
 * mode. It calls onFileUploaded once per finished file with its file id.
 */
export function UploadPanel({ onFileUploaded }: { onFileUploaded: (fileId: string) => void }) {
  const api = useApi();
  const [uploaders, setUploaders] = useState<PanelUploaders>();
  const [failure, setFailure] = useState<string>();
  const [open, setOpen] = useState(false);
  const [mode, setMode] = useState<UploadMode>(savedMode);
  const announce = useRef(onFileUploaded);
  announce.current = onFileUploaded;

  const load = () => {
    setFailure(undefined);
    panelUploaders(api).then(
      (ready) => {
        setUploaders(ready);
        // Files restored from the last session are shown at once.
        if (MODES.some((m) => ready[m].uppy.getFiles().length > 0)) setOpen(true);
      },
      (error) => setFailure(`The uploader could not start: ${plainMessage(error)}`),
    );
  };
  useEffect(load, [api]);

  useEffect(() => {
    if (!uploaders) return;
    const stops = MODES.map((m) => uploaders[m].onFileUploaded((fileId) => announce.current(fileId)));
    return () => stops.forEach((stop) => stop());
  }, [uploaders]);

  const progress = useUploadProgress(uploaders);
  const chooseMode = (next: UploadMode) => {
    setMode(next);
    saveMode(next);
  };

  return (
    <section class="upload-panel" aria-label="Uploads">
      <div class="upload-panel-bar">
        <button type="button" aria-expanded={open} aria-controls="upload-panel-body" onClick={() => setOpen(!open)}>
          Upload
        </button>
        {progress && <span class="upload-panel-summary" role="status">{progress}</span>}
      </div>
      <div id="upload-panel-body" class="upload-panel-body" hidden={!open}>
        <label class="upload-mode">
          Upload mode{' '}
          <select value={mode} onChange={(event) => chooseMode((event.currentTarget as HTMLSelectElement).value as UploadMode)}>
            {MODES.map((m) => (
              <option key={m} value={m}>{MODE_LABELS[m]}</option>
            ))}
          </select>
        </label>
        {failure && (
          <p class="upload-panel-error" role="alert">
            {failure} <button type="button" onClick={load}>Try again</button>
          </p>
        )}
        {!uploaders && !failure && <p>Starting the uploader…</p>}
        {uploaders &&
          MODES.map((m) => (
            // Hidden in the same render as the choice, so that a file can never land in the other mode's Dashboard.
            <div key={m} class="upload-dashboard-host" data-upload-mode={m} hidden={m !== mode} ref={(host) => {
              if (host) adopt(host, uploaders[m].dashboard);
            }} />
          ))}
      </div>
    </section>
  );
}

/** The Dashboard element outlives the panel (uploads go on elsewhere in the app): the panel only hosts it. */
function adopt(host: HTMLElement, dashboard: HTMLElement): void {
  if (dashboard.parentElement !== host) host.append(dashboard);
}

/** "Uploading 2 files: 45 %" across both modes, or nothing while idle. */
function useUploadProgress(uploaders: PanelUploaders | undefined): string | undefined {
  const [, rerender] = useState(0);
  useEffect(() => {
    if (!uploaders) return;
    let frame = 0;
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(() => ((frame = 0), rerender((n) => n + 1)));
    };
    const uppies = MODES.map((m) => uploaders[m].uppy);
    uppies.forEach((uppy) => uppy.on('state-update', schedule));
    return () => {
      cancelAnimationFrame(frame);
      uppies.forEach((uppy) => uppy.off('state-update', schedule));
    };
  }, [uploaders]);
  if (!uploaders) return undefined;
  const active = MODES.flatMap((m) => uploaders[m].uppy.getFiles()).filter(
    (file) => file.progress.uploadStarted && !file.progress.uploadComplete && !file.error && !file.isGhost,
  );
  if (active.length === 0) return undefined;
  const total = active.reduce((sum, file) => sum + (file.size ?? 0), 0);
  const sent = active.reduce((sum, file) => sum + (Number(file.progress.bytesUploaded) || 0), 0);
  const percent = total > 0 ? Math.floor((sent / total) * 100) : 0;
  return `Uploading ${active.length} ${active.length === 1 ? 'file' : 'files'}: ${percent} %`;
}
