import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import test from 'ava';
import { FileStore } from '@tus/file-store';
import { EVENTS, Server } from '@tus/server';
import { eventually } from '@govault/lib/testing';
import { readNodeBodies, standInFor } from '../src/tus/node-body.ts';

// The stand-in body errors when read, so every upload below that stores its bytes went
// through the Node stream itself, not through @tus/server's web-stream path.

function tusServer() {
  const directory = mkdtempSync(join(tmpdir(), 'govault-node-body-'));
  const server = new Server({ path: '/files', datastore: new FileStore({ directory }), postReceiveInterval: 1 });
  readNodeBodies(server);
  return { server, directory };
}

const tusHeaders = { 'tus-resumable': '1.0.0' };

async function create(server: Server, length: number, body?: Readable): Promise<{ status: number; id: string; offset: string | null }> {
  const response = await server.handleWeb(
    new Request('http://127.0.0.1/files', {
      method: 'POST',
      headers: { ...tusHeaders, 'upload-length': String(length), ...(body ? { 'content-type': 'application/offset+octet-stream' } : {}) },
      body: body ? standInFor(body) : undefined,
      duplex: 'half',
    } as RequestInit),
  );
  return { status: response.status, id: response.headers.get('location')!.split('/').pop()!, offset: response.headers.get('upload-offset') };
}

function patch(server: Server, id: string, offset: number, body: Readable): Promise<Response> {
  return server.handleWeb(
    new Request(`http://127.0.0.1/files/${id}`, {
      method: 'PATCH',
      headers: { ...tusHeaders, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
      body: standInFor(body),
      duplex: 'half',
    } as RequestInit),
  );
}

/** A body in 64 KiB chunks, like a socket gives them. */
const chunked = (data: Buffer) => Readable.from(Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536)));

test('a PATCH body read as a Node stream is stored byte for byte, in two requests', async (t) => {
  const { server, directory } = tusServer();
  const data = randomBytes(3 * 1024 * 1024 + 5);
  const { id } = await create(server, data.length);
  const first = await patch(server, id, 0, chunked(data.subarray(0, 1_000_000)));
  t.is(first.status, 204);
  t.is(first.headers.get('upload-offset'), '1000000');
  const second = await patch(server, id, 1_000_000, chunked(data.subarray(1_000_000)));
  t.is(second.headers.get('upload-offset'), String(data.length));
  t.true(readFileSync(join(directory, id)).equals(data));
});

test('creation-with-upload reads the POST body the same way', async (t) => {
  const { server, directory } = tusServer();
  const data = randomBytes(200_000);
  const { status, id, offset } = await create(server, data.length, chunked(data));
  t.is(status, 201);
  t.is(offset, String(data.length));
  t.true(readFileSync(join(directory, id)).equals(data));
});

test('a body longer than the upload is cut at its length and refused', async (t) => {
  const { server, directory } = tusServer();
  const { id } = await create(server, 100_000);
  const response = await patch(server, id, 0, chunked(randomBytes(300_000)));
  t.is(response.status, 413);
  t.true(readFileSync(join(directory, id)).length <= 100_000, 'nothing past the declared length is stored');
});

test('a body that breaks midway is answered 400 with the connection closed, and the store keeps exactly the bytes that arrived', async (t) => {
  const { server, directory } = tusServer();
  const offsets: number[] = [];
  server.on(EVENTS.POST_RECEIVE, (_req, upload) => offsets.push(upload.offset));
  const data = randomBytes(256 * 1024);
  const { id } = await create(server, 1024 * 1024);
  const body = new PassThrough();
  const answered = patch(server, id, 0, body);
  body.write(data);
  // The body breaks once everything sent before the break is in the store.
  t.true(await eventually(async () => statSync(join(directory, id)).size === data.length, 10_000), 'the bytes sent arrive');
  body.destroy(new Error('client went away'));
  const response = await answered;
  // @tus/server's answer to an aborted request.
  t.is(response.status, 400);
  t.is(response.headers.get('connection'), 'close', 'and the server closes the connection');
  t.true(readFileSync(join(directory, id)).equals(data), 'the store holds exactly the bytes that arrived');
  t.is(offsets.at(-1), data.length, 'the last progress event carries that offset');
  const head = await server.handleWeb(new Request(`http://127.0.0.1/files/${id}`, { method: 'HEAD', headers: tusHeaders }));
  t.is(head.headers.get('upload-offset'), String(data.length), 'a HEAD resumes from there');
});

test('progress events carry the offset received so far', async (t) => {
  const { server } = tusServer();
  const offsets: number[] = [];
  server.on(EVENTS.POST_RECEIVE, (_req, upload) => offsets.push(upload.offset));
  const data = randomBytes(2 * 1024 * 1024);
  const { id } = await create(server, data.length);
  const body = new PassThrough();
  const answered = patch(server, id, 0, body);
  for (let at = 0; at < data.length; at += 65536) {
    body.write(data.subarray(at, at + 65536));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  body.end();
  t.is((await answered).status, 204);
  t.true(offsets.length > 0, 'at least one progress event');
  t.true(offsets.every((o, i) => o > 0 && o <= data.length && (i === 0 || o >= offsets[i - 1]!)), offsets.join(','));
});
