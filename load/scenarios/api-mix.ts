import { randomBytes } from 'node:crypto';
import { Api, type Session } from '../lib/http.ts';
import { rampVus, type Stage } from '../lib/ramp.ts';
import { Recorder } from '../lib/recorder.ts';
import { pool, sleep, type RunOptions, type Scenario, type ScenarioContext } from '../lib/scenario.ts';
import { tusUpload } from '../lib/tus.ts';
import { deleteFiles } from '../lib/verify.ts';

/** 1 → vus over 40 % of the time, hold for 40 %, down to 1 over the last 20 %. */
export function apiMixStages(options: RunOptions): Stage[] {
  const d = options.durationS;
  return [
    { seconds: d * 0.4, target: options.vus },
    { seconds: d * 0.4, target: options.vus },
    { seconds: d * 0.2, target: 1 },
  ];
}

const FILES_PER_USER = 4;

export const apiMix: Scenario = {
  name: 'api-mix',
  description: 'Ramping virtual users, each logs in, then loops: list own files, get one, rename it, share it with another user (or change the role of that share).',
  defaults: { short: { vus: 4, durationS: 12 }, full: { vus: 16, durationS: 75 } },
  stack: 'shared',
  thresholds: () => [
    { type: 'latency', kind: 'login', stat: 'p95', maxMs: 1500 },
    { type: 'latency', kind: 'list', stat: 'p95', maxMs: 600 },
    { type: 'latency', kind: 'list', stat: 'p99', maxMs: 1200 },
    { type: 'latency', kind: 'get', stat: 'p95', maxMs: 400 },
    { type: 'latency', kind: 'get', stat: 'p99', maxMs: 1000 },
    { type: 'latency', kind: 'rename', stat: 'p95', maxMs: 600 },
    { type: 'latency', kind: 'rename', stat: 'p99', maxMs: 1200 },
    { type: 'latency', kind: 'share', stat: 'p95', maxMs: 600 },
    { type: 'latency', kind: 'share', stat: 'p99', maxMs: 1200 },
    { type: 'error_ratio', max: 0.01 },
    { type: 'checks' },
  ],
  async run({ baseUrl, recorder, options, signal, log }: ScenarioContext) {
    // Set-up (not measured): a user per VU plus one, each with a few small files.
    const setup = new Api(baseUrl, new Recorder());
    const users: Session[] = [];
    const todo = Array.from({ length: options.vus + 1 }, (_, i) => i);
    await pool(4, () => todo.shift(), async () => {
      const user = await setup.newUser('mix');
      for (let i = 0; i < FILES_PER_USER; i++) {
        await tusUpload({ baseUrl, token: user.token, name: `mix-${i}.bin`, bytes: randomBytes(1024 + i), recorder: new Recorder(), chunkSize: 1 << 20, signal });
      }
      users.push(user);
    });
    await setup.close();
    log(`set up ${users.length} users with ${FILES_PER_USER} files each`);

    const api = new Api(baseUrl, recorder);
    recorder.begin();
    recorder.check('set-up made every user', users.length === options.vus + 1);
    await rampVus(apiMixStages(options), recorder, signal, async (vu) => {
      const me = users[(vu.id - 1) % users.length]!;
      const friend = users[vu.id % users.length]!;
      const token = await api.login(me.email, me.password).catch(() => undefined);
      if (!recorder.check('login answered 200', token !== undefined) || !token) return;
      for (let iteration = 0; !vu.stopping && !signal.aborted; iteration++) {
        const listed = await api.call<{ items: Array<{ id: string; name: string }> }>('list', 'GET', '/api/files?view=owned&limit=50', { token, signal });
        if (!recorder.check('list shows the user\'s files', listed.status === 200 && listed.body.items.length >= FILES_PER_USER, `listed ${listed.body?.items?.length}`)) continue;
        const file = listed.body.items[iteration % listed.body.items.length]!;
        const got = await api.call<{ id: string }>('get', 'GET', `/api/files/${file.id}`, { token, signal });
        recorder.check('get answers the file', got.status === 200 && got.body.id === file.id);
        const name = `mix-${vu.id}-${iteration}.bin`;
        const renamed = await api.call<{ name: string }>('rename', 'PATCH', `/api/files/${file.id}`, { token, body: { name }, signal });
        recorder.check('rename answers the new name', renamed.status === 200 && renamed.body.name === name);
        // The first time a share; after that the same share with the other role.
        const role = iteration % 2 === 0 ? 'viewer' : 'editor';
        const shared = await api.call('share', 'POST', `/api/files/${file.id}/shares`, { token, body: { userId: friend.userId, role }, expect: [201, 409], signal });
        if (shared.status === 409) {
          const changed = await api.call('share', 'PUT', `/api/files/${file.id}/shares/${friend.userId}`, { token, body: { role }, signal });
          recorder.check('share granted or its role changed', changed.status === 200);
        } else {
          recorder.check('share granted or its role changed', shared.status === 201);
        }
        await sleep(50 + Math.random() * 100, signal); // think time
      }
    });
    await api.close();
    const quiet = new Api(baseUrl, new Recorder());
    for (const user of users) await deleteFiles(baseUrl, user.token, [...(await quiet.ownedFiles(user.token)).values()].flat().map((f) => f.id));
    await quiet.close();
  },
};
