import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { K8sObject } from './helm.ts';

/**
 * Just enough of a Kubernetes API server for `helm template --dry-run=server`: discovery
 * for the kinds the chart renders, and GET of one object by name (what the template's
 * `lookup` and Helm's own ownership check ask). Everything else is 404. It lets a test
 * run the chart's lookup through Helm's real client against objects a previous install
 * left, which plain `helm template` (no cluster) cannot.
 */

/** Resource name, kind, per API group/version path: the kinds the chart renders. */
const RESOURCES: Record<string, Array<[string, string]>> = {
  '/api/v1': [
    ['secrets', 'Secret'],
    ['configmaps', 'ConfigMap'],
    ['services', 'Service'],
    ['serviceaccounts', 'ServiceAccount'],
  ],
  '/apis/apps/v1': [['deployments', 'Deployment']],
  '/apis/autoscaling/v2': [['horizontalpodautoscalers', 'HorizontalPodAutoscaler']],
  '/apis/policy/v1': [['poddisruptionbudgets', 'PodDisruptionBudget']],
  '/apis/networking.k8s.io/v1': [
    ['networkpolicies', 'NetworkPolicy'],
    ['ingresses', 'Ingress'],
  ],
};

export interface FakeCluster {
  /** A kubeconfig file whose current context is this server and the namespace. */
  kubeconfig: string;
  /** Every request path, in order. */
  requests: string[];
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function groupList() {
  const groups = Object.keys(RESOURCES)
    .filter((path) => path.startsWith('/apis/'))
    .map((path) => {
      const [group, version] = path.slice('/apis/'.length).split('/');
      const gv = { groupVersion: `${group}/${version}`, version };
      return { name: group, versions: [gv], preferredVersion: gv };
    });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

function resourceList(path: string, resources: Array<[string, string]>) {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: path.replace(/^\/apis?\//, ''),
    resources: resources.map(([name, kind]) => ({ name, singularName: kind.toLowerCase(), namespaced: true, kind, verbs: ['get', 'list', 'create', 'update', 'patch', 'delete'] })),
  };
}

/** The path an object is read at: /api/v1/namespaces/ns/secrets/name, /apis/apps/v1/.... */
function objectPath(obj: K8sObject, namespace: string): string {
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const resource = RESOURCES[base]?.find(([, kind]) => kind === obj.kind)?.[0];
  if (!resource) throw new Error(`the fake cluster does not serve ${obj.apiVersion} ${obj.kind}`);
  return `${base}/namespaces/${namespace}/${resource}/${obj.metadata.name}`;
}

/**
 * Starts the fake API server on 127.0.0.1 holding `objects` in `namespace`, each marked
 * as Helm marks what it installs for `release` (so Helm sees them as its own).
 */
export async function startFakeCluster(objects: K8sObject[], namespace: string, release: string): Promise<FakeCluster> {
  const stored = new Map<string, K8sObject>();
  for (const obj of objects) {
    const owned = structuredClone(obj);
    owned.metadata.namespace = namespace;
    owned.metadata.labels = { ...owned.metadata.labels, 'app.kubernetes.io/managed-by': 'Helm' };
    owned.metadata.annotations = { ...owned.metadata.annotations, 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': namespace };
    stored.set(objectPath(owned, namespace), owned);
  }
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    requests.push(`${req.method} ${path}`);
    if (req.method !== 'GET') return send(res, 405, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 405 });
    if (path === '/version') return send(res, 200, { major: '1', minor: '37', gitVersion: 'v1.37.0', platform: 'linux/amd64' });
    if (path === '/api') return send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
    if (path === '/apis') return send(res, 200, groupList());
    const resources = RESOURCES[path];
    if (resources) return send(res, 200, resourceList(path, resources));
    const obj = stored.get(path);
    if (obj) return send(res, 200, obj);
    send(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${path} not found` });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dir = mkdtempSync(join(tmpdir(), 'govault-fake-kube-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${port}` } }],
      users: [{ name: 'fake', user: { token: 'fake' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace } }],
      'current-context': 'fake',
    }),
    { mode: 0o600 },
  );
  return {
    kubeconfig,
    requests,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
