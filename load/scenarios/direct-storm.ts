import { request } from 'undici';
import type { Api } from '../lib/http.ts';
import type { Recorder } from '../lib/recorder.ts';
import { pool, type Scenario } from '../lib/scenario.ts';
import { verifyFiles, noFileLostOrDuplicated } from '../lib/verify.ts';
import { storm } from './upload-storm.ts';

const MiB = 1024 * 1024;
const bare = (etag: string) => etag.replaceAll('"', '');

interface Created {
  uploadId: string;
  key: string;
  partSize: number;
}

/**
 * One direct S3 multipart upload on Companion's routes, as @uppy/aws-s3 makes it: create,
 * sign a batch of parts, PUT each to its presigned URL (2 at a time), complete. When
 * `interruptAfter` is set, this client stops after that many parts and a new one lists
 * the parts, sends the rest, and completes: a resume.
 */
export async function directUpload(api: Api, recorder: Recorder, token: string, name: string, bytes: Buffer, interruptAfter: number | undefined, signal: AbortSignal): Promise<void> {
  const base = '/api/uploads/s3/multipart';
  const created = await api.call<Created>('mp_create', 'POST', base, { token, body: { filename: name, type: 'application/octet-stream', size: bytes.length, metadata: { name, relativePath: null } }, signal });
  if (created.status !== 200) throw new Error(`create answered ${created.status}`);
  const { uploadId, partSize } = created.body;
  const q = `key=${encodeURIComponent(created.body.key)}`;
  const count = Math.max(1, Math.ceil(bytes.length / partSize));
  const partOf = (n: number) => bytes.subarray((n - 1) * partSize, Math.min(n * partSize, bytes.length));
  const sendParts = async (numbers: number[]) => {
    const signed = await api.call<{ presignedUrls: Record<string, string> }>('mp_sign', 'GET', `${base}/${uploadId}/batch?${q}&partNumbers=${numbers.join(',')}`, { token, signal });
    if (signed.status !== 200) throw new Error(`sign answered ${signed.status}`);
    const etags = new Map<number, string>();
    const todo = [...numbers];
    await pool(2, () => todo.shift(), async (n) => {
      const part = partOf(n);
      const etag = await recorder.time(
        'mp_put_part',
        async () => {
          const put = await request(signed.body.presignedUrls[String(n)]!, { method: 'PUT', body: part, dispatcher: api.agent, signal });
          await put.body.dump();
          if (put.statusCode !== 200) throw new Error(`part ${n} answered ${put.statusCode}`);
          return bare(String(put.headers.etag));
        },
      );
      recorder.sent(part.length);
      etags.set(n, etag);
    });
    return [...etags].map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
  };
  const all = Array.from({ length: count }, (_, i) => i + 1);
  let parts: Array<{ PartNumber: number; ETag: string }>;
  if (interruptAfter !== undefined && interruptAfter < count) {
    await sendParts(all.slice(0, interruptAfter));
    recorder.count('uploads_interrupted');
    // A new client (a page reload): it knows the upload id and key, lists what S3 has, sends the rest.
    const listed = await api.call<Array<{ PartNumber: number; ETag: string }>>('mp_list', 'GET', `${base}/${uploadId}?${q}`, { token, signal });
    if (listed.status !== 200) throw new Error(`list parts answered ${listed.status}`);
    const have = listed.body.map((p) => ({ PartNumber: p.PartNumber, ETag: bare(p.ETag) }));
    recorder.check('listed parts are the parts sent', have.length === interruptAfter, `${name}: ${have.length} listed`);
    parts = [...have, ...(await sendParts(all.filter((n) => !have.some((p) => p.PartNumber === n))))];
    recorder.count('uploads_resumed');
  } else {
    parts = await sendParts(all);
  }
  parts.sort((a, b) => a.PartNumber - b.PartNumber);
  const done = await api.call<{ fileId: string }>('mp_complete', 'POST', `${base}/${uploadId}/complete?${q}`, { token, body: { parts }, signal });
  if (done.status !== 200 || !done.body.fileId) throw new Error(`complete answered ${done.status}`);
}

export const directStorm: Scenario = {
  name: 'direct-storm',
  description: "Concurrent direct S3 multipart uploads on Companion's routes (create, sign, PUT parts to presigned URLs, complete), mixed sizes; every third of more than one part is left after its first part and finished by a new client that lists the parts; then each file is listed once, with its size and content hash.",
  defaults: { short: { vus: 4, durationS: 8 }, full: { vus: 8, durationS: 75 } },
  stack: 'shared',
  thresholds: () => [
    { type: 'latency', kind: 'mp_create', stat: 'p95', maxMs: 2000 },
    { type: 'latency', kind: 'mp_create', stat: 'p99', maxMs: 4000 },
    { type: 'latency', kind: 'mp_sign', stat: 'p95', maxMs: 1000 },
    { type: 'latency', kind: 'mp_sign', stat: 'p99', maxMs: 2000 },
    { type: 'latency', kind: 'mp_put_part', stat: 'p95', maxMs: 8000 },
    { type: 'latency', kind: 'mp_put_part', stat: 'p99', maxMs: 15000 },
    { type: 'latency', kind: 'mp_list', stat: 'p95', maxMs: 2000 },
    { type: 'latency', kind: 'mp_complete', stat: 'p95', maxMs: 3000 },
    { type: 'latency', kind: 'mp_complete', stat: 'p99', maxMs: 6000 },
    { type: 'error_ratio', max: 0.01 },
    { type: 'checks' },
    ...noFileLostOrDuplicated,
    { type: 'counter', name: 'uploads_resumed', min: 1 },
  ],
  async run(context) {
    const { recorder, options, signal } = context;
    const result = await storm(context, options.short ? 120 : 1000, 5 * MiB + 1, async (planned, user, name, bytes, api) => {
      await directUpload(api, recorder, user.token, name, bytes, planned.interruptAt === undefined ? undefined : 1, signal);
    });
    await verifyFiles(result.api, recorder, result.expected, options.short ? 1 : 3);
    await result.api.close();
  },
};
