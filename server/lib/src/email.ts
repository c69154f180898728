/**
 * The one form of an email address for storage, lookup and throttling alike: Unicode
 * NFKC (the Kelvin sign becomes K, full-width letters become ASCII), then case-folded.
 * JavaScript has no full case fold; upper- then lower-casing comes close (ß → ss,
 * ς → σ), and a final NFKC puts the result back in composed form. Every place that keys
 * anything by email calls this, so two spellings that one place treats as the same
 * address are the same address everywhere.
 */
export function normalizeEmail(raw: string): string {
  return raw.trim().normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}
