import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type CollectGarbage = (options: { type: 'minor' | 'major' }) => void;

let collectGarbage: CollectGarbage | undefined;

function minorCollector(): CollectGarbage {
  if (!collectGarbage) {
    // The gc function exists only in contexts made after the flag is set.
    setFlagsFromString('--expose-gc');
    collectGarbage = runInNewContext('gc') as CollectGarbage;
  }
  return collectGarbage;
}

/**
 * Keeps a process that streams bodies off full garbage collections.
 *
 * Every socket or file read gives JavaScript a new ArrayBuffer, which V8 frees only in a
 * collection. V8 counts the external bytes allocated since the last full collection
 * against the old generation's limit, and a process that mostly moves bytes allocates
 * few JavaScript objects, so the cheap young collection that would free those buffers
 * rarely runs first: the limit is reached and V8 marks the whole heap. Proxying 1 GiB
 * took some 70 full collections, and perf showed more than half of the gateway's CPU in
 * marking and sweeping. A young collection every `everyBytes` frees the buffers while
 * they are still young; with the 1 MiB young generation of nodeFlagsFor each takes
 * about a millisecond (V8 GC traces of the upload service: 370 in 385 ms).
 */
export class BufferChurn {
  private sinceCollection = 0;

  constructor(private readonly everyBytes = 4 * 1024 * 1024) {}

  /** Counts bytes read into fresh buffers; collects the young generation when enough have passed. */
  add(bytes: number): void {
    this.sinceCollection += bytes;
    if (this.sinceCollection < this.everyBytes) return;
    this.sinceCollection = 0;
    minorCollector()({ type: 'minor' });
  }
}

/** One per process: the bytes of every stream count toward the same heap. */
export const bufferChurn = new BufferChurn();

/**
 * Node flags for the services that stream bodies (gateway, upload). A 1 MiB young
 * generation (the default grows to 16 MiB) makes each young collection short, and the
 * frequent ones free most read buffers before V8 would start a full collection for them.
 * With BufferChurn this took the gateway from about 2.7 s to under 1 s of CPU per GiB
 * proxied.
 *
 * The upload service also holds buffers long enough to be promoted (part files written
 * and read while S3 takes the previous part). Its heap is small (about 40 MiB), so V8's
 * old-generation limit is small too, and those promoted bytes started 80 to 90 full
 * collections per GiB in some runs, more than 4 s of CPU in V8's helper threads. Starting
 * the old generation's limit at 256 MiB brings that to one or two per GiB; peak RSS during
 * a 1 GiB upload stayed about 215 MiB. The JSON services keep the defaults.
 */
export function nodeFlagsFor(service: string): string[] {
  if (service === 'gateway') return ['--max-semi-space-size=1'];
  if (service === 'upload') return ['--max-semi-space-size=1', '--initial-old-space-size=256'];
  return [];
}

/** How every GoVault service is started (by the launcher, tests and benchmarks alike): node's arguments for its entry. */
export function serviceNodeArgs(service: string, entry: string): string[] {
  return [...nodeFlagsFor(service), '--import', 'tsx', entry];
}
