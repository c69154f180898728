import { readFileSync, readdirSync } from 'node:fs';
import test from 'ava';
import { dashboards, render } from '../src/dashboards.ts';
import { PROVISIONED_DATASOURCE_UID } from '../src/panels.ts';

const folder = new URL('../dashboards/', import.meta.url);
const committed = () => Object.fromEntries(readdirSync(folder).filter((f) => f.endsWith('.json')).map((f) => [f, readFileSync(new URL(f, folder), 'utf8')]));

interface Panel {
  type: string;
  title: string;
  description?: string;
  datasource?: { uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Array<{ expr?: string; datasource?: { uid?: string } }>;
}

test('the committed grafana/dashboards/*.json are exactly what the code generates (run `npm run dashboards` after changing grafana/src)', (t) => {
  const generated = Object.fromEntries(Object.entries(dashboards()).map(([file, d]) => [file, render(d)]));
  t.deepEqual(Object.keys(committed()).sort(), Object.keys(generated).sort(), 'one file per dashboard, no stray file');
  for (const [file, text] of Object.entries(generated)) t.is(committed()[file], text, `grafana/dashboards/${file} is up to date`);
});

test('each dashboard has its own stable uid, and every panel a unit, a description and queries on the chosen Prometheus', (t) => {
  const all = Object.values(dashboards()) as Array<{ uid: string; title: string; panels: Panel[]; templating: { list: Array<{ name: string; type: string; current?: { value: string } }> } }>;
  t.deepEqual(all.map((d) => d.uid), ['govault-uploads', 'govault-gateway', 'govault-services']);
  for (const d of all) {
    const variable = d.templating.list.find((v) => v.name === 'datasource');
    t.is(variable?.type, 'datasource', `${d.title}: a data source variable`);
    t.is(variable?.current?.value, PROVISIONED_DATASOURCE_UID, `${d.title}: the provisioned Prometheus by default`);
    const panels = d.panels.filter((p) => p.type !== 'row');
    t.true(panels.length > 0);
    for (const p of panels) {
      const where = `${d.title} / ${p.title}`;
      t.truthy(p.fieldConfig?.defaults?.unit, `${where}: a unit`);
      t.true((p.description ?? '').length > 20, `${where}: a description`);
      t.is(p.datasource?.uid, '${datasource}', `${where}: the chosen data source`);
      t.true((p.targets ?? []).length > 0 && p.targets!.every((q) => q.expr && q.datasource?.uid === '${datasource}'), `${where}: PromQL targets`);
    }
    t.is(new Set(panels.map((p) => p.title)).size, panels.length, `${d.title}: panel titles are unique`);
  }
});

test('the provisioning files point at the dashboards folder and the fixed data source uid', (t) => {
  const datasource = readFileSync(new URL('../provisioning/datasources/prometheus.yaml', import.meta.url), 'utf8');
  t.regex(datasource, new RegExp(`uid: ${PROVISIONED_DATASOURCE_UID}\\b`));
  t.regex(datasource, /url: http:\/\/prometheus:9090\b/);
  const provider = readFileSync(new URL('../provisioning/dashboards/govault.yaml', import.meta.url), 'utf8');
  t.regex(provider, /type: file/);
  t.regex(provider, /path: \/var\/lib\/grafana\/dashboards\/govault\b/);
});
