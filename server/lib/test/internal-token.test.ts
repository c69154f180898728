import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import jwt from 'jsonwebtoken';
import { InternalTokenIssuer, InternalTokenVerifier, generateEcKeyPair } from '../src/index.ts';
import { testServiceKeys } from '../src/testing.ts';

const keys = testServiceKeys();
const filesVerifier = InternalTokenVerifier.fromKeyDir(keys.dir, 'files');
const gatewayKey = readFileSync(join(keys.dir, 'gateway.key'), 'utf8');
const signAsGateway = (payload: object, options: jwt.SignOptions = {}) =>
  jwt.sign(payload, gatewayKey, {
    algorithm: 'ES256',
    keyid: 'gateway',
    subject: 'gateway',
    audience: 'files',
    issuer: 'govault-internal',
    ...options,
  });

test('a token from an allowed caller, addressed to this service, carries the caller and user', (t) => {
  const token = keys.issuerFor('gateway').issue('files', { userId: 'u-1', requestId: 'r-1' });
  t.deepEqual(filesVerifier.verify(token, ['gateway']), { caller: 'gateway', userId: 'u-1', requestId: 'r-1' });
});

test('a token for another audience is refused', (t) => {
  const token = keys.issuerFor('gateway').issue('auth', { userId: 'u-1' });
  t.throws(() => filesVerifier.verify(token, ['gateway']), { message: 'Invalid internal token' });
});

test('a caller that is not allowed on the route is refused', (t) => {
  const token = keys.issuerFor('auth').issue('files');
  t.throws(() => filesVerifier.verify(token, ['gateway', 'upload']), { message: 'Invalid internal token' });
});

test("a token signed with a key that is not the named caller's is refused", (t) => {
  const impostor = new InternalTokenIssuer('gateway', generateEcKeyPair().privateKey);
  t.throws(() => filesVerifier.verify(impostor.issue('files', { userId: 'u-1' }), ['gateway']));
});

test('unsigned, expired and wrong-issuer tokens are refused', (t) => {
  const unsigned = jwt.sign({ sub: 'gateway', aud: 'files', iss: 'govault-internal' }, null, {
    algorithm: 'none',
    keyid: 'gateway',
  });
  t.throws(() => filesVerifier.verify(unsigned, ['gateway']));
  t.throws(() => filesVerifier.verify(signAsGateway({ exp: Math.floor(Date.now() / 1000) - 10 }), ['gateway']));
  t.throws(() => filesVerifier.verify(signAsGateway({}, { issuer: 'someone-else' }), ['gateway']));
  t.notThrows(() => filesVerifier.verify(signAsGateway({}), ['gateway']), 'the same token done right passes');
});

test('tokens are reused per audience and user, never across them', (t) => {
  const issuer = keys.issuerFor('gateway');
  const first = issuer.issue('files', { userId: 'u-1' });
  t.is(issuer.issue('files', { userId: 'u-1' }), first);
  t.not(issuer.issue('files', { userId: 'u-2' }), first);
  t.not(issuer.issue('upload', { userId: 'u-1' }), first);
  t.is(filesVerifier.verify(issuer.issue('files', { userId: 'u-2' }), ['gateway']).userId, 'u-2');
});

test('a token verified once is still refused on a route that does not allow its caller', (t) => {
  const token = keys.issuerFor('upload').issue('files');
  t.is(filesVerifier.verify(token, ['upload']).caller, 'upload');
  t.throws(() => filesVerifier.verify(token, ['gateway']), { message: 'Invalid internal token' });
});
