import test from 'ava';
import { z } from 'zod';
import { ConfigError, env, parseConfig, s3EnvSchema } from '../src/index.ts';

const schema = z.object({ PORT: env.port(8080), DATABASE_URL: env.url(), VERBOSE: env.boolean(false) });

test('defaults apply and values are coerced', (t) => {
  t.deepEqual(parseConfig(schema, { DATABASE_URL: 'postgres://db/x', VERBOSE: '1' }), {
    PORT: 8080,
    DATABASE_URL: 'postgres://db/x',
    VERBOSE: true,
  });
});

test('every bad variable is reported at once', (t) => {
  const error = t.throws(() => parseConfig(schema, { PORT: '99999', DATABASE_URL: 'not a url', VERBOSE: 'maybe' }), {
    instanceOf: ConfigError,
  });
  t.deepEqual(
    error.problems.map((p) => p.split(':')[0]),
    ['PORT', 'DATABASE_URL', 'VERBOSE'],
  );
});

test('S3 settings are all or nothing', (t) => {
  t.notThrows(() => parseConfig(s3EnvSchema, {}));
  const error = t.throws(() => parseConfig(s3EnvSchema, { S3_ENDPOINT: 'http://127.0.0.1:7070' }), { instanceOf: ConfigError });
  t.is(error.problems.length, 3, error.message);
});
