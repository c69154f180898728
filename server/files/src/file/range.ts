import type { ByteRange } from '../storage/object-storage.ts';

/**
 * One range of `Range: bytes=a-b | a- | -n` (RFC 9110 section 14). Answers undefined when
 * the whole representation should be sent: no header, a malformed or multi-range one
 * ("a server MAY ignore the Range header field"), or an invalid range-spec (last < first).
 * 'unsatisfiable' when the first byte lies past the end, or for a zero-length suffix.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}
