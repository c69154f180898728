import test from 'ava';
import { join } from 'node:path';
import { launcherConfigSchema } from '../../server/launcher/src/config.ts';
import { PROMETHEUS_DIR, prometheusFiles, REPO_ROOT } from '../src/paths.ts';
import { alertCases, alertRules, missingMetadata, readYaml, recordingRuleNames, type AlertRule } from '../src/rule-files.ts';

/** The names every dashboard, alert and test shares (/work/ops-contract.md, README "Operations"). */
const CONTRACT_ALERTS = [
  'GoVaultUploadFailureRatioHigh',
  'GoVaultOutboxBacklogGrowing',
  'GoVaultCircuitBreakerOpen',
  'GoVaultHigh5xxRatio',
  'GoVaultInstanceNotReady',
  'GoVaultExpiredUploadsPilingUp',
];
const CONTRACT_RECORDING_RULES = [
  'mode:govault_uploads_created:rate5m',
  'mode:govault_uploads_finished:rate5m',
  'mode:govault_uploads_resumed:rate5m',
  'mode:govault_upload_resume_ratio:rate1h',
  'mode:govault_upload_success_ratio:rate1h',
  'mode:govault_bytes_received:rate5m',
  'mode:govault_upload_duration_seconds:p95_rate1h',
  'route:govault_gateway_request_duration_seconds:p99_rate5m',
  'service:govault_http_5xx_ratio:rate5m',
];
const CONTRACT_JOBS = ['govault-gateway', 'govault-auth', 'govault-files', 'govault-upload'];

type RuleFile = Parameters<typeof alertRules>[0];
interface PrometheusConfig {
  rule_files: string[];
  scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
}

const alertsFile = readYaml<RuleFile>(join(PROMETHEUS_DIR, 'rules/alerts.yml'));
const recordingFile = readYaml<RuleFile>(join(PROMETHEUS_DIR, 'rules/recording.yml'));
const alerts = alertRules(alertsFile);
const cases = alertCases(prometheusFiles('tests', '.test.yml').map((path) => readYaml(join(REPO_ROOT, path))));

test('alerts.yml holds the contract\'s six alerts in group govault-alerts', (t) => {
  t.deepEqual(alertsFile.groups.map((g) => g.name), ['govault-alerts']);
  t.deepEqual(alerts.map((a) => a.alert).sort(), [...CONTRACT_ALERTS].sort());
});

test('recording.yml holds exactly the contract\'s recording rules in group govault-recording', (t) => {
  t.deepEqual(recordingFile.groups.map((g) => g.name), ['govault-recording']);
  t.deepEqual(recordingRuleNames(recordingFile).sort(), [...CONTRACT_RECORDING_RULES].sort());
});

test('every alert has a page|ticket severity and a summary, description and runbook', (t) => {
  const problems = alerts.flatMap((rule) => missingMetadata(rule).map((p) => `${rule.alert}: ${p}`));
  t.deepEqual(problems, []);
});

test('every alert has a promtool case that makes it fire and one that keeps it quiet', (t) => {
  const untested = alerts.flatMap(({ alert }) => {
    const counts = cases.get(alert) ?? { firing: 0, quiet: 0 };
    return [...(counts.firing ? [] : [`${alert}: no firing case`]), ...(counts.quiet ? [] : [`${alert}: no quiet case`])];
  });
  t.deepEqual(untested, []);
});

test('the metadata check names what an alert lacks', (t) => {
  const bare: AlertRule = { alert: 'Bare', expr: 'up == 0', labels: { severity: 'urgent' }, annotations: { summary: 'x', description: ' ' } };
  t.deepEqual(missingMetadata(bare), [
    'labels.severity is "urgent", not one of page|ticket',
    'annotations.description is missing or empty',
    'annotations.runbook is missing or empty',
  ]);
});

test('the case count tells firing cases from quiet ones', (t) => {
  const counted = alertCases([
    { tests: [{ alert_rule_test: [{ alertname: 'A', exp_alerts: [{}] }, { alertname: 'A', exp_alerts: [] }, { alertname: 'B' }] }] },
  ]);
  t.deepEqual(Object.fromEntries(counted), { A: { firing: 1, quiet: 1 }, B: { firing: 0, quiet: 1 } });
});

function targetsByJob(config: PrometheusConfig): Record<string, string[]> {
  return Object.fromEntries(config.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((s) => s.targets)]));
}

// The services' default ports, which compose keeps and `npm start` uses (server/launcher/src/config.ts).
const { ports } = launcherConfigSchema.parse({});

test('prometheus.yml scrapes the contract\'s jobs by compose service name, two upload instances, the gateway on its operator port', (t) => {
  const config = readYaml<PrometheusConfig>(join(PROMETHEUS_DIR, 'prometheus.yml'));
  t.deepEqual(config.rule_files, ['rules/*.yml']);
  t.deepEqual(targetsByJob(config), {
    'govault-gateway': [`gateway:${ports.gatewayMetrics}`],
    'govault-auth': [`auth:${ports.auth}`],
    'govault-files': [`files:${ports.files}`],
    'govault-upload': [`upload-1:${ports.upload}`, `upload-2:${ports.upload}`],
  });
});

test('prometheus.local.yml scrapes `npm start` on localhost at the launcher\'s default ports', (t) => {
  const config = readYaml<PrometheusConfig>(join(PROMETHEUS_DIR, 'prometheus.local.yml'));
  t.deepEqual(config.rule_files, ['rules/*.yml']);
  t.deepEqual(Object.keys(targetsByJob(config)), CONTRACT_JOBS);
  t.deepEqual(targetsByJob(config), {
    'govault-gateway': [`127.0.0.1:${ports.gatewayMetrics}`],
    'govault-auth': [`127.0.0.1:${ports.auth}`],
    'govault-files': [`127.0.0.1:${ports.files}`],
    'govault-upload': [`127.0.0.1:${ports.upload}`],
  });
});
