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

/** Bodies that broke off before their end, with the offset the store reached (when it said). */
const brokenBodies = new WeakMap<Readable, { storedOffset?: number }>();

/**
 * Whether `body` broke off mid-way while tus wrote it (the client went away), and the
 * upload's offset in the store after it: the answer tus gives then carries no offset.
 */
export function brokenBody(body: Readable): { storedOffset?: number } | undefined {
  return brokenBodies.get(body);
}

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
 * A store that can say, while a write is in flight, how many bytes of the upload it
 * durably holds (what its `getUpload` would answer). Progress events carry that, not the
 * bytes received: a received byte may still be lost (an S3 part still filling), and the
 * upload database must never list more than a HEAD answers.
 */
export interface PersistedOffsetSource {
  persistedOffset(id: string): Promise<number | undefined>;
}

const reportsPersisted = (store: DataStore): store is DataStore & PersistedOffsetSource =>
  typeof (store as Partial<PersistedOffsetSource>).persistedOffset === 'function';

/**
 * The stock `writeToStore` on a Node stream, with the same contract: at most
 * `maxFileSize` bytes reach the store, an aborted request ends the body where it is, a
 * broken body answers as aborted, and the request itself is never destroyed (the body
 * goes through a PassThrough that the pipeline may destroy instead), so the client still
 * gets an answer when the store fails.
 *
 * A broken body (the client reloaded, closed the tab, lost its connection: the request
 * errors, or closes before its end) is ended where it broke, as an aborted request is,
 * not destroyed: the store then persists what arrived (a short last piece as S3's
 * incomplete part), which is what tus promises. Handing the store an error instead made
 * it drop the piece it was filling. The handlers reach here through `handleWeb`, where
 * @tus/server itself never learns of a disconnect, so this is the only place that can.
 *
 * Progress events come at most once per interval, with the offset the store holds
 * (see PersistedOffsetSource; a store that cannot say gets the bytes received, as stock).
 * After a broken body one more event carries the offset the store reached.
 */
async function writeBody(handler: BodyWriter, body: Readable, upload: Upload, maxFileSize: number, context: CancellationContext): Promise<number> {
  if (context.signal.aborted) throw ERRORS.ABORTED;
  const proxy = new PassThrough();
  let broken: { err: unknown } | undefined;
  const endHere = () => {
    body.unpipe(proxy);
    if (!proxy.destroyed) proxy.end();
  };
  const onBodyError = (err: unknown) => {
    broken ??= { err };
    endHere();
  };
  // Without an error, a request that closes before its end broke all the same.
  const onBodyClose = () => {
    if (!body.readableEnded) onBodyError(new Error('request closed before the end of its body'));
  };
  // Never taken off: a body that errors after the write must not throw from the emitter.
  body.on('error', onBodyError);
  body.once('close', onBodyClose);
  context.signal.addEventListener('abort', endHere, { once: true });

  const store = handler.store;
  const interval = handler.options.postReceiveInterval ?? 1000;
  let received = upload.offset;
  let reportedAt = Date.now();
  let asking = false;
  const report = (offset: number) => handler.emit(EVENTS.POST_RECEIVE, body, { ...upload, offset });
  const onData = (chunk: Buffer) => {
    bufferChurn.add(chunk.length);
    received += chunk.length;
    if (Date.now() - reportedAt < interval || asking) return;
    reportedAt = Date.now();
    if (!reportsPersisted(store)) return void report(received);
    asking = true;
    store
      .persistedOffset(upload.id)
      .then((offset) => offset !== undefined && report(offset), () => undefined)
      .finally(() => (asking = false));
  };
  // Both listeners join in this tick, before any byte flows.
  body.on('data', onData);
  try {
    const offset = await pipeline(body.pipe(proxy), new StreamLimiter(maxFileSize), (limited) =>
      // The last stage gets the limiter itself, a Readable.
      store.write(limited as unknown as Readable, upload.id, upload.offset),
    );
    if (!broken) return offset;
    // What the store wrote is its own offset now; say so before answering as aborted.
    brokenBodies.set(body, { storedOffset: offset });
    report(offset);
    throw ERRORS.ABORTED;
  } catch (err) {
    body.unpipe(proxy);
    if (broken && !brokenBodies.has(body)) brokenBodies.set(body, {});
    throw (broken && err === broken.err) || (err instanceof Error && err.name === 'AbortError') ? ERRORS.ABORTED : err;
  } finally {
    body.off('data', onData);
    body.off('close', onBodyClose);
    context.signal.removeEventListener('abort', endHere);
  }
}
