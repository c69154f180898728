import { AppError } from '@govault/lib';
import type { Context } from 'koa';
import { attachmentDisposition } from '../storage/content-disposition.ts';
import type { ObjectContent } from '../storage/object-storage.ts';
import type { FileView } from './file.service.ts';
import { parseRange } from './range.ts';

/** 302 to a presigned URL (S3), or the bytes with Range support (disk). */
export function sendContent(ctx: Context, file: FileView, content: ObjectContent): void {
  if (content.kind === 'redirect') {
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(content.url);
    return;
  }
  const { size } = content;
  const range = parseRange(ctx.get('range') || undefined, size);
  if (range === 'unsatisfiable') {
    throw new AppError('validation_failed', 416, 'Range not satisfiable', undefined, {
      headers: { 'Content-Range': `bytes */${size}` },
    });
  }
  ctx.set('Content-Type', file.contentType);
  ctx.set('Content-Disposition', attachmentDisposition(file.name));
  ctx.set('Accept-Ranges', 'bytes');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Cache-Control', 'private, no-cache');
  ctx.body = content.read(range);
  if (range) {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
  }
  ctx.length = range ? range.end - range.start + 1 : size;
}
