import Router from '@koa/router';
import { EXACT_ROUTING, forbidden, notFound, payloadTooLarge } from '@govault/lib';
import { PART_URL_PATH } from './disk-multipart-store.ts';
import type { MultipartService } from './multipart.service.ts';
import { parsePartNumber } from './multipart.routes.ts';
import { MAX_PART_SIZE } from './part-list.ts';
import type { PartUrlSigner } from './part-url-signer.ts';

/**
 * Embedded mode's part URLs: `PUT /api/uploads/parts/:uploadId/:partNumber?expires=&signature=`.
 * Public (no access token): the signature opens exactly this part of this upload until
 * it expires. Answers like S3's UploadPart: 200 with the part's ETag.
 */
export function partUploadRoutes(multipart: MultipartService, signer: PartUrlSigner, maxUploadSize: number): Router {
  const router = new Router(EXACT_ROUTING);
  const maxPartBytes = Math.min(MAX_PART_SIZE, maxUploadSize);

  router.put(`${PART_URL_PATH}/:uploadId/:partNumber`, async (ctx) => {
    const uploadId = ctx.params.uploadId ?? '';
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw notFound('upload');
    const partNumber = parsePartNumber(ctx.params.partNumber);
    const check = signer.check(uploadId, partNumber, ctx.query.expires, ctx.query.signature);
    if (check === 'invalid') throw forbidden('the part URL is not valid: its signature does not match this upload and part');
    if (check === 'expired') throw forbidden('the part URL has expired; sign the part again');
    if (Number(ctx.get('content-length') || 0) > maxPartBytes) throw payloadTooLarge(`a part may have at most ${maxPartBytes} bytes`);

    const part = await multipart.receivePart(uploadId, partNumber, ctx.req);
    ctx.status = 200;
    ctx.set('ETag', part.etag);
    ctx.body = '';
  });

  return router;
}
