import { validationFailed } from '@govault/lib';
import { z } from 'zod';
import type { ListPosition } from './file.repository.ts';

/** Opaque to clients: base64url JSON of the view and the last item's sort key and id. */
const cursorSchema = z.object({ v: z.string(), t: z.iso.datetime(), id: z.uuid() });

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
