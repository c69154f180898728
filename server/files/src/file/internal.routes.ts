import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import { EXACT_ROUTING, cleanText, parseBody, requireInternalToken, type InternalTokenVerifier } from '@govault/lib';
import { z } from 'zod';
import { uuid } from '../ids.ts';
import { isSafeStorageKey } from '../storage/object-storage.ts';
import type { FileService } from './file.service.ts';
import { fileName } from './names.ts';

const plainText = (max: number) => cleanText().max(max);

const registration = z.object({
  uploadId: plainText(512).pipe(z.string().min(1)),
  ownerId: uuid(),
  name: fileName(),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  contentType: plainText(255).transform((v) => v.trim() || 'application/octet-stream'),
  storageKey: z.string().refine(isSafeStorageKey, 'must be a relative key of letters, digits, - _ . /'),
  checksum: plainText(255).nullish(),
});

/** Service-to-service routes: never routed by the gateway; only the upload service may call. */
export function internalRoutes(files: FileService, verifier: InternalTokenVerifier): Router {
  const router = new Router(EXACT_ROUTING);
  const fromUpload = requireInternalToken(verifier, ['upload']);
  const json = bodyParser({ enableTypes: ['json'] });

  // Idempotent on uploadId: 201 with the new file, 200 with the one registered before.
  router.post('/internal/files', fromUpload, json, async (ctx) => {
    const { file, created } = await files.register(parseBody(ctx, registration));
    ctx.status = created ? 201 : 200;
    ctx.body = file;
  });

  return router;
}
