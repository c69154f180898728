import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { registerAndLogin, type TestUser } from './client.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { companion, directUpload, incompleteTusUpload, namesOf, storeReader, tusHead, tusUpload, uploadIdOf, type StoreReader } from './stores.ts';
import { availableModes, type Mode } from './system.ts';

/**
 * The background jobs, each running on its own schedule in the real processes (started
 * with short settings from each service's config.ts), watched from outside: nothing here
 * calls a job. Files purges the trash past TRASH_RETENTION_SECONDS and retries object
 * deletions that failed (HOUSEKEEPING_INTERVAL_SECONDS); upload sweeps incomplete uploads
 * past UPLOAD_EXPIRY_SECONDS (UPLOAD_EXPIRY_SWEEP_SECONDS). Stores: the data folder
 * (embedded mode) or the S3 bucket (real mode).
 */
const MiB = 1024 * 1024;
const TRASH_RETENTION_SECONDS = 4;
const UPLOAD_EXPIRY_SECONDS = 5;
/** How long a job may take to get round to something: generous, as the machine is shared. */
const PATIENCE_MS = 60_000;
/** Allowance for rounding when the test compares its clock with a time the server reported. */
const CLOCK_SLACK_MS = 250;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The files service's view of the store, which a test can take away (S3 or the disk
 * "unmounted") and give back, while the upload service and the test keep the real one.
 * Embedded: files' STORAGE_DIR is a symlink to the real folder, pointed at a plain file
 * while away (every unlink under it fails with ENOTDIR). Real: files' S3_ENDPOINT is a
 * TCP relay to the real S3 server that drops every connection while away.
 */
interface Outage {
  filesEnv: Record<string, string>;
  uploadEnv: Record<string, string>;
  objectsDir: string;
  away(): void;
  back(): void;
  close(): Promise<void>;
}

function diskOutage(): Outage {
  const base = mkdtempSync(join(tmpdir(), 'govault-jobs-'));
  const objectsDir = join(base, 'objects');
  mkdirSync(objectsDir);
  const notMounted = join(base, 'not-mounted');
  writeFileSync(notMounted, '');
  const view = join(base, 'files-view');
  const point = (target: string) => {
    symlinkSync(target, `${view}.next`);
    renameSync(`${view}.next`, view); // atomic: files never sees no folder at all
  };
  point(objectsDir);
  return {
    filesEnv: { STORAGE_DIR: view },
    uploadEnv: { STORAGE_DIR: objectsDir },
    objectsDir,
    away: () => point(notMounted),
    back: () => point(objectsDir),
    close: async () => rmSync(base, { recursive: true, force: true }),
  };
}

