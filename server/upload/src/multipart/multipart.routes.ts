import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { EXACT_ROUTING, notFound, parse, parseBody, parseQuery, requireUser } from '@govault/lib';
import type { MultipartService } from './multipart.service.ts';
import { metadataProblem } from '../session/metadata.ts';
import { MAX_PARTS } from './part-list.ts';

export const MULTIPART_PATH = '/api/uploads/s3/multipart';
const MAX_BATCH = 1000;

const partNumber = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a part number')
  .transform(Number)
  .refine((n) => n >= 1 && n <= MAX_PARTS, `must be between 1 and ${MAX_PARTS}`);
export const parsePartNumber = (raw: unknown) => parse(z.object({ partNumber }), { partNumber: raw }).partNumber;

const keyQuery = z.object({ key: z.string({ error: 'the object key is required (?key=)' }).min(1).max(1024) });
const batchQuery = keyQuery.extend({
  partNumbers: z
    .string({ error: 'partNumbers is required (?partNumbers=1,2,3)' })
    .transform((v) => v.split(','))
    .pipe(z.array(partNumber).min(1).max(MAX_BATCH, `at most ${MAX_BATCH} part numbers per batch`))
    .refine((numbers) => new Set(numbers).size === numbers.length, 'part numbers must not repeat'),
});

const metadataValue = z.union([z.string().max(4096), z.number(), z.boolean(), z.null()]).transform((v) => (v === null ? null : String(v)));
const createBody = z.object({
  filename: z.string().max(4096).optional(),
  type: z.string().max(255).optional(),
  metadata: z
    .record(z.string(), metadataValue)
    .superRefine((metadata, ctx) => {
      const problem = metadataProblem(metadata);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default({}),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});
const completeBody = z.object({
  parts: z
    .array(z.object({ PartNumber: z.number().int().min(1).max(MAX_PARTS), ETag: z.string().min(1).max(256) }))
    .min(1, 'the part list is empty')
    .max(MAX_PARTS, `an upload has at most ${MAX_PARTS} parts`),
});

/** Our upload ids are 32 hex digits; anything else cannot name an upload. */
function uploadIdOf(ctx: Context): string {
  const id = ctx.params.uploadId ?? '';
  if (!/^[0-9a-f]{32}$/.test(id)) throw notFound('upload');
  return id;
}

/**
 * Where clients reach us: the gateway's X-Forwarded-Host/Proto (it sets them; clients
 * cannot), so that embedded part URLs and locations point through the gateway.
 */
export function publicOrigin(ctx: Context): string {
  const forwardedProto = ctx.get('x-forwarded-proto');
  const proto = forwardedProto === 'https' || forwardedProto === 'http' ? forwardedProto : ctx.protocol;
  const forwardedHost = ctx.get('x-forwarded-host');
  const host = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/.test(forwardedHost) ? forwardedHost : ctx.host;
  return `${proto}://${host}`;
}

/** Uppy Companion's S3 multipart routes, so @uppy/aws-s3 with companionEndpoint works unchanged. */
export function multipartRoutes(multipart: MultipartService): Router {
  const router = new Router(EXACT_ROUTING);
  const user = requireUser();
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '2mb' });
  const owner = (ctx: Context) => ctx.state.userId as string;

  router.post(MULTIPART_PATH, user, json, async (ctx) => {
    ctx.body = await multipart.create(owner(ctx), parseBody(ctx, createBody));
  });

  router.get(`${MULTIPART_PATH}/:uploadId/batch`, user, async (ctx) => {
    const { key, partNumbers } = parseQuery(ctx, batchQuery);
    ctx.body = await multipart.signBatch(owner(ctx), uploadIdOf(ctx), key, partNumbers, publicOrigin(ctx));
  });

  router.get(`${MULTIPART_PATH}/:uploadId/:partNumber`, user, async (ctx) => {
    const { key } = parseQuery(ctx, keyQuery);
    const uploadId = uploadIdOf(ctx);
    ctx.body = await multipart.signPart(owner(ctx), uploadId, key, parsePartNumber(ctx.params.partNumber), publicOrigin(ctx));
  });

  router.get(`${MULTIPART_PATH}/:uploadId`, user, async (ctx) => {
    const { key } = parseQuery(ctx, keyQuery);
    const parts = await multipart.listParts(owner(ctx), uploadIdOf(ctx), key);
    ctx.body = parts.map((p) => ({ PartNumber: p.partNumber, Size: p.size, ETag: p.etag }));
  });

  router.post(`${MULTIPART_PATH}/:uploadId/complete`, user, json, async (ctx) => {
    const { key } = parseQuery(ctx, keyQuery);
    const uploadId = uploadIdOf(ctx);
    const { parts } = parseBody(ctx, completeBody);
    const claimed = parts.map((p) => ({ partNumber: p.PartNumber, etag: p.ETag }));
    ctx.body = await multipart.complete(owner(ctx), uploadId, key, claimed, publicOrigin(ctx), ctx.state.requestId);
  });

  router.delete(`${MULTIPART_PATH}/:uploadId`, user, async (ctx) => {
    const { key } = parseQuery(ctx, keyQuery);
    ctx.body = await multipart.abort(owner(ctx), uploadIdOf(ctx), key);
  });

  return router;
}
