import { createHash } from 'node:crypto';
import { Api } from './http.ts';
import { Recorder } from './recorder.ts';
import type { Threshold } from './scenario.ts';

export interface ExpectedFile {
  name: string;
  size: number;
  sha256: string;
  token: string;
}

export const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/**
 * What an operator wants after a storm: each upload that the client saw finish is
 * listed exactly once, with its size, and its bytes (all, or every `hashEvery`-th) hash
 * to what was sent. Counts `files_lost` and `files_duplicated`.
 */
/** The thresholds on what verifyFiles counts: no file lost, none listed twice. */
export const noFileLostOrDuplicated: Threshold[] = [
  { type: 'counter', name: 'files_lost', max: 0 },
  { type: 'counter', name: 'files_duplicated', max: 0 },
];

export async function verifyFiles(api: Api, recorder: Recorder, expected: ExpectedFile[], hashEvery = 1): Promise<void> {
  const byToken = new Map<string, ExpectedFile[]>();
  for (const file of expected) byToken.set(file.token, [...(byToken.get(file.token) ?? []), file]);
  recorder.count('files_lost', 0);
  recorder.count('files_duplicated', 0);
  let index = 0;
  for (const [token, files] of byToken) {
    const owned = await api.ownedFiles(token);
    for (const file of files) {
      const listed = owned.get(file.name) ?? [];
      if (listed.length === 0) recorder.count('files_lost');
      if (listed.length > 1) recorder.count('files_duplicated', listed.length - 1);
      recorder.check('file registered exactly once', listed.length === 1, `${file.name}: listed ${listed.length} times`);
      const only = listed[0];
      if (listed.length !== 1 || !only) continue;
      recorder.check('registered size is the size sent', only.size === file.size, `${file.name}: ${only.size} != ${file.size}`);
      if (index++ % hashEvery !== 0) continue;
      const bytes = await api.download(only.id, token).catch((err: Error) => {
        recorder.error(`download ${file.name}: ${err.message}`);
        return undefined;
      });
      recorder.check('downloaded content hash matches', bytes !== undefined && sha256(bytes) === file.sha256, `${file.name}: content differs`);
    }
    await deleteFiles(api.baseUrl, token, [...owned.values()].flat().map((f) => f.id));
  }
}

/** Trash and purge (not measured): repeated runs must not fill the bucket. */
export async function deleteFiles(baseUrl: string, token: string, ids: string[]): Promise<void> {
  const quiet = new Api(baseUrl, new Recorder());
  try {
    for (const id of ids) {
      await quiet.call('delete', 'DELETE', `/api/files/${id}`, { token });
      await quiet.call('delete', 'DELETE', `/api/files/${id}/permanent`, { token });
    }
  } finally {
    await quiet.close();
  }
}
