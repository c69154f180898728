import { cleanText, normalizeEmail } from '@govault/lib';

/**
 * An email to look up or throttle, not to register: any text whose normalised form fits
 * the stored keys (NFKC can grow a string: U+FDFA alone becomes 18 characters).
 */
export const emailToFind = () =>
  cleanText()
    .max(320)
    .refine((v) => normalizeEmail(v).length >= 1, 'must not be empty')
    .refine((v) => normalizeEmail(v).length <= 320, 'must be at most 320 characters once normalised');
