import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { eventually } from '@govault/lib/testing';
import { getJson, registerAndLogin, uploadWithTus, type TestUser } from './client.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { freshDatabases, type FreshDatabases } from './fresh-databases.ts';
import { PROMETHEUS_BINARY, PrometheusServer, type PromSeries } from './prometheus-server.ts';
import { Scrape } from './prometheus.ts';
import { ROOT, availableModes } from './system.ts';
import { createUpload, headUpload, openPatch, patchUpload } from './tus-raw.ts';

/**
 * The operator's view, proved end to end: the real stack (real PostgreSQL on databases of
 * its own, S3, Redis, two upload instances) scraped by a real Prometheus every second with
 * the repository's recording rules, traffic that moves every metric the dashboards show
 * (tus and direct uploads, an interrupted and resumed one of each, a checksum failure, a
 * lock wait, a 429, the files service down: breakers open, the outbox queues and then
 * delivers), and then every query of every panel of every committed dashboard
 * (grafana/dashboards/*.json) asked of Prometheus as Grafana would: none may come back empty.
 *
 * Real mode only: the S3 and outbox panels need S3 and real PostgreSQL.
 */
const KiB = 1024;
const MiB = 1024 * KiB;
/** The upload service's resume rule (RESUME_GAP_SECONDS in server/upload/src/tus/tus-server.ts). */
const RESUME_GAP_SECONDS = 10;
const API_LIMIT = 120;

