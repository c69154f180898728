import { createReadStream, statSync } from 'node:fs';
import * as tus from 'tus-js-client';

/**
 * A stock tus-js-client upload of one file from disk, as its README shows for Node, in
 * a process of its own (as the govault CLI runs in one), so that both are timed alike.
 * Arguments: endpoint, access token, path, chunk size in bytes.
 */
const [endpoint, token, path, chunkSize] = process.argv.slice(2) as [string, string, string, string];

await new Promise<void>((resolve, reject) => {
  new tus.Upload(createReadStream(path), {
    endpoint,
    chunkSize: Number(chunkSize),
    uploadSize: statSync(path).size,
    headers: { authorization: `Bearer ${token}` },
    metadata: { filename: 'bench.bin' },
    retryDelays: [],
    onSuccess: () => resolve(),
    onError: reject,
  }).start();
});
