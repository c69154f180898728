import { createCanvas } from '@napi-rs/canvas';
import { Chart, registerables, type ChartConfiguration } from 'chart.js';
import type { RunResult } from './report.ts';

Chart.register(...registerables);

/**
 * The run over time, one point per second: requests/s and errors/s on the left axis,
 * p95 latency (ms) on the right, and active VUs or MiB/s on a third, as a PNG.
 */
export async function renderChart(result: RunResult): Promise<Buffer> {
  const width = 1200;
  const height = 600;
  const canvas = createCanvas(width, height);
  const labels = result.timeline.map((b) => String(b.second));
  const uploads = result.uploads.bytes > 0;
  const config: ChartConfiguration<'line'> = {
    type: 'line',
    data: {
      labels,
      datasets: [
        { label: 'requests/s', data: result.timeline.map((b) => b.requests), borderColor: '#1f77b4', backgroundColor: '#1f77b4', yAxisID: 'rate', pointRadius: 0, borderWidth: 2 },
        { label: 'errors/s', data: result.timeline.map((b) => b.errors), borderColor: '#d62728', backgroundColor: '#d62728', yAxisID: 'rate', pointRadius: 0, borderWidth: 2 },
        { label: 'p95 latency (ms)', data: result.timeline.map((b) => b.p95Ms), borderColor: '#ff7f0e', backgroundColor: '#ff7f0e', yAxisID: 'latency', pointRadius: 0, borderWidth: 2 },
        uploads
          ? { label: 'MiB/s sent', data: result.timeline.map((b) => b.mib), borderColor: '#2ca02c', backgroundColor: '#2ca02c', yAxisID: 'third', pointRadius: 0, borderWidth: 2, borderDash: [6, 3] }
          : { label: 'active VUs', data: result.timeline.map((b) => b.vus), borderColor: '#2ca02c', backgroundColor: '#2ca02c', yAxisID: 'third', pointRadius: 0, borderWidth: 2, stepped: true },
      ],
    },
    options: {
      responsive: false,
      animation: false,
      devicePixelRatio: 1,
      plugins: {
        title: { display: true, text: `GoVault load: ${result.scenario} (${result.mode}) — ${result.passed ? 'thresholds passed' : 'THRESHOLDS FAILED'}`, font: { size: 18 } },
        subtitle: { display: true, text: `${result.startedAt}, vus ${result.options.vus}, ${result.durationS.toFixed(0)} s, ${result.requests.total} requests, ${result.requests.failed} failed` },
        legend: { position: 'bottom' },
      },
      scales: {
        x: { title: { display: true, text: 'second of the run' } },
        rate: { type: 'linear', position: 'left', beginAtZero: true, title: { display: true, text: 'per second' } },
        latency: { type: 'linear', position: 'right', beginAtZero: true, title: { display: true, text: 'p95 ms' }, grid: { drawOnChartArea: false } },
        third: { type: 'linear', position: 'right', beginAtZero: true, title: { display: true, text: uploads ? 'MiB/s' : 'VUs' }, grid: { drawOnChartArea: false } },
      },
    },
    plugins: [
      {
        id: 'white-background',
        beforeDraw: (chart) => {
          const ctx = chart.ctx;
          ctx.save();
          ctx.fillStyle = '#ffffff';
          ctx.fillRect(0, 0, chart.width, chart.height);
          ctx.restore();
        },
      },
    ],
  };
  // chart.js takes any 2D context; @napi-rs/canvas's is the standard one.
  const chart = new Chart(canvas.getContext('2d') as unknown as ConstructorParameters<typeof Chart>[0], config);
  try {
    return await canvas.encode('png');
  } finally {
    chart.destroy();
  }
}
