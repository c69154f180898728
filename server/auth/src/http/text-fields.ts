import { normalizeEmail } from '@govault/lib';
import { z } from 'zod';

/**
 * C0 controls, DEL and C1 controls. No email, name or password a person types contains
 * one, and PostgreSQL refuses U+0000 in text outright (a 500 if it got that far).
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A UTF-16 surrogate without its partner. JSON allows "\ud800", but no UTF-8 text can
 * carry it: encoding would silently turn it into U+FFFD, a different string.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const hasControlCharacter = (value: string): boolean => CONTROL.test(value);
export const hasLoneSurrogate = (value: string): boolean => LONE_SURROGATE.test(value);

/** The checks every string of auth's requests passes, so that bad text is a 400 before it reaches bcrypt or the database. */
export function withCleanText<S extends z.ZodType<string>>(schema: S): S {
  return schema
    .refine((v) => !hasLoneSurrogate(v), 'must not contain unpaired surrogates')
    .refine((v) => !hasControlCharacter(v), 'must not contain control characters');
}

/** A string field of auth's requests: well-formed Unicode without control characters. */
export const cleanText = () => withCleanText(z.string());

/**
 * An email to look up or throttle, not to register: any text whose normalised form fits
 * the stored keys (NFKC can grow a string: U+FDFA alone becomes 18 characters).
 */
export const emailToFind = () =>
  cleanText()
    .max(320)
    .refine((v) => normalizeEmail(v).length >= 1, 'must not be empty')
    .refine((v) => normalizeEmail(v).length <= 320, 'must be at most 320 characters once normalised');
