import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { registerAndLogin, type TestUser } from './client.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { companion, directUpload, incompleteTusUpload, namesOf, storeReader, tusHead, tusTerminate, tusUpload, uploadIdOf, type StoreReader, type StoredName } from './stores.ts';
import { availableModes, type Mode } from './system.ts';

/**
 * What removing an upload removes from the real object store (the data folder in
 * embedded mode, the S3 bucket in real mode), through the gateway of real processes:
 * a permanent delete takes a file's object and every sidecar the upload left (tus
 * `.info`/`.json`, `.part`, a direct upload's parts); terminating or aborting an
 * unfinished upload takes its bytes, sidecars and S3 multipart upload. Another user's
 * uploads, finished or not, keep every name and byte.
 */
const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

const clusters = new Map<Mode, Promise<Cluster>>();
// No web build: these tests never load the app, and the gateway serves the API without it.
const noWebApp = mkdtempSync(join(tmpdir(), 'govault-no-web-'));
const clusterFor = (mode: Mode) => {
  if (!clusters.has(mode)) clusters.set(mode, startCluster(mode, { serviceEnv: { gateway: { WEB_APP_DIR: noWebApp } } }));
  return clusters.get(mode)!;
};
test.after.always(async () => {
  for (const cluster of clusters.values()) await (await cluster.catch(() => undefined))?.stop();
  rmSync(noWebApp, { recursive: true, force: true });
});

const files = (cluster: Cluster, user: TestUser, path = '', init: RequestInit = {}) =>
  fetch(`${cluster.baseUrl}/api/files${path}`, { ...init, headers: { ...user.auth, ...init.headers }, redirect: 'follow' });

async function download(cluster: Cluster, user: TestUser, fileId: string): Promise<string> {
  const response = await files(cluster, user, `/${fileId}/content`);
  if (response.status !== 200) throw new Error(`download answered ${response.status}`);
  return sha256(new Uint8Array(await response.arrayBuffer()));
}

/** The names of every upload in `ids`, with their fingerprints: a user's share of the store. */
const shareOf = (names: StoredName[], ids: string[]) => names.filter((n) => ids.some((id) => n.name.includes(id)));

/** Another user's finished file, unfinished tus upload and unfinished direct upload: what must stay. */
async function bystander(cluster: Cluster) {
  const user = await registerAndLogin(cluster.baseUrl, 'Bob');
  const data = randomBytes(9 * MiB + 17);
  const finished = await tusUpload(cluster.baseUrl, user, data, 'bob.bin', 5 * MiB);
  const unfinishedUrl = await incompleteTusUpload(cluster.baseUrl, user, 20 * MiB, randomBytes(9 * MiB));
  const direct = await directUpload(cluster.baseUrl, user, [randomBytes(5 * MiB)], false);
  const ids = [uploadIdOf(finished.url), uploadIdOf(unfinishedUrl), direct.uploadId];
  return { user, data, finished, unfinishedUrl, ids };
}

/**
 * What each kind of upload leaves in the store, by the README: the tus stores' sidecars
 * (`.json` on disk, `.info` in S3, and in S3 an unfinished upload's multipart upload and
 * its incomplete last part `.part`), a direct upload's part files on disk (named after
 * their MD5) or its multipart upload in S3.
 */
function expectedNames(mode: Mode, what: string, id: string): string[] {
  const tusFile = mode === 'embedded' ? [id, `${id}.json`] : [id, `${id}.info`];
  const table: Record<string, string[]> = {
    'the tus file': tusFile,
    'the trashed tus file': tusFile,
    'the direct file': [id],
    'the unfinished tus upload': mode === 'embedded' ? [id, `${id}.json`] : [`${id}.info`, `${id}.part`, `multipart-upload:${id}`],
    'the unfinished direct upload': mode === 'embedded' ? [`.multipart/${id}/`, `.multipart/${id}/1-<md5>`] : [`multipart-upload:${id}`],
  };
  return table[what]!;
}

for (const mode of availableModes()) {
  test.serial(`${mode}: permanent delete, termination and abort leave no name of the upload in the store, and touch no other user's`, async (t) => {
    const cluster = await clusterFor(mode);
    const store: StoreReader = storeReader(mode, join(cluster.dataDir, 'objects'));
    t.teardown(() => store.close());
    const bob = await bystander(cluster);
    const alice = await registerAndLogin(cluster.baseUrl, 'Alice');

    // Alice: a tus upload sent in 5 MiB chunks (S3: the first waits as `<id>.part`), one
    // moved to the trash first, a direct upload in two parts, and two unfinished uploads.
    const tusFile = await tusUpload(cluster.baseUrl, alice, randomBytes(9 * MiB + 5), 'alice.bin', 5 * MiB);
    const trashed = await tusUpload(cluster.baseUrl, alice, randomBytes(2 * MiB), 'trashed.bin', 1 * MiB);
    const direct = await directUpload(cluster.baseUrl, alice, [randomBytes(5 * MiB), randomBytes(1000)], true);
    // 9 MiB into a 20 MiB upload: S3 holds one 8 MiB part in a multipart upload and a 1 MiB `.part`.
    const unfinishedTus = await incompleteTusUpload(cluster.baseUrl, alice, 20 * MiB, randomBytes(9 * MiB));
    const unfinishedDirect = await directUpload(cluster.baseUrl, alice, [randomBytes(5 * MiB)], false);
    const aliceIds = {
      'the tus file': uploadIdOf(tusFile.url),
      'the trashed tus file': uploadIdOf(trashed.url),
      'the direct file': direct.uploadId,
      'the unfinished tus upload': uploadIdOf(unfinishedTus),
      'the unfinished direct upload': unfinishedDirect.uploadId,
    };

    const before = await store.list();
    for (const [what, id] of Object.entries(aliceIds)) {
      t.deepEqual(namesOf(before, id).map((name) => name.replace(/(\/\d+-)[0-9a-f]{32}$/, '$1<md5>')), expectedNames(mode, what, id), `${what} before`);
    }
    const bobBefore = shareOf(before, bob.ids);

    t.is((await files(cluster, alice, `/${trashed.fileId}`, { method: 'DELETE' })).status, 204, 'to the trash');
    t.not(namesOf(await store.list(), aliceIds['the trashed tus file']).length, 0, 'the trash keeps the bytes');
    for (const fileId of [tusFile.fileId, trashed.fileId, direct.fileId!]) {
      t.is((await files(cluster, alice, `/${fileId}/permanent`, { method: 'DELETE' })).status, 204);
      t.is((await files(cluster, alice, `/${fileId}`)).status, 404);
    }
    t.is(await tusTerminate(unfinishedTus, alice), 204);
    const aborted = await companion(cluster.baseUrl, alice)('DELETE', `/${unfinishedDirect.uploadId}?key=${unfinishedDirect.key}`);
    t.is(aborted.status, 200);

    const after = await store.list();
    for (const [what, id] of Object.entries(aliceIds)) t.deepEqual(namesOf(after, id), [], `nothing of ${what} is left (${id})`);
    t.true([404, 410].includes((await tusHead(unfinishedTus, alice)).status), 'the terminated upload is gone for its owner');

    t.deepEqual(shareOf(after, bob.ids), bobBefore, "every name and byte of Bob's uploads is still there");
    t.is(await download(cluster, bob.user, bob.finished.fileId), sha256(bob.data), "Bob's file downloads whole");
    t.deepEqual(await tusHead(bob.unfinishedUrl, bob.user), { status: 200, offset: String(9 * MiB) }, "Bob's unfinished upload keeps its offset");
  });
}
