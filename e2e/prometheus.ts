/** One scrape of a /metrics page (Prometheus text format), as an operator's Prometheus reads it. */
export class Scrape {
  private constructor(private readonly series: Array<{ name: string; labels: Record<string, string>; value: number }>) {}

  static async of(metricsUrl: string): Promise<Scrape> {
    const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`${metricsUrl} answered ${response.status}`);
    return Scrape.parse(await response.text());
  }

  static parse(text: string): Scrape {
    const series = [];
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, raw] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
      series.push({ name: match[1]!, labels, value: Number(match[3]) });
    }
    return new Scrape(series);
  }

  /** The series of `name` that carry at least `labels`. */
  matching(name: string, labels: Record<string, string> = {}) {
    return this.series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** Whether the page has any series of `name` (with `labels`). */
  has(name: string, labels: Record<string, string> = {}): boolean {
    return this.matching(name, labels).length > 0;
  }

  /** The sum of the matching series; 0 when there is none (a labelled counter not yet incremented). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.matching(name, labels).reduce((sum, s) => sum + s.value, 0);
  }
}

/** How much each metric moved between two scrapes. */
export function delta(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return after.value(name, labels) - before.value(name, labels);
}