interface Stack {
  cluster: Cluster;
  prometheus: PrometheusServer;
  fresh: FreshDatabases;
  /** Unix seconds when traffic began: the panels' time range. */
  since: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function realModeAvailable(): boolean {
  if (!availableModes().includes('real')) return false; // throws under GOVAULT_REQUIRE_REAL_SERVICES=1
  if (!existsSync(PROMETHEUS_BINARY) && process.env.GOVAULT_REQUIRE_REAL_SERVICES !== '1') {
    console.warn(`e2e: operations (dashboards on a real Prometheus) not run here: ${PROMETHEUS_BINARY} is missing`);
    return false;
  }
  return true; // under REQUIRE_REAL a missing Prometheus fails in PrometheusServer.start
}

let stack: Promise<Stack> | undefined;
const cleanup: Array<() => Promise<unknown>> = [];
test.after.always(async () => {
  for (const step of cleanup.reverse()) await step().catch((err) => console.error('operations cleanup:', err));
});

function stackOf(): Promise<Stack> {
  return (stack ??= (async () => {
    if (!existsSync(PROMETHEUS_BINARY)) throw new Error(`${PROMETHEUS_BINARY} is missing: this suite needs a real Prometheus (Debian: apt-get install prometheus; or set PROMETHEUS_BINARY)`);
    const fresh = await freshDatabases('operations');
    cleanup.push(() => fresh.drop());
    const cluster = await startCluster('real', {
      uploadInstances: 2,
      env: { ...fresh.env, REGISTRATION_MAX_BACKOFF_SECONDS: '1' },
      serviceEnv: {
        // A low limit to reach, in a Redis namespace of this run's own.
        gateway: { RATE_LIMIT_MAX: String(API_LIMIT), RATE_LIMIT_PREFIX: `govault-operations-${randomUUID()}:` },
      },
    });
    cleanup.push(() => cluster.stop());
    const prometheus = await PrometheusServer.start({
      'govault-gateway': [cluster.gatewayMetricsUrl],
      'govault-auth': [cluster.auth.url],
      'govault-files': [cluster.files.url],
      'govault-upload': cluster.uploads.map((u) => u.url),
    });
    cleanup.push(() => prometheus.stop());
    return { cluster, prometheus, fresh, since: Math.floor(Date.now() / 1000) };
  })());
}

/** The Companion routes Uppy's AwsS3 plugin calls for a direct (S3 multipart) upload. */
function companion(baseUrl: string, user: TestUser) {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${baseUrl}/api/uploads/s3/multipart${path}`, {
      method,
      headers: { ...user.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as any };
  };
  type U = { uploadId: string; key: string };
  return {
    create: async (filename: string): Promise<U> => {
      const created = await call('POST', '', { filename, type: 'application/octet-stream', metadata: { name: filename, relativePath: null } });
      if (created.status !== 200) throw new Error(`create answered ${created.status}`);
      return created.body as U;
    },
    /** Signs part `n` and PUTs it straight to S3, as the browser does; its ETag. */
    put: async (u: U, n: number, bytes: Uint8Array): Promise<string> => {
      const signed = await call('GET', `/${u.uploadId}/${n}?key=${u.key}`);
      const put = await fetch((signed.body as { url: string }).url, { method: 'PUT', body: bytes });
      if (put.status !== 200) throw new Error(`part ${n}: S3 answered ${put.status}`);
      return put.headers.get('etag')!.replaceAll('"', '');
    },
    list: (u: U) => call('GET', `/${u.uploadId}?key=${u.key}`),
    complete: (u: U, etags: string[]) => call('POST', `/${u.uploadId}/complete?key=${u.key}`, { parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) }),
  };
}

/** One query of one panel, as the dashboard JSON holds it. */
interface PanelQuery {
  dashboard: string;
  panel: string;
  expr: string;
}

/** Every target of every panel of every committed dashboard. */
function committedPanelQueries(): PanelQuery[] {
  const folder = join(ROOT, 'grafana/dashboards');
  const queries: PanelQuery[] = [];
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.json')).sort()) {
    const dashboard = JSON.parse(readFileSync(join(folder, file), 'utf8')) as { title: string; panels: Array<{ type: string; title: string; targets?: Array<{ expr?: string }>; panels?: unknown[] }> };
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) if (target.expr) queries.push({ dashboard: dashboard.title, panel: panel.title, expr: target.expr });
    }
  }
  return queries;
}

/** The expression as Prometheus gets it from Grafana: its variables filled in ($service: All). */
function substituteVariables(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '1h')
    .replaceAll(/\$\{?service(:regex)?\}?/g, '.*');
}

const hasNumber = (series: PromSeries) => series.values.some(([, v]) => Number.isFinite(Number(v)));

// Runs everywhere (no service needed): the live check below fills in every variable the panels use.
test('every template variable in the committed panels\' queries is one the live check fills in as Grafana would', (t) => {
  const queries = committedPanelQueries();
  t.true(queries.length >= 30, `${queries.length} panel queries`);
  t.deepEqual(queries.filter((q) => substituteVariables(q.expr).includes('$')).map((q) => `${q.dashboard} / ${q.panel}: ${q.expr}`), []);
});

if (realModeAvailable()) {
  test.serial('real: Prometheus scrapes every process of the stack under the contract\'s job names, and loads the repository\'s rules', async (t) => {
    const { prometheus, cluster } = await stackOf();
    t.true(await eventually(async () => (await prometheus.targets()).every((target) => target.health === 'up') && (await prometheus.targets()).length === 5, 20_000, 250), 'every target up');
    const targets = await prometheus.targets();
    t.deepEqual(targets.map((target) => target.job).sort(), ['govault-auth', 'govault-files', 'govault-gateway', 'govault-upload', 'govault-upload']);
    t.true(targets.some((target) => target.url === `${cluster.gatewayMetricsUrl}/metrics`), 'the gateway on its operator port');
    if (prometheus.ruleFiles.length === 0) t.log('prometheus/rules/*.yml not in this tree: recording-rule panels will come back empty');
    t.true(await eventually(async () => (await prometheus.ruleHealth()).every((r) => r.health === 'ok'), 10_000, 500), 'every rule evaluates');
    const broken = (await prometheus.ruleHealth()).filter((r) => r.health !== 'ok');
    t.deepEqual(broken, [], 'no rule fails to evaluate');
  });

  test.serial('real: traffic that moves every metric: tus and direct uploads, one of each interrupted and resumed, a checksum failure, a lock wait, a 429, files down and back', async (t) => {
    const { cluster } = await stackOf();
    const base = cluster.baseUrl;
    const user = await registerAndLogin(base);
    const direct = companion(base, user);

    // Whole uploads of each kind.
    for (let i = 0; i < 2; i++) t.truthy(await uploadWithTus(base, user, `tus-${i}.bin`, randomBytes(256 * KiB + i)));
    const whole = await direct.create('direct-whole.bin');
    const wholeTag = await direct.put(whole, 1, randomBytes(300 * KiB));
    // A complete naming a part S3 does not have is refused (failed{mode="direct",reason="parts"}), then the right one succeeds.
    t.is((await direct.complete(whole, ['0'.repeat(32)])).status, 400);
    const wholeDone = await direct.complete(whole, [wholeTag]);
    t.is(wholeDone.status, 200);
    t.truthy(wholeDone.body.fileId);

    // Interrupted uploads: part of the bytes, then nothing for longer than the resume gap.
    const tusData = randomBytes(2 * MiB);
    const tusUrl = await createUpload(base, user, tusData.length, 'tus-interrupted.bin');
    t.is((await patchUpload(tusUrl, user, 0, tusData.subarray(0, MiB))).status, 204);
    const partOne = randomBytes(5 * MiB);
    const interrupted = await direct.create('direct-interrupted.bin');
    const firstTag = await direct.put(interrupted, 1, partOne);
    const interruptedAt = Date.now();

    // While they wait: a checksum mismatch (460), a PATCH that waits for another one's lock, a 429.
    const chunk = randomBytes(64 * KiB);
    const checked = await createUpload(base, user, chunk.length, 'checksum.bin');
    const wrong = createHash('sha1').update('something else').digest('base64');
    t.is((await patchUpload(checked, user, 0, chunk, { 'Upload-Checksum': `sha1 ${wrong}` })).status, 460);
    t.is((await patchUpload(checked, user, 0, chunk, { 'Upload-Checksum': `sha1 ${createHash('sha1').update(chunk).digest('base64')}` })).status, 204);

    const locked = await createUpload(base, user, 4 * MiB, 'two-writers.bin');
    const first = openPatch(locked, user, 0, 4 * MiB);
    await first.write(randomBytes(MiB));
    await sleep(500);
    const second = await patchUpload(locked, user, 0, randomBytes(KiB));
    t.is((await first.answer).status, 204, 'the first PATCH lets go of the lock and keeps what it wrote');
    first.cut();
    t.true([204, 409].includes(second.status), `the second got the lock (${second.status})`);

    const limited = await registerAndLogin(base);
    let refused = 0;
    for (let i = 0; i < API_LIMIT + 3; i++) {
      const response = await fetch(`${base}/api/auth/me`, { headers: limited.auth });
      await response.body?.cancel();
      if (response.status === 429) refused++;
    }
    t.true(refused >= 3, `requests past the limit were answered 429 (${refused})`);
    // A counter series born at 3 has no earlier sample for rate() to compare with (until the
    // gateway exports rate_limited_requests_total{rule} at 0 from the start): the client keeps
    // trying a little longer, as a real one does.
    await sleep(2_000);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${base}/api/auth/me`, { headers: limited.auth });
      await response.body?.cancel();
      t.is(response.status, 429, 'still past the limit');
    }

    await sleep(Math.max(0, interruptedAt + (RESUME_GAP_SECONDS + 1.5) * 1000 - Date.now()));
    // tus resumes: HEAD for the offset, PATCH the rest.
    const head = await headUpload(tusUrl, user);
    t.is(head.headers.get('upload-offset'), String(MiB));
    t.is((await patchUpload(tusUrl, user, MiB, tusData.subarray(MiB))).status, 204);
    // Direct resumes as Uppy does: list the parts S3 has, upload the rest, complete.
    const listed = await direct.list(interrupted);
    t.is(listed.status, 200);
    t.deepEqual((listed.body as Array<{ PartNumber: number }>).map((p) => p.PartNumber), [1]);
    const lastTag = await direct.put(interrupted, 2, randomBytes(KiB));
    t.is((await direct.complete(interrupted, [firstTag, lastTag])).status, 200);

    // The files service down: the gateway's breaker to it opens, uploads still finish and wait in the outbox.
    await cluster.files.kill();
    t.teardown(async () => void (cluster.files.running || (await cluster.files.start())));
    for (let i = 0; i < 2; i++) {
      const bytes = randomBytes(2 * KiB);
      const response = await fetch(`${base}/api/uploads/tus`, {
        method: 'POST',
        headers: { ...user.auth, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(bytes.length), 'Upload-Metadata': `filename ${Buffer.from(`while-files-down-${i}.bin`).toString('base64')}`, 'Content-Type': 'application/offset+octet-stream' },
        body: bytes,
      });
      t.is(response.status, 201);
      t.is(response.headers.get('govault-file-id'), null, 'files is down: no file yet');
    }
    const instance = { upstream: 'files', upstream_instance: cluster.files.url };
    let open = false;
    for (let i = 0; i < 50 && !open; i++) {
      t.is((await fetch(`${base}/api/files`, { headers: user.auth })).status, 503);
      open = (await Scrape.of(`${cluster.gatewayMetricsUrl}/metrics`)).value('circuit_breaker_open', instance) === 1;
    }
    t.true(open, 'the gateway\'s breaker to files opened');
    // The upload instance that tried to register them: its own breaker to files opens too.
    const uploadBreakerOpen = async () => (await Promise.all(cluster.uploads.map(async (u) => (await Scrape.of(`${u.url}/metrics`)).value('circuit_breaker_open', { upstream: 'files' })))).some((v) => v === 1);
    t.true(await eventually(uploadBreakerOpen, 20_000, 250), 'an upload instance\'s breaker to files opened');
    // Users keep trying for a few seconds (each a 503 at once, the breaker open): long enough for
    // Prometheus (1 s scrapes) to see the open breakers, the backlog and the 5xx rate.
    for (const until = Date.now() + 3_000; Date.now() < until; await sleep(250)) {
      t.is((await fetch(`${base}/api/files`, { headers: user.auth })).status, 503);
    }

    await cluster.files.start();
    const backlog = async () => Math.max(...(await Promise.all(cluster.uploads.map(async (u) => (await Scrape.of(`${u.url}/metrics`)).value('govault_registration_outbox_backlog')))));
    t.true(await eventually(async () => (await backlog()) === 0, 60_000, 250), 'the outbox delivered what waited');
    // The gateway's own breaker to files may still be open for a moment (503): a user tries again.
    let names: string[] = [];
    const ownedListed = async () => {
      const answer = await getJson<{ items: Array<{ name: string }> }>(`${base}/api/files?view=owned`, user.auth);
      if (answer.status === 200) names = answer.body.items.map((f) => f.name);
      return answer.status === 200;
    };
    t.true(await eventually(ownedListed, 20_000, 250), 'the owned list answers again once files is back');
    for (let i = 0; i < 2; i++) t.true(names.includes(`while-files-down-${i}.bin`), `while-files-down-${i}.bin registered once files came back`);
    t.true(await eventually(async () => (await Scrape.of(`${cluster.gatewayMetricsUrl}/metrics`)).value('circuit_breaker_open', instance) === 0, 20_000, 250), 'the gateway\'s breaker closed again');
  });

  test.serial('real: every query of every panel of the committed dashboards returns data from Prometheus, and the resume rate shows each mode\'s resumes', async (t) => {
    const { prometheus, since, cluster } = await stackOf();
    // Three more evaluations after the traffic: the last scrapes and the recording rules caught up.
    await sleep(3_000);
    const end = Math.floor(Date.now() / 1000);
    const queries = committedPanelQueries();
    t.true(queries.length >= 30, `${queries.length} panel queries`);
    const empty: string[] = [];
    const noNumber: string[] = [];
    for (const q of queries) {
      const expr = substituteVariables(q.expr);
      const series = await prometheus.queryRange(expr, since, end, 2);
      if (series.length === 0) empty.push(`${q.dashboard} / ${q.panel}: ${expr}`);
      else if (!series.some(hasNumber)) noNumber.push(`${q.dashboard} / ${q.panel}: ${expr}`);
    }
    t.deepEqual({ empty, noNumber }, { empty: [], noNumber: [] }, 'panel queries that return no series (empty) or whose series hold no number, NaN only (noNumber)');

    // The Services dashboard's `service` variable lists every service.
    t.deepEqual((await prometheus.labelValues('service', 'http_requests_total')).sort(), ['auth', 'files', 'gateway', 'upload']);

    // The resume-rate panel: above 0 for tus and for direct, which both resumed.
    const resumePanel = queries.find((q) => q.panel.startsWith('Resume rate'));
    t.truthy(resumePanel, 'the Uploads dashboard has its resume-rate panel');
    const ratio = await prometheus.query(substituteVariables(resumePanel!.expr));
    const byMode = Object.fromEntries(ratio.map((s) => [s.metric.mode, Number(s.values[0]![1])]));
    t.true(byMode.tus! > 0, `tus resume rate ${byMode.tus}`);
    t.true(byMode.direct! > 0, `direct resume rate ${byMode.direct}`);
    await checkWhatThePanelsShow(t, prometheus, cluster, since, end);
  });
}

