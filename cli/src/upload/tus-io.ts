import { createHash } from 'node:crypto';
import * as tus from 'tus-js-client';
import { assertUnchanged, readRange, type Fingerprint } from './local-file.ts';

/** What the CLI hands tus-js-client as its "file": a path and the fingerprint it must keep. */
export interface PathInput {
  path: string;
  fingerprint: Fingerprint;
}

/**
 * tus-js-client's file source for a path: each chunk is read into a Buffer (so it can be
 * hashed, and sent with a Content-Length), after checking that the file has not changed.
 */
export const pathReader: tus.UploadOptions['fileReader'] = {
  async openFile(input: PathInput) {
    const { path, fingerprint } = input;
    return {
      size: fingerprint.size,
      async slice(start: number, end: number) {
        await assertUnchanged(path, fingerprint);
        const last = Math.min(end, fingerprint.size);
        // tus-js-client measures a slice by its `size`, as its own BufferSource sets it.
        const value = Object.assign(await readRange(path, start, last), { size: last - start });
        return { value, done: last >= fingerprint.size };
      },
      close() {},
    };
  },
};

/**
 * The tus checksum extension on top of tus-js-client's Node stack: every PATCH carries
 * "Upload-Checksum: sha256 <base64>" of its body, and a Content-Length.
 */
export class ChecksumHttpStack implements tus.HttpStack {
  private readonly inner = new tus.DefaultHttpStack({});

  constructor(private readonly withChecksum: boolean) {}

  createRequest(method: string, url: string): tus.HttpRequest {
    const request = this.inner.createRequest(method, url);
    const send = request.send.bind(request);
    request.send = (body?: unknown) => {
      if (Buffer.isBuffer(body)) {
        request.setHeader('Content-Length', String(body.length));
        if (this.withChecksum) request.setHeader('Upload-Checksum', `sha256 ${createHash('sha256').update(body).digest('base64')}`);
      }
      return send(body);
    };
    return request;
  }

  getName(): string {
    return 'govault-cli';
  }
}
