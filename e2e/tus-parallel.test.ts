import { createHash, randomBytes } from 'node:crypto';
import test from 'ava';
import * as tus from 'tus-js-client';
import { getJson, registerAndLogin, type TestUser } from './client.ts';
import { Scrape, delta } from './prometheus.ts';
import { availableModes, systemPerMode, type RunningSystem } from './system.ts';

/**
 * tus-js-client's `parallelUploads`, which rests on the concatenation extension (issue 17):
 * the file goes up as partial uploads at once, then one final upload joins them. Through the
 * gateway, in both storage modes; on S3 both ways of joining (UploadPartCopy for partials of
 * 5 MiB and more, streaming for smaller ones).
 */
const { systemFor, stopAll } = systemPerMode();
test.after.always(stopAll);

/** What a tus client remembers of its uploads between runs (tus-js-client keeps it in localStorage or a file). */
class MemoryUrlStorage implements tus.UrlStorage {
  private readonly entries = new Map<string, tus.PreviousUpload & { fingerprint: string }>();
  private next = 0;
  async findAllUploads() {
    return [...this.entries.values()];
  }
  async findUploadsByFingerprint(fingerprint: string) {
    return [...this.entries.values()].filter((e) => e.fingerprint === fingerprint);
  }
  async removeUpload(key: string) {
    this.entries.delete(key);
  }
  async addUpload(fingerprint: string, upload: tus.PreviousUpload) {
    const key = `upload-${this.next++}`;
    this.entries.set(key, { ...upload, fingerprint, urlStorageKey: key });
    return key;
  }
}

const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface Run {
  fileId?: string;
  /** The Upload-Concat of each creation request. */
  posts: string[];
  /** The Upload-Offset of each upload's first PATCH. */
  firstOffsets: Map<string, number>;
}

/** One tus-js-client upload with `parallelUploads`; `abortAt` stops it once that many bytes were sent. */
function parallelUpload(system: RunningSystem, user: TestUser, name: string, data: Buffer, options: { parallel: number; chunkSize?: number; storage?: tus.UrlStorage; abortAt?: number }) {
  const run: Run = { posts: [], firstOffsets: new Map() };
  return new Promise<Run>((resolve, reject) => {
    const upload: tus.Upload = new tus.Upload(data, {
      endpoint: `${system.baseUrl}/api/uploads/tus`,
      headers: user.auth,
      metadata: { filename: name, filetype: 'application/octet-stream' },
      parallelUploads: options.parallel,
      ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}),
      retryDelays: [],
      ...(options.storage ? { urlStorage: options.storage, fingerprint: async () => `parallel-${name}` } : {}),
      onBeforeRequest: (req) => {
        if (req.getMethod() === 'POST') run.posts.push(req.getHeader('Upload-Concat') ?? '');
        if (req.getMethod() === 'PATCH' && !run.firstOffsets.has(req.getURL())) run.firstOffsets.set(req.getURL(), Number(req.getHeader('Upload-Offset')));
      },
      onProgress: (sent) => {
        if (options.abortAt !== undefined && sent >= options.abortAt) {
          options.abortAt = undefined;
          void upload.abort().then(() => resolve(run), reject);
        }
      },
      onAfterResponse: (_req, res) => {
        run.fileId = res.getHeader('GoVault-File-Id') || run.fileId;
      },
      onSuccess: () => resolve(run),
      onError: reject,
    });
    if (!options.storage) return upload.start();
    void upload.findPreviousUploads().then((previous) => {
      if (previous[0]) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    }, reject);
  });
}

async function ownedFiles(system: RunningSystem, user: TestUser) {
  const listed = await getJson<{ items: Array<{ id: string; name: string; size: number }> }>(`${system.baseUrl}/api/files?view=owned&limit=100`, user.auth);
  return listed.body.items;
}

async function download(system: RunningSystem, user: TestUser, fileId: string) {
  const response = await fetch(`${system.baseUrl}/api/files/${fileId}/content`, { headers: user.auth });
  return { status: response.status, bytes: new Uint8Array(await response.arrayBuffer()) };
}

