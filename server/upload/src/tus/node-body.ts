import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ERRORS, EVENTS, StreamLimiter, type CancellationContext, type DataStore, type Server, type Upload } from '@tus/server';
import { bufferChurn } from '@govault/lib';

/**
 * Request bodies reach the tus store as the Node streams they are.
 *
 * @tus/server 2 takes a web Request, so a Node body would cross `Readable.toWeb` on the
 * way in and `Readable.fromWeb` in the handler: two web streams, with their promises and
 * small objects for every 64 KiB chunk. Measured with 1 GiB PATCHes to versitygw, that
 * path cost the upload service about 4.5 s of CPU per GiB; reading the Node stream itself
 * cost about 2.9 s, mostly less garbage collection. The Request @tus/server sees carries
 * a stand-in body, and the two handlers that write bodies (PATCH, and POST for
 * creation-with-upload) find the Node stream behind it.
 */
const nodeBodies = new WeakMap<ReadableStream, Readable>();

/** The body to put in the Request for @tus/server: it stands for `body` and is never read itself. */
export function standInFor(body: Readable): ReadableStream {
  const standIn = new ReadableStream({
    pull(controller) {
      controller.error(new Error('this body is read as a Node stream; see readNodeBodies'));
    },
  });
  nodeBodies.set(standIn, body);
  return standIn;
}

type WriteToStore = (webStream: ReadableStream | null, upload: Upload, maxFileSize: number, context: CancellationContext) => Promise<number>;

/** What a body-writing handler of @tus/server has: its `writeToStore` is protected, hence this view. */
interface BodyWriter {
  store: DataStore;
  options: { postReceiveInterval?: number };
  writeToStore: WriteToStore;
  emit(event: string, ...args: unknown[]): boolean;
}

/**
 * Makes the server's PATCH and POST handlers read stand-in bodies as Node streams; any
 * other body still takes the stock path. Call it before adding listeners to the server.
 */
export function readNodeBodies(server: Server): void {
  for (const handler of [server.handlers.PATCH, server.handlers.POST] as unknown as BodyWriter[]) {
    if (typeof handler.writeToStore !== 'function') throw new Error('@tus/server no longer has writeToStore; see node-body.ts');
    const stock = handler.writeToStore.bind(handler);
    handler.writeToStore = (webStream, upload, maxFileSize, context) => {
      const body = webStream ? nodeBodies.get(webStream) : undefined;
      return body ? writeBody(handler, body, upload, maxFileSize, context) : stock(webStream, upload, maxFileSize, context);
    };
  }
}

/**
 * The stock `writeToStore` on a Node stream, with the same contract: at most
 * `maxFileSize` bytes reach the store, an aborted request ends the body where it is, a
 * broken body answers as aborted, and the request itself is never destroyed (the body
 * goes through a PassThrough that the pipeline may destroy instead), so the client still
 * gets an answer when the store fails. Progress events come at most once per interval.
 */
async function writeBody(handler: BodyWriter, body: Readable, upload: Upload, maxFileSize: number, context: CancellationContext): Promise<number> {
  if (context.signal.aborted) throw ERRORS.ABORTED;
  const proxy = new PassThrough();
  let sourceError: { err: unknown } | undefined;
  body.on('error', (err) => {
    sourceError = { err };
    body.unpipe(proxy);
    if (!context.signal.aborted) proxy.destroy(err);
  });
  const onAbort = () => {
    body.unpipe(proxy);
    if (!proxy.destroyed) proxy.end();
  };
  context.signal.addEventListener('abort', onAbort, { once: true });

  const interval = handler.options.postReceiveInterval ?? 1000;
  let received = upload.offset;
  let reportedAt = Date.now();
  const onData = (chunk: Buffer) => {
    bufferChurn.add(chunk.length);
    received += chunk.length;
    if (Date.now() - reportedAt < interval) return;
    reportedAt = Date.now();
    handler.emit(EVENTS.POST_RECEIVE, body, { ...upload, offset: received });
  };
  // Both listeners join in this tick, before any byte flows.
  body.on('data', onData);
  try {
    return await pipeline(body.pipe(proxy), new StreamLimiter(maxFileSize), (limited) =>
      // The last stage gets the limiter itself, a Readable.
      handler.store.write(limited as unknown as Readable, upload.id, upload.offset),
    );
  } catch (err) {
    body.unpipe(proxy);
    throw (sourceError && err === sourceError.err) || (err instanceof Error && err.name === 'AbortError') ? ERRORS.ABORTED : err;
  } finally {
    body.off('data', onData);
    context.signal.removeEventListener('abort', onAbort);
  }
}
