import Router from '@koa/router';
import { z } from 'zod';
import { EXACT_ROUTING, parseQuery, requireUser } from '@govault/lib';
import type { ListedUploadRow, UploadListRepository } from './upload-list.repository.ts';

export const UPLOADS_PATH = '/api/uploads';
const MAX_LISTED = 200;

const listQuery = z.object({
  state: z.enum(['incomplete', 'failed'], { error: 'state must be "incomplete" or "failed"' }).default('incomplete'),
});

/** Reads what a direct upload holds from its store, where the database may lag behind (S3 mode). */
export type DirectUploadProgress = (uploadId: string) => Promise<number | undefined>;

/**
 * `GET /api/uploads?state=incomplete|failed`: the caller's unfinished uploads (the web
 * app's and the CLI's "unfinished uploads"), or the completed ones the files service
 * refused, each with the reason, so that the owner learns why it never became a file.
 */
export function uploadListRoutes(uploads: UploadListRepository, expirySeconds: number, directProgress?: DirectUploadProgress): Router {
  const router = new Router(EXACT_ROUTING);

  router.get(UPLOADS_PATH, requireUser(), async (ctx) => {
    const { state } = parseQuery(ctx, listQuery);
    const owner = ctx.state.userId as string;
    const rows = state === 'failed' ? await uploads.failed(owner, MAX_LISTED) : await uploads.incomplete(owner, MAX_LISTED);
    if (state === 'incomplete' && directProgress) await refreshDirect(rows, directProgress);
    ctx.body = { items: rows.map((row) => listed(row, state, expirySeconds)) };
  });

  return router;
}

const REFRESH_CONCURRENCY = 8;

/** Brings each direct upload's offset up to date; the recorded value stands where the store cannot answer. */
async function refreshDirect(rows: ListedUploadRow[], progress: DirectUploadProgress): Promise<void> {
  const direct = rows.filter((row) => row.protocol === 'multipart');
  const worker = async () => {
    for (let row = direct.shift(); row; row = direct.shift()) {
      const stored = await progress(row.id).catch(() => undefined);
      if (stored !== undefined) row.offset = stored;
    }
  };
  await Promise.all(Array.from({ length: REFRESH_CONCURRENCY }, worker));
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
    // What a client needs to resume a direct upload on any device (Companion's uploadId and key).
    ...(row.protocol === 'multipart' ? { uploadId: row.id, key: row.storageKey } : {}),
    ...(row.failure ? { error: row.failure } : {}),
  };
}
