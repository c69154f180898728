import test from 'ava';
import { requireRealServices } from '@govault/lib/testing';

/**
 * A suite whose tool or server is missing: a failing test where CI requires every real
 * service (GOVAULT_REQUIRE_REAL_SERVICES=1), else one skip that names what is missing.
 */
export function suiteUnavailable(suite: string, missing: string): void {
  if (requireRealServices) test(`${suite}: has what it needs`, (t) => t.fail(`GOVAULT_REQUIRE_REAL_SERVICES=1 but ${missing}`));
  else test.skip(`${suite} (skipped: ${missing})`, () => undefined);
}
