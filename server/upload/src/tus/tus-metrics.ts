import { Counter, type Registry } from 'prom-client';

/** Upload counters, named after tusd's so that existing dashboards read them. */
export interface UploadMetrics {
  created: Counter;
  completed: Counter;
  terminated: Counter;
  bytesReceived: Counter;
}

export function createUploadMetrics(registry: Registry): UploadMetrics {
  const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] });
  return {
    created: counter('tusd_uploads_created_total', 'Uploads created'),
    completed: counter('tusd_uploads_finished_total', 'Uploads completed'),
    terminated: counter('tusd_uploads_terminated_total', 'Uploads terminated'),
    bytesReceived: counter('tusd_bytes_received_total', 'Bytes received in PATCH and creation-with-upload bodies'),
  };
}
