import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalTokenIssuer, InternalTokenVerifier } from '@govault/lib';
// Not exported by @govault/auth (its index is the app and the config): the loader auth
// runs at start, read here to check the file layout the chart mounts.
import { loadSigningKeys } from '../../server/auth/src/token/signing-keys.ts';
import { startFakeCluster } from '../src/helm-fake-cluster.ts';
import { CHART_DIR, findGo, findHelm, helmTemplate, parseManifests, type K8sObject } from '../src/helm.ts';
import { SERVICES } from '../src/helm-values.ts';
import { suiteUnavailable } from './unavailable.ts';

/**
 * The keys the chart generates: that they work with GoVault's own token code in the file
 * layout the pods get, and that an upgrade keeps them. `helm template` has no cluster, so
 * its `lookup` finds nothing and every render makes new keys; the upgrade case runs
 * `helm template --dry-run=server` against a fake API server (src/helm-fake-cluster.ts)
 * that holds what a first install created, which is the same render-with-lookup that
 * `helm upgrade` does.
 */
const helm = await findHelm();
const RELEASE = 'govault';
const NAMESPACE = 'vault';

const keyObjectNames = [...SERVICES.map((svc) => `${RELEASE}-${svc}-internal-key`), `${RELEASE}-internal-public-keys`, `${RELEASE}-auth-signing-key`];
const isKeyObject = (obj: K8sObject) => keyObjectNames.includes(obj.metadata.name);
const keyData = (objects: K8sObject[]) => Object.fromEntries(objects.filter(isKeyObject).map((obj) => [obj.metadata.name, obj.data as Record<string, string>]));

/** Writes `files` into `dir` as the kubelet writes a Secret/ConfigMap/projected volume: real files in a timestamped folder, `..data` and each name symlinks. */
function writeVolume(dir: string, files: Record<string, string>): void {
  const stamped = join(dir, '..2026_12_02_00_00_00.000000001');
  mkdirSync(stamped, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(stamped, name), content, { mode: 0o440 });
  symlinkSync('..2026_12_02_00_00_00.000000001', join(dir, '..data'));
  for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(dir, name));
}

/** Each service's /keys/internal as its pod sees it: its own Secret's key and the public-keys ConfigMap. */
function internalKeyDirs(objects: K8sObject[], root: string): Record<string, string> {
  const publicKeys = objects.find((o) => o.metadata.name === `${RELEASE}-internal-public-keys`)!.data as Record<string, string>;
  return Object.fromEntries(
    SERVICES.map((svc) => {
      const secret = objects.find((o) => o.metadata.name === `${RELEASE}-${svc}-internal-key`)!;
      const dir = join(root, svc);
      writeVolume(dir, { ...publicKeys, [`${svc}.key`]: Buffer.from(secret.data[`${svc}.key`], 'base64').toString() });
      return [svc, dir];
    }),
  );
}

