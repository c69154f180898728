import Router from '@koa/router';
import { z } from 'zod';
import { EXACT_ROUTING, parseQuery, requireUser } from '@govault/lib';
import type { ListedUploadRow, UploadListRepository } from './upload-list.repository.ts';

export const UPLOADS_PATH = '/api/uploads';
const MAX_LISTED = 200;

const listQuery = z.object({
  state: z.enum(['incomplete', 'failed'], { error: 'state must be "incomplete" or "failed"' }).default('incomplete'),
});

/**
 * `GET /api/uploads?state=incomplete|failed`: the caller's unfinished uploads (the web
 * app's and the CLI's "unfinished uploads"), or the completed ones the files service
 * refused, each with the reason, so that the owner learns why it never became a file.
 */
export function uploadListRoutes(uploads: UploadListRepository, expirySeconds: number): Router {
  const router = new Router(EXACT_ROUTING);

  router.get(UPLOADS_PATH, requireUser(), async (ctx) => {
    const { state } = parseQuery(ctx, listQuery);
    const owner = ctx.state.userId as string;
    const rows = state === 'failed' ? await uploads.failed(owner, MAX_LISTED) : await uploads.incomplete(owner, MAX_LISTED);
    ctx.body = { items: rows.map((row) => listed(row, state, expirySeconds)) };
  });

  return router;
}

function listed(row: ListedUploadRow, state: 'incomplete' | 'failed', expirySeconds: number) {
  // tus uploads expire counted from creation (as in tusd); direct uploads after a time without activity.
  const expiresFrom = row.protocol === 'tus' ? row.createdAt : row.updatedAt;
  return {
    id: row.id,
    mode: row.protocol === 'tus' ? 'tus' : 'direct',
    name: row.filename,
    size: row.size,
    offset: row.offset,
    state,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    expiresAt: state === 'incomplete' ? new Date(expiresFrom.getTime() + expirySeconds * 1000).toISOString() : null,
    ...(row.failure ? { error: row.failure } : {}),
  };
}
