import { gatewayDashboard } from './gateway.ts';
import { servicesDashboard } from './services.ts';
import { uploadsDashboard } from './uploads.ts';

/** Every GoVault dashboard, by the file it is generated into (grafana/dashboards/<file>). */
export function dashboards(): Record<string, unknown> {
  return {
    'uploads.json': uploadsDashboard().build(),
    'gateway.json': gatewayDashboard().build(),
    'services.json': servicesDashboard().build(),
  };
}

/** The committed file's text: 2-space JSON and a final newline. */
export function render(dashboard: unknown): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
