import Router from '@koa/router';
import { EXACT_ROUTING, parse, requireInternalToken, type InternalTokenVerifier } from '@govault/lib';
import { fileId } from '../file/file.routes.ts';
import type { FileService } from '../file/file.service.ts';
import { sendContent } from '../file/send-content.ts';

/**
 * Public links: no login. The gateway still signs the request (its internal token then
 * carries no user), so the service port stays closed to everyone else. Private, trashed
 * and unknown files are all the same 404.
 */
export function publicRoutes(files: FileService, verifier: InternalTokenVerifier): Router {
  const router = new Router(EXACT_ROUTING);
  const gateway = requireInternalToken(verifier, ['gateway']);

  router.get('/api/public/files/:id', gateway, async (ctx) => {
    ctx.body = await files.getPublic(parse(fileId, ctx.params).id);
  });

  router.get('/api/public/files/:id/content', gateway, async (ctx) => {
    const { file, content } = await files.publicContent(parse(fileId, ctx.params).id);
    sendContent(ctx, file, content);
  });

  return router;
}
