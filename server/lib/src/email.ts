/**
 * The one form of an email address for storage, lookup and throttling alike: Unicode
 * NFKC (the Kelvin sign becomes K, full-width letters become ASCII), then case-folded.
 * JavaScript has no full case fold; upper- then lower-casing comes close (ß → ss,
 * ς → σ), and a final NFKC puts the result back in composed form. Every place that keys
 * anything by email calls this, so two spellings that one place treats as the same
 * address are the same address everywhere.
 */
export function normalizeEmail(raw: string): string {
  // Repeated until nothing changes: trimming after a compatibility mapping can expose
  // new edges (U+FE49 becomes a space and a combining mark), so one pass is not always
  // a fixed point, and a key must be one.
  let email = raw;
  for (let pass = 0; pass < 4; pass++) {
    const next = email.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC').trim();
    if (next === email) break;
    email = next;
  }
  return email;
}
