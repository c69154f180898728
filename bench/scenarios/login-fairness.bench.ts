import { failedLoginFlood, median, startAuthProcess } from '../../server/auth/test/auth-process.ts';
import { result, type BenchResult, type Scenario } from '../lib/report.ts';

/**
 * Issue 11, item 8: one address floods auth with 50 concurrent failed logins (unknown
 * emails, so the per-email throttle never helps) while another address logs in with the
 * right password. B's login latency under the flood is read against B's latency alone,
 * same process, same run. bcrypt at the production cost (12), the auth service as its own
 * process, called as the gateway calls it (gateway token, X-Forwarded-For).
 */
const FLOOD = 50;
const SAMPLES = 5;
const A = '198.51.100.7';
const B = '203.0.113.9';
const password = 'correct horse battery';

async function measure(concurrency: string | undefined, log: (line: string) => void): Promise<BenchResult[]> {
  const label = concurrency ? `PASSWORD_HASH_CONCURRENCY=${concurrency}` : 'default concurrency';
  const auth = await startAuthProcess({ BCRYPT_ROUNDS: '12', LOG_LEVEL: 'error', ...(concurrency ? { PASSWORD_HASH_CONCURRENCY: concurrency } : {}) });
  try {
    const email = `bench-${Date.now()}@example.com`;
    if ((await auth.post('/api/auth/register', { email, password }, B)).status !== 201) throw new Error('register failed');
    const loginB = async () => {
      const login = await auth.post('/api/auth/login', { email, password }, B);
      if (login.status !== 200) throw new Error(`B's login answered ${login.status}`);
      return login.ms;
    };
    await auth.post('/api/auth/login', { email: 'warm-up@example.com', password }, '192.0.2.1'); // the dummy hash
    await loginB();

    const alone: number[] = [];
    for (let i = 0; i < SAMPLES; i++) alone.push(await loginB());

    let stopFlood!: () => void;
    const flood = failedLoginFlood(auth, A, FLOOD, new Promise<void>((resolve) => (stopFlood = resolve)));
    const loaded: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 300)); // A's requests are in and queued
      for (let i = 0; i < SAMPLES; i++) loaded.push(await loginB());
    } finally {
      stopFlood();
    }
    const { statuses } = await flood;
    const count = (status: number) => statuses.filter((s) => s === status).length;
    const ms = (values: number[]) => values.map((v) => v.toFixed(0)).join(', ');
    log(`${label}, ${auth.db.kind} database: B alone ${ms(alone)} ms; under the flood ${ms(loaded)} ms`);
    log(`${label}: A sent ${statuses.length}: ${count(401)} × 401, ${count(429)} × 429, ${statuses.length - count(401) - count(429)} other`);

    const baseline = { name: 'B alone, median', value: median(alone) };
    return [
      result('login-fairness', `B under flood, median (${label})`, median(loaded), 'ms', baseline, `${auth.db.kind} db; A: ${count(401)} × 401, ${count(429)} × 429`),
      result('login-fairness', `B under flood, worst (${label})`, Math.max(...loaded), 'ms', baseline, `${SAMPLES} samples each`),
    ];
  } finally {
    await auth.stop();
  }
}

const scenario: Scenario = {
  name: 'login-fairness',
  description: `B's correct login alone vs under A's ${FLOOD} concurrent failed logins (bcrypt cost 12)`,
  async run(log) {
    // The default (one hash per core, 2 to 4) and one hash at a time, where a newcomer
    // must wait for the flood's running hash.
    return [...(await measure(undefined, log)), ...(await measure('1', log))];
  },
};

export default scenario;
