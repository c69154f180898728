import test from 'ava';
import { checkServiceEnv, schemaVariables, SERVICE_SCHEMAS } from '../src/service-env.ts';

test('every service schema yields its variables, S3 ones included where the service reads them', (t) => {
  const upload = schemaVariables(SERVICE_SCHEMAS.upload);
  t.true(upload.has('UPLOAD_DATABASE_URL'));
  t.true(upload.has('S3_PUBLIC_ENDPOINT'));
  t.false(schemaVariables(SERVICE_SCHEMAS.auth).has('S3_ENDPOINT'));
  t.true(schemaVariables(SERVICE_SCHEMAS.gateway).has('UPLOAD_URL'));
  t.true(schemaVariables(SERVICE_SCHEMAS.files).has('AUTH_URL'));
});

test('a name no schema reads is reported, and a bad value is a problem', (t) => {
  const check = checkServiceEnv('auth', {
    AUTH_DATABASE_URL: 'postgres://auth-db/auth',
    INTERNAL_KEY_DIR: '/keys',
    AUTH_DATABSE_URL: 'postgres://typo',
    BCRYPT_ROUNDS: '99',
  });
  t.deepEqual(check.unknown, ['AUTH_DATABSE_URL']);
  t.is(check.problems.length, 1);
  t.regex(check.problems[0]!, /BCRYPT_ROUNDS/);
});

test('a complete environment has neither', (t) => {
  t.deepEqual(checkServiceEnv('files', { FILES_DATABASE_URL: 'postgres://files-db/files', INTERNAL_KEY_DIR: '/keys' }), { unknown: [], problems: [] });
});