if (helm) {
  const helmBin = helm;
  const workDir = mkdtempSync(join(tmpdir(), 'govault-helm-keys-'));
  test.after.always(() => rmSync(workDir, { recursive: true, force: true }));
  const render = (extra: { extraArgs?: string[]; env?: NodeJS.ProcessEnv } = {}) =>
    helmTemplate(helmBin, { release: RELEASE, namespace: NAMESPACE, ...extra }).then(parseManifests);
  const firstInstall = render();

  test('the keys template keeps every key object through lookup', (t) => {
    const template = readFileSync(join(CHART_DIR, 'templates/keys.yaml'), 'utf8');
    t.regex(template, /lookup "v1" "Secret" \$\.Release\.Namespace \$name/, 'the internal key Secrets');
    t.regex(template, /lookup "v1" "ConfigMap" \.Release\.Namespace \$publicKeysName/, 'the public keys ConfigMap');
    t.regex(template, /lookup "v1" "Secret" \.Release\.Namespace \$signingName/, 'the signing key Secret');
  });

  test('each service signs internal tokens with its rendered key and its callees verify them with the rendered certificates', async (t) => {
    const dirs = internalKeyDirs(await firstInstall, join(workDir, 'internal'));
    // The calls GoVault makes (ARCHITECTURE.md): gateway -> all three, upload -> files, files -> auth.
    const calls: Array<[string, string]> = [['gateway', 'auth'], ['gateway', 'upload'], ['gateway', 'files'], ['upload', 'files'], ['files', 'auth']];
    for (const [caller, callee] of calls) {
      const token = InternalTokenIssuer.fromKeyDir(dirs[caller]!, caller).issue(callee, { userId: 'u1' });
      const claims = InternalTokenVerifier.fromKeyDir(dirs[callee]!, callee).verify(token, [caller]);
      t.is(claims.caller, caller, `${caller} -> ${callee}`);
    }
    // A key is bound to its own certificate: upload's key cannot pass for the gateway's.
    const forged = new InternalTokenIssuer('gateway', readFileSync(join(dirs.upload!, 'upload.key'), 'utf8')).issue('files');
    t.throws(() => InternalTokenVerifier.fromKeyDir(dirs.files!, 'files').verify(forged, ['gateway']), { message: /Invalid internal token/ });
  });

  test('auth loads the rendered signing key as the chart mounts it: a Secret folder of symlinks into ..data', async (t) => {
    const secret = (await firstInstall).find((o) => o.metadata.name === `${RELEASE}-auth-signing-key`)!;
    const pem = Buffer.from(secret.data['signing.key'], 'base64').toString();
    const folderDir = join(workDir, 'signing-folder');
    writeVolume(folderDir, { 'signing.key': pem });
    const ring = loadSigningKeys(folderDir);
    t.is(ring.jwks().keys.length, 1);
    t.deepEqual(readdirSync(folderDir).filter((name) => !name.startsWith('..')), ['signing.key'], 'auth wrote no key of its own next to the mounted one');
  });

  test('without a cluster every render makes new keys (so what keeps them below is lookup)', async (t) => {
    const [first, second] = [keyData(await firstInstall), keyData(await render())];
    for (const name of keyObjectNames) t.notDeepEqual(first[name], second[name], name);
  });

  test('an upgrade over a first install keeps every private key and certificate', async (t) => {
    const installed = await firstInstall;
    const cluster = await startFakeCluster(installed.filter(isKeyObject), NAMESPACE, RELEASE);
    try {
      const upgraded = await render({ extraArgs: ['--dry-run=server', '--disable-openapi-validation'], env: { ...process.env, KUBECONFIG: cluster.kubeconfig } });
      t.deepEqual(keyData(upgraded), keyData(installed));
      for (const name of keyObjectNames) {
        const kind = name.endsWith('public-keys') ? 'configmaps' : 'secrets';
        t.true(cluster.requests.includes(`GET /api/v1/namespaces/${NAMESPACE}/${kind}/${name}`), `looked up ${name}`);
      }
    } finally {
      await cluster.close();
    }
  });

  test('an upgrade that finds one key Secret lost makes a new key and certificate for that service only', async (t) => {
    const installed = await firstInstall;
    const lost = `${RELEASE}-files-internal-key`;
    const cluster = await startFakeCluster(installed.filter((o) => isKeyObject(o) && o.metadata.name !== lost), NAMESPACE, RELEASE);
    try {
      const upgraded = await render({ extraArgs: ['--dry-run=server', '--disable-openapi-validation'], env: { ...process.env, KUBECONFIG: cluster.kubeconfig } });
      const [before, after] = [keyData(installed), keyData(upgraded)];
      t.notDeepEqual(after[lost], before[lost]);
      for (const name of keyObjectNames.filter((n) => n !== lost && !n.endsWith('public-keys'))) t.deepEqual(after[name], before[name], name);
      const publicKeys = (data: Record<string, string> | undefined) => ({ ...data, 'files.pub': undefined });
      t.deepEqual(publicKeys(after[`${RELEASE}-internal-public-keys`]), publicKeys(before[`${RELEASE}-internal-public-keys`]), 'the other certificates stay');
      t.not(after[`${RELEASE}-internal-public-keys`]!['files.pub'], before[`${RELEASE}-internal-public-keys`]!['files.pub']);
      // The new certificate is the new key's: gateway -> files still verifies.
      const dirs = internalKeyDirs(upgraded, join(workDir, 'after-loss'));
      const token = InternalTokenIssuer.fromKeyDir(dirs.files!, 'files').issue('auth');
      t.is(InternalTokenVerifier.fromKeyDir(dirs.auth!, 'auth').verify(token, ['files']).caller, 'files');
    } finally {
      await cluster.close();
    }
  });
  test('keys.create=false renders no key object and the pods still mount the same names (made by the operator)', async (t) => {
    const objects = await render({ extraArgs: ['--set', 'keys.create=false'] });
    t.deepEqual(objects.filter(isKeyObject), []);
    const gateway = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === `${RELEASE}-gateway`)!;
    const sources = gateway.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'internal-keys').projected.sources;
    t.deepEqual(sources.map((s: { secret?: { name: string }; configMap?: { name: string } }) => (s.secret ?? s.configMap)!.name), [`${RELEASE}-gateway-internal-key`, `${RELEASE}-internal-public-keys`]);
  });
} else {
  suiteUnavailable('Helm key checks', `helm is missing (PATH or $(go env GOPATH)/bin${findGo() ? '' : '; go is missing too'}): go install helm.sh/helm/v4/cmd/helm@v4.3.2, as .ci/run does`);
}