for (const mode of availableModes()) {
  // On S3, partials of 5 MiB and more are joined by UploadPartCopy (one per partial), smaller ones streamed.
  const sizes = [
    { label: '24 MiB in 4 partials of 6 MiB', size: 24 * MiB, copies: 4 },
    { label: '1 MiB in 4 partials of 256 KiB', size: MiB, copies: 0 },
    { label: '10 bytes in 4 partials of 2 or 3 bytes', size: 10, copies: 0 },
  ];
  for (const { label, size, copies } of sizes) {
    test.serial(`${mode}: parallelUploads 4, ${label}: one file, listed once, the same bytes`, async (t) => {
      const system = await systemFor(mode);
      const user = await registerAndLogin(system.baseUrl);
      const data = randomBytes(size);
      const s3Requests = () => Scrape.of(`http://127.0.0.1:${system.ports.upload}/metrics`);
      const before = await s3Requests();
      const run = await parallelUpload(system, user, `parallel-${size}.bin`, data, { parallel: 4 });
      const copied = delta(before, await s3Requests(), 'govault_s3_request_duration_seconds_count', { operation: 'UploadPartCopy', outcome: 'ok' });
      t.is(copied, mode === 'real' ? copies : 0, 'UploadPartCopy requests');
      t.deepEqual(run.posts.filter((p) => p === 'partial').length, 4, 'four partial uploads');
      t.is(run.posts.filter((p) => p.startsWith('final;')).length, 1, 'one final upload');
      t.truthy(run.fileId, 'the final upload names its file (GoVault-File-Id)');
      const files = await ownedFiles(system, user);
      t.deepEqual(files.map((f) => [f.name, f.size]), [[`parallel-${size}.bin`, size]], 'one file; no partial is listed');
      t.is(files[0]?.id, run.fileId);
      const incomplete = await getJson<{ items: unknown[] }>(`${system.baseUrl}/api/uploads?state=incomplete`, user.auth);
      t.deepEqual(incomplete.body.items, [], 'no partial is listed as unfinished');
      const content = await download(system, user, run.fileId ?? '');
      t.is(content.status, 200);
      t.is(sha256(content.bytes), sha256(data), 'the download has the sha256 of the file sent');
    });
  }

  test.serial(`${mode}: parallelUploads 4, interrupted half way and resumed: only the final upload is created anew`, async (t) => {
    const system = await systemFor(mode);
    const user = await registerAndLogin(system.baseUrl);
    const size = 24 * MiB;
    const data = randomBytes(size);
    const storage = new MemoryUrlStorage();
    const first = await parallelUpload(system, user, 'resumed.bin', data, { parallel: 4, chunkSize: MiB, storage, abortAt: size / 2 });
    t.is(first.posts.filter((p) => p === 'partial').length, 4);
    t.is(first.fileId, undefined, 'the interrupted upload made no file');
    t.deepEqual(await ownedFiles(system, user), [], 'nothing listed yet');

    const second = await parallelUpload(system, user, 'resumed.bin', data, { parallel: 4, chunkSize: MiB, storage });
    t.deepEqual(second.posts.map((p) => p.split(';')[0]), ['final'], 'the partials were resumed (HEAD, PATCH), not created again');
    const resumedFrom = [...second.firstOffsets.values()].reduce((sum, offset) => sum + offset, 0);
    // Aborted once 12 MiB were sent, with at most four 1 MiB chunks in flight: the partials hold at least 8 MiB.
    t.true(resumedFrom >= size / 3, `the partials went on from the bytes they held (${resumedFrom} of ${size})`);
    const files = await ownedFiles(system, user);
    t.deepEqual(files.map((f) => [f.name, f.size]), [['resumed.bin', size]]);
    const content = await download(system, user, second.fileId ?? '');
    t.is(sha256(content.bytes), sha256(data));
  });
}
