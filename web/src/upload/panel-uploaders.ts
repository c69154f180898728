import Dashboard from '@uppy/dashboard';
import type { Api } from '../api/client.ts';
import { createUploader, forgetLocalState, type Uploader, type UploadMode } from './uploader.ts';

export const MODE_LABELS: Record<UploadMode, string> = { tus: 'Resumable (tus)', direct: 'Direct (S3 multipart)' };
const MODE_KEY = 'govault.uploadMode';

export function savedMode(): UploadMode {
  return localStorage.getItem(MODE_KEY) === 'direct' ? 'direct' : 'tus';
}

export function saveMode(mode: UploadMode): void {
  localStorage.setItem(MODE_KEY, mode);
}

export interface PanelUploader extends Uploader {
  /** Where its Dashboard is rendered: one element for the page's lifetime, moved into whichever panel shows it. */
  readonly dashboard: HTMLElement;
}

export type PanelUploaders = Record<UploadMode, PanelUploader>;

let current: { api: Api; userId: string; uploaders: Promise<PanelUploaders> } | undefined;

/**
 * The uploaders of My files, one per mode: two Uppy instances, so each mode keeps its own
 * restored files and uploads on while the other is shown. They live as long as the page
 * (an upload goes on when the user opens another screen), scoped to the signed-in user:
 * the instance id keys Golden Retriever's store and the tus fingerprints.
 */
export async function panelUploaders(api: Api): Promise<PanelUploaders> {
  const [user, maxFileSize] = await Promise.all([api.auth.me(), api.uploads.maxUploadSize()]);
  if (current?.api === api && current.userId === user.id) return current.uploaders;
  const build = (mode: UploadMode): PanelUploader => {
    const uploader = createUploader({ api, id: `govault-${mode}-${user.id}`, mode, maxFileSize, remember: true, autoProceed: true });
    const dashboard = document.createElement('div');
    dashboard.className = 'upload-dashboard';
    uploader.uppy.use(Dashboard, {
      inline: true,
      target: dashboard,
      width: '100%',
      height: 380,
      theme: 'auto',
      fileManagerSelectionType: 'both',
      hideProgressDetails: false,
      showRemoveButtonAfterComplete: true,
      proudlyDisplayPoweredByUppy: false,
      note: mode === 'direct' ? 'Sent straight to storage in parts of 5 MiB or more. Empty files need Resumable (tus).' : null,
    } as never);
    return Object.assign(uploader, { dashboard });
  };
  const uploaders = Promise.resolve({ tus: build('tus'), direct: build('direct') });
  current = { api, userId: user.id, uploaders };
  watchSignOut(api);
  return uploaders;
}

const watched = new WeakSet<Api>();

/** After logout nothing of the user's uploads stays in this browser: they remain resumable from Unfinished uploads. */
function watchSignOut(api: Api): void {
  if (watched.has(api)) return;
  watched.add(api);
  api.session.onChange(() => {
    if (api.session.signedIn || current?.api !== api) return;
    const { uploaders } = current;
    current = undefined;
    void uploaders.then((all) => Object.values(all).forEach(forgetLocalState));
  });
}
