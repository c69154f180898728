/**
 * The one rule for the names of files and shortcuts, shared by the upload service (which
 * cleans what a client sent into a name that passes) and the files service (which
 * refuses anything else). A name the files service would refuse must never be accepted
 * at upload time: the upload would finish and never become a file.
 */

import { CONTROL_CHARACTER, LONE_SURROGATE } from './text.ts';

export const MAX_FILE_NAME_LENGTH = 255;

/**
 * Bidirectional controls (embeddings, overrides, isolates, marks): `invoice\u202Efdp.exe`
 * displays as `invoiceexe.pdf`.
 */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const SEPARATOR = /[/\\]/u;
/**
 * A character that shows: not white space, not a format character (zero-width space and
 * joiners, BOM, word joiner), not a control, not a lone combining mark, and not one of
 * the filler characters that render as blank.
 */
const VISIBLE = /[^\p{White_Space}\p{Cf}\p{Cc}\p{Cs}\p{Mn}\p{Me}\u115f\u1160\u3164\uffa0\u2800]/u;

/** Why `name` is not a valid file name, or undefined when it is. */
export function fileNameProblem(name: string): string | undefined {
  const length = codePointLength(name);
  if (length < 1 || length > MAX_FILE_NAME_LENGTH) return `must be 1 to ${MAX_FILE_NAME_LENGTH} characters`;
  if (CONTROL_CHARACTER.test(name)) return 'must not contain control characters';
  if (LONE_SURROGATE.test(name)) return 'must be valid Unicode text';
  if (BIDI.test(name)) return 'must not contain bidirectional control characters';
  if (SEPARATOR.test(name)) return 'must not contain / or \\';
  if (name === '.' || name === '..') return 'must not be . or ..';
  if (!VISIBLE.test(name)) return 'must contain a visible character';
  if (name !== name.trim()) return 'must not start or end with white space';
  return undefined;
}

export const isValidFileName = (name: string): boolean => fileNameProblem(name) === undefined;

const STRIPPED = new RegExp(`${CONTROL_CHARACTER.source}|${BIDI.source}|${LONE_SURROGATE.source}`, 'gu');

/**
 * The name a file gets from what a client said. Clients send full paths, empty strings or
 * the string "null" (Uppy's relativePath); what cannot be part of a name is removed, and
 * what is left without a visible character becomes `untitled`. The result always passes
 * `fileNameProblem`.
 */
export function fileNameFrom(raw: string | null | undefined): string {
  const lastSegment = (raw ?? '').split(/[/\\]/).pop() ?? '';
  const cleaned = truncateCodePoints(lastSegment.replace(STRIPPED, '').normalize('NFC').trim(), MAX_FILE_NAME_LENGTH).trim();
  if (cleaned === 'null' || !isValidFileName(cleaned)) return 'untitled';
  return cleaned;
}

function codePointLength(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

function truncateCodePoints(value: string, max: number): string {
  const points = Array.from(value);
  return points.length <= max ? value : points.slice(0, max).join('');
}
