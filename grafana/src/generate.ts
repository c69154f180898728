import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dashboards, render } from './dashboards.ts';

/** `npm run dashboards`: writes grafana/dashboards/*.json from the code; a file no dashboard makes any more is removed. */
const folder = fileURLToPath(new URL('../dashboards/', import.meta.url));
mkdirSync(folder, { recursive: true });
const generated = dashboards();
for (const file of readdirSync(folder)) {
  if (file.endsWith('.json') && !(file in generated)) rmSync(new URL(file, `file://${folder}`));
}
for (const [file, dashboard] of Object.entries(generated)) {
  writeFileSync(new URL(file, `file://${folder}`), render(dashboard));
  console.log(`grafana/dashboards/${file}`);
}
