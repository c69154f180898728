import { validationFailed } from '@govault/lib';
import { z } from 'zod';
import { uuid } from '../ids.ts';
import type { ListPosition } from './file.repository.ts';

/**
 * The years a cursor may name. PostgreSQL has no year 0 (1 BC comes before 1 AD), so
 * `0000-01-01T00:00:00Z` is out of its range; no row sorts before year 1 or after 9999.
 */
const cursorTime = z.iso.datetime().refine((t) => {
  const year = new Date(t).getUTCFullYear();
  return year >= 1 && year <= 9999;
}, 'out of range');

/** Opaque to clients: base64url JSON of the view and the last item's sort key and id. */
const cursorSchema = z.object({ v: z.string(), t: cursorTime, id: uuid() });

export function encodeCursor(view: string, position: ListPosition): string {
  const json = JSON.stringify({ v: view, t: position.at.toISOString(), id: position.id });
  return Buffer.from(json, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, view: string): ListPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw validationFailed('Invalid cursor');
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success || result.data.v !== view) throw validationFailed('Invalid cursor');
  return { at: new Date(result.data.t), id: result.data.id };
}
