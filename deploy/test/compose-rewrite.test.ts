import { join } from 'node:path';
import test from 'ava';
import { REPO_ROOT } from '../src/compose.ts';
import { readImageSpec } from '../src/compose-native.ts';
import { nativeEnv, nativeValue, type NativePlace } from '../src/compose-native-rewrite.ts';

/** The rules that turn a compose container into a local process, one by one. */
const place: NativePlace = {
  services: new Map([
    ['upload-1:8082', '127.0.0.1:41001'],
    ['upload-2:8082', '127.0.0.1:41002'],
    ['s3:7070', '127.0.0.1:41070'],
    ['gateway:8080', '127.0.0.1:41080'],
    ['gateway:9080', '127.0.0.1:41090'],
    ['redis:6379', '127.0.0.1:6379'],
  ]),
  loopback: new Map([
    [7070, '127.0.0.1:41070'],
    [8080, '127.0.0.1:41080'],
  ]),
  databases: new Map([['upload-db', { address: '127.0.0.1:5432', suffix: 'nabc' }]]),
  paths: [
    ['/keys/internal', '/tmp/run/volumes/keys/upload'],
    ['/data', '/tmp/run/volumes/upload-1-data'],
    ['/keys', '/tmp/run/containers/upload/keys'],
  ],
};

test('a database URL goes to the real PostgreSQL with the user and database suffixed, the password kept', (t) => {
  t.is(nativeValue('postgres://upload:s3cret@upload-db:5432/upload', place), 'postgres://upload_nabc:s3cret@127.0.0.1:5432/upload_nabc');
  t.is(nativeValue('postgres://upload:s3cret@upload-db:5432/upload?sslmode=disable', place), 'postgres://upload_nabc:s3cret@127.0.0.1:5432/upload_nabc?sslmode=disable');
  t.is(nativeValue('postgres://x@elsewhere:5432/x', place), 'postgres://x@elsewhere:5432/x', 'not a compose database: left alone');
});

test('<service>:<container port> becomes the loopback port the service runs on, in lists too', (t) => {
  t.is(nativeValue('http://upload-1:8082,http://upload-2:8082', place), 'http://127.0.0.1:41001,http://127.0.0.1:41002');
  t.is(nativeValue('redis://redis:6379', place), 'redis://127.0.0.1:6379');
  t.is(nativeValue('localhost:8080,127.0.0.1:8080,gateway:8080', place), '127.0.0.1:41080,127.0.0.1:41080,127.0.0.1:41080');
  t.is(nativeValue('http://files:8083', place), 'http://files:8083', 'a service the place does not know is left alone');
  t.is(nativeValue('upload-1:80820', place), 'upload-1:80820', 'a longer port is another port');
});

test('a loopback address means what the place says (published ports for environments)', (t) => {
  t.is(nativeValue('http://localhost:7070', place), 'http://127.0.0.1:41070');
  t.is(nativeValue('http://127.0.0.1:8080/healthz', place), 'http://127.0.0.1:41080/healthz');
  t.is(nativeValue('http://localhost:3000', place), 'http://localhost:3000');
  t.is(nativeValue('localhost:7070=s3:7070', place), '127.0.0.1:41070=127.0.0.1:41070', "the smoke job's SMOKE_CONNECT_TO: both sides are the store");
});

test('container paths become host folders, the longest mount first, subpaths kept', (t) => {
  t.is(nativeValue('/keys/internal', place), '/tmp/run/volumes/keys/upload');
  t.is(nativeValue('/keys/internal/upload.key', place), '/tmp/run/volumes/keys/upload/upload.key');
  t.is(nativeValue('/keys/other', place), '/tmp/run/containers/upload/keys/other');
  t.is(nativeValue('/data', place), '/tmp/run/volumes/upload-1-data');
  t.is(nativeValue('/database', place), '/database', 'a prefix that is not a path component is no match');
  t.is(nativeValue('/health', place), '/health');
});

test("the service's own listen variables get its native ports, and HOST=0.0.0.0 becomes loopback", (t) => {
  const env = nativeEnv('gateway', { HOST: '0.0.0.0', UPLOAD_URL: 'http://upload-1:8082' }, new Map([['GATEWAY_PORT', 8080], ['GATEWAY_METRICS_PORT', 9080]]), place);
  t.deepEqual(env, { HOST: '127.0.0.1', UPLOAD_URL: 'http://127.0.0.1:41001', GATEWAY_PORT: '41080', GATEWAY_METRICS_PORT: '41090' });
  const s3 = nativeEnv('s3', { VGW_PORT: ':7070', VGW_HEALTH: '/health' }, new Map([['VGW_PORT', 7070]]), place);
  t.deepEqual(s3, { VGW_PORT: '127.0.0.1:41070', VGW_HEALTH: '/health' }, 'an address-valued listen variable stays an address, on loopback');
  t.is(nativeEnv('auth', { HOST: '10.0.0.1' }, new Map(), place).HOST, '10.0.0.1', 'only the wildcard is rewritten');
  t.throws(() => nativeEnv('auth', {}, new Map([['AUTH_PORT', 8081]]), place), { message: /auth:8081 has no native address/ });
});

test("the native run starts GoVault containers as the Dockerfile's runtime stage does (ENTRYPOINT without tini, ENV, WORKDIR)", (t) => {
  const image = readImageSpec(join(REPO_ROOT, 'Dockerfile'));
  t.deepEqual(image.entrypoint, ['node', '--import', 'tsx', '/app/server/launcher/src/image/main.ts']);
  t.like(image.env, { HOST: '0.0.0.0', DATA_DIR: '/data' });
  t.is(image.workdir, '/app');
});