async function s3Outage(): Promise<Outage> {
  const target = new URL(process.env.S3_ENDPOINT!);
  let away = false;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (away) return void client.destroy();
    const upstream = connect(Number(target.port || 80), target.hostname);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    filesEnv: { S3_ENDPOINT: `http://127.0.0.1:${port}` },
    uploadEnv: {},
    objectsDir: '',
    away: () => {
      away = true;
      for (const socket of open) socket.destroy(); // kept-alive connections too
    },
    back: () => {
      away = false;
    },
    close: () => new Promise<void>((resolve) => {
      for (const socket of open) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

interface Jobs {
  cluster: Cluster;
  outage: Outage;
  store: StoreReader;
  filesSql: pg.Pool;
}

const running = new Map<Mode, Promise<Jobs>>();
/** An empty web app folder: no web build, as these tests never load the app. */
const noWebApp = mkdtempSync(join(tmpdir(), 'govault-no-web-'));

async function start(mode: Mode): Promise<Jobs> {
  const outage = mode === 'embedded' ? diskOutage() : await s3Outage();
  const cluster = await startCluster(mode, {
    serviceEnv: {
      files: { TRASH_RETENTION_SECONDS: String(TRASH_RETENTION_SECONDS), HOUSEKEEPING_INTERVAL_SECONDS: '1', ...outage.filesEnv },
      upload: { UPLOAD_EXPIRY_SECONDS: String(UPLOAD_EXPIRY_SECONDS), UPLOAD_EXPIRY_SWEEP_SECONDS: '1', ...outage.uploadEnv },
      gateway: { WEB_APP_DIR: noWebApp },
    },
  });
  const store = storeReader(mode, outage.objectsDir);
  return { cluster, outage, store, filesSql: new pg.Pool({ connectionString: cluster.env.FILES_DATABASE_URL, max: 2 }) };
}
const jobsFor = (mode: Mode) => {
  if (!running.has(mode)) running.set(mode, start(mode));
  return running.get(mode)!;
};
test.after.always(async () => {
  for (const jobs of running.values()) {
    const j = await jobs.catch(() => undefined);
    if (!j) continue;
    await j.filesSql.end();
    j.store.close();
    await j.cluster.stop();
    await j.outage.close();
  }
  rmSync(noWebApp, { recursive: true, force: true });
});

const filesApi = (cluster: Cluster, user: TestUser, path = '', init: RequestInit = {}) =>
  fetch(`${cluster.baseUrl}/api/files${path}`, { ...init, headers: { ...user.auth, ...init.headers } });

async function downloadHash(cluster: Cluster, user: TestUser, fileId: string): Promise<string> {
  const response = await filesApi(cluster, user, `/${fileId}/content`);
  if (response.status !== 200) throw new Error(`download answered ${response.status}`);
  return sha256(new Uint8Array(await response.arrayBuffer()));
}

/** A file made in one request (creation-with-upload): a short upload expiry cannot catch it half-done. */
async function quickFile(cluster: Cluster, user: TestUser, name: string, data = randomBytes(64 * 1024)) {
  const { url, fileId } = await tusUpload(cluster.baseUrl, user, data, name, Infinity, { uploadDataDuringCreation: true });
  return { id: uploadIdOf(url), fileId, data };
}

/**
 * Polls until `poll` answers true, up to PATIENCE_MS. A poll that sees something happen
 * too early says so: whatever it saw had happened by the time its answer arrived, so an
 * answer that arrives before the due time proves the job early (and a slow answer can
 * only make that check more lenient, never fail it wrongly).
 */
async function watch(t: ExecutionContext, what: string, poll: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + PATIENCE_MS;
  while (Date.now() < deadline) {
    if (await poll()) return;
    await sleep(200);
  }
  t.fail(`${what} did not happen within ${PATIENCE_MS / 1000} s`);
}

for (const mode of availableModes()) {
  test.serial(`${mode}: the trash purge deletes a file trashed longer than the retention, on its own schedule, and nothing else`, async (t) => {
    const { cluster, store } = await jobsFor(mode);
    const alice = await registerAndLogin(cluster.baseUrl, 'Alice');
    const kept = await quickFile(cluster, alice, 'kept.bin');
    const restored = await quickFile(cluster, alice, 'restored.bin');
    const purged = await quickFile(cluster, alice, 'purged.bin');
    const keptNames = (await store.list()).filter((n) => n.name.includes(kept.id) || n.name.includes(restored.id));
    t.not(namesOf(await store.list(), purged.id).length, 0, 'the file to purge is in the store');

    // `restored` goes to the trash first and comes back: a purge round that reaches
    // `purged` (trashed later) would have reached it too.
    t.is((await filesApi(cluster, alice, `/${restored.fileId}`, { method: 'DELETE' })).status, 204);
    t.is((await filesApi(cluster, alice, `/${restored.fileId}/restore`, { method: 'POST' })).status, 200);
    t.is((await filesApi(cluster, alice, `/${purged.fileId}`, { method: 'DELETE' })).status, 204);
    const { deletedAt } = (await (await filesApi(cluster, alice, `/${purged.fileId}`)).json()) as { deletedAt: string };
    const purgeDue = Date.parse(deletedAt) + TRASH_RETENTION_SECONDS * 1000;

    await watch(t, 'the purge', async () => {
      const status = (await filesApi(cluster, alice, `/${purged.fileId}`)).status;
      const seenAt = Date.now();
      if (status === 200) return false;
      t.is(status, 404);
      t.true(seenAt >= purgeDue - CLOCK_SLACK_MS, `purged ${purgeDue - seenAt} ms before its retention ended`);
      return true;
    });
    await watch(t, 'the purged object leaving the store', async () => namesOf(await store.list(), purged.id).length === 0);
    const trash = (await (await filesApi(cluster, alice, '?view=trash')).json()) as { items: Array<{ id: string }> };
    t.false(trash.items.some((f) => f.id === purged.fileId), 'no longer in the trash view');

    for (const file of [kept, restored]) {
      t.like(await (await filesApi(cluster, alice, `/${file.fileId}`)).json(), { id: file.fileId, deletedAt: null });
      t.is(await downloadHash(cluster, alice, file.fileId), sha256(file.data));
    }
    t.deepEqual((await store.list()).filter((n) => n.name.includes(kept.id) || n.name.includes(restored.id)), keptNames, 'their stored names and bytes are untouched');
  });

  test.serial(`${mode}: an object delete that failed while storage was away is retried on schedule and succeeds once it is back`, async (t) => {
    const { cluster, outage, store, filesSql } = await jobsFor(mode);
    const alice = await registerAndLogin(cluster.baseUrl, 'Alice');
    const bystander = await quickFile(cluster, alice, 'bystander.bin');
    const doomed = await quickFile(cluster, alice, 'doomed.bin');
    const doomedNames = namesOf(await store.list(), doomed.id);
    t.not(doomedNames.length, 0);
    const attempts = async () =>
      (await filesSql.query<{ attempts: number }>('SELECT attempts FROM files.object_deletions WHERE storage_key = $1', [doomed.id])).rows[0]?.attempts;

    outage.away();
    t.teardown(() => outage.back());
    t.is((await filesApi(cluster, alice, `/${doomed.fileId}/permanent`, { method: 'DELETE' })).status, 204, 'the owner is answered at once');
    t.is((await filesApi(cluster, alice, `/${doomed.fileId}`)).status, 404, 'and the file is gone for them');
    t.deepEqual(namesOf(await store.list(), doomed.id), doomedNames, 'but the store could not be reached: the object is still there');
    // The first attempt failed in the request; wait for the housekeeping loop to try again, and fail again.
    await watch(t, 'a scheduled retry while storage is away', async () => ((await attempts()) ?? 0) >= 2);
    t.deepEqual(namesOf(await store.list(), doomed.id), doomedNames, 'retries while away change nothing');

    outage.back();
    await watch(t, 'the retry after storage came back', async () => namesOf(await store.list(), doomed.id).length === 0);
    t.is(await attempts(), undefined, 'nothing is left queued');
    t.is(await downloadHash(cluster, alice, bystander.fileId), sha256(bystander.data), 'the other file is untouched');
  });

  test.serial(`${mode}: the expiry sweep removes an incomplete upload past its expiry, and an idle direct upload, never a finished one`, async (t) => {
    const { cluster, store } = await jobsFor(mode);
    const bob = await registerAndLogin(cluster.baseUrl, 'Bob');
    const finished = await quickFile(cluster, bob, 'finished.bin');
    const finishedNames = (await store.list()).filter((n) => n.name.includes(finished.id));

    const alice = await registerAndLogin(cluster.baseUrl, 'Alice');
    const createdFrom = Date.now();
    const url = await incompleteTusUpload(cluster.baseUrl, alice, 4 * MiB, randomBytes(1 * MiB));
    const direct = await directUpload(cluster.baseUrl, alice, [randomBytes(1000)], false);
    const tusId = uploadIdOf(url);
    const stored = await store.list();
    t.not(namesOf(stored, tusId).length, 0, 'the unfinished tus upload is stored');
    t.not(namesOf(stored, direct.uploadId).length, 0, 'and so is the direct one');
    const listed = (await (await fetch(`${cluster.baseUrl}/api/uploads?state=incomplete`, { headers: alice.auth })).json()) as { items: Array<{ id: string }> };
    t.deepEqual(listed.items.map((i) => i.id).sort(), [tusId, direct.uploadId].sort());

    // Neither may go before UPLOAD_EXPIRY_SECONDS from its creation (tus) or last activity (direct).
    const expiresAt = createdFrom + UPLOAD_EXPIRY_SECONDS * 1000;
    const gone = new Set<string>();
    await watch(t, 'the expiry sweep', async () => {
      const names = await store.list();
      const seenAt = Date.now();
      for (const [what, id] of [['the tus upload', tusId], ['the direct upload', direct.uploadId]] as const) {
        if (gone.has(id) || namesOf(names, id).length > 0) continue;
        gone.add(id);
        t.true(seenAt >= expiresAt - CLOCK_SLACK_MS, `${what} was swept ${expiresAt - seenAt} ms before it expired`);
      }
      return gone.size === 2;
    });

    t.is((await tusHead(url, alice)).status, 410, 'HEAD: 410 Gone');
    const listParts = await companion(cluster.baseUrl, alice)('GET', `/${direct.uploadId}?key=${direct.key}`);
    t.is(listParts.status, 404, 'the aborted direct upload is gone');
    const after = (await (await fetch(`${cluster.baseUrl}/api/uploads?state=incomplete`, { headers: alice.auth })).json()) as { items: unknown[] };
    t.deepEqual(after.items, [], 'no longer among the unfinished uploads');

    t.deepEqual((await store.list()).filter((n) => n.name.includes(finished.id)), finishedNames, 'the finished upload keeps its object');
    t.is(await downloadHash(cluster, bob, finished.fileId), sha256(finished.data));
  });
}
