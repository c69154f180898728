/**
 * `attachment; filename="<ascii fallback>"; filename*=UTF-8''<percent-encoded>` as
 * RFC 6266 section 4.3 recommends: old clients read the quoted ASCII name, the rest
 * prefer the RFC 5987 ext-value that carries the UTF-8 name.
 */
export function attachmentDisposition(filename: string): string {
  return `attachment; filename="${asciiFallback(filename)}"; filename*=UTF-8''${encodeRfc5987(filename)}`;
}

function asciiFallback(filename: string): string {
  const ascii = filename
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // é -> e once decomposed
    .replace(/[^\x20-\x7e]/g, '_')
    .replace(/["\\%]/g, '_');
  return ascii.trim() === '' ? 'download' : ascii;
}

/** RFC 5987 attr-char is ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else is percent-encoded. */
function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