/**
 * What the panels show of the traffic above, read with the panels' own expressions over
 * the test's window: the highest value each series reached (and a few values now).
 */
async function checkWhatThePanelsShow(t: ExecutionContext, prometheus: PrometheusServer, cluster: Cluster, since: number, end: number) {
  const highest = async (expr: string, labels: Record<string, string> = {}) => {
    const series = await prometheus.queryRange(expr, since, end, 1);
    const values = series
      .filter((s) => Object.entries(labels).every(([k, v]) => s.metric[k] === v))
      .flatMap((s) => s.values.map(([, v]) => Number(v)).filter(Number.isFinite));
    return values.length === 0 ? Number.NaN : Math.max(...values);
  };
  const lowest = async (expr: string) => -(await highest(`-(${expr})`));
  const now = async (expr: string) => (await prometheus.query(expr)).reduce((sum, s) => sum + Number(s.values[0]![1]), 0);
  const checks: Array<[string, boolean]> = [
    ['Uploads created (tus) > 0', (await highest('mode:govault_uploads_created:rate5m', { mode: 'tus' })) > 0],
    ['Uploads finished (direct) > 0', (await highest('mode:govault_uploads_finished:rate5m', { mode: 'direct' })) > 0],
    ['Bytes received (tus) > 0', (await highest('mode:govault_bytes_received:rate5m', { mode: 'tus' })) > 0],
    ['Bytes received (direct) > 0', (await highest('mode:govault_bytes_received:rate5m', { mode: 'direct' })) > 0],
    ['Failures: tus checksum > 0', (await highest('sum by (mode, reason) (60 * rate(govault_uploads_failed_total[1m]))', { mode: 'tus', reason: 'checksum' })) > 0],
    ['Failures: direct parts > 0', (await highest('sum by (mode, reason) (60 * rate(govault_uploads_failed_total[1m]))', { mode: 'direct', reason: 'parts' })) > 0],
    ['tus lock waits > 0', (await highest('sum (60 * rate(govault_tus_lock_waits_total[1m]))')) > 0],
    ['429s by rule: api > 0', (await highest('sum by (rule) (rate(rate_limited_requests_total{job="govault-gateway"}[1m]))', { rule: 'api' })) > 0],
    ['gateway breaker to files seen open', (await highest('max by (upstream, upstream_instance) (circuit_breaker_open{job="govault-gateway"})', { upstream: 'files', upstream_instance: cluster.files.url })) === 1],
    ['upload breaker to files seen open', (await highest('max by (instance, upstream) (circuit_breaker_open{job="govault-upload"})', { upstream: 'files' })) === 1],
    ['outbox backlog reached 2', (await highest('max (govault_registration_outbox_backlog)')) >= 2],
    ['outbox backlog is 0 again', (await now('max (govault_registration_outbox_backlog)')) === 0],
    ['outbox delivery attempts > 0', (await highest('sum (60 * rate(govault_outbox_delivery_attempts_total[1m]))')) > 0],
    ['outbox failures unreachable > 0', (await highest('sum by (reason) (60 * rate(govault_outbox_delivery_failures_total[1m]))', { reason: 'unreachable' })) > 0],
    ['S3 requests ok > 0', (await highest('sum by (outcome) (rate(govault_s3_request_duration_seconds_count[1m]))', { outcome: 'ok' })) > 0],
    ['files seen down (up 0)', (await lowest('min (up{job="govault-files"})')) === 0],
    ['every target up again', (await now('min (up{job=~"govault-.*"})')) === 1],
    ['every instance ready now', (await now('min (govault_ready)')) === 1],
    ['gateway 5xx seen while files was down', (await highest('service:govault_http_5xx_ratio:rate5m', { service: 'gateway' })) > 0],
  ];
  t.deepEqual(checks.filter(([, ok]) => !ok).map(([name]) => name), [], 'what the panels show of the traffic');
}
