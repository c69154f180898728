import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { createLogger, type InternalTokenIssuer } from '@govault/lib';
import { JwksKeys } from '../src/auth/jwks-keys.ts';

const jwkOf = (kid: string) => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' });

test('a key rotated right after a fetch is found by waiting out the cooldown, with one fetch for all waiters', async (t) => {
  let published = [jwkOf('old')];
  let fetches = 0;
  const server = createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const jwks = new JwksKeys(() => `http://127.0.0.1:${(server.address() as AddressInfo).port}`, { issue: () => 'internal-token' } as unknown as InternalTokenIssuer /* the stand-in JWKS does not check it */, createLogger('test', 'silent'));

  t.truthy(await jwks.get('old'));
  t.is(fetches, 1);
  published = [...published, jwkOf('new')];
  const found = await Promise.all([jwks.get('new'), jwks.get('new'), jwks.get('new')]);
  t.true(found.every(Boolean), 'the new kid is found, not refused');
  t.is(fetches, 2, 'one fetch served every waiter');
  t.is(await jwks.get('forged'), undefined, 'an unknown kid stays unknown');
});
