import test, { type ExecutionContext } from 'ava';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkContainerEnv } from '../src/compose-wiring.ts';
import { checkServiceEnv } from '../src/service-env.ts';
import { resolveContainerEnv } from '../src/helm-env.ts';
import { buildK8sStrict, CHART_DIR, findGo, findHelm, helmLint, helmTemplate, k8sStrict, parseManifests, type K8sObject } from '../src/helm.ts';
import { CALLERS, SERVICE_PORTS, SERVICES, VALUE_SETS, EXTERNAL_EVERYTHING, DEFAULT_VALUES, type Service, type ValueSet } from '../src/helm-values.ts';
import { suiteUnavailable } from './unavailable.ts';

/**
 * The Helm chart as Helm and Kubernetes read it: lint, render, strict decoding into the
 * Kubernetes types, each service's environment against its own config schema, and what
 * the rendered objects promise (probes, security, the Ingress, NetworkPolicies, keys).
 */
const helm = await findHelm();
const go = findGo();

interface Rendered {
  text: string;
  objects: K8sObject[];
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!obj) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return obj;
}

const componentOf = (selector: { matchLabels?: Record<string, string> } | undefined) => selector?.matchLabels?.['app.kubernetes.io/component'];

if (helm && go) {
  const helmBin = helm;
  const workDir = mkdtempSync(join(tmpdir(), 'govault-helm-test-'));
  // Built once for the whole file; the Go build cache makes later runs take a second or two.
  const strictBinary = buildK8sStrict(go, workDir);
  const renders = new Map<string, Promise<Rendered>>(
    VALUE_SETS.map((set) => [
      set.name,
      helmTemplate(helmBin, { release: set.release, valuesFiles: set.valuesFiles }).then((text) => ({ text, objects: parseManifests(text) })),
    ]),
  );
  const rendered = (set: ValueSet) => renders.get(set.name)!;
  // After the build too: a run that matches no test needing it would otherwise remove the
  // folder while `go build` is still writing into it.
  test.after.always(async () => {
    await strictBinary.catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  });

  for (const set of VALUE_SETS) {
    const deployment = (objects: K8sObject[], svc: Service) => find(objects, 'Deployment', `${set.release}-${svc}`);

    test(`helm lint --strict passes with the ${set.name}`, async (t) => {
      const lint = await helmLint(helmBin, { valuesFiles: set.valuesFiles });
      t.is(lint.code, 0, lint.stdout + lint.stderr);
      t.regex(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });

    test(`every object rendered with the ${set.name} decodes strictly as its Kubernetes type`, async (t) => {
      const result = await k8sStrict(await strictBinary, (await rendered(set)).text);
      t.is(result.code, 0, result.stderr);
      for (const line of ['apps/v1 Deployment 4', 'v1 Service 4', 'autoscaling/v2 HorizontalPodAutoscaler 2', 'policy/v1 PodDisruptionBudget 4', 'networking.k8s.io/v1 NetworkPolicy 4', 'networking.k8s.io/v1 Ingress 1', 'v1 ServiceAccount 1', 'v1 ConfigMap 1']) {
        t.true(result.stdout.split('\n').includes(line), `expected "${line}" in:\n${result.stdout}`);
      }
    });

    test(`each Deployment's environment (${set.name}) passes its service's config schema, Secrets resolved`, async (t) => {
      const { objects } = await rendered(set);
      for (const svc of SERVICES) {
        const env = resolveContainerEnv(deployment(objects, svc), objects, set.existing);
        t.deepEqual(checkServiceEnv(svc, env), { unknown: [], problems: [] }, `${svc}: ${JSON.stringify(env, null, 1)}`);
        t.deepEqual(deployment(objects, svc).spec.template.spec.containers[0].args, [svc], `${svc} runs its own command word`);
      }
    });

    test(`every Deployment (${set.name}) is probed on /readyz and /healthz at its service port`, async (t) => {
      const { objects } = await rendered(set);
      for (const svc of SERVICES) {
        const container = deployment(objects, svc).spec.template.spec.containers[0];
        const portNumber = (port: string | number) => (typeof port === 'number' ? port : container.ports.find((p: { name: string }) => p.name === port)?.containerPort);
        t.is(container.readinessProbe.httpGet.path, '/readyz', svc);
        t.is(container.livenessProbe.httpGet.path, '/healthz', svc);
        t.is(portNumber(container.readinessProbe.httpGet.port), SERVICE_PORTS[svc], `${svc} readiness port`);
        t.is(portNumber(container.livenessProbe.httpGet.port), SERVICE_PORTS[svc], `${svc} liveness port`);
        const service = find(objects, 'Service', `${set.release}-${svc}`);
        t.is(service.spec.ports.find((p: { name: string }) => p.name === 'http').port, SERVICE_PORTS[svc], `${svc} Service port`);
      }
      const gateway = deployment(objects, 'gateway').spec.template.spec.containers[0];
      t.deepEqual(gateway.ports.map((p: { containerPort: number }) => p.containerPort), [8080, 9080]);
    });

    test(`every pod (${set.name}) runs as uid 1000, non-root, read-only root, no capabilities, RuntimeDefault seccomp, no API token`, async (t) => {
      const { objects } = await rendered(set);
      t.false(find(objects, 'ServiceAccount', set.release).automountServiceAccountToken);
      for (const svc of SERVICES) {
        const pod = deployment(objects, svc).spec.template.spec;
        const container = pod.containers[0];
        t.like(pod.securityContext, { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } }, svc);
        t.like(container.securityContext, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false }, svc);
        t.deepEqual(container.securityContext.capabilities.drop, ['ALL'], svc);
        t.false(pod.automountServiceAccountToken, svc);
        const emptyDirAt = (path: string) => {
          const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === path);
          return mount && pod.volumes.find((v: { name: string }) => v.name === mount.name)?.emptyDir !== undefined;
        };
        t.true(emptyDirAt('/data') && emptyDirAt('/tmp'), `${svc} has emptyDirs at /data and /tmp`);
        t.truthy(container.resources?.requests, `${svc} has resource requests`);
      }
    });

    test(`only the gateway is behind the Ingress (${set.name}), with tus-friendly ingress-nginx annotations`, async (t) => {
      const { objects } = await rendered(set);
      const ingresses = objects.filter((o) => o.kind === 'Ingress');
      t.is(ingresses.length, 1);
      const backends = ingresses[0]!.spec.rules.flatMap((rule: { http: { paths: Array<{ backend: unknown }> } }) => rule.http.paths.map((p) => p.backend));
      t.deepEqual(backends, [{ service: { name: `${set.release}-gateway`, port: { name: 'http' } } }]);
      t.like(ingresses[0]!.metadata.annotations, {
        'nginx.ingress.kubernetes.io/proxy-body-size': '0',
        'nginx.ingress.kubernetes.io/proxy-request-buffering': 'off',
        'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
      });
      for (const svc of SERVICES.filter((s) => s !== 'gateway')) {
        t.not(find(objects, 'Service', `${set.release}-${svc}`).spec.type, 'LoadBalancer', `${svc} is not exposed`);
      }
    });

    test(`each NetworkPolicy (${set.name}) selects its service and lets in exactly its callers and Prometheus`, async (t) => {
      const { objects } = await rendered(set);
      for (const svc of SERVICES) {
        const policy = find(objects, 'NetworkPolicy', `${set.release}-${svc}`);
        t.is(componentOf(policy.spec.podSelector), svc);
        t.deepEqual(policy.spec.policyTypes, ['Ingress']);
        const [service, metrics] = policy.spec.ingress as Array<{ ports: Array<{ port: string }>; from?: Array<Record<string, { matchLabels?: Record<string, string> }>> }>;
        t.deepEqual(service!.ports.map((p) => p.port), ['http'], svc);
        const expected = CALLERS[svc];
        if (expected === 'anyone') {
          // Anyone, or the configured networkPolicy.gatewayFrom peers plus helm test's smoke pod.
          const pods = (service!.from ?? []).filter((peer) => peer.podSelector).map((peer) => componentOf(peer.podSelector));
          t.deepEqual(pods, service!.from ? ['smoke'] : [], `${svc}: ${JSON.stringify(service!.from)}`);
        } else {
          t.deepEqual(service!.from!.map((peer) => componentOf(peer.podSelector)).sort(), [...expected].sort(), svc);
          t.true(service!.from!.every((peer) => !peer.namespaceSelector && peer.podSelector?.matchLabels?.['app.kubernetes.io/instance'] === set.release), `${svc}: callers of this release only`);
        }
        t.deepEqual(metrics!.ports.map((p) => p.port), [svc === 'gateway' ? 'metrics' : 'http'], `${svc} metrics port`);
        t.is(metrics!.from!.length, 1);
        t.truthy(metrics!.from![0]!.namespaceSelector && metrics!.from![0]!.podSelector, `${svc}: Prometheus by namespace and pod`);
        t.is(policy.spec.ingress.length, 2, `${svc}: no other rule`);
      }
    });

    test(`each pod's key volume (${set.name}) holds its own private key and every public key, nothing else`, async (t) => {
      const { objects } = await rendered(set);
      for (const svc of SERVICES) {
        const pod = deployment(objects, svc).spec.template.spec;
        const keys = pod.volumes.find((v: { name: string }) => v.name === 'internal-keys').projected.sources;
        const secrets = keys.filter((s: { secret?: unknown }) => s.secret).map((s: { secret: { name: string; items: Array<{ key: string }> } }) => s.secret);
        t.deepEqual(secrets, [{ name: `${set.release}-${svc}-internal-key`, items: [{ key: `${svc}.key`, path: `${svc}.key` }] }], svc);
        t.deepEqual(Object.keys(find(objects, 'Secret', `${set.release}-${svc}-internal-key`).data), [`${svc}.key`]);
        const configMaps = keys.filter((s: { configMap?: unknown }) => s.configMap).map((s: { configMap: { name: string } }) => s.configMap.name);
        t.deepEqual(configMaps, [`${set.release}-internal-public-keys`], svc);
        t.deepEqual(container(pod).volumeMounts.find((m: { name: string }) => m.name === 'internal-keys'), { name: 'internal-keys', mountPath: '/keys/internal', readOnly: true });
        const signingVolumes = pod.volumes.filter((v: { secret?: { secretName: string } }) => v.secret?.secretName === `${set.release}-auth-signing-key`);
        t.is(signingVolumes.length, svc === 'auth' ? 1 : 0, `${svc}: only auth mounts the signing key`);
        const env = resolveContainerEnv(deployment(objects, svc), objects, set.existing);
        t.is(env.INTERNAL_KEY_DIR, '/keys/internal', svc);
        if (svc === 'auth') {
          t.is(env.AUTH_SIGNING_KEY_DIR, '/keys/signing');
          // One file by subPath: auth reads regular files only (helm-keys.test.ts shows why).
          t.deepEqual(container(pod).volumeMounts.find((m: { name: string }) => m.name === 'signing-key'), { name: 'signing-key', mountPath: '/keys/signing', readOnly: true });
        }
      }
      t.deepEqual(Object.keys(find(objects, 'ConfigMap', `${set.release}-internal-public-keys`).data).sort(), ['auth.pub', 'files.pub', 'gateway.pub', 'upload.pub']);
    });
  }

  const container = (pod: { containers: Array<Record<string, unknown> & { volumeMounts: Array<{ name: string }> }> }) => pod.containers[0]!;

  test('helm test runs the image\'s smoke command against the gateway Service, locked down like the services', async (t) => {
    const { objects } = await rendered(EXTERNAL_EVERYTHING);
    const pod = find(objects, 'Pod', 'prod-smoke');
    t.is(pod.metadata.annotations?.['helm.sh/hook'], 'test');
    const [container] = pod.spec.containers;
    t.deepEqual(container.args, ['smoke']);
    const smokeEnv = resolveContainerEnv({ ...pod, spec: { template: { spec: pod.spec } } }, objects);
    t.is(smokeEnv.SMOKE_URL, 'http://prod-gateway:8080');
    t.deepEqual(checkContainerEnv('smoke', smokeEnv), { unknown: [], problems: [] }, 'the smoke job reads every variable it is given');
    // The upload URLs the gateway hands the smoke pod must be ones it can reach from inside the cluster.
    const gatewayEnv = resolveContainerEnv(find(objects, 'Deployment', 'prod-gateway'), objects, EXTERNAL_EVERYTHING.existing);
    t.true(gatewayEnv.PUBLIC_HOSTS?.split(',').includes('prod-gateway:8080'), `PUBLIC_HOSTS ${gatewayEnv.PUBLIC_HOSTS}`);
    t.like(pod.spec.securityContext, { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    t.like(container.securityContext, { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    t.false(pod.spec.automountServiceAccountToken);
  });

  test('the external-everything values run at least 3 upload replicas and autoscale gateway and upload', async (t) => {
    const { objects } = await rendered(EXTERNAL_EVERYTHING);
    const upload = find(objects, 'Deployment', 'prod-upload');
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'prod-upload');
    t.is(hpa.spec.minReplicas, 3);
    t.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'prod-upload' });
    // Autoscaled: the HPA owns replicas; a fixed number in the Deployment would fight it on every upgrade.
    t.is(upload.spec.replicas, undefined);
    t.is(find(objects, 'HorizontalPodAutoscaler', 'prod-gateway').spec.minReplicas, 3);
    t.is(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler').length, 2);
    for (const svc of ['auth', 'files']) t.is(find(objects, 'Deployment', `prod-${svc}`).spec.replicas, 3);
  });

  test('with autoscaling off the upload Deployment itself runs the replicas asked for', async (t) => {
    const objects = parseManifests(await helmTemplate(helmBin, { release: 'prod', valuesFiles: EXTERNAL_EVERYTHING.valuesFiles, set: ['upload.autoscaling.enabled=false'] }));
    t.is(find(objects, 'Deployment', 'prod-upload').spec.replicas, 3);
    t.deepEqual(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler').map((o) => o.metadata.name), ['prod-gateway']);
  });

  test('the external-everything values take every credential from the operator\'s Secrets and set PUBLIC_URL and REDIS_URL', async (t) => {
    const { objects } = await rendered(EXTERNAL_EVERYTHING);
    t.is(objects.find((o) => o.metadata.name === 'prod-credentials'), undefined, 'nothing inline, so no credentials Secret');
    const gateway = resolveContainerEnv(find(objects, 'Deployment', 'prod-gateway'), objects, EXTERNAL_EVERYTHING.existing);
    t.is(gateway.PUBLIC_URL, 'https://vault.example.com');
    t.is(gateway.REDIS_URL, EXTERNAL_EVERYTHING.existing['govault-redis']!.url);
    t.is(gateway.UPLOAD_URL, 'http://prod-upload:8082');
    const upload = resolveContainerEnv(find(objects, 'Deployment', 'prod-upload'), objects, EXTERNAL_EVERYTHING.existing);
    t.is(upload.UPLOAD_DATABASE_URL, EXTERNAL_EVERYTHING.existing['govault-databases']!['upload-url']);
    t.is(upload.S3_SECRET_ACCESS_KEY, EXTERNAL_EVERYTHING.existing['govault-s3']!['secret-access-key']);
    t.is(upload.S3_REGION, 'eu-central-1');
    const ingress = find(objects, 'Ingress', 'prod');
    t.deepEqual(ingress.spec.tls, [{ secretName: 'vault-example-com-tls', hosts: ['vault.example.com'] }]);
    t.is(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-read-timeout'], '7200', 'an annotation the values override');
  });

  test('an annotation set to null in the values is dropped from the Ingress', async (t) => {
    const objects = parseManifests(await helmTemplate(helmBin, { set: ['ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-buffering=null'] }));
    const annotations = find(objects, 'Ingress', 'govault').metadata.annotations ?? {};
    t.false('nginx.ingress.kubernetes.io/proxy-buffering' in annotations);
    t.is(annotations['nginx.ingress.kubernetes.io/proxy-body-size'], '0');
  });

  test('the default values keep inline database URLs in the chart\'s credentials Secret, never in the pod spec', async (t) => {
    const { objects, text } = await rendered(DEFAULT_VALUES);
    const auth = find(objects, 'Deployment', 'govault-auth').spec.template.spec.containers[0];
    const variable = auth.env.find((e: { name: string }) => e.name === 'AUTH_DATABASE_URL');
    t.deepEqual(variable.valueFrom, { secretKeyRef: { name: 'govault-credentials', key: 'auth-database-url' } });
    t.false(text.includes('postgres://govault@postgresql'), 'the URL appears only base64-encoded in the Secret');
  });

  test('a changed inline credential rolls the pods (checksum of the credentials Secret in the pod template)', async (t) => {
    const checksum = (objects: K8sObject[]) => find(objects, 'Deployment', 'govault-files').spec.template.metadata.annotations['checksum/credentials'];
    const before = checksum((await rendered(DEFAULT_VALUES)).objects);
    const after = checksum(parseManifests(await helmTemplate(helmBin, { set: ['database.urls.files=postgres://other@db:5432/files'] })));
    t.regex(before, /^[0-9a-f]{64}$/);
    t.not(after, before);
    t.is(checksum(parseManifests(await helmTemplate(helmBin))), before, 'the same values give the same checksum (no restart on a no-op upgrade)');
  });

  test('the gateway trusts one proxy hop behind the chart\'s Ingress and none without it, unless told', async (t) => {
    const hops = async (set: string[]) => {
      const objects = parseManifests(await helmTemplate(helmBin, { set }));
      return resolveContainerEnv(find(objects, 'Deployment', 'govault-gateway'), objects, DEFAULT_VALUES.existing).TRUST_PROXY_HOPS;
    };
    t.is(await hops([]), '1');
    t.is(await hops(['ingress.enabled=false']), '0', 'X-Forwarded-For from clients is not believed');
    t.is(await hops(['gateway.trustProxyHops=2']), '2');
  });

  test('an environment variable no service reads, given through values, fails the schema check', async (t) => {
    const objects = parseManifests(await helmTemplate(helmBin, { set: ['gateway.env.RATE_LIMT_MAX=5', 'upload.env.MAX_UPLOAD_SIZE=-1'] }));
    const gateway = checkServiceEnv('gateway', resolveContainerEnv(find(objects, 'Deployment', 'govault-gateway'), objects, DEFAULT_VALUES.existing));
    t.deepEqual(gateway.unknown, ['RATE_LIMT_MAX']);
    const upload = checkServiceEnv('upload', resolveContainerEnv(find(objects, 'Deployment', 'govault-upload'), objects, DEFAULT_VALUES.existing));
    t.is(upload.problems.length, 1);
    t.regex(upload.problems[0]!, /MAX_UPLOAD_SIZE/);
  });

  test('a misspelled value is refused by values.schema.json instead of being ignored', async (t) => {
    const error = await t.throwsAsync(helmTemplate(helmBin, { set: ['upload.replica=3'] }));
    t.regex(error.message, /at '\/upload': additional properties 'replica' not allowed/);
    const lint = await helmLint(helmBin, { set: ['s3.forcePathStyle=maybe'] });
    t.not(lint.code, 0, lint.stdout);
  });

  test('a reference to a Secret that is neither rendered nor expected fails the env resolution', async (t) => {
    const { objects } = await rendered(DEFAULT_VALUES);
    t.throws(() => resolveContainerEnv(find(objects, 'Deployment', 'govault-upload'), objects, {}), { message: /Secret govault-s3, which is neither rendered nor an existing one/ });
  });

  /** Copies the chart, applies `edit` to one file, renders it. */
  async function renderEdited(t: ExecutionContext, file: string, edit: (text: string) => string): Promise<string> {
    const chartDir = join(workDir, `chart-${t.title.length}-${Math.random().toString(36).slice(2)}`);
    cpSync(CHART_DIR, chartDir, { recursive: true });
    const path = join(chartDir, file);
    const before = readFileSync(path, 'utf8');
    const after = edit(before);
    t.not(after, before, `the edit of ${file} changed nothing`);
    writeFileSync(path, after);
    const lint = await helmLint(helmBin, { chartDir });
    t.is(lint.code, 0, `helm lint --strict does not see it, which is why k8s-strict exists:\n${lint.stdout}`);
    return helmTemplate(helmBin, { chartDir });
  }

  test('a misspelled field in a template fails the strict decode, naming the field', async (t) => {
    const manifests = await renderEdited(t, 'templates/deployment.yaml', (text) => text.replace('imagePullPolicy:', 'imagePullPolcy:'));
    const result = await k8sStrict(await strictBinary, manifests);
    t.is(result.code, 1);
    t.regex(result.stderr, /apps\/v1 Deployment "govault-auth": unknown field "spec\.template\.spec\.containers\[0\]\.imagePullPolcy"/);
  });

  test('a field in the wrong case fails too (Kubernetes matches field names exactly)', async (t) => {
    const manifests = await renderEdited(t, 'values.yaml', (text) => text.replace('readOnlyRootFilesystem: true', 'readOnlyRootFileSystem: true'));
    const result = await k8sStrict(await strictBinary, manifests);
    t.is(result.code, 1);
    t.regex(result.stderr, /unknown field "spec\.template\.spec\.containers\[0\]\.securityContext\.readOnlyRootFileSystem"/);
  });

  test('an unknown kind fails the strict decode', async (t) => {
    const result = await k8sStrict(await strictBinary, 'apiVersion: v1\nkind: Secrett\nmetadata:\n  name: x\n');
    t.is(result.code, 1);
    t.regex(result.stderr, /unknown kind/);
  });
} else {
  suiteUnavailable('Helm chart checks', `${!go ? 'go (PATH or /usr/local/go/bin)' : 'helm (PATH or $(go env GOPATH)/bin; go install helm.sh/helm/v4/cmd/helm@v4.3.2, as .ci/run does)'} is missing`);
}
