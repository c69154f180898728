import { sleep, type Scenario } from '../lib/scenario.ts';
import { tusUpload } from '../lib/tus.ts';
import { verifyFiles, noFileLostOrDuplicated } from '../lib/verify.ts';
import { storm } from './upload-storm.ts';

const MiB = 1024 * 1024;
/** tus-js-client's retries: enough to ride out a killed instance's restart. */
const RETRY_DELAYS = [0, 250, 500, 1000, 2000, 3000, 5000, 5000, 5000];

export const chaos: Scenario = {
  name: 'chaos',
  description: 'Two upload instances behind the gateway; tus uploads run while one instance is SIGKILLed at 30 % of the time and started again 2 s later; every upload must finish (tus-js-client retries and resumes), none lost or duplicated, content hashes equal.',
  defaults: { short: { vus: 4, durationS: 12 }, full: { vus: 4, durationS: 60 } },
  stack: 'two-upload-instances',
  thresholds: () => [
    { type: 'latency', kind: 'tus_create', stat: 'p95', maxMs: 3000 },
    { type: 'latency', kind: 'tus_patch', stat: 'p95', maxMs: 8000 },
    { type: 'latency', kind: 'tus_patch', stat: 'p99', maxMs: 20000 },
    // Requests cut by the kill fail and are retried; the uploads must not.
    { type: 'error_ratio', max: 0.1 },
    { type: 'checks' },
    ...noFileLostOrDuplicated,
    { type: 'counter', name: 'upload_instance_kills', min: 1 },
    { type: 'counter', name: 'uploads_in_flight_at_kill', min: 1 },
  ],
  async run(context) {
    const { baseUrl, recorder, options, signal, cluster, log } = context;
    if (!cluster || cluster.uploads.length < 2) throw new Error('chaos needs its own cluster with two upload instances');
    const victim = cluster.uploads[0]!;
    let chaosDone: Promise<void> = Promise.resolve();
    let inFlight = 0;
    // Bounded by the duration: uploads must be running when the kill comes.
    const result = await storm(context, options.short ? 300 : 3000, Infinity, async (_planned, user, name, bytes) => {
      inFlight++;
      try {
        await tusUpload({ baseUrl, token: user.token, name, bytes, recorder, chunkSize: 1 * MiB, retryDelays: RETRY_DELAYS, signal });
      } finally {
        inFlight--;
      }
    }, () => {
      chaosDone = (async () => {
        await sleep(options.durationS * 300, signal);
        if (signal.aborted) return;
        log(`SIGKILL ${victim.name}`);
        recorder.count('uploads_in_flight_at_kill', inFlight);
        await victim.kill('SIGKILL');
        recorder.count('upload_instance_kills');
        await sleep(2_000, signal);
        await victim.start();
        log(`${victim.name} is back`);
        recorder.check('killed upload instance started again', victim.running);
      })();
    });
    await chaosDone;
    await verifyFiles(result.api, recorder, result.expected, options.short ? 1 : 2);
    await result.api.close();
  },
};
