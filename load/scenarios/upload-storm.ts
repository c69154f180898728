import { randomBytes } from 'node:crypto';
import { Api, type Session } from '../lib/http.ts';
import { Recorder } from '../lib/recorder.ts';
import { pool, type RunOptions, type Scenario, type ScenarioContext } from '../lib/scenario.ts';
import { tusUpload } from '../lib/tus.ts';
import { sha256, verifyFiles, type ExpectedFile, noFileLostOrDuplicated } from '../lib/verify.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Sizes in turn. */
export const STORM_SIZES = [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 64 * KiB, 8 * MiB, 512 * KiB, 16 * MiB, 2 * MiB, 32 * MiB];
/** The short run's: small, and one of more than one 5 MiB part for the direct uploads. */
export const SHORT_STORM_SIZES = [64 * KiB, 256 * KiB, 1 * MiB, 6 * MiB];
const sizesFor = (options: RunOptions) => (options.short ? SHORT_STORM_SIZES : STORM_SIZES);

export interface PlannedUpload {
  index: number;
  size: number;
  /** Interrupted at this share of its bytes, then resumed from its upload URL. */
  interruptAt?: number;
}

/** Every third upload of at least 1 MiB is interrupted, at 30-70 % of its bytes. */
export function planUpload(index: number, options: RunOptions, interruptFrom = MiB): PlannedUpload {
  const sizes = sizesFor(options);
  const size = sizes[index % sizes.length]!;
  const interruptAt = size >= interruptFrom && index % 3 === 0 ? 0.3 + ((index * 7) % 5) / 10 : undefined;
  return { index, size, interruptAt };
}

/** Uploads until the duration is over or `maxUploads` are done, `vus` at a time. */
export async function storm(
  context: ScenarioContext,
  maxUploads: number,
  interruptFrom: number,
  upload: (planned: PlannedUpload, user: Session, name: string, bytes: Buffer, api: Api) => Promise<void>,
  /** Called when the load starts (after set-up). */
  onStart: () => void = () => undefined,
): Promise<{ expected: ExpectedFile[]; api: Api }> {
  const { baseUrl, recorder, options, signal, log } = context;
  const setup = new Api(baseUrl, new Recorder());
  const users = await Promise.all(Array.from({ length: options.vus }, () => setup.newUser('storm')));
  await setup.close();
  recorder.begin();
  const api = new Api(baseUrl, recorder);
  onStart();
  const until = Date.now() + options.durationS * 1000;
  let next = 0;
  const expected: ExpectedFile[] = [];
  let lane = 0;
  await pool(
    options.vus,
    () => (next < maxUploads && Date.now() < until && !signal.aborted ? planUpload(next++, options, interruptFrom) : undefined),
    async (planned) => {
      const user = users[lane++ % users.length]!;
      const bytes = randomBytes(planned.size);
      const name = `storm-${planned.index}-${planned.size}.bin`;
      try {
        await upload(planned, user, name, bytes, api);
        recorder.check('upload finished', true);
        recorder.count('uploads_finished');
        expected.push({ name, size: planned.size, sha256: sha256(bytes), token: user.token });
      } catch (err) {
        recorder.check('upload finished', false, `${name}: ${(err as Error).message}`);
      }
    },
  );
  log(`${expected.length} of ${next} uploads finished; verifying`);
  return { expected, api };
}

export const uploadStorm: Scenario = {
  name: 'upload-storm',
  description: 'Concurrent tus uploads (tus-js-client) of mixed sizes, 64 KiB to 32 MiB; every third of 1 MiB or more is aborted mid-upload and resumed from its upload URL; then each is listed once, with its size and content hash.',
  defaults: { short: { vus: 4, durationS: 8 }, full: { vus: 8, durationS: 75 } },
  stack: 'shared',
  thresholds: () => [
    { type: 'latency', kind: 'tus_create', stat: 'p95', maxMs: 2000 },
    { type: 'latency', kind: 'tus_create', stat: 'p99', maxMs: 4000 },
    { type: 'latency', kind: 'tus_patch', stat: 'p95', maxMs: 8000 },
    { type: 'latency', kind: 'tus_patch', stat: 'p99', maxMs: 15000 },
    { type: 'latency', kind: 'tus_head', stat: 'p95', maxMs: 2000 },
    { type: 'latency', kind: 'tus_head', stat: 'p99', maxMs: 4000 },
    { type: 'error_ratio', max: 0.01 },
    { type: 'checks' },
    ...noFileLostOrDuplicated,
    { type: 'counter', name: 'uploads_resumed', min: 1 },
  ],
  async run(context) {
    const { baseUrl, recorder, options, signal } = context;
    const { expected, api } = await storm(context, options.short ? 120 : 1000, MiB, async (planned, user, name, bytes) => {
      await tusUpload({ baseUrl, token: user.token, name, bytes, recorder, chunkSize: 4 * MiB, interruptAt: planned.interruptAt, signal });
    });
    await verifyFiles(api, recorder, expected, options.short ? 1 : 3);
    await api.close();
  },
};
