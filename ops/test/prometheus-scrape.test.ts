import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { registerAndLogin, type TestUser } from '../../e2e/client.ts';
import { startCluster, type Cluster } from '../../e2e/cluster.ts';
import { createUpload, patchUpload } from '../../e2e/tus-raw.ts';
import { PROMETHEUS_DIR } from '../src/paths.ts';
import { PROMETHEUS_BINARY, PrometheusServer } from '../../e2e/prometheus-server.ts';
import { readYaml, recordingRuleNames } from '../src/rule-files.ts';

/**
 * prometheus/prometheus.yml's jobs and rules on a real Prometheus, scraping a real GoVault
 * with two upload instances as compose runs it: every target is up under its contract
 * job name, every rule evaluates without error, and the recording rules give the series
 * dashboards read. Embedded mode only: the rules read the same metrics in both modes.
 */
const hasPrometheus = existsSync(PROMETHEUS_BINARY);

interface PrometheusConfig {
  global: Record<string, string>;
  rule_files: string[];
  scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
}

/** prometheus.yml with its targets on the cluster's ports, its rules by absolute path, and 1 s intervals. */
function configFor(cluster: Cluster): PrometheusConfig {
  const config = readYaml<PrometheusConfig>(join(PROMETHEUS_DIR, 'prometheus.yml'));
  const local = (url: string) => url.replace('http://', '');
  const targets: Record<string, string[]> = {
    'govault-gateway': [local(cluster.gatewayMetricsUrl)],
    'govault-auth': [local(cluster.auth.url)],
    'govault-files': [local(cluster.files.url)],
    'govault-upload': cluster.uploads.map((u) => local(u.url)),
  };
  return {
    ...config,
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: config.rule_files.map((glob) => join(PROMETHEUS_DIR, glob)),
    scrape_configs: config.scrape_configs.map((job) => ({ ...job, static_configs: [{ targets: targets[job.job_name]! }] })),
  };
}

async function tusUpload(cluster: Cluster, user: TestUser, bytes: number): Promise<void> {
  const url = await createUpload(cluster.baseUrl, user, bytes);
  const answer = await patchUpload(url, user, 0, new Uint8Array(bytes).fill(7));
  if (answer.status !== 204) throw new Error(`PATCH answered ${answer.status}`);
}

if (hasPrometheus) {
  let cluster: Cluster | undefined;
  let prometheus: PrometheusServer | undefined;
  test.before(async () => {
    cluster = await startCluster('embedded', { uploadInstances: 2 });
    prometheus = await PrometheusServer.withConfig(configFor(cluster));
  });
  test.after.always(async () => {
    await prometheus?.stop();
    await cluster?.stop();
  });

  test('a real Prometheus scrapes every GoVault job, evaluates every rule, and records upload rates by mode', async (t) => {
    const p = prometheus!;
    const c = cluster!;
    await p.until(async () => (await p.query('up == 1')).length === 5, 'all five targets up');
    const up = await p.query('up');
    t.deepEqual(up.map((r) => `${r.metric.job} ${r.metric.instance}`).sort(), [
      `govault-auth ${c.auth.url.replace('http://', '')}`,
      `govault-files ${c.files.url.replace('http://', '')}`,
      `govault-gateway ${c.gatewayMetricsUrl.replace('http://', '')}`,
      ...c.uploads.map((u) => `govault-upload ${u.url.replace('http://', '')}`),
    ].sort());

    // Two rounds of traffic a few scrapes apart: a series born between two scrapes only shows a rate from its second sample on.
    const user = await registerAndLogin(c.baseUrl);
    await tusUpload(c, user, 1000);
    await new Promise((r) => setTimeout(r, 3000));
    await tusUpload(c, user, 2000);
    const patchP99 = 'route:govault_gateway_request_duration_seconds:p99_rate5m{route="/api/uploads/tus/:id"}';
    await p.until(async () => Number((await p.query(patchP99))[0]?.values[0]![1]) > 0, 'the second round scraped and recorded');

    const rules = await p.ruleHealth();
    t.deepEqual([...new Set(rules.map((r) => r.group))].sort(), ['govault-alerts', 'govault-recording']);
    const unhealthy = rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`);
    t.deepEqual(unhealthy, [], p.output.slice(-20).join('\n'));

    const recording = recordingRuleNames(readYaml(join(PROMETHEUS_DIR, 'rules/recording.yml')));
    for (const name of recording.filter((n) => n.startsWith('mode:'))) {
      const modes = (await p.query(name)).map((r) => r.metric.mode).sort();
      t.deepEqual(modes, ['direct', 'tus'], `${name} has a series per mode`);
    }
    const received = await p.query('mode:govault_bytes_received:rate5m{mode="tus"}');
    t.true(Number(received[0]?.values[0]![1]) > 0, 'tus bytes received rate');
    const ratios = await p.query('service:govault_http_5xx_ratio:rate5m');
    t.deepEqual(ratios.map((r) => [r.metric.service, r.values[0]![1]]).sort(), [['auth', '0'], ['files', '0'], ['gateway', '0'], ['upload', '0']]);
    const finished = await p.query('mode:govault_uploads_finished:rate5m{mode="tus"}');
    t.true(Number(finished[0]?.values[0]![1]) > 0, 'tus finish rate');
    t.deepEqual(await p.query('ALERTS'), [], 'no alert pending or firing on a healthy system');
  });
} else if (process.env.GOVAULT_REQUIRE_REAL_SERVICES === '1') {
  test('Prometheus is installed', (t) => {
    t.fail(`GOVAULT_REQUIRE_REAL_SERVICES=1 but ${PROMETHEUS_BINARY} is missing: install Prometheus (Debian: apt-get install prometheus; .ci/run does it) to scrape GoVault with prometheus/prometheus.yml`);
  });
} else {
  console.warn(`ops: the real-Prometheus scrape of GoVault is not run here (${PROMETHEUS_BINARY} is missing; Debian: apt-get install prometheus)`);
}
