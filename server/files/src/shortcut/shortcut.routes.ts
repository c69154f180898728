import Router from '@koa/router';
import { EXACT_ROUTING, parse, parseBody, requireInternalToken, requireUser, type InternalTokenVerifier } from '@govault/lib';
import { z } from 'zod';
import { jsonBody } from '../file/file.routes.ts';
import { fileName } from '../file/names.ts';
import { uuid } from '../ids.ts';
import type { ShortcutService } from './shortcut.service.ts';

const createBody = z.strictObject({ fileId: uuid(), name: fileName().optional() });

/** Shortcuts are listed by GET /api/files?view=shortcuts. */
export function shortcutRoutes(shortcuts: ShortcutService, verifier: InternalTokenVerifier): Router {
  const router = new Router(EXACT_ROUTING);
  const user = [requireInternalToken(verifier, ['gateway']), requireUser()];

  router.post('/api/shortcuts', ...user, jsonBody(), async (ctx) => {
    const { fileId, name } = parseBody(ctx, createBody);
    ctx.status = 201;
    ctx.body = await shortcuts.create(ctx.state.userId, fileId, name);
  });

  router.delete('/api/shortcuts/:id', ...user, async (ctx) => {
    await shortcuts.delete(ctx.state.userId, parse(z.object({ id: uuid() }), ctx.params).id);
    ctx.status = 204;
  });

  return router;
}
