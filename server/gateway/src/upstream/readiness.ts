import type { ReadinessCheck } from '@govault/lib';
import type { UpstreamPool, UpstreamPools } from './upstream-pool.ts';

/** Ready when at least one instance of the upstream answers its own /readyz. */
export function upstreamReady(pool: UpstreamPool): ReadinessCheck {
  return async () => {
    const results = await Promise.allSettled(
      pool.instances.map(async ({ url }) => {
        const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_500) });
        await response.body?.cancel();
        if (!response.ok) throw new Error(`${url} answered ${response.status}`);
      }),
    );
    if (!results.some((r) => r.status === 'fulfilled')) throw new Error(`no ${pool.name} instance is ready`);
  };
}

export function upstreamChecks(pools: UpstreamPools): Record<string, ReadinessCheck> {
  return Object.fromEntries(Object.values(pools).map((pool) => [pool.name, upstreamReady(pool)]));
}
