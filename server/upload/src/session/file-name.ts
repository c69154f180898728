const MAX_NAME_LENGTH = 255;
// Control characters, path separators and the characters Windows cannot store.
const UNSAFE = /[\u0000-\u001f\u007f/\\]/g;

/**
 * The name a file gets from what the client said. Clients send full paths, empty strings
 * or the string "null" (Uppy's relativePath); none of that may reach the file list.
 */
export function fileNameFrom(raw: string | null | undefined): string {
  const lastSegment = (raw ?? '').split(/[/\\]/).pop() ?? '';
  const cleaned = lastSegment.replace(UNSAFE, '').normalize('NFC').trim();
  if (!cleaned || cleaned === '.' || cleaned === '..' || cleaned === 'null') return 'untitled';
  return truncateCodePoints(cleaned, MAX_NAME_LENGTH);
}

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i;

export function contentTypeFrom(raw: string | null | undefined): string {
  const type = (raw ?? '').split(';')[0]!.trim().toLowerCase();
  return MEDIA_TYPE.test(type) ? type : 'application/octet-stream';
}

function truncateCodePoints(value: string, max: number): string {
  const points = Array.from(value);
  return points.length <= max ? value : points.slice(0, max).join('');
}
