import { readFileSync } from 'node:fs';
import * as tus from 'tus-js-client';

/**
 * A stock tus-js-client upload in a process of its own, so that a test can kill the
 * client outright (SIGKILL) mid-upload. Prints one JSON line per event.
 * Usage: tus-upload-worker <file> <endpoint> <access token> <filename> <chunk bytes>
 */
const [file, endpoint, token, filename, chunkSize] = process.argv.slice(2);
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

const upload = new tus.Upload(readFileSync(file!), {
  endpoint,
  chunkSize: Number(chunkSize),
  retryDelays: [0, 500, 1000],
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: filename!, filetype: 'application/octet-stream' },
  onUploadUrlAvailable: () => say({ event: 'url', url: upload.url }),
  onChunkComplete: (_chunk, bytesAccepted) => say({ event: 'chunk', bytesAccepted }),
  onSuccess: () => say({ event: 'success' }),
  onError: (error) => {
    say({ event: 'error', message: String(error) });
    process.exit(1);
  },
});
upload.start();
